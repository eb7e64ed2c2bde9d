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

/// lab.search{model=, sentence=, position=, objective=, topk=100, batch=256}
let labSearch: LuaFn = { L in luaBinding(L) { L in
    let a = try TableArgs(L, 1, function: "lab.search", known: ["model", "sentence", "sentence2", "position", "objective", "objectives", "topk", "batch", "quiet", "limit"])
    let m = try objectiveModel(a)
    let e = m.tokenizer.encode(try a.string("sentence") ?? "i hate kickshaws", try a.string("sentence2"))
    if a.push("objectives") != LUA_TNIL {
        // Several objectives, one pass: returns a list of search results, one per objective.
        let objs = try objectiveList(L, lua_gettop(L), "lab.search objectives")
        dl_pop(L, 1)
        let position = try a.int("position") ?? 2
        interruptRequested.store(false, ordering: .relaxed)
        nativeWorkRunning = true
        defer { nativeWorkRunning = false }
        let rs = try tokenSearchMany(model: m, ids: e.ids, typeIds: e.typeIds, position: position, objectives: objs,
                                     topk: try a.int("topk", default: 100), batchSize: try a.int("batch", default: 256),
                                     candidates: try a.int("limit").map { Array(0..<min($0, m.config.vocabSize)) })
        pushList(L, Array(zip(rs, objs))) { pushSearch(L, $0.0, objective: $0.1.description, position: position) }
        return 1
    }
    dl_pop(L, 1)
    guard a.push("objective") != LUA_TNIL else { dl_pop(L, 1); throw LuaError("lab.search: missing objective= (or objectives={...})") }
    let obj = try checkObjective(L, -1, "lab.search: objective")
    dl_pop(L, 1)
    let progress = Progress(total: m.config.vocabSize, label: "search", quiet: try a.bool("quiet") ?? false)
    interruptRequested.store(false, ordering: .relaxed)
    nativeWorkRunning = true
    defer { nativeWorkRunning = false; progress.finish() }
    let position = try a.int("position") ?? 2
    let r = try tokenSearch(model: m, ids: e.ids, typeIds: e.typeIds, position: position, objective: obj,
                            topk: try a.int("topk", default: 100), batchSize: try a.int("batch", default: 256),
                            candidates: try a.int("limit").map { Array(0..<min($0, m.config.vocabSize)) }) { done, _ in
        progress.update(step: done)
    }
    interruptRequested.store(false, ordering: .relaxed)
    if r.interrupted { FileHandle.standardError.write(Data("search interrupted after \(r.candidates) candidates; the partial top-k is returned\n".utf8)) }
    pushSearch(L, r, objective: obj.description, position: position)
    return 1
} }

/// `dreamlab search`: PAIR's token_search.py flags, writing top_tokens_in_<sentence>_<word>.json.
func runPairSearch(_ args: [String]) -> Int32 {
    do {
        var f = try PairFlags(args, command: "search", extra: ["change_word": "2", "top_k": "100", "batch": "256", "limit": "0"])
        let outDir = f.string("output_dir")
        guard !outDir.isEmpty else { throw DreamlabError.invalidArgument("dreamlab search: --output_dir is required (PAIR's flag)") }
        let m = try loadModel(f.string("model").isEmpty ? nil : f.string("model"))
        let enc = m.tokenizer.encode(f.string("sentence"))
        let layer = try f.int("layer_id"), word = try f.int("word_id"), unit = try f.int("neuron_id")
        guard unit >= 0 && unit < m.config.hiddenSize else {
            throw DreamlabError.outOfRange("--neuron_id \(unit) is outside 0...\(m.config.hiddenSize - 1) for this model (hidden size \(m.config.hiddenSize)); PAIR's default 414 is a bert-base neuron")
        }
        let obj = PairActivation(layer: layer, word: word == -1 ? nil : word, unit: unit, normalize: true, numLayers: m.config.numLayers)
        let progress = Progress(total: m.config.vocabSize, label: "search", quiet: f.bool("quiet"))
        nativeWorkRunning = true
        let r = try tokenSearch(model: m, ids: enc.ids, typeIds: enc.typeIds, position: try f.int("change_word"), objective: obj,
                                topk: try f.int("top_k"), batchSize: try f.int("batch"),
                                candidates: try f.int("limit") > 0 ? Array(0..<min(try f.int("limit"), m.config.vocabSize)) : nil) { done, _ in progress.update(step: done) }
        nativeWorkRunning = false
        progress.finish()
        f.values["output_dir"] = nil
        let results: [String: Any] = [
            "type": "token_search", "sentence": f.string("sentence"), "layer_id": layer, "neuron_id": unit, "word_id": word,
            "change_word": try f.int("change_word"), "tokens": enc.ids.map { m.tokenizer.idToToken[$0] },
            "tops": r.hits.map { ["token": $0.token, "activation": shortest($0.activation), "id": $0.id] as [String: Any] },
            "dreamlab": ["candidates": r.candidates, "seconds": r.seconds, "interrupted": r.interrupted, "model": m.directory],
        ]
        let path = outDir + "/top_tokens_in_\(f.string("sentence"))_\(try f.int("change_word")).json"
        try writeAtomically(jsonData(results), to: path)
        print(String(format: "searched %d candidates in %.1f s (%.0f/s)%@", r.candidates, r.seconds, r.candidatesPerSecond, r.interrupted ? ", interrupted" : ""))
        for h in r.hits.prefix(10) { print(String(format: "  %-16@ %.5f", h.token, Double(h.activation))) }
        print("wrote \(path)")
        return 0
    } catch {
        FileHandle.standardError.write(Data("dreamlab search: \(error)\n".utf8))
        return 2
    }
}
