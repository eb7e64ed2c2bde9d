import Engine
import Foundation
import Objectives

/// Flag groups several subcommands share, so the same flag means the same thing everywhere.
enum SharedFlags {
    static let model: [Flag] = [
        .string("model", "", "model directory or Hugging Face cache name (default: all-MiniLM-L6-v2, or $LAB_MODEL)"),
        .string("model_config", "", "PAIR's name for --model (PAIR's default bert-base-uncased applies only when given)"),
        .bool("quiet", false, "no progress line"),
        precision,
    ]

    /// --precision, in every command that loads a model (dreamlab bench too).
    static let precision: Flag = .string("precision", "fp32", "fp32 (exact, the default) or bf16 (weights and products in bf16 with fp32 sums: faster, about 3 significant digits)")

    /// PAIR's activation_helper target: layer, word and neuron of hook_resid_post.
    static let neuron: [Flag] = [
        .int("layer_id", 5, "layer to optimize activation for (0-based; hook_resid_post)"),
        .int("word_id", 2, "word to optimize activation for (-1: mean over words)"),
        .int("neuron_id", 414, "neuron to optimize activation for (-1: mean over units); 414 is a bert-base unit"),
        .bool("normalize", true, "divide by the norm of the word's activations over all layers, as PAIR does"),
    ]

    /// PAIR's annealed relaxation: every dreaming script takes these with these defaults.
    static let anneal: [Flag] = [
        .int("warmup", 200, "steps before the temperature anneals"),
        .float("start_temp", "2.0", "start temperature of the softmax"),
        .float("end_temp", "0.1", "end temperature of the softmax"),
        .float("anneal", "0.9995", "annealing factor for the temperature"),
        .float("learning_rate", "0.1", "learning rate of Adam"),
        .bool("gumbel", false, "Gumbel noise with the softmax"),
    ]

    /// PAIR's dream.py flags, then Dreamlab's (method, restarts, seed, fluency, discrete knobs).
    static let dream: [Flag] = [
        .string("sentence", "i hate kickshaws", "the sentence to start with"),
        .string("sentence2", "", "an optional second sentence"),
        .int("dream_start", 1, "first position to dream (0-based)"),
        .int("dream_end", 0, "last position to dream (0: the token before the final [SEP])"),
        .int("num_iterations", 3000, "number of optimization steps"),
    ] + anneal + [
        .int("k", 10, "top-ranked words stored per record"),
        .int("metrics_frequency", 250, "steps between records in results.json"),
        .int("top_k_frequency", 1, "steps between records in the top_k files (1: every iteration, as PAIR writes them; larger thins them)"),
        .refused("embedding_analysis", "0", "PAIR's embedding analysis (nearest real tokens every N steps) is not implemented in Dreamlab; leave it at 0 and read the top-k files, or use dreamlab search"),
        .string("method", "relaxed", "relaxed (PAIR's), hybrid (Gumbel, ends on real tokens) or discrete (exact token swaps)"),
        .int("restarts", 1, "seeds run together in one batched pass (discrete: its population, default 8)"),
        .int("seed", 1, "random seed (Gumbel noise, restarts, discrete proposals)"),
        .string("fluency", "", "weight λ of the span's pseudo-log-likelihood (needs an MLM head; not PAIR's)"),
        .string("fluency_model", "", "the BERT with an MLM head that scores fluency (default: the dreamed model)"),
        .int("population", 0, "discrete: population size (0 or unset: 8, or --restarts when > 1)"),
        .int("candidates", 128, "discrete: swaps scored exactly per step"),
        .bool("honest", false, "discrete: keep only inputs that survive decode and re-encode"),
        .int("screen", 1024, "discrete: swaps estimated with the rest of the input frozen per step without a gain, when the unit reads one dreamed position (0: none)"),
    ]

    /// --model / --model_config: the model, or an error naming where it looked.
    static func model(_ f: ParsedFlags) throws -> BertModel {
        for k in ["model", "model_config"] where f.given(k) && f.string(k).isEmpty { throw CLIError("--\(k) needs a model directory or name") }
        let a = f.optional("model"), b = f.optional("model_config")
        if let a, let b, a != b { throw CLIError("--model \(a) and --model_config \(b) name different models; give one") }
        return try loadModel(a ?? b, precision: try precision(f))
    }

    /// --precision fp32|bf16.
    static func precision(_ f: ParsedFlags) throws -> Precision {
        do { return try Precision.parse(f.string("precision")) } catch { throw CLIError("--\(error)") }
    }

