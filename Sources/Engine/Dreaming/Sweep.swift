import Foundation

/// A sweep: one dream per unit, from an objective template, each finished batch appended to a JSON-lines file.
public struct SweepOptions: @unchecked Sendable {
    /// The dream every unit gets (method, steps, schedule, seed, restarts, fluency, ...).
    public var dream = DreamOptions()
    public var units: [Int] = []
    /// Units per shared pass for the relaxed and hybrid methods (each batch row its own objective); the discrete
    /// method dreams one unit at a time, its population filling the batch.
    public var batch = 8
    /// The .jsonl file; units already in it are skipped, so rerunning resumes.
    public var out = ""
    /// Called after each appended batch with (units done this run, units to do this run).
    public var onProgress: ((Int, Int) -> Void)? = nil

    public init() {}
}

/// One line of a sweep file: the unit's best input, its activation and its top tokens.
public struct SweepRecord: Codable, Sendable {
    public let unit: Int
    public let objective: String
    public let method: String
    public let sentence: String
    public let first: Int, last: Int
    public let steps: Int
    public let seed: UInt64
    public let restarts: Int
    public let batch: Int
    public let finalTokens: [String]
    public let finalActivation: Double?
    public let finalIdsActivation: Double?
    /// The top-k tokens of the last record at each dreamed position (relaxed and hybrid; discrete: the best span).
    public let topTokens: [[String]]
    public let best: InputRecord?
    public let secondsPerBatch: Double

    enum CodingKeys: String, CodingKey {
        case unit, objective, method, sentence, first, last, steps, seed, restarts, batch, best
        case finalTokens = "final_tokens", finalActivation = "final_activation", finalIdsActivation = "final_ids_activation"
        case topTokens = "top_tokens", secondsPerBatch = "seconds_per_batch"
    }
}

public struct SweepResult: Sendable {
    public var records: [SweepRecord] = []   // the units dreamed by this run, in order
    public var skipped = 0                   // units already in the file
    public var interrupted = false
    public var seconds = 0.0
    public var out = ""
}

/// Runs one dream per unit of `options.units` not yet in `options.out`, appending one JSON line per finished unit.
/// `objectiveFor` builds each unit's objective. Ctrl-C (interruptRequested) stops after the current batch's dream.
public func runSweep(model: BertModel, options s: SweepOptions, objectiveFor: (Int) throws -> ActivationObjective) throws -> SweepResult {
    guard !s.out.isEmpty else { throw DreamlabError.invalidArgument("a sweep needs an output file (out=, --out): a .jsonl file; rerunning resumes it") }
    guard (1...4096).contains(s.batch) else { throw DreamlabError.invalidArgument("batch must be in 1...4096, got \(s.batch)") }
    guard !s.units.isEmpty else { throw DreamlabError.invalidArgument("a sweep needs at least one unit, e.g. units 0-63") }
    var result = SweepResult(out: s.out)
    let done = Set(try JSONLines.readRepairing(s.out).compactMap { ($0["unit"] as? NSNumber)?.intValue })
    let todo = s.units.filter { !done.contains($0) }
    result.skipped = s.units.count - todo.count
    let tok = model.tokenizer
    let start = Date()
    let R = s.dream.restarts
    let perPass = s.dream.method == .discrete ? 1 : s.batch
    var i = 0
    while i < todo.count {
        let chunk = Array(todo[i..<min(i + perPass, todo.count)])
        let objectives = try chunk.map(objectiveFor)
        var o = s.dream
        let r: DreamResult
        let rowsOfUnit: (Int) -> Range<Int>
        if o.method == .discrete {
            r = try runDream(model: model, objective: objectives[0], options: o)
            rowsOfUnit = { _ in 0..<r.runs.count }
        } else {
            o.restarts = chunk.count * R          // unit k owns rows k*R ..< (k+1)*R
            o.cleanStarts = Set(stride(from: 0, to: chunk.count * R, by: R))   // each unit's first restart starts at PAIR's point
            r = try runDream(model: model, objective: PerSequenceObjective(objectives.flatMap { [ActivationObjective](repeating: $0, count: R) }),
                             options: o)
            rowsOfUnit = { k in (k * R)..<((k + 1) * R) }
        }
        if r.interrupted { result.interrupted = true; break }
        let records: [SweepRecord] = chunk.enumerated().map { k, unit in
            let mine = r.runs[rowsOfUnit(k)]
            let run = mine.max { ($0.best?.score ?? -.infinity) < ($1.best?.score ?? -.infinity) }!
            let top = run.topK.map { $0.last?.tokens ?? [] }
            return SweepRecord(unit: unit, objective: objectives[k].description, method: o.method.rawValue, sentence: o.sentence,
                               first: r.first, last: r.last, steps: r.stepsDone, seed: o.seed, restarts: R, batch: chunk.count,
                               finalTokens: run.finalIds[r.first...r.last].map { tok.idToToken[$0] },
                               finalActivation: finiteDouble(run.finalActivation), finalIdsActivation: finiteDouble(run.finalIdsActivation),
                               topTokens: top.allSatisfy(\.isEmpty) ? (run.best.map { b in (r.first...r.last).map { [b.tokens[$0]] } } ?? []) : top,
                               best: run.best?.record, secondsPerBatch: r.seconds)
        }
        try JSONLines.append(records, to: s.out)
        result.records += records
        i += chunk.count
        s.onProgress?(result.records.count, todo.count)
        if interruptRequested.load(ordering: .relaxed) { result.interrupted = true; break }
    }
    result.seconds = Date().timeIntervalSince(start)
    return result
}

/// Which units a shard "i/n" (0-based i) takes: every n-th, starting at i.
public func shardUnits<T>(_ units: [T], shard: (Int, Int)?) -> [T] {
    guard let (i, n) = shard else { return units }
    return units.enumerated().filter { $0.offset % n == i }.map(\.element)
}

public func parseShard(_ s: String) throws -> (Int, Int) {
    let parts = s.split(separator: "/").compactMap { Int($0) }
    guard parts.count == 2, parts[1] >= 1, parts[0] >= 0, parts[0] < parts[1] else {
        throw DreamlabError.invalidArgument("shard \"\(s)\" must be i/n with 0 <= i < n, e.g. 0/4 (Slurm: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)")
    }
    return (parts[0], parts[1])
}
