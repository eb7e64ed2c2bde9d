import Engine
import Foundation

/// `dreamlab random-model --out DIR`: a small BERT with random weights and an MLM head, sharing a real model's
/// vocabulary. A fixture for tests, pipelines and goldens (scripts/golden.py scores it with transformers); its
/// fluency scores mean nothing about language.
func runRandomModelCommand(_ args: [String]) -> Int32 {
    do {
        let f = try PairFlags(args, command: "random-model", extra: ["out": "", "vocab_from": "", "hidden": "32", "layers": "2", "heads": "2",
                                                                    "intermediate": "64", "max_positions": "128", "seed": "7"])
        guard !f.string("out").isEmpty else { throw DreamlabError.invalidArgument("dreamlab random-model: --out DIR is required") }
        let source = try ModelLocator.resolve(f.string("vocab_from").isEmpty ? nil : f.string("vocab_from"))
        let vocab = try String(contentsOfFile: source + "/vocab.txt", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init).filter { !$0.isEmpty }
        let c = BertConfig(hiddenSize: try f.int("hidden"), numLayers: try f.int("layers"), numHeads: try f.int("heads"),
                           intermediateSize: try f.int("intermediate"), vocabSize: vocab.count, maxPositions: try f.int("max_positions"))
        guard c.hiddenSize % c.numHeads == 0 else { throw DreamlabError.invalidArgument("dreamlab random-model: --hidden must be a multiple of --heads") }
        let out = f.string("out")
        try RandomBert.writeDirectory(out, config: c, seed: UInt64(try f.int("seed")), withMLM: true, vocab: vocab)
        if FileManager.default.fileExists(atPath: source + "/tokenizer_config.json") {
            try? FileManager.default.removeItem(atPath: out + "/tokenizer_config.json")
            try FileManager.default.copyItem(atPath: source + "/tokenizer_config.json", toPath: out + "/tokenizer_config.json")
        }
        print("wrote \(out): random weights, hidden \(c.hiddenSize), \(c.numLayers) layers, MLM head, vocabulary of \(source) (\(vocab.count) tokens)")
        return 0
    } catch {
        FileHandle.standardError.write(Data("dreamlab random-model: \(error)\n".utf8))
        return 2
    }
}
