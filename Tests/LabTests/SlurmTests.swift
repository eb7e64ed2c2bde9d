import Foundation
import XCTest

/// The README's array script on a real single-node Slurm (scripts/slurm-local): submitted as it is, one task
/// cancelled mid-run and resubmitted, the shards merged, and the result compared with a one-machine run.
final class SlurmTests: DreamlabProcessTestCase {
    /// Runs a bash command and waits for it with waitpid. Not Foundation's Process: its waitUntilExit never returned
    /// here after the command had started daemons.
    func shell(_ command: String, env: [String: String] = [:], cwd: String? = nil) throws -> Run {
        let tmp = NSTemporaryDirectory() + "dreamlab-shell-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let script = "cd \(shellQuote(cwd ?? Self.root)) && { \(command); } >\(tmp).out 2>\(tmp).err </dev/null"
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        let words: [String] = ["/bin/bash", "-c", script]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/bin/bash", nil, nil, argv, envp) == 0 else { throw CocoaError(.executableLoad) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        defer { unlink(tmp + ".out"); unlink(tmp + ".err") }
        let out = (try? String(contentsOfFile: tmp + ".out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: tmp + ".err", encoding: .utf8)) ?? ""
        return Run(status: (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), out: out, err: err)
    }

    func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    func lines(_ path: String) -> Int {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    func testReadmeArrayScriptOnARealSlurm() throws {
        let dir = tempDir("slurm")
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        let state = dir + "/cluster"
        let slurmEnv = ["DREAMLAB_SLURM_DIR": state, "SLURM_CONF": state + "/slurm.conf", "DREAMLAB_SLURM_PORT": String(7000 + Int(getpid()) % 1000 * 2)]
        let up = try shell("scripts/slurm-local start", env: slurmEnv)
        defer {
            let down = try? shell("scripts/slurm-local stop", env: slurmEnv)
            XCTAssertEqual(down?.status, 0, "stopping the daemons: \(down?.err ?? "")")
        }
        guard up.status == 0 else {
            throw XCTSkip("Slurm could not start on this machine, so the cluster test did not run: \(up.err.suffix(600))")
        }
        // The script exactly as the README shows it, and dreamlab on the PATH as scripts/lab install puts it.
        let readme = try String(contentsOfFile: Self.root + "/README.md", encoding: .utf8)
        let afterMarker = try XCTUnwrap(readme.range(of: "<!-- slurm-array-script")).upperBound
        let fence = try XCTUnwrap(readme.range(of: "```sh\n", range: afterMarker..<readme.endIndex))
        let end = try XCTUnwrap(readme.range(of: "```", range: fence.upperBound..<readme.endIndex))
        try String(readme[fence.upperBound..<end.lowerBound]).write(toFile: dir + "/l5.sbatch", atomically: true, encoding: .utf8)
        let install = try shell("scripts/lab install \(dir)/bin")
        XCTAssertEqual(install.status, 0, install.err)
        // 64 units in batches of 8 over 4 tasks: two batches per task (task 1: units 8-15, then 40-47), so a task can be
        // cancelled between them.
        let env = slurmEnv.merging(["PATH": "\(dir)/bin:" + ProcessInfo.processInfo.environment["PATH"]!, "UNITS": "0-63", "STEPS": "10", "SHARDS": "4"]) { $1 }
        let sbatch = Process()
        sbatch.executableURL = URL(fileURLWithPath: "/usr/bin/sbatch")
        sbatch.arguments = ["--wait", "--array=0-3", "l5.sbatch"]
        sbatch.currentDirectoryURL = URL(fileURLWithPath: dir)
        sbatch.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let out = Pipe()
        sbatch.standardOutput = out; sbatch.standardError = FileHandle.nullDevice
        try sbatch.run()
        let submitted = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        let job = try XCTUnwrap(submitted.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }, submitted)
        // Cancel task 1 once its first batch is on disk, before its second.
        let deadline = Date().addingTimeInterval(240)
        while lines(dir + "/l5.1.jsonl") < 8 && Date() < deadline && sbatch.isRunning { usleep(20_000) }
        let before = lines(dir + "/l5.1.jsonl")
        let cancel = try shell("scancel \(job)_1", env: env)
        XCTAssertEqual(cancel.status, 0, cancel.err)
        sbatch.waitUntilExit()
        XCTAssertEqual(before, 8, "task 1 was cancelled between its two batches")
        XCTAssertEqual(lines(dir + "/l5.1.jsonl"), 8, "the cancelled task kept its finished batch")
        let files = (0..<4).map { "l5.\($0).jsonl" }
        let status = try dreamlab(["sweep", "--status"] + files, cwd: dir)
        XCTAssertEqual(status.status, 1, "--status fails while units are missing: \(status.out)")
        XCTAssertTrue(status.out.contains("l5.1.jsonl: shard 1/4, 8/16 units done, missing 8 (40-47)"), status.out)
        XCTAssertTrue(status.out.contains("overall: 56/64 units done, missing 40-47"), status.out)
        XCTAssertTrue(status.out.contains("--shard 1/4 --out l5.1.jsonl"), "names the command that finishes it: \(status.out)")
        // Resubmitted, the task resumes its own file.
        let again = try shell("sbatch --wait --array=1 l5.sbatch", env: env, cwd: dir)
        XCTAssertEqual(again.status, 0, again.err)
        let log = try String(contentsOfFile: dir + "/l5.1.log", encoding: .utf8)
        XCTAssertTrue(log.contains("8 units dreamed, 8 already in l5.1.jsonl"), log)
        XCTAssertEqual(try dreamlab(["sweep", "--status"] + files, cwd: dir).status, 0)
        let merge = try dreamlab(["sweep", "--merge", "l5.jsonl"] + files, cwd: dir)
        XCTAssertEqual(merge.status, 0, merge.err)
        // The same sweep on one machine, unit for unit.
        let one = try dreamlab(["sweep", "--layer_id", "5", "--word_id", "2", "--dream_start", "2", "--dream_end", "2", "--units", "0-63",
                                "--num_iterations", "10", "--quiet", "--out", "one.jsonl"], cwd: dir)
        XCTAssertEqual(one.status, 0, one.err)
        func records(_ f: String) throws -> [Int: NSDictionary] {
            var byUnit: [Int: NSDictionary] = [:]
            for line in try String(contentsOfFile: dir + "/" + f, encoding: .utf8).split(separator: "\n") {
                var d = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                for k in ["seconds_per_batch", "shard", "command"] { d[k] = nil }
                byUnit[d["unit"] as! Int] = d as NSDictionary
            }
            return byUnit
        }
        let merged = try records("l5.jsonl"), single = try records("one.jsonl")
        XCTAssertEqual(merged.count, 64)
        XCTAssertEqual(Set(merged.keys), Set(single.keys))
        for u in merged.keys.sorted() { XCTAssertEqual(merged[u], single[u], "unit \(u): the merged shards differ from the one-machine run") }
        let report = try dreamlab(["report", "l5.jsonl", "-o", "l5.html"], cwd: dir)
        XCTAssertEqual(report.status, 0, report.err)
        try renderInChromium(dir + "/l5.html", png: dir + "/l5.png")
    }
}
