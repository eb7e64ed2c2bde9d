import Foundation
import Synchronization

/// Set by the Ctrl-C handler; long loops stop at the next step boundary and return what they have.
public let interruptRequested = Atomic<Bool>(false)

/// What the dreamed positions hold at the start: the sentence's tokens (PAIR's dream), [MASK] (PAIR's dream_mlm
/// around a masked word) or random: seeded standard-normal logits z for the relaxed methods (PAIR's reconstructions
/// start from torch.randn), seeded random tokens for the discrete method.
public enum DreamStart: String, Sendable, CaseIterable { case sentence, mask, random }

/// Which algorithm dreams: PAIR's relaxation, the hybrid that ends on real tokens, or exact discrete swaps.
public enum DreamMethod: String, Sendable, CaseIterable {
    case relaxed, hybrid, discrete
}

/// Everything one dream needs besides the model and the objective. The command line, `lab.dream`, sweeps and
/// plugins all fill this one value; `runDream` resolves the defaults that depend on the input and the method.
public struct DreamOptions: @unchecked Sendable {
    public var sentence = "i hate kickshaws"
    public var sentence2: String? = nil
    /// Dreamed positions, 0-based and inclusive. `last` nil: the token before the final [SEP] (PAIR's dream_end=0).
    public var first = 1
    public var last: Int? = nil
    /// Several dreamed spans around fixed tokens (0-based, inclusive), as PAIR's dream_mlm dreams words before and
    /// after a masked one; when set, first and last are ignored.
    public var spans: [ClosedRange<Int>]? = nil
    public var start = DreamStart.sentence
    /// Fixed positions replaced by [MASK] before dreaming (PAIR's dream_mlm masks the word whose prediction it raises).
    public var masked: [Int] = []
    public var method = DreamMethod.relaxed
    public var steps = 3000
    public var lr: Float = 0.1
    /// nil: the method's default (PAIR's anneal; hybrid's reaches T=0.05 at 80% of the steps).
    public var schedule: TemperatureSchedule? = nil
    public var mode = RelaxationMode.softmax
    public var seed: UInt64 = 1
    public var topk = 10
    /// Metrics records (results.json iterations) every `every` steps, as PAIR's metrics_frequency.
    public var every = 250
    /// Top-k records every `topkEvery` steps: 1 is PAIR's (one record per iteration); larger thins the top_k files.
    public var topkEvery = 1
    public var restarts = 1
    /// Restarts after the first start from the one-hot plus seeded uniform noise of this size on z.
    public var initNoise: Float = 0.5
    /// Batch rows that start exactly at the one-hot point (default: the first); the others get `initNoise`.
    public var cleanStarts: Set<Int> = [0]
    /// The discrete method's own knobs.
    public var discrete = DiscreteOptions()
    /// `fluency=λ`: maximise activation + λ · PLL of the dreamed span under an MLM model (see FluencyScorer).
    public var fluency: FluencyTerm? = nil
    /// Called after every step; returning false stops the dream (the result so far is kept).
    public var onStep: ((DreamProgress) throws -> Bool)? = nil

    public init(first: Int = 1, last: Int? = nil) { self.first = first; self.last = last }

    /// The schedule the dream runs: the one given, else the method's default.
    public var effectiveSchedule: TemperatureSchedule {
        if let schedule { return schedule }
        guard method == .hybrid else { return .pairDefault }
        // Poerner et al.: the default really reaches its final temperature, at 80% of the steps.
        let n = max(1, Int(Double(steps) * 0.8))
        return .anneal(start: 2.0, stop: 0.05, rate: powf(0.05 / 2.0, 1 / Float(n)), warmup: 0)
    }

    /// The dreamed span's last position for an input of T tokens.
    public func lastPosition(T: Int) -> Int { spans?.last?.upperBound ?? last ?? (T - 2) }