    /// PAIR's neuron objective from --layer_id, --word_id, --neuron_id, --normalize, with PAIR's ranges checked.
    static func neuronObjective(_ f: ParsedFlags, model: BertModel, T: Int, unit: Int? = nil) throws -> PairActivation {
        let c = model.config
        let layer = f.int("layer_id"), word = f.int("word_id"), unit = unit ?? f.int("neuron_id")
        guard layer >= 0 && layer < c.numLayers else {
            throw CLIError("--layer_id \(layer) is outside 0...\(c.numLayers - 1) (this model has \(c.numLayers) layers)")
        }
        guard unit == -1 || (unit >= 0 && unit < c.hiddenSize) else {
            if !f.command.flags.contains(where: { $0.name == "neuron_id" }) {
                throw CLIError("unit \(unit) of --units is outside 0...\(c.hiddenSize - 1) (this model's hidden size is \(c.hiddenSize))")
            }
            throw CLIError("--neuron_id \(unit) is outside 0...\(c.hiddenSize - 1): this model's hidden size is \(c.hiddenSize) (PAIR's default 414 belongs to bert-base, hidden size 768); pass --neuron_id with a unit in range, e.g. --neuron_id 300")
        }
        guard word == -1 || (word >= 0 && word < T) else {
            throw CLIError("--word_id \(word) is outside 0...\(T - 1) for this \(T)-token input (-1: mean over words)")
        }
        return PairActivation(layer: layer, word: word == -1 ? nil : word, unit: unit == -1 ? nil : unit, normalize: f.bool("normalize"),
                              numLayers: c.numLayers)
    }

    /// The core's DreamOptions from the dream flags: the same value lab.dream builds from its table.
    static func dreamOptions(_ f: ParsedFlags, model: BertModel) throws -> DreamOptions {
        var o = DreamOptions(first: f.int("dream_start"), last: f.int("dream_end") == 0 ? nil : f.int("dream_end"))
        o.sentence = f.string("sentence")
        o.sentence2 = f.optional("sentence2")
        guard let method = DreamMethod(rawValue: f.string("method")) else {
            throw CLIError("--method must be relaxed (PAIR's), hybrid or discrete; got \"\(f.string("method"))\"")
        }
        o.method = method
        // A flag the chosen method does not use is an error, never silently dropped.
        let discreteOnly = ["population", "candidates", "honest", "screen"].filter(f.given)
        if method != .discrete, let flag = discreteOnly.first { throw CLIError("--\(flag) applies to --method discrete only") }
        let softOnly = ["gumbel", "learning_rate", "start_temp", "end_temp", "anneal", "warmup"].filter(f.given)
        if method == .discrete, let flag = softOnly.first {
            throw CLIError("--\(flag) does nothing with --method discrete, which swaps real tokens (no softmax, no Adam); drop it")
        }
        if method == .hybrid && f.given("gumbel") { throw CLIError("--method hybrid always adds Gumbel noise to the logits; drop --gumbel") }
        if method == .discrete && f.given("restarts") && f.given("population") && f.int("restarts") != f.int("population") {
            throw CLIError("--restarts \(f.int("restarts")) and --population \(f.int("population")) both size the discrete population; give one")
        }
        o.steps = f.int("num_iterations")
        o.lr = f.float("learning_rate")
        // Hybrid has its own default schedule; PAIR's flags replace it only when given.
        let scheduleGiven = ["start_temp", "end_temp", "anneal", "warmup"].contains(where: f.given)
        if method != .hybrid || scheduleGiven {
            o.schedule = .anneal(start: f.float("start_temp"), stop: f.float("end_temp"), rate: f.float("anneal"), warmup: f.int("warmup"))
        }
        o.mode = f.bool("gumbel") ? .gumbel : .softmax
        o.topk = f.int("k")
        o.every = f.int("metrics_frequency")
        o.topkEvery = f.int("top_k_frequency")
        guard f.int("seed") >= 0 else { throw CLIError("--seed must be >= 0, got \(f.int("seed"))") }
        o.seed = UInt64(f.int("seed"))
        o.restarts = f.int("restarts")
        o.discrete.population = f.int("population") == 0 ? nil : f.int("population")
        o.discrete.candidates = f.int("candidates")
        o.discrete.honest = f.bool("honest")
        o.discrete.screen = f.int("screen")
        if let spec = f.optional("fluency") {
            guard let lambda = Float(spec), lambda >= 0, lambda.isFinite else {
                throw CLIError("--fluency takes a finite number >= 0 (the weight λ of the span's pseudo-log-likelihood), got \"\(spec)\"")
            }
            o.fluency = FluencyTerm(model: try f.optional("fluency_model").map { try loadModel($0) } ?? model, lambda: lambda)
        } else if f.given("fluency_model") {
            throw CLIError("--fluency_model has no effect without --fluency λ (e.g. --fluency 0.05)")
        }
        return o
    }
}
