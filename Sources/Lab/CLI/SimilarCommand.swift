import Engine
import Foundation
import Objectives

/// `dreamlab similar`: PAIR's similar_embedding_activation.py, writing closest_to_<sentence>_<change_word>.json.
let similarCommand = Subcommand(
    name: "similar", brief: "PAIR's similar_embedding_activation.py: the nearest input embeddings to a word, with their activation",
    summary: """
    PAIR's similar_embedding_activation.py: the --top_k tokens whose input embeddings lie closest to the token at
    --change_word (Euclidean distance, or cosine similarity with --cosine), each put in its place and scored for
    --neuron_id of --layer_id at --word_id; writes <output_dir>/closest_to_<sentence>_<change_word>.json. With --cosine,
    the closest are the most similar (PAIR's script takes the least similar there; Dreamlab does not copy that).
    """,
    usage: "--output_dir DIR [flags]",
    flags: [.string("output_dir", "", "folder for the results (required, as in PAIR)"),
            .string("sentence", "i hate kickshaws", "the sentence to start with"),
            .int("change_word", 2, "the position whose token is replaced by its neighbours (0-based)"),
            .int("top_k", 100, "how many neighbours to score"),
            .bool("cosine", false, "cosine similarity instead of Euclidean distance"),
            .int("num_iterations", 1000, "accepted for PAIR's command lines; unused (PAIR's script ignores it too)")]
        + SharedFlags.neuron + SharedFlags.model
) { f in
    guard let outDir = f.optional("output_dir") else { throw CLIError("--output_dir is required (PAIR's flag), e.g. --output_dir out") }
    let m = try SharedFlags.model(f)
    let sentence = f.string("sentence"), w = f.int("change_word")
    let enc = m.tokenizer.encode(sentence)
    guard w >= 0 && w < enc.ids.count else { throw CLIError("--change_word \(w) is outside 0...\(enc.ids.count - 1) for this \(enc.ids.count)-token input") }
    let obj = try SharedFlags.neuronObjective(f, model: m, T: enc.ids.count)
    let metric: EmbeddingMetric = f.bool("cosine") ? .cosine : .euclidean
    let near = try embeddingNeighbours(model: m, of: enc.ids[w], k: f.int("top_k"), metric: metric)
    let far = try embeddingNeighbours(model: m, of: enc.ids[w], k: 1, metric: metric, furthest: true)
    var s = SearchOptions()
    s.sentence = sentence; s.position = w; s.topk = near.count; s.candidates = near.map(\.id)
    let r = try NativeWork.run { try tokenSearch(model: m, objectives: [obj], options: s) }[0]
    let act = Dictionary(r.hits.map { ($0.id, $0.activation) }, uniquingKeysWith: { a, _ in a })
    let file = SimilarEmbeddingsFile(sentence: sentence, layerId: obj.layer, neuronId: obj.unit ?? -1, wordId: obj.word ?? -1, changeWord: w,
                                     cosine: f.bool("cosine"), tokens: enc.ids.map { m.tokenizer.idToToken[$0] },
                                     tops: near.map { .init(token: $0.token, activation: act[$0.id].flatMap(finiteDouble), distance: finiteDouble($0.value)) },
                                     furthest: far.first.flatMap { finiteDouble($0.value) })
    let path = outDir + "/closest_to_\(sentence.replacingOccurrences(of: "/", with: "_"))_\(w).json"
    try writeCodable(file, to: path)
    for t in file.tops.prefix(10) { print(String(format: "  %-16@ %@ %.5f  activation %.5f", t.token, f.bool("cosine") ? "similarity" : "distance", t.distance ?? .nan, t.activation ?? .nan)) }
    print("wrote \(path)\(r.interrupted ? " (interrupted: activations of the neighbours not reached are null)" : "")")
    return r.interrupted ? 130 : 0
}

/// `dreamlab tokenize`: PAIR's tokenize_sentence.py, printing the tokens and their ids.
let tokenizeCommand = Subcommand(
    name: "tokenize", brief: "PAIR's tokenize_sentence.py: the tokens and ids of a sentence (pair)",
    summary: "PAIR's tokenize_sentence.py: prints the WordPiece tokens of --sentence (and --sentence2), then their ids.",
    usage: "[--sentence TEXT] [--sentence2 TEXT]",
    flags: [.string("sentence", "i hate kickshaws", "the sentence to be tokenized"),
            .string("sentence2", "", "the optional second sentence")] + SharedFlags.model
) { f in
    let m = try SharedFlags.model(f)
    let e = m.tokenizer.encode(f.string("sentence"), f.optional("sentence2"))
    func quote(_ t: String) -> String { "'" + t.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'" }
    print("[" + e.ids.map { quote(m.tokenizer.idToToken[$0]) }.joined(separator: ", ") + "]")
    print("[" + e.ids.map(String.init).joined(separator: ", ") + "]")
    return 0
}
