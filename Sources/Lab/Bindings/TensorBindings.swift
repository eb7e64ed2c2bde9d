import CLua
import Engine
import Foundation

let tensorClass = "dreamlab.Tensor"

func checkTensor(_ L: OpaquePointer, _ i: Int32 = 1, what: String? = nil) throws -> Tensor {
    guard let t = toObject(L, i, metatable: tensorClass, as: Tensor.self) else {
        if let what { throw LuaError("\(what) must be a Tensor (lab.tensor{{...}} makes one from lists), got \(luaTypeName(L, i))") }
        throw LuaError("expected a tensor as argument \(i), got \(luaTypeName(L, i)); call methods with a colon: t:topk(5)")
    }
    return t
}

/// Pushes a tensor; a rank-0 one becomes a plain number.
func pushTensorOrNumber(_ L: OpaquePointer, _ t: Tensor) {
    if t.rank == 0 { lua_pushnumber(L, lua_Number(t.data[0])) } else { pushObject(L, t, metatable: tensorClass) }
}

/// An optional axis argument (0-based; negative counts from the last).
func optionalAxis(_ L: OpaquePointer, _ i: Int32) throws -> Int? {
    dl_isnoneornil(L, i) != 0 ? nil : try argInt(L, i, "axis (0-based; -1 is the last)")
}

/// Integers laid out in a shape, as nested Lua lists (a plain list for rank 1).
func pushNestedInts(_ L: OpaquePointer, _ xs: [Int], shape: [Int]) throws {
    guard shape.count > 1 else { pushInts(L, xs); return }
    guard lua_checkstack(L, 3) != 0 else { throw LuaError("indices nested too deep for Lua tables") }
    let inner = shape.dropFirst().reduce(1, *)
    lua_createtable(L, Int32(shape[0]), 0)
    for i in 0..<shape[0] {
        try pushNestedInts(L, Array(xs[(i * inner)..<((i + 1) * inner)]), shape: Array(shape.dropFirst()))
        lua_seti(L, -2, lua_Integer(i + 1))
    }
}

/// Reads an index spec: an integer (one position), or a list whose entries are integers, {} (the whole axis),
/// {from, to} (inclusive) or {from} (to the end). Raw reads only.
func readIndexSpec(_ L: OpaquePointer, _ i: Int32) throws -> [AxisIndex] {
    if lua_type(L, i) == LUA_TNUMBER { return [.at(try argInt(L, i, "index"))] }
    guard lua_type(L, i) == LUA_TTABLE else { throw LuaError("a tensor is indexed by a 0-based integer, t[{i, {}, {from, to}}] or a method name; got \(luaTypeName(L, i))") }
    let idx = lua_absindex(L, i), n = Int(lua_rawlen(L, idx))
    var spec: [AxisIndex] = []
    for k in 0..<n {
        lua_rawgeti(L, idx, lua_Integer(k + 1))
        defer { dl_pop(L, 1) }
        switch lua_type(L, -1) {
        case LUA_TNUMBER: spec.append(.at(try argInt(L, -1, "index \(k + 1)")))
        case LUA_TTABLE:
            let r = try argIntList(L, -1, "range \(k + 1)")
            switch r.count {
            case 0: spec.append(.all)
            case 1: spec.append(.range(r[0], -1))
            case 2: spec.append(.range(r[0], r[1]))
            default: throw LuaError("range \(k + 1) has \(r.count) numbers; write {} (all), {from} or {from, to} (inclusive, 0-based)")
            }
        default: throw LuaError("index \(k + 1) must be an integer, {} or {from, to}; got \(luaTypeName(L, -1))")
        }
    }
    return spec
}

let tensorIndex: LuaFn = { L in luaBinding(L) { L in
    let t = try checkTensor(L)
    if lua_type(L, 2) == LUA_TSTRING {
        let key = String(cString: dl_tostring(L, 2))
        pushMethod(L, tensorClass, key)
        guard lua_type(L, -1) != LUA_TNIL else {
            throw LuaError("tensors have no field \"\(key)\"\(didYouMean(key, tensorMethodNames)); methods: \(tensorMethodNames.joined(separator: " ")); index with t[i] or t[{i, {}, {from, to}}] (0-based)")
        }
        return 1
    }
    pushTensorOrNumber(L, try t.index(try readIndexSpec(L, 2)))
    return 1
} }

let tensorShape: LuaFn = { L in luaBinding(L) { L in pushInts(L, try checkTensor(L).shape); return 1 } }
let tensorDim: LuaFn = { L in luaBinding(L) { L in lua_pushinteger(L, lua_Integer(try checkTensor(L).rank)); return 1 } }
let tensorNumel: LuaFn = { L in luaBinding(L) { L in lua_pushinteger(L, lua_Integer(try checkTensor(L).count)); return 1 } }

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

