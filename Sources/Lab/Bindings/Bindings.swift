import CLua
import Engine
import Foundation

let modelClass = "dreamlab.Model"
let traceClass = "dreamlab.Trace"
let tensorClass = "dreamlab.Tensor"

/// A forward pass's record as Lua sees it: the activations plus the model that made them.
final class Trace: @unchecked Sendable {
    let model: BertModel
    let acts: Activations
    let ids: [Int]
    init(model: BertModel, acts: Activations, ids: [Int]) { self.model = model; self.acts = acts; self.ids = ids }
}

/// Loaded models, by directory, so `lab.load()` twice reads the weights once.
nonisolated(unsafe) var loadedModels: [String: BertModel] = [:]

func loadModel(_ spec: String?) throws -> BertModel {
    // One copy per real directory: "dir", "dir/." and a symlink to it share the loaded model.
    let dir = canonicalPath(try ModelLocator.resolve(spec))
    if let m = loadedModels[dir] { return m }
    let m = try BertModel(directory: dir)
    loadedModels[dir] = m
    return m
}

func checkModel(_ L: OpaquePointer, _ i: Int32 = 1) throws -> BertModel {
    guard let m = toObject(L, i, metatable: modelClass, as: BertModel.self) else {
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
func checkTensor(_ L: OpaquePointer, _ i: Int32 = 1) throws -> Tensor {
    guard let t = toObject(L, i, metatable: tensorClass, as: Tensor.self) else {
        throw LuaError("expected a tensor as argument \(i), got \(luaTypeName(L, i)); call methods with a colon: t:get(...)")
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

/// Text, or a Lua list of ids, at argument i.
func argIdsOrText(_ L: OpaquePointer, _ m: BertModel, _ i: Int32) throws -> (ids: [Int], types: [Int]) {
    if lua_type(L, i) == LUA_TTABLE {
        let ids = try argIntList(L, i, "ids")
        for (k, id) in ids.enumerated() where id < 0 || id >= m.config.vocabSize {
            throw LuaError("ids[\(k + 1)] = \(id) is outside the vocabulary 0...\(m.config.vocabSize - 1)")
        }
        return (ids, [Int](repeating: 0, count: ids.count))
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
    case "sites": pushStrings(L, Site.all(m.config, hasMLM: m.hasMLM))
    default:
        pushMethod(L, modelClass, key)
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

let modelToString: LuaFn = { L in luaBinding(L) { L in
    let m = try checkModel(L)
    let c = m.config
    push(L, "Model{\(URL(fileURLWithPath: m.directory).lastPathComponent): \(c.numLayers) layers, hidden \(c.hiddenSize), \(c.numHeads) heads, vocab \(c.vocabSize)\(m.hasMLM ? ", MLM head" : "")}")
    return 1
} }

// MARK: - trace methods

let traceSite: LuaFn = { L in luaBinding(L) { L in
    let tr = try checkTrace(L)
    let name = try argString(L, 2, "site name")
    let site = try Site.parse(name, config: tr.model.config, hasMLM: tr.model.hasMLM)
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

// MARK: - tensor methods

let tensorShape: LuaFn = { L in luaBinding(L) { L in
    pushInts(L, try checkTensor(L).shape); return 1
} }

let tensorGet: LuaFn = { L in luaBinding(L) { L in
    let t = try checkTensor(L)
    let n = lua_gettop(L) - 1
    guard n == t.rank else {
        throw LuaError("t:get needs \(t.rank) 0-based coordinates for shape \(t.shape), got \(n)")
    }
    var idx: [Int] = []
    for i in 0..<n { idx.append(try argInt(L, 2 + i, "coordinate \(i + 1)")) }
    lua_pushnumber(L, lua_Number(try t.get(idx)))
    return 1
} }

func pushNested(_ L: OpaquePointer, _ t: Tensor, axis: Int, offset: Int, strides: [Int]) throws {
    guard lua_checkstack(L, 3) != 0 else { throw LuaError("tensor of rank \(t.rank) is too deep for Lua tables") }
    let n = t.shape[axis]
    lua_createtable(L, Int32(n), 0)
    for i in 0..<n {
        if axis == t.rank - 1 { lua_pushnumber(L, lua_Number(t.data[offset + i])) }
        else { try pushNested(L, t, axis: axis + 1, offset: offset + i * strides[axis], strides: strides) }
        lua_seti(L, -2, lua_Integer(i + 1))
    }
}

let tensorToTable: LuaFn = { L in luaBinding(L) { L in
    let t = try checkTensor(L)
    if t.rank == 0 { lua_pushnumber(L, lua_Number(t.data[0])); return 1 }
    try pushNested(L, t, axis: 0, offset: 0, strides: t.strides)
    return 1
} }

func describe(_ t: Tensor) -> String {
    guard !t.data.isEmpty else { return "Tensor{\(t.shape.map(String.init).joined(separator: "x"))}" }
    var mn = Float.infinity, mx = -Float.infinity, sum: Double = 0
    for v in t.data { mn = min(mn, v); mx = max(mx, v); sum += Double(v) }
    return String(format: "Tensor{%@ min=%.4g max=%.4g mean=%.4g}", t.shape.map(String.init).joined(separator: "x"),
                  Double(mn), Double(mx), sum / Double(t.count))
}

let tensorToString: LuaFn = { L in luaBinding(L) { L in
    push(L, describe(try checkTensor(L))); return 1
} }

/// Tensor arithmetic (elementwise with a same-shape tensor, or with a number), for edited or shifted targets.
func tensorArith(_ L: OpaquePointer, _ f: (Float, Float) -> Float) throws -> Int32 {
    let a = toObject(L, 1, metatable: tensorClass, as: Tensor.self), b = toObject(L, 2, metatable: tensorClass, as: Tensor.self)
    let out: Tensor
    switch (a, b) {
    case (let x?, let y?):
        guard x.shape == y.shape else { throw LuaError("tensor shapes \(x.shape) and \(y.shape) differ") }
        out = Tensor(shape: x.shape, data: zip(x.data, y.data).map(f))
    case (let x?, nil): let k = Float(try argNumber(L, 2, "right operand")); out = Tensor(shape: x.shape, data: x.data.map { f($0, k) })
    case (nil, let y?): let k = Float(try argNumber(L, 1, "left operand")); out = Tensor(shape: y.shape, data: y.data.map { f(k, $0) })
    default: throw LuaError("tensor arithmetic needs a tensor")
    }
    pushObject(L, out, metatable: tensorClass)
    return 1
}
let tensorAdd: LuaFn = { L in luaBinding(L) { L in try tensorArith(L, +) } }
let tensorSub: LuaFn = { L in luaBinding(L) { L in try tensorArith(L, -) } }
let tensorMul: LuaFn = { L in luaBinding(L) { L in try tensorArith(L, *) } }
let tensorDiv: LuaFn = { L in luaBinding(L) { L in try tensorArith(L, /) } }
let tensorUnm: LuaFn = { L in luaBinding(L) { L in
    let t = try checkTensor(L); pushObject(L, Tensor(shape: t.shape, data: t.data.map { -$0 }), metatable: tensorClass); return 1
} }

/// Nested Lua lists of numbers -> (shape, values); every row at a depth must have the same length.
func readNested(_ L: OpaquePointer, _ i: Int32, depth: Int = 0) throws -> (shape: [Int], data: [Float]) {
    // A cycle (t[1] = t) or absurd nesting ends here, before the Lua stack runs out.
    guard depth < 32, lua_checkstack(L, 2) != 0 else { throw LuaError("lab.tensor: lists nested deeper than 32 (a table that contains itself?)") }
    let idx = lua_absindex(L, i)
    if lua_type(L, idx) == LUA_TNUMBER { return ([], [Float(dl_tonumber(L, idx, nil))]) }
    guard lua_type(L, idx) == LUA_TTABLE else { throw LuaError("lab.tensor takes nested lists of numbers, got \(luaTypeName(L, idx))") }
    let n = Int(lua_rawlen(L, idx))
    var shape: [Int]? = nil, data: [Float] = []
    for k in 1...max(n, 1) where n > 0 {
        lua_rawgeti(L, idx, lua_Integer(k))
        defer { dl_pop(L, 1) }
        let (s, d) = try readNested(L, -1, depth: depth + 1)
        if let shape, shape != s { throw LuaError("lab.tensor: row \(k) has shape \(s), the others \(shape); rows must match") }
        shape = s
        data += d
    }
    return ([n] + (shape ?? []), data)
}

/// lab.tensor(nested lists) -> Tensor, e.g. an edited copy of tr:site(...):totable().
let labTensor: LuaFn = { L in luaBinding(L) { L in
    let (shape, data) = try readNested(L, 1)
    pushObject(L, Tensor(shape: shape, data: data), metatable: tensorClass)
    return 1
} }

let tensorLen: LuaFn = { L in luaBinding(L) { L in
    lua_pushinteger(L, lua_Integer(try checkTensor(L).shape.first ?? 0)); return 1
} }

// MARK: - lab.*

let labLoad: LuaFn = { L in luaBinding(L) { L in
    let spec = dl_isnoneornil(L, 1) != 0 ? nil : try argString(L, 1, "model path or name")
    let m = try loadModel(spec)
    pushObject(L, m, metatable: modelClass)
    return 1
} }

let labInfo: LuaFn = { L in luaBinding(L) { L in
    lua_createtable(L, 0, 3)
    push(L, BLASRuntime.coreName); lua_setfield(L, -2, "blas_core")
    lua_pushinteger(L, lua_Integer(BLASRuntime.threads)); lua_setfield(L, -2, "blas_threads")
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
    lua_createtable(L, 0, 4)
    for (n, f) in [("encode", modelEncode), ("decode", modelDecode), ("run", modelRun), ("pll", modelPLL)] { setField(L, n, f) }
    lua_setfield(L, dl_registryindex(), modelClass + ".methods")

    defineClass(L, traceClass, methods: [("site", traceSite), ("tokens", traceTokens)], tostring: traceToString)
    defineClass(L, tensorClass, methods: [("shape", tensorShape), ("get", tensorGet), ("totable", tensorToTable)],
                tostring: tensorToString)
    dl_getmetatable(L, tensorClass)
    pushFunction(L, tensorLen); lua_setfield(L, -2, "__len")
    for (k, f) in [("__add", tensorAdd), ("__sub", tensorSub), ("__mul", tensorMul), ("__div", tensorDiv), ("__unm", tensorUnm)] {
        pushFunction(L, f); lua_setfield(L, -2, k)
    }
    dl_pop(L, 1)

    lua_createtable(L, 0, 8)
    setField(L, "load", labLoad)
    setField(L, "info", labInfo)
    setField(L, "tensor", labTensor)
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
    lua_createtable(L, 0, 4)
    for (k, f) in [("constant", schedConstant), ("anneal", schedAnneal), ("linear", schedLinear), ("cosine", schedCosine)] { setField(L, k, f) }
    lua_setfield(L, -2, "schedules")
    setField(L, "quiet", labQuiet)
    lua_setglobal(L, "lab")
}
