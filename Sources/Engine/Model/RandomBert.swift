import Foundation

/// Writes safetensors files (F32, F16 or BF16). Used for test fixtures and the benchmark's random models.
public enum SafetensorsWriter {
    public static func encode(_ tensors: [(name: String, shape: [Int], values: [Float])],
                              dtype: SafetensorsFile.DType = .F32, metadata: [String: String] = ["format": "pt"]) throws -> Data {
        var header: [String: Any] = ["__metadata__": metadata]
        var body = Data()
        for t in tensors {
            let begin = body.count
            switch dtype {
            case .F32: for v in t.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
            case .F16: for v in t.values { withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { body.append(contentsOf: $0) } }
            case .BF16: for v in t.values { withUnsafeBytes(of: UInt16(v.bitPattern >> 16).littleEndian) { body.append(contentsOf: $0) } }
            default: throw DreamlabError.invalidArgument("SafetensorsWriter writes F32, F16 or BF16")
            }
            header[t.name] = ["dtype": dtype.rawValue, "shape": t.shape, "data_offsets": [begin, body.count]]
        }
        var h = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while h.count % 8 != 0 { h.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(h)
        out.append(body)
        return out
    }
}

/// Deterministic random BERT weights in Hugging Face naming, for fixtures and benchmarks.
public enum RandomBert {
    /// bert-base-uncased's shape.
    public static let baseConfig = BertConfig(hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072, vocabSize: 30522)

    /// Every tensor name (canonical, without prefix) and shape a config needs.
    public static func layout(_ c: BertConfig, withMLM: Bool) -> [(name: String, shape: [Int])] {
        let H = c.hiddenSize, I = c.intermediateSize
        var out: [(String, [Int])] = []
        func ln(_ p: String) { out.append((p + ".LayerNorm.weight", [H])); out.append((p + ".LayerNorm.bias", [H])) }
        func lin(_ p: String, _ o: Int, _ i: Int) { out.append((p + ".weight", [o, i])); out.append((p + ".bias", [o])) }
        out.append(("embeddings.word_embeddings.weight", [c.vocabSize, H]))
        out.append(("embeddings.position_embeddings.weight", [c.maxPositions, H]))
        out.append(("embeddings.token_type_embeddings.weight", [c.typeVocabSize, H]))
        ln("embeddings")
        for l in 0..<c.numLayers {
            let p = "encoder.layer.\(l)."
            lin(p + "attention.self.query", H, H); lin(p + "attention.self.key", H, H); lin(p + "attention.self.value", H, H)
            lin(p + "attention.output.dense", H, H); ln(p + "attention.output")
            lin(p + "intermediate.dense", I, H); lin(p + "output.dense", H, I); ln(p + "output")
        }
        if withMLM {
            lin("cls.predictions.transform.dense", H, H)
            ln("cls.predictions.transform")
            out.append(("cls.predictions.bias", [c.vocabSize]))
        }
        return out
    }

    /// Deterministic values for one tensor: seeded by the model seed and the tensor's name, scaled by its role.
    public static func fill(_ name: String, shape: [Int], seed: UInt64, into buf: UnsafeMutablePointer<Float>) {
        var h: UInt64 = seed &* 0x9E3779B97F4A7C15
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100000001B3 }
        var rng = SplitMix64(seed: h)
        let n = shape.reduce(1, *)
        let isLNWeight = name.hasSuffix("LayerNorm.weight")
        let scale: Float = name.contains("LayerNorm") ? (isLNWeight ? 0.2 : 0.1)
            : name.hasSuffix(".bias") ? 0.05
            : name.contains("word_embeddings") ? 0.5
            : name.contains("embeddings") ? 0.1
            : 1 / Float(shape.last ?? 1).squareRoot()
        for i in 0..<n { buf[i] = (isLNWeight ? 1 : 0) + (Float(rng.nextDouble()) * 2 - 1) * scale }
    }

