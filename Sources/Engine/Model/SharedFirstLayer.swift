import CKernels
import Foundation

/// Layer 0 of a batch of single-token swaps at one position s (token search; the discrete method at one position).
/// Every other row's embedding, LayerNorm, query, key and value are the same in every sequence of such a batch, so
/// they are computed once; each sequence's attention at those rows differs from the shared one only by the swapped
/// row's key and value, one more term in each softmax. With the shared part's softmax max m, sum Z and weighted values
/// N = Σ_{j≠s} exp(score_j - m)·v_j per (row, head), and the new score t against the swapped key k_s:
///     M = max(m, t), α = exp(m - M), w = exp(t - M), z = (α·N + w·v_s) / (α·Z + w)        (the exact softmax)
/// and the attention output O·z + b, summed head by head, is b + Σ_h (α/D)·(O_h·N) + (w/D)·(O_h·v_s): O_h·N once per
/// row and head, O_h·v_s once per sequence and head. That replaces T-1 rows' Q, K, V and O products (a third of
/// the layer) with one row's and a combination of NH·H-vectors. The MLP still runs on every row: the residual of
/// every row changed. Only the layer's output (resid_post, and embed) is written, so it serves forwards that keep no
/// other layer-0 site, in fp32, with the packed kernels (AVX-512, whose rows sum alike in any split of the batch).
/// Sums run in another order than the plain forward's, so values agree with it to float rounding (tested).
struct SharedFirstLayer {
    let position: Int
    let x: FloatBuffer        // (T,H) the shared embedding rows after LayerNorm (row s unused)
    let q: FloatBuffer        // (T,H) their queries
    let maxScore: FloatBuffer // (T,NH) m over j≠s
    let expSum: FloatBuffer   // (T,NH) Z
    let projected: FloatBuffer // (T,NH,H) O_h·N, per row and head
    let keys: FloatBuffer     // (T,H) shared keys and values, for the swapped row's own attention
    let values: FloatBuffer

    /// Off: every layer 0 runs in full (tests compare the two; DREAMLAB_SHARED_LAYER0=0 turns it off).
    nonisolated(unsafe) static var enabled = ProcessInfo.processInfo.environment["DREAMLAB_SHARED_LAYER0"] != "0"
}

extension BertModel {
    /// The position where a batch's sequences differ, when it is one position only and the batch suits the shared
    /// layer 0: at least two sequences, no padding, one segment layout, every sequence equal to the first elsewhere.
    func singleSwapPosition(_ batch: InputBatch) -> Int? {
        let B = batch.B, T = batch.T
        guard B >= 2, T >= 2, batch.lengths.allSatisfy({ $0 == T }) else { return nil }
        let first = batch.ids[0], types = batch.typeIds[0]
        var position: Int? = nil
        for b in 1..<B {
            guard batch.typeIds[b] == types else { return nil }
            let seq = batch.ids[b]
            for t in 0..<T where seq[t] != first[t] {
                if position == nil { position = t } else if position != t { return nil }
            }
        }
        return position
    }

