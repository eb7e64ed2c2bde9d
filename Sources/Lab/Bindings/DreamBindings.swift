import CLua
import Engine
import Foundation
import Objectives

let dreamResultClass = "dreamlab.DreamResult"
let scheduleClass = "dreamlab.Schedule"

/// A finished (or stopped) dream as Lua sees it.
final class DreamHandle: @unchecked Sendable {
    let model: BertModel
    let result: DreamResult
    let objective: ActivationObjective
    init(model: BertModel, result: DreamResult, objective: ActivationObjective) { self.model = model; self.result = result; self.objective = objective }
}

// MARK: - schedules: tables with a kind, so they print and travel into result files

func makeSchedule(_ L: OpaquePointer, kind: String, fields: [(String, Double)]) {
    lua_createtable(L, 0, 5)
    push(L, kind); lua_setfield(L, -2, "kind")
    for (k, v) in fields { lua_pushnumber(L, v); lua_setfield(L, -2, k) }
    _ = dl_getmetatable(L, scheduleClass); lua_setmetatable(L, -2)
}

let schedConstant: LuaFn = { L in luaBinding(L) { L in
    let t = lua_type(L, 1) == LUA_TTABLE ? try TableArgs(L, 1, function: "lab.schedules.constant", known: ["value", "temperature"]).number("value") ?? 1 : try argNumber(L, 1, "temperature")
    makeSchedule(L, kind: "constant", fields: [("value", t)]); return 1
} }
let schedAnneal: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.schedules.anneal", known: ["start", "stop", "rate", "warmup"])
    makeSchedule(L, kind: "anneal", fields: [("start", try a.number("start") ?? 2.0), ("stop", try a.number("stop") ?? 0.1),
                                              ("rate", try a.number("rate") ?? 0.9995), ("warmup", Double(try a.int("warmup") ?? 200))])
    return 1
} }
func rampSchedule(_ L: OpaquePointer, _ kind: String) throws {
    let a = try TableArgs(L, 1, function: "lab.schedules.\(kind)", known: ["start", "stop", "steps"])
    guard let steps = try a.int("steps") else { throw LuaError("lab.schedules.\(kind): missing steps= (the step at which it reaches stop)") }
    makeSchedule(L, kind: kind, fields: [("start", try a.number("start") ?? 2.0), ("stop", try a.number("stop") ?? 0.1), ("steps", Double(steps))])
}
let schedLinear: LuaFn = { L in luaBinding(L) { L in try rampSchedule(L, "linear"); return 1 } }
let schedCosine: LuaFn = { L in luaBinding(L) { L in try rampSchedule(L, "cosine"); return 1 } }
/// s(step) -> the temperature at that 0-based step.
let schedCall: LuaFn = { L in luaBinding(L) { L in
    var refs: [LuaRef] = []
    defer { refs.forEach { $0.release() } }
    let step = try argInt(L, 2, "step")
    lua_pushnumber(L, lua_Number(try readSchedule(L, 1, refs: &refs).temperature(at: step)))
    return 1
} }
let schedToString: LuaFn = { L in luaBinding(L) { L in
    var refs: [LuaRef] = []
    defer { refs.forEach { $0.release() } }
    push(L, try readSchedule(L, 1, refs: &refs).description); return 1
} }

