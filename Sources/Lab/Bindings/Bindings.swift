import CLua
import Engine
import Foundation

let modelClass = "dreamlab.Model"
let traceClass = "dreamlab.Trace"

/// A forward pass's record as Lua sees it: the activations plus the model that made them.
final class Trace: @unchecked Sendable {
    let model: BertModel
    let acts: Activations
    let ids: [Int]
    init(model: BertModel, acts: Activations, ids: [Int]) { self.model = model; self.acts = acts; self.ids = ids }
}

/// Loaded models, by directory, so `lab.load()` twice reads the weights once.
nonisolated(unsafe) var loadedModels: [String: BertModel] = [:]

func loadModel(_ spec: String?, precision: Precision = .fp32) throws -> BertModel {
    // One copy per real directory and precision: "dir", "dir/." and a symlink to it share the loaded model.
    let dir = canonicalPath(try ModelLocator.resolve(spec))
    let key = precision == .fp32 ? dir : dir + "#" + precision.rawValue
    if let m = loadedModels[key] { return m }
    let m = try (loadedModels[dir] ?? BertModel(directory: dir)).converted(to: precision)
    loadedModels[key] = m
    return m
}

/// `what` names a named argument (model=) when the value came from a table; else the position is named.
func checkModel(_ L: OpaquePointer, _ i: Int32 = 1, what: String? = nil) throws -> BertModel {
    guard let m = toObject(L, i, metatable: modelClass, as: BertModel.self) else {
        if let what { throw LuaError("\(what) must be a model (from lab.load()), got \(luaTypeName(L, i))") }
        throw LuaError("expected a model (from lab.load()) as argument \(i), got \(luaTypeName(L, i)); call methods with a colon: m:run(...)")
    }
    return m
}
func checkTrace(_ L: OpaquePointer, _ i: Int32 = 1) throws -> Trace {
    guard let t = toObject(L, i, metatable: traceClass, as: Trace.self) else {
        throw LuaError("expected a trace (from m:run()) as argument \(i), got \(luaTypeName(L, i)); call methods with a colon: tr:site(...)")
    }
    return t
}
func pushConfig(_ L: OpaquePointer, _ m: BertModel) {
    let c = m.config
    lua_createtable(L, 0, 8)
    for (k, v) in [("layers", c.numLayers), ("hidden", c.hiddenSize), ("heads", c.numHeads),
                   ("intermediate", c.intermediateSize), ("vocab", c.vocabSize), ("max_positions", c.maxPositions),
                   ("head_size", c.headDim)] {
        lua_pushinteger(L, lua_Integer(v)); lua_setfield(L, -2, k)
    }
    lua_pushboolean(L, m.hasMLM ? 1 : 0); lua_setfield(L, -2, "has_mlm")
}

