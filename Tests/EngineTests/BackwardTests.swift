import Foundation
import XCTest
@testable import Engine

/// A test objective: Σ weights · site, per sequence. Its site gradient is the weights themselves.
final class WeightedSite: ActivationObjective {
    let site: Site
    let weights: [Float]
    init(_ site: Site, weights: [Float]) { self.site = site; self.weights = weights }
    var sites: [Site] { [site] }
    var description: String { "weighted(\(site))" }
    func validate(model: BertModel, T: Int) throws {}
    func evaluate(_ acts: Activations, grads: SiteGradients?) throws -> [Float] {
        let (buf, per) = acts.buffer(site)!
        return (0..<acts.B).map { b in
            var v: Float = 0
            for i in 0..<per { v += weights[i % weights.count] * buf.ptr[b * per + i] }
            if let g = grads?.buffer(site) { for i in 0..<per { g.ptr[b * per + i] += weights[i % weights.count] } }
            return v
        }
    }
}

/// Each layer's backward against finite differences and naive references; the whole model against finite differences.
final class BackwardTests: XCTestCase {
    func rand(_ n: Int, _ rng: inout SplitMix64, scale: Float = 1) -> [Float] { (0..<n).map { _ in Float(rng.nextDouble() * 2 - 1) * scale } }

    func testLayerNormBackwardFiniteDifference() {
        var rng = SplitMix64(seed: 11)
        let N = 3, C = 7
        let x = rand(N * C, &rng), gamma = FloatBuffer(rand(C, &rng)), beta = FloatBuffer(rand(C, &rng)), w = rand(N * C, &rng)
        func loss(_ x: [Float]) -> Double {
            let out = FloatBuffer(count: N * C), m = FloatBuffer(count: N), r = FloatBuffer(count: N)
            x.withUnsafeBufferPointer { layernormForward(out.ptr, m.ptr, r.ptr, $0.baseAddress!, gamma.ptr, beta.ptr, N: N, C: C, eps: 1e-5) }
            return (0..<N * C).reduce(0.0) { $0 + Double(w[$1] * out[$1]) }
        }
        let out = FloatBuffer(count: N * C), m = FloatBuffer(count: N), r = FloatBuffer(count: N), dx = FloatBuffer(count: N * C)
        x.withUnsafeBufferPointer { xp in
            layernormForward(out.ptr, m.ptr, r.ptr, xp.baseAddress!, gamma.ptr, beta.ptr, N: N, C: C, eps: 1e-5)
            w.withUnsafeBufferPointer { layernormBackward(dx.ptr, $0.baseAddress!, xp.baseAddress!, m.ptr, r.ptr, gamma.ptr, N: N, C: C) }
        }
        var worst = 0.0
        for i in 0..<N * C { worst = max(worst, abs(Double(dx[i]) - fd(x, i, loss))) }
        print("layernorm backward: max |analytic - finite difference| \(worst)")
        XCTAssertLessThan(worst, 2e-3)
    }

    func testGeluBackwardFiniteDifference() {
        let x: [Float] = [-4, -2, -0.7, -0.1, 0, 0.3, 1, 2.5, 5]
        let ones = [Float](repeating: 1, count: x.count)
        let dx = FloatBuffer(count: x.count)
        x.withUnsafeBufferPointer { xp in ones.withUnsafeBufferPointer { geluBackward(dx.ptr, $0.baseAddress!, xp.baseAddress!, N: x.count) } }
        var worst = 0.0
        for i in 0..<x.count {
            let numeric = fd(x, i) { v in
                let o = FloatBuffer(count: v.count)
                v.withUnsafeBufferPointer { geluForward(o.ptr, $0.baseAddress!, N: v.count) }
                return Double(o[i])
            }
            worst = max(worst, abs(Double(dx[i]) - numeric))
        }
        print("gelu backward: max |analytic - finite difference| \(worst)")
        XCTAssertLessThan(worst, 1e-3)
    }

