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

    func start(args: String = "", env: String = "") throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else {
            XCTFail("tmux is missing; scripts/test installs it (apt-get install tmux)")
            throw CocoaError(.fileNoSuchFile)
        }
        session = "s\(Int.random(in: 0..<1_000_000))"
        let bin = Self.root + "/.build/release/dreamlab"
        // A tmux server still shutting down (the previous session was its last) can swallow new-session: retry.
        for _ in 0..<10 {
            _ = tmux(["new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                      "cd \(Self.root) && DREAMLAB_HISTORY=\(history) \(env) \(bin) \(args)"])
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

    /// Issue 14's prompt, as a new user tries it: help on every object kind, tensors, keyword completion, typos,
    /// Ctrl-C in a loop, exit.
    func testAPromptResearchersCanLiveIn() throws {
        try start(); defer { stop() }
        // help(x) and x? on every kind of object Dreamlab makes
        type("tr = m:run(\"i hate kickshaws\"); t = tr:site(\"blocks.5.hook_resid_post\"); o = lab.objectives.neuron{layer=5, word=2, unit=300}")
        type("r = lab.dream{objective=o, first=2, last=2, steps=3, quiet=true}; s = lab.search{objective=o, position=2, topk=3, limit=50, quiet=true}")
        type("p = lab.plugin(\"contrast\"); cs = lab.schedules.cosine{start=2, stop=0.1, steps=300}")
        for (expr, expected) in [("m?", "m = lab.load([dir]): a BERT checkpoint."), ("help(tr)", "tr = m:run(input)"),
                                 ("help(t)", "t[i] (0-based"), ("r?", "r = lab.dream{...}: a finished"), ("help(o)", "An objective: what a dream maximises"),
                                 ("help(p)", "contrast: excite some neurons"), ("s?", "s = lab.search{...}"), ("cs?", "A temperature schedule"),
                                 ("lab.objectives?", "lab.objectives: objective factories"), ("m:run?", "m:run(input) -> trace"),
                                 ("help(m.run)", "a dream result r (its best input)")] {
            type(expr)
            try waitFor(expected)
        }
        type("string.format('T150=%.3f', cs(150))")
        try waitFor("\"T150=1.")
        // tensors: indexing, slicing, topk, argmax, reductions, printing
        type("string.format('same=%s n=%d', tostring(t[2][300] == t:get(2, 300)), t[{2, {0, 4}}]:numel())")
        try waitFor("\"same=true n=5\"")
        type("v, i = t[2]:topk(3)")
        type("string.format('top=%d arg=%d mean=%d', i[1], t[2]:argmax(), #t:mean(0))")
        try waitFor("\"top=245 arg=245 mean=384\"")
        type("t")
        try waitFor("shape=7x384)")
        // results flow into m:run
        type("tostring(m:run(r.best)):sub(1, 9) .. tostring(m:run(r.best.tokens)):sub(1, 9) .. tostring(r:trace()):sub(1, 9)")
        try waitFor("\"Trace{T=7Trace{T=7Trace{T=7\"")
        // typos: did you mean, everywhere
        type("lab.dreem{}")
        try waitFor("did you mean dream?")
        type("lab.dream{frist=2}")
        try waitFor("did you mean first?")
        type("m.confg")
        try waitFor("did you mean config?")
        type("prnt(1)")
        try waitFor("did you mean print?")
        XCTAssertFalse(screen().contains("[C]:"), "errors carry no C traceback")
        // keyword completion inside f{...}
        type("lab.objectives.neuron{la", enter: false)
        key("Tab")
        try waitFor("neuron{layer=")
        key("C-u")
        // Ctrl-C inside a loop of dreams stops the loop, not only the current dream
        type("n = 0; for i = 1, 3 do lab.dream{objective=o, first=2, last=2, steps=1000000, quiet=true}; n = n + 1 end")
        usleep(2_000_000)
        key("C-c")
        try waitFor("interrupted!")
        type("'loops=' .. n")
        try waitFor("\"loops=1\"")
        type("exit")
        for _ in 0..<50 where sessionExists() { usleep(100_000) }
        XCTAssertFalse(sessionExists(), "exit leaves the prompt")
    }

    /// dreamlab -i script.lua ARGS: the script's names, locals too, and its arguments stay at the prompt; a folder on
    /// DREAMLAB_PATH is searched for plugins, whose doc comments are their help.
    func testInteractiveScriptKeepsItsNamesAndPluginFoldersWork() throws {
        let dir = NSTemporaryDirectory() + "dreamlab-i-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir + "/plugins", withIntermediateDirectories: true)
        try "local unit = tonumber(arg[1])\nlocal trace = m:run('i hate kickshaws')\nshared_m = m\nglobal_value = unit * 2\n"
            .write(toFile: dir + "/exp.lua", atomically: true, encoding: .utf8)
        try "-- myplug: doubles a neuron.\nlocal M = {}\n-- twice(unit): 2 x neuron 5/2/unit.\nfunction M.twice(u) return 2 * lab.objectives.neuron{layer=5, word=2, unit=u} end\nreturn M\n"
            .write(toFile: dir + "/plugins/myplug.lua", atomically: true, encoding: .utf8)
        try start(args: "-i \(dir)/exp.lua 150", env: "DREAMLAB_PATH='\(dir)/plugins;;'"); defer { stop() }
        type("string.format('%d %d %s %s', unit, global_value, tostring(trace):sub(1, 9), tostring(rawequal(shared_m, m)))")
        try waitFor("\"150 300 Trace{T=7 true\"")
        type("q = lab.plugin('myplug'); help(q.twice)")
        try waitFor("twice(unit): 2 x neuron 5/2/unit.")
        type("tostring(q.twice(3))")
        try waitFor("2*neuron(L5,w2,u3)")
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
