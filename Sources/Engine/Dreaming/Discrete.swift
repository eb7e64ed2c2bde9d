import Foundation

/// Gradient-guided discrete search (GCG / AutoPrompt family, run as a population as EPO does): the gradient w.r.t.
/// each dreamed position's one-hot input proposes the top-k tokens by first-order gain; a batch of single-token swaps
/// drawn from them (plus random tokens and embedding neighbours) is scored exactly in one batched pass; the best
/// distinct inputs survive. k grows when a step finds nothing better, and a long stall restarts the weaker half.
/// Any objective works unchanged; results take the same form as relaxed dreams.
public struct DiscreteOptions: Sendable {
    /// nil: 8, or `restarts` when the dream asks for more than one.
    public var population: Int? = nil
    public var candidates = 128          // swaps scored exactly per step
    public var kStart = 8
    public var kMax = Int.max            // capped at the vocabulary: when stuck, the net widens until it is the whole vocabulary
    public var restartAfter = 8          // steps without a gain before the weaker half of the population restarts
    public var honest = false            // keep only inputs that survive decode and re-encode
    public var explore: Float = 0.10     // share of swaps drawn from the whole vocabulary: where the gradient is flat
                                         // (a GELU unit in its negative region) it proposes little
    public var neighbors: Float = 0.20   // share of swaps drawn from the current token's nearest embeddings (cosine):
                                         // related tokens (22nd, 23rd, 70th) often drive a unit alike, which a
                                         // first-order estimate from one of them can miss
    public var surrogate: Float = 0.20   // share of swaps that put in the best untried token by a ridge fit of the
                                         // score on each position's token embedding, over every input scored so far
                                         // (EmbeddingRidge): global where the gradient is local. The rest (0.5) follow
                                         // the gradient. Steps to the exhaustive maximum at one position, 15 units × 8
                                         // seeds: mean 9.6 -> 5.6, none unreached in 60 (5 were), against 0.25/0.25/0
    /// Tokens screened per stuck step with the rest of the input frozen (BertModel.forwardFrozenContext, 4-6x
    /// cheaper than an exact score on MiniLM), where the objective reads one dreamed position at its deepest layer:
    /// the fit's ranking first, then the vocabulary in a seeded random order. The `screenTop` best screened tokens not
    /// yet scored go first into each step's batch. Maxima that neither the gradient nor the fit ranks well (an
    /// attention output's outlier token) rank near the top of the screen: at one position of "i hate kickshaws", the
    /// exhaustive maxima of L3 and L5 attn_out 300 rank 3rd of 29523 (the fit, as it learned: 1000th-29000th; the gradient: about 10000th).
    /// 0: no screen.
    public var screen = 1024
    public var screenTop = 16
    public var screenAfterStale = 1      // steps without a gain before a step screens
    public init() {}

    func validate() throws {
        guard (0...100_000).contains(screen) else {
            throw DreamlabError.invalidArgument("screen must be in 0...100000 (swaps estimated per stuck step; 0: no screen), got \(screen)")
        }
        guard screenTop >= 1, screenAfterStale >= 0 else { throw DreamlabError.invalidArgument("screenTop must be >= 1 and screenAfterStale >= 0") }
        if let population, !(1...4096).contains(population) { throw DreamlabError.invalidArgument("population must be in 1...4096, got \(population)") }
        guard (1...1_000_000).contains(candidates) else { throw DreamlabError.invalidArgument("candidates must be in 1...1000000, got \(candidates)") }
        guard kStart >= 1, kMax >= kStart else { throw DreamlabError.invalidArgument("k must be >= 1 and k_max >= k") }
        guard explore >= 0, neighbors >= 0, surrogate >= 0, explore + neighbors + surrogate <= 1 else {
            throw DreamlabError.invalidArgument("explore=, neighbors= and surrogate= are shares of the swaps (the rest follow the gradient): each >= 0, together <= 1")
        }
    }
}

