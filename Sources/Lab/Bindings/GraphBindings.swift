import CLua
import Engine
import Foundation
import Objectives

let nodeClass = "dreamlab.Node"
let sitesClass = "dreamlab.Sites"

func pushNode(_ L: OpaquePointer, _ n: GraphNode) { pushObject(L, n, metatable: nodeClass) }

/// Where the Lua code that is building the graph stands ("file.lua:12:"), for error messages.
func luaOrigin(_ L: OpaquePointer) -> String {
    luaL_where(L, 1)
    defer { dl_pop(L, 1) }
    return dl_tostring(L, -1).map { String(cString: $0) } ?? ""
}

/// A node, a number (a scalar constant), a list of numbers or a Tensor (a constant tensor).
func nodeOperand(_ L: OpaquePointer, _ i: Int32, _ what: String) throws -> GraphNode {
    if let n = toObject(L, i, metatable: nodeClass, as: GraphNode.self) { return n }
    if lua_type(L, i) == LUA_TNUMBER { return GraphNode.scalar(Float(dl_tonumber(L, i, nil)), origin: luaOrigin(L)) }
    if let t = toObject(L, i, metatable: tensorClass, as: Tensor.self) { return GraphNode(.constant(t.data, t.shape), origin: luaOrigin(L)) }
    if lua_type(L, i) == LUA_TTABLE {
        let (shape, data) = try readNested(L, i)
        return GraphNode(.constant(data, shape), origin: luaOrigin(L))
    }
    throw LuaError("\(what) must be an activation node, a number, a list of numbers or a tensor; got \(luaTypeName(L, i))")
}

func binaryNode(_ L: OpaquePointer, _ op: GraphNode.Op) throws -> Int32 {
    let a = try nodeOperand(L, 1, "left operand"), b = try nodeOperand(L, 2, "right operand")
    pushNode(L, GraphNode(op, [a, b], origin: luaOrigin(L)))
    return 1
}

let nodeAdd: LuaFn = { L in luaBinding(L) { L in try binaryNode(L, .add) } }
let nodeSub: LuaFn = { L in luaBinding(L) { L in try binaryNode(L, .sub) } }
let nodeMul: LuaFn = { L in luaBinding(L) { L in try binaryNode(L, .mul) } }
let nodeDiv: LuaFn = { L in luaBinding(L) { L in try binaryNode(L, .div) } }
let nodePow: LuaFn = { L in luaBinding(L) { L in try binaryNode(L, .pow) } }
let nodeUnm: LuaFn = { L in luaBinding(L) { L in
    pushNode(L, GraphNode(.neg, [try nodeOperand(L, 1, "operand")], origin: luaOrigin(L))); return 1
} }
let nodeToString: LuaFn = { L in luaBinding(L) { L in
    push(L, "Node{\(try nodeOperand(L, 1, "node"))}"); return 1
} }

/// n[i] indexes the first axis (0-based); n.method / n:method() reach the methods.
let nodeIndex: LuaFn = { L in luaBinding(L) { L in
    let n = try nodeOperand(L, 1, "node")
    if lua_type(L, 2) == LUA_TNUMBER {
        pushNode(L, GraphNode(.index(try argInt(L, 2, "index")), [n], origin: luaOrigin(L)))
        return 1
    }
    rawField(L, dl_registryindex(), nodeClass + ".methods")
    lua_pushvalue(L, 2)
    lua_rawget(L, -2)
    if lua_type(L, -1) == LUA_TNIL {
        let key = dl_tostring(L, 2).map { String(cString: $0) } ?? "?"
        throw LuaError("activation nodes have no field \"\(key)\"; index with n[i] (0-based) or call :sum() :mean() :max() :norm() :dot(v) :abs() :exp() :log() :sqrt() :relu() :sigmoid() :tanh() :softmax() :entropy() :slice(a, b)")
    }
    return 1
} }

func unaryMethod(_ op: GraphNode.Op) -> LuaFn {
    switch op {
    case .sum: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.sum, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    case .mean: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.mean, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    case .max: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.max, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    case .norm: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.norm, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    case .abs: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.abs, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    case .exp: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.exp, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    case .log: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.log, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    case .sqrt: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.sqrt, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    case .relu: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.relu, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    case .sigmoid: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.sigmoid, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    case .tanh: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.tanh, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    case .softmax: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.softmax, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    default: return { L in luaBinding(L) { L in pushNode(L, GraphNode(.entropy, [try nodeOperand(L, 1, "node")], origin: luaOrigin(L))); return 1 } }
    }
}

