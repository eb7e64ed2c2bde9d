import CLua
import Engine
import Foundation

/// lab.probe{x=Tensor(N,H), y={0,1,...} | dir=, concept1=, concept2=, layer=; epochs=300, lr=0.05, C=1, val_split=0.1, seed=42}
/// -> {weights=Tensor(H), bias=, train_accuracy=, validation_accuracy=, train_count=, validation_count=, loss=}
let labProbe: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.probe", known: probeArgNames)
    var x: Tensor, y: [Int]
    if let dir = try a.string("dir") {
        guard let c1 = try a.string("concept1"), let c2 = try a.string("concept2") else { throw LuaError("lab.probe: dir= needs concept1= and concept2= (folder names under dir)") }
        guard c1 != c2 else { throw LuaError("lab.probe: concept1 and concept2 are both \(c1); a probe separates two different concepts") }
        let layer = try a.requiredInt("layer")
        let r1 = try readConceptRows(dir, concept: c1, layer: layer), r2 = try readConceptRows(dir, concept: c2, layer: layer)
        guard let H = (r1 + r2).first?.count, (r1 + r2).allSatisfy({ $0.count == H }) else { throw LuaError("lab.probe: no examples, or vectors of different lengths, under \(dir)") }
        x = Tensor(shape: [r1.count + r2.count, H], data: (r1 + r2).flatMap { $0 })
        y = [Int](repeating: 0, count: r1.count) + [Int](repeating: 1, count: r2.count)
    } else {
        guard a.push("x") != LUA_TNIL else { dl_pop(L, 1); throw LuaError("lab.probe: give x= (a Tensor of examples x features) and y= (labels 0/1), or dir=, concept1=, concept2=, layer=") }
        defer { dl_pop(L, 1) }
        x = try checkTensor(L, -1, what: "lab.probe: x= (examples x features)")
        guard a.push("y") == LUA_TTABLE else { dl_pop(L, 1); throw LuaError("lab.probe: y= must be a list of labels 0 or 1, one per row of x") }
        defer { dl_pop(L, 1) }
        y = try argIntList(L, -1, "lab.probe: y")
    }
    var o = ProbeOptions()
    o.epochs = try a.int("epochs", default: o.epochs)
    o.learningRate = Float(try a.number("lr") ?? Double(o.learningRate))
    if let c = try a.number("C") { o.C = c == 0 ? nil : c }
    o.validationSplit = try a.number("val_split") ?? o.validationSplit
    let seed = try a.int("seed", default: 42)
    guard seed >= 0 else { throw LuaError("lab.probe: seed must be >= 0") }
    o.seed = UInt64(seed)
    let r = try trainLogisticProbe(x: x, y: y, options: o)
    lua_createtable(L, 0, 7)
    pushObject(L, r.weights, metatable: tensorClass); lua_setfield(L, -2, "weights")
    lua_pushnumber(L, lua_Number(r.bias)); lua_setfield(L, -2, "bias")
    lua_pushnumber(L, r.trainAccuracy); lua_setfield(L, -2, "train_accuracy")
    if let v = r.validationAccuracy { lua_pushnumber(L, v); lua_setfield(L, -2, "validation_accuracy") }
    lua_pushinteger(L, lua_Integer(r.trainCount)); lua_setfield(L, -2, "train_count")
    lua_pushinteger(L, lua_Integer(r.validationCount)); lua_setfield(L, -2, "validation_count")
    lua_pushnumber(L, lua_Number(r.losses.last ?? .nan)); lua_setfield(L, -2, "loss")
    return 1
} }