    /// Every dreamed position, ascending.
    public func positions(T: Int) -> [Int] {
        if let spans { return spans.flatMap { Array($0) }.sorted() }
        return Array(first...max(first, lastPosition(T: T)))
    }

    /// Checks every value against the encoded input and the model; errors name the valid range and the fix.
    public func validate(ids: [Int], model: BertModel) throws {
        let T = ids.count, last = lastPosition(T: T)
        if let spans {
            guard !spans.isEmpty else { throw DreamlabError.invalidArgument("spans is empty; give spans={{from, to}, ...} (0-based, inclusive)") }
            for s in spans where s.lowerBound < 0 || s.upperBound > T - 1 {
                throw DreamlabError.outOfRange("span {\(s.lowerBound), \(s.upperBound)} is outside 0...\(T - 1) for \(ids.map { model.tokenizer.idToToken[$0] }.joined(separator: " "))")
            }
            let all = spans.flatMap { Array($0) }
            guard Set(all).count == all.count else { throw DreamlabError.invalidArgument("spans overlap (\(spans.map { "{\($0.lowerBound), \($0.upperBound)}" }.joined(separator: ", "))); give disjoint spans") }
            if fluency != nil, all.max()! - all.min()! + 1 != all.count {
                throw DreamlabError.invalidArgument("fluency= needs one contiguous dreamed span; with spans around fixed tokens, leave fluency out")
            }
        }
        // PAIR lets the span include [CLS] (0) and the final [SEP] (T-1); the defaults leave them fixed.
        guard spans != nil || (first >= 0 && last <= T - 1 && first <= last) else {
            throw DreamlabError.outOfRange("first=\(first), last=\(last) (--dream_start, --dream_end) must satisfy 0 <= first <= last <= \(T - 1) for \(ids.map { model.tokenizer.idToToken[$0] }.joined(separator: " ")) (0-based; 0 is [CLS], \(T - 1) the final [SEP])")
        }
        guard steps >= 0 && steps <= 10_000_000 else { throw DreamlabError.invalidArgument("steps (--num_iterations) must be in 0...10000000, got \(steps)") }
        guard every >= 1 else { throw DreamlabError.invalidArgument("every (--metrics_frequency) must be >= 1, got \(every)") }
        guard topkEvery >= 1 else { throw DreamlabError.invalidArgument("topk_every (--top_k_frequency) must be >= 1, got \(topkEvery)") }
        guard topk >= 1 && topk <= model.config.vocabSize else { throw DreamlabError.invalidArgument("topk (--k) must be in 1...\(model.config.vocabSize), got \(topk)") }
        guard lr > 0 && lr <= 1000 && lr.isFinite else { throw DreamlabError.invalidArgument("lr (--learning_rate) must be a number in (0, 1000], got \(lr)") }
        guard restarts >= 1 && restarts <= 4096 else { throw DreamlabError.invalidArgument("restarts (--restarts) must be in 1...4096, got \(restarts)") }
        guard initNoise >= 0 && initNoise.isFinite else { throw DreamlabError.invalidArgument("init_noise must be a finite number >= 0") }
        try effectiveSchedule.validate()
        if method == .discrete { try discrete.validate() }
    }
}

public struct DreamProgress: Sendable {
    public let step: Int, steps: Int
    public let temperature: Float
    public let activation: Float          // best restart's soft activation this step
    public let idsActivation: Float       // its discrete activation
    public let bestActivation: Float
    public let tokens: [String]           // its argmax tokens at the dreamed positions
    public let elapsed: Double
}

/// One metrics record, as PAIR's output_helper.get_metrics writes it.
public struct DreamRecord: Sendable {
    public let number: Int
    public let tokens: [String]
    public let temperature: Float
    public let maxValues: [Float]
    public let activation: Float
    public let idsActivation: Float
    public var idsPLL: Float? = nil       // with fluency: PLL of the recorded tokens
}

