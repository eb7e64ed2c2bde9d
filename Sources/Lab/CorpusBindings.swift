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
    let a = try TableArgs(L, 1, function: "lab.corpus", known: ["model", "file", "objective", "unit", "topk", "batch", "max_tokens", "quiet"])
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
    let progress = Progress(total: 100, label: "corpus", quiet: try a.bool("quiet") ?? false)
    interruptRequested.store(false, ordering: .relaxed)
    nativeWorkRunning = true
    defer { nativeWorkRunning = false; progress.finish() }
    let r = try corpusTopK(model: m, path: file, score: score, topk: try a.int("topk", default: 10), batchSize: try a.int("batch", default: 32),
                           maxTokens: try a.int("max_tokens", default: 128)) { _, frac in progress.update(step: Int(frac * 100)) }
    interruptRequested.store(false, ordering: .relaxed)
    let label: String
    switch score {
    case .unit(let site, let unit): label = "unit(\(site),\(unit))"
    case .objective(let o): label = o.description
    }
    pushCorpus(L, r, objective: label)
    return 1
} }

/// `dreamlab corpus --file F --layer_id L --neuron_id U [--site S] [--top_k K] [--output out.json]`
func runCorpusCommand(_ args: [String]) -> Int32 {
    do {
        let f = try PairFlags(args, command: "corpus", extra: ["file": "", "top_k": "10", "site": "", "output": "", "batch": "32", "max_tokens": "128"])
        guard !f.string("file").isEmpty else { throw DreamlabError.invalidArgument("dreamlab corpus: --file is required (one passage per line)") }
        let m = try loadModel(f.string("model").isEmpty ? nil : f.string("model"))
        let siteName = f.string("site").isEmpty ? "blocks.\(try f.int("layer_id")).hook_resid_post" : f.string("site")
        let site = try Site.parse(siteName, config: m.config, hasMLM: m.hasMLM)
        let progress = Progress(total: 100, label: "corpus", quiet: f.bool("quiet"))
        nativeWorkRunning = true
        let r = try corpusTopK(model: m, path: f.string("file"), score: .unit(site: site, unit: try f.int("neuron_id")), topk: try f.int("top_k"),
                               batchSize: try f.int("batch"), maxTokens: try f.int("max_tokens")) { _, frac in progress.update(step: Int(frac * 100)) }
        nativeWorkRunning = false
        progress.finish()
        print(String(format: "%d passages in %.1f s%@", r.passages, r.seconds, r.interrupted ? " (interrupted)" : ""))
        for h in r.hits { print(String(format: "%9.4f  %@", Double(h.activation), h.text)) }
        if !f.string("output").isEmpty {
            let json: [String: Any] = ["type": "corpus", "site": "\(site)", "unit": try f.int("neuron_id"), "passages": r.passages,
                                       "tops": r.hits.map { ["text": $0.text, "activation": shortest($0.activation), "tokens": $0.tokens,
                                                            "activations": $0.activations.map(shortest), "line": $0.line] as [String: Any] }]
            try writeAtomically(jsonData(json), to: f.string("output"))
            print("wrote \(f.string("output"))")
        }
        return 0
    } catch {
        FileHandle.standardError.write(Data("dreamlab corpus: \(error)\n".utf8))
        return 2
    }
}
