import CLua
import Engine
import Foundation
import Objectives

func pushSearch(_ L: OpaquePointer, _ r: SearchResult, objective: String = "", position: Int = 0) {
    pushList(L, r.hits) { h in
        lua_createtable(L, 0, 3)
        push(L, h.token); lua_setfield(L, -2, "token")
        lua_pushinteger(L, lua_Integer(h.id)); lua_setfield(L, -2, "id")
        lua_pushnumber(L, lua_Number(h.activation)); lua_setfield(L, -2, "activation")
    }
    lua_pushinteger(L, lua_Integer(r.candidates)); lua_setfield(L, -2, "candidates")
    lua_pushnumber(L, r.seconds); lua_setfield(L, -2, "seconds")
    lua_pushboolean(L, r.interrupted ? 1 : 0); lua_setfield(L, -2, "interrupted")
    push(L, objective); lua_setfield(L, -2, "objective")
    lua_pushinteger(L, lua_Integer(position)); lua_setfield(L, -2, "position")
}

/// lab.search{model=, sentence=, position=, objective= | objectives={...}, topk=100, batch=256, limit=, quiet=}
let labSearch: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.search", known: searchArgNames)
    let m = try objectiveModel(a)
    var s = SearchOptions()
    s.sentence = try a.string("sentence") ?? s.sentence
    s.sentence2 = try a.string("sentence2")
    s.position = try a.int("position") ?? s.position
    s.topk = try a.int("topk", default: s.topk)
    s.batch = try a.int("batch", default: s.batch)
    if let limit = try a.int("limit") {
        guard limit >= 1 else { throw LuaError("lab.search: limit must be >= 1 (the first `limit` token ids are tried), got \(limit)") }
        s.candidates = Array(0..<min(limit, m.config.vocabSize))
    }
    // objectives={...}: several objectives, one pass, a list of results; objective=: one result.
    let many = a.has("objectives")
    let objectives: [ActivationObjective]
    if many {
        guard !a.has("objective") else { throw LuaError("lab.search: give objective= or objectives={...}, not both") }
        _ = a.push("objectives"); defer { dl_pop(L, 1) }
        objectives = try objectiveList(L, lua_gettop(L), "lab.search objectives")
    } else {
        objectives = [try objectiveArg(a)]
    }
    let progress = Progress(total: s.candidates?.count ?? m.config.vocabSize, label: "search", quiet: try a.bool("quiet") ?? false)
    s.onProgress = { done, _ in progress.update(step: done) }
    defer { progress.finish() }
    let rs = try NativeWork.run { try tokenSearch(model: m, objectives: objectives, options: s) }
    if rs[0].interrupted { FileHandle.standardError.write(Data("search interrupted after \(rs[0].candidates) candidates; the partial top-k is returned\n".utf8)) }
    if many { pushList(L, Array(zip(rs, objectives))) { pushSearch(L, $0.0, objective: $0.1.description, position: s.position) } }
    else { pushSearch(L, rs[0], objective: objectives[0].description, position: s.position) }
    return 1
} }
