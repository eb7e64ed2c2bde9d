import Engine
import Foundation
import Objectives

/// `dreamlab sweep`: one dream per unit, a JSON line each; `--merge` joins shard files.
let sweepCommand = Subcommand(
    name: "sweep", brief: "one dream per unit, a JSON line each; shards, resume, --merge",
    summary: """
    One dream per unit of --layer_id (every dream flag applies: --method, --restarts, --seed, --gumbel, --fluency, ...),
    appending one JSON line per unit to --out as each batch finishes; rerunning the same command resumes. For a cluster,
    give each task --shard i/n and its own --out, then: dreamlab sweep --merge OUT.jsonl SHARD.jsonl...
    """,
    usage: "--layer_id L --units 0-63 --out F.jsonl [flags]  |  --merge OUT.jsonl IN.jsonl...",
    flags: [.string("units", "0-15", "units to dream: a range 0-63 or a list 1,5,9"),
            .string("out", "", "the .jsonl file (required); rerunning resumes it"),
            .string("shard", "", "i/n: this task's share of the units, every n-th from i (Slurm: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)"),
            .int("batch", 8, "units per shared pass (relaxed and hybrid)"),
            .bool("merge", false, "join shard files: the first file named is the output")]
        + SharedFlags.dream + SharedFlags.neuron.filter { $0.name != "neuron_id" } + SharedFlags.model,
    positionals: ("files (with --merge)", 0, Int.max)
) { f in
    if f.bool("merge") {
        guard f.positional.count >= 2 else { throw CLIError("--merge OUT.jsonl SHARD.jsonl...: name the output, then at least one shard file") }
        let inputs = Array(f.positional.dropFirst())
        if let missing = inputs.first(where: { !FileManager.default.fileExists(atPath: $0) }) {
            throw CLIError("--merge: \(missing) does not exist; nothing was written")
        }
        let n = try JSONLines.merge(inputs, into: f.positional[0])
        print("merged \(inputs.count) files into \(f.positional[0]): \(n) units")
        return 0
    }
    guard f.positional.isEmpty else { throw CLIError("unexpected argument \"\(f.positional[0])\" (files are only taken with --merge)") }
    guard let out = f.optional("out") else { throw CLIError("--out is required (a .jsonl file; rerunning resumes it)") }
    let m = try SharedFlags.model(f)
    var s = SweepOptions()
    s.units = try parseUnits(f.string("units"))
    if let shard = f.optional("shard") { s.units = shardUnits(s.units, shard: try parseShard(shard)) }
    s.out = out
    s.batch = f.int("batch")
    s.dream = try SharedFlags.dreamOptions(f, model: m)
    let T = m.tokenizer.encode(s.dream.sentence, s.dream.sentence2).ids.count
    for u in s.units { _ = try SharedFlags.neuronObjective(f, model: m, T: T, unit: u) }   // every unit in range before any work
    let progress = Progress(total: s.units.count, label: "sweep", quiet: f.bool("quiet"))
    s.onProgress = { done, _ in progress.update(step: done) }
    let r = try NativeWork.run { try runSweep(model: m, options: s) { unit in try SharedFlags.neuronObjective(f, model: m, T: T, unit: unit) } }
    progress.finish()
    print("sweep: \(r.records.count) units dreamed, \(r.skipped) already in \(out), \(String(format: "%.1f", r.seconds)) s\(r.interrupted ? ", interrupted (rerun to resume)" : "")")
    return r.interrupted ? 130 : 0
}

/// "0-63" or "1,5,9" (ranges inside lists too: "0-3,8").
func parseUnits(_ spec: String) throws -> [Int] {
    var units: [Int] = []
    for part in spec.split(separator: ",") {
        let ends = part.split(separator: "-", omittingEmptySubsequences: false)
        if ends.count == 1, let u = Int(ends[0]) { units.append(u); continue }
        guard ends.count == 2, let a = Int(ends[0]), let b = Int(ends[1]), a <= b, b - a < 10_000_000 else {
            throw CLIError("--units \"\(spec)\": give a range 0-63 or a list 1,5,9 of units >= 0 (at most 10000000)")
        }
        units += Array(a...b)
    }
    guard !units.isEmpty else { throw CLIError("--units \"\(spec)\" names no units; give a range 0-63 or a list 1,5,9") }
    return units
}