extension RelaxedInput {
    /// Objective values at discrete spans and the gradient w.r.t. each dreamed position's one-hot input, (R,P,V).
    public func oneHotGradient(_ spans: [[Int]], objective: ActivationObjective) throws -> (values: [Float], grad: [Float]) {
        precondition(spans.count == R)
        let H = model.config.hiddenSize, E = model.weights.wordEmbeddings.ptr
        let rows = FloatBuffer(count: R * T * H)
        for r in 0..<R {
            let full = fill(spans[r])
            for t in 0..<T { (rows.ptr + (r * T + t) * H).update(from: E + full[t] * H, count: H) }
        }
        let acts = try model.forward(batch, upTo: min(objective.deepestLayer, model.config.numLayers - 1), withMLM: objective.needsMLM, wordRows: rows,
                                     lastLayerRows: objective.rowsAtDeepestLayer(T: T))
        let grads = SiteGradients(B: R, T: T, config: model.config)
        let values = try objective.evaluate(acts, grads: grads)
        let dWord = model.backward(acts, grads)
        let dRows = FloatBuffer(count: R * P * H)
        gather(dRows.ptr, from: dWord.ptr, H: H)
        var g = [Float](repeating: 0, count: R * P * V)
        g.withUnsafeMutableBufferPointer { model.weights.embeddingDots($0.baseAddress!, dRows.ptr, M: R * P) }
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

/// Tokens the discrete method never proposes: the special tokens and [unused*].
public func discreteBannedTokens(_ model: BertModel) -> Set<Int> {
    let tok = model.tokenizer
    return Set([tok.clsId, tok.sepId, tok.padId, tok.maskId ?? -1, tok.unkId] + (0..<model.config.vocabSize).filter { tok.idToToken[$0].hasPrefix("[unused") })
}

func discreteDream(model: BertModel, enc: Encoding, objective: ActivationObjective, options o: DreamOptions, last: Int) throws -> DreamResult {
    let d = o.discrete
    let R = d.population ?? (o.restarts > 1 ? o.restarts : 8)
    let input = try RelaxedInput(model: model, ids: enc.ids, typeIds: enc.typeIds, positions: o.positions(T: enc.ids.count), restarts: R)
    let P = input.P, V = input.V, tok = model.tokenizer
    var rng = SplitMix64(seed: o.seed)
    func full(_ span: [Int]) -> [Int] { input.fill(span) }
    func honestOK(_ span: [Int]) -> Bool { !d.honest || survivesReencode(model, full(span), typeIds: enc.typeIds) }
    let banned = discreteBannedTokens(model)

    // Population: the starting sentence, then random perturbations of it.
    var members: [[Int]] = [input.positions.map { enc.ids[$0] }]
    while members.count < R {
        var s = members[0]
        s[Int(rng.next() % UInt64(P))] = Int(rng.next() % UInt64(V))
        members.append(s)
    }
    // With fluency the score is activation + λ·PLL; `acts` keeps the activation alone.
    let fluency = try o.fluency?.scorer(dreamModel: model, ids: enc.ids, typeIds: enc.typeIds, first: o.first, last: last)
    let lambda = fluency?.lambda ?? 0
    // A member's one-hot gradient depends on its ids alone: members that survive a step keep theirs and only the
    // newcomers go through the model, so a step that finds nothing better spends nothing on gradients. (With
    // fluency every member is evaluated anyway, for its masked pass.) The same pass gives the members' values.
    var gradOf: [[Int]: (value: Float, grad: [Float])] = [:]
    var inputsBySize: [Int: RelaxedInput] = [R: input]
    func populationGradient() throws -> [Float] {
        if fluency != nil { return try input.oneHotGradient(members, objective: objective).grad }
        var fresh: [[Int]] = []
        for m in members where gradOf[m] == nil && !fresh.contains(m) { fresh.append(m) }
        if !fresh.isEmpty {
            let n = fresh.count
            if inputsBySize[n] == nil { inputsBySize[n] = try RelaxedInput(model: model, ids: enc.ids, typeIds: enc.typeIds, positions: input.positions, restarts: n) }
            let (values, g) = try inputsBySize[n]!.oneHotGradient(fresh, objective: objective)
            for (j, m) in fresh.enumerated() { gradOf[m] = (values[j], Array(g[(j * P * V)..<((j + 1) * P * V)])) }
        }
        let current = Set(members)
        gradOf = gradOf.filter { current.contains($0.key) }
        var grad: [Float] = []
        grad.reserveCapacity(R * P * V)
        for m in members { grad += gradOf[m]!.grad }
        return grad
    }
    var acts: [Float]
    if fluency == nil { _ = try populationGradient(); acts = members.map { gradOf[$0]!.value } }
    else { acts = try input.discreteValues(members, objective: objective) }
    var plls = try fluency?.scorer.pll(members) ?? [Float](repeating: 0, count: R)
    var scores: [Float] { zip(acts, plls).map { $0 + lambda * $1 } }
    var result = DreamResult(modelPath: model.directory, objective: objective.description, sentence: o.sentence, sentence2: o.sentence2,
                             startIds: enc.ids, startTokens: enc.ids.map { tok.idToToken[$0] }, pairTarget: objective.pairTarget,
                             first: o.first, last: last, options: o,
                             runs: (0..<R).map { DreamRun(seed: o.seed &+ UInt64($0), topK: [[TopKRecord]](repeating: [], count: P)) })
    result.positions = input.positions
    result.scored = members.count
    var k = d.kStart
    var tried = Set(members)   // every input scored so far
    var stale = 0              // steps since the best score last rose
    // Nearest tokens by cosine of word embeddings, per token, computed on first use.
    let isBanned = (0..<V).map { banned.contains($0) }
    let neighbours = CosineNeighbourLists(model: model, k: 64, excluded: isBanned)
    // The screen (DiscreteOptions.screen): where the objective reads one dreamed position and nothing else, swaps
    // there are screened with the rest of the input frozen; a frozen context says nothing about swaps elsewhere, or
    // about terms that read other positions.
    let screenAt: Int? = {
        guard d.screen > 0, objective.deepestLayer >= 0, !objective.needsMLM, let rows = objective.rowsAtEveryLayer(T: enc.ids.count),
              rows.count == 1 else { return nil }
        return input.positions.firstIndex(of: rows[0])
    }()
    // At one screened position the fit's ranking also orders the screen, so it keeps more of it.
    let ridge = d.surrogate > 0 && EmbeddingRidge.fits(positions: P, hidden: model.config.hiddenSize)
        ? EmbeddingRidge(model: model, positions: P, excluded: isBanned, invNorm: neighbours.invNorm, listLength: screenAt != nil && P == 1 ? min(4 * d.screen, V) : nil)
        : nil   // without it, its share follows the gradient
    ridge?.add(members, scores: acts)
    // Estimates are kept while the best member's other positions stay as they are, also across gains at the screened
    // position itself (which move the frozen keys and values of deeper layers a little): one ranking mixes them.
    // Within one context a token's swap is the same input every step, so once scored it stays scored.
    var screened = Set<Int>()          // tokens estimated at screenAt around the best member's context
    var byEstimate: [(token: Int, value: Float)] = []   // of those, the ones not yet scored there, best estimate first
    var screenedContext: [Int]? = nil  // that context: the best member with screenAt masked
    var screenOrder = screenAt == nil ? [] : (0..<V).filter { !isBanned[$0] }
    for j in stride(from: screenOrder.count - 1, to: 0, by: -1) { screenOrder.swapAt(j, Int(rng.next() % UInt64(j + 1))) }
    var screenCursor = 0
    var screenExhausted = false        // every token estimated or scored in this context
    let start = Date()
    var bestEver = scores.max() ?? -.infinity
    func record(_ step: Int, grad: [Float]?, metrics: Bool = true) {
        for r in 0..<R {
            let ids = full(members[r])
            result.runs[r].curve.append(CurvePoint(step: step, temperature: 0, activation: acts[r], idsActivation: acts[r]))
            if metrics { result.runs[r].iterations.append(DreamRecord(number: step, tokens: ids.map { tok.idToToken[$0] }, temperature: 0,
                                                         maxValues: [Float](repeating: 1, count: ids.count), activation: acts[r], idsActivation: acts[r],
                                                         idsPLL: fluency == nil ? nil : plls[r])) }
            if let grad, step % o.topkEvery == 0 {
                // The top-k of a discrete step: the tokens with the largest first-order gain at each position.
                for i in 0..<P {
                    let base = (r * P + i) * V
                    var top = BestK<Int>(o.topk)
                    for j in 0..<V { top.offer(grad[base + j], j) }
                    result.runs[r].topK[i].append(TopKRecord(number: step, indices: top.items, tokens: top.items.map { tok.idToToken[$0] },
                                                             scores: top.scores, activation: acts[r]))
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
        var grad = try populationGradient()
        // Fluency: its one-hot gradient joins the activation's; its log q at each masked position gives the exact
        // change of a swap's own term, used to pick which children get an exact PLL.
        var logq: FloatBuffer? = nil
        if let fluency {
            let ev = try fluency.scorer.evaluate(.ids(members), rows: fluency.scorer.rows(spans: members), R: R, gradient: true)
            let dIn = ev.dInput!
            for k in 0..<grad.count { grad[k] += lambda * dIn[k] }
            logq = ev.logProbs
        }
        record(step, grad: grad, metrics: step % o.every == 0)
        // Proposals per member and position: a token drawn uniformly from the top k by first-order gain. Small k keeps
        // the list (BestK); a wide net keeps only the gain threshold of rank k and draws by rejection. Built lazily.
        var lists = [[Int]?](repeating: nil, count: R * P)
        var thresholds = [Float?](repeating: nil, count: R * P)
        func propose(_ r: Int, _ i: Int) -> Int? {
            let row = r * P + i, base = row * V
            if k <= 256 {
                if lists[row] == nil {
                    var top = BestK<Int>(k)
                    for j in 0..<V where !isBanned[j] && j != members[r][i] { top.offer(grad[base + j], j) }
                    lists[row] = top.items
                }
                let opts = lists[row]!
                return opts.isEmpty ? nil : opts[Int(rng.next() % UInt64(opts.count))]
            }
            if thresholds[row] == nil {
                thresholds[row] = kthLargest(grad[base..<(base + V)], k)
            }
            let thr = thresholds[row]!
            for _ in 0..<64 {
                let j = Int(rng.next() % UInt64(V))
                if grad[base + j] >= thr && !isBanned[j] && j != members[r][i] { return j }
            }
            return nil
        }
        // A batch of single-token swaps, spread over the members, scored exactly; an input is never scored twice.
        if d.neighbors > 0 { neighbours.prepare(members.joined()) }   // one pass over E for the tokens new this step
        ridge?.refit()                                                 // and one for the fits' predictions
        var children: [[Int]] = []
        var parents: [(r: Int, i: Int)] = []
        if let si = screenAt {
            // Estimates made around another context (other positions of the best member changed since) are dropped.
            var context = members[0]; context[si] = -1
            if context != screenedContext { screened.removeAll(); byEstimate.removeAll(); screenedContext = context; screenExhausted = false }
        }
        if let si = screenAt, stale >= d.screenAfterStale, !screenExhausted {
            // Tokens already scored exactly there need no estimate.
            func unscreened(_ t: Int) -> Bool { var c = members[0]; c[si] = t; return !screened.contains(t) && !tried.contains(c) }
            var picks: [Int] = [], picked = Set<Int>()
            for t in (ridge?.ranked[si] ?? []) where picks.count < d.screen && unscreened(t) { picks.append(t); picked.insert(t) }
            var wrapped = false
            while picks.count < d.screen {
                if screenCursor == screenOrder.count {   // the end of the order: round again once (a new context may start late)
                    if wrapped { break }
                    wrapped = true; screenCursor = 0
                }
                let t = screenOrder[screenCursor]; screenCursor += 1
                if unscreened(t) && !picked.contains(t) { picks.append(t); picked.insert(t) }
            }
            if picks.count < d.screen { screenExhausted = true }
            if !picks.isEmpty {
                let values = try input.frozenContextValues(members[0], at: si, tokens: picks, objective: objective)
                screened.formUnion(picks)
                byEstimate += zip(picks, values).filter { !$0.1.isNaN }.map { (token: $0.0, value: $0.1) }
                byEstimate.sort { $0.value > $1.value || ($0.value == $1.value && $0.token < $1.token) }
                result.screened += picks.count
            }
        }
        if let si = screenAt {
            // The best estimates not yet scored exactly in the best member; those scored since (by any route) leave.
            var walked = 0, proposed = 0
            while walked < byEstimate.count && proposed < d.screenTop && children.count < d.candidates {
                var c = members[0]; c[si] = byEstimate[walked].token
                walked += 1
                if tried.contains(c) { continue }
                tried.insert(c)   // scored now, or (failing honest=) never proposed again
                proposed += 1
                if honestOK(c) { children.append(c); parents.append((0, si)) }
            }
            byEstimate.removeFirst(walked)
        }
        var tries = 0
        while children.count < d.candidates && tries < d.candidates * 64 {
            tries += 1
            // Most proposals already scored (a small k, one position): widen the net for this step so the batch fills.
            if tries % (d.candidates * 4) == 0 && k < min(d.kMax, V) {
                k = min(d.kMax, V, k * 2)
                lists = [[Int]?](repeating: nil, count: R * P); thresholds = [Float?](repeating: nil, count: R * P)
            }
            let r = Int(rng.next() % UInt64(R)), i = Int(rng.next() % UInt64(P))
            var child = members[r]
            let u = rng.nextDouble()
            if u < Double(d.explore) {
                let t = Int(rng.next() % UInt64(V))
                if isBanned[t] { continue }
                child[i] = t
            } else if u < Double(d.explore + d.neighbors) {
                // The nearest untried neighbour of the token there.
                let near = neighbours(members[r][i])
                guard let t = near.first(where: { t in var c = child; c[i] = t; return !tried.contains(c) }) else { continue }
                child[i] = t
            } else if u < Double(d.explore + d.neighbors + d.surrogate), let ridge {
                // The untried token the fit ranks highest at that position.
                guard let t = ridge.ranked[i].first(where: { t in var c = child; c[i] = t; return !tried.contains(c) }) else { continue }
                child[i] = t
            } else {
                guard let t = propose(r, i) else { continue }
                child[i] = t
            }
            if !tried.contains(child) && honestOK(child) { tried.insert(child); children.append(child); parents.append((r, i)) }
        }
        var childActs: [Float] = []
        var c0 = 0
        while c0 < children.count {
            let part = Array(children[c0..<min(c0 + 256, children.count)])
            childActs += try input.discreteValues(part, objective: objective)
            result.scored += part.count
            c0 += part.count
        }
        ridge?.add(children, scores: childActs)
        var childPLLs = [Float](repeating: 0, count: children.count)
        var exact = Array(children.indices)
        if let fluency, !children.isEmpty {
            // Estimate each child's PLL from its parent's masked pass (its own term exactly, the context unchanged),
            // then score the most promising quarter exactly; only exactly scored children compete.
            let logq = logq!
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
        // Grow k when the step found nothing better (a wider net); start small again after an improvement.
        if let top = scores.first, top > bestEver { bestEver = top; k = d.kStart; stale = 0 } else { k = min(d.kMax, V, k * 2); stale += 1 }
        // Stuck: restart the weaker half from the best input with half its positions (at least one) redrawn at random,
        // so their gradients and neighbours propose from elsewhere (EPO's restarts). The best inputs stay recorded.
        if stale >= d.restartAfter && R > 1 {
            var fresh: [[Int]] = []
            while fresh.count < R - R / 2 {
                var s = members[0]
                for _ in 0..<max(1, P / 2) {
                    let t = Int(rng.next() % UInt64(V))
                    if !isBanned[t] { s[Int(rng.next() % UInt64(P))] = t }
                }
                if !tried.contains(s) && honestOK(s) { tried.insert(s); fresh.append(s) }
            }
            let freshActs = try input.discreteValues(fresh, objective: objective)
            result.scored += fresh.count
            ridge?.add(fresh, scores: freshActs)
            let freshPLLs = try fluency?.scorer.pll(fresh) ?? [Float](repeating: 0, count: fresh.count)
            for (n, r) in ((R / 2)..<R).enumerated() { members[r] = fresh[n]; acts[r] = freshActs[n]; plls[r] = freshPLLs[n] }
            stale = 0; k = d.kStart
        }
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
