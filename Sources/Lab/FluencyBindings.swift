import CLua
import Engine
import Foundation

/// One point of a fluency sweep: a run's best input with its activation and PLL.
struct FrontierPoint {
    let lambda: Float
    let input: DiscreteInput
    let honest: Bool
    var json: [String: Any] {
        ["lambda": shortest(lambda), "activation": shortest(input.activation), "pll": shortest(input.pll ?? 0), "score": shortest(input.score),
         "text": input.text, "tokens": input.tokens, "ids": input.ids, "honest": honest]
    }
}

/// lab.fluency_sweep{<lab.dream's arguments>, lambdas={...}, out=dir}: one dream per λ, every run's best input as a
/// point (activation, PLL), and the Pareto frontier of those points, as EPO reports it.
let labFluencySweep: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.fluency_sweep", known: dreamArgNames + ["lambdas", "out"])
    guard !a.has("fluency") else { throw LuaError("lab.fluency_sweep sets fluency= itself; give the weights as lambdas={0, 0.1, 1}") }
    var lambdas: [Float] = [0, 0.01, 0.03, 0.1, 0.3, 1]
    if a.push("lambdas") != LUA_TNIL {
        guard lua_type(L, -1) == LUA_TTABLE, lua_rawlen(L, -1) > 0 else { throw LuaError("lab.fluency_sweep: lambdas must be a non-empty list of numbers >= 0, e.g. {0, 0.1, 1}") }
        lambdas = try (1...Int(lua_rawlen(L, -1))).map { k in
            lua_rawgeti(L, -1, lua_Integer(k)); defer { dl_pop(L, 1) }
            var ok: Int32 = 0
            let v = dl_tonumber(L, -1, &ok)
            guard ok != 0, v >= 0, v.isFinite else { throw LuaError("lab.fluency_sweep: lambdas[\(k)] is not a number >= 0") }
            return Float(v)
        }
    }
    dl_pop(L, 1)
    let out = try a.string("out")
    var dreams: [DreamHandle] = []
    var points: [FrontierPoint] = []
    var seen = Set<[Int]>()
    var interrupted = false
    func summary() -> [String: Any] {
        let front = paretoFrontier(points.map { (x: $0.input.pll ?? -.infinity, y: $0.input.activation) })
        return ["kind": "fluency_frontier", "objective": dreams.first?.result.objective ?? "",
                "fluency_model": (dreams.first?.result.options.fluency?.model.directory as NSString?)?.lastPathComponent ?? "",
                "method": dreams.first?.result.options.method ?? "", "lambdas": lambdas.map(shortest),
                "points": points.map(\.json), "frontier": front.map { points[$0].json }, "interrupted": interrupted]
    }
    // One Ctrl-C stops the sweep: at the current dream's next step, or between dreams.
    interruptRequested.store(false, ordering: .relaxed)
    nativeWorkRunning = true
    defer { nativeWorkRunning = false; interruptRequested.store(false, ordering: .relaxed) }
    for (n, lambda) in lambdas.enumerated() {
        let h = try dreamFromArgs(L, a, function: "lab.fluency_sweep", lambda: lambda, label: String(format: "λ=%g", Double(lambda)))
        dreams.append(h)
        for run in h.result.runs {
            guard let b = run.best, seen.insert(b.ids).inserted else { continue }
            points.append(FrontierPoint(lambda: lambda, input: b, honest: survivesReencode(h.model, b.ids, typeIds: [])))
        }
        if let out {
            // Each finished λ is on disk before the next starts.
            let tok = h.model.tokenizer
            try h.result.save(to: out + String(format: "/lambda_%02d_%g", n, Double(lambda)), tokens: h.result.startIds.map { tok.idToToken[$0] },
                              pairFields: h.pairFields)
        }
        interrupted = h.result.interrupted || interruptRequested.load(ordering: .relaxed)
        if let out { try writeAtomically(Data(try jsonString(summary(), pretty: true).utf8), to: out + "/frontier.json") }
        if interrupted {
            FileHandle.standardError.write(Data("fluency sweep interrupted at λ=\(lambda); the points so far are returned\n".utf8))
            break
        }
    }
    pushJSON(L, summary())
    pushList(L, dreams) { pushObject(L, $0, metatable: dreamResultClass) }
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
