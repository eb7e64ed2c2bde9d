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

    public static func tensors(_ c: BertConfig, seed: UInt64 = 1, withMLM: Bool = false, prefix: String = "bert.",
                               oldLayerNormNames: Bool = false) -> [(name: String, shape: [Int], values: [Float])] {
        var rng = SplitMix64(seed: seed)
        func rand(_ shape: [Int], scale: Float = 0.05) -> [Float] {
            (0..<shape.reduce(1, *)).map { _ in (Float(rng.nextDouble()) * 2 - 1) * scale }
        }
        let H = c.hiddenSize, I = c.intermediateSize
        var out: [(String, [Int], [Float])] = []
        func ln(_ p: String) {
            let (w, b) = oldLayerNormNames ? ("gamma", "beta") : ("weight", "bias")
            out.append((p + ".LayerNorm.\(w)", [H], rand([H], scale: 0.2).map { 1 + $0 }))
            out.append((p + ".LayerNorm.\(b)", [H], rand([H], scale: 0.1)))
        }
        func lin(_ p: String, _ o: Int, _ i: Int) {
            out.append((p + ".weight", [o, i], rand([o, i], scale: 1 / Float(i).squareRoot())))
            out.append((p + ".bias", [o], rand([o], scale: 0.05)))
        }
        out.append((prefix + "embeddings.word_embeddings.weight", [c.vocabSize, H], rand([c.vocabSize, H], scale: 0.5)))
        out.append((prefix + "embeddings.position_embeddings.weight", [c.maxPositions, H], rand([c.maxPositions, H], scale: 0.1)))
        out.append((prefix + "embeddings.token_type_embeddings.weight", [c.typeVocabSize, H], rand([c.typeVocabSize, H], scale: 0.1)))
        ln(prefix + "embeddings")
        for l in 0..<c.numLayers {
            let p = prefix + "encoder.layer.\(l)."
            lin(p + "attention.self.query", H, H); lin(p + "attention.self.key", H, H); lin(p + "attention.self.value", H, H)
            lin(p + "attention.output.dense", H, H); ln(p + "attention.output")
            lin(p + "intermediate.dense", I, H); lin(p + "output.dense", H, I); ln(p + "output")
        }
        if withMLM {
            lin("cls.predictions.transform.dense", H, H)
            ln("cls.predictions.transform")
            out.append(("cls.predictions.bias", [c.vocabSize], rand([c.vocabSize], scale: 0.1)))
        }
        return out
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
    public static func writeDirectory(_ dir: String, config c: BertConfig, seed: UInt64 = 1, withMLM: Bool = false,
                                      dtype: SafetensorsFile.DType = .F32) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try configJSON(c).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try (vocab(size: c.vocabSize).joined(separator: "\n") + "\n").write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        let data = try SafetensorsWriter.encode(tensors(c, seed: seed, withMLM: withMLM), dtype: dtype)
        try data.write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
    }

    /// The model in memory, without touching disk.
    public static func model(_ c: BertConfig, seed: UInt64 = 1, withMLM: Bool = false) throws -> BertModel {
        let data = try SafetensorsWriter.encode(tensors(c, seed: seed, withMLM: withMLM))
        let file = try SafetensorsFile(path: "<random \(c.hiddenSize)x\(c.numLayers)>", bytes: data)
        let w = try BertWeights.load(file, config: c)
        let tok = try WordPieceTokenizer(vocab: vocab(size: c.vocabSize))
        return BertModel(config: c, weights: w, tokenizer: tok, directory: file.path)
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
