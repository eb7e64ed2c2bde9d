import CBLAS
import Foundation

/// Per dreamed position, a ridge regression of the score on the token's unit-normalised embedding, fitted on every
/// input the discrete method has scored exactly. Where the one-hot gradient ranks a unit's best tokens badly (its
/// first-order view of an attention output or a saturated unit), this global fit often ranks them well: fitted on 1024
/// random tokens at one position of "i hate kickshaws", it put the exhaustive maximum of L3 attn_out 300 at rank 53
/// (the gradient at the start token: 11370), of L3 resid_post 17 at 5 (1565), of L5 mlp.hook_post 1000 at 45 (613).
/// For several positions each fit sees the others as noise: a marginal model, used only to propose swaps.
final class EmbeddingRidge {
    let P: Int, H: Int, V: Int
    let model: BertModel
    private let invNorm: [Float]           // (V): 1/‖E[j]‖, 0 for a zero row
    private var gram: [Double]             // (P, D, D), D = H + 1: Σ x xᵀ over scored inputs (x = [unit embedding, 1])
    private var rhs: [Double]              // (P, D): Σ x · score
    private var weights: [Double]          // (P, D): the last solution, the next fit's starting point
    private var pending: [(span: [Int], score: Float)] = []
    private(set) var count = 0
    /// Tokens by predicted score, best first, per position (banned tokens left out); filled by `refit`.
    private(set) var ranked: [[Int]]
    private let excluded: [Bool]
    private let listLength: Int

    /// Whether the fits' normal equations (P × (H+1)² doubles) stay within 256 MB: about 200 positions of MiniLM, 50 of
    /// bert-base. Longer spans leave the surrogate's share of swaps to the gradient.
    static func fits(positions P: Int, hidden H: Int) -> Bool { P * (H + 1) * (H + 1) * 8 <= 256 << 20 }

    /// `listLength`: how many tokens each position's ranking keeps, by default 512 at one position (where the tokens
    /// tried pile up at the top of it) down to 64 for many (where a swap is new unless the whole span matches).
    /// `invNorm`: embeddingInverseNorms(model), when the caller has it already (the neighbour lists do).
    init(model: BertModel, positions P: Int, excluded: [Bool], invNorm: [Float]? = nil, listLength: Int? = nil) {
        self.model = model; self.P = P; self.excluded = excluded; self.listLength = listLength ?? max(64, 512 / max(P, 1))
        H = model.config.hiddenSize; V = model.config.vocabSize
        self.invNorm = invNorm ?? embeddingInverseNorms(model)
        let D = H + 1
        gram = [Double](repeating: 0, count: P * D * D)
        rhs = [Double](repeating: 0, count: P * D)
        weights = [Double](repeating: 0, count: P * D)
        ranked = [[Int]](repeating: [], count: P)
    }

    /// Queues exactly scored spans; they join the fits at the next `refit`.
    func add(_ spans: [[Int]], scores: [Float]) {
        for (s, v) in zip(spans, scores) where v.isFinite { pending.append((s, v)) }
    }

