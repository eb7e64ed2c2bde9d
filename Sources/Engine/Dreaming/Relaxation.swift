import CKernels
import Foundation

/// How the relaxed logits z become the soft input p.
public enum RelaxationMode: String, Sendable {
    case softmax      // p = softmax(z / T), PAIR's default
    case gumbel       // p = softmax((log(max(z, 1e-10)) + g) / T), PAIR's Gumbel form, g seeded Gumbel noise
    case hard         // straight-through: the argmax token forward, the softmax gradient backward
    case gumbelLogits = "gumbel_logits"   // p = softmax((z + g) / T): standard Gumbel-softmax on logits (the hybrid method)

    /// Whether the relaxation draws Gumbel noise each step.
    public var usesGumbelNoise: Bool { self == .gumbel || self == .gumbelLogits }
}

/// One dreamed input: a tokenized sentence whose dreamed positions (first...last, or several spans around fixed
/// tokens) are relaxed to p = softmax(z/T) over the vocabulary, for R restarts at once (the batch). Everything else
/// stays one-hot.
public final class RelaxedInput: @unchecked Sendable {
    public let model: BertModel
    public let ids: [Int]
    public let typeIds: [Int]
    public let first: Int, last: Int
    /// The dreamed positions, ascending (first...last unless spans leave fixed tokens between them).
    public let positions: [Int]
    let dreamed: [Bool]
    public let R: Int
    public var P: Int { positions.count }
    public var T: Int { ids.count }
    public var V: Int { model.config.vocabSize }

    public convenience init(model: BertModel, ids: [Int], typeIds: [Int], first: Int, last: Int, restarts: Int = 1) throws {
        let T = ids.count
        guard first >= 0, last < T, first <= last else {
            throw DreamlabError.outOfRange("dream span first=\(first), last=\(last) must satisfy 0 <= first <= last <= \(T - 1) for this \(T)-token input (0-based; position 0 is [CLS], \(T - 1) is the final [SEP])")
        }
        try self.init(model: model, ids: ids, typeIds: typeIds, positions: Array(first...last), restarts: restarts)
    }

    public init(model: BertModel, ids: [Int], typeIds: [Int], positions: [Int], restarts: Int = 1) throws {
        let T = ids.count
        guard let first = positions.first, let last = positions.last, positions == Array(Set(positions)).sorted(),
              first >= 0, last < T else {
            throw DreamlabError.outOfRange("dreamed positions \(positions) must be distinct, ascending and in 0...\(T - 1) for this \(T)-token input")
        }
        guard restarts >= 1 else { throw DreamlabError.invalidArgument("restarts must be at least 1") }
        self.model = model; self.ids = ids; self.typeIds = typeIds; self.first = first; self.last = last; self.R = restarts
        self.positions = positions
        var d = [Bool](repeating: false, count: T)
        for t in positions { d[t] = true }
        dreamed = d
    }

    /// True when the dreamed positions are one contiguous span (rows copy as one block).
    var contiguous: Bool { last - first + 1 == positions.count }

    /// Copies the P dreamed rows of restart r between a (R,T,H) buffer and a packed (R,P,H) one.
    public func gather(_ packed: UnsafeMutablePointer<Float>, from full: UnsafePointer<Float>, H: Int) {
        for r in 0..<R {
            if contiguous { (packed + r * P * H).update(from: full + (r * T + first) * H, count: P * H); continue }
            for (i, t) in positions.enumerated() { (packed + (r * P + i) * H).update(from: full + (r * T + t) * H, count: H) }
        }
    }
    func scatter(_ full: UnsafeMutablePointer<Float>, from packed: UnsafePointer<Float>, H: Int) {
        for r in 0..<R {
            if contiguous { (full + (r * T + first) * H).update(from: packed + r * P * H, count: P * H); continue }
            for (i, t) in positions.enumerated() { (full + (r * T + t) * H).update(from: packed + (r * P + i) * H, count: H) }
        }
    }

