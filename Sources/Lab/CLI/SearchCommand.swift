import Engine
import Foundation
import Objectives

/// `dreamlab search`: PAIR's token_search.py flags, writing top_tokens_in_<sentence>_<word>.json.
let searchCommand = Subcommand(
    name: "search", brief: "PAIR's token_search.py: every token at one position, scored exactly",
    summary: """
    PAIR's token_search.py: every vocabulary token at --change_word, scored exactly for --neuron_id of --layer_id at
    --word_id; writes <output_dir>/top_tokens_in_<sentence>_<change_word>.json.
    """,
    usage: "--output_dir DIR [flags]",
    flags: [.string("output_dir", "", "folder for the results (required, as in PAIR)"),
            .string("sentence", "i hate kickshaws", "the sentence to start with"),
            .string("sentence2", "", "an optional second sentence"),
            .int("change_word", 2, "the position whose token is replaced (0-based)"),
            .int("top_k", 100, "how many of the best tokens to write"),
            .int("batch", 256, "candidates per forward pass"),
            .int("limit", 0, "try only the first N token ids (0: the whole vocabulary)")]
        + SharedFlags.neuron + SharedFlags.model
) { f in
    guard let outDir = f.optional("output_dir") else { throw CLIError("--output_dir is required (PAIR's flag), e.g. --output_dir out") }
    let m = try SharedFlags.model(f)
    var s = SearchOptions()
    s.sentence = f.string("sentence")
    s.sentence2 = f.optional("sentence2")
    s.position = f.int("change_word")
    s.topk = f.int("top_k")
    s.batch = f.int("batch")
    if f.int("limit") < 0 { throw CLIError("--limit must be >= 0 (0: the whole vocabulary)") }
    if f.int("limit") > 0 { s.candidates = Array(0..<min(f.int("limit"), m.config.vocabSize)) }
    let enc = m.tokenizer.encode(s.sentence, s.sentence2)
    let obj = try SharedFlags.neuronObjective(f, model: m, T: enc.ids.count)
    let progress = Progress(total: s.candidates?.count ?? m.config.vocabSize, label: "search", quiet: f.bool("quiet"))
    s.onProgress = { done, _ in progress.update(step: done) }
    defer { progress.finish() }
    let r = try NativeWork.run { try tokenSearch(model: m, objectives: [obj], options: s) }[0]
    let file = TokenSearchFile(sentence: s.sentence, layerId: obj.layer, neuronId: obj.unit ?? -1, wordId: obj.word ?? -1, changeWord: s.position,
                               tokens: enc.ids.map { m.tokenizer.idToToken[$0] },
                               tops: r.hits.map { .init(token: $0.token, activation: finiteDouble($0.activation), id: $0.id) },
                               dreamlab: .init(candidates: r.candidates, seconds: r.seconds, interrupted: r.interrupted, model: m.directory))
    // PAIR's file name holds the sentence; a "/" in it must not reach another folder.
    let path = outDir + "/top_tokens_in_\(s.sentence.replacingOccurrences(of: "/", with: "_"))_\(s.position).json"
    try writeCodable(file, to: path)
    print(String(format: "searched %d candidates in %.1f s (%.0f/s)%@", r.candidates, r.seconds, r.candidatesPerSecond, r.interrupted ? ", interrupted" : ""))
    for h in r.hits.prefix(10) { print(String(format: "  %-16@ %.5f", h.token, Double(h.activation))) }
    print("wrote \(path)")
    return r.interrupted ? 130 : 0   // the partial top-k is saved, marked interrupted
}