/// One top-k record for one dreamed position, as PAIR's get_top_ks writes it.
public struct TopKRecord: Sendable {
    public let number: Int
    public let indices: [Int]
    public let tokens: [String]
    public let scores: [Float]
    public let activation: Float
}

public struct DiscreteInput: Sendable {
    public let ids: [Int]
    public let tokens: [String]
    public let text: String
    public let activation: Float
    public let step: Int
    public let pll: Float?            // with fluency: mean log-probability per dreamed token
    public let score: Float           // what the dream maximised: activation, + λ·pll with fluency

    public init(ids: [Int], tokens: [String], text: String, activation: Float, step: Int, pll: Float? = nil, lambda: Float = 0) {
        self.ids = ids; self.tokens = tokens; self.text = text; self.activation = activation; self.step = step
        self.pll = pll
        score = activation + lambda * (pll ?? 0)
    }
}

/// The cheap numbers of one step, recorded at every step for curves (the heavy top-k records are thinned).
public struct CurvePoint: Sendable, Codable {
    public let step: Int
    public let temperature: Float       // 0 for the discrete method, which has none
    public let activation: Float        // the soft input's (discrete: the member's exact activation)
    public let idsActivation: Float     // the argmax input's, exact
    enum CodingKeys: String, CodingKey { case step, temperature, activation, idsActivation = "ids_activation" }
}

public struct DreamRun: Sendable {
    public let seed: UInt64
    public var iterations: [DreamRecord] = []
    public var curve: [CurvePoint] = []
    public var topK: [[TopKRecord]]          // per dreamed position
    public var finalIds: [Int] = []
    public var finalActivation: Float = 0     // soft activation at the last step
    public var finalIdsActivation: Float = 0
    public var best: DiscreteInput? = nil
    /// The relaxed methods' soft input at the end, (P,V) softmax probabilities; empty for the discrete method.
    public var finalProbs: [Float] = []
}

public struct DreamResult: Sendable {
    public let modelPath: String
    /// The model's precision (fp32, or the opt-in bf16), recorded in results.json.
    public var precision = Precision.fp32
    public let objective: String
    public let sentence: String
    public let sentence2: String?
    public let startIds: [Int]
    public let startTokens: [String]
    /// PAIR's layer_id/word_id/neuron_id/normalize for the params block, from the objective.
    public let pairTarget: PairTarget
    public let first: Int, last: Int
    public let options: DreamOptions
    public var runs: [DreamRun]
    /// Every dreamed position (first...last unless spans leave fixed tokens between).
    public var positions: [Int] = []
    public var stepsDone = 0
    public var scored = 0             // discrete inputs whose objective was computed exactly (argmax inputs, swaps)
    public var screened = 0           // discrete swaps estimated with the context frozen (DiscreteOptions.screen)
    public var stopped = false        // on_step returned false
    public var interrupted = false    // Ctrl-C
    public var seconds: Double = 0
    public var stepsPerSecond: Double { seconds > 0 ? Double(stepsDone) / seconds : 0 }

    /// The run whose best discrete input scored highest (activation, + λ·PLL with fluency).
    public var bestRunIndex: Int {
        runs.indices.max { (runs[$0].best?.score ?? -.infinity) < (runs[$1].best?.score ?? -.infinity) } ?? 0
    }
    public var best: DiscreteInput? { runs[bestRunIndex].best }
}

/// Runs the dream the options describe, by its method: the one entry point every front end calls.
/// The returned result carries the resolved options (the dreamed span, the schedule that ran).
public func runDream(model: BertModel, objective: ActivationObjective, options: DreamOptions) throws -> DreamResult {
    var r = try dreamByMethod(model: model, objective: objective, options: options)
    r.precision = model.precision
    return r
}