    /// The full input with a span of P dreamed ids put in place.
    public func fill(_ span: [Int]) -> [Int] {
        var s = ids
        for (i, t) in positions.enumerated() { s[t] = span[i] }
        return s
    }

    /// z at the starting point: the one-hot vectors of the sentence's tokens at the dreamed positions. (R,P,V)
    public func oneHotLogits() -> [Float] {
        var z = [Float](repeating: 0, count: R * P * V)
        for r in 0..<R { for i in 0..<P { z[(r * P + i) * V + ids[positions[i]]] = 1 } }
        return z
    }

    public var batch: InputBatch {
        InputBatch(ids: [[Int]](repeating: ids, count: R), typeIds: [[Int]](repeating: typeIds, count: R), padId: model.tokenizer.padId)
    }

    /// z (R,P,V) -> p (R,P,V). `noise` (R,P,V) is the Gumbel noise for .gumbel.
    public func probabilities(_ z: [Float], temperature: Float, mode: RelaxationMode, noise: [Float]?) -> [Float] {
        var p = [Float](overwritten: z.count)   // every row is written by the softmax
        if mode == .gumbel, let noise {
            // PAIR's form: softmax((log(max(z, 1e-10)) + g) / T)
            var u = [Float](overwritten: z.count)
            for i in 0..<z.count { u[i] = logf(max(z[i], 1e-10)) + noise[i] }
            softmaxRows(&p, u, temperature)
        } else if mode == .gumbelLogits, let noise {
            var u = z
            for i in 0..<z.count { u[i] += noise[i] }
            softmaxRows(&p, u, temperature)
        } else {
            softmaxRows(&p, z, temperature)
        }
        return p
    }

    /// Row softmax over (R*P, V), rows split across the two cores.
    func softmaxRows(_ p: inout [Float], _ z: [Float], _ temperature: Float) {
        let rows = R * P, V = self.V
        p.withUnsafeMutableBufferPointer { pp in z.withUnsafeBufferPointer { zp in
            let po = pp.baseAddress!, zo = zp.baseAddress!
            parallelHalves(rows, work: rows * V * 20) { r0, r1 in
                dl_softmax_rows(po + r0 * V, zo + r0 * V, Int32(r1 - r0), Int32(V), 1 / temperature)
            }
        } }
    }

    /// Word-embedding rows (R,T,H): p·E at the dreamed positions (E[argmax p] for .hard), E[id] elsewhere.
    public func wordRows(_ p: [Float], mode: RelaxationMode) -> FloatBuffer {
        let H = model.config.hiddenSize, E = model.weights.wordEmbeddings.ptr
        if mode == .hard {
            let rows = fixedRows()
            let am = argmax(p)
            for r in 0..<R { for i in 0..<P { (rows.ptr + (r * T + positions[i]) * H).update(from: E + am[r * P + i] * H, count: H) } }
            return rows
        }
        // All restarts' dreamed rows in one product (R*P,V)·(V,H): E is streamed once per step.
        let soft = FloatBuffer(count: R * P * H)
        p.withUnsafeBufferPointer { pp in model.weights.embeddingMix(soft.ptr, pp.baseAddress!, M: R * P) }
        return wordRows(soft: soft)
    }

    /// Word-embedding rows (R,T,H) with the dreamed positions' rows given (R*P,H), E[id] elsewhere.
    func wordRows(soft: FloatBuffer) -> FloatBuffer {
        let rows = fixedRows()
        scatter(rows.ptr, from: soft.ptr, H: model.config.hiddenSize)
        return rows
    }

    /// (R,T,H) rows holding E[id] at the fixed positions (the dreamed ones are filled by the caller).
    private func fixedRows() -> FloatBuffer {
        let H = model.config.hiddenSize, E = model.weights.wordEmbeddings.ptr
        let rows = FloatBuffer(count: R * T * H)
        for r in 0..<R { for t in 0..<T where !dreamed[t] {
            (rows.ptr + (r * T + t) * H).update(from: E + ids[t] * H, count: H)
        } }
        return rows
    }