/// A schedule from a Lua value: a number, a lab.schedules table, or function(step) -> T (0-based step).
/// A function is held in the registry through `refs`; the caller releases them when the dream ends.
func readSchedule(_ L: OpaquePointer, _ i: Int32, refs: inout [LuaRef]) throws -> TemperatureSchedule {
    let idx = lua_absindex(L, i)
    switch lua_type(L, idx) {
    case LUA_TNUMBER: return .constant(Float(dl_tonumber(L, idx, nil)))
    case LUA_TFUNCTION:
        lua_pushvalue(L, idx)
        let fn = LuaRef(popping: L)
        refs.append(fn)
        return .custom(name: "lua function") { step in
            fn.push()
            lua_pushinteger(L, lua_Integer(step))
            let v = try protectedCall(L, nargs: 1, what: "temperature function")
            guard let t = v else { throw LuaError("temperature function returned nothing at step \(step); return a positive number") }
            return Float(t)
        }
    case LUA_TTABLE:
        func f(_ k: String) -> Float? {
            defer { dl_pop(L, 1) }
            var ok: Int32 = 0
            lua_pushstring(L, k); lua_rawget(L, idx)
            let v = dl_tonumber(L, -1, &ok)
            return ok != 0 ? Float(v) : nil
        }
        lua_pushstring(L, "kind"); lua_rawget(L, idx)
        let kind = dl_tostring(L, -1).map { String(cString: $0) } ?? ""
        dl_pop(L, 1)
        switch kind {
        case "constant": return .constant(f("value") ?? 1)
        case "anneal": return .anneal(start: f("start") ?? 2, stop: f("stop") ?? 0.1, rate: f("rate") ?? 0.9995, warmup: Int(f("warmup") ?? 200))
        case "linear": return .linear(start: f("start") ?? 2, stop: f("stop") ?? 0.1, steps: Int(f("steps") ?? 1000))
        case "cosine": return .cosine(start: f("start") ?? 2, stop: f("stop") ?? 0.1, steps: Int(f("steps") ?? 1000))
        default: throw LuaError("temperature table is not a schedule; use lab.schedules.anneal{...}, constant(T), linear{...} or cosine{...}")
        }
    default:
        throw LuaError("temperature must be a number, a lab.schedules.* schedule or function(step) return T end; got \(luaTypeName(L, idx))")
    }
}

/// Calls the function below its nargs arguments with a traceback handler; returns its first result as a number
/// (nil if none or not a number). A Lua error becomes a Swift throw, so it never longjmps through Swift.
func protectedCall(_ L: OpaquePointer, nargs: Int32, what: String) throws -> Double? {
    let fnIndex = lua_gettop(L) - nargs
    dl_push_traceback_handler(L)
    lua_rotate(L, fnIndex, 1)
    let rc = dl_pcall(L, nargs, 1, fnIndex)
    defer { lua_settop(L, fnIndex - 1) }
    if rc != LUA_OK {
        let msg = dl_tostring(L, -1).map { String(cString: $0) } ?? "error"
        throw LuaError("\(what) failed: \(msg)")
    }
    if lua_type(L, -1) == LUA_TBOOLEAN { return lua_toboolean(L, -1) != 0 ? 1 : 0 }
    var ok: Int32 = 0
    let v = dl_tonumber(L, -1, &ok)
    return ok != 0 ? v : (lua_type(L, -1) == LUA_TNIL ? nil : .nan)
}

// MARK: - lab.dream


func relaxationMode(_ a: TableArgs) throws -> RelaxationMode {
    if let r = try a.string("relaxation") {
        guard let m = RelaxationMode(rawValue: r) else { throw LuaError("relaxation must be \"softmax\", \"gumbel\", \"gumbel_logits\" or \"hard\", got \"\(r)\"") }
        return m
    }
    if try a.bool("hard") == true { return .hard }
    return try a.bool("gumbel") == true ? .gumbel : .softmax
}

/// The model that scores fluency: fluency_model= (a model or a name/path for lab.load), else nil (the dreamed model).
func fluencyModelArg(_ a: TableArgs) throws -> BertModel? {
    let L = a.L
    defer { dl_pop(L, 1) }
    switch a.push("fluency_model") {
    case LUA_TNIL: return nil
    case LUA_TSTRING: return try loadModel(String(cString: dl_tostring(L, -1)!))
    default: return try checkModel(L, -1, what: "\(a.function): fluency_model=")
    }
}

/// The objective= argument, checked.
func objectiveArg(_ a: TableArgs) throws -> ActivationObjective {
    defer { dl_pop(a.L, 1) }
    guard a.push("objective") != LUA_TNIL else {
        throw LuaError("\(a.function): missing objective= (e.g. lab.objectives.neuron{layer=5, word=2, unit=300})")
    }
    return try checkObjective(a.L, -1, "\(a.function): objective")
}