let nodeDot: LuaFn = { L in luaBinding(L) { L in
    let a = try nodeOperand(L, 1, "node"), b = try nodeOperand(L, 2, "dot's argument")
    pushNode(L, GraphNode(.dot, [a, b], origin: luaOrigin(L))); return 1
} }
let nodeSlice: LuaFn = { L in luaBinding(L) { L in
    let n = try nodeOperand(L, 1, "node")
    pushNode(L, GraphNode(.slice(try argInt(L, 2, "slice from"), try argInt(L, 3, "slice to")), [n], origin: luaOrigin(L))); return 1
} }

/// The `a` a custom objective receives: a["site name"] is that site's node.
let sitesIndex: LuaFn = { L in luaBinding(L) { L in
    let m = try checkModelIn(L, 1)
    let name = try argString(L, 2, "site name")
    let site: Site
    do { site = try Site.parse(name, config: m.config, hasMLM: m.hasMLM) } catch { throw LuaError("\(error)") }
    pushNode(L, GraphNode(.site(site), origin: luaOrigin(L)))
    return 1
} }

func checkModelIn(_ L: OpaquePointer, _ i: Int32) throws -> BertModel {
    guard let m = toObject(L, i, metatable: sitesClass, as: BertModel.self) else { throw LuaError("expected the activations table a") }
    return m
}

/// lab.objective(fn [, name [, model]]): traces fn(a) once into a native graph.
let labObjective: LuaFn = { L in luaBinding(L) { L in
    guard lua_type(L, 1) == LUA_TFUNCTION else {
        throw LuaError("lab.objective takes a function(a) ... end that returns a scalar node, e.g. lab.objective(function(a) return a[\"blocks.5.hook_resid_post\"][2][300] end)")
    }
    let name = dl_isnoneornil(L, 2) != 0 ? "custom" : try argString(L, 2, "name")
    let m = dl_isnoneornil(L, 3) != 0 ? try loadModel(nil) : try checkModel(L, 3)
    lua_pushvalue(L, 1)
    pushObject(L, m, metatable: sitesClass)
    dl_push_traceback_handler(L)
    lua_rotate(L, -3, 1)
    let handler = lua_gettop(L) - 2
    if dl_pcall(L, 1, 1, handler) != LUA_OK {
        let msg = dl_tostring(L, -1).map { String(cString: $0) } ?? "error"
        throw LuaError("lab.objective \"\(name)\": the function failed while tracing: \(msg)")
    }
    guard let root = toObject(L, -1, metatable: nodeClass, as: GraphNode.self) else {
        throw LuaError("lab.objective \"\(name)\": the function must return an activation node (built from a[...]), got \(luaTypeName(L, -1))")
    }
    pushObjective(L, GraphObjective(root, name: name))
    return 1
} }

// MARK: - built-ins stated as graphs

extension TableArgs: ObjectiveArguments {
    /// A list of numbers (or nested lists) or a Tensor.
    func constant(_ key: String) throws -> (data: [Float], shape: [Int])? {
        guard push(key) != LUA_TNIL else { dl_pop(L, 1); return nil }
        defer { dl_pop(L, 1) }
        guard case .constant(let data, let shape) = try nodeOperand(L, -1, "\(function): \(key)").op else {
            throw LuaError("\(function): \(key) must be a list of numbers or a Tensor")
        }
        return (data, shape)
    }
}

func installGraph(_ L: OpaquePointer) {
    defineClass(L, nodeClass, methods: [], tostring: nodeToString)
    _ = dl_getmetatable(L, nodeClass)
    for (k, f) in [("__add", nodeAdd), ("__sub", nodeSub), ("__mul", nodeMul), ("__div", nodeDiv), ("__pow", nodePow),
                   ("__unm", nodeUnm), ("__index", nodeIndex)] { pushFunction(L, f); lua_setfield(L, -2, k) }
    dl_pop(L, 1)
    lua_createtable(L, 0, 16)
    for (k, op) in [("sum", GraphNode.Op.sum), ("mean", .mean), ("max", .max), ("norm", .norm), ("abs", .abs), ("exp", .exp),
                    ("log", .log), ("sqrt", .sqrt), ("relu", .relu), ("sigmoid", .sigmoid), ("tanh", .tanh), ("softmax", .softmax),
                    ("entropy", .entropy)] { setField(L, k, unaryMethod(op)) }
    setField(L, "dot", nodeDot)
    setField(L, "slice", nodeSlice)
    lua_setfield(L, dl_registryindex(), nodeClass + ".methods")
    defineClass(L, sitesClass, methods: [], tostring: nil)
    _ = dl_getmetatable(L, sitesClass)
    pushFunction(L, sitesIndex); lua_setfield(L, -2, "__index")
    dl_pop(L, 1)
}
