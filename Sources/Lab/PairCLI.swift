import Engine
import Foundation
import Objectives

/// PAIR's text-dream flags (absl style: --flag=value, --flag value, --flag / --noflag for booleans).
struct PairFlags {
    var values: [String: String] = [:]
    var extra: [String: String] = [:]
    static let known: [String: String] = [
        "sentence": "i hate kickshaws", "sentence2": "", "output_dir": "", "model_config": "bert-base-uncased", "model": "",
        "num_iterations": "3000", "layer_id": "5", "word_id": "2", "neuron_id": "414", "dream_start": "1", "dream_end": "0",
        "warmup": "200", "start_temp": "2.0", "end_temp": "0.1", "anneal": "0.9995", "learning_rate": "0.1",
        "normalize": "true", "gumbel": "false", "write_top_k": "true", "k": "10", "embedding_analysis": "0",
        "metrics_frequency": "250", "seed": "1", "restarts": "1", "quiet": "false",
    ]
    static let booleans: Set<String> = ["normalize", "gumbel", "write_top_k", "quiet"]

    init(_ args: [String], command: String, extra: [String: String] = [:]) throws {
        self.extra = extra
        var i = 0
        while i < args.count {
            let a = args[i]
            guard a.hasPrefix("--") else { throw DreamlabError.invalidArgument("dreamlab \(command): unexpected argument \(a); flags look like --layer_id=5") }
            var name = String(a.dropFirst(2)), value: String? = nil
            if let eq = name.firstIndex(of: "=") { value = String(name[name.index(after: eq)...]); name = String(name[..<eq]) }
            if value == nil && name.hasPrefix("no") && Self.booleans.contains(String(name.dropFirst(2))) { name = String(name.dropFirst(2)); value = "false" }
            guard Self.known[name] != nil || extra[name] != nil else {
                throw DreamlabError.invalidArgument("dreamlab \(command): unknown flag --\(name); known flags: \((Array(Self.known.keys) + Array(extra.keys)).sorted().map { "--" + $0 }.joined(separator: " "))")
            }
            if value == nil {
                if Self.booleans.contains(name) && (i + 1 >= args.count || args[i + 1].hasPrefix("--") || !["true", "false", "1", "0"].contains(args[i + 1].lowercased())) { value = "true" }
                else {
                    guard i + 1 < args.count else { throw DreamlabError.invalidArgument("dreamlab \(command): --\(name) needs a value") }
                    i += 1; value = args[i]
                }
            }
            values[name] = value
            i += 1
        }
    }

    func string(_ k: String) -> String { values[k] ?? extra[k] ?? Self.known[k]! }
    func int(_ k: String) throws -> Int {
        guard let v = Int(string(k)) else { throw DreamlabError.invalidArgument("--\(k) must be an integer, got \(string(k))") }
        return v
    }
    func float(_ k: String) throws -> Float {
        guard let v = Float(string(k)) else { throw DreamlabError.invalidArgument("--\(k) must be a number, got \(string(k))") }
        return v
    }
    func bool(_ k: String) -> Bool { ["true", "1", "yes"].contains(string(k).lowercased()) }
}

/// PAIR's folder_helper.make_timestamp_directory: <prefix><YYYY-MM-DD_HH:MM:SS.ffffff>.
func timestampDirectory(_ base: String, prefix: String) -> String {
    let now = Date()
    var tv = timeval(); gettimeofday(&tv, nil)
    let f = DateFormatter(); f.dateFormat = "yyyy-MM-dd_HH:mm:ss"; f.timeZone = .current
    return base + "/" + prefix + f.string(from: now) + String(format: ".%06d", Int(tv.tv_usec))
}

