import Foundation
import XCTest

/// The command line and Lua build the same options for the same core: per-command flag tables, PAIR's spellings,
/// identical result files from both front ends, and a Lua boundary no error can cross.
final class FrontEndTests: DreamlabProcessTestCase {
    static let commands = ["dream", "search", "similar", "tokenize", "mlm", "dream-mlm", "reconstruct", "reconstruct-changed", "reconstruct-shifted", "export-activations", "probe", "corpus", "sweep", "report", "random-model", "bench"]

    func testEverySubcommandHasItsOwnFlagsHelpAndErrors() throws {
        for c in Self.commands {
            let h = try dreamlab([c, "--help"]), h2 = try dreamlab(["help", c]), h3 = try dreamlab([c, "-h"])
            XCTAssertEqual(h.status, 0, h.err)
            XCTAssertEqual(h.out, h2.out, "dreamlab help \(c) is dreamlab \(c) --help")
            XCTAssertEqual(h.out, h3.out)
            XCTAssertTrue(h.out.hasPrefix("usage: dreamlab \(c)"), h.out)
            // Every flag line says what it does; a foreign flag is refused with this command's own list.
            let own = h.out.split(separator: "\n").filter { $0.hasPrefix("  --") }.map { String($0.dropFirst(4).prefix { $0 != " " }) }
            XCTAssertFalse(own.isEmpty)
            let foreign = ["gumbel", "change_word", "num_iterations", "out", "layer_id"].first { !own.contains($0) }!
            let bad = try dreamlab([c, "--\(foreign)", "1"])
            XCTAssertEqual(bad.status, 2, "\(c) --\(foreign)")
            XCTAssertTrue(bad.err.contains("unknown flag --\(foreign)"), bad.err)
            XCTAssertTrue(bad.err.contains("dreamlab \(c) takes --\(own[0])"), bad.err)
            XCTAssertEqual(bad.err.components(separatedBy: "dreamlab \(c):").count, 2, "the prefix is printed once: \(bad.err)")
        }
        let typo = try dreamlab(["dream", "--nueron_id", "3"])
        XCTAssertTrue(typo.err.contains("did you mean --neuron_id"), typo.err)
        let dreamHelp = try dreamlab(["dream", "--help"]).out
        for line in ["--num_iterations N", "(default: 3000)", "--method TEXT", "(default: \"relaxed\")", "--write_top_k", "--embedding_analysis"] {
            XCTAssertTrue(dreamHelp.contains(line), "dream --help shows \(line)")
        }
    }

