import CKernels
import Foundation

/// Dreamed rows (R·P) up to which the softmax relaxation runs fused (SoftmaxStepper). Above it the unfused step's
/// BLAS products with E beat the fused pass's small-M kernels (restarts=8, 80 rows, on an Emerald Rapids VM: 24.8 ms
/// fused against 18.9 ms for the parts it replaces). 0 turns fusion off (the tests compare the two).
public nonisolated(unsafe) var fusedRelaxationRows = 48

/// PAIR's softmax relaxation stepped with one pass over the embedding matrix E per step instead of two. Unfused, a
/// step reads E for p·E before the forward and again for dRows·E^T after the backward, and streams the (R,P,V)
/// arrays through the softmax, its backward, Adam and the next softmax. Here one pass over E's rows (dl_relaxed_step)
/// takes the softmax backward, Adam, and the next step's p·E against a running max, while each block of E is in L2.
/// The sums differ from the unfused step's only in order. Used in fp32 without a fluency term for the softmax and both
/// Gumbel forms (the noise is drawn in the unfused loop's order: each step's argmax noise, then the next step's).
public final class SoftmaxStepper {
    public let input: RelaxedInput
    public let mode: RelaxationMode
    public private(set) var z: [Float]
    /// softmax(u / T) at the temperature of the step about to run, u = z (+ that step's Gumbel noise). (R,P,V)
    public private(set) var p: [Float]
    /// p·E at the dreamed rows. (R*P,H)
    let soft: FloatBuffer
    /// The argmax token at each dreamed row (R*P) of the last update's z (+ its argmax noise): that of p2 in the unfused
    /// loop, up to ties that only rounding makes (two z within an ulp give equal p; this keeps the larger z).
    public private(set) var argmax: [Int]
    var adam: Adam
    /// z / T' from the pass, the next softmax's argument. (R,P,V)
    private var scaled: [Float]

    /// The vocabulary ranges the pass splits into (a multiple of its 64-token blocks), fixed so results do not
    /// depend on the thread count.
    static let rangeTokens = 4096

    public static func applies(to input: RelaxedInput, mode: RelaxationMode, fluency: Bool) -> Bool {
        mode != .hard && !fluency && input.model.precision == .fp32 && input.R * input.P <= fusedRelaxationRows
    }

    /// `noise`: the first step's Gumbel noise for the Gumbel modes.
    public init(input: RelaxedInput, z: [Float], lr: Float, temperature: Float, mode: RelaxationMode = .softmax, noise: [Float]? = nil) {
        precondition(mode != .hard && (noise != nil) == mode.usesGumbelNoise, "SoftmaxStepper: mode \(mode) with\(noise == nil ? "out" : "") noise")
        self.input = input
        self.mode = mode
        self.z = z
        adam = Adam(count: z.count, lr: lr)
        let p = input.probabilities(z, temperature: temperature, mode: mode, noise: noise)
        let soft = FloatBuffer(count: input.R * input.P * input.model.config.hiddenSize)
        p.withUnsafeBufferPointer { input.model.weights.embeddingMix(soft.ptr, $0.baseAddress!, M: input.R * input.P) }
        self.p = p
        self.soft = soft
        argmax = input.argmax(p)
        scaled = [Float](overwritten: z.count)
    }

    /// The argmax tokens as one span of P ids per restart.
    public var argmaxSpans: [[Int]] {
        let P = input.P
        return (0..<input.R).map { Array(argmax[($0 * P)..<(($0 + 1) * P)]) }
    }

    /// The objective's values at p and its gradient w.r.t. the dreamed rows (R*P,H).
    public func gradient(objective: ActivationObjective) throws -> (values: [Float], dRows: FloatBuffer) {
        let (values, dWord) = try input.objectiveGradient(wordRows: input.wordRows(soft: soft), objective: objective)
        let dRows = FloatBuffer(uninitialized: input.R * input.P * input.model.config.hiddenSize)
        input.gather(dRows.ptr, from: dWord.ptr, H: input.model.config.hiddenSize)
        return (values, dRows)
    }

