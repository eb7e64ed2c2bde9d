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
}