/// Reads lab.dream's arguments (also lab.sweep's and lab.fluency_sweep's) into the core's DreamOptions: the same
/// value the command line builds. Function arguments (temperature, on_step) are held in `refs` until the caller
/// releases them.
func readDreamOptions(_ a: TableArgs, refs: inout [LuaRef], progressLabel: String = "dream") throws -> (DreamOptions, Progress) {
    let L = a.L
    var o = DreamOptions(first: try a.int("first") ?? 1, last: try a.int("last"))
    if a.push("spans") != LUA_TNIL {
        defer { dl_pop(L, 1) }
        guard !a.has("first") && !a.has("last") else { throw LuaError("\(a.function): give spans= or first=/last=, not both") }
        guard lua_type(L, -1) == LUA_TTABLE else { throw LuaError("\(a.function): spans must be a list of {from, to} pairs (0-based, inclusive), e.g. spans={{1, 1}, {3, 5}}") }
        let n = Int(lua_rawlen(L, -1))
        var spans: [ClosedRange<Int>] = []
        for k in 0..<n {
            lua_rawgeti(L, -1, lua_Integer(k + 1))
            defer { dl_pop(L, 1) }
            let pair = try argIntList(L, -1, "\(a.function): spans[\(k + 1)]")
            guard pair.count == 2, pair[0] <= pair[1] else { throw LuaError("\(a.function): spans[\(k + 1)] must be {from, to} with from <= to, got \(pair)") }
            spans.append(pair[0]...pair[1])
        }
        o.spans = spans.sorted { $0.lowerBound < $1.lowerBound }
    } else { dl_pop(L, 1) }
    if let st = try a.string("start") {
        guard let v = DreamStart(rawValue: st) else { throw LuaError("\(a.function): start must be \"sentence\", \"mask\" or \"random\", got \"\(st)\"") }
        o.start = v
    }
    o.sentence = try a.string("sentence") ?? o.sentence
    o.sentence2 = try a.string("sentence2")
    if let m = try a.string("method") {
        guard let method = DreamMethod(rawValue: m) else {
            throw LuaError("\(a.function): method must be \"relaxed\" (PAIR's), \"hybrid\" or \"discrete\"; got \"\(m)\"")
        }
        o.method = method
    }
    // An argument the chosen method does not use is an error, never silently dropped.
    if o.method != .discrete, let k = ["population", "candidates", "k", "k_max", "honest", "explore", "neighbors", "surrogate", "screen"].first(where: a.has) {
        throw LuaError("\(a.function): \(k)= applies to method=\"discrete\" only")
    }
    if o.method == .discrete, let k = ["lr", "temperature", "gumbel", "hard", "relaxation", "init_noise"].first(where: a.has) {
        throw LuaError("\(a.function): \(k)= does nothing with method=\"discrete\", which swaps real tokens (no softmax, no Adam); drop it")
    }
    if o.method == .hybrid, let k = ["gumbel", "hard", "relaxation"].first(where: a.has) {
        throw LuaError("\(a.function): method=\"hybrid\" always adds Gumbel noise to the logits; drop \(k)=")
    }
    o.steps = try a.int("steps", default: o.steps)
    o.lr = Float(try a.number("lr") ?? Double(o.lr))
    if a.push("temperature") != LUA_TNIL { o.schedule = try readSchedule(L, -1, refs: &refs) }
    dl_pop(L, 1)
    o.mode = try relaxationMode(a)
    let seed = try a.int("seed", default: 1)
    guard seed >= 0 else { throw LuaError("\(a.function): seed must be >= 0, got \(seed)") }
    o.seed = UInt64(seed)
    o.topk = try a.int("topk", default: o.topk)
    o.every = try a.int("every", default: o.every)
    o.topkEvery = try a.int("topk_every", default: o.topkEvery)
    o.restarts = try a.int("restarts", default: o.restarts)
    o.initNoise = Float(try a.number("init_noise") ?? Double(o.initNoise))
    o.discrete.population = try a.int("population")
    o.discrete.candidates = try a.int("candidates", default: o.discrete.candidates)
    o.discrete.kStart = try a.int("k", default: o.discrete.kStart)
    o.discrete.kMax = try a.int("k_max") ?? o.discrete.kMax
    o.discrete.honest = try a.bool("honest") ?? false
    o.discrete.explore = Float(try a.number("explore") ?? Double(o.discrete.explore))
    o.discrete.neighbors = Float(try a.number("neighbors") ?? Double(o.discrete.neighbors))
    o.discrete.surrogate = Float(try a.number("surrogate") ?? Double(o.discrete.surrogate))
    o.discrete.screen = try a.int("screen", default: o.discrete.screen)
    if let lambda = try a.number("fluency") {
        guard lambda >= 0 && lambda.isFinite else { throw LuaError("\(a.function): fluency must be a number >= 0 (the weight λ of the span's pseudo-log-likelihood)") }
        o.fluency = FluencyTerm(model: try fluencyModelArg(a) ?? objectiveModel(a), lambda: Float(lambda))
    } else if a.has("fluency_model") && a.function != "lab.fluency_sweep" {
        throw LuaError("\(a.function): fluency_model= has no effect without fluency=λ (e.g. fluency=1)")
    }
    let quiet = try a.bool("quiet") ?? false
    var callback: LuaRef? = nil
    if a.push("on_step") != LUA_TNIL {
        guard lua_type(L, -1) == LUA_TFUNCTION else { dl_pop(L, 1); throw LuaError("\(a.function): on_step must be a function(s) ... end") }
        callback = LuaRef(popping: L)
        refs.append(callback!)
    } else { dl_pop(L, 1) }
    let progress = Progress(total: o.steps, label: progressLabel, quiet: quiet)
    let hasTemperature = o.method != .discrete   // the discrete method has none: no T=0.000
    o.onStep = { p in
        progress.update(step: p.step, temperature: hasTemperature ? p.temperature : nil, activation: p.activation, best: p.bestActivation, tokens: p.tokens)
        guard let callback else { return true }
        callback.push()
        lua_createtable(L, 0, 7)
        lua_pushinteger(L, lua_Integer(p.step)); lua_setfield(L, -2, "step")
        lua_pushnumber(L, lua_Number(p.temperature)); lua_setfield(L, -2, "temperature")
        lua_pushnumber(L, lua_Number(p.activation)); lua_setfield(L, -2, "activation")
        lua_pushnumber(L, lua_Number(p.idsActivation)); lua_setfield(L, -2, "ids_activation")
        lua_pushnumber(L, lua_Number(p.bestActivation)); lua_setfield(L, -2, "best")
        lua_pushnumber(L, p.elapsed); lua_setfield(L, -2, "elapsed")
        pushStrings(L, p.tokens); lua_setfield(L, -2, "tokens")
        let r = try protectedCall(L, nargs: 1, what: "on_step")
        return r != 0   // false stops; nil or anything else continues
    }
    return (o, progress)
}