    /// One Adam step on z, climbing the objective whose gradient w.r.t. the rows p·E (at `temperature`) is dRows;
    /// then p, its rows and the argmax at the next step's temperature `next`. The Gumbel modes give the argmax input's
    /// noise (`argmaxNoise`) and the next step's (`nextNoise`).
    public func update(dRows: FloatBuffer, temperature: Float, next: Float, argmaxNoise: [Float]? = nil, nextNoise: [Float]? = nil) {
        precondition((argmaxNoise != nil) == mode.usesGumbelNoise && (nextNoise != nil) == mode.usesGumbelNoise, "SoftmaxStepper.update: noise for mode \(mode)")
        let rows = input.R * input.P, V = input.V, H = input.model.config.hiddenSize
        let E = input.model.weights.wordEmbeddings.ptr
        // ⟨p_r, dRows_r·E^T⟩ = ⟨dRows_r, (p·E)_r⟩: the softmax backward's common term, known before the pass.
        var dot = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            var s = 0.0
            for h in 0..<H { s += Double(dRows.ptr[r * H + h]) * Double(soft.ptr[r * H + h]) }
            dot[r] = Float(s)
        }
        // Fixed vocabulary ranges, each with its own partials, merged below in order: the sums do not depend on how
        // many threads ran them, so a seeded dream is the same under any DREAMLAB_THREADS.
        let ranges = (V + SoftmaxStepper.rangeTokens - 1) / SoftmaxStepper.rangeTokens, areas = Threads.count
        let acc = FloatBuffer(uninitialized: ranges * rows * H), scratch = FloatBuffer(uninitialized: areas * 2 * rows * 64)
        let mx = FloatBuffer(uninitialized: ranges * rows), bestZ = FloatBuffer(uninitialized: ranges * rows)
        let sum = UnsafeMutablePointer<Double>.allocate(capacity: ranges * rows), best = UnsafeMutablePointer<Int32>.allocate(capacity: ranges * rows)
        defer { sum.deallocate(); best.deallocate() }
        let (beta1, beta2, eps) = (adam.beta1, adam.beta2, adam.eps)
        adam.fusedStep { m, v, stepSize, bc2Sqrt in
            z.withUnsafeMutableBufferPointer { zp in p.withUnsafeBufferPointer { pp in scaled.withUnsafeMutableBufferPointer { tp in
                dot.withUnsafeBufferPointer { dp in withOptionalPointer(argmaxNoise) { na in withOptionalPointer(nextNoise) { nn in
                let (zo, po, to, d) = (zp.baseAddress!, pp.baseAddress!, tp.baseAddress!, dp.baseAddress!)
                parallelChunks(ranges, work: rows * V * H * 4) { c, first, end in
                    for k in first..<end {
                        let o = k * rows, v0 = k * SoftmaxStepper.rangeTokens, v1 = min(V, v0 + SoftmaxStepper.rangeTokens)
                        dl_relaxed_step(zo, po, to, m, v, acc.ptr + o * H, mx.ptr + o, sum + o, best + o, bestZ.ptr + o, E, dRows.ptr, d,
                                        Int32(rows), Int32(V), Int32(H), Int32(v0), Int32(v1), 1 / temperature, 1 / next,
                                        beta1, beta2, stepSize, bc2Sqrt, eps, nn, na, mode == .gumbel ? 1 : 0, scratch.ptr + c * 2 * rows * 64)
                    }
                }
            } } } } } }
        }
        // Merge the ranges in order (ties keep the first index, as argmax does): rows = Σ acc·e^(mx−M) / Σ sum·e^(mx−M).
        for r in 0..<rows {
            var top = -Float.infinity
            for k in 0..<ranges { top = max(top, mx.ptr[k * rows + r]) }
            var total = 0.0
            var bz = -Float.infinity, bi = 0
            for k in 0..<ranges {
                let o = k * rows + r
                total += sum[o] * Double(expf(mx.ptr[o] - top))
                if bestZ.ptr[o] > bz { bz = bestZ.ptr[o]; bi = Int(best[o]) }
            }
            argmax[r] = bi
            let out = soft.ptr + r * H
            out.update(repeating: 0, count: H)
            for k in 0..<ranges {
                let w = Float(Double(expf(mx.ptr[k * rows + r] - top)) / total), a = acc.ptr + (k * rows + r) * H
                for h in 0..<H { out[h] += w * a[h] }
            }
        }
        // The next p: the softmax of z/T', as `probabilities` computes it.
        p.withUnsafeMutableBufferPointer { pp in scaled.withUnsafeBufferPointer { tp in
            let (po, to) = (pp.baseAddress!, tp.baseAddress!)
            parallelHalves(rows, work: rows * V * 20) { r0, r1 in dl_softmax_rows(po + r0 * V, to + r0 * V, Int32(r1 - r0), Int32(V), 1) }
        } }
    }
}

/// body(pointer to the array's elements, or nil).
private func withOptionalPointer<T>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> T) -> T {
    guard let a else { return body(nil) }
    return a.withUnsafeBufferPointer { body($0.baseAddress!) }
}
