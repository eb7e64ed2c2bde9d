import Foundation
import XCTest

/// Plugins run in a process of their own. Each way out of the limits that was found by hand (issue 12) is a file
/// here; each must end in an error naming the plugin's file and line, with the host unchanged and still working.
final class PluginTests: DreamlabProcessTestCase {
    /// The host's check after every plugin: it still computes what it computed before.
    let hostCheck = """
    local m = lab.load()
    local tr = m:run("i hate kickshaws")
    print("HOST", tr:site("blocks.0.hook_resid_post"):get(1, 2), tostring(lab.objectives.neuron{layer=1, word=1, unit=1}), lab.json.encode({1}))
    """

    func plugin(_ name: String, _ code: String) throws -> String {
        let dir = tempDir("plugins")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/" + name + ".lua"
        try code.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testEveryEscapeFromTheLimitsIsStoppedAndNamed() throws {
        let cases: [(String, String, String, String)] = [
            // name, plugin source, how it is used, what the error says
            ("pcall_loop", "return {f = function() while true do pcall(function() while true do end end) end end}", "p.f()", "pcall_loop.lua:1: used up its instruction budget"),
            ("tostring_error", "error(setmetatable({}, {__tostring = function() while true do end end}))", "", "tostring_error.lua:1: raised a table value as its error"),
            ("gc", "setmetatable({}, {__gc = function() while true do end end})\nreturn {f = function() return 7 end}", "print('GC', p.f())", "GC\t7"),
            ("close", "do local x <close> = setmetatable({}, {__close = function() while true do end end}) end\nreturn {}", "", "close.lua:1: used up its instruction budget"),
            ("returns_function", "return {f = function() return function() while true do end end end}", "p.f()", "a function cannot cross"),
            ("returns_pairs", "return {f = function() return setmetatable({1}, {__pairs = function() while true do end end, __index = function() while true do end end}) end}",
             "local t = p.f(); for k, v in pairs(t) do print('PAIRS', k, v) end; print('MT', getmetatable(t))", "PAIRS\t1\t1\nMT\tnil"),
            ("pattern", "return {f = function()\n  return ('a'):rep(3000):find(('a*'):rep(40) .. 'b')\nend}", "p.f()", "pattern.lua:2: used its 2 s of CPU time"),
            ("native_calls", "return {f = function()\n  local m = lab.load()\n  for i = 1, 1e6 do m:run('i hate kickshaws') end\nend}", "p.f()", "native_calls.lua:3: used its 2 s of CPU time"),
            ("traces", "return {f = function()\n  local m, t = lab.load(), {}\n  for i = 1, 1000 do t[i] = m:run(string.rep('word ', 500)) end\nend}", "p = lab.plugin(PATH, {seconds = 60}); p.f()", "traces.lua:3: went over its memory limit"),
            ("rewrite", """
             local m = lab.load()
             getmetatable(m).__index = function() return function() return "pwned" end end
             lab.objectives.neuron = function() return "pwned" end
             lab.json.encode = function() return "pwned" end
             string.rep = nil
             return {f = function() return 1 end}
             """, "return p.f()", "PLUGIN\ttrue\t1"),
            ("shell", "os.execute('touch /tmp/dreamlab-pwned')\nreturn {}", "", "global 'os'"),
            ("slow_name", "local M = {}\nM[\".-.-.-.-.-.-.-.-.-.-.-.-Z\"] = function() return 1 end\nM.ok = function() return 2 end\n-- " + String(repeating: "a", count: 3000) + "\nreturn M",
             "return p.ok()", "PLUGIN\ttrue\t2"),
            ("spoofed_stop", "return {f = function() return 'x DREAMLAB-PLUGIN-STOP fake: disk full' end}", "return p.f()", "PLUGIN\ttrue\tx DREAMLAB-PLUGIN-STOP fake"),
            ("nul_bytes", "return {f = function() return 'a\\0b', {['a\\0b'] = 1, a = 2} end}", "local s, t = p.f(); return #s .. ' ' .. t['a\\0b'] .. ' ' .. t.a", "PLUGIN\ttrue\t3 1 2"),
            ("unnamed_error", "return {f = function() error('disk is full', 0) end}", "return p.f()", "unnamed_error.lua: disk is full"),
            ("gc_wrong_userdata", "return {f = function() local m = lab.load(); getmetatable(m).__gc(lab.objectives.neuron{layer=1, word=1, unit=1}); return m:run('a'):site('embed'):shape()[1] end}", "return p.f()", "PLUGIN\ttrue\t3"),
        ]
        for (name, source, use, expected) in cases {
            let path = try plugin(name, source)
            let r = try dreamlab(["-e", "local ok, e = pcall(function() local p = lab.plugin('\(path)', {seconds = 2, memory = 16 * 2^20}); \(use.replacingOccurrences(of: "PATH", with: "'" + path + "'")) end); print('PLUGIN', ok, e)", "-e", hostCheck])
            XCTAssertEqual(r.status, 0, "\(name): \(r.err)")
            XCTAssertTrue(r.out.contains("HOST\t-0.13") || r.out.contains("HOST\t"), "\(name): the host still runs: \(r.out)")
            XCTAssertTrue(r.out.contains("neuron(L1,w1,u1)\t[1]"), "\(name): the host's tables are its own: \(r.out)")
            if !expected.isEmpty { XCTAssertTrue(r.out.contains(expected), "\(name): \(r.out)") }
            print("plugin \(name): \(r.out.split(separator: "\n").first { $0.hasPrefix("PLUGIN") } ?? "")")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/dreamlab-pwned"))
        let base = try dreamlab(["-e", hostCheck])
        let reference = base.out.split(separator: "\n").first { $0.hasPrefix("HOST") }
        XCTAssertNotNil(reference)
    }

    func testLimitsCannotBeSwitchedOffAndHugeInputsAreRefused() throws {
        let path = try plugin("fine", "return {f = function() return 1 end}")
        for (opts, expected) in [("{instructions=0}", "instructions must be a positive number"), ("{memory=-1}", "memory must be a positive number"),
                                 ("{seconds=1e9}", "seconds must be in 1...3600"), ("{instructions=1/0}", "cannot be switched off"),
                                 ("{sconds=3}", "did you mean seconds")] {
            let r = try dreamlab(["-e", "lab.plugin('\(path)', \(opts))"])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.err.contains(expected), "\(opts): \(r.err)")
        }
        let zero = try dreamlab(["-e", "lab.plugin('/dev/zero')"])
        XCTAssertTrue(zero.err.contains("larger than 16 MB"), zero.err)
    }

    func testPluginObjectivesEqualTheHostsOwn() throws {
        // contrast builds mean(up) - w*mean(down) in its own process; the host builds the same expression itself.
        let r = try dreamlab(["-e", """
            local m = lab.load()
            local p = lab.plugin("contrast")
            local mine = p.contrast{layer=5, word=2, up={300, 17}, down={100}, weight=0.5}
            local o = lab.objectives
            local host = o.mean{o.neuron{layer=5, word=2, unit=300}, o.neuron{layer=5, word=2, unit=17}} - 0.5 * o.neuron{layer=5, word=2, unit=100}
            print("VALUES", mine:eval(m, "i hate kickshaws"), host:eval(m, "i hate kickshaws"))
            local v = m:run("good"):site("blocks.4.hook_resid_post")[1]
            local d = lab.plugin("residual_direction").along{layer=4, pos=2, vector=v}
            print("DIRECTION", d:eval(m, "i hate kickshaws"), o.direction{site="blocks.4.hook_resid_post", pos=2, vector=v}:eval(m, "i hate kickshaws"))
            local s = lab.plugin("\(try plugin("sched", "return {s = function(t) return lab.schedules.anneal{start=t, stop=0.5} end, n = 3, name = 'x'}"))")
            print("SCHEDULE", s.s(3.0), s.n, s.name)
            """])
        XCTAssertEqual(r.status, 0, r.err)
        func pair(_ label: String) -> [String] { r.out.split(separator: "\n").first { $0.hasPrefix(label) }.map { $0.split(separator: "\t").dropFirst().map(String.init) } ?? [] }
        let values = pair("VALUES"), direction = pair("DIRECTION")
        XCTAssertEqual(values.count, 2); XCTAssertEqual(values.first, values.last, r.out)
        XCTAssertEqual(direction.count, 2); XCTAssertEqual(direction.first, direction.last, r.out)
        XCTAssertTrue(r.out.contains("SCHEDULE\tanneal(start=3.0, stop=0.5"), r.out)
        XCTAssertTrue(r.out.contains("\t3\tx"), r.out)
    }
}
