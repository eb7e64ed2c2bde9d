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
    init(model: BertModel, result: DreamResult) { self.model = model; self.result = result }

    var pairFields: [String: Any] {
        var p: [String: Any] = ["layer_id": -1, "word_id": -1, "neuron_id": -1]
        if let o = objectiveOfResult as? PairActivation {
            p["layer_id"] = o.layer; p["word_id"] = o.word ?? -1; p["neuron_id"] = o.unit ?? -1; p["normalize"] = o.normalize
        }
        return p
    }
    var objectiveOfResult: ActivationObjective? = nil
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
let schedToString: LuaFn = { L in luaBinding(L) { L in push(L, try readSchedule(L, 1).description); return 1 } }

/// A schedule from a Lua value: a number, a lab.schedules table, or function(step) -> T (0-based step).
func readSchedule(_ L: OpaquePointer, _ i: Int32) throws -> TemperatureSchedule {
    let idx = lua_absindex(L, i)
    switch lua_type(L, idx) {
    case LUA_TNUMBER: return .constant(Float(dl_tonumber(L, idx, nil)))
    case LUA_TFUNCTION:
        lua_pushvalue(L, idx)
        let ref = luaL_ref(L, dl_registryindex())
        return .custom(name: "lua function") { step in
            _ = lua_rawgeti(L, dl_registryindex(), lua_Integer(ref))
            lua_pushinteger(L, lua_Integer(step))
            let v = try protectedCall(L, nargs: 1, what: "temperature function")
            guard let t = v else { throw LuaError("temperature function returned nothing at step \(step); return a positive number") }
            return Float(t)
        }
    case LUA_TTABLE:
        func f(_ k: String) -> Float? {
            defer { dl_pop(L, 1) }
            var ok: Int32 = 0
            lua_getfield(L, idx, k)
            let v = dl_tonumber(L, -1, &ok)
            return ok != 0 ? Float(v) : nil
        }
        lua_getfield(L, idx, "kind")
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

/// Shared reading of model/sentence/first/last/objective for lab.dream and lab.gradient.
struct DreamSetup {
    let model: BertModel
    let sentence: String
    let sentence2: String?
    let ids: [Int]
    let types: [Int]
    let first: Int, last: Int
    let objective: ActivationObjective

    init(_ a: TableArgs, function: String) throws {
        let L = a.L
        model = try objectiveModel(a)
        sentence = try a.string("sentence") ?? "i hate kickshaws"
        sentence2 = try a.string("sentence2")
        let e = model.tokenizer.encode(sentence, sentence2)
        ids = e.ids; types = e.typeIds
        first = try a.int("first") ?? 1
        last = try a.int("last") ?? (ids.count - 2)
        guard a.push("objective") != LUA_TNIL else {
            dl_pop(L, 1)
            throw LuaError("\(function): missing objective= (e.g. lab.objectives.neuron{layer=5, word=2, unit=300})")
        }
        objective = try checkObjective(L, -1, "\(function): objective")
        dl_pop(L, 1)
        try objective.validate(model: model, T: ids.count)
        guard first >= 1, last <= ids.count - 2, first <= last else {
            throw LuaError("\(function): first=\(first), last=\(last) must satisfy 1 <= first <= last <= \(ids.count - 2) for \(ids.map { model.tokenizer.idToToken[$0] }.joined(separator: " ")) (0-based; [CLS] and the final [SEP] stay fixed)")
        }
    }
}

func relaxationMode(_ a: TableArgs) throws -> RelaxationMode {
    if let r = try a.string("relaxation") {
        guard let m = RelaxationMode(rawValue: r) else { throw LuaError("relaxation must be \"softmax\", \"gumbel\", \"gumbel_logits\" or \"hard\", got \"\(r)\"") }
        return m
    }
    if try a.bool("hard") == true { return .hard }
    return try a.bool("gumbel") == true ? .gumbel : .softmax
}

/// Set while native work runs: Ctrl-C then only asks the work to stop at its next step.
nonisolated(unsafe) var nativeWorkRunning = false

let dreamArgNames = ["model", "sentence", "sentence2", "first", "last", "objective", "steps",
                      "lr", "temperature", "gumbel", "hard", "relaxation", "seed", "topk",
                      "every", "on_step", "restarts", "method", "init_noise", "quiet",
                      "candidates", "k", "k_max", "honest", "population", "explore", "neighbors", "fluency", "fluency_model"]

let labDream: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.dream", known: dreamArgNames)
    let h = try dreamFromArgs(L, a, function: "lab.dream")
    pushObject(L, h, metatable: dreamResultClass)
    return 1
} }

