import Foundation

/// Writes a file so that a reader never sees half of it: temp file in the same folder, fsync, rename.
public func writeAtomically(_ data: Data, to path: String) throws {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    let tmp = path + ".tmp-\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw DreamlabError.badFile("\(path): cannot write (\(String(cString: strerror(errno)))); check the folder's permissions") }
    var ok = data.withUnsafeBytes { raw -> Bool in
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, raw.count - off)
            if n <= 0 { return false }
            off += n
        }
        return true
    }
    ok = ok && fsync(fd) == 0
    close(fd)
    guard ok, rename(tmp, path) == 0 else {
        unlink(tmp)
        throw DreamlabError.badFile("\(path): write failed (\(String(cString: strerror(errno)))); is the disk full?")
    }
    // Make the rename itself durable.
    let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
    if dfd >= 0 { fsync(dfd); close(dfd) }
}

public func jsonData(_ value: Any) throws -> Data {
    try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
}

/// A Float as the shortest Double that prints the same (0.1, not 0.10000000149011612): JSON without float noise.
public func shortest(_ f: Float) -> Double { Double("\(f)") ?? Double(f) }
/// JSON numbers from Float: the shortest Double, null where not finite.
@inline(__always) func num(_ f: Float) -> Any { f.isFinite ? shortest(f) : NSNull() }

extension DreamRecord {
    var json: [String: Any] {
        ["number": number, "tokens": tokens, "temperature": num(temperature), "max_values": maxValues.map(num),
         "activation": num(activation), "ids_activation": num(idsActivation)].merging(idsPLL.map { ["ids_pll": num($0)] } ?? [:]) { a, _ in a }
    }
}
extension TopKRecord {
    var json: [String: Any] {
        ["number": number, "indices": indices, "tokens": tokens, "scores": scores.map(num), "activation": num(activation)]
    }
}
extension DiscreteInput {
    public var json: [String: Any] {
        var d: [String: Any] = ["ids": ids, "tokens": tokens, "text": text, "activation": num(activation), "step": step]
        if let pll { d["pll"] = num(pll); d["score"] = num(score) }
        return d
    }
}

extension DreamResult {
    /// PAIR's params block (output_helper.get_params), plus what PAIR's flags cannot say.
    public func params(tokens: [String], pairFields: [String: Any]) -> [String: Any] {
        var p: [String: Any] = pairFields
        p["dream_start"] = first; p["dream_end"] = last
        p["num_iterations"] = options.steps
        p["gumbel"] = options.mode.usesGumbelNoise
        if case .anneal(let start, let stop, let rate, let warmup) = options.schedule {
            p["warmup"] = warmup; p["start_temp"] = num(start); p["end_temp"] = num(stop); p["anneal"] = num(rate)
        }
        p["learning_rate"] = num(options.lr)
        p["sentence"] = sentence
        if let s2 = sentence2 { p["sentence2"] = s2 }
        p["tokens"] = tokens
        p["model_config"] = (modelPath as NSString).lastPathComponent
        p["metrics_frequency"] = options.every
        return p
    }

    /// Writes results.json and top_k<pos>.json in the layout of PAIR's text-dream output_helper, so existing viewers
    /// read them, with Dreamlab's own fields under "dreamlab". Each file is written atomically.
    public func save(to dir: String, tokens: [String], pairFields: [String: Any]) throws {
        let params = params(tokens: tokens, pairFields: pairFields)
        let main = runs[bestRunIndex]
        var ours: [String: Any] = [
            "objective": objective, "model": modelPath, "seed": Int(options.seed), "restarts": options.restarts,
            "method": options.method, "relaxation": options.mode.rawValue, "schedule": options.schedule.description,
            "topk": options.topk, "steps_done": stepsDone, "stopped": stopped, "interrupted": interrupted,
            "timings": ["seconds": seconds, "steps_per_second": stepsPerSecond, "inputs_scored": scored],
            "best_run": bestRunIndex,
        ]
        if let b = best { ours["best"] = b.json }
        if let f = options.fluency { ours["fluency"] = ["lambda": num(f.lambda), "model": f.model.directory] }
        ours["runs"] = runs.map { r -> [String: Any] in
            var d: [String: Any] = ["seed": Int(r.seed), "final_ids": r.finalIds, "final_activation": num(r.finalActivation),
                                    "final_ids_activation": num(r.finalIdsActivation), "iterations": r.iterations.map(\.json)]
            if let b = r.best { d["best"] = b.json }
            return d
        }
        let results: [String: Any] = ["params": params, "results": ["iterations": main.iterations.map(\.json)], "type": "dream", "dreamlab": ours]
        try writeAtomically(jsonData(results), to: dir + "/results.json")
        for (i, recs) in main.topK.enumerated() {
            let pos = first + i
            let d: [String: Any] = ["iterations": recs.map(\.json), "word_id": pos, "params": params, "type": "top_words"]
            try writeAtomically(jsonData(d), to: dir + "/top_k\(pos).json")
        }
    }
}
