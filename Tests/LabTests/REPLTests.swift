import Foundation
import XCTest

/// The REPL driven as a person would, through a real terminal (tmux: send-keys to type, capture-pane to read).
final class REPLTests: XCTestCase {
    static let root = CLITests.root
    let socket = "dreamlab-test-\(getpid())"
    var session = ""
    var history = ""

    /// Runs a tmux client command through the shell (popen): Foundation's Process would wait on the tmux server,
    /// which new-session starts and which inherits the monitoring descriptors.
    func tmux(_ args: [String]) -> String {
        func quote(_ a: String) -> String { "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let cmd = (["tmux", "-L", socket] + args).map(quote).joined(separator: " ") + " 2>/dev/null </dev/null"
        guard let f = popen(cmd, "r") else { return "" }
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
            if args.first != "capture-pane" { break }
        }
        pclose(f)
        return String(decoding: out, as: UTF8.self)
    }

    func start() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else {
            XCTFail("tmux is missing; scripts/test installs it (apt-get install tmux)")
            throw CocoaError(.fileNoSuchFile)
        }
        session = "s\(Int.random(in: 0..<1_000_000))"
        let bin = Self.root + "/.build/release/dreamlab"
        // A tmux server still shutting down (the previous session was its last) can swallow new-session: retry.
        for _ in 0..<10 {
            _ = tmux(["new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                      "cd \(Self.root) && DREAMLAB_HISTORY=\(history) \(bin)"])
            if sessionExists() { break }
            usleep(300_000)
        }
        try waitFor("m = Model{")
    }

    func sessionExists() -> Bool { tmux(["list-sessions", "-F", "#{session_name}"]).split(separator: "\n").contains { $0 == session } }

    func stop() {
        _ = tmux(["kill-session", "-t", session])
        for _ in 0..<20 where sessionExists() { usleep(100_000) }
    }

    override func setUp() {
        history = NSTemporaryDirectory() + "dreamlab-history-\(getpid())-\(name.filter { $0.isLetter })"
        try? FileManager.default.removeItem(atPath: history)
    }
    override func tearDown() { _ = tmux(["kill-server"]) }

    func screen() -> String { tmux(["capture-pane", "-t", session, "-p", "-S", "-200"]) }

    @discardableResult
    func waitFor(_ text: String, timeout: Double = 20, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            let s = screen()
            if s.contains(text) { return s }
            usleep(100_000)
        }
        XCTFail("timed out waiting for \"\(text)\"; screen:\n\(screen())", file: file, line: line)
        throw CocoaError(.fileReadUnknown)
    }

    func type(_ text: String, enter: Bool = true) {
        _ = tmux(["send-keys", "-t", session, "-l", text])
        if enter { _ = tmux(["send-keys", "-t", session, "Enter"]) }
    }
    func key(_ k: String) { _ = tmux(["send-keys", "-t", session, k]) }

    func testExpressionsMultilineCompletionAndHelp() throws {
        try start(); defer { stop() }
        type("6*7")
        try waitFor("\n42")
        type("function twice(x)")
        try waitFor("twice(x)\n>>")   // capture-pane drops trailing spaces
        type("return 2*x")
        type("end")
        type("twice(21) + 0.5")
        try waitFor("42.5")
        type("_ * 2")
        try waitFor("85.0")
        type("lab.dr", enter: false)
        key("Tab")
        try waitFor("> lab.dream(")
        key("C-u")
        type("help(lab.dream)")
        try waitFor("PAIR's relaxed dream")
        type("m:run(\"hi\"):site(\"blocks.2.attn.hook_pa", enter: false)
        key("Tab")
        try waitFor("blocks.2.attn.hook_pattern")
        key("C-c")
        type("\"after ctrl-c\"")
        try waitFor("\"after ctrl-c\"\n")
    }

    func testHistorySurvivesARestart() throws {
        try start()
        type("local a = 1")
        type("history_marker_value = 12345")
        try waitFor("history_marker_value = 12345\n>")
        stop()
        try start(); defer { stop() }
        key("Up")
        try waitFor("> history_marker_value = 12345")
    }

    func testCtrlCDuringADreamKeepsThePartialResult() throws {
        try start(); defer { stop() }
        type("lab.dream{objective=lab.objectives.neuron{layer=5, word=2, unit=300}, first=2, last=2, steps=1000000, every=100}")
        usleep(2_500_000)
        key("C-c")
        try waitFor("interrupted}")
        type("tostring(_.interrupted) .. '/' .. tostring(_.steps > 0) .. '/' .. type(_.best.text)")
        try waitFor("\"true/true/string\"")   // capture-pane turns tabs into spaces, so no tab-separated output here
        type("\"session survives\"")
        try waitFor("\"session survives\"\n")
    }

    func testHostilePluginsAreStopped() throws {
        let dir = NSTemporaryDirectory() + "dreamlab-hostile-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "while true do end\n".write(toFile: dir + "/loop.lua", atomically: true, encoding: .utf8)
        try "os.execute('touch \(dir)/pwned')\nreturn {}\n".write(toFile: dir + "/shell.lua", atomically: true, encoding: .utf8)
        try "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end\n".write(toFile: dir + "/alloc.lua", atomically: true, encoding: .utf8)
        try start(); defer { stop() }
        type("lab.plugin(\"\(dir)/loop.lua\")")
        try waitFor("instruction budget")
        type("lab.plugin(\"\(dir)/shell.lua\")")
        try waitFor("global 'os'")
        type("lab.plugin(\"\(dir)/alloc.lua\", {memory=64*1024*1024})")
        try waitFor("memory cap")
        type("\"still here\"")
        try waitFor("\"still here\"\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/pwned"))
    }
}
