import Foundation

/// Gradient-guided discrete search (GCG / AutoPrompt family, run as a population as EPO does): the gradient w.r.t.
/// each dreamed position's one-hot input proposes the top-k tokens by first-order gain; a batch of single-token swaps
/// drawn from them is scored exactly in one batched pass; the best distinct inputs survive. k grows when a step finds
/// nothing better. Any objective works unchanged; results take the same form as relaxed dreams.
public struct DiscreteOptions: Sendable {
    public var population = 4
    public var candidates = 128          // swaps scored exactly per step
    public var kStart = 8
    public var kMax = 256
    public var honest = false            // keep only inputs that survive decode and re-encode
    public var explore: Float = 0.25     // share of swaps drawn from the whole vocabulary: where the gradient is flat
                                         // (a GELU unit in its negative region) it proposes little
    public init() {}
}

extension RelaxedInput {
    /// Objective values at discrete spans and the gradient w.r.t. each dreamed position's one-hot input, (R,P,V).
    public func oneHotGradient(_ spans: [[Int]], objective: ActivationObjective) throws -> (values: [Float], grad: [Float]) {
        precondition(spans.count == R)
        let H = model.config.hiddenSize, E = model.weights.wordEmbeddings.ptr
        let rows = FloatBuffer(count: R * T * H)
        for r in 0..<R { for t in 0..<T {
            let id = (t >= first && t <= last) ? spans[r][t - first] : ids[t]
            (rows.ptr + (r * T + t) * H).update(from: E + id * H, count: H)
        } }
        let acts = try model.forward(batch, upTo: min(objective.deepestLayer, model.config.numLayers - 1), withMLM: objective.needsMLM, wordRows: rows)
        let grads = SiteGradients(B: R, T: T, config: model.config)
        let values = try objective.evaluate(acts, grads: grads)
        let dWord = model.backward(acts, grads)
        let dRows = FloatBuffer(count: R * P * H)
        for r in 0..<R { dRows.ptr.advanced(by: r * P * H).update(from: dWord.ptr + (r * T + first) * H, count: P * H) }
        var g = [Float](repeating: 0, count: R * P * V)
        g.withUnsafeMutableBufferPointer { matmulNT($0.baseAddress!, dRows.ptr, E, nil, M: R * P, N: V, K: H, streaming: true) }
        return (values, g)
    }
}

/// Whether token ids survive decode then re-encode (the text a reader would copy gives back the same input).
public func survivesReencode(_ model: BertModel, _ ids: [Int], typeIds: [Int]) -> Bool {
    // Re-encode the text between [CLS] and the final [SEP]; pairs are checked segment by segment.
    let tok = model.tokenizer
    var segments: [[Int]] = [], cur: [Int] = []
    for id in ids.dropFirst() { if id == tok.sepId { segments.append(cur); cur = [] } else { cur.append(id) } }
    if !cur.isEmpty { return false }
    for seg in segments where tok.tokenizeIds(tok.decode(seg)) != seg { return false }
    return true
}

