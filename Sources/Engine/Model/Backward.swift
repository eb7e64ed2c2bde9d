import Foundation

/// d objective / d site for the sites an objective reads, each (B, per-sequence), zero until written.
public final class SiteGradients: @unchecked Sendable {
    public let B: Int, T: Int
    public let config: BertConfig
    public private(set) var buffers: [Site: FloatBuffer] = [:]

    public init(B: Int, T: Int, config: BertConfig) { self.B = B; self.T = T; self.config = config }

    public func perSequence(_ site: Site) -> Int { site.shape(T: T, config: config).reduce(1, *) }

    /// The gradient buffer for a site, allocated (zeroed) on first use.
    public func buffer(_ site: Site) -> FloatBuffer {
        if let b = buffers[site] { return b }
        let b = FloatBuffer(count: B * perSequence(site))
        buffers[site] = b
        return b
    }
    func get(_ site: Site) -> FloatBuffer? { buffers[site] }

    /// self += scale[b] · other, per sequence b. How composite objectives combine their parts' gradients.
    public func addScaled(_ other: SiteGradients, scale: [Float]) {
        for (site, src) in other.buffers {
            let dst = buffer(site), per = perSequence(site)
            for b in 0..<B {
                let k = scale[b]
                if k == 0 { continue }
                let d = dst.ptr + b * per, s = src.ptr + b * per
                for i in 0..<per { d[i] += k * s[i] }
            }
        }
    }
}

