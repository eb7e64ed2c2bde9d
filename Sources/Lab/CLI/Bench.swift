import Engine
import Foundation
import Objectives

/// `dreamlab bench`: the numbers scripts/bench reports, measured in this process.
let benchCommand = Subcommand(
    name: "bench", brief: "throughput, dream steps/s, search candidates/s, peak memory",
    summary: "Forward throughput, dream steps/s, token-search candidates/s and peak memory, measured in this process (scripts/bench adds PyTorch).",
    usage: "[--model DIR|default|random-base] [--what forward|dream|search|discrete|all] [--precision fp32|bf16] [--seconds S] [--threads 1,2] [--json]",
    flags: [.string("model", "default", "default, random-base (bert-base shape, random weights) or a model directory/name"),
            .string("what", "all", "forward, dream, search, discrete (time to the exhaustive maximum at one position, not in all) or all"),
            SharedFlags.precision,
            .float("seconds", "3", "seconds per measurement"),
            .string("threads", "", "thread counts to measure in turn, e.g. 1,2 (default: the CPUs this process may use), then the scaling"),
            .bool("json", false, "also print one BENCH_JSON line")]
) { f in
    let spec = f.string("threads")
    let counts = spec.isEmpty ? [Threads.available] : try spec.split(separator: ",").map { s -> Int in
        guard let n = Int(s.trimmingCharacters(in: .whitespaces)), (1...256).contains(n) else { throw CLIError("--threads takes counts such as 1,2 (each 1...256), got \(spec)") }
        return n
    }
    var all: [Int: [String: Double]] = [:]
    for n in counts {
        Threads.count = n
        GroupBalance.shared.reset()
        GroupBalance.products.reset()
        print("threads: \(n)")
        all[n] = try runBench(modelSpec: f.string("model"), precision: try SharedFlags.precision(f), seconds: Double(f.float("seconds")), what: f.string("what"), json: f.bool("json") && counts.count == 1)
    }
    if counts.count > 1, let base = all[counts[0]] {
        print("scaling against \(counts[0]) thread\(counts[0] == 1 ? "" : "s") (higher is better; peak memory and per-call times excluded):")
        for key in base.keys.sorted() where key != "peak_mb" && !key.hasSuffix("_ms") && !key.hasSuffix("_mb") {
            print(String(format: "  %-34@", key) + counts.dropFirst().map { String(format: "  %d threads %.2fx", $0, (all[$0]?[key] ?? .nan) / base[key]!) }.joined())
        }
        if f.bool("json") {
            var flat: [String: Double] = [:]
            for (n, r) in all { for (k, v) in r { flat["\(k)_t\(n)"] = v } }
            print("BENCH_JSON " + (try jsonString(flat)))
        }
    }
    return 0
}

