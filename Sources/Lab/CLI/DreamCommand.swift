import Engine
import Foundation
import Objectives

/// `dreamlab dream`: PAIR's dream.py, with its flags and defaults, writing its files.
let dreamCommand = Subcommand(
    name: "dream", brief: "PAIR's dream.py: dream an input that lights up one neuron",
    summary: """
    PAIR's dream.py: dream the input positions --dream_start..--dream_end so that --neuron_id of --layer_id at --word_id
    lights up; writes results.json and top_k<pos>.json into a new <output_dir>/dream<timestamp>/ folder.
    """,
    usage: "--output_dir DIR [flags]",
    flags: [.string("output_dir", "", "folder for the results (required, as in PAIR)"),
            .bool("write_top_k", true, "write top_k<pos>.json files")]
        + SharedFlags.dream + SharedFlags.neuron + SharedFlags.model
) { f in
    guard let outDir = f.optional("output_dir") else { throw CLIError("--output_dir is required (PAIR's flag), e.g. --output_dir out") }
    let model = try SharedFlags.model(f)
    var o = try SharedFlags.dreamOptions(f, model: model)
    let T = model.tokenizer.encode(o.sentence, o.sentence2).ids.count
    let objective = try SharedFlags.neuronObjective(f, model: model, T: T)
    let progress = Progress(total: o.steps, label: "dream", quiet: f.bool("quiet"))
    let hasTemperature = o.method != .discrete
    o.onStep = { p in
        progress.update(step: p.step, temperature: hasTemperature ? p.temperature : nil, activation: p.activation, best: p.bestActivation, tokens: p.tokens)
        return true
    }
    defer { progress.finish() }
    let result = try NativeWork.run { try runDream(model: model, objective: objective, options: o) }
    let dir = timestampDirectory(outDir, prefix: "dream")
    try result.save(to: dir, writeTopK: f.bool("write_top_k"))
    let tok = model.tokenizer
    let run = result.runs[result.bestRunIndex]
    print("dream \(objective) (\(o.method.rawValue)): \(result.stepsDone) steps in \(String(format: "%.1f", result.seconds)) s (\(String(format: "%.1f", result.stepsPerSecond)) steps/s)\(result.interrupted ? ", interrupted" : "")")
    print("final: \(tok.decode(run.finalIds))  activation \(run.finalActivation)  ids_activation \(run.finalIdsActivation)")
    if let b = result.best { print("best:  \(b.text)  ids_activation \(b.activation) (step \(b.step))\(b.pll.map { "  pll \($0)  score \(b.score)" } ?? "")") }
    if let note = result.convergenceNote, !result.interrupted { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
    print("wrote \(dir)/results.json\(f.bool("write_top_k") ? " and top_k*.json" : "")")
    return result.interrupted ? 130 : 0   // an interrupted dream saved its partial result, marked "interrupted" in results.json
}

/// PAIR's folder_helper.make_timestamp_directory: <prefix><YYYY-MM-DD_HH:MM:SS.ffffff>.
func timestampDirectory(_ base: String, prefix: String) -> String {
    var tv = timeval(); gettimeofday(&tv, nil)
    let f = DateFormatter(); f.dateFormat = "yyyy-MM-dd_HH:mm:ss"; f.timeZone = .current
    return base + "/" + prefix + f.string(from: Date(timeIntervalSince1970: Double(tv.tv_sec))) + String(format: ".%06d", Int(tv.tv_usec))
}
