import CLua
import Engine
import Foundation
import Objectives

/// Report data for one dream: PAIR's records, top-k evolution, and, where the objective says which unit or head it
/// reads, per-token activations of the final and best inputs and the attention pattern of the best input.
func dreamReportData(_ h: DreamHandle) -> [String: Any] {
    let r = h.result, run = r.runs[r.bestRunIndex], m = h.model, tok = m.tokenizer
    var d: [String: Any] = ["objective": r.objective,
                            "summary": "\(r.stepsDone) steps, \(r.options.effectiveSchedule), \(r.options.restarts) restart(s), \(String(format: "%.1f", r.stepsPerSecond)) steps/s\(r.interrupted ? ", interrupted" : "")",
                            "iterations": run.iterations.map { ["number": $0.number, "activation": Double($0.activation), "ids_activation": Double($0.idsActivation),
                                                                "temperature": Double($0.temperature), "tokens": $0.tokens] as [String: Any] },
                            "final_tokens": run.finalIds.map { tok.idToToken[$0] },
                            "curve": run.curve.map { ["step": $0.step, "activation": Double($0.activation), "ids_activation": Double($0.idsActivation),
                                                      "temperature": Double($0.temperature)] as [String: Any] },
                            "k": r.options.topk, "discrete": r.options.method == .discrete]
    if let note = r.convergenceNote { d["convergence"] = note }
    var topk: [String: Any] = [:]
    for (i, recs) in run.topK.enumerated() {
        topk["\(r.positions[i])"] = recs.map { ["number": $0.number, "tokens": $0.tokens, "scores": $0.scores.map(Double.init)] as [String: Any] }
    }
    d["topk"] = topk
    if let b = run.best { d["best"] = ["tokens": b.tokens, "activation": Double(b.activation), "text": b.text] }
    func unitActivations(_ ids: [Int], layer: Int, unit: Int) -> [Double]? {
        guard let acts = try? m.run(ids: ids), let t = try? acts.site(Site(.residPost, layer: layer)) else { return nil }
        return (0..<ids.count).map { Double(t.data[$0 * m.config.hiddenSize + unit]) }
    }
    if let o = h.objective as? PairActivation, let unit = o.unit {
        d["final_activations"] = unitActivations(run.finalIds, layer: o.layer, unit: unit)
        if let b = run.best { d["best_activations"] = unitActivations(b.ids, layer: o.layer, unit: unit) }
    }
    if let o = h.objective as? SiteElement, o.site.kind == .pattern, let b = run.best,
       let acts = try? m.run(ids: b.ids), let p = try? acts.site(o.site) {
        let T = b.ids.count, head = o.index[0]
        d["attention"] = ["layer": o.site.layer, "head": head, "tokens": b.tokens, "target": [o.index[1], o.index[2]],
                          "pattern": (0..<T).map { i in (0..<T).map { j in Double(p.data[(head * T + i) * T + j]) } }]
    }
    return d
}

func writeReport(_ data: [String: Any], to path: String) throws {
    var json = String(decoding: try JSONSerialization.data(withJSONObject: data, options: [.sortedKeys]), as: UTF8.self)
    json = json.replacingOccurrences(of: "</", with: "<\\/")   // never close the <script> early
    let html = EmbeddedResource.reportHTML.replacingOccurrences(of: "__SCRIPT__", with: EmbeddedResource.reportJS)
        .replacingOccurrences(of: "__DATA__", with: json)
    try writeAtomically(Data(html.utf8), to: path)
}

/// Collects report sections from a Lua value: a dream result, a search, a corpus result, or a list of them.
func collectReport(_ L: OpaquePointer, _ i: Int32, into data: inout [String: [[String: Any]]], depth: Int = 0) throws {
    let idx = lua_absindex(L, i)
    if let h = toObject(L, idx, metatable: dreamResultClass, as: DreamHandle.self) { data["dreams", default: []].append(dreamReportData(h)); return }
    guard lua_type(L, idx) == LUA_TTABLE, depth < 3 else {
        throw LuaError("lab.report takes a dream result, a search (lab.search), a corpus result (lab.corpus), a fluency sweep (lab.fluency_sweep) or a list of them; got \(luaTypeName(L, idx))")
    }
    rawField(L, idx, "kind")
    let kind = lua_type(L, -1) == LUA_TSTRING ? String(cString: dl_tostring(L, -1)!) : ""
    dl_pop(L, 1)
    if kind == "fluency_frontier" {
        // A λ sweep (lab.fluency_sweep): its points and frontier; the dreams inside stay out of the JSON.
        var section: [String: Any] = [:]
        for key in ["objective", "fluency_model", "method", "lambdas", "points", "frontier", "interrupted"] {
            rawField(L, idx, key); defer { dl_pop(L, 1) }
            if lua_type(L, -1) != LUA_TNIL { section[key] = try luaToJSON(L, -1) }
        }
        data["frontiers", default: []].append(section)
        return
    }
    rawField(L, idx, "candidates"); let isSearch = lua_type(L, -1) != LUA_TNIL; dl_pop(L, 1)
    rawField(L, idx, "passages"); let isCorpus = lua_type(L, -1) != LUA_TNIL; dl_pop(L, 1)
    if isSearch || isCorpus {
        let v = try luaToJSON(L, idx) as? [String: Any] ?? [:]
        // A list with extra fields encodes as an object with "1", "2"... keys: rebuild the list.
        var tops: [[String: Any]] = []
        var k = 1
        while let row = v["\(k)"] as? [String: Any] { tops.append(row); k += 1 }
        var section = v.filter { Int($0.key) == nil }
        section["tops"] = tops
        data[isSearch ? "searches" : "corpora", default: []].append(section)
        return
    }
    let n = Int(lua_rawlen(L, idx))
    guard n > 0 else { throw LuaError("lab.report: nothing to report in this table") }
    for k in 1...n {
        lua_rawgeti(L, idx, lua_Integer(k))
        defer { dl_pop(L, 1) }
        try collectReport(L, -1, into: &data, depth: depth + 1)
    }
}

