import CLua
import Engine
import Foundation

/// lab.fluency_sweep{<lab.dream's arguments>, lambdas={...}, out=dir}: one dream per λ, every run's best input as a
/// point (activation, PLL), and the Pareto frontier of those points, as EPO reports it.
let labFluencySweep: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.fluency_sweep", known: fluencySweepArgNames)
    guard !a.has("fluency") else { throw LuaError("lab.fluency_sweep sets fluency= itself; give the weights as lambdas={0, 0.1, 1}") }
    var refs: [LuaRef] = []
    defer { refs.forEach { $0.release() } }
    let model = try objectiveModel(a)
    let objective = try objectiveArg(a)
    var s = FluencySweepOptions()
    let progress: Progress
    (s.dream, progress) = try readDreamOptions(a, refs: &refs)
    s.onLambda = { progress.restart(label: String(format: "λ=%g", Double($0))) }
    s.fluencyModel = try fluencyModelArg(a)
    s.out = try a.string("out")
    if a.push("lambdas") != LUA_TNIL {
        guard lua_type(L, -1) == LUA_TTABLE, lua_rawlen(L, -1) > 0 else { throw LuaError("lab.fluency_sweep: lambdas must be a non-empty list of numbers >= 0, e.g. {0, 0.1, 1}") }
        s.lambdas = try (1...Int(lua_rawlen(L, -1))).map { k in
            lua_rawgeti(L, -1, lua_Integer(k)); defer { dl_pop(L, 1) }
            var ok: Int32 = 0
            let v = dl_tonumber(L, -1, &ok)
            guard ok != 0, v >= 0, v.isFinite else { throw LuaError("lab.fluency_sweep: lambdas[\(k)] is not a number >= 0") }
            return Float(v)
        }
    }
    dl_pop(L, 1)
    // One Ctrl-C stops the sweep: at the current dream's next step, or between dreams.
    defer { Progress.clearLine() }
    let r = try NativeWork.run { try runFluencySweep(model: model, objective: objective, options: s) }
    if r.interrupted { FileHandle.standardError.write(Data("fluency sweep interrupted; the points so far are returned\n".utf8)) }
    pushJSON(L, try jsonObject(r))
    pushList(L, r.dreams) { pushObject(L, DreamHandle(model: model, result: $0, objective: objective), metatable: dreamResultClass) }
    lua_setfield(L, -2, "dreams")
    return 1
} }

/// m:pll(text|ids [, first, last]): pseudo-log-likelihood under m's MLM head of positions first..last (default: every
/// token between [CLS] and the final [SEP]); returns the mean log-probability per token and the per-position list.
let modelPLL: LuaFn = { L in luaBinding(L) { L in
    let m = try checkModel(L)
    let ids: [Int], types: [Int]
    if lua_type(L, 2) == LUA_TTABLE { (ids, types) = try argIdsOrText(L, m, 2) }
    else { let e = m.tokenizer.encode(try argString(L, 2, "text or ids"), nil); ids = e.ids; types = e.typeIds }
    let first = dl_isnoneornil(L, 3) != 0 ? 1 : try argInt(L, 3, "first")
    let last = dl_isnoneornil(L, 4) != 0 ? ids.count - 2 : try argInt(L, 4, "last")
    let scorer = try FluencyScorer(model: m, dreamModel: m, ids: ids, typeIds: types, first: first, last: last)
    let span = Array(ids[first...last])
    let ev = try scorer.evaluate(.ids([span]), rows: scorer.rows(spans: [span]), R: 1, gradient: false)
    lua_pushnumber(L, lua_Number(ev.pll[0]))
    pushNumbers(L, span.enumerated().map { ev.logProbs[$0.offset * m.config.vocabSize + $0.element] })
    return 2
} }