private func dreamByMethod(model: BertModel, objective: ActivationObjective, options: DreamOptions) throws -> DreamResult {
    var enc = model.tokenizer.encode(options.sentence, options.sentence2)
    try options.validate(ids: enc.ids, model: model)
    try objective.validate(model: model, T: enc.ids.count)
    let positions = options.positions(T: enc.ids.count)
    let last = positions.last!
    var o = options
    o.first = positions.first!
    o.last = last
    o.schedule = options.effectiveSchedule
    for t in o.masked {
        guard t >= 0 && t < enc.ids.count, let mask = model.tokenizer.maskId else {
            throw DreamlabError.outOfRange("masked position \(t) is outside 0...\(enc.ids.count - 1), or the vocabulary has no [MASK]")
        }
        guard !positions.contains(t) else { throw DreamlabError.invalidArgument("position \(t) is both masked and dreamed; the masked word stays fixed") }
        enc.ids[t] = mask
    }
    switch o.start {
    case .sentence: break
    case .mask:
        guard let mask = model.tokenizer.maskId else { throw DreamlabError.invalidArgument("start=\"mask\" needs a [MASK] token in the vocabulary") }
        for t in positions { enc.ids[t] = mask }
    case .random where o.method != .discrete: break   // relaxedDream draws z
    case .random:
        // Seeded, from the ordinary tokens (no [CLS], [PAD], [unusedN] ...).
        var rng = SplitMix64(seed: o.seed &+ 0x5241_4E44)
        let ordinary = (0..<model.config.vocabSize).filter { let t = model.tokenizer.idToToken[$0]; return !(t.hasPrefix("[") && t.hasSuffix("]")) }
        for t in positions { enc.ids[t] = ordinary[Int(rng.next() % UInt64(ordinary.count))] }
    }
    switch o.method {
    case .relaxed: return try relaxedDream(model: model, enc: enc, objective: objective, options: o, last: last)
    case .hybrid:
        // PAIR's log-form Gumbel cannot leave a one-hot start (zero gradient off the hot token), so hybrid noises the logits.
        o.mode = .gumbelLogits
        return try relaxedDream(model: model, enc: enc, objective: objective, options: o, last: last)
    case .discrete: return try discreteDream(model: model, enc: enc, objective: objective, options: o, last: last)
    }
}

