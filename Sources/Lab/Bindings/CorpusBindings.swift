import CLua
import Engine
import Foundation
import Objectives

func pushCorpus(_ L: OpaquePointer, _ r: CorpusResult, objective: String) {
    pushList(L, r.hits) { h in
        lua_createtable(L, 0, 5)
        push(L, h.text); lua_setfield(L, -2, "text")
        lua_pushnumber(L, lua_Number(h.activation)); lua_setfield(L, -2, "activation")
        pushStrings(L, h.tokens); lua_setfield(L, -2, "tokens")
        pushNumbers(L, h.activations); lua_setfield(L, -2, "activations")
        lua_pushinteger(L, lua_Integer(h.line)); lua_setfield(L, -2, "line")
    }
    lua_pushinteger(L, lua_Integer(r.passages)); lua_setfield(L, -2, "passages")
    lua_pushnumber(L, r.seconds); lua_setfield(L, -2, "seconds")
    lua_pushboolean(L, r.interrupted ? 1 : 0); lua_setfield(L, -2, "interrupted")
    push(L, objective); lua_setfield(L, -2, "objective")
}

/// lab.corpus{model=, file=, objective= | unit={layer=, unit=[, site=]}, topk=10, batch=32, max_tokens=128}
let labCorpus: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.corpus", known: corpusArgNames)
    let m = try objectiveModel(a)
    guard let file = try a.string("file") else { throw LuaError("lab.corpus: missing file= (a text file, one passage per line)") }
    let score: CorpusScore
    if a.push("objective") != LUA_TNIL {
        score = .objective(try checkObjective(L, -1, "lab.corpus: objective"))
        dl_pop(L, 1)
    } else {
        dl_pop(L, 1)
        guard a.push("unit") == LUA_TTABLE else {
            dl_pop(L, 1)
            throw LuaError("lab.corpus: give objective= or unit={layer=, unit=} (optionally site=\"blocks.L.mlp.hook_post\")")
        }
        let u = try TableArgs(L, -1, function: "lab.corpus unit", known: ["layer", "unit", "site"])
        let site: Site
        if let s = try u.string("site") { site = try Site.parse(s, config: m.config, hasMLM: m.hasMLM) }
        else { site = try Site.parse("blocks.\(try u.requiredInt("layer")).hook_resid_post", config: m.config, hasMLM: m.hasMLM) }
        score = .unit(site: site, unit: try u.requiredInt("unit"))
        dl_pop(L, 1)
    }
    var o = CorpusOptions()
    o.file = file
    o.topk = try a.int("topk", default: o.topk)
    o.batch = try a.int("batch", default: o.batch)
    o.maxTokens = try a.int("max_tokens", default: o.maxTokens)
    let progress = Progress(total: 100, label: "corpus % of file", quiet: try a.bool("quiet") ?? false)
    o.onProgress = { n, frac in progress.update(step: Int(frac * 100), tokens: ["\(n) passages scored"]) }
    defer { progress.finish() }
    let r = try NativeWork.run { try corpusTopK(model: m, score: score, options: o) }
    let label: String
    switch score {
    case .unit(let site, let unit): label = "unit(\(site),\(unit))"
    case .objective(let o): label = o.description
    }
    pushCorpus(L, r, objective: label)
    return 1
} }