    /// The shared part of layer 0 for swaps at `s` of the batch's first sequence.
    func sharedFirstLayer(_ batch: InputBatch, position s: Int) -> SharedFirstLayer {
        let c = config, w = weights, lw = w.layers[0]
        let T = batch.T, H = c.hiddenSize, NH = c.numHeads, hs = c.headDim
        let ids = batch.ids[0], types = batch.typeIds[0]
        let sum = FloatBuffer(uninitialized: T * H), x = FloatBuffer(uninitialized: T * H)
        for t in 0..<T {
            let o = sum.ptr + t * H, word = w.wordEmbeddings.ptr + ids[t] * H, pos = w.positionEmbeddings.ptr + t * H, typ = w.typeEmbeddings.ptr + types[t] * H
            for i in 0..<H { o[i] = word[i] + pos[i] + typ[i] }
        }
        let mean = FloatBuffer(uninitialized: T), rstd = FloatBuffer(uninitialized: T)
        layernormForward(x.ptr, mean.ptr, rstd.ptr, sum.ptr, w.embLN.gamma.ptr, w.embLN.beta.ptr, N: T, C: H, eps: c.layerNormEps)
        let q = FloatBuffer(uninitialized: T * H), k = FloatBuffer(uninitialized: T * H), v = FloatBuffer(uninitialized: T * H)
        lw.query.forward(q.ptr, x.ptr, rows: T); lw.key.forward(k.ptr, x.ptr, rows: T); lw.value.forward(v.ptr, x.ptr, rows: T)
        let scale = 1 / Float(hs).squareRoot()
        let maxScore = FloatBuffer(count: T * NH), expSum = FloatBuffer(count: T * NH), projected = FloatBuffer(count: T * NH * H)
        // N per row and head into (T,H) (head h at columns h·hs), then O_h·N by the packed kernel head by head.
        let weighted = FloatBuffer(count: T * H)
        var e = [Float](repeating: 0, count: T)
        for i in 0..<T where i != s {
            for h in 0..<NH {
                let qi = q.ptr + i * H + h * hs
                var m = -Float.infinity
                for j in 0..<T where j != s {
                    let kj = k.ptr + j * H + h * hs
                    var acc: Float = 0
                    for d in 0..<hs { acc += qi[d] * kj[d] }
                    e[j] = acc * scale
                    m = max(m, e[j])
                }
                var z: Float = 0
                let n = weighted.ptr + i * H + h * hs
                for j in 0..<T where j != s {
                    let p = expf(e[j] - m), vj = v.ptr + j * H + h * hs
                    z += p
                    for d in 0..<hs { n[d] += p * vj[d] }
                }
                maxScore.ptr[i * NH + h] = m; expSum.ptr[i * NH + h] = z
            }
        }
        let packedO = lw.attnOut.packed.forward(lw.attnOut.weight, out: H, inp: H)
        for h in 0..<NH {
            dl_gemm_packed_slice(projected.ptr + h * H, NH * H, weighted.ptr + h * hs, H, packedO.ptr, Int32(H), Int32(H), Int32(h * hs), Int32(hs), 0, Int32(T))
        }
        return SharedFirstLayer(position: s, x: x, q: q, maxScore: maxScore, expSum: expSum, projected: projected, keys: k, values: v)
    }