/// lab.report(x, "file.html" [, title])
let labReport: LuaFn = { L in luaBinding(L) { L in
    let path = try argString(L, 2, "output .html path")
    var data: [String: [[String: Any]]] = [:]
    try collectReport(L, 1, into: &data)
    var all: [String: Any] = data
    all["title"] = dl_isnoneornil(L, 3) != 0 ? "Dreamlab report" : try argString(L, 3, "title")
    try writeReport(all, to: path)
    push(L, path)
    return 1
} }

/// `dreamlab report DIR -o file.html`: a saved PAIR-layout folder (Dreamlab's or PAIR's own tool's).
let reportCommand = Subcommand(
    name: "report", brief: "an HTML report of a saved dream folder (Dreamlab's or PAIR's)",
    summary: "An HTML report (self-contained, inline SVG/JS) of a saved dream folder: Dreamlab's, r:save's or PAIR's dream.py's.",
    usage: "DIR | SWEEP.jsonl... [-o report.html]",
    flags: [.string("o", "report.html", "the HTML file to write"), .string("output", "", "same as -o")],
    positionals: ("DIR (a folder with results.json and top_k*.json) or sweep .jsonl files", 1, Int.max)
) { f in
    let out = f.optional("output") ?? f.string("o")
    // Never write the report over what it reads.
    let target = canonicalPath(out), name = (out as NSString).lastPathComponent
    for input in f.positional.map(canonicalPath) {
        let intoFolder = target.hasPrefix(input + "/") && (name == "results.json" || name.hasPrefix("top_k"))
        if target == input || intoFolder { throw CLIError("-o \(out) would overwrite the results it reports on; give another file, e.g. -o report.html") }
    }
    if f.positional.allSatisfy({ $0.hasSuffix(".jsonl") }) {
        // A sweep: one table of units, the shards joined.
        var records: [[String: Any]] = []
        for file in f.positional {
            guard FileManager.default.fileExists(atPath: file) else { throw CLIError("\(file): no such sweep file") }
            records += try JSONLines.read(file).rows.filter { $0["unit"] is Int }
        }
        guard !records.isEmpty else { throw CLIError("\(f.positional.joined(separator: " ")): no sweep records yet (see dreamlab sweep --status)") }
        var seen = Set<Int>()
        records = records.filter { seen.insert(($0["unit"] as? Int) ?? -1).inserted }
        let title = (records.first?["objective"] as? String).map { "\($0) and \(records.count - 1) more" } ?? "sweep"
        try writeReport(["title": "Dreamlab sweep report: \(f.positional.joined(separator: " "))",
                         "sweeps": [["title": title, "index": 0, "records": records]]], to: out)
        print("wrote \(out): \(records.count) units")
        return 0
    }
    guard f.positional.count == 1 else { throw CLIError("give one dream folder, or sweep .jsonl files") }
    let dir = f.positional[0]
    guard let rdata = FileManager.default.contents(atPath: dir + "/results.json"),
          let results = try? JSONSerialization.jsonObject(with: rdata) as? [String: Any] else {
        throw CLIError("\(dir)/results.json: missing or not JSON; give a folder written by dreamlab dream, r:save or PAIR's dream.py")
    }
    guard let params = results["params"] as? [String: Any], let iters = (results["results"] as? [String: Any])?["iterations"] as? [[String: Any]] else {
        throw CLIError("\(dir)/results.json has no params and results.iterations: it is not a dream folder from dreamlab dream, r:save or PAIR's dream.py")
    }
    var dream: [String: Any] = [
        "objective": params["neuron_id"].map { "neuron(L\(params["layer_id"] ?? "?"),w\(params["word_id"] ?? "?"),u\($0))" } ?? "\(results["type"] ?? "dream")",
        "summary": "\(params["num_iterations"] ?? "?") iterations, sentence \"\(params["sentence"] ?? "")\"",
        "iterations": iters,
    ]
    if let last = iters.last, let toks = last["tokens"] as? [String] { dream["final_tokens"] = toks }
    if let ours = results["dreamlab"] as? [String: Any], let best = ours["best"] as? [String: Any] { dream["best"] = best }
    var topk: [String: Any] = [:]
    for file in (try FileManager.default.contentsOfDirectory(atPath: dir)).sorted() where file.hasPrefix("top_k") && file.hasSuffix(".json") {
        guard let d = FileManager.default.contents(atPath: dir + "/" + file), let j = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { continue }
        let pos = "\(j["word_id"] ?? file.dropFirst(5).dropLast(5))"
        topk[pos] = (j["iterations"] as? [[String: Any]] ?? []).map { ["number": $0["number"] ?? 0, "tokens": $0["tokens"] ?? [], "scores": $0["scores"] ?? []] }
    }
    dream["topk"] = topk
    try writeReport(["title": "Dreamlab report: \(dir)", "dreams": [dream]], to: out)
    print("wrote \(out)")
    return 0
}
