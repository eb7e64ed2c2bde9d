import Engine
import Foundation

/// `dreamlab random-model --out DIR`: a small BERT with random weights and an MLM head, sharing a real model's
/// vocabulary. A fixture for tests, pipelines and goldens (scripts/golden.py scores it with transformers); its
/// fluency scores mean nothing about language.
let randomModelCommand = Subcommand(
    name: "random-model", brief: "a small random BERT with an MLM head and a real vocabulary",
    summary: """
    A small BERT with random weights and an MLM head, sharing a real model's vocabulary: a fixture for tests and pipelines
    (e.g. fluency_model=), not a language model.
    """,
    usage: "--out DIR [flags]",
    flags: [.string("out", "", "the model directory to write (required)"),
            .string("vocab_from", "", "the model whose vocabulary to copy (default: the default model)"),
            .int("hidden", 32, "hidden size"), .int("layers", 2, "encoder layers"), .int("heads", 2, "attention heads"),
            .int("intermediate", 64, "FFN size"), .int("max_positions", 128, "position embeddings"), .int("seed", 7, "weight seed")]
) { f in
    guard let out = f.optional("out") else { throw CLIError("--out DIR is required") }
    if let existing = try? FileManager.default.contentsOfDirectory(atPath: out), !existing.isEmpty {
        throw CLIError("--out \(out) is not empty (\(existing.prefix(3).joined(separator: ", "))\(existing.count > 3 ? ", ..." : "")); a random model never overwrites a folder, so give a new one")
    }
    if FileManager.default.fileExists(atPath: out) && (try? FileManager.default.contentsOfDirectory(atPath: out)) == nil {
        throw CLIError("--out \(out) is a file; give a folder name")
    }
    for k in ["hidden", "layers", "heads", "intermediate", "max_positions"] where !(1...65536).contains(f.int(k)) {
        throw CLIError("--\(k) must be in 1...65536, got \(f.int(k))")
    }
    guard f.int("max_positions") >= 8 else { throw CLIError("--max_positions must be at least 8 ([CLS], a few tokens, [SEP]), got \(f.int("max_positions"))") }
    guard f.int("seed") >= 0 else { throw CLIError("--seed must be >= 0, got \(f.int("seed"))") }
    guard f.int("hidden") % f.int("heads") == 0 else { throw CLIError("--hidden must be a multiple of --heads") }
    let source = try ModelLocator.resolve(f.optional("vocab_from"))
    let vocab = try String(contentsOfFile: source + "/vocab.txt", encoding: .utf8).split(whereSeparator: \.isNewline)
        .map(String.init).filter { !$0.isEmpty }
    let c = BertConfig(hiddenSize: f.int("hidden"), numLayers: f.int("layers"), numHeads: f.int("heads"),
                       intermediateSize: f.int("intermediate"), vocabSize: vocab.count, maxPositions: f.int("max_positions"))
    try RandomBert.writeDirectory(out, config: c, seed: UInt64(f.int("seed")), withMLM: true, vocab: vocab)
    if FileManager.default.fileExists(atPath: source + "/tokenizer_config.json") {
        try? FileManager.default.removeItem(atPath: out + "/tokenizer_config.json")
        try FileManager.default.copyItem(atPath: source + "/tokenizer_config.json", toPath: out + "/tokenizer_config.json")
    }
    print("wrote \(out): random weights, hidden \(c.hiddenSize), \(c.numLayers) layers, MLM head, vocabulary of \(source) (\(vocab.count) tokens)")
    return 0
}
