import Foundation

/// y = x W^T + b, with W stored as Hugging Face does: (out, in).
public struct Linear: Sendable {
    public var weight: FloatBuffer   // (out, in)
    public var bias: FloatBuffer     // (out)
    public let outFeatures: Int
    public let inFeatures: Int
    /// The bf16 mode's copies of `weight` (which then holds the bf16-rounded values); nil in fp32.
    public var bf16: BF16Matrix? = nil
    /// Packed copies of `weight` for products with many rows (gemm.c), made on first use.
    let packed = PackedLinear()
}

public struct LayerNormWeights: Sendable {
    public var gamma: FloatBuffer
    public var beta: FloatBuffer
}

public struct BertLayerWeights: Sendable {
    public var query, key, value, attnOut: Linear
    public var ln1: LayerNormWeights
    public var ffnIn, ffnOut: Linear
    public var ln2: LayerNormWeights
}

public struct MLMHeadWeights: Sendable {
    public var transform: Linear
    public var ln: LayerNormWeights
    public var decoder: FloatBuffer   // (V, H); tied to the word embeddings when the checkpoint has none
    public var bias: FloatBuffer      // (V)
    public var tiedDecoder: Bool
    public var decoderBF16: BF16Matrix? = nil
}

public struct BertWeights: Sendable {
    public var wordEmbeddings: FloatBuffer      // (V, H)
    public var positionEmbeddings: FloatBuffer  // (P, H)
    public var typeEmbeddings: FloatBuffer      // (types, H)
    public var embLN: LayerNormWeights
    public var layers: [BertLayerWeights]
    public var mlm: MLMHeadWeights?
    /// The bf16 mode's copies of the word embeddings (E); nil in fp32.
    public var wordBF16: BF16Matrix? = nil
    /// Packed copies of E for the products with many rows (p·E and dE·E^T at restarts=8), made on first use.
    let wordPacked = PackedLinear()
}

/// Every Hugging Face key rename lives here: an optional `bert.` prefix, and the old LayerNorm `gamma`/`beta`.
public enum CheckpointKeys {
    public static func canonical(_ key: String) -> String {
        var k = key
        if k.hasPrefix("bert.") { k.removeFirst(5) }
        if k.hasSuffix("LayerNorm.gamma") { k = String(k.dropLast(5)) + "weight" }
        if k.hasSuffix("LayerNorm.beta") { k = String(k.dropLast(4)) + "bias" }
        return k
    }
}

extension BertWeights {
    /// Strict loading: every tensor the model needs must be present with its config shape. Extra tensors
    /// (pooler, position_ids) were validated by the reader and are left alone.
    public static func load(_ file: SafetensorsFile, config c: BertConfig) throws -> BertWeights {
        var byCanonical: [String: String] = [:]
        for name in file.entries.keys {
            let canon = CheckpointKeys.canonical(name)
            if let other = byCanonical[canon] {
                throw DreamlabError.badFile("\(file.path): tensors \(other) and \(name) both name \(canon); keep one of them")
            }
            byCanonical[canon] = name
        }
        // Layers the config does not count would be dropped silently: the config does not belong to these weights.
        let layerNumbers = byCanonical.keys.compactMap { k -> Int? in
            guard k.hasPrefix("encoder.layer.") else { return nil }
            return Int(k.dropFirst("encoder.layer.".count).prefix { $0.isNumber })
        }
        if let top = layerNumbers.max(), top >= c.numLayers {
            throw DreamlabError.badConfig("\(file.path) holds encoder layers 0...\(top) but config.json says num_hidden_layers=\(c.numLayers); the config does not belong to these weights (set it to \(top + 1))")
        }
        return try build(config: c, has: { byCanonical[$0] != nil }) { canon, shape in
            guard let actual = byCanonical[canon] else {
                throw DreamlabError.badFile("\(file.path): missing tensor \(canon) (also looked for bert.\(canon) and gamma/beta names); the checkpoint is incomplete or not a BERT model")
            }
            let entry = file.entries[actual]!
            guard entry.shape == shape else {
                throw DreamlabError.badFile("\(file.path): tensor \(actual) has shape \(entry.shape) but config.json implies \(shape); the config does not belong to these weights")
            }
            let buffer = try file.floatBuffer(actual)
            for i in 0..<buffer.count where !buffer.ptr[i].isFinite {
                throw DreamlabError.badFile("\(file.path): tensor \(actual) holds \(buffer.ptr[i]) at element \(i); the checkpoint is corrupt (re-download it)")
            }
            return buffer
        }
    }

    /// Assembles the weights from a provider of canonical names (no `bert.` prefix, `weight`/`bias` LayerNorm names).
    public static func build(config c: BertConfig, has: (String) -> Bool,
                             tensor: (String, [Int]) throws -> FloatBuffer) throws -> BertWeights {
        func linear(_ prefix: String, out: Int, inp: Int) throws -> Linear {
            Linear(weight: try tensor(prefix + ".weight", [out, inp]), bias: try tensor(prefix + ".bias", [out]),
                   outFeatures: out, inFeatures: inp)
        }
        func ln(_ prefix: String, _ n: Int) throws -> LayerNormWeights {
            LayerNormWeights(gamma: try tensor(prefix + ".weight", [n]), beta: try tensor(prefix + ".bias", [n]))
        }
        let H = c.hiddenSize, I = c.intermediateSize, V = c.vocabSize
        let word = try tensor("embeddings.word_embeddings.weight", [V, H])
        let pos = try tensor("embeddings.position_embeddings.weight", [c.maxPositions, H])
        let type = try tensor("embeddings.token_type_embeddings.weight", [c.typeVocabSize, H])
        let embLN = try ln("embeddings.LayerNorm", H)
        var layers: [BertLayerWeights] = []
        for l in 0..<c.numLayers {
            let p = "encoder.layer.\(l)."
            layers.append(BertLayerWeights(
                query: try linear(p + "attention.self.query", out: H, inp: H),
                key: try linear(p + "attention.self.key", out: H, inp: H),
                value: try linear(p + "attention.self.value", out: H, inp: H),
                attnOut: try linear(p + "attention.output.dense", out: H, inp: H),
                ln1: try ln(p + "attention.output.LayerNorm", H),
                ffnIn: try linear(p + "intermediate.dense", out: I, inp: H),
                ffnOut: try linear(p + "output.dense", out: H, inp: I),
                ln2: try ln(p + "output.LayerNorm", H)))
        }
        var mlm: MLMHeadWeights? = nil
        if has("cls.predictions.transform.dense.weight") {
            let tied = !has("cls.predictions.decoder.weight")
            let decoder = tied ? word : try tensor("cls.predictions.decoder.weight", [V, H])
            let bias = has("cls.predictions.bias") ? try tensor("cls.predictions.bias", [V]) : try tensor("cls.predictions.decoder.bias", [V])
            mlm = MLMHeadWeights(transform: try linear("cls.predictions.transform.dense", out: H, inp: H),
                                 ln: try ln("cls.predictions.transform.LayerNorm", H),
                                 decoder: decoder, bias: bias, tiedDecoder: tied)
        }
        return BertWeights(wordEmbeddings: word, positionEmbeddings: pos, typeEmbeddings: type, embLN: embLN,
                           layers: layers, mlm: mlm)
    }
}