    /// Folds the queued inputs into each position's normal equations (a rank-n update), solves them by conjugate
    /// gradients from the last solution, and ranks the vocabulary by the new predictions. Positions are independent
    /// and split across the threads.
    func refit() {
        guard !pending.isEmpty else { return }
        let n = pending.count, D = H + 1, H = self.H, P = self.P
        count += n
        // Ridge on the embedding weights (not the intercept): a prior worth a tenth of the data, spread over H dims.
        let lambda = 0.1 * Double(count) / Double(H)
        let w = FloatBuffer(count: P * H), intercept = FloatBuffer(count: P)
        let E = model.weights.wordEmbeddings.ptr
        gram.withUnsafeMutableBufferPointer { gp in rhs.withUnsafeMutableBufferPointer { rp in weights.withUnsafeMutableBufferPointer { wp in
            let g = gp.baseAddress!, b = rp.baseAddress!, x = wp.baseAddress!
            parallelChunks(P, work: P * n * D * D) { _, i0, i1 in
                var X = [Double](repeating: 0, count: n * D)
                for i in i0..<i1 {
                    for (r, p) in pending.enumerated() {
                        let t = p.span[i], k = Double(invNorm[t])
                        for h in 0..<H { X[r * D + h] = Double(E[t * H + h]) * k }
                        X[r * D + H] = 1
                        for a in 0..<D { b[i * D + a] += X[r * D + a] * Double(p.score) }
                    }
                    // The upper triangle of Σ x xᵀ (dsymv reads no more).
                    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(D), Int32(n), 1, X, Int32(D), 1, g + i * D * D, Int32(D))
                    EmbeddingRidge.solve(g + i * D * D, b + i * D, x + i * D, D: D, lambda: lambda)
                    for h in 0..<H { w[i * H + h] = Float(x[i * D + h]) }
                    intercept[i] = Float(x[i * D + H])
                }
            }
        } } }
        pending.removeAll(keepingCapacity: true)
        // Predictions (P,V) = w (P,H) · Eᵀ, scaled by each token's 1/‖E[j]‖, plus the intercept: one pass over E.
        let pred = FloatBuffer(count: P * V)
        model.weights.embeddingDots(pred.ptr, w.ptr, M: P)
        var lists = [[Int]](repeating: [], count: P)
        lists.withUnsafeMutableBufferPointer { lp in
            let out = lp.baseAddress!
            parallelChunks(P, work: P * V * 64) { _, i0, i1 in
                for i in i0..<i1 {
                    let row = pred.ptr + i * V, c = intercept[i]
                    if listLength <= 256 {
                        var best = BestK<Int>(listLength)
                        for j in 0..<V where !excluded[j] { best.offer(row[j] * invNorm[j] + c, j) }
                        out[i] = best.items
                    } else {
                        // A long list (the screen's order): BestK inserts in O(k); select the threshold, sort the rest.
                        var score = [Float](repeating: -.infinity, count: V)
                        for j in 0..<V where !excluded[j] { score[j] = row[j] * invNorm[j] + c }
                        let threshold = kthLargest(score[...], listLength)
                        let kept = (0..<V).filter { !excluded[$0] && score[$0] >= threshold }
                        out[i] = Array(kept.sorted { score[$0] > score[$1] }.prefix(listLength))
                    }
                }
            }
        }
        ranked = lists
    }

    /// (G + λ I') x = b by conjugate gradients from x (I' leaves the intercept, the last coordinate, unregularised);
    /// G holds its upper triangle. Warm-started from the last step's solution, 16 iterations a step suffice (at most).
    static func solve(_ G: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ x: UnsafeMutablePointer<Double>, D: Int, lambda: Double) {
        var ap = [Double](repeating: 0, count: D), r = [Double](repeating: 0, count: D)
        func apply(_ v: UnsafePointer<Double>, _ out: UnsafeMutablePointer<Double>) {
            cblas_dsymv(CblasRowMajor, CblasUpper, Int32(D), 1, G, Int32(D), v, 1, 0, out, 1)
            for a in 0..<(D - 1) { out[a] += lambda * v[a] }
        }
        ap.withUnsafeMutableBufferPointer { apply(x, $0.baseAddress!) }
        var bNorm: Double = 0
        for a in 0..<D { r[a] = b[a] - ap[a]; bNorm += b[a] * b[a] }
        var p = r
        var rr = r.reduce(0) { $0 + $1 * $1 }
        for _ in 0..<16 where rr > 1e-14 * max(bNorm, 1e-300) {
            p.withUnsafeBufferPointer { pp in ap.withUnsafeMutableBufferPointer { apply(pp.baseAddress!, $0.baseAddress!) } }
            var pap: Double = 0
            for a in 0..<D { pap += p[a] * ap[a] }
            guard pap > 0 else { break }
            let alpha = rr / pap
            var rrNew: Double = 0
            for a in 0..<D { x[a] += alpha * p[a]; r[a] -= alpha * ap[a]; rrNew += r[a] * r[a] }
            let beta = rrNew / rr
            rr = rrNew
            for a in 0..<D { p[a] = r[a] + beta * p[a] }
        }
    }
}
