import Foundation

/// A Hugging Face BERT `config.json`. Decoding checks the values the engine relies on.
public struct BertConfig: Decodable, Sendable, Equatable {
    public var hiddenSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    public var maxPositions: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var hiddenAct: String
    public var positionEmbeddingType: String
    public var modelType: String?

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size"
        case numLayers = "num_hidden_layers"
        case numHeads = "num_attention_heads"
        case intermediateSize = "intermediate_size"
        case vocabSize = "vocab_size"
        case maxPositions = "max_position_embeddings"
        case typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps"
        case hiddenAct = "hidden_act"
        case positionEmbeddingType = "position_embedding_type"
        case modelType = "model_type"
    }

    public var headDim: Int { hiddenSize / numHeads }

    public init(hiddenSize: Int, numLayers: Int, numHeads: Int, intermediateSize: Int, vocabSize: Int,
                maxPositions: Int = 512, typeVocabSize: Int = 2, layerNormEps: Float = 1e-12) {
        self.hiddenSize = hiddenSize; self.numLayers = numLayers; self.numHeads = numHeads
        self.intermediateSize = intermediateSize; self.vocabSize = vocabSize; self.maxPositions = maxPositions
        self.typeVocabSize = typeVocabSize; self.layerNormEps = layerNormEps
        self.hiddenAct = "gelu"; self.positionEmbeddingType = "absolute"; self.modelType = "bert"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numLayers = try c.decode(Int.self, forKey: .numLayers)
        numHeads = try c.decode(Int.self, forKey: .numHeads)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        maxPositions = try c.decode(Int.self, forKey: .maxPositions)
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? 2
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-12
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "gelu"
        positionEmbeddingType = try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? "absolute"
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType)
    }

    /// Refuses what the engine does not implement, naming the field and the fix.
    public func validate(source: String) throws {
        func bad(_ m: String) -> DreamlabError { .badConfig("\(source): \(m)") }
        for (name, v) in [("hidden_size", hiddenSize), ("num_hidden_layers", numLayers), ("num_attention_heads", numHeads),
                          ("intermediate_size", intermediateSize), ("vocab_size", vocabSize),
                          ("max_position_embeddings", maxPositions), ("type_vocab_size", typeVocabSize)] where v <= 0 {
            throw bad("\(name) must be positive, got \(v)")
        }
        guard hiddenSize % numHeads == 0 else {
            throw bad("hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numHeads)")
        }
        guard positionEmbeddingType == "absolute" else {
            throw bad("position_embedding_type \"\(positionEmbeddingType)\" is not supported; Dreamlab implements BERT's \"absolute\" position embeddings only")
        }
        guard hiddenAct == "gelu" else {
            throw bad("hidden_act \"\(hiddenAct)\" is not supported; Dreamlab implements BERT's exact erf GELU (\"gelu\") only")
        }
        if let t = modelType, t != "bert" {
            throw bad("model_type \"\(t)\" is not BERT; Dreamlab loads BERT checkpoints (model_type \"bert\")")
        }
        guard layerNormEps > 0 && layerNormEps.isFinite else { throw bad("layer_norm_eps must be a positive number") }
    }

    public static func load(path: String) throws -> BertConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DreamlabError.badConfig("\(path): cannot read config.json; a model directory needs config.json, vocab.txt and model.safetensors")
        }
        let cfg: BertConfig
        do { cfg = try JSONDecoder().decode(BertConfig.self, from: data) } catch let DecodingError.keyNotFound(key, _) {
            throw DreamlabError.badConfig("\(path): missing required key \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw DreamlabError.badConfig("\(path): key \"\(ctx.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong type")
        } catch {
            throw DreamlabError.badConfig("\(path): not a valid JSON config (\(error))")
        }
        try cfg.validate(source: path)
        return cfg
    }
}

extension BertConfig {
    /// Floating-point operations (2 per multiply-add) of one sequence's forward through layers 0...deepest: the products
    /// and attention's QK^T and PV, with the deepest layer at `rows` positions only when given (keys and values still at
    /// every position). What `dreamlab bench` divides by the time to print GFLOP/s.
    public func forwardFLOPs(T: Int, deepest: Int, rows: Int? = nil) -> Double {
        let H = Double(hiddenSize), I = Double(intermediateSize), t = Double(T)
        let full = 2 * t * (4 * H * H + 2 * H * I) + 2 * 2 * t * t * H
        guard deepest >= 0 else { return 0 }
        guard let rows, rows < T else { return Double(deepest + 1) * full }
        let r = Double(rows)
        let last = 2 * t * 2 * H * H + 2 * r * (2 * H * H + 2 * H * I) + 2 * 2 * r * t * H
        return Double(deepest) * full + last
    }
}
