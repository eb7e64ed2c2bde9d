import Foundation

extension BertModel {
    /// Candidates that differ from `base` at one position, each run with that position's row alone: at every layer
    /// the row attends to the base sequence's keys and values at the other positions (its own key and value at
    /// `position`), so the context is frozen at the base's. One row per layer instead of T; exact at layer 0, where
    /// the other rows do not depend on the swapped token, and an estimate deeper, where they do (through their
    /// attention to it). The discrete method screens many tokens with it before scoring the best exactly.
    ///
    /// base: a full forward of one sequence (every layer kept) to at least `upTo`; tokens (N) -> activations (N,T) to
    /// layer `upTo`, whose `keep` sites hold the base's values at the other positions and the candidates' at `position`
    /// (the last layer's MLP sites only when one of them is kept).
    public func forwardFrozenContext(base: Activations, baseIds: [Int], typeIds: [Int], position p: Int, tokens: [Int],
                                     upTo: Int, keep: Set<Site>) throws -> Activations {
        let c = config, w = weights, T = baseIds.count, H = c.hiddenSize, I = c.intermediateSize, NH = c.numHeads, hs = c.headDim
        let N = tokens.count, eps = c.layerNormEps, scale = 1 / Float(hs).squareRoot()
        precondition(base.B == 1 && base.T == T && base.keptLayers == nil && base.deepestLayer >= upTo && (0..<T).contains(p) && upTo >= 0)
        for (n, t) in tokens.enumerated() where !(0..<c.vocabSize).contains(t) {
            throw DreamlabError.outOfRange("token id \(t) (candidate \(n)) is outside the vocabulary 0...\(c.vocabSize - 1)")
        }
        let acts = Activations(B: N, T: T, config: c, lengths: [Int](repeating: T, count: N), deepestLayer: upTo, keep: keep)
        // The kept sites start as the base's at every position; the candidates' rows overwrite theirs below.
        for site in keep {
            guard let (dst, per) = acts.buffer(site), let (src, basePer) = base.buffer(site), per == basePer else { continue }
            for n in 0..<N { (dst.ptr + n * per).update(from: src.ptr, count: per) }
        }
        // Compact rows, one per candidate, reused layer after layer.
        func rows(_ width: Int) -> FloatBuffer { FloatBuffer(uninitialized: N * width) }
        let x = rows(H), q = rows(H), k = rows(H), v = rows(H), z = rows(H), attnOut = rows(H), sum1 = rows(H), mid = rows(H)
        let pre = rows(I), post = rows(I), mlpOut = rows(H), sum2 = rows(H)
        let scores = rows(NH * T), pattern = rows(NH * T), m1 = rows(1), r1 = rows(1), m2 = rows(1), r2 = rows(1)
        // x (N,H): word + position + segment at `position`, then LayerNorm.
        let pos = w.positionEmbeddings.ptr + p * H, typ = w.typeEmbeddings.ptr + typeIds[p] * H
        for (n, t) in tokens.enumerated() {
            let o = sum1.ptr + n * H, word = w.wordEmbeddings.ptr + t * H
            for i in 0..<H { o[i] = word[i] + pos[i] + typ[i] }
        }
        layernormForward(x.ptr, m1.ptr, r1.ptr, sum1.ptr, w.embLN.gamma.ptr, w.embLN.beta.ptr, N: N, C: H, eps: eps)
        // Writes the compact rows into row `position` of each candidate's (T, width) buffer.
        func scatter(_ src: FloatBuffer, _ dst: FloatBuffer, _ width: Int) {
            for n in 0..<N { (dst.ptr + (n * T + p) * width).update(from: src.ptr + n * width, count: width) }
        }
        scatter(x, acts.embed, H); scatter(sum1, acts.embedSum, H); scatter(m1, acts.embMean, 1); scatter(r1, acts.embRstd, 1)

        for l in 0...upTo {
            let a = acts.layers[l], lw = w.layers[l], context = base.layers[l]
            lw.query.forward(q.ptr, x.ptr, rows: N)
            lw.key.forward(k.ptr, x.ptr, rows: N)
            lw.value.forward(v.ptr, x.ptr, rows: N)
            parallelHalves(N, work: N * NH * T * hs * 4) { n0, n1 in
                for n in n0..<n1 {
                    for h in 0..<NH {
                        let o = n * H + h * hs, at = (n * NH + h) * T
                        attendRow(q.ptr + o, keys: context.k.ptr + h * hs, values: context.v.ptr + h * hs, stride: H, T: T, length: T, hs: hs,
                                  scale: scale, own: (p, UnsafePointer(k.ptr + o), UnsafePointer(v.ptr + o)), scores: scores.ptr + at, pattern: pattern.ptr + at, z: z.ptr + o)
                    }
                }
            }
            lw.attnOut.forward(attnOut.ptr, z.ptr, rows: N)
            residualLayernormForward(mid.ptr, m1.ptr, r1.ptr, sum1.ptr, x.ptr, attnOut.ptr, lw.ln1.gamma.ptr, lw.ln1.beta.ptr, N: N, C: H, eps: eps)
            // The last layer's MLP only when a kept site there comes from it (attention sites alone: a third of its cost).
            let mlp = l < upTo || keep.contains { $0.layer == l && [.mlpPre, .mlpPost, .mlpOut, .residPost].contains($0.kind) }
            if mlp {
                mlpForward(mlpOut.ptr, pre: pre.ptr, post: post.ptr, mid.ptr, lw, rows: N, kernelRows: N, stored: true)
                residualLayernormForward(x.ptr, m2.ptr, r2.ptr, sum2.ptr, mid.ptr, mlpOut.ptr, lw.ln2.gamma.ptr, lw.ln2.beta.ptr, N: N, C: H, eps: eps)
            }
            // Only layers with kept sites are read afterwards (the others share one set of scratch buffers).
            if acts.keptLayers?.contains(l) ?? true {
                scatter(q, a.q, H); scatter(k, a.k, H); scatter(v, a.v, H); scatter(z, a.z, H); scatter(attnOut, a.attnOut, H)
                scatter(sum1, a.sum1, H); scatter(mid, a.residMid, H); scatter(m1, a.ln1Mean, 1); scatter(r1, a.ln1Rstd, 1)
                if mlp {
                    scatter(pre, a.mlpPre, I); scatter(post, a.mlpPost, I); scatter(mlpOut, a.mlpOut, H); scatter(sum2, a.sum2, H)
                    scatter(x, a.residPost, H); scatter(m2, a.ln2Mean, 1); scatter(r2, a.ln2Rstd, 1)
                }
                for n in 0..<N {
                    for h in 0..<NH {
                        let at = ((n * NH + h) * T + p) * T
                        (a.scores.ptr + at).update(from: scores.ptr + (n * NH + h) * T, count: T)
                        (a.pattern.ptr + at).update(from: pattern.ptr + (n * NH + h) * T, count: T)
                    }
                }
            }
        }
        return acts
    }
}