    func testLinearBackwardMatchesNaive() {
        var rng = SplitMix64(seed: 12)
        let N = 5, C = 9, OC = 13
        let dout = FloatBuffer(rand(N * OC, &rng)), wt = FloatBuffer(rand(OC * C, &rng))
        let a = FloatBuffer(rand(N * C, &rng)), b = FloatBuffer(a.array)
        linearBackward(a.ptr, dout.ptr, wt.ptr, N: N, C: C, OC: OC)
        linearBackwardNaive(b.ptr, dout.ptr, wt.ptr, N: N, C: C, OC: OC)
        XCTAssertLessThan(Tensor.maxAbsDiff(a.array, b.array), 1e-5)
    }

    func testAttentionBackwardAgainstNaiveAndFiniteDifference() {
        var rng = SplitMix64(seed: 13)
        let B = 2, T = 5, NH = 2, hs = 3, C = NH * hs
        let q = rand(B * T * C, &rng), k = rand(B * T * C, &rng), v = rand(B * T * C, &rng)
        let wz = rand(B * T * C, &rng), wp = rand(B * NH * T * T, &rng), ws = rand(B * NH * T * T, &rng, scale: 0.3)
        let lengths = [T, T - 2]
        // loss = wz·z + wp·pattern + ws·scores (scores only over unmasked entries, as an objective would read them)
        func loss(_ q: [Float], _ k: [Float], _ v: [Float]) -> Double {
            let z = FloatBuffer(count: B * T * C), s = FloatBuffer(count: B * NH * T * T), p = FloatBuffer(count: B * NH * T * T)
            q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
                attentionForward(z.ptr, s.ptr, p.ptr, qp.baseAddress!, kp.baseAddress!, vp.baseAddress!, lengths: lengths, B: B, T: T, NH: NH, hs: hs)
            } } }
            var acc = 0.0
            for i in 0..<B * T * C { acc += Double(wz[i] * z[i]) }
            for i in 0..<B * NH * T * T { acc += Double(wp[i] * p[i]); if s[i] > -1e30 { acc += Double(ws[i] * s[i]) } }
            return acc
        }
        let z = FloatBuffer(count: B * T * C), s = FloatBuffer(count: B * NH * T * T), p = FloatBuffer(count: B * NH * T * T)
        let qb = FloatBuffer(q), kb = FloatBuffer(k), vb = FloatBuffer(v)
        attentionForward(z.ptr, s.ptr, p.ptr, qb.ptr, kb.ptr, vb.ptr, lengths: lengths, B: B, T: T, NH: NH, hs: hs)
        var wsMasked = ws
        for i in 0..<wsMasked.count where s[i] < -1e30 { wsMasked[i] = 0 }
        let dzB = FloatBuffer(wz), dpB = FloatBuffer(wp), dsB = FloatBuffer(wsMasked)
        let dq = FloatBuffer(count: B * T * C), dk = FloatBuffer(count: B * T * C), dv = FloatBuffer(count: B * T * C)
        let dq2 = FloatBuffer(count: B * T * C), dk2 = FloatBuffer(count: B * T * C), dv2 = FloatBuffer(count: B * T * C)
        let scratch = FloatBuffer(count: 2 * T * T)
        attentionBackward(dq.ptr, dk.ptr, dv.ptr, dzB.ptr, dpB.ptr, dsB.ptr, qb.ptr, kb.ptr, vb.ptr, p.ptr, scratch: scratch.ptr, B: B, T: T, NH: NH, hs: hs)
        attentionBackwardNaive(dq2.ptr, dk2.ptr, dv2.ptr, dzB.ptr, dpB.ptr, dsB.ptr, qb.ptr, kb.ptr, vb.ptr, p.ptr, B: B, T: T, NH: NH, hs: hs)
        let naiveDiff = max(Tensor.maxAbsDiff(dq.array, dq2.array), Tensor.maxAbsDiff(dk.array, dk2.array), Tensor.maxAbsDiff(dv.array, dv2.array))
        var worst = 0.0
        for i in 0..<B * T * C {
            worst = max(worst, abs(Double(dq[i]) - fd(q, i) { loss($0, k, v) }))
            worst = max(worst, abs(Double(dk[i]) - fd(k, i) { loss(q, $0, v) }))
            worst = max(worst, abs(Double(dv[i]) - fd(v, i) { loss(q, k, $0) }))
        }
        print("attention backward: max |fast - naive| \(naiveDiff), max |analytic - finite difference| \(worst)")
        XCTAssertLessThan(naiveDiff, 1e-5)
        XCTAssertLessThan(worst, 3e-3)
    }

    /// The whole model, every site kind as the objective's site, through the relaxation to z.
    func testWholeModelGradientFiniteDifference() throws {
        let c = BertConfig(hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 24, vocabSize: 60, maxPositions: 16)
        let m = try RandomBert.model(c, seed: 5, withMLM: true)
        let ids = [2, 8, 9, 10, 11, 3]
        var rng = SplitMix64(seed: 21)
        var sites = [Site(.embed)]
        for k in SiteKind.layerKinds { sites.append(Site(k, layer: 0)); sites.append(Site(k, layer: 1)) }
        sites.append(Site(.mlmLogits, layer: c.numLayers))
        for site in sites {
            let w = rand(97, &rng)
            let obj = WeightedSite(site, weights: w)
            for mode in [RelaxationMode.softmax, .gumbel, .gumbelLogits] {
                let input = try RelaxedInput(model: m, ids: ids, typeIds: [Int](repeating: 0, count: ids.count), first: 2, last: 4)
                var z = input.oneHotLogits()
                for i in 0..<z.count { z[i] += Float(rng.nextDouble()) * 0.5 + (mode == .gumbel ? 0.5 : 0) }  // off the one-hot corner; Gumbel takes log(z), kept away from 0
                var nrng = SplitMix64(seed: 3)
                // Gumbel on logits is scaled down here: full-size noise sharpens p until float32 finite differences blur.
                let noise = mode == .softmax ? nil : gumbelNoise(count: z.count, rng: &nrng).map { mode == .gumbelLogits ? $0 * 0.3 : $0 }
                let temp: Float = 0.8
                let (_, dz, _, _) = try input.valueAndGradient(z, temperature: temp, mode: mode, noise: noise, objective: obj)
                func f(_ zz: [Float]) -> Double {
                    Double(try! input.valueAndGradient(zz, temperature: temp, mode: mode, noise: noise, objective: obj).values[0])
                }
                // float32: a wide step keeps round-off below the check
                let (worst, scale) = finiteDifferenceError(dz, at: z, every: 7, eps: 3e-2, f)
                XCTAssertLessThan(worst, 2e-3 * max(1, scale), "\(site) \(mode): max |analytic - numeric| \(worst) (largest gradient \(scale))")
            }
        }
    }

    /// Straight-through: the forward is the argmax input, so its value equals the discrete value, and at a cold
    /// temperature its gradient approaches the soft one (both then see a one-hot input).
    func testStraightThroughGradient() throws {
        let c = BertConfig(hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 24, vocabSize: 60, maxPositions: 16)
        let m = try RandomBert.model(c, seed: 6)
        let ids = [2, 8, 9, 10, 3]
        var rng = SplitMix64(seed: 4)
        let obj = WeightedSite(Site(.residPost, layer: 1), weights: rand(50, &rng))
        let input = try RelaxedInput(model: m, ids: ids, typeIds: [0, 0, 0, 0, 0], first: 1, last: 3)
        var z = input.oneHotLogits()
        for i in 0..<z.count { z[i] += Float(rng.nextDouble()) * 0.3 }
        let hard = try input.valueAndGradient(z, temperature: 0.01, mode: .hard, noise: nil, objective: obj)
        let soft = try input.valueAndGradient(z, temperature: 0.01, mode: .softmax, noise: nil, objective: obj)
        let am = input.argmax(hard.p)
        XCTAssertEqual(hard.values[0], try input.discreteValues([am], objective: obj)[0], accuracy: 1e-4)
        XCTAssertLessThan(Tensor.maxAbsDiff(hard.dz, soft.dz), 1e-3 * max(1, hard.dz.map(abs).max()!))
        XCTAssertGreaterThan(hard.dz.map(abs).max()!, 0)
    }
}
