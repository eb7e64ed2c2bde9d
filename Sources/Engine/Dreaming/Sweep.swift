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
    /// i/n: this task's share of the sweep, whole batches round-robin (batch k of the full unit list goes to shard
    /// k mod n), so every unit is dreamed in the same batch, with the same noise, sharded or on one machine.
    public var shard: (index: Int, count: Int)? = nil
    /// The command line that runs this sweep, recorded in every line so that `--status` can say how to finish it.
    public var command: String? = nil
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
    /// The whole sweep this line belongs to: every unit (as "0-383"), the batch size, the shard and the command.
    public let units: String
    public let batchSize: Int
    public let shard: String?
    public let command: String?
    /// "bf16" for the opt-in bf16 mode; absent (fp32) in lines written before it existed.
    public let precision: String?

    enum CodingKeys: String, CodingKey {
        case unit, objective, method, sentence, first, last, steps, seed, restarts, batch, best, precision
        case finalTokens = "final_tokens", finalActivation = "final_activation", finalIdsActivation = "final_ids_activation"
        case units, shard, command
        case topTokens = "top_tokens", secondsPerBatch = "seconds_per_batch", batchSize = "batch_size"
    }
}

extension SweepRecord {
    /// A line read back as a dictionary, when it is a complete record of this format (older lines lack the plan).
    /// In an extension, so the memberwise initialiser stays.
    init?(row: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: row), let r = try? JSONDecoder().decode(SweepRecord.self, from: data) else { return nil }
        self = r
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
    // Checked here, not only by the dream: a batch's objectives are laid out per restart before it runs.
    guard (1...4096).contains(s.dream.restarts) else { throw DreamlabError.invalidArgument("restarts (--restarts) must be in 1...4096, got \(s.dream.restarts)") }
    guard s.dream.method == .discrete || s.batch * s.dream.restarts <= 4096 else {
        throw DreamlabError.invalidArgument("batch × restarts must be at most 4096 (they share one pass), got \(s.batch) × \(s.dream.restarts); lower --batch")
    }
    guard !s.units.isEmpty else { throw DreamlabError.invalidArgument("a sweep needs at least one unit, e.g. units 0-63") }
    guard Set(s.units).count == s.units.count else { throw DreamlabError.invalidArgument("a sweep's units must be distinct") }
    if let (i, n) = s.shard, !(n >= 1 && i >= 0 && i < n) { throw DreamlabError.invalidArgument("shard \(i)/\(n) must satisfy 0 <= i < n") }
    var result = SweepResult(out: s.out)
    // One writer per output file: a second sweep on the same file would dream the same units and append duplicates.
    let lockPath = s.out + ".lock"
    try makeFolder((s.out as NSString).deletingLastPathComponent)   // the output's folder, as writing the file would make it
    let lock = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
    guard lock >= 0 else { throw DreamlabError.badFile("\(lockPath): cannot create the sweep's lock file (\(String(cString: strerror(errno)))); check the folder") }
    guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
        close(lock)   // the lock file is the other sweep's: left alone
        throw DreamlabError.invalidArgument("another sweep is writing \(s.out) (it holds \(lockPath)); wait for it to finish, or give this one its own output file (a shard per file: --shard i/n)")
    }
    // The lock file stays: unlinking it would let a waiting sweep lock an orphan while a new one locks a fresh file.
    defer { close(lock) }
    try JSONLines.create(s.out)   // a shard with nothing to do still leaves its (empty) file, for --merge and --status
    let existing = try JSONLines.readRepairing(s.out)
    try checkResumesTheSameSweep(existing, s, precision: model.precision, objectiveFor)
    let done = Set(existing.compactMap { ($0["unit"] as? NSNumber)?.intValue })
    let mine = sweepBatches(units: s.units, batch: s.batch, method: s.dream.method, shard: s.shard)
    let todo = mine.map { $0.filter { !done.contains($0) } }.filter { !$0.isEmpty }
    let todoCount = todo.reduce(0) { $0 + $1.count }
    result.skipped = mine.reduce(0) { $0 + $1.count } - todoCount
    let tok = model.tokenizer
    let start = Date()
    let R = s.dream.restarts
    let spec = unitSpec(s.units)
    let shard = s.shard.map { "\($0.index)/\($0.count)" }
    for chunk in todo {
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
            let run = r.runs[rowsOfUnit(k)].max { ($0.best?.score ?? -.infinity) < ($1.best?.score ?? -.infinity) }!
            let top = run.topK.map { $0.last?.tokens ?? [] }
            return SweepRecord(unit: unit, objective: objectives[k].description, method: o.method.rawValue, sentence: o.sentence,
                               first: r.first, last: r.last, steps: r.stepsDone, seed: o.seed, restarts: R, batch: chunk.count,
                               finalTokens: run.finalIds[r.first...r.last].map { tok.idToToken[$0] },
                               finalActivation: finiteDouble(run.finalActivation), finalIdsActivation: finiteDouble(run.finalIdsActivation),
                               topTokens: top.allSatisfy(\.isEmpty) ? (run.best.map { b in (r.first...r.last).map { [b.tokens[$0]] } } ?? []) : top,
                               best: run.best?.record, secondsPerBatch: r.seconds, units: spec, batchSize: s.batch, shard: shard, command: s.command,
                               precision: model.precision.rawValue)
        }
        try JSONLines.append(records, to: s.out)
        result.records += records
        s.onProgress?(result.records.count, todoCount)
        if interruptRequested.load(ordering: .relaxed) { result.interrupted = true; break }
    }
    result.seconds = Date().timeIntervalSince(start)
    return result
}