/// The model that scores fluency: fluency_model= (a model or a name/path for lab.load), else the dreamed model.
func fluencyModel(_ a: TableArgs, dreamModel: BertModel) throws -> BertModel {
    let L = a.L
    defer { dl_pop(L, 1) }
    switch a.push("fluency_model") {
    case LUA_TNIL: return dreamModel
    case LUA_TSTRING: return try loadModel(String(cString: dl_tostring(L, -1)!))
    default: return try checkModel(L, -1)
    }
}

/// Reads lab.dream's arguments and runs the dream. `lambda` overrides fluency= (the λ sweep).
func dreamFromArgs(_ L: OpaquePointer, _ a: TableArgs, function: String, lambda: Float? = nil, label: String = "dream") throws -> DreamHandle {
    let s = try DreamSetup(a, function: function)
    let method = try a.string("method") ?? "relaxed"
    guard ["relaxed", "hybrid", "discrete"].contains(method) else {
        throw LuaError("\(function): method must be \"relaxed\" (PAIR's), \"hybrid\" or \"discrete\"; got \"\(method)\"")
    }
    var o = DreamOptions(first: s.first, last: s.last)
    o.method = method
    o.steps = try a.int("steps", default: 3000)
    o.lr = Float(try a.number("lr") ?? 0.1)
    if a.push("temperature") != LUA_TNIL { o.schedule = try readSchedule(L, -1) }
    dl_pop(L, 1)
    o.mode = try relaxationMode(a)
    o.seed = UInt64(max(0, try a.int("seed", default: 1)))
    o.topk = try a.int("topk", default: 10)
    o.every = try a.int("every", default: 250)
    o.restarts = try a.int("restarts", default: 1)
    if method == "hybrid" {
        // Poerner et al.: Gumbel-softmax, the argmax input scored exactly every step and the best kept; the default
        // schedule really reaches its final temperature (at 80% of the steps).
        o.mode = .gumbelLogits   // PAIR's log-form Gumbel cannot leave a one-hot start (zero gradient off the hot token)
        if !a.has("temperature") {
            let n = max(1, Int(Double(o.steps) * 0.8))
            o.schedule = .anneal(start: 2.0, stop: 0.05, rate: powf(0.05 / 2.0, 1 / Float(n)), warmup: 0)
        }
    }
    var disc = DiscreteOptions()
    disc.population = try a.int("population") ?? (a.has("restarts") ? o.restarts : 8)
    disc.candidates = try a.int("candidates", default: 128)
    disc.kStart = try a.int("k", default: 8)
    disc.kMax = try a.int("k_max") ?? Int.max
    disc.honest = try a.bool("honest") ?? false
    disc.explore = Float(try a.number("explore") ?? 0.25)
    disc.neighbors = Float(try a.number("neighbors") ?? 0.25)
    guard disc.explore >= 0, disc.neighbors >= 0, disc.explore + disc.neighbors <= 1 else {
        throw LuaError("\(function): explore= and neighbors= are shares of the swaps: each >= 0, together <= 1")
    }
    o.initNoise = Float(try a.number("init_noise") ?? 0.5)
    if let lambda = try lambda ?? a.number("fluency").map(Float.init) {
        guard lambda >= 0 && lambda.isFinite else { throw LuaError("\(function): fluency must be a number >= 0 (the weight λ of the span's pseudo-log-likelihood)") }
        let fm = try fluencyModel(a, dreamModel: s.model)
        guard fm.hasMLM else {
            throw LuaError("\(function): fluency= needs a model with an MLM head, and \((fm.directory as NSString).lastPathComponent) has none; add fluency_model= a BERT with cls.predictions.* weights and the same vocabulary, e.g. fluency_model=\"bert-base-uncased\" (a path, a Hugging Face cache name, or lab.load(...))")
        }
        o.fluency = FluencyTerm(model: fm, lambda: lambda)
    } else if a.has("fluency_model") {
        throw LuaError("\(function): fluency_model= has no effect without fluency=λ (e.g. fluency=1)")
    }
    let quiet = try a.bool("quiet") ?? false
    var hasCallback = false
    if a.push("on_step") != LUA_TNIL {
        guard lua_type(L, -1) == LUA_TFUNCTION else { throw LuaError("\(function): on_step must be a function(s) ... end") }
        hasCallback = true
    }
    let cbIndex = lua_gettop(L)
    let progress = Progress(total: o.steps, label: label, quiet: quiet)
    o.onStep = { p in
        progress.update(step: p.step, temperature: p.temperature, activation: p.activation, best: p.bestActivation, tokens: p.tokens)
        guard hasCallback else { return true }
        lua_pushvalue(L, cbIndex)
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
    // Inside a λ sweep (outer native work) the sweep owns the Ctrl-C flag, so one Ctrl-C stops the whole sweep.
    let outer = nativeWorkRunning
    if !outer { interruptRequested.store(false, ordering: .relaxed) }
    nativeWorkRunning = true
    defer { nativeWorkRunning = outer; progress.finish() }
    let result = method == "discrete"
        ? try discreteDream(model: s.model, sentence: s.sentence, sentence2: s.sentence2, objective: s.objective, options: o, discrete: disc)
        : try dream(model: s.model, sentence: s.sentence, sentence2: s.sentence2, objective: s.objective, options: o)
    if !outer { interruptRequested.store(false, ordering: .relaxed) }
    dl_pop(L, 1)   // the on_step value (or nil) pushed above
    let h = DreamHandle(model: s.model, result: result)
    h.objectiveOfResult = s.objective
    if result.interrupted { FileHandle.standardError.write(Data("dream interrupted at step \(result.stepsDone); the result so far is returned\n".utf8)) }
    return h
}

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
    case "best": if let b = r.best { pushDiscrete(L, b, model: h.model) } else { lua_pushnil(L) }
    case "method": push(L, r.options.method)
    case "fluency": if let f = r.options.fluency { lua_pushnumber(L, lua_Number(f.lambda)) } else { lua_pushnil(L) }
    case "steps": lua_pushinteger(L, lua_Integer(r.stepsDone))
    case "seconds": lua_pushnumber(L, r.seconds)
    case "steps_per_second": lua_pushnumber(L, r.stepsPerSecond)
    case "scored": lua_pushinteger(L, lua_Integer(r.scored))
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
        _ = dl_getmetatable(L, dreamResultClass + ".methods")
        lua_getfield(L, -1, key)
    }
    return 1
} }

