import Foundation

public struct SearchHit: Sendable {
    public let id: Int
    public let token: String
    public let activation: Float
}

public struct SearchResult: Sendable {
    public var hits: [SearchHit]          // best first
    public var candidates: Int            // how many tokens were scored
    public var seconds: Double
    public var interrupted: Bool
    public var candidatesPerSecond: Double { seconds > 0 ? Double(candidates) / seconds : 0 }
}

/// Token search over one position (PAIR's token_search.py), as every front end asks for it.
public struct SearchOptions: @unchecked Sendable {
    public var sentence = "i hate kickshaws"
    public var sentence2: String? = nil
    /// The position whose token is replaced, 0-based (0 is [CLS]); PAIR's change_word.
    public var position = 2
    public var topk = 100
    /// Candidates per forward pass.
    public var batch = 256
    /// The token ids to try (nil: the whole vocabulary).
    public var candidates: [Int]? = nil
    /// Called after each batch with (candidates done, candidates in all).
    public var onProgress: ((Int, Int) -> Void)? = nil

    public init() {}
}

/// Exhaustive token search: every candidate token at one position, scored exactly in large batches, each running
/// only up to the deepest layer the objectives need and keeping only the sites they read. Several objectives share
/// the same passes and get one result each. Ctrl-C (interruptRequested) stops between batches and keeps the partial top-k.
public func tokenSearch(model: BertModel, objectives: [ActivationObjective], options s: SearchOptions) throws -> [SearchResult] {
    let e = model.tokenizer.encode(s.sentence, s.sentence2)
    let T = e.ids.count, V = model.config.vocabSize
    guard s.position >= 0 && s.position < T else {
        throw DreamlabError.outOfRange("position \(s.position) is outside 0...\(T - 1) for \(e.ids.map { model.tokenizer.idToToken[$0] }.joined(separator: " ")) (0-based; 0 is [CLS])")
    }
    guard s.topk >= 1 && s.topk <= V else { throw DreamlabError.invalidArgument("topk must be in 1...\(V) (the vocabulary), got \(s.topk)") }
    guard (1...4096).contains(s.batch) else { throw DreamlabError.invalidArgument("batch must be in 1...4096, got \(s.batch)") }
    guard !objectives.isEmpty else { throw DreamlabError.invalidArgument("token search needs at least one objective") }
    for o in objectives { try o.validate(model: model, T: T) }
    let pool = s.candidates ?? Array(0..<V)
    if let bad = pool.first(where: { $0 < 0 || $0 >= V }) { throw DreamlabError.outOfRange("candidate token id \(bad) is outside 0...\(V - 1)") }
    let upTo = min(objectives.map(\.deepestLayer).max() ?? 0, model.config.numLayers - 1)
    let keep = Set(objectives.flatMap(\.sites))
    // Rows of the deepest layer to compute: the union of what the objectives read (nil: all).
    let rowSets = objectives.map { $0.rowsAtDeepestLayer(T: T) }
    let rows: [Int]? = rowSets.contains { $0 == nil } ? nil : Array(Set(rowSets.flatMap { $0! })).sorted()
    var best = [BestK<Int>](repeating: BestK<Int>(s.topk), count: objectives.count)
    let start = Date()
    var done = 0, interrupted = false
    while done < pool.count {
        if interruptRequested.load(ordering: .relaxed) { interrupted = true; break }
        let chunk = Array(pool[done..<min(done + s.batch, pool.count)])
        let seqs = chunk.map { id -> [Int] in var q = e.ids; q[s.position] = id; return q }
        let acts = try model.forward(InputBatch(ids: seqs, typeIds: [[Int]](repeating: e.typeIds, count: seqs.count), padId: model.tokenizer.padId),
                                     upTo: upTo, withMLM: objectives.contains { $0.needsMLM }, keep: keep, lastLayerRows: rows)
        for (k, o) in objectives.enumerated() {
            for (id, v) in zip(chunk, try o.evaluate(acts, grads: nil)) { best[k].offer(v, id) }
        }
        done += chunk.count
        s.onProgress?(done, pool.count)
    }
    let secs = Date().timeIntervalSince(start)
    return best.map { b in
        SearchResult(hits: b.entries.map { SearchHit(id: $0.item, token: model.tokenizer.idToToken[$0.item], activation: $0.score) },
                     candidates: done, seconds: secs, interrupted: interrupted)
    }
}
