import Foundation

/// Writes a file so that a reader never sees half of it: temp file in the same folder, fsync, rename.
public func writeAtomically(_ data: Data, to path: String) throws {
    let dir = (path as NSString).deletingLastPathComponent
    try makeFolder(dir)
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
        throw DreamlabError.badFile("\(path) is a folder; give a file name")
    }
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

/// A path as one file has it however it is written ("dir/./x", a symlink): for "is this the same file" checks.
public func canonicalPath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
}

/// Creates a folder (and its parents) for results, or says in words why it cannot.
public func makeFolder(_ dir: String) throws {
    guard !dir.isEmpty else { return }
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
        guard isDir.boolValue else { throw DreamlabError.badFile("\(dir) is a file, not a folder; give a folder for the results") }
        return
    }
    do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
        throw DreamlabError.badFile("cannot create the folder \(dir) (a part of its path is a file, or it is not writable); give another folder")
    }
}

public func jsonData(_ value: Any) throws -> Data {
    try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
}

/// A Float as the shortest Double that prints the same (0.1, not 0.10000000149011612): JSON without float noise.
public func shortest(_ f: Float) -> Double { Double("\(f)") ?? Double(f) }
/// A Float for a Codable result file: the shortest Double, nil where not finite (JSON has no NaN).
public func finiteDouble(_ f: Float) -> Double? { f.isFinite ? shortest(f) : nil }

/// A Float in a result file: written as its shortest decimal (0.1, not 0.10000000149011612), null where not finite.
public struct JSONFloat: Codable, Sendable, Equatable {
    public let value: Float
    public init(_ value: Float) { self.value = value }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if value.isFinite { try c.encode(value) } else { try c.encodeNil() }
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        value = c.decodeNil() ? .nan : try c.decode(Float.self)
    }
}

/// PAIR's layer_id, word_id, neuron_id and normalize, as its params block records them (-1 where they do not apply).
public struct PairTarget: Sendable {
    public let layer: Int, word: Int, neuron: Int
    public let normalize: Bool?
    public init(layer: Int, word: Int, neuron: Int, normalize: Bool?) { self.layer = layer; self.word = word; self.neuron = neuron; self.normalize = normalize }
    public static let none = PairTarget(layer: -1, word: -1, neuron: -1, normalize: nil)
}

/// PAIR's params block (output_helper.get_params), plus what PAIR's flags cannot say (sentence2 when given).
public struct PairParams: Codable, Sendable {
    public let layerId: Int, wordId: Int, neuronId: Int
    public let normalize: Bool?
    public let dreamStart: Int, dreamEnd: Int, numIterations: Int
    public let gumbel: Bool
    public let warmup: Int?
    public let startTemp: JSONFloat?, endTemp: JSONFloat?, anneal: JSONFloat?
    public let learningRate: JSONFloat
    public let sentence: String
    public let sentence2: String?
    public let tokens: [String]
    public let modelConfig: String
    public let metricsFrequency: Int

    enum CodingKeys: String, CodingKey {
        case normalize, gumbel, warmup, anneal, sentence, sentence2, tokens
        case layerId = "layer_id", wordId = "word_id", neuronId = "neuron_id", dreamStart = "dream_start", dreamEnd = "dream_end"
        case numIterations = "num_iterations", startTemp = "start_temp", endTemp = "end_temp", learningRate = "learning_rate"
        case modelConfig = "model_config", metricsFrequency = "metrics_frequency"
    }
}

/// One metrics record, as output_helper.get_metrics writes it (ids_pll is Dreamlab's, with fluency).
public struct PairIteration: Codable, Sendable {
    public let number: Int
    public let tokens: [String]
    public let temperature: JSONFloat
    public let maxValues: [JSONFloat]
    public let activation: JSONFloat
    public let idsActivation: JSONFloat
    public let idsPll: JSONFloat?
    enum CodingKeys: String, CodingKey {
        case number, tokens, temperature, activation
        case maxValues = "max_values", idsActivation = "ids_activation", idsPll = "ids_pll"
    }
}