/// PAIR's dream: relax the span to softmax(z/T), climb the objective with Adam, anneal T, and record what PAIR
/// records. Restarts run as one batch. The best discrete input seen (by ids_activation) is kept per run.
func relaxedDream(model: BertModel, enc: Encoding, objective: ActivationObjective, options o: DreamOptions, last: Int) throws -> DreamResult {
    let input = try RelaxedInput(model: model, ids: enc.ids, typeIds: enc.typeIds, positions: o.positions(T: enc.ids.count), restarts: o.restarts)

    let R = o.restarts, P = input.P, V = input.V, T = input.T
    let tok = model.tokenizer
    var z = input.oneHotLogits()
    if o.start == .random {
        // PAIR's reconstructions: modify = torch.randn(...), seeded here.
        var rng = SplitMix64(seed: o.seed &+ 0x5241_4E44)
        for i in 0..<z.count { z[i] = standardNormal(&rng) }
    } else if R > 1 && o.initNoise > 0 {
        var rng = SplitMix64(seed: o.seed &+ 0x5EED)
        for r in 0..<R where !o.cleanStarts.contains(r) {
            for i in (r * P * V)..<((r + 1) * P * V) { z[i] += Float(rng.nextDouble()) * o.initNoise }
        }
    }
    var noiseRng = SplitMix64(seed: o.seed)
    func noise() -> [Float]? { o.mode.usesGumbelNoise ? gumbelNoise(count: z.count, rng: &noiseRng) : nil }

    var adam = Adam(count: z.count, lr: o.lr)
    var cursor = try TemperatureSchedule.Cursor(o.effectiveSchedule)
    var result = DreamResult(modelPath: model.directory, objective: objective.description, sentence: o.sentence, sentence2: o.sentence2,
                             startIds: enc.ids, startTokens: enc.ids.map { tok.idToToken[$0] }, pairTarget: objective.pairTarget,
                             first: o.first, last: last, options: o,
                             runs: (0..<R).map { DreamRun(seed: o.seed &+ UInt64($0), topK: [[TopKRecord]](repeating: [], count: P)) })
    result.positions = input.positions

    // ids_activation per restart, cached by (restart, span). All R rows are scored together, in order, because an
    // objective may depend on the batch position (a sweep's per-unit objectives, diversity).
    // With fluency, the PLL of each argmax span too, cached by span.
    let fluency = try o.fluency?.scorer(dreamModel: model, ids: enc.ids, typeIds: enc.typeIds, first: o.first, last: last)
    let lambda = fluency?.lambda ?? 0
    var idsCache: [[Int]: Float] = [:]
    var pllCache: [[Int]: Float] = [:]
    func idsActivations(_ spans: [[Int]]) throws -> [Float] {
        let keys = spans.enumerated().map { [$0.offset] + $0.element }
        if keys.contains(where: { idsCache[$0] == nil }) {
            let vals = try input.discreteValues(spans, objective: objective)
            result.scored += spans.count
            if idsCache.count > 100_000 { idsCache.removeAll(keepingCapacity: true) }
            for (k, v) in zip(keys, vals) { idsCache[k] = v }
        }
        return keys.map { idsCache[$0]! }
    }
    func idsPLLs(_ spans: [[Int]]) throws -> [Float]? {
        guard let fluency else { return nil }
        let missing = Array(Set(spans.filter { pllCache[$0] == nil }))
        if !missing.isEmpty {
            if pllCache.count > 100_000 { pllCache.removeAll(keepingCapacity: true) }
            for (k, v) in zip(missing, try fluency.scorer.pll(missing)) { pllCache[k] = v }
        }
        return spans.map { pllCache[$0]! }
    }
    func fullIds(_ span: [Int]) -> [Int] { input.fill(span) }
    let rowOf = Dictionary(uniqueKeysWithValues: input.positions.enumerated().map { ($0.element, $0.offset) })
    func maxValues(_ p: [Float], _ r: Int) -> [Float] {
        (0..<T).map { t in
            guard let i = rowOf[t] else { return 1 }
            let row = (r * P + i) * V
            var m: Float = 0
            for j in 0..<V where p[row + j] > m { m = p[row + j] }
            return m
        }
    }
    func topK(_ p: [Float], row: Int) -> (idx: [Int], scores: [Float]) {
        let base = row * V
        var best = BestK<Int>(o.topk)
        for j in 0..<V { best.offer(p[base + j], j) }
        return (best.items, best.scores)
    }
    func updateBest(_ r: Int, _ span: [Int], _ act: Float, _ pll: Float?, _ step: Int) {
        if act + lambda * (pll ?? 0) > (result.runs[r].best?.score ?? -.infinity) {
            let ids = fullIds(span)
            result.runs[r].best = DiscreteInput(ids: ids, tokens: ids.map { tok.idToToken[$0] }, text: tok.decode(ids), activation: act, step: step,
                                                pll: pll, lambda: lambda)
        }
    }

    // State PAIR reports at each record: tokens, max values and ids_activation from after the previous update.
    var p0 = input.probabilities(z, temperature: cursor.current, mode: o.mode, noise: noise())
    var prevSpans = input.argmaxSpans(p0)
    var prevIdsAct = try idsActivations(prevSpans)
    var prevPLL = try idsPLLs(prevSpans)
    var prevMax = (0..<R).map { maxValues(p0, $0) }
    for r in 0..<R { updateBest(r, prevSpans[r], prevIdsAct[r], prevPLL?[r], 0) }
    p0 = []

    let start = Date()
    var lastValues = [Float](repeating: 0, count: R)
    func record(_ step: Int, _ temp: Float, _ values: [Float], _ p: [Float], metrics: Bool, topK withTopK: Bool) {
        for r in 0..<R {
            result.runs[r].curve.append(CurvePoint(step: step, temperature: temp, activation: values[r], idsActivation: prevIdsAct[r]))
            if metrics {
                result.runs[r].iterations.append(DreamRecord(number: step, tokens: fullIds(prevSpans[r]).map { tok.idToToken[$0] },
                                                             temperature: temp, maxValues: prevMax[r], activation: values[r],
                                                             idsActivation: prevIdsAct[r], idsPLL: prevPLL?[r]))
            }
            guard withTopK else { continue }
            for i in 0..<P {
                let (idx, sc) = topK(p, row: r * P + i)
                result.runs[r].topK[i].append(TopKRecord(number: step, indices: idx, tokens: idx.map { tok.idToToken[$0] },
                                                         scores: sc, activation: values[r]))
            }
        }
    }

    var lastP = input.probabilities(z, temperature: cursor.current, mode: o.mode, noise: nil)
    // The relaxation reads E once a step where it can (SoftmaxStepper); the same dream up to the sums' order, with
    // the Gumbel noise drawn in the same order (each step's, then its argmax input's).
    let stepper = SoftmaxStepper.applies(to: input, mode: o.mode, fluency: fluency != nil)
        ? SoftmaxStepper(input: input, z: z, lr: o.lr, temperature: cursor.current, mode: o.mode, noise: noise()) : nil
    var lastTemp: Float? = nil, lastArgmaxNoise: [Float]? = nil   // the fused loop's last step, for the final probabilities
    var step = 0
    while step < o.steps {
        if interruptRequested.load(ordering: .relaxed) { result.interrupted = true; break }
        let temp = cursor.current
        if let stepper {
            let (values, dRows) = try stepper.gradient(objective: objective)
            lastValues = values
            record(step, temp, values, stepper.p, metrics: step % o.every == 0, topK: step % o.topkEvery == 0)
            try cursor.advance()   // before the update, not after the scoring: the pass builds the next step's p at its T
            let argmaxNoise = noise(), nextNoise = noise()
            stepper.update(dRows: dRows, temperature: temp, next: cursor.current, argmaxNoise: argmaxNoise, nextNoise: nextNoise)
            lastTemp = temp
            lastArgmaxNoise = argmaxNoise
            prevSpans = stepper.argmaxSpans
            prevIdsAct = try idsActivations(prevSpans)
            // PAIR's max values are those of p2 = softmax(u/T) at this step's T: computed when the next record reports them.
            if (step + 1) % o.every == 0 {
                let p2 = input.probabilities(stepper.z, temperature: temp, mode: o.mode, noise: argmaxNoise)
                prevMax = (0..<R).map { maxValues(p2, $0) }
            }
        } else {
            let (values, dz, p, _) = try input.valueAndGradient(z, temperature: temp, mode: o.mode, noise: noise(), objective: objective,
                                                                fluency: fluency)
            lastValues = values
            record(step, temp, values, p, metrics: step % o.every == 0, topK: step % o.topkEvery == 0)
            // Adam minimises the loss -activation.
            adam.step(&z, grad: dz, scale: -1)
            let p2 = input.probabilities(z, temperature: temp, mode: o.mode, noise: noise())
            lastP = p2
            prevSpans = input.argmaxSpans(p2)
            prevIdsAct = try idsActivations(prevSpans)
            prevPLL = try idsPLLs(prevSpans)
            if (step + 1) % o.every == 0 { prevMax = (0..<R).map { maxValues(p2, $0) } }   // read by the next record only
            try cursor.advance()
        }
        for r in 0..<R { updateBest(r, prevSpans[r], prevIdsAct[r], prevPLL?[r], step + 1) }
        step += 1
        result.stepsDone = step
        if let cb = o.onStep {
            let b = (0..<R).max { prevIdsAct[$0] < prevIdsAct[$1] } ?? 0
            let prog = DreamProgress(step: step, steps: o.steps, temperature: temp, activation: lastValues[b], idsActivation: prevIdsAct[b],
                                     bestActivation: result.best?.activation ?? prevIdsAct[b],
                                     tokens: prevSpans[b].map { tok.idToToken[$0] }, elapsed: Date().timeIntervalSince(start))
            if try !cb(prog) { result.stopped = true; break }
        }
    }
    result.seconds = Date().timeIntervalSince(start)
    if let stepper {
        z = stepper.z
        if let lastTemp { lastP = input.probabilities(z, temperature: lastTemp, mode: o.mode, noise: lastArgmaxNoise) }
    }

    // PAIR's closing record at number = steps, without a gradient.
    if !result.stopped && !result.interrupted && o.steps % o.every == 0 {
        let temp = cursor.current
        // The fused loop drew this step's noise already, for the p it holds.
        let p = stepper?.p ?? input.probabilities(z, temperature: temp, mode: o.mode, noise: noise())
        let acts = try model.forward(input.batch, upTo: min(objective.deepestLayer, model.config.numLayers - 1),
                                     withMLM: objective.needsMLM, wordRows: input.wordRows(p, mode: o.mode))
        lastValues = try objective.evaluate(acts, grads: nil)
        record(o.steps, temp, lastValues, p, metrics: true, topK: true)
    }
    for r in 0..<R {
        result.runs[r].finalIds = fullIds(prevSpans[r])
        result.runs[r].finalActivation = lastValues[r]
        result.runs[r].finalIdsActivation = prevIdsAct[r]
        result.runs[r].finalProbs = Array(lastP[(r * P * V)..<((r + 1) * P * V)])
    }
    return result
}