/// An input at argument i: text (and an optional second sentence), a list of ids or of tokens, a table with `ids`
/// (a dream's r.best, m:encode's result), a dream result (its best input, else its final one) or a trace.
func argIdsOrText(_ L: OpaquePointer, _ m: BertModel, _ i: Int32) throws -> (ids: [Int], types: [Int]) {
    func checked(_ ids: [Int]) throws -> [Int] {
        guard !ids.isEmpty else { throw LuaError("the input has no tokens; give text, ids or tokens") }
        for (k, id) in ids.enumerated() where id < 0 || id >= m.config.vocabSize {
            throw LuaError("ids[\(k + 1)] = \(id) is outside the vocabulary 0...\(m.config.vocabSize - 1)")
        }
        return ids
    }
    if let h = toObject(L, i, metatable: dreamResultClass, as: DreamHandle.self) {
        let r = h.result, ids = r.best?.ids ?? r.runs[r.bestRunIndex].finalIds
        return (try checked(ids), m.tokenizer.encode(r.sentence, r.sentence2).typeIds)
    }
    if let tr = toObject(L, i, metatable: traceClass, as: Trace.self) { return (try checked(tr.ids), [Int](repeating: 0, count: tr.ids.count)) }
    if lua_type(L, i) == LUA_TTABLE {
        if rawField(L, i, "ids") == LUA_TTABLE {
            defer { dl_pop(L, 1) }
            let ids = try checked(try argIntList(L, -1, "ids"))
            var types = [Int](repeating: 0, count: ids.count)
            if rawField(L, i, "type_ids") == LUA_TTABLE, let t = try? argIntList(L, -1, "type_ids"), t.count == ids.count { types = t }
            dl_pop(L, 1)
            return (ids, types)
        }
        dl_pop(L, 1)
        lua_rawgeti(L, i, 1)
        let firstIsString = lua_type(L, -1) == LUA_TSTRING
        dl_pop(L, 1)
        if firstIsString {
            let n = Int(lua_rawlen(L, i))
            var ids: [Int] = []
            for k in 1...max(n, 1) where n > 0 {
                lua_rawgeti(L, i, lua_Integer(k))
                defer { dl_pop(L, 1) }
                let token = try argString(L, -1, "tokens[\(k)]")
                guard let id = m.tokenizer.id(of: token) else {
                    throw LuaError("tokens[\(k)] = \"\(token)\" is not in the vocabulary (tokens are WordPiece pieces such as \"##ing\"; m:encode(text).tokens shows them)")
                }
                ids.append(id)
            }
            return (try checked(ids), [Int](repeating: 0, count: ids.count))
        }
        let ids = try checked(try argIntList(L, i, "ids"))
        return (ids, [Int](repeating: 0, count: ids.count))
    }
    guard lua_type(L, i) == LUA_TSTRING else {
        throw LuaError("expected text, a list of ids or tokens, a dream result, r.best or a trace as argument \(i - 1), got \(luaTypeName(L, i))")
    }
    let a = try argString(L, i, "text")
    let b = dl_isnoneornil(L, i + 1) != 0 ? nil : try argString(L, i + 1, "second sentence")
    let e = m.tokenizer.encode(a, b)
    return (e.ids, e.typeIds)
}

// MARK: - model methods

let modelIndex: LuaFn = { L in luaBinding(L) { L in
    let key = dl_tostring(L, 2).map { String(cString: $0) } ?? ""
    let m = try checkModel(L)
    switch key {
    case "config": pushConfig(L, m)
    case "path": push(L, m.directory)
    case "precision": push(L, m.precision.rawValue)
    case "sites": pushStrings(L, Site.all(m.config, hasMLM: m.hasMLM))
    default:
        try pushMethodOrFail(L, modelClass, key, fields: ["config", "path", "precision", "sites"])
    }
    return 1
} }

let modelEncode: LuaFn = { L in luaBinding(L) { L in
    let m = try checkModel(L)
    let (ids, types) = try argIdsOrText(L, m, 2)
    lua_createtable(L, 0, 3)
    pushStrings(L, ids.map { m.tokenizer.idToToken[$0] }); lua_setfield(L, -2, "tokens")
    pushInts(L, ids); lua_setfield(L, -2, "ids")
    pushInts(L, types); lua_setfield(L, -2, "type_ids")
    return 1
} }

let modelDecode: LuaFn = { L in luaBinding(L) { L in
    let m = try checkModel(L)
    let ids = try argIntList(L, 2, "ids")
    push(L, m.tokenizer.decode(ids))
    return 1
} }

let modelRun: LuaFn = { L in luaBinding(L) { L in
    let m = try checkModel(L)
    let (ids, types) = try argIdsOrText(L, m, 2)
    let acts = try m.run(ids: ids, typeIds: types)
    pushObject(L, Trace(model: m, acts: acts, ids: ids), metatable: traceClass)
    return 1
} }

/// A token given as a vocabulary string or an id, at argument i.
func argToken(_ L: OpaquePointer, _ m: BertModel, _ i: Int32) throws -> Int {
    if lua_type(L, i) == LUA_TNUMBER {
        let id = try argInt(L, i, "token id")
        guard id >= 0 && id < m.config.vocabSize else { throw LuaError("token id \(id) is outside the vocabulary 0...\(m.config.vocabSize - 1)") }
        return id
    }
    let t = try argString(L, i, "token (a vocabulary entry such as \"hate\" or \"##s\", or an id)")
    guard let id = m.tokenizer.id(of: t) else {
        throw LuaError("\"\(t)\" is not one token of the vocabulary; m:encode(\"\(t)\").tokens shows how it splits")
    }
    return id
}