extension BertModel {
    /// Input-gradient backward pass: from the objective's site gradients down to d(word embedding rows) (B,T,H).
    /// Weight gradients are never formed. Starts at the deepest layer that has a site gradient.
    public func backward(_ acts: Activations, _ grads: SiteGradients) -> FloatBuffer {
        let c = config, w = weights
        let B = acts.B, T = acts.T, H = c.hiddenSize, I = c.intermediateSize, NH = c.numHeads, N = B * T
        let deepest = grads.buffers.keys.map(\.layer).max() ?? -1
        precondition(deepest <= acts.deepestLayer || (deepest == c.numLayers && acts.mlm != nil), "backward needs the forward to reach layer \(deepest)")
        precondition(acts.keptLayers == nil, "backward needs every activation: run the forward with keep: nil")

        func add(_ dst: FloatBuffer, _ site: Site) {
            if let g = grads.get(site) { for i in 0..<dst.count { dst.ptr[i] += g.ptr[i] } }
        }

        // dx: gradient w.r.t. the residual stream entering the current point (resid_post of the layer being undone).
        let dx = FloatBuffer(count: N * H)
        if deepest == c.numLayers, let m = acts.mlm, let head = w.mlm, let dLogits = grads.get(Site(.mlmLogits, layer: c.numLayers)) {
            head.backward(dx.ptr, dLogits.ptr, m, c: c)
        }
        let startLayer = min(deepest, c.numLayers - 1)
        if startLayer >= 0 {
            let dSum = FloatBuffer(count: N * H), dMid = FloatBuffer(count: N * H), dAttnOut = FloatBuffer(count: N * H)
            let dMlpPost = FloatBuffer(count: N * I), dMlpPre = FloatBuffer(count: N * I), dMlpOut = FloatBuffer(count: N * H)
            let dz = FloatBuffer(count: N * H), dq = FloatBuffer(count: N * H), dk = FloatBuffer(count: N * H), dv = FloatBuffer(count: N * H)
            let scratch = FloatBuffer(count: 2 * T * T * Threads.count)   // one 2·T·T area per thread
            for l in stride(from: startLayer, through: 0, by: -1) {
                let a = acts.layers[l], lw = w.layers[l]
                add(dx, Site(.residPost, layer: l))
                if l == acts.deepestLayer, let rows = acts.deepestRows {
                    layerBackwardRows(dx, a, lw, grads, layer: l, rows: rows, B: B, T: T)
                    continue
                }
                // resid_post = LN2(resid_mid + mlp_out)
                dSum.zero()
                parallelHalves(N, work: N * H * 8) { n0, n1 in
                    layernormBackward(dSum.ptr + n0 * H, dx.ptr + n0 * H, a.sum2.ptr + n0 * H, a.ln2Mean.ptr + n0, a.ln2Rstd.ptr + n0, lw.ln2.gamma.ptr, N: n1 - n0, C: H)
                }
                dMlpOut.ptr.update(from: dSum.ptr, count: N * H)
                add(dMlpOut, Site(.mlpOut, layer: l))
                // mlp_out = post W2^T + b2 ; post = gelu(pre) ; pre = resid_mid W1^T + b1
                dMlpPost.zero()
                lw.ffnOut.backward(dMlpPost.ptr, dMlpOut.ptr, rows: N)
                add(dMlpPost, Site(.mlpPost, layer: l))
                dMlpPre.zero()
                parallelHalves(N, work: N * I * 8) { n0, n1 in
                    geluBackward(dMlpPre.ptr + n0 * I, dMlpPost.ptr + n0 * I, a.mlpPre.ptr + n0 * I, N: (n1 - n0) * I)
                }
                add(dMlpPre, Site(.mlpPre, layer: l))
                dMid.ptr.update(from: dSum.ptr, count: N * H)
                lw.ffnIn.backward(dMid.ptr, dMlpPre.ptr, rows: N)
                add(dMid, Site(.residMid, layer: l))
                // resid_mid = LN1(x + attn_out)
                dSum.zero()
                parallelHalves(N, work: N * H * 8) { n0, n1 in
                    layernormBackward(dSum.ptr + n0 * H, dMid.ptr + n0 * H, a.sum1.ptr + n0 * H, a.ln1Mean.ptr + n0, a.ln1Rstd.ptr + n0, lw.ln1.gamma.ptr, N: n1 - n0, C: H)
                }
                dAttnOut.ptr.update(from: dSum.ptr, count: N * H)
                add(dAttnOut, Site(.attnOut, layer: l))
                // attn_out = z Wo^T + bo
                dz.zero()
                lw.attnOut.backward(dz.ptr, dAttnOut.ptr, rows: N)
                add(dz, Site(.z, layer: l))
                let dPattern = grads.get(Site(.pattern, layer: l)), dScores = grads.get(Site(.scores, layer: l))
                parallelChunks(B, work: B * NH * T * T * c.headDim * 6) { chunk, b0, b1 in
                    let off = b0 * T * H, aoff = b0 * NH * T * T
                    let scr = scratch.ptr + chunk * 2 * T * T
                    attentionBackward(dq.ptr + off, dk.ptr + off, dv.ptr + off, dz.ptr + off, dPattern.map { $0.ptr + aoff },
                                      dScores.map { $0.ptr + aoff }, a.q.ptr + off, a.k.ptr + off, a.v.ptr + off, a.pattern.ptr + aoff,
                                      scratch: scr, B: b1 - b0, T: T, NH: NH, hs: c.headDim)
                }
                // x feeds the residual and q, k, v
                dx.ptr.update(from: dSum.ptr, count: N * H)
                lw.query.backward(dx.ptr, dq.ptr, rows: N)
                lw.key.backward(dx.ptr, dk.ptr, rows: N)
                lw.value.backward(dx.ptr, dv.ptr, rows: N)
            }
        }
        add(dx, Site(.embed))
        // embed = LN(word + position + segment): the word rows get the whole pre-LN gradient.
        let dWord = FloatBuffer(count: N * H)
        layernormBackward(dWord.ptr, dx.ptr, acts.embedSum.ptr, acts.embMean.ptr, acts.embRstd.ptr, w.embLN.gamma.ptr, N: N, C: H)
        return dWord
    }
    /// The deepest layer's backward when its forward ran at `rows` only (layerForwardRows), as an objective that reads
    /// only those rows allows: LN2, the MLP, LN1, the output projection and the queries take those rows; keys and
    /// values take every position. dx (B,T,H): in, the gradient at resid_post (zero off the rows); out, at the
    /// layer's input, every row.
    func layerBackwardRows(_ dx: FloatBuffer, _ a: LayerActivations, _ lw: BertLayerWeights, _ grads: SiteGradients,
                           layer l: Int, rows: [Int], B: Int, T: Int) {
        let c = config, H = c.hiddenSize, I = c.intermediateSize, NH = c.numHeads, hs = c.headDim
        let R = rows.count, NR = B * R, N = B * T
        let scale = 1 / Float(hs).squareRoot()
        func gather(_ src: UnsafeMutablePointer<Float>, _ width: Int) -> FloatBuffer { gatherRows(src, width: width, rows: rows, B: B, T: T) }
        func addGathered(_ dst: FloatBuffer, _ site: Site, _ width: Int) {
            guard let g = grads.get(Site(site.kind, layer: l)) else { return }
            assert(offRowsAreZero(g, width), "the objective's gradient at \(site) reaches rows it did not declare")
            let rowsOnly = gather(g.ptr, width)
            for i in 0..<(NR * width) { dst.ptr[i] += rowsOnly.ptr[i] }
        }
        func offRowsAreZero(_ g: FloatBuffer, _ width: Int) -> Bool {
            let kept = Set(rows)
            for b in 0..<B { for t in 0..<T where !kept.contains(t) {
                for i in 0..<width where g.ptr[(b * T + t) * width + i] != 0 { return false }
            } }
            return true
        }
        // A LayerNorm's backward at the rows, from the forward's input and stats (full-size buffers) at those rows.
        func layernormBackwardAtRows(_ dOut: FloatBuffer, _ inp: FloatBuffer, _ mean: FloatBuffer, _ rstd: FloatBuffer,
                                     _ ln: LayerNormWeights) -> FloatBuffer {
            let dIn = FloatBuffer(count: NR * H), x = gather(inp.ptr, H), m = gather(mean.ptr, 1), r = gather(rstd.ptr, 1)
            withExtendedLifetime((x, m, r)) {
                layernormBackward(dIn.ptr, dOut.ptr, x.ptr, m.ptr, r.ptr, ln.gamma.ptr, N: NR, C: H)
            }
            return dIn
        }
        // resid_post = LN2(resid_mid + mlp_out), at the rows
        let dPost = gather(dx.ptr, H)
        let dSum2 = layernormBackwardAtRows(dPost, a.sum2, a.ln2Mean, a.ln2Rstd, lw.ln2)
        let dMlpOut = FloatBuffer(dSum2.array)
        addGathered(dMlpOut, Site(.mlpOut, layer: l), H)
        let dMlpPost = FloatBuffer(count: NR * I)
        lw.ffnOut.backward(dMlpPost.ptr, dMlpOut.ptr, rows: NR)
        addGathered(dMlpPost, Site(.mlpPost, layer: l), I)
        let dMlpPre = FloatBuffer(count: NR * I), pre = gather(a.mlpPre.ptr, I)
        geluBackward(dMlpPre.ptr, dMlpPost.ptr, pre.ptr, N: NR * I)
        addGathered(dMlpPre, Site(.mlpPre, layer: l), I)
        let dMid = FloatBuffer(dSum2.array)
        lw.ffnIn.backward(dMid.ptr, dMlpPre.ptr, rows: NR)
        addGathered(dMid, Site(.residMid, layer: l), H)
        // resid_mid = LN1(x + attn_out), at the rows
        let dSum1 = layernormBackwardAtRows(dMid, a.sum1, a.ln1Mean, a.ln1Rstd, lw.ln1)
        let dAttnOut = FloatBuffer(dSum1.array)
        addGathered(dAttnOut, Site(.attnOut, layer: l), H)
        let dz = FloatBuffer(count: NR * H)
        lw.attnOut.backward(dz.ptr, dAttnOut.ptr, rows: NR)
        addGathered(dz, Site(.z, layer: l), H)
        // Attention at the query rows: dq for those rows; dk and dv for every key they attended to.
        let q = gather(a.q.ptr, H)
        let dq = FloatBuffer(count: NR * H), dk = FloatBuffer(count: N * H), dv = FloatBuffer(count: N * H)
        let dPattern = grads.get(Site(.pattern, layer: l)), dScores = grads.get(Site(.scores, layer: l))
        parallelHalves(B, work: B * NH * R * T * hs * 6) { b0, b1 in
            var dP = [Float](repeating: 0, count: T)
            for b in b0..<b1 { for h in 0..<NH { for (r, t) in rows.enumerated() {
                let prow = a.pattern.ptr + ((b * NH + h) * T + t) * T
                let dzr = dz.ptr + (b * R + r) * H + h * hs, qr = q.ptr + (b * R + r) * H + h * hs
                let dqr = dq.ptr + (b * R + r) * H + h * hs
                var dot: Float = 0
                for j in 0..<T {
                    let vj = a.v.ptr + (b * T + j) * H + h * hs
                    var acc: Float = 0
                    for d in 0..<hs { acc += dzr[d] * vj[d] }
                    if let e = dPattern { acc += e[((b * NH + h) * T + t) * T + j] }
                    dP[j] = acc
                    dot += prow[j] * acc
                    // dv_j += p[t,j] · dz_t
                    let dvj = dv.ptr + (b * T + j) * H + h * hs, pj = prow[j]
                    for d in 0..<hs { dvj[d] += pj * dzr[d] }
                }
                for j in 0..<T {
                    var ds = prow[j] * (dP[j] - dot)
                    if let e = dScores { ds += e[((b * NH + h) * T + t) * T + j] }
                    let sd = scale * ds
                    let kj = a.k.ptr + (b * T + j) * H + h * hs, dkj = dk.ptr + (b * T + j) * H + h * hs
                    for d in 0..<hs { dqr[d] += sd * kj[d]; dkj[d] += sd * qr[d] }
                }
            } } }
        }
        // x feeds the residual (at the rows), q (at the rows), k and v (every row).
        dx.zero()
        lw.key.backward(dx.ptr, dk.ptr, rows: N)
        lw.value.backward(dx.ptr, dv.ptr, rows: N)
        let dxRows = FloatBuffer(dSum1.array)
        lw.query.backward(dxRows.ptr, dq.ptr, rows: NR)
        for b in 0..<B { for (r, t) in rows.enumerated() {
            let dst = dx.ptr + (b * T + t) * H, src = dxRows.ptr + (b * R + r) * H
            for i in 0..<H { dst[i] += src[i] }
        } }
    }
}