/// Resuming is only right when the file holds this very sweep: a record made with other settings (another layer,
/// method, sentence, budget or seed) means the file belongs to another sweep, and skipping its units would be wrong.
func checkResumesTheSameSweep(_ rows: [[String: Any]], _ s: SweepOptions, precision: Precision, _ objectiveFor: (Int) throws -> ActivationObjective) throws {
    guard let r = rows.lazy.compactMap(SweepRecord.init(row:)).first else { return }
    let o = s.dream
    let T = (r.first, r.last)
    var differences: [String] = []
    func check(_ name: String, _ file: String, _ now: String) { if file != now { differences.append("\(name): \(file) in the file, \(now) now") } }
    check("objective", r.objective, try objectiveFor(r.unit).description)
    check("method", r.method, o.method.rawValue)
    check("sentence", r.sentence, o.sentence)
    check("first", "\(T.0)", "\(o.first)")
    if let last = o.last { check("last", "\(T.1)", "\(last)") }
    check("steps", "\(r.steps)", "\(o.steps)")
    check("seed", "\(r.seed)", "\(o.seed)")
    check("restarts", "\(r.restarts)", "\(o.restarts)")
    check("units", r.units, unitSpec(s.units))
    check("batch", "\(r.batchSize)", "\(s.batch)")
    check("shard", r.shard ?? "none", s.shard.map { "\($0.index)/\($0.count)" } ?? "none")
    check("precision", r.precision ?? "fp32", precision.rawValue)
    guard differences.isEmpty else {
        throw DreamlabError.invalidArgument("\(s.out) holds another sweep (\(differences.joined(separator: "; "))); give a new output file, or rerun with the file's settings to resume it")
    }
}

/// A sweep's batches: consecutive `batch` units of the full list (one unit each for the discrete method, whose
/// population fills the pass), and of those, a shard's: every n-th batch from the i-th.
public func sweepBatches(units: [Int], batch: Int, method: DreamMethod, shard: (index: Int, count: Int)? = nil) -> [[Int]] {
    let size = method == .discrete ? 1 : max(1, batch)
    let all = stride(from: 0, to: units.count, by: size).map { Array(units[$0..<min($0 + size, units.count)]) }
    guard let (i, n) = shard else { return all }
    return all.enumerated().filter { $0.offset % n == i }.map(\.element)
}

/// Units as a short spec: "0-383", "1,5,9-12".
public func unitSpec(_ units: [Int]) -> String {
    var parts: [String] = []
    var k = 0
    while k < units.count {
        var j = k
        while j + 1 < units.count && units[j + 1] == units[j] + 1 { j += 1 }
        parts.append(j > k ? "\(units[k])-\(units[j])" : "\(units[k])")
        k = j + 1
    }
    return parts.joined(separator: ",")
}