    /// Layer 0 for sequences `seqs` of a single-swap batch (rows seqs·T): fills their embed and layer 0's resid_post
    /// (and the buffers on the way, as scratch). Products take the kernel the whole batch's rows would (`kernelRows`),
    /// so a group sums as one pass does.
    func firstLayerOfSwaps(_ acts: Activations, _ batch: InputBatch, sequences seqs: Range<Int>, shared f: SharedFirstLayer) {
        let c = config, w = weights, lw = w.layers[0], a = acts.layers[0]
        let T = batch.T, H = c.hiddenSize, NH = c.numHeads, hs = c.headDim
        let B = seqs.count, N = B * T, r0 = seqs.lowerBound * T, s = f.position
        let scale = 1 / Float(hs).squareRoot()
        // The swapped rows: embedding, LayerNorm, Q, K, V for B rows, then each one's attention over the shared keys.
        let sum = FloatBuffer(uninitialized: B * H), xs = FloatBuffer(uninitialized: B * H)
        let pos = w.positionEmbeddings.ptr + s * H, typ = w.typeEmbeddings.ptr + batch.typeIds[0][s] * H
        for bl in 0..<B {
            let o = sum.ptr + bl * H, word = w.wordEmbeddings.ptr + batch.ids[seqs.lowerBound + bl][s] * H
            for i in 0..<H { o[i] = word[i] + pos[i] + typ[i] }
        }
        let mean = FloatBuffer(uninitialized: B), rstd = FloatBuffer(uninitialized: B)
        layernormForward(xs.ptr, mean.ptr, rstd.ptr, sum.ptr, w.embLN.gamma.ptr, w.embLN.beta.ptr, N: B, C: H, eps: c.layerNormEps)
        let qs = FloatBuffer(uninitialized: B * H), ks = FloatBuffer(uninitialized: B * H), vs = FloatBuffer(uninitialized: B * H)
        lw.query.forward(qs.ptr, xs.ptr, rows: B, kernelRows: batch.B)
        lw.key.forward(ks.ptr, xs.ptr, rows: B, kernelRows: batch.B)
        lw.value.forward(vs.ptr, xs.ptr, rows: B, kernelRows: batch.B)
        let zs = FloatBuffer(uninitialized: B * H), ownOut = FloatBuffer(uninitialized: B * H)
        parallelHalves(B, work: B * NH * T * hs * 4) { lo, hi in
            var scores = [Float](repeating: 0, count: T), pattern = [Float](repeating: 0, count: T)
            for bl in lo..<hi {
                for h in 0..<NH {
                    let off = bl * H + h * hs
                    attendRow(qs.ptr + off, keys: f.keys.ptr + h * hs, values: f.values.ptr + h * hs, stride: H, T: T, length: T, hs: hs, scale: scale,
                              own: (s, UnsafePointer(ks.ptr + off), UnsafePointer(vs.ptr + off)), scores: &scores, pattern: &pattern, z: zs.ptr + off)
                }
            }
        }
        lw.attnOut.forward(ownOut.ptr, zs.ptr, rows: B, kernelRows: batch.B)
        // O_h·v_s per sequence and head, (B,NH,H): head h's slice of each v_s against O's columns of that head.
        // The packed kernel sums each row alike in any split of the batch (OpenBLAS's kernels vary with the rows).
        let ov = FloatBuffer(uninitialized: B * NH * H)
        let packedO = lw.attnOut.packed.forward(lw.attnOut.weight, out: H, inp: H)
        for h in 0..<NH {
            dl_gemm_packed_slice(ov.ptr + h * H, NH * H, vs.ptr + h * hs, H, packedO.ptr, Int32(H), Int32(H), Int32(h * hs), Int32(hs), 0, Int32(B))
        }
        // Every row's input (embed) and attention output: the shared rows' from the shared part and the new term.
        let bias = lw.attnOut.bias.ptr
        parallelHalves(B, work: B * T * NH * H * 4) { lo, hi in
        for bl in lo..<hi {
            let rowBase = r0 + bl * T
            for t in 0..<T {
                let e = acts.embed.ptr + (rowBase + t) * H, out = a.attnOut.ptr + (rowBase + t) * H
                if t == s {
                    e.update(from: xs.ptr + bl * H, count: H)
                    out.update(from: ownOut.ptr + bl * H, count: H)
                    continue
                }
                e.update(from: f.x.ptr + t * H, count: H)
                out.update(from: bias, count: H)
                for h in 0..<NH {
                    let qt = f.q.ptr + t * H + h * hs, kb = ks.ptr + bl * H + h * hs
                    var dot: Float = 0
                    for d in 0..<hs { dot += qt[d] * kb[d] }
                    let m = f.maxScore.ptr[t * NH + h], score = dot * scale, top = max(m, score)
                    let alpha = expf(m - top), wNew = expf(score - top), denom = alpha * f.expSum.ptr[t * NH + h] + wNew
                    let cShared = alpha / denom, cNew = wNew / denom
                    let pn = f.projected.ptr + (t * NH + h) * H, pv = ov.ptr + (bl * NH + h) * H
                    for o in 0..<H { out[o] += cShared * pn[o] + cNew * pv[o] }
                }
            }
        }
        }
        // The rest of the layer on every row, as the plain forward runs it.
        layerAfterAttention(acts, layer: 0, input: acts.embed.ptr + r0 * H, firstRow: r0, rows: N, kernelRows: batch.B * T)
    }
}