@discardableResult
func runBench(modelSpec: String, precision: Precision, seconds: Double, what: String, json: Bool) throws -> [String: Double] {
    guard ["forward", "dream", "search", "discrete", "all"].contains(what) else { throw CLIError("--what must be forward, dream, search, discrete or all; got \(what)") }
    guard seconds > 0 else { throw CLIError("--seconds must be positive, got \(seconds)") }
    var results: [String: Double] = [:]
    do {
        let model: BertModel
        if modelSpec == "random-base" { model = try RandomBert.model(RandomBert.baseConfig, seed: 1).converted(to: precision) }
        else { model = try loadModel(modelSpec == "default" ? nil : modelSpec, precision: precision) }
        let c = model.config
        let name = modelSpec == "random-base" ? "bert-base-shape (random weights)" : (model.directory as NSString).lastPathComponent
        print("model: \(name)  layers \(c.numLayers) hidden \(c.hiddenSize)  \(precision == .bf16 ? "bf16 (" + Precision.bf16Kernel + ")" : "fp32"), BLAS \(BLASRuntime.coreName), \(Threads.count) thread\(Threads.count == 1 ? "" : "s") split by Dreamlab")

        func timeIt(_ label: String, units: Double, unitName: String, _ body: () throws -> Void) rethrows -> Double {
            try body()   // warm-up
            let start = Date(); var n = 0
            repeat { try body(); n += 1 } while Date().timeIntervalSince(start) < seconds
            let el = Date().timeIntervalSince(start)
            let rate = Double(n) * units / el
            print(String(format: "%-46@ %10.1f %@  (%.2f ms per call, %d calls)", label, rate, unitName, el / Double(n) * 1000, n))
            return rate
        }
        // Sentences of exactly T tokens, from the vocabulary's plain words.
        func ids(T: Int, seed: Int) -> [Int] {
            var r = [model.tokenizer.clsId]
            for k in 0..<(T - 2) { r.append(2000 + (seed * 131 + k * 17) % 5000) }
            return r + [model.tokenizer.sepId]
        }
        if what == "all" || what == "forward" {
            for B in [1, 64] {
                let batch = InputBatch(ids: (0..<B).map { ids(T: 16, seed: $0) })
                results["forward_b\(B)"] = try timeIt("forward T=16 batch \(B)", units: Double(B), unitName: "seq/s") { _ = try model.forward(batch, keep: []) }
            }
        }
        if what == "all" || what == "dream" {
            // The issue's dream benchmark: T=12, one dreamed span of 10 positions, PAIR's normalised neuron at layer 5.
            let layer = min(5, c.numLayers - 1)
            let obj = PairActivation(layer: layer, word: 5, unit: 100, normalize: true, numLayers: c.numLayers)
            let seq = ids(T: 12, seed: 7)
            var fusedAt: [Int: Bool] = [:]
            for R in [1, 8] {
                let input = try RelaxedInput(model: model, ids: seq, typeIds: [Int](repeating: 0, count: 12), first: 1, last: 10, restarts: R)
                var z = input.oneHotLogits()
                var adam = Adam(count: z.count, lr: 0.1)
                // The step the dream loop runs: fused (one pass over E) where SoftmaxStepper applies.
                let fused = SoftmaxStepper.applies(to: input, mode: .softmax, fluency: false)
                fusedAt[R] = fused
                if fused {
                    let stepper = SoftmaxStepper(input: input, z: z, lr: 0.1, temperature: 1.0)
                    let rate = try timeIt("dream step T=12 span 10 restarts=\(R)", units: 1, unitName: "steps/s") {
                        let (_, dRows) = try stepper.gradient(objective: obj)
                        stepper.update(dRows: dRows, temperature: 1.0, next: 1.0)
                        _ = try input.discreteValues(stepper.argmaxSpans, objective: obj)
                    }
                    results["dream_r\(R)"] = rate * Double(R)
                    if R > 1 { print(String(format: "%-46@ %10.1f restart-steps/s", "  = restarts=\(R) throughput", rate * Double(R))) }
                }
                let rate = try timeIt(fused ? "  the same, unfused (E read twice)" : "dream step T=12 span 10 restarts=\(R)", units: 1, unitName: "steps/s") {
                    let (_, dz, p, _) = try input.valueAndGradient(z, temperature: 1.0, mode: .softmax, noise: nil, objective: obj)
                    adam.step(&z, grad: dz, scale: -1)
                    // What the dream loop adds per step: the argmax input's activation, in a pass of its own. (Scoring
                    // it inside the soft pass was measured slower on a 2-core EPYC, where the small-M kernels are bound
                    // by arithmetic; on an Emerald Rapids VM, bound by reading the weights, one pass of 2R rows took
                    // 4.0 against 4.2 ms at R=1 and 21-23 against 23-26 ms at R=8: 1-3% of a step, not worth a loop
                    // that reports each step's argmax one step late.)
                    _ = try input.discreteValues(input.argmaxSpans(p), objective: obj)
                }
                if fused { continue }
                results["dream_r\(R)"] = rate * Double(R)
                if R > 1 { print(String(format: "%-46@ %10.1f restart-steps/s", "  = restarts=\(R) throughput", rate * Double(R))) }
            }
            // Bytes a step must move, counted from the shapes (every weight and E are far larger than the caches):
            // the soft forward, the backward and the argmax input's forward each read the encoder's weights up to the
            // objective's layer; p·E and dE·E^T each read E (one pass for both when fused); softmax, its backward and
            // Adam stream (R,P,V) arrays: unfused 14 passes (softmax 2, p·E 1, dp 1, its backward 3, Adam 7), fused 10
            // (z, m, v read and written, p read and z/T' written in the pass; the softmax reads z/T' and writes p).
            for R in [1, 8] {
                let layerBytes = Double(4 * c.hiddenSize * c.hiddenSize + 2 * c.hiddenSize * c.intermediateSize) * 4
                let weights = layerBytes * Double(layer + 1), E = Double(c.vocabSize * c.hiddenSize) * 4
                let rpv = Double(R * 10 * c.vocabSize) * 4
                let passes = fusedAt[R] == true ? 1 : 2, arrays = fusedAt[R] == true ? 10 : 14
                let bytes = 3 * weights + Double(passes) * E + Double(arrays) * rpv
                let steps = (results["dream_r\(R)"] ?? 0) / Double(R)
                results["dream_r\(R)_mb"] = bytes / 1e6
                results["dream_r\(R)_gbs"] = bytes * steps / 1e9
                print(String(format: "%-46@ %10.1f MB per step at %.1f GB/s (3 x %.0f MB of weights, %d x %.0f MB of E, %d x %.1f MB of (R,P,V) arrays)",
                             "  bytes moved, restarts=\(R)", bytes / 1e6, bytes * steps / 1e9, weights / 1e6, passes, E / 1e6, arrays, rpv / 1e6))
            }
            // A custom graph objective written to equal the built-in (what lab.objective traces), same work.
            do {
                var sq = GraphNode.scalar(0)
                for l in 0..<c.numLayers {
                    let row = GraphNode(.index(5), [GraphNode(.site(Site(.residPost, layer: l)))])
                    sq = GraphNode(.add, [sq, GraphNode(.sum, [GraphNode(.pow, [row, GraphNode.scalar(2)])])])
                }
                let h = GraphNode(.index(100), [GraphNode(.index(5), [GraphNode(.site(Site(.residPost, layer: layer)))])])
                let custom = GraphObjective(GraphNode(.div, [h, GraphNode(.sqrt, [sq])]), name: "custom neuron")
                for (label, key, o) in [("dream step, built-in neuron", "builtin_r1", obj as ActivationObjective), ("dream step, custom graph neuron", "custom_r1", custom)] {
                    let input = try RelaxedInput(model: model, ids: seq, typeIds: [Int](repeating: 0, count: 12), first: 1, last: 10)
                    var z = input.oneHotLogits()
                    var adam = Adam(count: z.count, lr: 0.1)
                    results[key] = try timeIt(label, units: 1, unitName: "steps/s") {
                        let (_, dz, _, _) = try input.valueAndGradient(z, temperature: 1.0, mode: .softmax, noise: nil, objective: o)
                        adam.step(&z, grad: dz, scale: -1)
                    }
                }
                print(String(format: "%-46@ %10.2f", "  = custom / built-in", results["custom_r1"]! / results["builtin_r1"]!))
            }
            // Where a step's time goes, single dream and restarts=8.
            for R in [1, 8] {
            let input = try RelaxedInput(model: model, ids: seq, typeIds: [Int](repeating: 0, count: 12), first: 1, last: 10, restarts: R)
            let z = input.oneHotLogits()
            var parts: [(String, Double)] = []
            func t(_ label: String, _ body: () throws -> Void) throws {
                let s = Date(); for _ in 0..<10 { try body() }; parts.append((label, Date().timeIntervalSince(s) / 10 * 1000))
            }
            var p: [Float] = [], rows = FloatBuffer(count: 1), acts: Activations? = nil, grads = SiteGradients(B: R, T: 12, config: c)
            var dWord = FloatBuffer(count: 1)
            try t("softmax(z/T)") { p = input.probabilities(z, temperature: 1, mode: .softmax, noise: nil) }
            try t("p·E (embedding rows)") { rows = input.wordRows(p, mode: .softmax) }
            try t("forward to layer \(c.numLayers - 1)") { acts = try model.forward(input.batch, upTo: c.numLayers - 1, wordRows: rows) }
            try t("objective + site gradient") { grads = SiteGradients(B: R, T: 12, config: c); _ = try obj.evaluate(acts!, grads: grads) }
            try t("backward to embeddings") { dWord = model.backward(acts!, grads) }
            try t("dE·E^T + softmax backward") { _ = input.logitGradient(dWord: dWord, p: p, z: z, temperature: 1, mode: .softmax) }
            try t("argmax input forward (ids_activation)") { _ = try input.discreteValues((0..<R).map { _ in Array(seq[1...10]) }, objective: obj) }
            var fusedLine: String? = nil
            if fusedAt[R] == true {
                // What the fused pass replaces: the softmax, p·E, dE·E^T with its softmax backward, and Adam.
                let stepper = SoftmaxStepper(input: input, z: z, lr: 0.1, temperature: 1)
                let dRows = FloatBuffer(count: R * 10 * c.hiddenSize)
                input.gather(dRows.ptr, from: dWord.ptr, H: c.hiddenSize)
                let s = Date(); for _ in 0..<10 { stepper.update(dRows: dRows, temperature: 1, next: 1) }
                let fusedMs = Date().timeIntervalSince(s) / 10 * 1000
                let replaced = parts.filter { $0.0.hasPrefix("softmax") || $0.0.hasPrefix("p·E") || $0.0.hasPrefix("dE·E^T") }.reduce(0) { $0 + $1.1 }
                fusedLine = String(format: "  fused pass over E (softmax backward, Adam, next softmax and p·E): %.2f ms, against %.2f ms for the three parts it replaces (Adam not counted)",
                                   fusedMs, replaced)
            }
            let total = parts.reduce(0) { $0 + $1.1 }
            print("profile of one step, restarts=\(R):")
            for (l, ms) in parts { print(String(format: "  %-40@ %7.2f ms  %4.0f%%", l, ms, ms / total * 100)) }
            if let fusedLine { print(fusedLine) }
            }
        }
        if what == "all" || what == "dream" {
            // The discrete method: exact inputs scored per second (its candidates go through the model in batches).
            let layer = min(5, c.numLayers - 1)
            var o = DreamOptions()
            o.method = .discrete
            o.sentence = "i hate kickshaws and the rest of it"
            o.steps = 1_000_000
            o.discrete.screen = 0   // exact scores only: the screen's estimates are timed by --what discrete
            let obj = PairActivation(layer: layer, word: 2, unit: 100, normalize: true, numLayers: c.numLayers)
            let budget = seconds
            let started = Date()
            o.onStep = { _ in Date().timeIntervalSince(started) < budget }
            let r = try runDream(model: model, objective: obj, options: o)
            let rate = Double(r.scored) / r.seconds
            results["discrete_scored"] = rate
            print(String(format: "%-46@ %10.1f inputs/s  (%d scored in %.1f s, %d candidates a step)", "discrete method, exact inputs scored (no screen)",
                         rate, r.scored, r.seconds, o.discrete.candidates))
            // Where a discrete step's time goes: the population's one-hot gradient, then the candidates' exact scores.
            let enc = model.tokenizer.encode(o.sentence)
            let input = try RelaxedInput(model: model, ids: enc.ids, typeIds: enc.typeIds, first: 1, last: enc.ids.count - 2, restarts: 8)
            let span = Array(enc.ids[1...(enc.ids.count - 2)])
            let members = (0..<8).map { r in span.enumerated().map { $0.offset == r % span.count ? 2000 + r : $0.element } }
            let children = (0..<o.discrete.candidates).map { c in span.enumerated().map { $0.offset == c % span.count ? 3000 + c : $0.element } }
            func ms(_ body: () throws -> Void) rethrows -> Double { let s = Date(); for _ in 0..<5 { try body() }; return Date().timeIntervalSince(s) / 5 * 1000 }
            let g = try ms { _ = try input.oneHotGradient(members, objective: obj) }
            let v = try ms { _ = try input.discreteValues(children, objective: obj) }
            let seqs = children.map(input.fill), batch = InputBatch(ids: seqs, typeIds: [[Int]](repeating: enc.typeIds, count: seqs.count), padId: model.tokenizer.padId)
            // The same forward computing every row of the deepest layer: what scoring only the rows the objective reads saves.
            let f = try ms { _ = try model.forward(batch, upTo: obj.deepestLayer, keep: Set(obj.sites)) }
            let T = enc.ids.count, flops = Double(children.count) * c.forwardFLOPs(T: T, deepest: obj.deepestLayer, rows: obj.rowsAtDeepestLayer(T: T)?.count)
            print(String(format: "  profile of one discrete step: population gradient (8) %.1f ms, %d candidates scored %.1f ms (%.1f GFLOP, %.0f GFLOP/s; with every row of the last layer: %.1f ms)",
                         g, children.count, v, flops / 1e9, flops / v / 1e6, f))
        }
        if what == "all" || what == "forward" {
            // The machine's memory read bandwidth: the roof for the byte-bound dream step.
            let best = memoryReadBandwidth()
            results["read_gbs"] = best
            print(String(format: "%-46@ %10.1f GB/s  (a 256 MB array summed, %d thread%@)", "memory read bandwidth", best, Threads.count, Threads.count == 1 ? "" : "s"))
        }
        if what == "all" || what == "search" {
            // Token search: "i hate kickshaws", position 2, over the first 2048 vocabulary ids (rates extrapolate).
            let pool = Array(0..<2048)
            let last = PairActivation(layer: c.numLayers - 1, word: 2, unit: 100, normalize: true, numLayers: c.numLayers)
            let mid = PairActivation(layer: c.numLayers / 2 - 1, word: 2, unit: 100, normalize: false, numLayers: c.numLayers)
            for (label, key, obj) in [("search, last-layer unit (PAIR normalised)", "search_last", last as ActivationObjective),
                                      ("search, middle-layer unit (raw, stops early)", "search_mid", mid)] {
                var s = SearchOptions()
                s.topk = 10
                s.candidates = Array(0..<256)
                _ = try tokenSearch(model: model, objectives: [obj], options: s)
                s.candidates = pool
                let r = try tokenSearch(model: model, objectives: [obj], options: s)[0]
                results[key] = r.candidatesPerSecond
                let T = model.tokenizer.encode(s.sentence).ids.count
                let flops = c.forwardFLOPs(T: T, deepest: obj.deepestLayer, rows: obj.rowsAtDeepestLayer(T: T)?.count)
                print(String(format: "%-46@ %10.1f candidates/s  (full vocabulary: %.1f s; %.0f MFLOP a candidate, %.0f GFLOP/s)", label,
                             r.candidatesPerSecond, Double(c.vocabSize) / r.candidatesPerSecond, flops / 1e6, flops * r.candidatesPerSecond / 1e9))
            }
            let rates = GroupBalance.shared.measuredRates
            if rates.count > 1 {
                // Unequal rates mean a slowed vCPU: the groups were sized to match (GroupBalance).
                print("  threads' measured speeds (rows/s, sizing each thread's share): " + rates.map { String(format: "%.0f", $0) }.joined(separator: ", "))
            }
        }
        if what == "discrete" { try timeToExhaustiveMaximum(model, results: &results) }
        var ru = rusage(); getrusage(RUSAGE_SELF.rawValue, &ru)
        print(String(format: "peak memory (max RSS): %.0f MB", Double(ru.ru_maxrss) / 1024))
        results["peak_mb"] = Double(ru.ru_maxrss) / 1024
        if json { print("BENCH_JSON " + (try jsonString(results))) }
        return results
    }
}