/// One top-k record of one position, as output_helper.get_top_ks writes it.
public struct PairTopK: Codable, Sendable {
    public let number: Int
    public let indices: [Int]
    public let tokens: [String]
    public let scores: [JSONFloat]
    public let activation: JSONFloat
}

/// A discrete input with its exact scores: a dream's best, a sweep unit's best.
public struct InputRecord: Codable, Sendable {
    public let ids: [Int]
    public let tokens: [String]
    public let text: String
    public let activation: JSONFloat
    public let step: Int
    public let pll: JSONFloat?
    public let score: JSONFloat?
}

/// results.json: PAIR's layout (output_helper.write_results), with Dreamlab's own fields under "dreamlab".
public struct PairResultsFile: Codable, Sendable {
    public struct Iterations: Codable, Sendable { public let iterations: [PairIteration] }
    public struct Timings: Codable, Sendable {
        public let seconds: Double, stepsPerSecond: Double, inputsScored: Int
        enum CodingKeys: String, CodingKey { case seconds, stepsPerSecond = "steps_per_second", inputsScored = "inputs_scored" }
    }
    public struct Fluency: Codable, Sendable { public let lambda: JSONFloat; public let model: String }
    public struct Run: Codable, Sendable {
        public let seed: UInt64
        public let finalIds: [Int]
        public let finalActivation: JSONFloat, finalIdsActivation: JSONFloat
        public let iterations: [PairIteration]
        public let best: InputRecord?
        enum CodingKeys: String, CodingKey {
            case seed, iterations, best
            case finalIds = "final_ids", finalActivation = "final_activation", finalIdsActivation = "final_ids_activation"
        }
    }
    public struct Dreamlab: Codable, Sendable {
        public let objective: String, model: String
        public let seed: UInt64, restarts: Int
        public let method: String, relaxation: String, schedule: String
        public let topk: Int, stepsDone: Int
        public let stopped: Bool, interrupted: Bool
        public let timings: Timings
        public let bestRun: Int
        public let best: InputRecord?
        public let fluency: Fluency?
        public let runs: [Run]
        /// The best run's cheap numbers at every step (the iterations above are every metrics_frequency).
        public let curve: [CurvePoint]?
        public let topkEvery: Int?
        /// "bf16" for the opt-in bf16 mode; absent (fp32) in files written before it existed.
        public let precision: String?
        enum CodingKeys: String, CodingKey {
            case objective, model, seed, restarts, method, relaxation, schedule, topk, stopped, interrupted, timings, best, fluency, runs, curve
            case stepsDone = "steps_done", bestRun = "best_run", topkEvery = "topk_every", precision
        }
    }
    public let params: PairParams
    public let results: Iterations
    public let type: String
    public let dreamlab: Dreamlab?
}

/// top_k<pos>.json: one position's top-k records (output_helper.write_top_ks).
public struct PairTopKFile: Codable, Sendable {
    public let iterations: [PairTopK]
    public let wordId: Int
    public let params: PairParams
    public let type: String
    enum CodingKeys: String, CodingKey { case iterations, params, type, wordId = "word_id" }
}

extension DreamRecord {
    var pair: PairIteration {
        PairIteration(number: number, tokens: tokens, temperature: JSONFloat(temperature), maxValues: maxValues.map(JSONFloat.init),
                      activation: JSONFloat(activation), idsActivation: JSONFloat(idsActivation), idsPll: idsPLL.map(JSONFloat.init))
    }
}
extension TopKRecord {
    var pair: PairTopK {
        PairTopK(number: number, indices: indices, tokens: tokens, scores: scores.map(JSONFloat.init), activation: JSONFloat(activation))
    }
}
extension DiscreteInput {
    public var record: InputRecord {
        InputRecord(ids: ids, tokens: tokens, text: text, activation: JSONFloat(activation), step: step, pll: pll.map(JSONFloat.init),
                    score: pll == nil ? nil : JSONFloat(score))
    }
}

