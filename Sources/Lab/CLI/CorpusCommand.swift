import Engine
import Foundation

/// `dreamlab corpus`: the passages of a text file that excite one unit most.
let corpusCommand = Subcommand(
    name: "corpus", brief: "the passages of a text file that excite one unit most",
    summary: "The top passages of a text file (one per line) for one unit of one site: the unit's dataset examples.",
    usage: "--file F --layer_id L --neuron_id U [flags]",
    flags: [.string("file", "", "text file, one passage per line (required)"),
            .int("layer_id", 5, "layer of the unit (hook_resid_post unless --site)"),
            .int("neuron_id", 414, "the unit; 414 is a bert-base unit, so pass one in range"),
            .string("site", "", "any activation site instead, e.g. blocks.3.mlp.hook_post"),
            .int("top_k", 10, "passages to keep"),
            .int("batch", 32, "passages per forward pass"),
            .int("max_tokens", 128, "passages are cut to this many tokens"),
            .string("output", "", "also write the top passages to this JSON file")]
        + SharedFlags.model
) { f in
    guard let file = f.optional("file") else { throw CLIError("--file is required (a text file, one passage per line)") }
    let m = try SharedFlags.model(f)
    let site = try Site.parse(f.optional("site") ?? "blocks.\(f.int("layer_id")).hook_resid_post", config: m.config, hasMLM: m.hasMLM)
    let unit = f.int("neuron_id")
    let shape = site.shape(T: 1, config: m.config)
    if shape.count == 2, !(0..<shape[1]).contains(unit) { throw CLIError("--neuron_id \(unit) is outside 0...\(shape[1] - 1) for \(site)") }
    var o = CorpusOptions()
    o.file = file
    o.topk = f.int("top_k")
    o.batch = f.int("batch")
    o.maxTokens = f.int("max_tokens")
    let progress = Progress(total: 100, label: "corpus % of file", quiet: f.bool("quiet"))
    o.onProgress = { n, frac in progress.update(step: Int(frac * 100), tokens: ["\(n) passages scored"]) }
    defer { progress.finish() }
    let r = try NativeWork.run { try corpusTopK(model: m, score: .unit(site: site, unit: unit), options: o) }
    print(String(format: "%d passages in %.1f s%@", r.passages, r.seconds, r.interrupted ? " (interrupted)" : ""))
    for h in r.hits { print(String(format: "%9.4f  %@", Double(h.activation), h.text)) }
    if let out = f.optional("output") {
        try writeCodable(CorpusFile(site: "\(site)", unit: unit, passages: r.passages,
                                    tops: r.hits.map { .init(text: $0.text, activation: finiteDouble($0.activation), tokens: $0.tokens,
                                                             activations: $0.activations.map(finiteDouble), line: $0.line) },
                                    interrupted: r.interrupted), to: out)
        print("wrote \(out)")
    }
    return r.interrupted ? 130 : 0   // Ctrl-C: what was found is printed and saved, marked interrupted
}
