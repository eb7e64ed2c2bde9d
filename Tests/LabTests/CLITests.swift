import Foundation
import XCTest

/// Drives the release `dreamlab` binary as a user would (scripts/test builds it first).
final class CLITests: DreamlabProcessTestCase {
    func testDoneWhenCommandPrintsTheHuggingFaceValue() throws {
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.root + "/Tests/Golden/golden.json"))) as! [String: Any]
        let want = (golden["check"] as! [String: Any])["value"] as! Double
        let r = try dreamlab(["-e", #"local m=lab.load(); print(m:run("i hate kickshaws"):site("blocks.5.hook_resid_post"):get(2,300))"#])
        XCTAssertEqual(r.status, 0, r.err)
        let got = try XCTUnwrap(Double(r.out.trimmingCharacters(in: .whitespacesAndNewlines)))
        print("done-when value: dreamlab \(got), transformers \(want)")
        XCTAssertEqual(got, want, accuracy: 1e-5)
    }

    func testOutOfRangeErrorsNameTheRange() throws {
        let cases: [(String, [String])] = [
            (#"lab.load():run("hi"):site("blocks.5.hook_resid_post"):get(2,414)"#, ["414", "0...383"]),
            (#"lab.load():run("hi"):site("blocks.6.hook_resid_post")"#, ["layer 6", "0...5"]),
            (#"lab.load():run("hi"):site("blocks.0.attn.hook_pattern"):get(12,0,0)"#, ["12", "0...11"]),
            (#"lab.load():run("hi"):site("blocks.1.nope")"#, ["unknown site", "valid sites"]),
            (#"lab.objectives.neuron{layer=5, word=2, unit=414}"#, ["414", "0...383"]),
            (#"lab.dream{objective=lab.objectives.neuron{layer=5, word=9, unit=1}, steps=1}"#, ["word 9", "0...6"]),
            (#"lab.dream{objective=lab.objectives.neuron{layer=5, word=2, unit=1}, steps=1, lr=0.1, bogus=1}"#, ["unknown argument", "bogus"]),
        ]
        for (code, parts) in cases {
            let r = try dreamlab(["-e", code])
            XCTAssertNotEqual(r.status, 0, code)
            for p in parts { XCTAssertTrue(r.err.contains(p), "\(code): stderr \(r.err) should mention \(p)") }
            XCTAssertFalse(r.err.contains("[C]:"), "errors carry no C traceback: \(r.err)")
        }
        // A script's own frames stay, so an error deep in the user's code says where it came from.
        let dir = tempDir("deep")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "local function inner() error('boom') end\nlocal function outer() inner() end\nouter()\n".write(toFile: dir + "/deep.lua", atomically: true, encoding: .utf8)
        let r = try dreamlab(["run", dir + "/deep.lua"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("deep.lua:1: boom") && r.err.contains("stack traceback") && r.err.contains("deep.lua:2: in"), r.err)
        XCTAssertFalse(r.err.contains("[C]:"), r.err)
    }

    func testRunScriptWithArgsAndErrorExitCode() throws {
        let dir = tempDir("run")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "print(arg[0] ~= nil, arg[1], arg[2], #arg)\n".write(toFile: dir + "/ok.lua", atomically: true, encoding: .utf8)
        let ok = try dreamlab(["run", dir + "/ok.lua", "alpha", "beta"])
        XCTAssertEqual(ok.status, 0, ok.err)
        XCTAssertEqual(ok.out.trimmingCharacters(in: .whitespacesAndNewlines), "true\talpha\tbeta\t2")
        try "local function f() error('boom here') end\nf()\n".write(toFile: dir + "/bad.lua", atomically: true, encoding: .utf8)
        let bad = try dreamlab(["run", dir + "/bad.lua"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("bad.lua:1: boom here"), bad.err)
        XCTAssertTrue(bad.err.contains("stack traceback"))
    }

    func testInfoShowsBlasCore() throws {
        let r = try dreamlab(["info"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.out.contains("OpenBLAS core"), r.out)
        XCTAssertFalse(r.out.contains("Prescott"), "the BLAS core should not fall back to Prescott on this CPU: \(r.out)")
        // DREAMLAB_THREADS sets the count and starts that many threads (it once set the count and started none).
        let three = try dreamlab(["info"], env: ["DREAMLAB_THREADS": "3"])
        XCTAssertTrue(three.out.contains("threads: 3, 3 running"), three.out)
    }

    func testPairDreamCommandWritesPairLayout() throws {
        let out = tempDir("pair")
        let r = try dreamlab(["dream", "--sentence", "i hate kickshaws", "--layer_id", "5", "--word_id", "2", "--neuron_id", "300",
                              "--dream_start", "2", "--dream_end", "2", "--num_iterations", "40", "--metrics_frequency", "10",
                              "--output_dir", out])
        XCTAssertEqual(r.status, 0, r.err)
        let runs = try FileManager.default.contentsOfDirectory(atPath: out)
        XCTAssertEqual(runs.count, 1)
        XCTAssertTrue(runs[0].hasPrefix("dream"))
        let dir = out + "/" + runs[0]
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["results.json", "top_k2.json"], "no temp files left behind")
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/results.json"))) as! [String: Any]
        XCTAssertEqual(results["type"] as? String, "dream")
        let params = results["params"] as! [String: Any]
        for k in ["layer_id", "word_id", "neuron_id", "dream_start", "dream_end", "num_iterations", "gumbel", "warmup", "start_temp",
                  "end_temp", "anneal", "learning_rate", "sentence", "tokens", "model_config", "metrics_frequency", "normalize"] {
            XCTAssertNotNil(params[k], "params.\(k)")
        }
        let iters = (results["results"] as! [String: Any])["iterations"] as! [[String: Any]]
        XCTAssertEqual(iters.map { $0["number"] as! Int }, [0, 10, 20, 30, 40])
        for k in ["tokens", "temperature", "max_values", "activation", "ids_activation"] { XCTAssertNotNil(iters[0][k], k) }
        let topk = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/top_k2.json"))) as! [String: Any]
        XCTAssertEqual(topk["type"] as? String, "top_words")
        XCTAssertEqual(topk["word_id"] as? Int, 2)
        let first = (topk["iterations"] as! [[String: Any]])[0]
        XCTAssertEqual((first["indices"] as! [Int]).count, 10)
        XCTAssertEqual((first["tokens"] as! [String])[0], "hate")
        XCTAssertNotNil((results["dreamlab"] as! [String: Any])["best"])
    }

    func testPairDreamRejectsBertBaseNeuronWithTheFix() throws {
        let r = try dreamlab(["dream", "--output_dir", tempDir("x")])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("--neuron_id 414") && r.err.contains("0...383"), r.err)
    }

    func testLuaDreamContract() throws {
        let out = tempDir("lua")
        let code = """
        local m = lab.load()
        local o = lab.objectives.neuron{layer=5, word=2, unit=300}
        local seen = 0
        local r = lab.dream{model=m, objective=o, first=2, last=2, steps=50, every=10, restarts=2, seed=3,
                            on_step=function(s) seen = s.step; if s.step >= 25 then return false end end}
        assert(r.stopped and r.steps == 25 and seen == 25, "on_step returning false stops the dream")
        assert(#r.runs == 2, "restarts keep every run")
        assert(r.best.activation >= r.runs[1].best.activation - 1e-6 or r.best.activation >= r.runs[2].best.activation - 1e-6)
        assert(math.abs(o:eval(m, r.best.ids) - r.best.activation) < 1e-4, "best activation is the discrete input's activation")
        local g = lab.gradient{model=m, objective=o, first=2, last=2, temperature=2.0}
        assert(g.grad:shape()[1] == 1 and g.grad:shape()[2] == 30522)
        r:save("\(out)")
        local t = lab.json.decode(io.open("\(out)/results.json"):read("a"))
        assert(t.type == "dream" and t.dreamlab.restarts == 2)
        local sched = {}
        lab.dream{model=m, objective=o, first=2, last=2, steps=3, every=1, temperature=function(step) sched[#sched+1] = step; return 1.5 end}
        assert(#sched == 4 and sched[1] == 0, "a Lua schedule is called once per step (and once for the closing record)")
        print("ok", r, tostring(0.5 * o - lab.objectives.neuron{layer=5, word=2, unit=100}))
        """
        let r = try dreamlab(["-e", code])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("ok"), r.out)
        XCTAssertTrue(r.out.contains("0.5*neuron(L5,w2,u300) - neuron(L5,w2,u100)"), r.out)
    }

    func testEveryExampleScriptRunsEndToEnd() throws {
        let out = tempDir("examples")
        let runs: [(String, [String], String)] = [
            ("pair_headline.lua", ["20", out + "/pair"], "best discrete input"),
            ("attention_dream.lua", ["15", out + "/att"], "attention 2->4"),
            ("contrast.lua", ["10"], "best:"),
            ("custom_schedule.lua", ["40"], "best:"),
            ("sweep_units.lua", ["5", "5", out + "/sweep.jsonl"], "wrote"),
            ("objectives_tour.lua", ["10"], "prev_token(L3,h7)"),
            ("fluency_frontier.lua", [out + "/mlm", "6", out + "/frontier"], "on the frontier"),
            ("pair_experiments.lua", ["12", out + "/pairx", out + "/mlm"], "dream_mlm.py:"),
        ]
        let mk = try dreamlab(["random-model", "--out", out + "/mlm"])
        XCTAssertEqual(mk.status, 0, mk.err)
        for (script, args, expect) in runs {
            let r = try dreamlab(["run", "scripts/examples/" + script] + args)
            XCTAssertEqual(r.status, 0, "\(script): \(r.err)")
            XCTAssertTrue(r.out.contains(expect), "\(script) output: \(r.out)")
        }
        let lines = try String(contentsOfFile: out + "/sweep.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 16, "one JSON line per unit")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/pair/results.json"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/frontier/frontier.html"))
    }

    func testTokenSearchMatchesBruteForceAndWritesPairLayout() throws {
        let code = """
        local m = lab.load()
        local o = lab.objectives.neuron{layer=5, word=2, unit=300}
        local s = lab.search{model=m, sentence="i hate kickshaws", position=2, objective=o, topk=5, limit=600, batch=97}
        assert(#s == 5 and s.candidates == 600)
        -- brute force over the same candidates, one at a time
        local best, bestv = nil, -math.huge
        for id = 0, 599 do
          local v = o:eval(m, {101, 1045, id, 14590, 14238, 2015, 102})
          if v > bestv then best, bestv = id, v end
        end
        assert(s[1].id == best, "search top-1 " .. s[1].id .. " vs brute force " .. best)
        assert(math.abs(s[1].activation - bestv) < 1e-4)
        for i = 2, 5 do assert(s[i].activation <= s[i - 1].activation) end
        print("ok", s[1].token, s[1].activation)
        """
        let r = try dreamlab(["-e", code])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("ok"), r.out)
        let out = tempDir("search")
        let c = try dreamlab(["search", "--sentence", "i hate kickshaws", "--layer_id", "5", "--word_id", "2", "--neuron_id", "300",
                              "--change_word", "2", "--top_k", "10", "--limit", "300", "--output_dir", out])
        XCTAssertEqual(c.status, 0, c.err)
        let j = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/top_tokens_in_i hate kickshaws_2.json"))) as! [String: Any]
        XCTAssertEqual(j["type"] as? String, "token_search")
        XCTAssertEqual((j["tops"] as! [[String: Any]]).count, 10)
        for k in ["sentence", "layer_id", "neuron_id", "word_id", "change_word", "tokens"] { XCTAssertNotNil(j[k], k) }
    }

    func testRequireSearchPathAndTensorTargets() throws {
        let dir = tempDir("path")
        try FileManager.default.createDirectory(atPath: dir + "/mine", withIntermediateDirectories: true)
        try "return { answer = 42 }\n".write(toFile: dir + "/mine/myplug.lua", atomically: true, encoding: .utf8)
        let code = """
        assert(require("myplug").answer == 42)
        assert(package.path:find("/.dreamlab/plugins/", 1, true), "the defaults stay on the path with ;;")
        local m = lab.load()
        local t = m:run("i hate kickshaws"):site("blocks.5.hook_resid_post")
        local e = t:totable(); e[3][301] = e[3][301] + 2
        local o = lab.objectives.reconstruct{site="blocks.5.hook_resid_post", target=lab.tensor(e), loss="sse"}
        assert(math.abs(o:eval(m, "i hate kickshaws") + 4) < 1e-3, "an edited target 2 away in one unit scores -4")
        local mse = lab.objectives.reconstruct{site="blocks.5.hook_resid_post", target=lab.tensor(e)}
        assert(math.abs(mse:eval(m, "i hate kickshaws") + 4 / t:numel()) < 1e-6, "PAIR's mean squared error by default")
        assert(math.abs(((t + 1) - t):get(0, 0) - 1) < 1e-6)
        print("ok")
        """
        let r = try dreamlab(["-e", code], env: ["DREAMLAB_PATH": dir + "/mine/?.lua;;"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out.trimmingCharacters(in: .whitespacesAndNewlines), "ok")
    }

    func testCorpusTopPassagesMatchOneByOneEvaluation() throws {
        let dir = tempDir("corpus")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let lines = ["i hate kickshaws", "", "the cat sat on the mat", "london bridge is falling down", "money makes the world go round",
                     "kickshaws and trinkets", "a river runs through it"]
        try lines.joined(separator: "\n").write(toFile: dir + "/c.txt", atomically: true, encoding: .utf8)
        let code = """
        local m = lab.load()
        local c = lab.corpus{model=m, file="\(dir)/c.txt", unit={layer=3, unit=77}, topk=3, batch=2}
        assert(c.passages == 6 and #c == 3, "blank lines are skipped")
        local best, bestv = nil, -math.huge
        for line in io.lines("\(dir)/c.txt") do
          if #line > 0 then
            local t = m:run(line):site("blocks.3.hook_resid_post")
            for pos = 0, t:shape()[1] - 1 do
              local v = t:get(pos, 77)
              if v > bestv then best, bestv = line, v end
            end
          end
        end
        assert(c[1].text == best, c[1].text .. " vs " .. best)
        assert(math.abs(c[1].activation - bestv) < 1e-4)
        assert(#c[1].activations == #c[1].tokens)
        print("ok")
        """
        let r = try dreamlab(["-e", code])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out.trimmingCharacters(in: .whitespacesAndNewlines), "ok")
    }

    func testSweepInterruptedAndResumedEndsWithEveryUnitOnce() throws {
        let dir = tempDir("sweep")
        let out = dir + "/s.jsonl"
        let args = ["sweep", "--layer_id", "5", "--word_id", "2", "--units", "0-63", "--num_iterations", "12", "--metrics_frequency", "12",
                    "--dream_start", "2", "--dream_end", "2", "--batch", "8", "--out", out]
        // First run: interrupted with SIGINT part-way, as Ctrl-C would.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: Self.root)
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let n = (try? String(contentsOfFile: out, encoding: .utf8))?.split(separator: "\n").count ?? 0
            if n >= 8 { break }
            usleep(50_000)
        }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let partial = (try String(contentsOfFile: out, encoding: .utf8)).split(separator: "\n").count
        XCTAssertGreaterThan(partial, 0)
        XCTAssertLessThan(partial, 64, "the first run was interrupted part-way")
        // Rerun: resumes, and ends with 64 lines, no duplicates.
        let r = try dreamlab(args)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("\(partial) already in"), r.out)
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        let units = try lines.map { (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["unit"] as! Int }
        XCTAssertEqual(lines.count, 64)
        XCTAssertEqual(Set(units), Set(0..<64))
        // Shards and merge: two shards of 0-7 (two batches of 4) joined give 8 units.
        let s0 = dir + "/a.jsonl", s1 = dir + "/b.jsonl"
        for (shard, file) in [("0/2", s0), ("1/2", s1)] {
            let x = try dreamlab(["sweep", "--layer_id", "5", "--units", "0-7", "--batch", "4", "--num_iterations", "5", "--metrics_frequency", "5",
                                  "--dream_start", "2", "--dream_end", "2", "--shard", shard, "--out", file])
            XCTAssertEqual(x.status, 0, x.err)
        }
        // Restarts share the pass with the units: 3 units x 2 restarts, one line per unit.
        let rs = try dreamlab(["-e", "print(lab.sweep{objective=function(u) return lab.objectives.neuron{layer=5, word=2, unit=u} end, from=10, to=12, restarts=2, first=2, last=2, steps=5, every=5, out='\(dir)/r.jsonl'}.done)"])
        XCTAssertEqual(rs.status, 0, rs.err)
        XCTAssertEqual(rs.out.trimmingCharacters(in: .whitespacesAndNewlines), "3")
        XCTAssertTrue(try String(contentsOfFile: dir + "/r.jsonl", encoding: .utf8).contains("\"restarts\":2"))
        let merged = try dreamlab(["sweep", "--merge", dir + "/all.jsonl", s0, s1, s0])
        XCTAssertEqual(merged.status, 0, merged.err)
        XCTAssertEqual(try String(contentsOfFile: dir + "/all.jsonl", encoding: .utf8).split(separator: "\n").count, 8)
    }

    func testReportRendersInAHeadlessBrowser() throws {
        let dir = tempDir("report")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try (0..<40).map { "passage \($0) about london and music and kickshaws" }.joined(separator: "\n").write(toFile: dir + "/c.txt", atomically: true, encoding: .utf8)
        let code = """
        local m = lab.load()
        local o = lab.objectives.neuron{layer=5, word=2, unit=300}
        local r = lab.dream{model=m, objective=o, first=2, last=2, steps=60, every=10}
        local s = lab.search{model=m, objective=o, position=2, topk=10, limit=300}
        local c = lab.corpus{model=m, file="\(dir)/c.txt", objective=o, topk=3}
        local a = lab.dream{model=m, objective=lab.objectives.attention{layer=3, head=7, from=2, to=4}, first=1, last=3, steps=20, every=10}
        lab.report({r, s, c, a}, "\(dir)/all.html", "headline")
        r:save("\(dir)/saved")
        """
        let r = try dreamlab(["-e", code])
        XCTAssertEqual(r.status, 0, r.err)
        let html = try String(contentsOfFile: dir + "/all.html", encoding: .utf8)
        // Self-contained: nothing is fetched (the SVG namespace URI is a name, not a load).
        let loads = try NSRegularExpression(pattern: #"(src|href)\s*=\s*["']?\s*(https?:)?//|<link\b|\bfetch\(|\bimport\(|XMLHttpRequest|url\(\s*["']?https?:"#)
        XCTAssertEqual(loads.numberOfMatches(in: html, range: NSRange(html.startIndex..., in: html)), 0, "the report loads nothing from the network")
        try renderInChromium(dir + "/all.html", png: dir + "/all.png")
        let c = try dreamlab(["report", dir + "/saved", "-o", dir + "/saved.html"])
        XCTAssertEqual(c.status, 0, c.err)
        try renderInChromium(dir + "/saved.html", png: dir + "/saved.png")
        // A folder as PAIR's own dream.py writes it: the same files without Dreamlab's fields.
        var results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/saved/results.json"))) as! [String: Any]
        results["dreamlab"] = nil
        try FileManager.default.createDirectory(atPath: dir + "/pair", withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: results).write(to: URL(fileURLWithPath: dir + "/pair/results.json"))
        try FileManager.default.copyItem(atPath: dir + "/saved/top_k2.json", toPath: dir + "/pair/top_k2.json")
        let p = try dreamlab(["report", dir + "/pair", "-o", dir + "/pair.html"])
        XCTAssertEqual(p.status, 0, p.err)
        try renderInChromium(dir + "/pair.html", png: dir + "/pair.png")
    }

    func testDiscreteAndHybridMethodsAndHonestTokens() throws {
        // A raw layer-1 unit: the exhaustive search stops after layer 1, so the comparison costs seconds, not a minute.
        let code = """
        local m = lab.load()
        local o = lab.objectives.neuron{layer=1, word=2, unit=300, normalize=false}
        local s = lab.search{model=m, objective=o, position=2, topk=1}
        local d = lab.dream{model=m, objective=o, first=2, last=2, method="discrete", steps=40, every=10, seed=1}
        assert(d.method == "discrete")
        assert(d.best.activation >= s[1].activation - 1e-5,
               "discrete " .. d.best.activation .. " vs exhaustive " .. s[1].activation .. " (" .. s[1].token .. ")")
        assert(math.abs(o:eval(m, d.best.ids) - d.best.activation) < 1e-4)
        local again = m:encode(m:decode(d.best.ids)).ids
        local same = #again == #d.best.ids
        for i = 1, #again do same = same and again[i] == d.best.ids[i] end
        assert(d.best.honest == same, "the honest flag says whether the input survives decode and re-encode")
        -- The swap shares: the surrogate alone (no gradient, random or neighbour swaps) still climbs; shares are checked.
        local sg = lab.dream{model=m, objective=o, first=2, last=2, method="discrete", steps=6, surrogate=1, explore=0, neighbors=0, quiet=true}
        assert(sg.best.activation > o:eval(m, "i hate kickshaws"), "surrogate-only swaps improve on the start")
        local ok, err = pcall(lab.dream, {model=m, objective=o, method="discrete", steps=1, surrogate=0.6, explore=0.5})
        assert(not ok and tostring(err):find("together <= 1"), tostring(err))
        ok, err = pcall(lab.dream, {model=m, objective=o, steps=1, surrogate=0.2})
        assert(not ok and tostring(err):find('method="discrete" only'), tostring(err))
        local hd = lab.dream{model=m, objective=o, first=2, last=2, method="discrete", steps=20, honest=true}
        assert(hd.best.honest, "honest=true keeps only inputs that survive re-encoding")
        local h = lab.dream{model=m, objective=o, first=2, last=2, method="hybrid", steps=100, every=50}
        assert(h.method == "hybrid" and h.history[#h.history].temperature < 0.1, "hybrid's schedule reaches its final temperature")
        assert(h.best.activation > o:eval(m, "i hate kickshaws"))
        print("ok", d.best.tokens[3], d.best.activation, s[1].token, s[1].activation, h.best.activation)
        """
        let r = try dreamlab(["-e", code])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("ok"), r.out)
        print("discrete vs exhaustive: \(r.out)")
    }
}

extension CLITests {
    /// Fluency on the real default model, scored by a random MLM model with the default model's vocabulary (no real
    /// MLM checkpoint is reachable here): the λ sweep, its Pareto frontier, files on disk, and the report plot.
    func testFluencySweepFrontierFilesAndReport() throws {
        let dir = tempDir("fluency")
        let mk = try dreamlab(["random-model", "--out", dir + "/mlm", "--seed", "5"])
        XCTAssertEqual(mk.status, 0, mk.err)
        let code = """
        local m = lab.load()
        local f = lab.load("\(dir)/mlm")
        local o = lab.objectives.neuron{layer=5, word=2, unit=300}
        local ok, err = pcall(lab.dream, {model=m, objective=o, fluency=1, steps=2})
        assert(not ok and err:find("fluency_model="), err)
        local r = lab.dream{model=m, objective=o, first=2, last=3, method="discrete", steps=6, fluency=0.5, fluency_model=f, quiet=true}
        local p = f:pll(r.best.ids, 2, 3)
        assert(math.abs(p - r.best.pll) < 1e-4, "best.pll " .. r.best.pll .. " vs m:pll " .. p)
        assert(math.abs(r.best.score - (r.best.activation + 0.5 * r.best.pll)) < 1e-4)
        assert(math.abs(o:eval(m, r.best.ids) - r.best.activation) < 1e-4)
        local s = lab.fluency_sweep{model=m, objective=o, first=2, last=3, method="discrete", steps=8, fluency_model=f,
                                    lambdas={0, 0.05, 1}, out="\(dir)/sweep", quiet=true}
        assert(#s.dreams == 3 and #s.points >= 3 and #s.frontier >= 1)
        local function dominated(a, b) return b.pll >= a.pll and b.activation >= a.activation and (b.pll > a.pll or b.activation > a.activation) end
        for _, a in ipairs(s.frontier) do for _, b in ipairs(s.points) do assert(not dominated(a, b), "a frontier point is dominated") end end
        for _, a in ipairs(s.points) do
          local covered = false
          for _, b in ipairs(s.frontier) do covered = covered or dominated(a, b) or (a.pll == b.pll and a.activation == b.activation) end
          assert(covered, "a point off the frontier must be dominated by one on it")
        end
        for i = 2, #s.frontier do assert(s.frontier[i].pll > s.frontier[i-1].pll and s.frontier[i].activation < s.frontier[i-1].activation) end
        local b0, b1 = s.dreams[1].best, s.dreams[3].best
        assert(b1.pll > b0.pll, "λ=1 must buy fluency: " .. b1.pll .. " vs " .. b0.pll)
        assert(b0.activation > b1.activation, "and pay in activation")
        lab.report(s, "\(dir)/frontier.html", "fluency")
        print("ok", #s.points, #s.frontier, b0.activation, b0.pll, b1.activation, b1.pll)
        """
        let r = try dreamlab(["-e", code])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("ok"), r.out)
        print("fluency sweep: \(r.out)")
        let front = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/sweep/frontier.json"))) as! [String: Any]
        XCTAssertEqual((front["lambdas"] as? [Double]) ?? [], [0, 0.05, 1])
        XCTAssertGreaterThanOrEqual((front["points"] as? [Any])?.count ?? 0, 3)
        for sub in ["lambda_00_0", "lambda_01_0.05", "lambda_02_1"] {
            let res = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/sweep/\(sub)/results.json"))) as! [String: Any]
            let ours = res["dreamlab"] as! [String: Any]
            XCTAssertNotNil((ours["fluency"] as? [String: Any])?["lambda"], sub)
            XCTAssertNotNil((ours["best"] as? [String: Any])?["pll"], sub)
        }
        let html = try String(contentsOfFile: dir + "/frontier.html", encoding: .utf8)
        XCTAssertTrue(html.contains("\"frontiers\""))
        // PAIR's command with the fluency flags: the PLL lands in the saved files.
        let pair = try dreamlab(["dream", "--layer_id", "5", "--word_id", "2", "--neuron_id", "300", "--dream_start", "2", "--dream_end", "2",
                                 "--num_iterations", "20", "--metrics_frequency", "10", "--fluency", "0.05", "--fluency_model", dir + "/mlm",
                                 "--output_dir", dir + "/pair", "--quiet"])
        XCTAssertEqual(pair.status, 0, pair.err)
        XCTAssertTrue(pair.out.contains("pll "), pair.out)
        let folder = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dir + "/pair").first { $0.hasPrefix("dream") })
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/pair/\(folder)/results.json"))) as! [String: Any]
        XCTAssertNotNil(((saved["dreamlab"] as? [String: Any])?["best"] as? [String: Any])?["pll"])
        let noHead = try dreamlab(["dream", "--neuron_id", "300", "--fluency", "1", "--num_iterations", "2", "--output_dir", dir + "/x"])
        XCTAssertEqual(noHead.status, 2)
        XCTAssertTrue(noHead.err.contains("--fluency_model"), noHead.err)
        try renderInChromium(dir + "/frontier.html", png: dir + "/frontier.png")
    }
}
