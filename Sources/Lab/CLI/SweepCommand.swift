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
    usage: "--layer_id L --units 0-63 --out F.jsonl [flags]  |  --merge OUT.jsonl IN.jsonl...  |  --status FILE.jsonl...",
    flags: [.string("units", "0-15", "units to dream: a range 0-63 or a list 1,5,9"),
            .string("out", "", "the .jsonl file (required); rerunning resumes it"),
            .string("shard", "", "i/n: this task's share, every n-th batch from the i-th (Slurm: $SLURM_ARRAY_TASK_ID/<array size>)"),
            .int("batch", 8, "units per shared pass (relaxed and hybrid)"),
            .bool("merge", false, "join shard files: the first file named is the output"),
            .bool("status", false, "how far the files named have got: units done, missing and damaged per shard, and how to finish")]
        + SharedFlags.dream + SharedFlags.neuron.filter { $0.name != "neuron_id" } + SharedFlags.model,
    positionals: ("files (with --merge or --status)", 0, Int.max)
) { f in
    guard !(f.bool("merge") && f.bool("status")) else { throw CLIError("--merge and --status are two different jobs; give one") }
    if f.bool("merge") || f.bool("status") {
        let other = f.command.flags.map(\.name).filter { f.given($0) && $0 != "merge" && $0 != "status" }
        guard other.isEmpty else { throw CLIError("--\(other[0]) does nothing with --\(f.bool("merge") ? "merge" : "status"), which reads only the files named") }
    }
    if f.bool("merge") {
        guard f.positional.count >= 2 else { throw CLIError("--merge OUT.jsonl SHARD.jsonl...: name the output, then at least one shard file") }
        let inputs = Array(f.positional.dropFirst())
        let (n, damaged) = try JSONLines.merge(inputs, into: f.positional[0])
        print("merged \(inputs.count) files into \(f.positional[0]): \(n) units\(damaged > 0 ? "; \(damaged) damaged line(s) skipped (see dreamlab sweep --status)" : "")")
        return 0
    }
    if f.bool("status") { return try printSweepStatus(f.positional) }
    guard f.positional.isEmpty else { throw CLIError("unexpected argument \"\(f.positional[0])\" (files are only taken with --merge or --status)") }
    guard let out = f.optional("out") else { throw CLIError("--out is required (a .jsonl file; rerunning resumes it)") }
    let m = try SharedFlags.model(f)
    var s = SweepOptions()
    s.units = try parseUnitSpec(f.string("units"))
    if f.given("shard") && f.string("shard").isEmpty { throw CLIError("--shard needs i/n, e.g. --shard 0/4") }
    s.shard = try f.optional("shard").map(parseShard)
    s.command = (["dreamlab"] + CommandLine.arguments.dropFirst()).map(shellQuoted).joined(separator: " ")
    s.out = out
    s.batch = f.int("batch")
    s.dream = try SharedFlags.dreamOptions(f, model: m)
    let T = m.tokenizer.encode(s.dream.sentence, s.dream.sentence2).ids.count
    for u in s.units { _ = try SharedFlags.neuronObjective(f, model: m, T: T, unit: u) }   // every unit in range before any work
    let progress = Progress(total: 0, label: "sweep", quiet: f.bool("quiet"))
    defer { progress.finish() }
    s.onProgress = { done, todo in progress.total = todo; progress.update(step: done) }
    let r = try NativeWork.run { try runSweep(model: m, options: s) { unit in try SharedFlags.neuronObjective(f, model: m, T: T, unit: unit) } }
    print("sweep: \(r.records.count) units dreamed, \(r.skipped) already in \(out), \(String(format: "%.1f", r.seconds)) s\(r.interrupted ? ", interrupted (rerun to resume)" : "")")
    return r.interrupted ? 130 : 0
}

/// `dreamlab sweep --status FILES...`: per file and overall, and the commands that finish what is missing.
/// Exit 0 only when the sweep is known and complete.
func printSweepStatus(_ files: [String]) throws -> Int32 {
    guard !files.isEmpty else { throw CLIError("--status FILE.jsonl...: name the sweep's files (e.g. l5.*.jsonl)") }
    let st = try sweepStatus(files: files)
    for f in st.files {
        let damaged = f.damaged > 0 ? ", \(f.damaged) damaged line(s) (not JSON; the next run sets the file aside as .damaged and drops them)" : ""
        if f.expected.isEmpty {
            print("\(f.path): \(f.done.isEmpty ? "no records yet" : "\(f.done.count) units, from a sweep that does not record its plan")\(damaged)")
            continue
        }
        let missing = f.missing.isEmpty ? "none" : "\(f.missing.count) (\(unitSpec(f.missing)))"
        print("\(f.path): shard \(f.shard ?? "-"), \(f.done.count)/\(f.expected.count) units done, missing \(missing)\(damaged)")
    }
    for s in st.absentShards { print("shard \(s): no file among those given (not started, or its file is elsewhere)") }
    guard let units = st.units else {
        print("overall: \(st.done) units done; these files do not say which units their sweep has, so nothing more is known")
        return 1
    }
    print("overall: \(st.done)/\(units.count) units done\(st.missing.isEmpty ? "" : ", missing \(unitSpec(st.missing))")")
    let unfinished = st.files.filter { !$0.missing.isEmpty || $0.damaged > 0 }
    if !unfinished.isEmpty || !st.absentShards.isEmpty {
        print("to finish, rerun (each resumes its own file):")
        for f in unfinished { print("  " + (f.command ?? "the lab.sweep call that wrote \(f.path)")) }
        for s in st.absentShards { print("  the same command with --shard \(s) and that shard's own --out") }
    }
    return st.complete ? 0 : 1
}

/// A word for a shell command line, quoted when it needs to be.
func shellQuoted(_ s: String) -> String {
    s.allSatisfy({ $0.isLetter || $0.isNumber || "-_=./,:@%+".contains($0) }) && !s.isEmpty ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
