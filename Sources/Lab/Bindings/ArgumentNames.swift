import CLua
import Objectives

/// The named arguments of every lab function that takes a table: read by the bindings (unknown names are errors
/// with "did you mean") and by the prompt's completion inside f{...}.
let dreamArgNames = ["model", "sentence", "sentence2", "first", "last", "objective", "steps",
                     "lr", "temperature", "gumbel", "hard", "relaxation", "seed", "topk",
                     "every", "topk_every", "on_step", "restarts", "method", "init_noise", "quiet",
                     "candidates", "k", "k_max", "honest", "population", "explore", "neighbors", "surrogate", "screen", "fluency", "fluency_model",
                     "spans", "start"]
let gradientArgNames = ["model", "sentence", "sentence2", "first", "last", "objective", "temperature", "gumbel", "hard", "relaxation", "seed"]
let searchArgNames = ["model", "sentence", "sentence2", "position", "objective", "objectives", "topk", "batch", "quiet", "limit"]
let corpusArgNames = ["model", "file", "objective", "unit", "topk", "batch", "max_tokens", "quiet"]
let sweepArgNames = dreamArgNames.filter { $0 != "on_step" && $0 != "spans" } + ["units", "from", "to", "out", "batch", "shard"]
let fluencySweepArgNames = dreamArgNames + ["lambdas", "out"]
let loadArgNames = ["path", "precision"]
let probeArgNames = ["x", "y", "dir", "concept1", "concept2", "layer", "epochs", "lr", "C", "val_split", "seed"]

let keywordArguments: [String: [String]] = {
    var d = ["lab.dream": dreamArgNames, "lab.gradient": gradientArgNames, "lab.search": searchArgNames, "lab.corpus": corpusArgNames,
             "lab.sweep": sweepArgNames, "lab.fluency_sweep": fluencySweepArgNames, "lab.probe": probeArgNames, "lab.load": loadArgNames,
             "lab.schedules.anneal": ["start", "stop", "rate", "warmup"], "lab.schedules.linear": ["start", "stop", "steps"],
             "lab.schedules.cosine": ["start", "stop", "steps"], "lab.plugin": ["instructions", "memory", "seconds"]]
    for k in objectiveKinds { d["lab.objectives." + k.name] = k.arguments + ["model"] }
    return d
}()

/// lab.__arguments[function name] = {names...}, for completion.
func pushKeywordArguments(_ L: OpaquePointer) {
    lua_createtable(L, 0, Int32(keywordArguments.count))
    for (name, args) in keywordArguments { pushStrings(L, args.sorted()); lua_setfield(L, -2, name) }
}