let dreamSave: LuaFn = { L in luaBinding(L) { L in
    let h = try checkDream(L)
    let dir = try argString(L, 2, "output folder")
    let tok = h.model.tokenizer
    try h.result.save(to: dir, tokens: h.result.startIds.map { tok.idToToken[$0] }, pairFields: h.pairFields)
    push(L, dir)
    return 1
} }

let dreamToString: LuaFn = { L in luaBinding(L) { L in
    let h = try checkDream(L)
    let r = h.result, run = r.runs[r.bestRunIndex], tok = h.model.tokenizer
    let span = run.finalIds[r.first...r.last].map { tok.idToToken[$0] }.joined(separator: " ")
    var s = String(format: "Dream{%@: %d steps, activation %.4f, ids_activation %.4f, \"%@\"", r.objective, r.stepsDone,
                   Double(run.finalActivation), Double(run.finalIdsActivation), span)
    if let b = r.best { s += String(format: "; best %.4f \"%@\"", Double(b.activation), b.ids[r.first...r.last].map { tok.idToToken[$0] }.joined(separator: " ")) }
    if r.options.restarts > 1 { s += ", \(r.options.restarts) restarts" }
    if r.interrupted { s += ", interrupted" }
    push(L, s + "}")
    return 1
} }

// MARK: - lab.gradient

let labGradient: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.gradient", known: ["model", "sentence", "sentence2", "first", "last", "objective",
                                                                 "temperature", "gumbel", "hard", "relaxation", "seed"])
    let s = try DreamSetup(a, function: "lab.gradient")
    let temp = Float(try a.number("temperature") ?? 2.0)
    guard temp > 0 else { throw LuaError("lab.gradient: temperature must be positive") }
    let mode = try relaxationMode(a)
    let input = try RelaxedInput(model: s.model, ids: s.ids, typeIds: s.types, first: s.first, last: s.last)
    var rng = SplitMix64(seed: UInt64(max(0, try a.int("seed", default: 1))))
    let z = input.oneHotLogits()
    let noise = mode.usesGumbelNoise ? gumbelNoise(count: z.count, rng: &rng) : nil
    let (values, dz, _, _) = try input.valueAndGradient(z, temperature: temp, mode: mode, noise: noise, objective: s.objective)
    lua_createtable(L, 0, 2)
    lua_pushnumber(L, lua_Number(values[0])); lua_setfield(L, -2, "value")
    pushObject(L, Tensor(shape: [input.P, input.V], data: dz), metatable: tensorClass); lua_setfield(L, -2, "grad")
    return 1
} }

func installDream(_ L: OpaquePointer) {
    luaL_newmetatable(L, scheduleClass)
    pushFunction(L, schedToString); lua_setfield(L, -2, "__tostring")
    dl_pop(L, 1)
    defineClass(L, dreamResultClass, methods: [], tostring: dreamToString)
    _ = dl_getmetatable(L, dreamResultClass)
    pushFunction(L, dreamIndex); lua_setfield(L, -2, "__index")
    dl_pop(L, 1)
    lua_createtable(L, 0, 2)
    setField(L, "save", dreamSave)
    lua_setfield(L, dl_registryindex(), dreamResultClass + ".methods")
}
