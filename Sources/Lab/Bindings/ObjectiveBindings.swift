import CLua
import Engine
import Foundation
import Objectives

let objectiveClass = "dreamlab.Objective"

func checkObjective(_ L: OpaquePointer, _ i: Int32, _ what: String = "objective") throws -> ActivationObjective {
    guard let o = toObject(L, i, metatable: objectiveClass, as: ActivationObjective.self) else {
        throw LuaError("\(what) must be an objective (from lab.objectives.* or lab.objective(fn)), got \(luaTypeName(L, i))")
    }
    return o
}

/// `as any` stops Swift from opening the existential, so the box holds the protocol type that checkObjective reads.
func pushObjective(_ L: OpaquePointer, _ o: ActivationObjective) { pushObject(L, o as any ActivationObjective, metatable: objectiveClass) }

/// The `model=` argument of a lab.* call, else the default model.
func objectiveModel(_ a: TableArgs) throws -> BertModel {
    if a.push("model") != LUA_TNIL { defer { dl_pop(a.L, 1) }; return try checkModel(a.L, -1, what: "\(a.function): model=") }
    dl_pop(a.L, 1)
    return try loadModel(nil)
}

/// lab.objectives.<kind>{...}: the kind (upvalue 2, an index into objectiveKinds) reads its arguments and builds the
/// objective for model= (default: the default model).
let objectiveFactory: LuaFn = { L in luaBinding(L) { L in
    let kind = objectiveKinds[Int(lua_tointegerx(L, dl_upvalue(2), nil))]
    let a = try TableArgs(L, 1, function: "lab.objectives." + kind.name, known: kind.arguments + ["model"])
    let model = try objectiveModel(a)
    do { pushObjective(L, try kind.make(a, model)) } catch let e as DreamlabError {
        let msg = "\(e)"
        throw LuaError(msg.hasPrefix(a.function) ? msg : "\(a.function): \(msg)")
    }
    return 1
} }

/// Reads a list of objectives (for sum/mean).
func objectiveList(_ L: OpaquePointer, _ i: Int32, _ fname: String) throws -> [ActivationObjective] {
    guard lua_type(L, i) == LUA_TTABLE else { throw LuaError("\(fname) takes a list of objectives: \(fname){a, b, c}") }
    let n = Int(lua_rawlen(L, i))   // raw: no __len or __index of the caller's table runs from Swift
    guard n > 0 else { throw LuaError("\(fname) needs at least one objective") }
    var out: [ActivationObjective] = []
    for k in 1...n {
        lua_rawgeti(L, i, lua_Integer(k))
        defer { dl_pop(L, 1) }
        out.append(try checkObjective(L, -1, "\(fname) item \(k)"))
    }
    return out
}

let objSum: LuaFn = { L in luaBinding(L) { L in
    pushObjective(L, LinearCombination(try objectiveList(L, 1, "lab.objectives.sum").map { (1, $0) })); return 1
} }
let objMean: LuaFn = { L in luaBinding(L) { L in
    let xs = try objectiveList(L, 1, "lab.objectives.mean")
    pushObjective(L, LinearCombination(xs.map { (1 / Float(xs.count), $0) })); return 1
} }

/// Objective algebra operand: an objective, or a number (a constant term or a coefficient).
enum Operand { case obj(ActivationObjective), num(Float) }
func operand(_ L: OpaquePointer, _ i: Int32) throws -> Operand {
    if lua_type(L, i) == LUA_TNUMBER { return .num(Float(dl_tonumber(L, i, nil))) }
    return .obj(try checkObjective(L, i, "operand"))
}

func arith(_ L: OpaquePointer, _ op: Character) throws -> ActivationObjective {
    let a = try operand(L, 1), b = try operand(L, 2)
    switch (a, b, op) {
    case (.obj(let x), .obj(let y), "+"): return LinearCombination([(1, x), (1, y)])
    case (.obj(let x), .obj(let y), "-"): return LinearCombination([(1, x), (-1, y)])
    case (.obj(let x), .num(let k), "+"), (.num(let k), .obj(let x), "+"): return LinearCombination([(1, x)], constant: k)
    case (.obj(let x), .num(let k), "-"): return LinearCombination([(1, x)], constant: -k)
    case (.num(let k), .obj(let x), "-"): return LinearCombination([(-1, x)], constant: k)
    case (.obj(let x), .num(let k), "*"), (.num(let k), .obj(let x), "*"): return LinearCombination([(k, x)])
    case (.obj(let x), .num(let k), "/"):
        guard k != 0 else { throw LuaError("objective divided by zero") }
        return LinearCombination([(1 / k, x)])
    case (.obj(let x), .obj(let y), "*"): return ProductObjective(x, y, divide: false)
    case (.obj(let x), .obj(let y), "/"): return ProductObjective(x, y, divide: true)
    case (.num, .obj(let y), "/"):
        throw LuaError("a number divided by an objective (\(y)) is not supported; write it as a custom objective with lab.objective(fn)")
    default: throw LuaError("unsupported objective arithmetic")
    }
}

let objAdd: LuaFn = { L in luaBinding(L) { L in pushObjective(L, try arith(L, "+")); return 1 } }
let objSub: LuaFn = { L in luaBinding(L) { L in pushObjective(L, try arith(L, "-")); return 1 } }
let objMul: LuaFn = { L in luaBinding(L) { L in pushObjective(L, try arith(L, "*")); return 1 } }
let objDiv: LuaFn = { L in luaBinding(L) { L in pushObjective(L, try arith(L, "/")); return 1 } }
let objUnm: LuaFn = { L in luaBinding(L) { L in pushObjective(L, LinearCombination([(-1, try checkObjective(L, 1))])); return 1 } }
let objToString: LuaFn = { L in luaBinding(L) { L in push(L, try checkObjective(L, 1).description); return 1 } }

/// obj:eval(m, text|ids) -> value at a discrete input.
let objEval: LuaFn = { L in luaBinding(L) { L in
    let o = try checkObjective(L, 1)
    let m = try checkModel(L, 2)
    if let tr = toObject(L, 3, metatable: traceClass, as: Trace.self) {
        // A trace is evaluated as it is: r:trace()'s soft input gives the soft activation.
        try o.validate(model: m, T: tr.ids.count)
        lua_pushnumber(L, lua_Number(try o.evaluate(tr.acts, grads: nil)[0]))
        return 1
    }
    let (ids, types) = try argIdsOrText(L, m, 3)
    try o.validate(model: m, T: ids.count)
    let acts = try m.forward(InputBatch(ids: [ids], typeIds: [types]), upTo: min(o.deepestLayer, m.config.numLayers - 1), withMLM: o.needsMLM)
    lua_pushnumber(L, lua_Number(try o.evaluate(acts, grads: nil)[0]))
    return 1
} }

func installObjectives(_ L: OpaquePointer) {
    defineClass(L, objectiveClass, methods: [("eval", objEval)], tostring: objToString)
    _ = dl_getmetatable(L, objectiveClass)
    for (k, f) in [("__add", objAdd), ("__sub", objSub), ("__mul", objMul), ("__div", objDiv), ("__unm", objUnm)] {
        pushFunction(L, f); lua_setfield(L, -2, k)
    }
    dl_pop(L, 1)
    lua_createtable(L, 0, 8)
    for (i, kind) in objectiveKinds.enumerated() {
        lua_pushinteger(L, lua_Integer(i))
        dl_push_swift_closure(L, objectiveFactory, 1)
        lua_setfield(L, -2, kind.name)
    }
    for (k, f) in [("sum", objSum), ("mean", objMean)] { setField(L, k, f) }
}