public func discreteDream(model: BertModel, sentence: String, sentence2: String? = nil, objective: ActivationObjective,
                          options o: DreamOptions, discrete d: DiscreteOptions = DiscreteOptions()) throws -> DreamResult {
    let enc = model.tokenizer.encode(sentence, sentence2)
    let R = max(1, d.population)
    var o = o
    o.method = "discrete"
    let input = try RelaxedInput(model: model, ids: enc.ids, typeIds: enc.typeIds, first: o.first, last: o.last, restarts: R)
    try objective.validate(model: model, T: input.T)
    let P = input.P, V = input.V, tok = model.tokenizer
    var rng = SplitMix64(seed: o.seed)
    func full(_ span: [Int]) -> [Int] { var s = enc.ids; for i in 0..<P { s[o.first + i] = span[i] }; return s }
    func honestOK(_ span: [Int]) -> Bool { !d.honest || survivesReencode(model, full(span), typeIds: enc.typeIds) }
    // Candidate tokens: no special tokens, no [unused*].
    let banned = Set([tok.clsId, tok.sepId, tok.padId, tok.maskId ?? -1, tok.unkId] + (0..<V).filter { tok.idToToken[$0].hasPrefix("[unused") })

    // Population: the starting sentence, then random perturbations of it.
    var members: [[Int]] = [Array(enc.ids[o.first...o.last])]
    while members.count < R {
        var s = members[0]
        s[Int(rng.next() % UInt64(P))] = Int(rng.next() % UInt64(V))
        members.append(s)
    }
    // With fluency the score is activation + λ·PLL; `acts` keeps the activation alone.
    let fluency = try o.fluency.map { f in
        (scorer: try FluencyScorer(model: f.model, dreamModel: model, ids: enc.ids, typeIds: enc.typeIds, first: o.first, last: o.last), lambda: f.lambda)
    }
    let lambda = fluency?.lambda ?? 0
    var acts = try input.discreteValues(members, objective: objective)
    var plls = try fluency?.scorer.pll(members) ?? [Float](repeating: 0, count: R)
    var scores = zip(acts, plls).map { $0 + lambda * $1 }
    var result = DreamResult(modelPath: model.directory, objective: objective.description, sentence: sentence, sentence2: sentence2,
                             startIds: enc.ids, first: o.first, last: o.last, options: o,
                             runs: (0..<R).map { DreamRun(seed: o.seed &+ UInt64($0), topK: [[TopKRecord]](repeating: [], count: P)) })
    var k = d.kStart
    let start = Date()
    var bestEver = scores.max() ?? -.infinity
    func record(_ step: Int, grad: [Float]?) {
        for r in 0..<R {
            let ids = full(members[r])
            result.runs[r].iterations.append(DreamRecord(number: step, tokens: ids.map { tok.idToToken[$0] }, temperature: 0,
                                                         maxValues: [Float](repeating: 1, count: ids.count), activation: acts[r], idsActivation: acts[r],
                                                         idsPLL: fluency == nil ? nil : plls[r]))
            if let grad {
                for i in 0..<P {
                    let row = Array(grad[((r * P + i) * V)..<((r * P + i + 1) * V)])
                    let top = row.indices.sorted { row[$0] > row[$1] }.prefix(o.topk)
                    result.runs[r].topK[i].append(TopKRecord(number: step, indices: Array(top), tokens: top.map { tok.idToToken[$0] },
                                                             scores: top.map { row[$0] }, activation: acts[r]))
                }
            }
            if scores[r] > (result.runs[r].best?.score ?? -.infinity), honestOK(members[r]) {
                result.runs[r].best = DiscreteInput(ids: ids, tokens: ids.map { tok.idToToken[$0] }, text: tok.decode(ids), activation: acts[r], step: step,
                                                    pll: fluency == nil ? nil : plls[r], lambda: lambda)
            }
        }
    }
    var step = 0
    while step < o.steps {
        if interruptRequested.load(ordering: .relaxed) { result.interrupted = true; break }
        var (_, grad) = try input.oneHotGradient(members, objective: objective)
        // Fluency: its one-hot gradient joins the activation's; its log q at each masked position gives the exact
        // change of a swap's own term, used to pick which children get an exact PLL.
        var logq: [Float] = []
        if let fluency {
            let ev = try fluency.scorer.evaluate(.ids(members), rows: fluency.scorer.rows(spans: members), R: R, gradient: true)
            let dIn = ev.dInput!
            for k in 0..<grad.count { grad[k] += lambda * dIn[k] }
            logq = ev.logProbs
        }
        if step % o.every == 0 { record(step, grad: grad) }
        // Top-k tokens per member and position by first-order gain.
        var proposals: [[[Int]]] = []
        for r in 0..<R {
            var perPos: [[Int]] = []
            for i in 0..<P {
                let base = (r * P + i) * V
                var top = BestK<Int>(k)
                for j in 0..<V where !banned.contains(j) && j != members[r][i] { top.offer(grad[base + j], j) }
                perPos.append(top.items)
            }
            proposals.append(perPos)
        }
        // A batch of single-token swaps, spread over the members, scored exactly.
        var children: [[Int]] = []
        var parents: [(r: Int, i: Int)] = []
        var seen = Set(members)
        var tries = 0
        while children.count < d.candidates && tries < d.candidates * 4 {
            tries += 1
            let r = Int(rng.next() % UInt64(R)), i = Int(rng.next() % UInt64(P))
            let opts = proposals[r][i]
            var child = members[r]
            if rng.nextDouble() < Double(d.explore) || opts.isEmpty {
                let t = Int(rng.next() % UInt64(V))
                if banned.contains(t) { continue }
                child[i] = t
            } else {
                child[i] = opts[Int(rng.next() % UInt64(opts.count))]
            }
            if seen.insert(child).inserted && honestOK(child) { children.append(child); parents.append((r, i)) }
        }
        var childActs: [Float] = []
        var c0 = 0
        while c0 < children.count {
            let part = Array(children[c0..<min(c0 + 256, children.count)])
            childActs += try input.discreteValues(part, objective: objective)
            c0 += part.count
        }
        var childPLLs = [Float](repeating: 0, count: children.count)
        var exact = Array(children.indices)
        if let fluency, !children.isEmpty {
            // Estimate each child's PLL from its parent's masked pass (its own term exactly, the context unchanged),
            // then score the most promising quarter exactly; only exactly scored children compete.
            var estimate = [Float](repeating: 0, count: children.count)
            for (c, (r, i)) in parents.enumerated() {
                let row = (r * P + i) * V
                estimate[c] = childActs[c] + lambda * (plls[r] + (logq[row + children[c][i]] - logq[row + members[r][i]]) / Float(P))
            }
            exact = Array(children.indices.sorted { estimate[$0] > estimate[$1] }.prefix(max(R, d.candidates / 4)))
            for (c, v) in zip(exact, try fluency.scorer.pll(exact.map { children[$0] })) { childPLLs[c] = v }
        }
        // Elitist selection of R distinct inputs from members and the exactly scored children.
        var pool = (0..<R).map { (members[$0], acts[$0], plls[$0]) } + exact.map { (children[$0], childActs[$0], childPLLs[$0]) }
        pool.sort { $0.1 + lambda * $0.2 > $1.1 + lambda * $1.2 }
        var next: [([Int], Float, Float)] = []
        var taken = Set<[Int]>()
        for p in pool where next.count < R && taken.insert(p.0).inserted { next.append(p) }
        members = next.map(\.0); acts = next.map(\.1); plls = next.map(\.2)
        scores = zip(acts, plls).map { $0 + lambda * $1 }
        // Grow k when the step found nothing better: a wider net.
        if let top = scores.first, top > bestEver { bestEver = top } else { k = min(d.kMax, k * 2) }
        step += 1
        result.stepsDone = step
        if let cb = o.onStep {
            let prog = DreamProgress(step: step, steps: o.steps, temperature: 0, activation: acts[0], idsActivation: acts[0],
                                     bestActivation: bestEver, tokens: members[0].map { tok.idToToken[$0] }, elapsed: Date().timeIntervalSince(start))
            if try !cb(prog) { result.stopped = true; break }
        }
    }
    result.seconds = Date().timeIntervalSince(start)
    if !result.stopped && !result.interrupted && o.steps % o.every == 0 { record(o.steps, grad: nil) }
    else { record(result.stepsDone, grad: nil) }
    for r in 0..<R {
        result.runs[r].finalIds = full(members[r])
        result.runs[r].finalActivation = acts[r]
        result.runs[r].finalIdsActivation = acts[r]
    }
    return result
}