/// The discrete method at one position against exhaustive token search, on units spread over layers and sites: the
/// seconds until its best input reaches the exhaustive maximum (over the tokens it may propose), per unit.
func timeToExhaustiveMaximum(_ model: BertModel, results: inout [String: Double]) throws {
    let c = model.config, sentence = "i hate kickshaws", position = 2
    var units: [(String, ActivationObjective)] = []
    for layer in Set([0, c.numLayers / 2, c.numLayers - 1]).sorted() {
        for unit in [17, 300 % c.hiddenSize] {
            units.append(("L\(layer) resid_post \(unit) (PAIR normalised)", PairActivation(layer: layer, word: position, unit: unit, normalize: true, numLayers: c.numLayers)))
            units.append(("L\(layer) attn_out \(unit)", SiteElement(site: Site(.attnOut, layer: layer), index: [position, unit])))
        }
        let mlpUnit = 1000 % c.intermediateSize
        units.append(("L\(layer) mlp.hook_post \(mlpUnit)", SiteElement(site: Site(.mlpPost, layer: layer), index: [position, mlpUnit])))
    }
    var s = SearchOptions()
    s.sentence = sentence; s.position = position; s.topk = 1
    let banned = discreteBannedTokens(model)
    s.candidates = (0..<c.vocabSize).filter { !banned.contains($0) }
    let t0 = Date()
    let exhaustive = try tokenSearch(model: model, objectives: units.map(\.1), options: s)
    print(String(format: "exhaustive search of %d tokens for %d units: %.1f s", s.candidates!.count, units.count, Date().timeIntervalSince(t0)))
    // The screen the method runs once stuck (DiscreteOptions.screen): every token with the context frozen at the
    // starting sentence, against exact scoring, on the two attention units whose maxima the fit and gradient rank worst.
    let enc = model.tokenizer.encode(sentence)
    let alone = try RelaxedInput(model: model, ids: enc.ids, typeIds: enc.typeIds, first: position, last: position)
    for ((label, obj), found) in zip(units, exhaustive) where label.hasSuffix("attn_out \(300 % c.hiddenSize)") && !label.hasPrefix("L0 ") {
        let started = Date()
        let screen = try alone.frozenContextValues([enc.ids[position]], at: 0, tokens: s.candidates!, objective: obj)
        let seconds = Date().timeIntervalSince(started)
        let exactStarted = Date()
        _ = try alone.discreteValues(s.candidates!.prefix(1024).map { [$0] }, objective: obj)
        let exactRate = 1024 / Date().timeIntervalSince(exactStarted)
        let maxAt = screen[s.candidates!.firstIndex(of: found.hits[0].id)!]
        print(String(format: "  screen, %@: %d tokens in %.2f s (%.0f/s, %.1fx exact scoring's %.0f/s); the exhaustive maximum (%@) ranks %d of %d",
                     label, screen.count, seconds, Double(screen.count) / seconds, Double(screen.count) / seconds / exactRate, exactRate,
                     found.hits[0].token, screen.filter { $0 > maxAt }.count + 1, screen.count))
    }
    var times: [Double] = []
    for ((label, obj), found) in zip(units, exhaustive) {
        let target = found.hits[0].activation
        var o = DreamOptions()
        o.method = .discrete; o.sentence = sentence; o.first = position; o.last = position; o.steps = 1_000_000
        let started = Date(), limit = 10.0
        var reached: Double? = nil
        o.onStep = { p in
            if p.bestActivation >= target - 1e-5 * max(1, abs(target)) { reached = Date().timeIntervalSince(started); return false }
            return Date().timeIntervalSince(started) < limit
        }
        let r = try runDream(model: model, objective: obj, options: o)
        times.append(reached ?? .infinity)
        print(String(format: "  %-40@ max %9.4f (%@)  %@", label, target, found.hits[0].token,
                     reached.map { String(format: "reached in %.2f s, %d steps, %d scored", $0, r.stepsDone, r.scored) } ?? String(format: "not reached in %.0f s (best %.4f)", limit, r.runs.compactMap { $0.best?.activation }.max() ?? .nan)))
    }
    let sorted = times.sorted()
    let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    results["discrete_max_median_s"] = median
    results["discrete_max_worst_s"] = sorted.last ?? .nan
    print(String(format: "discrete method to the exhaustive maximum: median %.2f s, worst %.2f s over %d units", median, sorted.last ?? .nan, times.count))
}
