import Engine
import Foundation
import Objectives

/// PAIR's reconstruct_activation.py, reconstruct_changed_activation.py and reconstruct_shifted_activation.py: from
/// random logits, dream the span so that a layer's activations (hook_resid_post, every position) come close to a
/// target, by PAIR's mean squared error. The target is the sentence's own activation, with one position's row replaced
/// (changed) or some positions shifted along a direction (shifted). Records carry PAIR's loss and ids_loss.
enum ReconstructKind: String { case plain = "reconstruct", changed = "reconstruct_changed", shifted = "reconstruct_shifted" }

func reconstructFlags(_ kind: ReconstructKind) -> [Flag] {
    var flags: [Flag] = [
        .string("output_dir", "", "folder for the results (required, as in PAIR)"),
        .string("sentence", "i hate kickshaws", "the sentence whose activation is the target"),
        .string("sentence2", "", "an optional second sentence"),
        .int("num_iterations", kind == .plain ? 10000 : 10, "number of optimization steps (PAIR's default)"),
        .int("layer_id", 5, "the layer whose activations (hook_resid_post) are reconstructed"),
        .int("dream_start", 1, "first dreamed position (0-based)"),
        .int("dream_end", 0, "last dreamed position (0: the token before the final [SEP])"),
    ] + SharedFlags.anneal + [
        .bool("write_top_k", false, "write top_k<pos>.json files (PAIR's default: no)"),
        .int("k", 10, "top-ranked words stored per record"),
        .int("metrics_frequency", kind == .plain ? 1000 : 250, "steps between records in results.json"),
        .int("seed", 1, "seed of the random starting logits"),
    ]
    switch kind {
    case .plain: break
    case .changed:
        flags += [.string("change_activation_dir", "", "a folder with one sub-folder per layer (export-activations' layout; required)"),
                  .string("change_activation_file", "", "the .npy file in <dir>/<layer_id>/ whose vector replaces a row (required)"),
                  .int("change_id", 1, "the position whose target row is replaced")]
    case .shifted:
        flags += [.string("shift_vector", "", "a .npy direction, or a folder with <layer_id>/final_weights.np[y] or weights.npy (dreamlab probe's; required)"),
                  .int("shift_start", 1, "first position whose target is shifted"), .int("shift_end", 1, "last position whose target is shifted"),
                  .float("shift_magnitude", "0.1", "the shift: direction / max(direction) * magnitude"),
                  .string("target", "", "a name for what the shift moves toward (PAIR's viewer shows it), e.g. she")]
    }
    return flags + SharedFlags.model
}

func reconstructCommand(_ kind: ReconstructKind, name: String, pairScript: String, what: String) -> Subcommand {
    Subcommand(
        name: name, brief: "PAIR's \(pairScript): \(what)",
        summary: """
        PAIR's \(pairScript): \(what). Starts the dreamed span from seeded random logits (PAIR's torch.randn) and minimises
        the mean squared error between layer --layer_id's activations (every position) and the target; writes results.json
        (type "\(kind.rawValue)", records with loss and ids_loss) into a new <output_dir>/\(kind.rawValue)<timestamp>/ folder.
        In Lua: lab.dream{objective=lab.objectives.reconstruct{site="blocks.L.hook_resid_post", target=t}, start="random"}.
        """,
        usage: "--output_dir DIR [flags]",
        flags: reconstructFlags(kind)
    ) { f in try runReconstruct(kind, f) }
}

let reconstructActivationCommand = reconstructCommand(.plain, name: "reconstruct", pairScript: "reconstruct_activation.py",
                                                      what: "dream an input whose activations reconstruct a sentence's")
let reconstructChangedCommand = reconstructCommand(.changed, name: "reconstruct-changed", pairScript: "reconstruct_changed_activation.py",
                                                   what: "reconstruct a sentence's activations with one position's row replaced")
let reconstructShiftedCommand = reconstructCommand(.shifted, name: "reconstruct-shifted", pairScript: "reconstruct_shifted_activation.py",
                                                   what: "reconstruct a sentence's activations shifted along a concept direction")