/// Runs a dream as native work (Ctrl-C stops it at the next step) and reports an interruption.
func runDreamNative(model: BertModel, objective: ActivationObjective, options: DreamOptions, quiet: Bool = false) throws -> DreamHandle {
    defer { Progress.clearLine() }   // however the dream ends, its progress line goes
    let result = try NativeWork.run { try runDream(model: model, objective: objective, options: options) }
    Progress.clearLine()
    if result.interrupted { FileHandle.standardError.write(Data("dream interrupted at step \(result.stepsDone); the result so far is returned\n".utf8)) }
    else if let note = result.convergenceNote, !progressQuiet, !quiet { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
    return DreamHandle(model: model, result: result, objective: objective)
}

let labDream: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.dream", known: dreamArgNames)
    var refs: [LuaRef] = []
    defer { refs.forEach { $0.release() } }
    let model = try objectiveModel(a)
    let objective = try objectiveArg(a)
    let (o, _) = try readDreamOptions(a, refs: &refs)
    pushObject(L, try runDreamNative(model: model, objective: objective, options: o, quiet: try a.bool("quiet") ?? false), metatable: dreamResultClass)
    return 1
} }

func pushDiscrete(_ L: OpaquePointer, _ d: DiscreteInput, model: BertModel? = nil) {
    lua_createtable(L, 0, 6)
    if let model {
        // Honest tokens: does the dreamed input survive decode and re-encode?
        lua_pushboolean(L, survivesReencode(model, d.ids, typeIds: []) ? 1 : 0); lua_setfield(L, -2, "honest")
    }
    pushStrings(L, d.tokens); lua_setfield(L, -2, "tokens")
    pushInts(L, d.ids); lua_setfield(L, -2, "ids")
    push(L, d.text); lua_setfield(L, -2, "text")
    lua_pushnumber(L, lua_Number(d.activation)); lua_setfield(L, -2, "activation")
    lua_pushinteger(L, lua_Integer(d.step)); lua_setfield(L, -2, "step")
    if let pll = d.pll {
        lua_pushnumber(L, lua_Number(pll)); lua_setfield(L, -2, "pll")
        lua_pushnumber(L, lua_Number(d.score)); lua_setfield(L, -2, "score")
    }
}

