import CLua
import Engine
import Foundation
import Objectives

struct SweepSummary { var done = 0; var skipped = 0; var interrupted = false; var seconds = 0.0 }

/// Runs one dream per unit, `batch` units per shared pass (each batch element its own objective), appending one JSON
/// line per finished unit to `out`. Units already in `out` are skipped, so a rerun resumes an interrupted sweep.
func runSweep(model: BertModel, sentence: String, first: Int, last: Int, units: [Int], batch: Int, out: String,
              options base: DreamOptions, restarts: Int = 1, quiet: Bool,
              makeObjective: (Int) throws -> ActivationObjective) throws -> SweepSummary {
    var summary = SweepSummary()
    let existing = try JSONLines.readRepairing(out)
    let done = Set(existing.compactMap { ($0["unit"] as? NSNumber)?.intValue })
    let todo = units.filter { !done.contains($0) }
    summary.skipped = units.count - todo.count
    let tok = model.tokenizer
    let start = Date()
    let progress = Progress(total: todo.count, label: "sweep", quiet: quiet)
    defer { progress.finish() }
    interruptRequested.store(false, ordering: .relaxed)
    nativeWorkRunning = true
    defer { nativeWorkRunning = false }
    var i = 0
    while i < todo.count {
        let chunk = Array(todo[i..<min(i + max(1, batch), todo.count)])
        let objectives = try chunk.map(makeObjective)
        let R = max(1, restarts)
        var o = base
        o.restarts = chunk.count * R          // unit k owns rows k*R ..< (k+1)*R
        o.cleanStarts = Set(stride(from: 0, to: chunk.count * R, by: R))   // each unit's first restart starts at PAIR's point
        o.first = first; o.last = last
        let perRow = objectives.flatMap { [ActivationObjective](repeating: $0, count: R) }
        let r = try dream(model: model, sentence: sentence, objective: PerSequenceObjective(perRow), options: o)
        if r.interrupted { summary.interrupted = true; break }
        let rows: [[String: Any]] = chunk.enumerated().map { k, unit in
            let mine = r.runs[(k * R)..<((k + 1) * R)]
            let run = mine.max { ($0.best?.activation ?? -.infinity) < ($1.best?.activation ?? -.infinity) }!
            var row: [String: Any] = ["unit": unit, "objective": objectives[k].description, "sentence": sentence,
                                      "first": first, "last": last, "steps": r.stepsDone,
                                      "final_tokens": run.finalIds[first...last].map { tok.idToToken[$0] },
                                      "final_activation": shortest(run.finalActivation),
                                      "final_ids_activation": shortest(run.finalIdsActivation),
                                      "seconds_per_batch": r.seconds, "batch": chunk.count, "restarts": R]
            if let b = run.best { row["best"] = b.json }
            return row
        }
        try JSONLines.append(rows, to: out)
        summary.done += chunk.count
        i += chunk.count
        progress.update(step: summary.done)
        if interruptRequested.load(ordering: .relaxed) { summary.interrupted = true; break }
    }
    interruptRequested.store(false, ordering: .relaxed)
    summary.seconds = Date().timeIntervalSince(start)
    return summary
}

/// lab.sweep{objective=function(unit) return ... end, units={...} | from=, to=, out="sweep.jsonl", batch=8, shard="i/n",
///           model=, sentence=, first=, last=, steps=, lr=, temperature=, gumbel=, seed=, quiet=}
let labSweep: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.sweep", known: ["objective", "units", "from", "to", "out", "batch", "shard", "model", "sentence",
                                                              "first", "last", "steps", "lr", "temperature", "gumbel", "seed", "every", "quiet",
                                                              "restarts", "init_noise"])
    let m = try objectiveModel(a)
    guard a.push("objective") == LUA_TFUNCTION else {
        dl_pop(L, 1)
        throw LuaError("lab.sweep: objective= must be a template function(unit) return lab.objectives.neuron{layer=5, word=2, unit=unit} end")
    }
    let fnIndex = lua_gettop(L)
    var units: [Int]
    if a.has("units") { _ = a.push("units"); units = try argIntList(L, -1, "units"); dl_pop(L, 1) }
    else {
        guard let from = try a.int("from"), let to = try a.int("to") else { throw LuaError("lab.sweep: give units={...} or from= and to= (inclusive)") }
        units = Array(from...max(from, to))
    }
    if let s = try a.string("shard") { units = shardUnits(units, shard: try parseShard(s)) }
    guard let out = try a.string("out") else { throw LuaError("lab.sweep: missing out= (a .jsonl file; a rerun resumes from it)") }
    let sentence = try a.string("sentence") ?? "i hate kickshaws"
    let T = m.tokenizer.encode(sentence).ids.count
    var o = DreamOptions(first: try a.int("first") ?? 1, last: try a.int("last") ?? (T - 2))
    o.steps = try a.int("steps", default: 3000)
    o.lr = Float(try a.number("lr") ?? 0.1)
    if a.push("temperature") != LUA_TNIL { o.schedule = try readSchedule(L, -1) }
    dl_pop(L, 1)
    o.mode = try a.bool("gumbel") == true ? .gumbel : .softmax
    o.seed = UInt64(max(0, try a.int("seed", default: 1)))
    o.every = try a.int("every", default: 250)
    o.initNoise = Float(try a.number("init_noise") ?? 0.5)
    let s = try runSweep(model: m, sentence: sentence, first: o.first, last: o.last, units: units, batch: try a.int("batch", default: 8),
                         out: out, options: o, restarts: try a.int("restarts", default: 1), quiet: try a.bool("quiet") ?? false) { unit in
        lua_pushvalue(L, fnIndex)
        lua_pushinteger(L, lua_Integer(unit))
        dl_push_traceback_handler(L)
        lua_rotate(L, -3, 1)
        let h = lua_gettop(L) - 2
        defer { lua_settop(L, h - 1) }
        guard dl_pcall(L, 1, 1, h) == LUA_OK else {
            throw LuaError("lab.sweep: the objective template failed for unit \(unit): \(dl_tostring(L, -1).map { String(cString: $0) } ?? "")")
        }
        return try checkObjective(L, -1, "lab.sweep: the template's result for unit \(unit)")
    }
    lua_createtable(L, 0, 4)
    lua_pushinteger(L, lua_Integer(s.done)); lua_setfield(L, -2, "done")
    lua_pushinteger(L, lua_Integer(s.skipped)); lua_setfield(L, -2, "skipped")
    lua_pushboolean(L, s.interrupted ? 1 : 0); lua_setfield(L, -2, "interrupted")
    lua_pushnumber(L, s.seconds); lua_setfield(L, -2, "seconds")
    push(L, out); lua_setfield(L, -2, "out")
    return 1
} }