    /// The opt-in bf16 mode from both front ends: results say which precision made them, a sweep never mixes the two,
    /// and a wrong name is refused with the choices.
    func testBF16ModeIsRecordedAndNeverMixed() throws {
        let out = tempDir("bf16")
        let d = try dreamlab(["dream", "--neuron_id", "300", "--num_iterations", "5", "--quiet", "--precision", "bf16", "--output_dir", out + "/d"])
        XCTAssertEqual(d.status, 0, d.err)
        let folder = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: out + "/d").first)
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/d/" + folder + "/results.json"))) as! [String: Any]
        XCTAssertEqual((results["dreamlab"] as? [String: Any])?["precision"] as? String, "bf16")
        let sweep = ["sweep", "--layer_id", "5", "--word_id", "2", "--dream_start", "2", "--dream_end", "2", "--units", "0-1",
                     "--num_iterations", "3", "--quiet", "--out", out + "/s.jsonl"]
        XCTAssertEqual(try dreamlab(sweep + ["--precision", "bf16"]).status, 0)
        let mixed = try dreamlab(sweep)
        XCTAssertEqual(mixed.status, 2)
        XCTAssertTrue(mixed.err.contains("precision: bf16 in the file, fp32 now"), mixed.err)
        let bad = try dreamlab(["dream", "--neuron_id", "300", "--precision", "fp16", "--output_dir", out + "/e"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.err.contains("precision must be fp32 (exact, the default) or bf16"), bad.err)
        let lua = try dreamlab(["-e", """
            local b = lab.load(nil, {precision = "bf16"})
            local f = lab.load()
            print(b.precision, f.precision, lab.load{precision = "bf16"}.precision, select(2, pcall(lab.load, nil, {precision = "half"})))
            local o = lab.objectives.neuron{layer = 5, word = 2, unit = 300}
            print(math.abs(o:eval(b, "i hate kickshaws") - o:eval(f, "i hate kickshaws")) < 1e-3)
            """])
        XCTAssertEqual(lua.status, 0, lua.err)
        XCTAssertTrue(lua.out.hasPrefix("bf16\tfp32\tbf16\t"), lua.out)
        XCTAssertTrue(lua.out.contains("lab.load: precision must be fp32"), lua.out)
        XCTAssertTrue(lua.out.hasSuffix("true\n"), "bf16 and fp32 agree to 1e-3 on PAIR's activation: \(lua.out)")
    }

    /// absl's spellings (the issue's done-when command among them), refused PAIR flags, --model_config, --write_top_k false.
    func testPairSpellingsAndFlagsThatMeanWhatTheySay() throws {
        let out = tempDir("spell")
        let done = try dreamlab(["dream", "-output_dir", out + "/a", "-sentence", "i hate kickshaws", "-layer_id", "5", "-word_id", "2",
                                 "-neuron_id", "300", "-dream_start", "2", "-dream_end", "2", "-num_iterations=6", "-metrics_frequency", "3", "--nogumbel", "-quiet"])
        XCTAssertEqual(done.status, 0, done.err)
        let dir = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: out + "/a").first)
        let params = try json(out + "/a/\(dir)/results.json")["params"] as! [String: Any]
        XCTAssertEqual(params["layer_id"] as? Int, 5); XCTAssertEqual(params["neuron_id"] as? Int, 300)
        XCTAssertEqual(params["dream_start"] as? Int, 2); XCTAssertEqual(params["num_iterations"] as? Int, 6)
        XCTAssertEqual(params["gumbel"] as? Bool, false)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/a/\(dir)/top_k2.json"))

        for spelling in [["--write_top_k", "false"], ["--nowrite_top_k"], ["--write_top_k=0"]] {
            try? FileManager.default.removeItem(atPath: out + "/b")
            let r = try dreamlab(["dream", "--output_dir", out + "/b", "--neuron_id", "300", "--num_iterations", "2", "--quiet"] + spelling)
            XCTAssertEqual(r.status, 0, r.err)
            let files = try FileManager.default.subpathsOfDirectory(atPath: out + "/b")
            XCTAssertFalse(files.contains { $0.contains("top_k") }, "\(spelling) writes no top-k files: \(files)")
            XCTAssertTrue(files.contains { $0.hasSuffix("results.json") })
        }
        let bare = try dreamlab(["dream", "--output_dir", out + "/c", "--neuron_id", "300", "--num_iterations", "2", "--gumbel", "--quiet"])
        XCTAssertEqual(bare.status, 0, bare.err)
        let c = try FileManager.default.contentsOfDirectory(atPath: out + "/c")[0]
        XCTAssertEqual((try json(out + "/c/\(c)/results.json")["params"] as! [String: Any])["gumbel"] as? Bool, true, "a bare boolean flag is true")

        let refused = try dreamlab(["dream", "--output_dir", out + "/d", "--neuron_id", "300", "--embedding_analysis", "2"])
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.err.contains("not implemented"), refused.err)
        let missing = try dreamlab(["dream", "--output_dir", out + "/d", "--neuron_id", "300", "--model_config", "bert-large-uncased"],
                                   env: ["HF_HOME": out + "/hf"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.err.contains("bert-large-uncased") && missing.err.contains(out + "/hf/hub"), "names where it looked: \(missing.err)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/d"), "nothing is written after a refused flag")
        let byDir = try dreamlab(["dream", "--output_dir", out + "/e", "--neuron_id", "300", "--num_iterations", "2", "--quiet",
                                  "--model_config", Self.root + "/models/all-MiniLM-L6-v2"])
        XCTAssertEqual(byDir.status, 0, byDir.err)
        for (args, part) in [(["sweep", "--out", out + "/s.jsonl", "--batch", "0", "--units", "0-1"], "batch must be in 1...4096"),
                             (["sweep", "--out", out + "/s.jsonl", "--units", "0-9223372036854775807"], "at most 10000000"),
                             // (restarts used to be laid out per objective before the dream checked them: -1 crashed)
                             (["sweep", "--out", out + "/s.jsonl", "--units", "0-1", "--restarts", "-1"], "restarts (--restarts) must be in 1...4096"),
                             (["sweep", "--out", out + "/s.jsonl", "--units", "0-1", "--restarts", "1000", "--batch", "8"], "batch × restarts must be at most 4096"),
                             (["bench", "--precision", "fp16"], "precision must be fp32"),
                             (["dream", "--output_dir", out + "/f", "--neuron_id", "1", "--start_temp", "0"], "positive"),
                             (["dream", "--output_dir", out + "/f", "--neuron_id", "1", "--method", "discrte"], "relaxed (PAIR's), hybrid or discrete"),
                             (["search", "--output_dir", out + "/f", "--neuron_id", "1", "--top_k", "1000000000"], "topk must be in 1...30522")] {
            let r = try dreamlab(args)
            XCTAssertEqual(r.status, 2, args.joined(separator: " "))
            XCTAssertTrue(r.err.contains(part), "\(args): \(r.err)")
        }
    }

    /// The same seeded dream, sweep and search from the command line and from Lua give identical result files,
    /// apart from wall-clock timings.
    func testCommandLineAndLuaGiveIdenticalResults() throws {
        let out = tempDir("same")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let neuron = "lab.objectives.neuron{layer=5, word=2, unit=300}"
        for (method, extra, lua) in [("relaxed", ["--gumbel", "--restarts", "2", "--seed", "5"], "gumbel=true, restarts=2, seed=5"),
                                     ("hybrid", ["--seed", "4"], "seed=4"),
                                     ("discrete", ["--population", "4", "--candidates", "32", "--screen", "64"], "population=4, candidates=32, screen=64")] {
            let cli = try dreamlab(["dream", "--output_dir", out + "/cli-\(method)", "--neuron_id", "300", "--dream_start", "2", "--dream_end", "3",
                                    "--num_iterations", "8", "--metrics_frequency", "4", "--method", method, "--quiet"] + extra)
            XCTAssertEqual(cli.status, 0, cli.err)
            let lr = try dreamlab(["-e", "lab.dream{objective=\(neuron), first=2, last=3, steps=8, every=4, method='\(method)', quiet=true, \(lua)}:save('\(out)/lua-\(method)')"])
            XCTAssertEqual(lr.status, 0, lr.err)
            let cliDir = out + "/cli-\(method)/" + (try FileManager.default.contentsOfDirectory(atPath: out + "/cli-\(method)")[0])
            for file in try FileManager.default.contentsOfDirectory(atPath: out + "/lua-\(method)") {
                XCTAssertEqual(try withoutTimings(json(cliDir + "/" + file)) as NSDictionary, try withoutTimings(json(out + "/lua-\(method)/" + file)) as NSDictionary,
                               "\(method): \(file) differs between the command line and Lua")
            }
        }
        let cliSweep = try dreamlab(["sweep", "--units", "0-2", "--gumbel", "--seed", "7", "--num_iterations", "6", "--metrics_frequency", "3",
                                     "--dream_start", "2", "--dream_end", "2", "--out", out + "/cli.jsonl", "--quiet"])
        XCTAssertEqual(cliSweep.status, 0, cliSweep.err)
        let luaSweep = try dreamlab(["-e", "lab.sweep{objective=function(u) return lab.objectives.neuron{layer=5, word=2, unit=u} end, units={0,1,2}, gumbel=true, seed=7, steps=6, every=3, first=2, last=2, out='\(out)/lua.jsonl', quiet=true}"])
        XCTAssertEqual(luaSweep.status, 0, luaSweep.err)
        let plain = try dreamlab(["sweep", "--units", "0-2", "--num_iterations", "6", "--metrics_frequency", "3",
                                  "--dream_start", "2", "--dream_end", "2", "--out", out + "/plain.jsonl", "--quiet"])
        XCTAssertEqual(plain.status, 0, plain.err)
        func lines(_ f: String) throws -> [NSDictionary] {
            try String(contentsOfFile: out + "/" + f, encoding: .utf8).split(separator: "\n").map {
                var d = try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
                d["seconds_per_batch"] = nil
                d["command"] = nil   // provenance: the CLI records its command line, Lua has none
                return d as NSDictionary
            }
        }
        XCTAssertEqual(try lines("cli.jsonl"), try lines("lua.jsonl"), "the same sweep from the command line and from Lua")
        XCTAssertNotEqual(try lines("cli.jsonl").map { $0["final_tokens"] as! [String] }, try lines("plain.jsonl").map { $0["final_tokens"] as! [String] },
                          "--gumbel changes the sweep")
        let cliSearch = try dreamlab(["search", "--output_dir", out, "--neuron_id", "300", "--limit", "400", "--top_k", "20", "--quiet"])
        XCTAssertEqual(cliSearch.status, 0, cliSearch.err)
        let luaSearch = try dreamlab(["-e", "for _, h in ipairs(lab.search{objective=\(neuron), position=2, topk=20, limit=400, quiet=true}) do print(h.token, h.id, string.format('%.9g', h.activation)) end"])
        XCTAssertEqual(luaSearch.status, 0, luaSearch.err)
        let tops = try json(out + "/top_tokens_in_i hate kickshaws_2.json")["tops"] as! [[String: Any]]
        let fromCLI = tops.map { "\($0["token"]!)\t\($0["id"]!)\t\(String(format: "%.9g", ($0["activation"] as! NSNumber).floatValue))" }
        XCTAssertEqual(fromCLI, luaSearch.out.split(separator: "\n").map(String.init))
    }

    func withoutTimings(_ d: [String: Any]) -> [String: Any] {
        var d = d
        if var ours = d["dreamlab"] as? [String: Any] { ours["timings"] = nil; d["dreamlab"] = ours }
        return d
    }

    /// No Lua error crosses a Swift frame: a raising __index on an argument table, a memory error inside a binding,
    /// and 1000 dreams with function schedules leave the registry and Ctrl-C as they were.
    func testTheLuaBoundaryHolds() throws {
        let dir = tempDir("boundary")
        let fixture = try dreamlab(["random-model", "--out", dir + "/tiny"])
        XCTAssertEqual(fixture.status, 0, fixture.err)
        let code = """
        local m = lab.load("\(dir)/tiny")
        local o = lab.objectives.neuron{layer=1, word=2, unit=3, model=m}
        local hostile = setmetatable({objective=o, model=m, limit=5, quiet=true}, {__index=function(_, k) error("index " .. k) end,
                                                                                  __len=function() error("len") end})
        assert(pcall(lab.search, hostile), "arguments are read raw: the metamethods never run")
        local ids = setmetatable({101, 1045, 102}, {__len=function() return 1e9 end, __index=function() error("no") end})
        assert(m:run(ids):site("embed"):shape()[1] == 3, "a lying __len is not believed")
        local function registry() local n = 0; for _ in pairs(debug.getregistry()) do n = n + 1 end; return n end
        lab.dream{model=m, objective=o, steps=1, quiet=true, temperature=function() return 1 end, on_step=function() end}
        collectgarbage()
        local before = registry()
        for i = 1, 1000 do
          lab.dream{model=m, objective=o, steps=1, every=5, topk=1, first=2, last=2, quiet=true, temperature=function(s) return 1 + s end, on_step=function() end}
        end
        collectgarbage(); collectgarbage()
        print("registry", before, registry())
        print("lua heap KB", collectgarbage("count"))
        local tr = lab.load():run(string.rep("word ", 400))   -- 1536 x 402 values: far more than the cap as Lua tables
        local ok, err = pcall(function() return tr:site("blocks.0.mlp.hook_pre"):totable() end)
        print("oom", ok, err)
        print("still works", m:run("i hate kickshaws"):site("embed"):shape()[1])
        print("looping")
        io.stdout:flush()
        while true do end
        """
        let r = try dreamlab(["-e", code], env: ["DREAMLAB_LUA_MEMORY": "6M"], interruptWhen: "looping")
        let lines = r.out.split(separator: "\n").map(String.init)
        let reg = try XCTUnwrap(lines.first { $0.hasPrefix("registry") }, r.out + r.err).split(separator: "\t")
        XCTAssertEqual(reg[1], reg[2], "1000 dreams with function schedules leave the registry as it was")
        let oom = try XCTUnwrap(lines.first { $0.hasPrefix("oom") }, r.out + r.err)
        XCTAssertTrue(oom.contains("false") && oom.contains("not enough memory"), oom)
        XCTAssertTrue(lines.contains("still works\t7"), r.out)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("interrupted!"), "Ctrl-C still interrupts Lua code afterwards: \(r.err)")
    }

    /// The Lua files embedded at build time are valid Lua (luac -p), as the report's HTML/JS is checked by rendering it.
    /// PAIR's experiments beyond the dream (issue 13, in part): top-k records at every iteration unless thinned,
    /// spans that include [CLS] and [SEP], tokenize, and similar embeddings with their activation.
    func testPairTopKEveryIterationTokenizeAndSimilar() throws {
        let dir = tempDir("pair13")
        let args = ["dream", "--output_dir", dir, "--layer_id", "5", "--word_id", "2", "--neuron_id", "300", "--dream_start", "2",
                    "--dream_end", "2", "--num_iterations", "20", "--metrics_frequency", "10"]
        XCTAssertEqual(try dreamlab(args).status, 0)
        XCTAssertEqual(try dreamlab(args + ["--top_k_frequency", "5"]).status, 0)
        let folders = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(folders.count, 2)
        let every = try json(dir + "/" + folders[0] + "/top_k2.json")["iterations"] as! [[String: Any]]
        XCTAssertEqual(every.map { $0["number"] as! Int }, Array(0...20), "one record per iteration and PAIR's closing one, as PAIR writes them")
        let thin = try json(dir + "/" + folders[1] + "/top_k2.json")["iterations"] as! [[String: Any]]
        XCTAssertEqual(thin.map { $0["number"] as! Int }, [0, 5, 10, 15, 20])
        let results = try json(dir + "/" + folders[0] + "/results.json")
        XCTAssertEqual(((results["results"] as! [String: Any])["iterations"] as! [[String: Any]]).count, 3, "metrics at 0, 10 and 20")
        XCTAssertEqual(((results["dreamlab"] as! [String: Any])["curve"] as! [[String: Any]]).count, 21, "the cheap numbers at every step")

        // PAIR allows the span to include [CLS] and [SEP]; every method takes it.
        for method in ["relaxed", "hybrid", "discrete"] {
            let r = try dreamlab(["-e", "r = lab.dream{objective=lab.objectives.neuron{layer=5, word=2, unit=300}, first=0, last=6, steps=2, method='\(method)', quiet=true}; print(#r.tokens, r.first, r.last)"])
            XCTAssertEqual(r.out, "7\t0\t6\n", method + ": " + r.err)
        }
        XCTAssertTrue(try dreamlab(["-e", "lab.dream{objective=lab.objectives.neuron{layer=5, word=2, unit=300}, first=0, last=7, steps=1}"]).err.contains("0 <= first <= last <= 6"))

        // Several spans around a fixed token, started at [MASK] or at seeded random tokens: the fixed token stays, each
        // dreamed position gets its top-k file, and a seed gives the same random start again.
        for method in ["relaxed", "discrete"] {
            let out = dir + "/spans-" + method
            let r = try dreamlab(["-e", """
                r = lab.dream{objective=lab.objectives.neuron{layer=5, word=2, unit=300}, spans={{1, 1}, {3, 4}}, start='mask', steps=3, method='\(method)', quiet=true}
                r:save('\(out)'); print(table.concat(r.positions, ','), r.tokens[3], #lab.load():run(r):tokens())
                """])
            XCTAssertEqual(r.out, "1,3,4\thate\t7\n", r.err)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).sorted(), ["results.json", "top_k1.json", "top_k3.json", "top_k4.json"])
            XCTAssertEqual((try json(out + "/results.json")["params"] as! [String: Any])["tokens"] as! [String], ["[CLS]", "[MASK]", "hate", "[MASK]", "[MASK]", "##s", "[SEP]"])
        }
        let random = "r = lab.dream{objective=lab.objectives.neuron{layer=5, word=2, unit=300}, start='random', seed=4, steps=0, quiet=true}; print(r.text)"
        let r1 = try dreamlab(["-e", random]), r2 = try dreamlab(["-e", random])
        XCTAssertEqual(r1.out, r2.out)
        XCTAssertNotEqual(r1.out, "i hate kickshaws\n")
        XCTAssertTrue(try dreamlab(["-e", "lab.dream{objective=lab.objectives.neuron{layer=5, word=2, unit=300}, spans={{1, 2}, {2, 3}}, steps=1}"]).err.contains("spans overlap"))

        let tok = try dreamlab(["tokenize", "--sentence", "i hate kickshaws"])
        XCTAssertEqual(tok.out, "['[CLS]', 'i', 'hate', 'kicks', '##haw', '##s', '[SEP]']\n[101, 1045, 5223, 14590, 14238, 2015, 102]\n")

        // similar: the neighbours of "hate" by input-embedding distance, each scored in its place. The file agrees with
        // m:neighbours, with the distance computed from m:embedding another way, and with a search over the same tokens.
        XCTAssertEqual(try dreamlab(["similar", "--output_dir", dir, "--layer_id", "5", "--word_id", "2", "--neuron_id", "300", "--change_word", "2", "--top_k", "6"]).status, 0)
        let sim = try json(dir + "/closest_to_i hate kickshaws_2.json")
        XCTAssertEqual(sim["type"] as? String, "similar_embeddings")
        let tops = sim["tops"] as! [[String: Any]]
        XCTAssertEqual(tops.count, 6)
        XCTAssertEqual(tops[0]["token"] as? String, "hate")
        XCTAssertEqual(tops[0]["distance"] as? Double, 0)
        let lua = try dreamlab(["-e", """
            m = lab.load(); local o = lab.objectives.neuron{layer=5, word=2, unit=300}
            for _, n in ipairs(m:neighbours("hate", 6)) do
              local d = (m:embedding(n.id) - m:embedding("hate")):norm()
              local a = o:eval(m, {101, 1045, n.id, 14590, 14238, 2015, 102})
              print(n.token, string.format("%.5f %.5f %.5f", n.distance, d, a))
            end
            """])
        let rows = lua.out.split(separator: "\n").map { $0.split(separator: "\t") }
        XCTAssertEqual(rows.count, 6, lua.err)
        for (row, top) in zip(rows, tops) {
            XCTAssertEqual(String(row[0]), top["token"] as? String)
            let v = row[1].split(separator: " ").compactMap { Double($0) }
            XCTAssertEqual(v[0], top["distance"] as! Double, accuracy: 1e-4)
            XCTAssertEqual(v[1], v[0], accuracy: 1e-4, "distance from m:embedding")
            XCTAssertEqual(v[2], top["activation"] as! Double, accuracy: 1e-4, "activation of the neighbour in place")
        }
        let cos = try dreamlab(["-e", "print(lab.load():neighbours('hate', 3, {metric='cosine'})[1].similarity)"])
        XCTAssertEqual(Double(cos.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, 1, accuracy: 1e-5)
    }

    /// PAIR's linear classifier and mlm.py (issue 13, in part): activations exported as .npy in PAIR's layout, a
    /// logistic probe from the command line and from Lua agreeing, .npy files read and written as NumPy's format says,
    /// and the MLM head's top-k at a masked word matching the same numbers read through tensors.
    func testExportActivationsProbeNpyAndMLM() throws {
        let dir = tempDir("probe")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pos = ["good", "great", "excellent", "wonderful", "lovely", "superb", "pleasant", "happy"]
        let neg = ["bad", "terrible", "awful", "horrible", "poor", "boring", "dull", "sad"]
        let frames = ["the movie was %@", "the service felt %@", "her voice is %@"]
        try pos.flatMap { w in frames.map { String(format: $0, w) } }.joined(separator: "\n").write(toFile: dir + "/pos.txt", atomically: true, encoding: .utf8)
        try neg.flatMap { w in frames.map { String(format: $0, w) } }.joined(separator: "\n").write(toFile: dir + "/neg.txt", atomically: true, encoding: .utf8)
        for c in ["pos", "neg"] {
            let r = try dreamlab(["export-activations", "--file", dir + "/\(c).txt", "--word_id", "4", "--output_dir", dir + "/train/\(c)"])
            XCTAssertEqual(r.status, 0, r.err)
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/train/pos/5").sorted()
        XCTAssertEqual(files.count, 24)
        XCTAssertTrue(files.contains("4_V_6_CLS_the_movie_was_good_SEP.npy"), "PAIR's file names: \(files.prefix(3))")
        // The exported vector is the trace's row, bit for bit; the header follows NumPy's format 1.0.
        let bytes = [UInt8](FileManager.default.contents(atPath: dir + "/train/pos/5/4_V_6_CLS_the_movie_was_good_SEP.npy")!)
        XCTAssertEqual(Array(bytes[0..<8]), [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0, "data starts on a 64-byte boundary")
        XCTAssertEqual(String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (384,), }")
        XCTAssertEqual(bytes.count, 10 + headerLength + 384 * 4)
        let same = try dreamlab(["-e", "local t = lab.npy.load('\(dir)/train/pos/5/4_V_6_CLS_the_movie_was_good_SEP.npy'); print((t - lab.load():run('the movie was good'):site('blocks.5.hook_resid_post')[4]):abs():max())"])
        XCTAssertEqual(same.out, "0.0\n", same.err)
        // A float64 array as numpy.save writes it (built here byte by byte) loads as float32.
        var f64 = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }"
        header += String(repeating: " ", count: 64 - (10 + header.count + 1) % 64) + "\n"
        f64.append(contentsOf: [UInt8(header.count & 0xFF), UInt8(header.count >> 8)] + Array(header.utf8))
        for v in [1.5, -2.0, 3.25, 1e-3] { var b = v.bitPattern.littleEndian; withUnsafeBytes(of: &b) { f64.append(contentsOf: $0) } }
        try f64.write(to: URL(fileURLWithPath: dir + "/f64.npy"))
        let load = try dreamlab(["-e", "local t = lab.npy.load('\(dir)/f64.npy'); print(t:shape()[1], t:shape()[2], t:get(0, 0), t:get(1, 0), t:get(1, 1))"])
        XCTAssertEqual(load.out, "2\t2\t1.5\t3.25\t0.0010000000474975\n", load.err)
        try Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 200, 0]).write(to: URL(fileURLWithPath: dir + "/bad.npy"))
        XCTAssertTrue(try dreamlab(["-e", "lab.npy.load('\(dir)/bad.npy')"]).err.contains("not a NumPy .npy file Dreamlab can read"))

        // The probe: command line and Lua train the same classifier on the same files.
        let cli = try dreamlab(["probe", "--train_dir", dir + "/train", "--concept1", "pos", "--concept2", "neg", "--layer_id", "5", "--output_dir", dir + "/p5"])
        XCTAssertEqual(cli.status, 0, cli.err)
        let summary = try json(dir + "/p5/probe.json")
        XCTAssertGreaterThanOrEqual(summary["train_accuracy"] as! Double, 0.95)
        XCTAssertEqual(summary["validation_count"] as? Int, 4)
        XCTAssertEqual((summary["validation_files"] as? [String])?.count, 4)
        let lua = try dreamlab(["-e", """
            local p = lab.probe{dir='\(dir)/train', concept1='pos', concept2='neg', layer=5}
            local w = lab.npy.load('\(dir)/p5/weights.npy')
            print(string.format('%.6f %.4f', (p.weights - w):abs():max(), p.train_accuracy))
            -- the direction separates the classes: positive words score below negative ones
            local m = lab.load()
            local d = lab.objectives.direction{site='blocks.5.hook_resid_post', pos=4, vector=p.weights}
            print(d:eval(m, 'the movie was good') < d:eval(m, 'the movie was awful'))
            """])
        XCTAssertEqual(lua.out, String(format: "0.000000 %.4f\ntrue\n", summary["train_accuracy"] as! Double), lua.err)
        XCTAssertTrue(try dreamlab(["-e", "lab.probe{x=lab.tensor{{1, 2}, {3, 4}}, y={0, 0}}"]).err.contains("both classes need examples"))
        XCTAssertTrue(try dreamlab(["probe", "--train_dir", dir + "/train", "--concept1", "pos", "--concept2", "pos", "--output_dir", dir + "/pp"]).err.contains("a probe separates two different concepts"))
        // Lines that tokenize alike are numbered, not overwritten; a --word found nowhere is an error that writes nothing.
        try "he went home\nhe went home\nHe went home!\n".write(toFile: dir + "/dup.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try dreamlab(["export-activations", "--file", dir + "/dup.txt", "--word", "he", "--output_dir", dir + "/dup"]).status, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/dup/0").count, 3)
        let none = try dreamlab(["export-activations", "--file", dir + "/dup.txt", "--word", "zebra", "--output_dir", dir + "/none"])
        XCTAssertEqual(none.status, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/none"))

        // mlm.py on the random MLM fixture: the printed top-k is the softmax of the head's logits read through tensors.
        XCTAssertEqual(try dreamlab(["random-model", "--out", dir + "/mlm"]).status, 0)
        let mlm = try dreamlab(["mlm", "--model_config", dir + "/mlm", "--mask_word", "2", "--top_k", "3"])
        XCTAssertEqual(mlm.status, 0, mlm.err)
        let indices = mlm.out.split(separator: "\n")[0]
        let viaLua = try dreamlab(["-e", "local m = lab.load('\(dir)/mlm'); local v, i = m:run({'[CLS]', 'i', '[MASK]', 'kicks', '##haw', '##s', '[SEP]'}):site('mlm.logits')[2]:softmax():topk(3); print('Indices: [' .. table.concat(i, ' ') .. ']')"])
        XCTAssertEqual(String(indices), viaLua.out.trimmingCharacters(in: .newlines), viaLua.err)
        XCTAssertTrue(try dreamlab(["mlm"]).err.contains("has no MLM head"))
        XCTAssertTrue(try dreamlab(["mlm", "--model_config", dir + "/mlm", "--top_k", "0"]).err.contains("--top_k must be in 1..."))

        // dream_mlm.py: the masked word stays, the spans around it are dreamed, and the records say prediction as
        // PAIR's do; lab.dream with the same spans on the masked sentence computes the same numbers.
        let dm = try dreamlab(["dream-mlm", "--model_config", dir + "/mlm", "--output_dir", dir + "/dm", "--num_iterations", "20",
                               "--metrics_frequency", "10", "--maximize_id", "2000", "--learning_rate", "0.5"])
        XCTAssertEqual(dm.status, 0, dm.err)
        let folder = try FileManager.default.contentsOfDirectory(atPath: dir + "/dm")[0]
        let res = try json(dir + "/dm/" + folder + "/results.json")
        XCTAssertEqual(res["type"] as? String, "dream_mlm")
        XCTAssertEqual((res["params"] as! [String: Any])["dream_after_end"] as? Int, 5)
        let its = (res["results"] as! [String: Any])["iterations"] as! [[String: Any]]
        XCTAssertEqual(its.map { $0["number"] as! Int }, [0, 10, 20])
        XCTAssertEqual(Set(its[2].keys), ["number", "tokens", "temperature", "max_values", "prediction", "ids_prediction"])
        XCTAssertEqual((its[2]["tokens"] as! [String])[2], "[MASK]")
        let lua2 = try dreamlab(["-e", """
            local m = lab.load('\(dir)/mlm')
            local r = lab.dream{model=m, sentence='i [MASK] kickshaws', objective=lab.objectives.mlm{model=m, word=2, token=2000, measure='probability'},
                                spans={{1, 1}, {3, 5}}, steps=20, every=10, lr=0.5, quiet=true}
            print(string.format('%.6g', r.history[3].activation))
            """])
        XCTAssertEqual(lua2.out.trimmingCharacters(in: .newlines), String(format: "%.6g", its[2]["prediction"] as! Double), lua2.err)

        // reconstruct_*activation.py: from random logits the MSE to layer 5's activations falls; a changed row equal
        // to the sentence's own and a shift of magnitude 0 leave the target as it was, so they give the same numbers.
        var runs = 0
        func reconstruct(_ args: [String]) throws -> [[String: Any]] {
            runs += 1
            let out = dir + "/rec-\(runs)"
            let r = try dreamlab(args + ["--output_dir", out, "--num_iterations", "200", "--metrics_frequency", "100", "--learning_rate", "0.3"])
            XCTAssertEqual(r.status, 0, r.err)
            let res = try json(out + "/" + (try FileManager.default.contentsOfDirectory(atPath: out)[0]) + "/results.json")
            XCTAssertEqual(res["type"] as? String, ["reconstruct": "reconstruct", "reconstruct-changed": "reconstruct_changed", "reconstruct-shifted": "reconstruct_shifted"][args[0]])
            return (res["results"] as! [String: Any])["iterations"] as! [[String: Any]]
        }
        let plain = try reconstruct(["reconstruct"])
        XCTAssertEqual(plain.map { $0["number"] as! Int }, [0, 100, 200])
        XCTAssertEqual(Set(plain[0].keys), ["number", "tokens", "temperature", "max_values", "loss", "ids_loss"])
        XCTAssertLessThan(plain[2]["loss"] as! Double, 0.5 * (plain[0]["loss"] as! Double), "the reconstruction error falls")
        XCTAssertEqual(try dreamlab(["export-activations", "--sentence", "i hate kickshaws", "--word_id", "1", "--output_dir", dir + "/own"]).status, 0)
        let own = try FileManager.default.contentsOfDirectory(atPath: dir + "/own/5")[0]
        let changed = try reconstruct(["reconstruct-changed", "--change_activation_dir", dir + "/own", "--change_activation_file", own, "--change_id", "1"])
        let shifted = try reconstruct(["reconstruct-shifted", "--shift_vector", dir + "/p5/weights.npy", "--shift_magnitude", "0"])
        for (a, b) in [(plain, changed), (plain, shifted)] {
            XCTAssertEqual(a.map { $0["loss"] as! Double }, b.map { $0["loss"] as! Double })
        }
        let moved = try reconstruct(["reconstruct-shifted", "--shift_vector", dir + "/p5/weights.npy", "--shift_magnitude", "5"])
        XCTAssertNotEqual(moved[0]["loss"] as! Double, plain[0]["loss"] as! Double, "a shift moves the target")
    }

    /// Every result file type, read with the schema PAIR's viewer (text-dream/explainable_code) reads: for each type
    /// the key paths its cards access unconditionally, with their JSON types (written from PAIR's source by hand).
    func testEveryFileTypeHasWhatPAIRsViewerReads() throws {
        let dir = tempDir("viewer")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        enum Kind { case number, string, strings, numbers, numberOrNull, list }
        func check(_ file: String, _ schema: [(String, Kind)], iterationKeys: [String] = [], type: String?, line: UInt = #line) throws {
            let j = try json(file)
            if let type { XCTAssertEqual(j["type"] as? String, type, file, line: line) }
            for (path, kind) in schema {
                var v: Any? = j
                for key in path.split(separator: ".") { v = (v as? [String: Any])?[String(key)] }
                switch kind {
                case .number: XCTAssertTrue(v is NSNumber, "\(path) is a number in \(file)", line: line)
                case .string: XCTAssertTrue(v is String, "\(path) is a string in \(file)", line: line)
                case .strings: XCTAssertFalse((v as? [String] ?? []).isEmpty, "\(path) is a non-empty list of strings in \(file)", line: line)
                case .numbers: XCTAssertNotNil(v as? [Double], "\(path) is a list of numbers in \(file)", line: line)
                case .numberOrNull: XCTAssertTrue(v is NSNumber || v is NSNull, "\(path) is a number or null in \(file)", line: line)
                case .list: XCTAssertFalse((v as? [Any] ?? []).isEmpty, "\(path) is a non-empty list in \(file)", line: line)
                }
            }
            // The viewer reads each metric it finds in the first record from every record, as a number.
            let records = ((j["results"] as? [String: Any])?["iterations"] ?? j["iterations"]) as? [[String: Any]] ?? []
            for key in iterationKeys {
                XCTAssertFalse(records.isEmpty, file, line: line)
                for r in records { XCTAssertTrue(r[key] is NSNumber, "every record's \(key) is a number in \(file)", line: line) }
            }
            for r in records where j["iterations"] == nil {
                XCTAssertNotNil(r["number"] as? Int, file, line: line); XCTAssertNotNil(r["tokens"] as? [String], file, line: line)
            }
        }
        let neuron = ["--layer_id", "5", "--word_id", "2", "--neuron_id", "300"]
        XCTAssertEqual(try dreamlab(["dream", "--output_dir", dir + "/d", "--num_iterations", "4", "--metrics_frequency", "2", "--dream_start", "2", "--dream_end", "2"] + neuron).status, 0)
        let d = dir + "/d/" + (try FileManager.default.contentsOfDirectory(atPath: dir + "/d")[0])
        let params: [(String, Kind)] = [("params.tokens", .strings), ("params.layer_id", .numberOrNull), ("params.word_id", .numberOrNull), ("params.neuron_id", .numberOrNull)]
        try check(d + "/results.json", params + [("params.dream_start", .number), ("params.dream_end", .number), ("results.iterations", .list)],
                  iterationKeys: ["activation", "ids_activation", "temperature"], type: "dream")
        try check(d + "/top_k2.json", [("word_id", .number), ("params.tokens", .strings), ("iterations", .list)], iterationKeys: ["activation", "number"], type: "top_words")
        let topk = try json(d + "/top_k2.json")["iterations"] as! [[String: Any]]
        XCTAssertTrue(topk.allSatisfy { ($0["tokens"] as? [String])?.isEmpty == false && ($0["scores"] as? [Double])?.allSatisfy { (0...1).contains($0) } == true })
        XCTAssertEqual(try dreamlab(["search", "--output_dir", dir, "--limit", "200"] + neuron).status, 0)
        let tops: [(String, Kind)] = [("tokens", .strings), ("change_word", .number), ("tops", .list), ("layer_id", .numberOrNull), ("word_id", .numberOrNull), ("neuron_id", .numberOrNull)]
        try check(dir + "/top_tokens_in_i hate kickshaws_2.json", tops, type: "token_search")
        let search = try json(dir + "/top_tokens_in_i hate kickshaws_2.json")["tops"] as! [[String: Any]]
        XCTAssertEqual(search.map { $0["activation"] as! Double }, search.map { $0["activation"] as! Double }.sorted(by: >), "tops sorted best first: the viewer scales by tops[0]")
        XCTAssertTrue(search.allSatisfy { $0["token"] is String })
        XCTAssertEqual(try dreamlab(["similar", "--output_dir", dir, "--top_k", "5"] + neuron).status, 0)
        try check(dir + "/closest_to_i hate kickshaws_2.json", tops + [("furthest", .number)], type: "similar_embeddings")
        XCTAssertTrue((try json(dir + "/closest_to_i hate kickshaws_2.json")["tops"] as! [[String: Any]]).allSatisfy { $0["token"] is String && $0["activation"] is NSNumber && $0["distance"] is NSNumber })
        XCTAssertEqual(try dreamlab(["reconstruct", "--output_dir", dir + "/r", "--num_iterations", "4", "--metrics_frequency", "2"]).status, 0)
        let r = dir + "/r/" + (try FileManager.default.contentsOfDirectory(atPath: dir + "/r")[0])
        try check(r + "/results.json", params + [("params.dream_start", .number), ("params.dream_end", .number), ("results.iterations", .list)],
                  iterationKeys: ["loss", "ids_loss", "temperature"], type: "reconstruct")
        XCTAssertEqual(try dreamlab(["-e", "lab.npy.save('\(dir)/shift.npy', lab.load():embedding('she'))"]).status, 0)
        XCTAssertEqual(try dreamlab(["reconstruct-shifted", "--output_dir", dir + "/s", "--num_iterations", "4", "--metrics_frequency", "2",
                                     "--shift_vector", dir + "/shift.npy", "--target", "she"]).status, 0)
        let sh = dir + "/s/" + (try FileManager.default.contentsOfDirectory(atPath: dir + "/s")[0])
        try check(sh + "/results.json", params + [("params.shift_start", .number), ("params.shift_end", .number), ("params.target", .string),
                                                  ("params.shift_magnitude", .number), ("results.iterations", .list)],
                  iterationKeys: ["loss", "ids_loss", "temperature"], type: "reconstruct_shifted")
    }

    func testEmbeddedLuaResourcesParse() throws {
        let luac = ["/usr/bin/luac5.4", "/usr/bin/luac"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let luac else { return XCTFail("luac5.4 is missing; scripts/test installs it (apt-get install lua5.4)") }
        let resources = Self.root + "/Sources/Lab/Resources"
        let files = try FileManager.default.contentsOfDirectory(atPath: resources).filter { $0.hasSuffix(".lua") }.sorted()
        XCTAssertEqual(files, ["completion.lua", "help.lua", "plugin_child.lua", "sandbox.lua"])
        for f in files {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: luac)
            p.arguments = ["-p", resources + "/" + f]
            let err = Pipe()
            p.standardError = err
            try p.run(); p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "\(f): \(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
        }
    }
}