/// m:neighbours(token, k=10, {metric="euclidean"|"cosine", furthest=false}) -> {{token=, id=, distance= | similarity=}, ...}
let modelNeighbours: LuaFn = { L in luaBinding(L) { L in
    let m = try checkModel(L)
    let id = try argToken(L, m, 2)
    let k = dl_isnoneornil(L, 3) != 0 ? 10 : try argInt(L, 3, "k")
    var metric = EmbeddingMetric.euclidean, furthest = false
    if dl_isnoneornil(L, 4) == 0 {
        let a = try TableArgs(L, 4, function: "m:neighbours options", known: ["metric", "furthest"])
        if let s = try a.string("metric") {
            guard let mm = EmbeddingMetric(rawValue: s) else { throw LuaError("m:neighbours: metric must be \"euclidean\" or \"cosine\", got \"\(s)\"") }
            metric = mm
        }
        furthest = try a.bool("furthest") ?? false
    }
    let ns = try embeddingNeighbours(model: m, of: id, k: k, metric: metric, furthest: furthest)
    pushList(L, ns) { n in
        lua_createtable(L, 0, 3)
        push(L, n.token); lua_setfield(L, -2, "token")
        lua_pushinteger(L, lua_Integer(n.id)); lua_setfield(L, -2, "id")
        lua_pushnumber(L, lua_Number(n.value)); lua_setfield(L, -2, metric == .cosine ? "similarity" : "distance")
    }
    return 1
} }

/// m:embedding(token) -> the token's input embedding (a hidden-size tensor).
let modelEmbedding: LuaFn = { L in luaBinding(L) { L in
    let m = try checkModel(L)
    let id = try argToken(L, m, 2), H = m.config.hiddenSize
    pushObject(L, Tensor(shape: [H], data: Array(UnsafeBufferPointer(start: m.weights.wordEmbeddings.ptr + id * H, count: H))), metatable: tensorClass)
    return 1
} }

let modelToString: LuaFn = { L in luaBinding(L) { L in
    let m = try checkModel(L)
    let c = m.config
    push(L, "Model{\(URL(fileURLWithPath: m.directory).lastPathComponent): \(c.numLayers) layers, hidden \(c.hiddenSize), \(c.numHeads) heads, vocab \(c.vocabSize)\(m.hasMLM ? ", MLM head" : "")\(m.precision == .bf16 ? ", bf16" : "")}")
    return 1
} }

// MARK: - trace methods

let traceSite: LuaFn = { L in luaBinding(L) { L in
    let tr = try checkTrace(L)
    let name = try argString(L, 2, "site name")
    let site: Site
    do { site = try Site.parse(name, config: tr.model.config, hasMLM: tr.model.hasMLM) } catch {
        throw LuaError("\(error)\(didYouMean(name, Site.all(tr.model.config, hasMLM: tr.model.hasMLM)))")
    }
    pushObject(L, try tr.acts.site(site), metatable: tensorClass)
    return 1
} }

let traceTokens: LuaFn = { L in luaBinding(L) { L in
    let tr = try checkTrace(L)
    pushStrings(L, tr.ids.map { tr.model.tokenizer.idToToken[$0] })
    return 1
} }

let traceToString: LuaFn = { L in luaBinding(L) { L in
    let tr = try checkTrace(L)
    let toks = tr.ids.map { tr.model.tokenizer.idToToken[$0] }.joined(separator: " ")
    push(L, "Trace{T=\(tr.ids.count), layers 0...\(tr.acts.deepestLayer): \(toks)}")
    return 1
} }

// MARK: - lab.*