/// `dreamlab sweep --layer_id L --units 0-63 [--word_id W] [--num_iterations N] --out F [--shard i/n] [--batch 8]`
/// `dreamlab sweep --merge OUT IN...`
func runSweepCommand(_ args: [String]) -> Int32 {
    do {
        if args.first == "--merge" {
            guard args.count >= 3 else { throw DreamlabError.invalidArgument("dreamlab sweep --merge OUT.jsonl SHARD.jsonl...") }
            let n = try JSONLines.merge(Array(args.dropFirst(2)), into: args[1])
            print("merged \(args.count - 2) files into \(args[1]): \(n) units")
            return 0
        }
        let f = try PairFlags(args, command: "sweep", extra: ["units": "0-15", "out": "", "shard": "", "batch": "8", "site": ""])
        guard !f.string("out").isEmpty else { throw DreamlabError.invalidArgument("dreamlab sweep: --out is required (a .jsonl file; rerunning resumes it)") }
        let m = try loadModel(f.string("model").isEmpty ? nil : f.string("model"))
        let spec = f.string("units")
        var units: [Int]
        if let dash = spec.firstIndex(of: "-"), let a = Int(spec[..<dash]), let b = Int(spec[spec.index(after: dash)...]) { units = Array(a...max(a, b)) }
        else { units = spec.split(separator: ",").compactMap { Int($0) } }
        guard !units.isEmpty else { throw DreamlabError.invalidArgument("--units must be a range 0-63 or a list 1,5,9") }
        if !f.string("shard").isEmpty { units = shardUnits(units, shard: try parseShard(f.string("shard"))) }
        let layer = try f.int("layer_id"), word = try f.int("word_id")
        let s2 = f.string("sentence")
        let T = m.tokenizer.encode(s2).ids.count
        var dreamEnd = try f.int("dream_end"); if dreamEnd == 0 { dreamEnd = T - 2 }
        var o = DreamOptions(first: try f.int("dream_start"), last: dreamEnd)
        o.steps = try f.int("num_iterations")
        o.lr = try f.float("learning_rate")
        o.schedule = .anneal(start: try f.float("start_temp"), stop: try f.float("end_temp"), rate: try f.float("anneal"), warmup: try f.int("warmup"))
        o.every = try f.int("metrics_frequency")
        for u in units where u < 0 || u >= m.config.hiddenSize {
            throw DreamlabError.outOfRange("unit \(u) is outside 0...\(m.config.hiddenSize - 1) (hidden size \(m.config.hiddenSize))")
        }
        installSignalHandler()
        let s = try runSweep(model: m, sentence: s2, first: o.first, last: o.last, units: units, batch: try f.int("batch"), out: f.string("out"),
                             options: o, restarts: try f.int("restarts"), quiet: f.bool("quiet")) { unit in
            PairActivation(layer: layer, word: word == -1 ? nil : word, unit: unit, normalize: f.bool("normalize"), numLayers: m.config.numLayers)
        }
        print("sweep: \(s.done) units dreamed, \(s.skipped) already in \(f.string("out")), \(String(format: "%.1f", s.seconds)) s\(s.interrupted ? ", interrupted (rerun to resume)" : "")")
        return s.interrupted ? 130 : 0
    } catch {
        FileHandle.standardError.write(Data("dreamlab sweep: \(error)\n".utf8))
        return 2
    }
}