/// Sweeps with every method and option, their status, and their report.
final class SweepTests: DreamlabProcessTestCase {
    /// One writer per sweep file: while another process holds its lock, a sweep on the same file is refused and the
    /// file is left as it was; once the lock is free the sweep runs (the lock file stays, empty, for the next writer).
    func testASecondWriterOnOneSweepFileIsRefused() throws {
        let dir = tempDir("sweeplock")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let out = dir + "/l5.jsonl"
        let fd = open(out + ".lock", O_CREAT | O_RDWR, 0o644)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        let args = ["sweep", "--out", out, "--layer_id", "5", "--word_id", "2", "--units", "0-1", "--num_iterations", "2"]
        let refused = try dreamlab(args)
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.err.contains("another sweep is writing"), refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "the refused sweep wrote nothing")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + ".lock"), "the holder's lock file stays")
        close(fd)
        let ran = try dreamlab(args)
        XCTAssertEqual(ran.status, 0, ran.err)
        XCTAssertEqual(try JSONLinesCount(out), 2)
        XCTAssertEqual(try dreamlab(args).status, 0, "the lock is free again once a sweep ends")
    }
    func JSONLinesCount(_ path: String) throws -> Int {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count
    }

    func testEveryMethodSweepsAndTheStatusAndReportShowIt() throws {
        let dir = tempDir("sweeps")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let mk = try dreamlab(["random-model", "--out", dir + "/mlm", "--seed", "5"])
        XCTAssertEqual(mk.status, 0, mk.err)
        let cli = try dreamlab(["sweep", "--method", "discrete", "--units", "0-3", "--num_iterations", "3", "--candidates", "16", "--population", "2",
                                "--dream_start", "2", "--dream_end", "2", "--shard", "0/2", "--out", dir + "/d.0.jsonl", "--quiet"])
        XCTAssertEqual(cli.status, 0, cli.err)
        let code = """
        local t = function(u) return lab.objectives.neuron{layer=5, word=2, unit=u} end
        local h = lab.sweep{objective=t, units={4, 5}, method="hybrid", restarts=2, steps=6, every=3, first=2, last=2, out="\(dir)/h.jsonl", quiet=true}
        assert(h.done == 2 and #h == 2 and h[1].method == "hybrid" and h[1].restarts == 2 and h[1].best.text, "hybrid records")
        local f = lab.sweep{objective=t, units={6}, method="discrete", steps=2, candidates=8, population=2, first=2, last=2,
                            fluency=0.5, fluency_model="\(dir)/mlm", out="\(dir)/f.jsonl", quiet=true}
        assert(f[1].best.pll ~= nil and f[1].best.score ~= nil, "a fluency sweep records PLL and score")
        assert(#f[1].top_tokens == 1, "top tokens per dreamed position")
        print("merged", lab.sweep_merge("\(dir)/all.jsonl", {"\(dir)/h.jsonl", "\(dir)/f.jsonl"}))
        """
        let lua = try dreamlab(["-e", code])
        XCTAssertEqual(lua.status, 0, lua.err)
        XCTAssertTrue(lua.out.contains("merged\t3"), lua.out)
        let d = try String(contentsOfFile: dir + "/d.0.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(d.map { $0["unit"] as! Int }, [0, 2], "the discrete method shards one unit per batch")
        XCTAssertTrue(d.allSatisfy { $0["method"] as? String == "discrete" && ($0["best"] as? [String: Any])?["activation"] != nil })
        // A torn last line, as a crash leaves it: --status counts it and names the command that finishes the shard.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: dir + "/d.0.jsonl"))
        handle.seekToEndOfFile(); handle.write(Data("{\"unit\": 9, \"obj".utf8)); handle.closeFile()
        let st = try dreamlab(["sweep", "--status", dir + "/d.0.jsonl"])
        XCTAssertEqual(st.status, 1, st.out)
        XCTAssertTrue(st.out.contains("shard 0/2, 2/2 units done, missing none, 1 damaged line(s)"), st.out)
        XCTAssertTrue(st.out.contains("shard 1/2: no file among those given"), st.out)
        XCTAssertTrue(st.out.contains("overall: 2/4 units done, missing 1,3"), st.out)
        XCTAssertTrue(st.out.contains("--method discrete") && st.out.contains("--shard 0/2"), st.out)
        let resumed = try dreamlab(["sweep", "--method", "discrete", "--units", "0-3", "--num_iterations", "3", "--candidates", "16", "--population", "2",
                                    "--dream_start", "2", "--dream_end", "2", "--shard", "0/2", "--out", dir + "/d.0.jsonl", "--quiet"])
        XCTAssertTrue(resumed.out.contains("0 units dreamed, 2 already in"), resumed.out)
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.hasPrefix("d.0.jsonl.damaged-") },
                      "the damaged file is kept")
        let report = try dreamlab(["report", dir + "/all.jsonl", dir + "/d.0.jsonl", "-o", dir + "/sweep.html"])
        XCTAssertEqual(report.status, 0, report.err)
        XCTAssertTrue(report.out.contains("5 units"), report.out)
        try renderInChromium(dir + "/sweep.html", png: dir + "/sweep.png")
        let dom = try String(contentsOfFile: dir + "/sweep.html", encoding: .utf8)
        XCTAssertTrue(dom.contains("\"records\""), "the sweep's records are in the page")
    }
}