/// Units from a spec: "0-63", "1,5,9" or both ("0-3,8").
public func parseUnitSpec(_ spec: String) throws -> [Int] {
    var units: [Int] = []
    for part in spec.split(separator: ",") {
        let ends = part.split(separator: "-", omittingEmptySubsequences: false)
        if ends.count == 1, let u = Int(ends[0]), u >= 0 { units.append(u); continue }
        guard ends.count == 2, let a = Int(ends[0]), let b = Int(ends[1]), a >= 0, a <= b, b - a < 10_000_000 else {
            throw DreamlabError.invalidArgument("units \"\(spec)\": give a range 0-63 or a list 1,5,9 of units >= 0 (at most 10000000)")
        }
        units += Array(a...b)
    }
    guard !units.isEmpty else { throw DreamlabError.invalidArgument("units \"\(spec)\" names no units; give a range 0-63 or a list 1,5,9") }
    return units
}

public func parseShard(_ s: String) throws -> (index: Int, count: Int) {
    let parts = s.split(separator: "/").compactMap { Int($0) }
    guard parts.count == 2, parts[1] >= 1, parts[0] >= 0, parts[0] < parts[1] else {
        throw DreamlabError.invalidArgument("shard \"\(s)\" must be i/n with 0 <= i < n, e.g. 0/4 (Slurm: $SLURM_ARRAY_TASK_ID/<the array's size>)")
    }
    return (parts[0], parts[1])
}

/// How far the files of a (sharded) sweep have got: per file and overall, the units done, missing and damaged.
public struct SweepStatus: Sendable {
    public struct File: Sendable {
        public let path: String
        public let shard: String?
        public let expected: [Int]     // the units this file's shard should hold (empty when unknown)
        public let done: [Int]
        public let missing: [Int]
        public let damaged: Int        // lines that are not JSON objects (a torn write, an edit)
        public let command: String?    // the command that finishes the file (its sweep's own; a rerun resumes)
    }
    public let files: [File]
    /// The whole sweep's units, from the records' own account of their sweep; nil when no record says (older
    /// files, or only empty ones).
    public let units: [Int]?
    public let missing: [Int]          // units no file holds
    public let absentShards: [String]  // shards i/n that have batches but no file with records among those given
    public var done: Int { files.reduce(into: Set<Int>()) { $0.formUnion($1.done) }.count }
    public var complete: Bool { units != nil && missing.isEmpty && absentShards.isEmpty && files.allSatisfy { $0.damaged == 0 } }
}

/// Reads sweep files without changing them. Each line records its sweep's units, batch size and shard, so the
/// expected units of every shard follow from the files alone.
public func sweepStatus(files: [String]) throws -> SweepStatus {
    var out: [SweepStatus.File] = []
    var all: [Int]? = nil, seen = Set<Int>(), plan: (units: [Int], batch: Int, method: DreamMethod, count: Int)? = nil
    var shardsSeen = Set<Int>()
    for path in files {
        guard FileManager.default.fileExists(atPath: path) else { throw DreamlabError.badFile("\(path): no such file") }
        let (rows, damaged) = try JSONLines.read(path)
        let done = Set(rows.compactMap { ($0["unit"] as? NSNumber)?.intValue })
        // The sweep's plan from the first record that states it (records from before --status lack it).
        let meta = rows.lazy.compactMap(SweepRecord.init(row:)).first
        var expected: [Int] = []
        if let meta, let units = try? parseUnitSpec(meta.units) {
            let method = DreamMethod(rawValue: meta.method) ?? .relaxed
            let shard = try meta.shard.map(parseShard)
            if let shard {
                shardsSeen.insert(shard.index)
                plan = (units, meta.batchSize, method, shard.count)
            }
            expected = sweepBatches(units: units, batch: meta.batchSize, method: method, shard: shard).flatMap { $0 }
            if all == nil { all = units }
        }
        seen.formUnion(done)
        out.append(.init(path: path, shard: meta?.shard, expected: expected, done: done.sorted(),
                         missing: expected.filter { !done.contains($0) }, damaged: damaged, command: meta?.command))
    }
    var absent: [String] = []
    if let plan {
        absent = (0..<plan.count).filter { i in
            !shardsSeen.contains(i) && !sweepBatches(units: plan.units, batch: plan.batch, method: plan.method, shard: (i, plan.count)).isEmpty
        }.map { "\($0)/\(plan.count)" }
    }
    return SweepStatus(files: out, units: all, missing: (all ?? []).filter { !seen.contains($0) }, absentShards: absent)
}
