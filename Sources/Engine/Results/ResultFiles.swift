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
/// A Float for a Codable result file: the shortest Double, nil where not finite (JSON has no NaN).
public func finiteDouble(_ f: Float) -> Double? { f.isFinite ? shortest(f) : nil }
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
    public var params: [String: Any] {
        var p: [String: Any] = pairFields
        p["dream_start"] = first; p["dream_end"] = last
        p["num_iterations"] = options.steps
        p["gumbel"] = options.mode.usesGumbelNoise
        if case .anneal(let start, let stop, let rate, let warmup) = options.effectiveSchedule {
            p["warmup"] = warmup; p["start_temp"] = num(start); p["end_temp"] = num(stop); p["anneal"] = num(rate)
        }
        p["learning_rate"] = num(options.lr)
        p["sentence"] = sentence
        if let s2 = sentence2 { p["sentence2"] = s2 }
        p["tokens"] = startTokens
        p["model_config"] = (modelPath as NSString).lastPathComponent
        p["metrics_frequency"] = options.every
        return p
    }

    /// Writes results.json and top_k<pos>.json in the layout of PAIR's text-dream output_helper, so existing viewers
    /// read them, with Dreamlab's own fields under "dreamlab". Each file is written atomically; `writeTopK` false
    /// (PAIR's --nowrite_top_k) writes results.json alone.
    public func save(to dir: String, writeTopK: Bool = true) throws {
        let params = params
        let main = runs[bestRunIndex]
        var ours: [String: Any] = [
            "objective": objective, "model": modelPath, "seed": Int(options.seed), "restarts": options.restarts,
            "method": options.method.rawValue, "relaxation": options.mode.rawValue, "schedule": options.effectiveSchedule.description,
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
        for (i, recs) in main.topK.enumerated() where writeTopK {
            let pos = first + i
            let d: [String: Any] = ["iterations": recs.map(\.json), "word_id": pos, "params": params, "type": "top_words"]
            try writeAtomically(jsonData(d), to: dir + "/top_k\(pos).json")
        }
    }
}

/// Writes a Codable result file atomically, keys sorted, pretty-printed.
public func writeCodable<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    try writeAtomically(try encoder.encode(value), to: path)
}

/// PAIR's token_search.py output, top_tokens_in_<sentence>_<word>.json, with Dreamlab's timings under "dreamlab".
public struct TokenSearchFile: Codable, Sendable {
    public var type = "token_search"
    public let sentence: String
    public let layerId: Int, neuronId: Int, wordId: Int, changeWord: Int
    public let tokens: [String]
    public let tops: [Top]
    public let dreamlab: Timing

    public struct Top: Codable, Sendable {
        public let token: String, activation: Double?, id: Int
        public init(token: String, activation: Double?, id: Int) { self.token = token; self.activation = activation; self.id = id }
    }
    public struct Timing: Codable, Sendable {
        public let candidates: Int, seconds: Double, interrupted: Bool, model: String
        public init(candidates: Int, seconds: Double, interrupted: Bool, model: String) {
            self.candidates = candidates; self.seconds = seconds; self.interrupted = interrupted; self.model = model
        }
    }

    public init(sentence: String, layerId: Int, neuronId: Int, wordId: Int, changeWord: Int, tokens: [String], tops: [Top], dreamlab: Timing) {
        self.sentence = sentence; self.layerId = layerId; self.neuronId = neuronId; self.wordId = wordId; self.changeWord = changeWord
        self.tokens = tokens; self.tops = tops; self.dreamlab = dreamlab
    }

    enum CodingKeys: String, CodingKey {
        case type, sentence, tokens, tops, dreamlab
        case layerId = "layer_id", neuronId = "neuron_id", wordId = "word_id", changeWord = "change_word"
    }
}

/// `dreamlab corpus --output`: the top passages of a corpus pass.
public struct CorpusFile: Codable, Sendable {
    public var type = "corpus"
    public let site: String
    public let unit: Int
    public let passages: Int
    public let tops: [Top]

    public struct Top: Codable, Sendable {
        public let text: String
        public let activation: Double?
        public let tokens: [String]
        public let activations: [Double?]
        public let line: Int
        public init(text: String, activation: Double?, tokens: [String], activations: [Double?], line: Int) {
            self.text = text; self.activation = activation; self.tokens = tokens; self.activations = activations; self.line = line
        }
    }

    public init(site: String, unit: Int, passages: Int, tops: [Top]) { self.site = site; self.unit = unit; self.passages = passages; self.tops = tops }
}