func pushRecords(_ L: OpaquePointer, _ recs: [DreamRecord]) {
    pushList(L, recs) { r in
        lua_createtable(L, 0, 6)
        lua_pushinteger(L, lua_Integer(r.number)); lua_setfield(L, -2, "number")
        pushStrings(L, r.tokens); lua_setfield(L, -2, "tokens")
        lua_pushnumber(L, lua_Number(r.temperature)); lua_setfield(L, -2, "temperature")
        lua_pushnumber(L, lua_Number(r.activation)); lua_setfield(L, -2, "activation")
        lua_pushnumber(L, lua_Number(r.idsActivation)); lua_setfield(L, -2, "ids_activation")
        if let pll = r.idsPLL { lua_pushnumber(L, lua_Number(pll)); lua_setfield(L, -2, "ids_pll") }
        pushNumbers(L, r.maxValues); lua_setfield(L, -2, "max_values")
    }
}

func checkDream(_ L: OpaquePointer, _ i: Int32 = 1) throws -> DreamHandle {
    guard let d = toObject(L, i, metatable: dreamResultClass, as: DreamHandle.self) else {
        throw LuaError("expected a dream result (from lab.dream) as argument \(i), got \(luaTypeName(L, i))")
    }
    return d
}

let dreamFieldNames = ["tokens", "ids", "text", "activation", "ids_activation", "history", "curve", "best", "method", "fluency", "steps",
                       "seconds", "steps_per_second", "scored", "screened", "interrupted", "stopped", "objective", "runs", "first", "last", "positions", "sentence"]

let dreamIndex: LuaFn = { L in luaBinding(L) { L in
    let h = try checkDream(L)
    let r = h.result, run = r.runs[r.bestRunIndex], tok = h.model.tokenizer
    let key = dl_tostring(L, 2).map { String(cString: $0) } ?? ""
    switch key {
    case "tokens": pushStrings(L, run.finalIds.map { tok.idToToken[$0] })
    case "ids": pushInts(L, run.finalIds)
    case "text": push(L, tok.decode(run.finalIds))
    case "activation": lua_pushnumber(L, lua_Number(run.finalActivation))
    case "ids_activation": lua_pushnumber(L, lua_Number(run.finalIdsActivation))
    case "history": pushRecords(L, run.iterations)
    case "curve":
        pushList(L, run.curve) { c in
            lua_createtable(L, 0, 4)
            lua_pushinteger(L, lua_Integer(c.step)); lua_setfield(L, -2, "step")
            lua_pushnumber(L, lua_Number(c.temperature)); lua_setfield(L, -2, "temperature")
            lua_pushnumber(L, lua_Number(c.activation)); lua_setfield(L, -2, "activation")
            lua_pushnumber(L, lua_Number(c.idsActivation)); lua_setfield(L, -2, "ids_activation")
        }
    case "first": lua_pushinteger(L, lua_Integer(r.first))
    case "positions": pushInts(L, r.positions)
    case "last": lua_pushinteger(L, lua_Integer(r.last))
    case "sentence": push(L, r.sentence)
    case "best": if let b = r.best { pushDiscrete(L, b, model: h.model) } else { lua_pushnil(L) }
    case "method": push(L, r.options.method.rawValue)
    case "fluency": if let f = r.options.fluency { lua_pushnumber(L, lua_Number(f.lambda)) } else { lua_pushnil(L) }
    case "steps": lua_pushinteger(L, lua_Integer(r.stepsDone))
    case "seconds": lua_pushnumber(L, r.seconds)
    case "steps_per_second": lua_pushnumber(L, r.stepsPerSecond)
    case "scored": lua_pushinteger(L, lua_Integer(r.scored))
    case "screened": lua_pushinteger(L, lua_Integer(r.screened))
    case "interrupted": lua_pushboolean(L, r.interrupted ? 1 : 0)
    case "stopped": lua_pushboolean(L, r.stopped ? 1 : 0)
    case "objective": push(L, r.objective)
    case "runs":
        pushList(L, r.runs) { run in
            lua_createtable(L, 0, 5)
            lua_pushinteger(L, lua_Integer(run.seed)); lua_setfield(L, -2, "seed")
            pushStrings(L, run.finalIds.map { tok.idToToken[$0] }); lua_setfield(L, -2, "tokens")
            lua_pushnumber(L, lua_Number(run.finalActivation)); lua_setfield(L, -2, "activation")
            lua_pushnumber(L, lua_Number(run.finalIdsActivation)); lua_setfield(L, -2, "ids_activation")
            if let b = run.best { pushDiscrete(L, b, model: h.model); lua_setfield(L, -2, "best") }
            pushRecords(L, run.iterations); lua_setfield(L, -2, "history")
        }
    default:
        try pushMethodOrFail(L, dreamResultClass, key, fields: dreamFieldNames)
    }
    return 1
} }