    /// Random weights as named tensors, for writing fixtures: `prefix` and old LayerNorm names as some checkpoints have them.
    public static func tensors(_ c: BertConfig, seed: UInt64 = 1, withMLM: Bool = false, prefix: String = "bert.",
                               oldLayerNormNames: Bool = false) -> [(name: String, shape: [Int], values: [Float])] {
        layout(c, withMLM: withMLM).map { t in
            var values = [Float](repeating: 0, count: t.shape.reduce(1, *))
            values.withUnsafeMutableBufferPointer { fill(t.name, shape: t.shape, seed: seed, into: $0.baseAddress!) }
            var name = t.name.hasPrefix("cls.") ? t.name : prefix + t.name
            if oldLayerNormNames {
                if name.hasSuffix("LayerNorm.weight") { name = String(name.dropLast(6)) + "gamma" }
                if name.hasSuffix("LayerNorm.bias") { name = String(name.dropLast(4)) + "beta" }
            }
            return (name, t.shape, values)
        }
    }

    public static func configJSON(_ c: BertConfig) -> String {
        """
        {"architectures":["BertForMaskedLM"],"model_type":"bert","hidden_size":\(c.hiddenSize),"num_hidden_layers":\(c.numLayers),
         "num_attention_heads":\(c.numHeads),"intermediate_size":\(c.intermediateSize),"vocab_size":\(c.vocabSize),
         "max_position_embeddings":\(c.maxPositions),"type_vocab_size":\(c.typeVocabSize),"layer_norm_eps":\(c.layerNormEps),
         "hidden_act":"gelu","position_embedding_type":"absolute","hidden_dropout_prob":0.1}
        """
    }

    /// A vocabulary of `size` entries: BERT's specials, letters, some words and `##` pieces, then filler.
    public static func vocab(size: Int) -> [String] {
        var v = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        let words = ["the", "a", "i", "hate", "love", "kick", "##shaw", "##s", "dog", "cat", ".", ",", "!", "?", "un", "##aff", "##able"]
        v += words
        for ch in "abcdefghijklmnopqrstuvwxyz0123456789" { v.append(String(ch)); v.append("##" + String(ch)) }
        var i = 0
        while v.count < size { v.append("tok\(i)"); i += 1 }
        return Array(v.prefix(size))
    }

    /// Writes a complete model directory (config.json, vocab.txt, model.safetensors).
    /// `vocab`: a real vocabulary (a real model's vocab.txt lines) instead of the synthetic one; it must have c.vocabSize entries.
    public static func writeDirectory(_ dir: String, config c: BertConfig, seed: UInt64 = 1, withMLM: Bool = false,
                                      dtype: SafetensorsFile.DType = .F32, vocab realVocab: [String]? = nil) throws {
        precondition(realVocab == nil || realVocab!.count == c.vocabSize, "vocabulary size must equal config.vocabSize")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try configJSON(c).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try ((realVocab ?? vocab(size: c.vocabSize)).joined(separator: "\n") + "\n").write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        let data = try SafetensorsWriter.encode(tensors(c, seed: seed, withMLM: withMLM), dtype: dtype)
        try data.write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
    }

    /// The model in memory, filled in place: no file and no second copy of the weights (bert-base stays at 440 MB).
    /// `tokenizer`: a real model's tokenizer (its vocabulary size must equal c.vocabSize) instead of the synthetic one.
    public static func model(_ c: BertConfig, seed: UInt64 = 1, withMLM: Bool = false, tokenizer: WordPieceTokenizer? = nil) throws -> BertModel {
        let names = Set(layout(c, withMLM: withMLM).map(\.name))
        let w = try BertWeights.build(config: c, has: { names.contains($0) }) { name, shape in
            let buf = FloatBuffer(uninitialized: shape.reduce(1, *))
            fill(name, shape: shape, seed: seed, into: buf.ptr)
            return buf
        }
        let tok = try tokenizer ?? WordPieceTokenizer(vocab: vocab(size: c.vocabSize))
        return BertModel(config: c, weights: w, tokenizer: tok, directory: "<random \(c.hiddenSize)x\(c.numLayers), seed \(seed)>")
    }
}

/// A small deterministic generator (SplitMix64), so fixtures and seeded runs repeat exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    public mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / 9007199254740992.0) }
}