let tensorItem: LuaFn = { L in luaBinding(L) { L in
    let t = try checkTensor(L)
    guard t.count == 1 else { throw LuaError("t:item() needs a tensor with one value, this one has shape \(t.shape); index it first, e.g. t[2][300]") }
    lua_pushnumber(L, lua_Number(t.data[0])); return 1
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

func reduction(_ r: Tensor.Reduction) -> LuaFn {
    switch r {
    case .sum: return { L in luaBinding(L) { L in try reduce(L, .sum) } }
    case .mean: return { L in luaBinding(L) { L in try reduce(L, .mean) } }
    case .max: return { L in luaBinding(L) { L in try reduce(L, .max) } }
    case .min: return { L in luaBinding(L) { L in try reduce(L, .min) } }
    case .std: return { L in luaBinding(L) { L in try reduce(L, .std) } }
    case .norm: return { L in luaBinding(L) { L in try reduce(L, .norm) } }
    }
}
func reduce(_ L: OpaquePointer, _ r: Tensor.Reduction) throws -> Int32 {
    let t = try checkTensor(L)
    pushTensorOrNumber(L, try t.reduce(r, axis: try optionalAxis(L, 2)))
    return 1
}

/// t:topk(k [, axis]) -> values (tensor), indices (0-based; a list, nested like the values for rank > 1)
let tensorTopk: LuaFn = { L in luaBinding(L) { L in
    let t = try checkTensor(L)
    let k = try argInt(L, 2, "k")
    let (v, idx) = try t.topk(k, axis: try optionalAxis(L, 3) ?? -1)
    pushObject(L, v, metatable: tensorClass)
    try pushNestedInts(L, idx, shape: v.shape)
    return 2
} }

/// t:argmax([axis]) / t:argmin([axis]): without an axis, the 0-based coordinates of the extreme entry (one value
/// per axis); with one, the index along it for every other coordinate (nested lists).
func argExtreme(_ L: OpaquePointer, largest: Bool) throws -> Int32 {
    let t = try checkTensor(L)
    guard t.count > 0 else { throw LuaError("argmax of an empty tensor") }
    if let a = try optionalAxis(L, 2) {
        let axis = try t.axis(a)
        let (_, idx) = try t.topk(1, axis: axis, largest: largest)
        var s = t.shape; s.remove(at: axis)
        if s.isEmpty { lua_pushinteger(L, lua_Integer(idx[0])) } else { try pushNestedInts(L, idx, shape: s) }
        return 1
    }
    let (_, flat) = try Tensor(shape: [t.count], data: t.data).topk(1, largest: largest)
    var rem = flat[0]
    for s in t.strides { lua_pushinteger(L, lua_Integer(rem / s)); rem %= s }
    return Int32(max(t.rank, 1))
}
let tensorArgmax: LuaFn = { L in luaBinding(L) { L in try argExtreme(L, largest: true) } }
let tensorArgmin: LuaFn = { L in luaBinding(L) { L in try argExtreme(L, largest: false) } }

/// t:slice(from, to [, axis=0]): an inclusive, 0-based range of one axis.
let tensorSlice: LuaFn = { L in luaBinding(L) { L in
    let t = try checkTensor(L)
    let a = try argInt(L, 2, "from"), b = try argInt(L, 3, "to")
    let axis = try t.axis(try optionalAxis(L, 4) ?? 0)
    var spec = [AxisIndex](repeating: .all, count: axis + 1)
    spec[axis] = .range(a, b)
    pushObject(L, try t.index(spec), metatable: tensorClass)
    return 1
} }

let tensorTranspose: LuaFn = { L in luaBinding(L) { L in pushObject(L, try checkTensor(L).transposed(), metatable: tensorClass); return 1 } }
let tensorSoftmax: LuaFn = { L in luaBinding(L) { L in
    let t = try checkTensor(L)
    pushObject(L, try t.softmax(axis: try optionalAxis(L, 2) ?? -1), metatable: tensorClass); return 1
} }
let tensorAbs: LuaFn = { L in luaBinding(L) { L in
    let t = try checkTensor(L); pushObject(L, Tensor(shape: t.shape, data: t.data.map(abs)), metatable: tensorClass); return 1
} }
let tensorDot: LuaFn = { L in luaBinding(L) { L in
    let a = try checkTensor(L, 1), b = try checkTensor(L, 2)
    guard a.count == b.count else { throw LuaError("t:dot needs tensors with the same number of values, got shapes \(a.shape) and \(b.shape)") }
    lua_pushnumber(L, lua_Number(zip(a.data, b.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }))
    return 1
} }

/// One line, for tensors shown inside tables.
func summary(_ t: Tensor) -> String {
    guard !t.data.isEmpty else { return "Tensor{\(t.shape.map(String.init).joined(separator: "x"))}" }
    var mn = Float.infinity, mx = -Float.infinity, sum: Double = 0
    for v in t.data { mn = min(mn, v); mx = max(mx, v); sum += Double(v) }
    return String(format: "Tensor{%@ min=%.4g max=%.4g mean=%.4g}", t.shape.map(String.init).joined(separator: "x"),
                  Double(mn), Double(mx), sum / Double(t.count))
}
let tensorSummary: LuaFn = { L in luaBinding(L) { L in push(L, summary(try checkTensor(L))); return 1 } }
let tensorToString: LuaFn = { L in luaBinding(L) { L in push(L, try checkTensor(L).description); return 1 } }

/// Tensor arithmetic: elementwise with numpy broadcasting, or with a number.
func tensorArith(_ L: OpaquePointer, _ f: (Float, Float) -> Float) throws -> Int32 {
    let a = toObject(L, 1, metatable: tensorClass, as: Tensor.self), b = toObject(L, 2, metatable: tensorClass, as: Tensor.self)
    let out: Tensor
    switch (a, b) {
    case (let x?, let y?): out = try Tensor.broadcast(x, y, f)
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
let tensorPow: LuaFn = { L in luaBinding(L) { L in try tensorArith(L, powf) } }
let tensorUnm: LuaFn = { L in luaBinding(L) { L in
    let t = try checkTensor(L); pushObject(L, Tensor(shape: t.shape, data: t.data.map { -$0 }), metatable: tensorClass); return 1
} }
let tensorLen: LuaFn = { L in luaBinding(L) { L in
    lua_pushinteger(L, lua_Integer(try checkTensor(L).shape.first ?? 0)); return 1
} }

/// Nested Lua lists of numbers -> (shape, values); every row at a depth must have the same length.
func readNested(_ L: OpaquePointer, _ i: Int32, depth: Int = 0) throws -> (shape: [Int], data: [Float]) {
    // A cycle (t[1] = t) or absurd nesting ends here, before the Lua stack runs out.
    guard depth < 32, lua_checkstack(L, 2) != 0 else { throw LuaError("lab.tensor: lists nested deeper than 32 (a table that contains itself?)") }
    let idx = lua_absindex(L, i)
    if lua_type(L, idx) == LUA_TNUMBER { return ([], [Float(dl_tonumber(L, idx, nil))]) }
    if let t = toObject(L, idx, metatable: tensorClass, as: Tensor.self) { return (t.shape, t.data) }
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

let tensorMethods: [(String, LuaFn)] = [
    ("shape", tensorShape), ("dim", tensorDim), ("numel", tensorNumel), ("get", tensorGet), ("item", tensorItem),
    ("totable", tensorToTable), ("tolist", tensorToTable), ("topk", tensorTopk), ("argmax", tensorArgmax), ("argmin", tensorArgmin),
    ("slice", tensorSlice), ("t", tensorTranspose), ("softmax", tensorSoftmax), ("abs", tensorAbs), ("dot", tensorDot),
    ("summary", tensorSummary),
] + Tensor.Reduction.allCases.map { ($0.rawValue, reduction($0)) }
let tensorMethodNames = tensorMethods.map(\.0).sorted()

func installTensor(_ L: OpaquePointer) {
    defineClass(L, tensorClass, methods: [], tostring: tensorToString)
    dl_getmetatable(L, tensorClass)
    for (k, f) in [("__index", tensorIndex), ("__len", tensorLen), ("__add", tensorAdd), ("__sub", tensorSub), ("__mul", tensorMul),
                   ("__div", tensorDiv), ("__pow", tensorPow), ("__unm", tensorUnm)] {
        pushFunction(L, f); lua_setfield(L, -2, k)
    }
    dl_pop(L, 1)
    lua_createtable(L, 0, Int32(tensorMethods.count))
    for (n, f) in tensorMethods { setField(L, n, f) }
    lua_setfield(L, dl_registryindex(), tensorClass + ".methods")
}

/// lab.npy.save(path, tensor) -> path; lab.npy.load(path) -> tensor (NumPy .npy, float32 or float64).
let npySave: LuaFn = { L in luaBinding(L) { L in
    let path = try argString(L, 1, "lab.npy.save: path")
    guard !path.isEmpty else { throw LuaError("lab.npy.save: the path is empty; give a file name such as \"direction.npy\"") }
    try NPY.write(try checkTensor(L, 2), to: path)
    push(L, path); return 1
} }
let npyLoad: LuaFn = { L in luaBinding(L) { L in
    pushObject(L, try NPY.read(try argString(L, 1, "lab.npy.load: path")), metatable: tensorClass); return 1
} }