func runReconstruct(_ kind: ReconstructKind, _ f: ParsedFlags) throws -> Int32 {
    guard let outDir = f.optional("output_dir") else { throw CLIError("--output_dir is required (PAIR's flag), e.g. --output_dir out") }
    let m = try SharedFlags.model(f)
    let layer = f.int("layer_id"), H = m.config.hiddenSize
    guard layer >= 0 && layer < m.config.numLayers else { throw CLIError("--layer_id \(layer) is outside 0...\(m.config.numLayers - 1)") }
    let enc = m.tokenizer.encode(f.string("sentence"), f.optional("sentence2"))
    let site = Site(.residPost, layer: layer)
    var target = try m.run(ids: enc.ids, typeIds: enc.typeIds, withMLM: false).site(site)
    switch kind {
    case .plain: break
    case .changed:
        guard let dir = f.optional("change_activation_dir"), let file = f.optional("change_activation_file") else {
            throw CLIError("--change_activation_dir and --change_activation_file are required (e.g. from dreamlab export-activations)")
        }
        let row = try NPY.read("\(dir)/\(layer)/\(file)")
        guard row.count == H else { throw CLIError("\(dir)/\(layer)/\(file) holds \(row.count) values; a row of this model has \(H)") }
        let c = f.int("change_id")
        guard c >= 0 && c < enc.ids.count else { throw CLIError("--change_id \(c) is outside 0...\(enc.ids.count - 1)") }
        for h in 0..<H { target.data[c * H + h] = row.data[h] }
    case .shifted:
        guard let spec = f.optional("shift_vector") else { throw CLIError("--shift_vector is required: a .npy direction, e.g. dreamlab probe's weights.npy") }
        var isDir: ObjCBool = false
        var path = spec
        if FileManager.default.fileExists(atPath: spec, isDirectory: &isDir), isDir.boolValue {
            path = ["\(spec)/\(layer)/final_weights.np", "\(spec)/\(layer)/final_weights.npy", "\(spec)/weights.npy"]
                .first { FileManager.default.fileExists(atPath: $0) } ?? "\(spec)/\(layer)/final_weights.np"
        }
        let shift = try NPY.read(path)
        guard shift.count == H else { throw CLIError("\(path) holds \(shift.count) values; a row of this model has \(H)") }
        guard let mx = shift.data.max(), mx != 0, mx.isFinite else { throw CLIError("\(path): the direction's largest value is \(shift.data.max() ?? 0); PAIR divides by it") }
        let a = f.int("shift_start"), b = f.int("shift_end")
        guard a >= 0, b < enc.ids.count, a <= b else { throw CLIError("--shift_start \(a) .. --shift_end \(b) must lie in 0...\(enc.ids.count - 1)") }
        let k = f.float("shift_magnitude") / mx
        for t in a...b { for h in 0..<H { target.data[t * H + h] += shift.data[h] * k } }
    }
    var o = DreamOptions(first: f.int("dream_start"), last: f.int("dream_end") == 0 ? nil : f.int("dream_end"))
    o.sentence = f.string("sentence"); o.sentence2 = f.optional("sentence2")
    o.steps = f.int("num_iterations"); o.lr = f.float("learning_rate"); o.every = f.int("metrics_frequency"); o.topk = f.int("k")
    o.schedule = .anneal(start: f.float("start_temp"), stop: f.float("end_temp"), rate: f.float("anneal"), warmup: f.int("warmup"))
    o.mode = f.bool("gumbel") ? .gumbel : .softmax
    o.start = .random
    guard f.int("seed") >= 0 else { throw CLIError("--seed must be >= 0") }
    o.seed = UInt64(f.int("seed"))
    let objective = GraphBuiltins.reconstruct(site: site, target: target)
    let progress = Progress(total: o.steps, label: kind.rawValue, quiet: f.bool("quiet"))
    o.onStep = { p in progress.update(step: p.step, temperature: p.temperature, activation: -p.activation, tokens: p.tokens); return true }
    defer { progress.finish() }
    let r = try NativeWork.run { try runDream(model: m, objective: objective, options: o) }
    let run = r.runs[r.bestRunIndex]
    var params = try JSONSerialization.jsonObject(with: JSONEncoder().encode(r.params)) as? [String: Any] ?? [:]
    params["tokens"] = enc.ids.map { m.tokenizer.idToToken[$0] }   // the sentence whose activation is the target
    // As PAIR's scripts write them: the whole layer is the target (no word, no neuron), and the edit's own flags.
    params["layer_id"] = layer; params["word_id"] = NSNull(); params["neuron_id"] = NSNull()
    switch kind {
    case .plain: break
    case .changed:
        params["change_id"] = f.int("change_id"); params["change_activation_dir"] = f.string("change_activation_dir")
        params["change_activation_file"] = f.string("change_activation_file")
    case .shifted:
        params["shift_start"] = f.int("shift_start"); params["shift_end"] = f.int("shift_end")
        params["shift_magnitude"] = finiteDouble(f.float("shift_magnitude")) ?? 0; params["shift_vector"] = f.string("shift_vector")
        params["target"] = f.string("target")
    }
    // PAIR's records: loss = mse(activation, target), ids_loss = mse of the argmax input; the dream maximised -loss.
    let dir = try writePairExperiment(r, model: m, type: kind.rawValue, params: params,
                                      names: PairValueNames(value: "loss", idsValue: "ids_loss", best: "ids_loss", sign: -1),
                                      outDir: outDir, writeTopK: f.bool("write_top_k"))
    print("\(kind.rawValue) of layer \(layer): \(r.stepsDone) steps\(r.interrupted ? ", interrupted" : ""); final loss \(-run.finalActivation), ids_loss \(-run.finalIdsActivation)")
    if let b = r.best { print("best:  \(b.text)  ids_loss \(-b.activation) (step \(b.step))") }
    print("wrote \(dir)/results.json")
    return r.interrupted ? 130 : 0
}
