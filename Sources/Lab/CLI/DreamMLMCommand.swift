import Engine
import Foundation
import Objectives

/// `dreamlab dream-mlm`: PAIR's dream_mlm.py. The word at --maximize_word is masked; the words before it
/// (--dream_before_start..end) and after it (--dream_after_start..end) are dreamed so that the MLM head predicts
/// --maximize_id there. Writes PAIR's results.json (type "dream_mlm", prediction / ids_prediction records).
let dreamMLMCommand = Subcommand(
    name: "dream-mlm", brief: "PAIR's dream_mlm.py: dream the words around a masked word so a token is predicted there",
    summary: """
    PAIR's dream_mlm.py: masks --maximize_word and dreams the spans --dream_before_start..--dream_before_end and
    --dream_after_start..--dream_after_end so that the MLM head predicts --maximize_id at the mask (its probability with
    --normalize, PAIR's default; its logit with --nonormalize). Needs a model with an MLM head. Writes results.json
    into a new <output_dir>/dream_mlm<timestamp>/ folder. In Lua: lab.dream{objective=lab.objectives.mlm{word=,
    token=, measure="probability"}, spans={{1, 1}, {3, 5}}} on a sentence with the word masked.
    """,
    usage: "--output_dir DIR [flags]",
    flags: [.string("output_dir", "", "folder for the results (required, as in PAIR)"),
            .string("sentence", "i hate kickshaws", "the sentence to start with"),
            .string("sentence2", "", "an optional second sentence"),
            .int("num_iterations", 1000, "number of optimization steps"),
            .int("maximize_word", 2, "the position that is masked and whose prediction is raised (0-based)"),
            .int("maximize_id", 3124, "the token id whose prediction is raised"),
            .int("dream_before_start", 1, "first dreamed position before the masked word"),
            .int("dream_before_end", 1, "last dreamed position before the masked word"),
            .int("dream_after_start", 3, "first dreamed position after the masked word"),
            .int("dream_after_end", 5, "last dreamed position after the masked word"),
            .bool("normalize", true, "raise the probability (softmax) rather than the logit"),
            .int("metrics_frequency", 250, "steps between records in results.json")] + SharedFlags.anneal + SharedFlags.model
) { f in
    guard let outDir = f.optional("output_dir") else { throw CLIError("--output_dir is required (PAIR's flag), e.g. --output_dir out") }
    let m = try SharedFlags.model(f)
    guard m.hasMLM else {
        throw CLIError("\((m.directory as NSString).lastPathComponent) has no MLM head (cls.predictions.* weights); name one with --model_config, e.g. --model_config bert-base-uncased")
    }
    let id = f.int("maximize_id")
    guard id >= 0 && id < m.config.vocabSize else { throw CLIError("--maximize_id \(id) is outside the vocabulary 0...\(m.config.vocabSize - 1)") }
    let before = f.int("dream_before_start")...max(f.int("dream_before_start"), f.int("dream_before_end"))
    let after = f.int("dream_after_start")...max(f.int("dream_after_start"), f.int("dream_after_end"))
    guard f.int("dream_before_end") >= f.int("dream_before_start"), f.int("dream_after_end") >= f.int("dream_after_start") else {
        throw CLIError("each span needs start <= end (--dream_before_start/--dream_before_end, --dream_after_start/--dream_after_end)")
    }
    var o = DreamOptions()
    o.sentence = f.string("sentence"); o.sentence2 = f.optional("sentence2")
    o.spans = [before, after]; o.masked = [f.int("maximize_word")]
    o.steps = f.int("num_iterations"); o.lr = f.float("learning_rate"); o.every = f.int("metrics_frequency")
    o.schedule = .anneal(start: f.float("start_temp"), stop: f.float("end_temp"), rate: f.float("anneal"), warmup: f.int("warmup"))
    o.mode = f.bool("gumbel") ? .gumbel : .softmax
    let objective = GraphBuiltins.mlm(pos: f.int("maximize_word"), token: id, label: m.tokenizer.idToToken[id], numLayers: m.config.numLayers,
                                      measure: f.bool("normalize") ? .probability : .logit)
    let progress = Progress(total: o.steps, label: "dream-mlm", quiet: f.bool("quiet"))
    o.onStep = { p in progress.update(step: p.step, temperature: p.temperature, activation: p.activation, best: p.bestActivation, tokens: p.tokens); return true }
    defer { progress.finish() }
    let r = try NativeWork.run { try runDream(model: m, objective: objective, options: o) }
    let run = r.runs[r.bestRunIndex]
    let params: [String: Any] = [
        "maximize_word": f.int("maximize_word"), "maximize_id": id, "dream_before_start": before.lowerBound, "dream_before_end": before.upperBound,
        "dream_after_start": after.lowerBound, "dream_after_end": after.upperBound, "num_iterations": o.steps, "gumbel": f.bool("gumbel"),
        "warmup": f.int("warmup"), "start_temp": finiteDouble(f.float("start_temp")) ?? 0, "end_temp": finiteDouble(f.float("end_temp")) ?? 0,
        "anneal": finiteDouble(f.float("anneal")) ?? 0, "learning_rate": finiteDouble(f.float("learning_rate")) ?? 0, "sentence": o.sentence,
        "tokens": r.startTokens, "model_config": (m.directory as NSString).lastPathComponent, "metrics_frequency": o.every,
        "normalize": f.bool("normalize")]
    let dir = try writePairExperiment(r, model: m, type: "dream_mlm", params: params,
                                      names: PairValueNames(value: "prediction", idsValue: "ids_prediction", best: "prediction", sign: 1),
                                      outDir: outDir, extra: ["positions": r.positions])
    let tok = m.tokenizer
    print("dream-mlm \(objective) : \(r.stepsDone) steps\(r.interrupted ? ", interrupted" : "")")
    print("final: \(tok.decode(run.finalIds))  prediction \(run.finalActivation)  ids_prediction \(run.finalIdsActivation)")
    if let b = r.best { print("best:  \(b.text)  ids_prediction \(b.activation) (step \(b.step))") }
    print("wrote \(dir)/results.json")
    return r.interrupted ? 130 : 0
}