let dreamSave: LuaFn = { L in luaBinding(L) { L in
    let h = try checkDream(L)
    let dir = try argString(L, 2, "output folder")
    try h.result.save(to: dir)
    push(L, dir)
    return 1
} }

/// r:trace(): the trace of the soft input the dream ended on.
let dreamTrace: LuaFn = { L in luaBinding(L) { L in
    let h = try checkDream(L)
    let r = h.result
    pushObject(L, Trace(model: h.model, acts: try r.softTrace(model: h.model), ids: r.runs[r.bestRunIndex].finalIds), metatable: traceClass)
    return 1
} }

let dreamToString: LuaFn = { L in luaBinding(L) { L in
    let h = try checkDream(L)
    let r = h.result, run = r.runs[r.bestRunIndex], tok = h.model.tokenizer
    let span = r.positions.map { tok.idToToken[run.finalIds[$0]] }.joined(separator: " ")
    var s = String(format: "Dream{%@: %d steps, activation %.4f, ids_activation %.4f, \"%@\"", r.objective, r.stepsDone,
                   Double(run.finalActivation), Double(run.finalIdsActivation), span)
    if let b = r.best { s += String(format: "; best %.4f \"%@\"", Double(b.activation), r.positions.map { tok.idToToken[b.ids[$0]] }.joined(separator: " ")) }
    if r.options.restarts > 1 { s += ", \(r.options.restarts) restarts" }
    if r.interrupted { s += ", interrupted" }
    push(L, s + "}")
    return 1
} }

// MARK: - lab.gradient

let labGradient: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.gradient", known: gradientArgNames)
    let model = try objectiveModel(a)
    let objective = try objectiveArg(a)
    var o = DreamOptions(first: try a.int("first") ?? 1, last: try a.int("last"))
    o.sentence = try a.string("sentence") ?? o.sentence
    o.sentence2 = try a.string("sentence2")
    let e = model.tokenizer.encode(o.sentence, o.sentence2)
    let temp = Float(try a.number("temperature") ?? 2.0)
    guard temp > 0 && temp.isFinite else { throw LuaError("lab.gradient: temperature must be a positive number") }
    o.schedule = .constant(temp)
    try o.validate(ids: e.ids, model: model)
    try objective.validate(model: model, T: e.ids.count)
    let mode = try relaxationMode(a)
    let input = try RelaxedInput(model: model, ids: e.ids, typeIds: e.typeIds, first: o.first, last: o.lastPosition(T: e.ids.count))
    var rng = SplitMix64(seed: UInt64(max(0, try a.int("seed", default: 1))))
    let z = input.oneHotLogits()
    let noise = mode.usesGumbelNoise ? gumbelNoise(count: z.count, rng: &rng) : nil
    let (values, dz, _, _) = try input.valueAndGradient(z, temperature: temp, mode: mode, noise: noise, objective: objective)
    lua_createtable(L, 0, 2)
    lua_pushnumber(L, lua_Number(values[0])); lua_setfield(L, -2, "value")
    pushObject(L, Tensor(shape: [input.P, input.V], data: dz), metatable: tensorClass); lua_setfield(L, -2, "grad")
    return 1
} }

func installDream(_ L: OpaquePointer) {
    luaL_newmetatable(L, scheduleClass)
    pushFunction(L, schedToString); lua_setfield(L, -2, "__tostring")
    pushFunction(L, schedCall); lua_setfield(L, -2, "__call")
    lua_pushstring(L, scheduleClass); lua_setfield(L, -2, "__name")
    dl_pop(L, 1)
    defineClass(L, dreamResultClass, methods: [], tostring: dreamToString)
    _ = dl_getmetatable(L, dreamResultClass)
    pushFunction(L, dreamIndex); lua_setfield(L, -2, "__index")
    dl_pop(L, 1)
    lua_createtable(L, 0, 2)
    setField(L, "save", dreamSave)
    setField(L, "trace", dreamTrace)
    lua_setfield(L, dl_registryindex(), dreamResultClass + ".methods")
}