/// `dreamlab dream`: PAIR's dream.py, with its flags and defaults, writing its files.
func runPairDream(_ args: [String]) -> Int32 {
    do {
        let f = try PairFlags(args, command: "dream", extra: ["fluency": "", "fluency_model": ""])
        let outDir = f.string("output_dir")
        guard !outDir.isEmpty else { throw DreamlabError.invalidArgument("dreamlab dream: --output_dir is required (PAIR's flag), e.g. --output_dir out") }
        let model = try loadModel(f.string("model").isEmpty ? nil : f.string("model"))
        let c = model.config
        let s2 = f.string("sentence2")
        let enc = model.tokenizer.encode(f.string("sentence"), s2.isEmpty ? nil : s2)
        let layer = try f.int("layer_id"), word = try f.int("word_id"), unit = try f.int("neuron_id")
        guard layer >= 0 && layer < c.numLayers else {
            throw DreamlabError.outOfRange("--layer_id \(layer) is outside 0...\(c.numLayers - 1) (this model has \(c.numLayers) layers)")
        }
        guard unit == -1 || (unit >= 0 && unit < c.hiddenSize) else {
            throw DreamlabError.outOfRange("--neuron_id \(unit) is outside 0...\(c.hiddenSize - 1): this model's hidden size is \(c.hiddenSize) (PAIR's default 414 belongs to bert-base, hidden size 768); pass --neuron_id with a unit in range, e.g. --neuron_id 300")
        }
        guard word == -1 || (word >= 0 && word < enc.ids.count) else {
            throw DreamlabError.outOfRange("--word_id \(word) is outside 0...\(enc.ids.count - 1) for \(enc.ids.map { model.tokenizer.idToToken[$0] }.joined(separator: " "))")
        }
        var dreamEnd = try f.int("dream_end")
        if dreamEnd == 0 { dreamEnd = enc.ids.count - 2 }
        var o = DreamOptions(first: try f.int("dream_start"), last: dreamEnd)
        o.steps = try f.int("num_iterations")
        o.lr = try f.float("learning_rate")
        o.schedule = .anneal(start: try f.float("start_temp"), stop: try f.float("end_temp"), rate: try f.float("anneal"), warmup: try f.int("warmup"))
        o.mode = f.bool("gumbel") ? .gumbel : .softmax
        o.topk = try f.int("k")
        o.every = try f.int("metrics_frequency")
        o.seed = UInt64(max(0, try f.int("seed")))
        o.restarts = try f.int("restarts")
        if !f.string("fluency").isEmpty {
            // Not PAIR's: activation + λ·PLL of the span under an MLM model (--fluency_model, else this model).
            guard let lambda = Float(f.string("fluency")), lambda >= 0, lambda.isFinite else {
                throw DreamlabError.invalidArgument("dreamlab dream: --fluency takes a number >= 0 (the weight λ of the span's pseudo-log-likelihood)")
            }
            let fm = f.string("fluency_model").isEmpty ? model : try loadModel(f.string("fluency_model"))
            o.fluency = FluencyTerm(model: fm, lambda: lambda)
        } else if !f.string("fluency_model").isEmpty {
            throw DreamlabError.invalidArgument("dreamlab dream: --fluency_model has no effect without --fluency λ (e.g. --fluency 0.05)")
        }
        let objective = PairActivation(layer: layer, word: word == -1 ? nil : word, unit: unit == -1 ? nil : unit,
                                       normalize: f.bool("normalize"), numLayers: c.numLayers)
        let progress = Progress(total: o.steps, label: "dream", quiet: f.bool("quiet"))
        o.onStep = { p in
            progress.update(step: p.step, temperature: p.temperature, activation: p.activation, best: p.bestActivation, tokens: p.tokens)
            return true
        }
        nativeWorkRunning = true
        let result = try dream(model: model, sentence: f.string("sentence"), sentence2: s2.isEmpty ? nil : s2, objective: objective, options: o)
        nativeWorkRunning = false
        progress.finish()
        let dir = timestampDirectory(outDir, prefix: "dream")
        var fields: [String: Any] = ["layer_id": layer, "word_id": word, "neuron_id": unit, "normalize": f.bool("normalize")]
        fields["model_config"] = (model.directory as NSString).lastPathComponent
        try result.save(to: dir, tokens: enc.ids.map { model.tokenizer.idToToken[$0] }, pairFields: fields)
        let tok = model.tokenizer
        let run = result.runs[result.bestRunIndex]
        print("dream \(objective): \(result.stepsDone) steps in \(String(format: "%.1f", result.seconds)) s (\(String(format: "%.1f", result.stepsPerSecond)) steps/s)\(result.interrupted ? ", interrupted" : "")")
        print("final: \(tok.decode(run.finalIds))  activation \(run.finalActivation)  ids_activation \(run.finalIdsActivation)")
        if let b = result.best { print("best:  \(b.text)  ids_activation \(b.activation) (step \(b.step))\(b.pll.map { "  pll \($0)  score \(b.score)" } ?? "")") }
        print("wrote \(dir)/results.json and top_k*.json")
        return 0
    } catch {
        FileHandle.standardError.write(Data("dreamlab dream: \(error)\n".utf8))
        return 2
    }
}