extension DreamResult {
    /// PAIR's params block for this dream.
    public var params: PairParams {
        let t = pairTarget
        var warmup: Int? = nil, start: JSONFloat? = nil, stop: JSONFloat? = nil, rate: JSONFloat? = nil
        if case .anneal(let a, let b, let r, let w) = options.effectiveSchedule {
            warmup = w; start = JSONFloat(a); stop = JSONFloat(b); rate = JSONFloat(r)
        }
        return PairParams(layerId: t.layer, wordId: t.word, neuronId: t.neuron, normalize: t.normalize, dreamStart: first, dreamEnd: last,
                          numIterations: options.steps, gumbel: options.mode.usesGumbelNoise, warmup: warmup, startTemp: start, endTemp: stop,
                          anneal: rate, learningRate: JSONFloat(options.lr), sentence: sentence, sentence2: sentence2, tokens: startTokens,
                          modelConfig: (modelPath as NSString).lastPathComponent, metricsFrequency: options.every)
    }

    /// results.json as written.
    public var resultsFile: PairResultsFile {
        let main = runs[bestRunIndex]
        let ours = PairResultsFile.Dreamlab(
            objective: objective, model: modelPath, seed: options.seed, restarts: options.restarts, method: options.method.rawValue,
            relaxation: options.mode.rawValue, schedule: options.effectiveSchedule.description, topk: options.topk, stepsDone: stepsDone,
            stopped: stopped, interrupted: interrupted,
            timings: .init(seconds: seconds, stepsPerSecond: stepsPerSecond, inputsScored: scored), bestRun: bestRunIndex,
            best: best?.record, fluency: options.fluency.map { .init(lambda: JSONFloat($0.lambda), model: $0.model.directory) },
            runs: runs.map { r in
                .init(seed: r.seed, finalIds: r.finalIds, finalActivation: JSONFloat(r.finalActivation), finalIdsActivation: JSONFloat(r.finalIdsActivation),
                      iterations: r.iterations.map(\.pair), best: r.best?.record)
            }, curve: main.curve, topkEvery: options.topkEvery, precision: precision.rawValue)
        return PairResultsFile(params: params, results: .init(iterations: main.iterations.map(\.pair)), type: "dream", dreamlab: ours)
    }

    /// Writes results.json and top_k<pos>.json in the layout of PAIR's text-dream output_helper, so existing viewers
    /// read them, with Dreamlab's own fields under "dreamlab". Each file is written atomically; `writeTopK` false
    /// (PAIR's --nowrite_top_k) writes results.json alone.
    /// results.json is written last: a folder that has it is whole.
    public func save(to dir: String, writeTopK: Bool = true) throws {
        guard !dir.isEmpty else { throw DreamlabError.invalidArgument("the output folder is empty; give a folder name such as \"out/dream1\"") }
        if writeTopK { try saveTopK(to: dir) }
        try writeCodable(resultsFile, to: dir + "/results.json", pretty: false)
    }

    /// top_k<pos>.json for every dreamed position, PAIR's write_top_ks.
    public func saveTopK(to dir: String) throws {
        let params = params
        for (i, recs) in runs[bestRunIndex].topK.enumerated() {
            let pos = positions[i]
            try writeCodable(PairTopKFile(iterations: recs.map(\.pair), wordId: pos, params: params, type: "top_words"),
                             to: dir + "/top_k\(pos).json", pretty: false)
        }
    }
}

/// Writes a Codable result file atomically, keys sorted (pretty-printed unless the file is large and machine-read).
public func writeCodable<T: Encodable>(_ value: T, to path: String, pretty: Bool = true) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
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
    /// Ctrl-C stopped the pass: the top passages are those of the lines read so far.
    public var interrupted = false

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

    public init(site: String, unit: Int, passages: Int, tops: [Top], interrupted: Bool = false) {
        self.site = site; self.unit = unit; self.passages = passages; self.tops = tops; self.interrupted = interrupted
    }
}