    /// The argmax tokens as one span of P ids per restart.
    public func argmaxSpans(_ p: [Float]) -> [[Int]] {
        let am = argmax(p)
        return (0..<R).map { Array(am[($0 * P)..<(($0 + 1) * P)]) }
    }

    /// Argmax token per dreamed row (R*P).
    public func argmax(_ p: [Float]) -> [Int] {
        var out = [Int](repeating: 0, count: R * P)
        let V = self.V
        p.withUnsafeBufferPointer { pp in out.withUnsafeMutableBufferPointer { op in
            let (base, o) = (pp.baseAddress!, op.baseAddress!)
            parallelHalves(R * P, work: R * P * V) { r0, r1 in
                for row in r0..<r1 {
                    let pr = base + row * V
                    var best = 0; var bv = pr[0]
                    for j in 1..<V where pr[j] > bv { bv = pr[j]; best = j }
                    o[row] = best
                }
            }
        } }
        return out
    }

    /// dz from d(word rows): dp = dRows·E^T, then back through the softmax (and the Gumbel log).
    /// `extraDp` (R,P,V), when given, is added to dp first: a fluency term's gradient w.r.t. the same p.
    public func logitGradient(dWord: FloatBuffer, p: [Float], z: [Float], temperature: Float, mode: RelaxationMode,
                              extraDp: [Float]? = nil) -> [Float] {
        let H = model.config.hiddenSize
        var dz = [Float](overwritten: R * P * V)   // written whole by the product with E
        dz.withUnsafeMutableBufferPointer { dzp in
            let dp = dzp.baseAddress!
            // dp (P,V) = dRows (P,H) · E^T, per restart
            let dRows = FloatBuffer(count: R * P * H)
            gather(dRows.ptr, from: dWord.ptr, H: H)
            model.weights.embeddingDots(dp, dRows.ptr, M: R * P)
            if let extraDp { for k in 0..<(R * P * V) { dp[k] += extraDp[k] } }
            p.withUnsafeBufferPointer { pp in z.withUnsafeBufferPointer { zp in
                parallelHalves(R * P, work: R * P * V * 20) { r0, r1 in
                    dl_softmax_backward_rows(dp + r0 * V, pp.baseAddress! + r0 * V, zp.baseAddress! + r0 * V, Int32(r1 - r0), Int32(V),
                                             1 / temperature, mode == .gumbel ? 1 : 0)
                }
            } }
        }
        return dz
    }

    /// Value and dz of an objective at logits z: one batched forward to the objective's deepest layer, one backward.
    /// With `fluency`, dz climbs activation + λ·PLL(p), and `pll` holds each restart's soft PLL.
    public func valueAndGradient(_ z: [Float], temperature: Float, mode: RelaxationMode, noise: [Float]?,
                                 objective: ActivationObjective,
                                 fluency: (scorer: FluencyScorer, lambda: Float)? = nil) throws -> (values: [Float], dz: [Float], p: [Float], pll: [Float]?) {
        let p = probabilities(z, temperature: temperature, mode: mode, noise: noise)
        let (values, dWord) = try objectiveGradient(wordRows: wordRows(p, mode: mode), objective: objective)
        var extra: [Float]? = nil, pll: [Float]? = nil
        if let (scorer, lambda) = fluency {
            // The fluency model sees what the dreamed model sees: the soft mixture, or the argmax token (.hard).
            let ev: FluencyScorer.Evaluation
            if mode == .hard {
                let spans = argmaxSpans(p)
                ev = try scorer.evaluate(.ids(spans), rows: scorer.rows(spans: spans), R: R, gradient: true)
            } else {
                ev = try scorer.evaluate(.soft(p), rows: scorer.rows(soft: p, R: R), R: R, gradient: true)
            }
            extra = ev.dInput!.map { $0 * lambda }
            pll = ev.pll
        }
        return (values, logitGradient(dWord: dWord, p: p, z: z, temperature: temperature, mode: mode, extraDp: extra), p, pll)
    }

