import CLua
import Engine
import Foundation
import Objectives

/// lab.sweep{objective=function(unit) return ... end, units={...} | from=, to=, out="sweep.jsonl", batch=8, shard="i/n",
///           <every lab.dream argument: method=, restarts=, fluency=, steps=, temperature=, seed=, ...>}
/// -> {records..., done=, skipped=, interrupted=, seconds=, out=}: one record per unit dreamed by this call.
let labSweep: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.sweep", known: sweepArgNames)
    var refs: [LuaRef] = []
    defer { refs.forEach { $0.release() } }
    let m = try objectiveModel(a)
    guard a.push("objective") == LUA_TFUNCTION else {
        dl_pop(L, 1)
        throw LuaError("lab.sweep: objective= must be a template function(unit) return lab.objectives.neuron{layer=5, word=2, unit=unit} end")
    }
    let template = LuaRef(popping: L)
    refs.append(template)
    var s = SweepOptions()
    if a.has("units") { _ = a.push("units"); defer { dl_pop(L, 1) }; s.units = try argIntList(L, -1, "lab.sweep: units") }
    else {
        guard let from = try a.int("from"), let to = try a.int("to") else { throw LuaError("lab.sweep: give units={...} or from= and to= (inclusive)") }
        guard from <= to, to - from < 10_000_000 else { throw LuaError("lab.sweep: from=\(from), to=\(to) must satisfy from <= to, at most 10000000 units") }
        s.units = Array(from...to)
    }
    s.shard = try a.string("shard").map(parseShard)
    guard let out = try a.string("out") else { throw LuaError("lab.sweep: missing out= (a .jsonl file; a rerun resumes from it)") }
    s.out = out
    s.batch = try a.int("batch", default: s.batch)
    s.dream = try readDreamOptions(a, refs: &refs, progressLabel: "sweep").0
    s.dream.onStep = nil   // one progress line for the sweep, not one per batch
    let progress = Progress(total: 0, label: "sweep", quiet: try a.bool("quiet") ?? false)
    defer { progress.finish() }
    s.onProgress = { done, todo in progress.total = todo; progress.update(step: done) }
    let r = try NativeWork.run {
        try runSweep(model: m, options: s) { unit in
            template.push()
            lua_pushinteger(L, lua_Integer(unit))
            let base = lua_gettop(L) - 2
            dl_push_traceback_handler(L)
            lua_rotate(L, base + 1, 1)
            defer { lua_settop(L, base) }
            guard dl_pcall(L, 1, 1, base + 1) == LUA_OK else {
                throw LuaError("lab.sweep: the objective template failed for unit \(unit): \(dl_tostring(L, -1).map { String(cString: $0) } ?? "")")
            }
            return try checkObjective(L, -1, "lab.sweep: the template's result for unit \(unit)")
        }
    }
    if r.interrupted { FileHandle.standardError.write(Data("sweep interrupted after \(r.records.count) units; rerun the same call to resume\n".utf8)) }
    pushJSON(L, try jsonObject(r.records))
    lua_pushinteger(L, lua_Integer(r.records.count)); lua_setfield(L, -2, "done")
    lua_pushinteger(L, lua_Integer(r.skipped)); lua_setfield(L, -2, "skipped")
    lua_pushboolean(L, r.interrupted ? 1 : 0); lua_setfield(L, -2, "interrupted")
    lua_pushnumber(L, r.seconds); lua_setfield(L, -2, "seconds")
    push(L, out); lua_setfield(L, -2, "out")
    return 1
} }

/// lab.sweep_merge(out, {files...}) -> number of units: joins shard files, one line per unit, sorted.
let labSweepMerge: LuaFn = { L in luaBinding(L) { L in
    let out = try argString(L, 1, "lab.sweep_merge: output file")
    guard lua_type(L, 2) == LUA_TTABLE else { throw LuaError("lab.sweep_merge(out, {\"l5.0.jsonl\", \"l5.1.jsonl\"}): the second argument lists the shard files") }
    let files = try (1...max(1, Int(lua_rawlen(L, 2)))).compactMap { k -> String? in
        guard lua_rawlen(L, 2) > 0 else { return nil }
        lua_rawgeti(L, 2, lua_Integer(k)); defer { dl_pop(L, 1) }
        return try argString(L, -1, "lab.sweep_merge: files[\(k)]")
    }
    lua_pushinteger(L, lua_Integer(try JSONLines.merge(files, into: out).lines))
    return 1
} }

