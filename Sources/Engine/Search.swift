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

/// Several objectives over the same candidates in the same passes (one forward per batch serves all of them).
public func tokenSearchMany(model: BertModel, ids: [Int], typeIds: [Int], position: Int, objectives: [ActivationObjective], topk: Int,
                            batchSize: Int = 256, candidates: [Int]? = nil) throws -> [SearchResult] {
    let T = ids.count
    for o in objectives { try o.validate(model: model, T: T) }
    let pool = candidates ?? Array(0..<model.config.vocabSize)
    let upTo = min(objectives.map(\.deepestLayer).max() ?? 0, model.config.numLayers - 1)
    let keep = Set(objectives.flatMap(\.sites))
    var all = [[(Float, Int)]](repeating: [], count: objectives.count)   // every candidate's value, per objective
    let start = Date()
    var done = 0, interrupted = false
    while done < pool.count {
        if interruptRequested.load(ordering: .relaxed) { interrupted = true; break }
        let chunk = Array(pool[done..<min(done + batchSize, pool.count)])
        let seqs = chunk.map { id -> [Int] in var s = ids; s[position] = id; return s }
        let acts = try model.forward(InputBatch(ids: seqs, typeIds: [[Int]](repeating: typeIds, count: seqs.count), padId: model.tokenizer.padId),
                                     upTo: upTo, withMLM: objectives.contains { $0.needsMLM }, keep: keep)
        for (k, o) in objectives.enumerated() {
            for (id, v) in zip(chunk, try o.evaluate(acts, grads: nil)) where v.isFinite { all[k].append((v, id)) }
        }
        done += chunk.count
    }
    let secs = Date().timeIntervalSince(start)
    return all.map { vals in
        let top = vals.sorted { $0.0 > $1.0 }.prefix(topk)
        return SearchResult(hits: top.map { SearchHit(id: $0.1, token: model.tokenizer.idToToken[$0.1], activation: $0.0) },
                            candidates: done, seconds: secs, interrupted: interrupted)
    }
}

/// Exhaustive token search (PAIR's token_search.py): every vocabulary token at one position, scored exactly in
/// large batches, each running only up to the deepest layer the objective needs and keeping only the sites it reads.
/// Ctrl-C (interruptRequested) stops between batches and keeps the partial top-k.
public func tokenSearch(model: BertModel, ids: [Int], typeIds: [Int], position: Int, objective: ActivationObjective, topk: Int,
                        batchSize: Int = 256, candidates: [Int]? = nil,
                        onProgress: ((Int, Int) -> Void)? = nil) throws -> SearchResult {
    let T = ids.count, V = model.config.vocabSize
    guard position >= 0 && position < T else {
        throw DreamlabError.outOfRange("position \(position) is outside 0...\(T - 1) for this \(T)-token input (0-based; 0 is [CLS])")
    }
    guard topk >= 1 else { throw DreamlabError.invalidArgument("topk must be at least 1") }
    try objective.validate(model: model, T: T)
    let pool = candidates ?? Array(0..<V)
    let upTo = min(objective.deepestLayer, model.config.numLayers - 1)
    let keep = Set(objective.sites)
    var best = BestK<Int>(topk)
    let start = Date()
    var done = 0
    var interrupted = false
    while done < pool.count {
        if interruptRequested.load(ordering: .relaxed) { interrupted = true; break }
        let chunk = Array(pool[done..<min(done + batchSize, pool.count)])
        let seqs = chunk.map { id -> [Int] in var s = ids; s[position] = id; return s }
        let acts = try model.forward(InputBatch(ids: seqs, typeIds: [[Int]](repeating: typeIds, count: seqs.count), padId: model.tokenizer.padId),
                                     upTo: upTo, withMLM: objective.needsMLM, keep: keep, lastLayerRows: objective.rowsAtDeepestLayer(T: T))
        let values = try objective.evaluate(acts, grads: nil)
        for (id, v) in zip(chunk, values) { best.offer(v, id) }
        done += chunk.count
        onProgress?(done, pool.count)
    }
    let hits = best.entries.map { SearchHit(id: $0.item, token: model.tokenizer.idToToken[$0.item], activation: $0.score) }
    return SearchResult(hits: hits, candidates: done, seconds: Date().timeIntervalSince(start), interrupted: interrupted)
}