    /// The objective's values at these word-embedding rows (R,T,H) and its gradient w.r.t. them: one batched forward
    /// to the objective's deepest layer, one backward.
    func objectiveGradient(wordRows rows: FloatBuffer, objective: ActivationObjective) throws -> (values: [Float], dWord: FloatBuffer) {
        // The deepest layer runs (and is undone) at the rows the objective reads only.
        let acts = try model.forward(batch, upTo: min(objective.deepestLayer, model.config.numLayers - 1),
                                     withMLM: objective.needsMLM, wordRows: rows, lastLayerRows: objective.rowsAtDeepestLayer(T: T))
        let grads = SiteGradients(B: R, T: T, config: model.config)
        let values = try objective.evaluate(acts, grads: grads)
        return (values, model.backward(acts, grads))
    }

    /// Objective values at discrete token ids for the dreamed span (one row of P ids per sequence), one batched pass.
    public func discreteValues(_ spans: [[Int]], objective: ActivationObjective) throws -> [Float] {
        let seqs = spans.map(fill)
        let acts = try model.forward(InputBatch(ids: seqs, typeIds: [[Int]](repeating: typeIds, count: seqs.count), padId: model.tokenizer.padId),
                                     upTo: min(objective.deepestLayer, model.config.numLayers - 1), withMLM: objective.needsMLM,
                                     keep: Set(objective.sites), lastLayerRows: objective.rowsAtDeepestLayer(T: T))
        return try objective.evaluate(acts, grads: nil)
    }

    /// Objective values of `span` with dreamed position `i` swapped to each of `tokens`, every swap run with the rest
    /// of the sequence frozen at `span`'s (BertModel.forwardFrozenContext): one row a layer instead of T, 4-6x cheaper
    /// than `discreteValues` on MiniLM at T=7 (whose deepest layer also runs at the read row only), and an estimate,
    /// not a score. In batches of 256.
    public func frozenContextValues(_ span: [Int], at i: Int, tokens: [Int], objective: ActivationObjective) throws -> [Float] {
        let upTo = min(objective.deepestLayer, model.config.numLayers - 1), seq = fill(span)
        let base = try model.forward(InputBatch(ids: [seq], typeIds: [typeIds]), upTo: upTo)
        var values: [Float] = []
        values.reserveCapacity(tokens.count)
        let chunk = 256
        for c0 in stride(from: 0, to: tokens.count, by: chunk) {
            let acts = try model.forwardFrozenContext(base: base, baseIds: seq, typeIds: typeIds, position: positions[i],
                                                      tokens: Array(tokens[c0..<min(c0 + chunk, tokens.count)]), upTo: upTo, keep: Set(objective.sites))
            values += try objective.evaluate(acts, grads: nil)
        }
        return values
    }
}

/// Seeded Gumbel(0,1) noise: -log(-log(u)), u uniform in (0,1): the next `count` draws of `rng`, computed by the
/// threads in ranges (dl_gumbel_noise jumps SplitMix64 ahead), then `rng` advanced past them. One draw at a time
/// in Swift took about 12 ms for a (1,5,V) step and made the hybrid method 4x slower than the relaxed one.
public func gumbelNoise(count: Int, rng: inout SplitMix64) -> [Float] {
    var out = [Float](overwritten: count)
    let state = rng.state
    out.withUnsafeMutableBufferPointer { op in
        let o = op.baseAddress!
        parallelHalves(count, work: count * 40) { i0, i1 in dl_gumbel_noise(o + i0, i1 - i0, state, i0) }
    }
    rng.state = state &+ UInt64(truncatingIfNeeded: count) &* 0x9E3779B97F4A7C15
    return out
}

/// The reference: one draw at a time, as `gumbelNoise` must reproduce.
func gumbelNoiseNaive(count: Int, rng: inout SplitMix64) -> [Float] {
    (0..<count).map { _ in
        let u = max(rng.nextDouble(), 1e-12)
        return Float(-log(-log(u)))
    }
}