/// lab.load([dir_or_name] [, {precision="fp32"|"bf16"}]), or lab.load{path=, precision=}.
let labLoad: LuaFn = { L in luaBinding(L) { L in
    var spec: String? = nil, precision = Precision.fp32
    func readOptions(_ i: Int32, allowPath: Bool) throws {
        let a = try TableArgs(L, i, function: "lab.load", known: allowPath ? loadArgNames : ["precision"])
        if allowPath { spec = try a.string("path") }
        if let p = try a.string("precision") {
            do { precision = try Precision.parse(p) } catch { throw LuaError("lab.load: \(error)") }
        }
    }
    if lua_type(L, 1) == LUA_TTABLE { try readOptions(1, allowPath: true) }
    else {
        spec = dl_isnoneornil(L, 1) != 0 ? nil : try argString(L, 1, "model path or name")
        if dl_isnoneornil(L, 2) == 0 { try readOptions(2, allowPath: false) }
    }
    let m = try loadModel(spec, precision: precision)
    pushObject(L, m, metatable: modelClass)
    return 1
} }

let labInfo: LuaFn = { L in luaBinding(L) { L in
    lua_createtable(L, 0, 3)
    push(L, BLASRuntime.coreName); lua_setfield(L, -2, "blas_core")
    lua_pushinteger(L, lua_Integer(BLASRuntime.threads)); lua_setfield(L, -2, "blas_threads")
    lua_pushinteger(L, lua_Integer(Threads.count)); lua_setfield(L, -2, "threads")
    push(L, Precision.bf16Kernel); lua_setfield(L, -2, "bf16_kernel")
    push(L, dreamlabVersion); lua_setfield(L, -2, "version")
    return 1
} }

let labQuiet: LuaFn = { L in luaBinding(L) { L in
    progressQuiet = dl_isnoneornil(L, 1) != 0 ? true : lua_toboolean(L, 1) != 0
    return 0
} }

/// Installs the `lab` global and the class metatables.
func installLab(_ L: OpaquePointer) {
    defineClass(L, modelClass, methods: [], tostring: modelToString)
    dl_getmetatable(L, modelClass)
    pushFunction(L, modelIndex); lua_setfield(L, -2, "__index")
    dl_pop(L, 1)
    lua_createtable(L, 0, 6)
    for (n, f) in [("encode", modelEncode), ("decode", modelDecode), ("run", modelRun), ("pll", modelPLL),
                   ("neighbours", modelNeighbours), ("embedding", modelEmbedding)] { setField(L, n, f) }
    lua_setfield(L, dl_registryindex(), modelClass + ".methods")

    defineClass(L, traceClass, methods: [("site", traceSite), ("tokens", traceTokens)], tostring: traceToString)
    installTensor(L)

    lua_createtable(L, 0, 8)
    setField(L, "load", labLoad)
    setField(L, "info", labInfo)
    setField(L, "tensor", labTensor)
    lua_createtable(L, 0, 2)
    setField(L, "save", npySave)
    setField(L, "load", npyLoad)
    lua_setfield(L, -2, "npy")
    installJSON(L)
    lua_setfield(L, -2, "json")
    installObjectives(L)
    lua_setfield(L, -2, "objectives")
    installDream(L)
    installGraph(L)
    setField(L, "objective", labObjective)
    setField(L, "dream", labDream)
    setField(L, "gradient", labGradient)
    setField(L, "search", labSearch)
    setField(L, "corpus", labCorpus)
    setField(L, "sweep", labSweep)
    setField(L, "sweep_merge", labSweepMerge)
    setField(L, "fluency_sweep", labFluencySweep)
    setField(L, "report", labReport)
    setField(L, "probe", labProbe)
    lua_createtable(L, 0, 4)
    for (k, f) in [("constant", schedConstant), ("anneal", schedAnneal), ("linear", schedLinear), ("cosine", schedCosine)] { setField(L, k, f) }
    lua_setfield(L, -2, "schedules")
    setField(L, "quiet", labQuiet)
    setField(L, "__did_you_mean", labDidYouMean)
    pushKeywordArguments(L)
    lua_setfield(L, -2, "__arguments")
    lua_setglobal(L, "lab")
}