/// A standard normal draw (Box-Muller).
func standardNormal(_ rng: inout SplitMix64) -> Float {
    let u1 = max(rng.nextDouble(), 1e-12), u2 = rng.nextDouble()
    return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
}

extension DreamResult {
    /// A warning when a relaxed dream ended far above its schedule's final temperature: its soft input is then a blend
    /// of many tokens, and its activation is that of no real input. nil when it converged (or for the discrete method).
    public var convergenceNote: String? {
        guard options.method != .discrete, stepsDone > 0, let t = runs[bestRunIndex].curve.last?.temperature else { return nil }
        let stop: Float, reach: String
        switch options.effectiveSchedule {
        case .anneal(let start, let s, let rate, let warmup):
            stop = s
            reach = rate < 1 ? "about \(warmup + Int((log(Double(s / start)) / log(Double(rate))).rounded(.up))) steps" : "never (rate 1)"
        case .linear(_, let s, let n), .cosine(_, let s, let n): stop = s; reach = "\(n) steps"
        default: return nil
        }
        guard t > max(stop * 1.5, stop + 0.05) else { return nil }
        return String(format: "The dream ended at T=%.3g, far from its schedule's stop %.3g (reached after %@; this dream ran %d): the soft input is still a blend of many tokens, off the token manifold, so its activation is not that of any real input. Read ids_activation and the best input, or run more steps, a faster anneal, or method=\"hybrid\".",
                      Double(t), Double(stop), reach, stepsDone)
    }

    /// The forward pass of the best run's final soft input (its probabilities times the embedding matrix at the
    /// dreamed positions), every layer and the MLM head if there is one; the discrete method's is its final ids'.
    public func softTrace(model: BertModel) throws -> Activations {
        let run = runs[bestRunIndex]
        let types = model.tokenizer.encode(sentence, sentence2).typeIds
        guard !run.finalProbs.isEmpty else { return try model.run(ids: run.finalIds, typeIds: types) }
        let input = try RelaxedInput(model: model, ids: startIds, typeIds: types, positions: positions)
        return try model.forward(input.batch, withMLM: model.hasMLM, wordRows: input.wordRows(run.finalProbs, mode: options.mode))
    }
}
