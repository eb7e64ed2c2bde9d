import CKernels
import Foundation

// Layer kernels, llm.c style: outputs first, then inputs; each forward saves what its backward needs.
// Shapes use B (batch), T (sequence), C (channels in), OC (channels out), NH (heads), hs (head size).
// A naive reference kernel sits beside each fast one; the tests compare them on odd shapes.

public typealias FPtr = UnsafeMutablePointer<Float>
public typealias CFPtr = UnsafePointer<Float>

// MARK: - Linear

/// inp (N,C) -> out (N,OC); weight (OC,C), bias (OC). BLAS-backed.
@inline(__always)
public func linearForward(_ out: FPtr, _ inp: CFPtr, _ weight: CFPtr, _ bias: CFPtr?, N: Int, C: Int, OC: Int, kernelRows: Int? = nil) {
    matmulNT(out, inp, weight, bias, M: N, N: OC, K: C, kernelRows: kernelRows)
}

/// Reference for `linearForward`: plain loops.
public func linearForwardNaive(_ out: FPtr, _ inp: CFPtr, _ weight: CFPtr, _ bias: CFPtr?, N: Int, C: Int, OC: Int) {
    for n in 0..<N {
        for o in 0..<OC {
            var acc: Float = bias?[o] ?? 0
            for c in 0..<C { acc += inp[n * C + c] * weight[o * C + c] }
            out[n * OC + o] = acc
        }
    }
}

/// dout (N,OC) -> dinp (N,C) += dout · weight. Input gradient only: weights are never trained here.
@inline(__always)
public func linearBackward(_ dinp: FPtr, _ dout: CFPtr, _ weight: CFPtr, N: Int, C: Int, OC: Int) {
    matmulNNAcc(dinp, dout, weight, M: N, N: OC, K: C)
}

/// Reference for `linearBackward`.
public func linearBackwardNaive(_ dinp: FPtr, _ dout: CFPtr, _ weight: CFPtr, N: Int, C: Int, OC: Int) {
    for n in 0..<N { for c in 0..<C {
        var acc: Float = 0
        for o in 0..<OC { acc += dout[n * OC + o] * weight[o * C + c] }
        dinp[n * C + c] += acc
    } }
}

// MARK: - LayerNorm

/// inp (N,C) -> out (N,C), mean (N), rstd (N).
public func layernormForward(_ out: FPtr, _ mean: FPtr, _ rstd: FPtr, _ inp: CFPtr, _ gamma: CFPtr, _ beta: CFPtr,
                             N: Int, C: Int, eps: Float) {
    dl_layernorm(out, mean, rstd, nil, inp, nil, gamma, beta, Int32(N), Int32(C), eps)   // layernormForwardNaive is the reference
}

/// a, b (N,C) -> sum = a + b (N,C), then out = LN(sum), mean, rstd: a residual add and the LayerNorm after it, in one
/// pass over the rows (residualForward then layernormForward, in one kernel).
public func residualLayernormForward(_ out: FPtr, _ mean: FPtr, _ rstd: FPtr, _ sum: FPtr, _ a: CFPtr, _ b: CFPtr,
                                     _ gamma: CFPtr, _ beta: CFPtr, N: Int, C: Int, eps: Float) {
    dl_layernorm(out, mean, rstd, sum, a, b, gamma, beta, Int32(N), Int32(C), eps)
}

/// dout (N,C), with the forward's inp, mean, rstd -> dinp (N,C) +=. Accumulates.
public func layernormBackward(_ dinp: FPtr, _ dout: CFPtr, _ inp: CFPtr, _ mean: CFPtr, _ rstd: CFPtr, _ gamma: CFPtr,
                              N: Int, C: Int) {
    dl_layernorm_backward(dinp, dout, inp, mean, rstd, gamma, Int32(N), Int32(C))   // layernormBackwardNaive is the reference
}

/// Reference for `layernormForward`: one row at a time, one running sum per reduction.
public func layernormForwardNaive(_ out: FPtr, _ mean: FPtr, _ rstd: FPtr, _ inp: CFPtr, _ gamma: CFPtr, _ beta: CFPtr,
                                  N: Int, C: Int, eps: Float) {
    for n in 0..<N {
        let x = inp + n * C
        var m: Float = 0
        for c in 0..<C { m += x[c] }
        m /= Float(C)
        var v: Float = 0
        for c in 0..<C { let d = x[c] - m; v += d * d }
        v /= Float(C)
        let s = 1 / (v + eps).squareRoot()
        let o = out + n * C
        for c in 0..<C { o[c] = (x[c] - m) * s * gamma[c] + beta[c] }
        mean[n] = m
        rstd[n] = s
    }
}

/// Reference for `layernormBackward`: one row at a time, one running sum per reduction.
public func layernormBackwardNaive(_ dinp: FPtr, _ dout: CFPtr, _ inp: CFPtr, _ mean: CFPtr, _ rstd: CFPtr, _ gamma: CFPtr,
                                   N: Int, C: Int) {
    for n in 0..<N {
        let x = inp + n * C, dy = dout + n * C, dx = dinp + n * C
        let m = mean[n], s = rstd[n]
        // dnorm = gamma * dy; dx = s * (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat))
        var meanD: Float = 0, meanDX: Float = 0
        for c in 0..<C {
            let xhat = (x[c] - m) * s
            let d = gamma[c] * dy[c]
            meanD += d; meanDX += d * xhat
        }
        meanD /= Float(C); meanDX /= Float(C)
        for c in 0..<C {
            let xhat = (x[c] - m) * s
            dx[c] += s * (gamma[c] * dy[c] - meanD - xhat * meanDX)
        }
    }
}

// MARK: - GELU (exact, erf)

/// inp (N) -> out (N): 0.5 x (1 + erf(x / sqrt 2)), as Hugging Face's "gelu".
public func geluForward(_ out: FPtr, _ inp: CFPtr, N: Int) {
    dl_gelu(out, inp, Int32(N))   // vectorised erf (CKernels); geluForwardNaive is the reference
}

/// Reference for `geluForward`: scalar libm erf.
public func geluForwardNaive(_ out: FPtr, _ inp: CFPtr, N: Int) {
    let invSqrt2: Float = 0.70710678118654752
    for i in 0..<N { let x = inp[i]; out[i] = 0.5 * x * (1 + erff(x * invSqrt2)) }
}

/// dout (N), with the forward's inp -> dinp (N) +=. d/dx [x Φ(x)] = Φ(x) + x φ(x).
public func geluBackward(_ dinp: FPtr, _ dout: CFPtr, _ inp: CFPtr, N: Int) {
    dl_gelu_backward(dinp, dout, inp, Int32(N))
}

/// Reference for `geluBackward`: scalar libm.
public func geluBackwardNaive(_ dinp: FPtr, _ dout: CFPtr, _ inp: CFPtr, N: Int) {
    let invSqrt2: Float = 0.70710678118654752, invSqrt2Pi: Float = 0.39894228040143268
    for i in 0..<N {
        let x = inp[i]
        let cdf = 0.5 * (1 + erff(x * invSqrt2))
        let pdf = invSqrt2Pi * expf(-0.5 * x * x)
        dinp[i] += dout[i] * (cdf + x * pdf)
    }
}

// MARK: - Attention

/// qkv: q,k,v (B,T,C) with C = NH*hs -> scores (B,NH,T,T) scaled and masked, pattern (B,NH,T,T), z (B,T,C).
/// lengths[b] is the unpadded length; keys at or past it get Float's most negative value, as Hugging Face adds finfo.min.
public func attentionForward(_ z: FPtr, _ scores: FPtr, _ pattern: FPtr, _ q: CFPtr, _ k: CFPtr, _ v: CFPtr,
                             lengths: [Int], B: Int, T: Int, NH: Int, hs: Int) {
    let C = NH * hs
    let scale = 1 / Float(hs).squareRoot()
    for b in 0..<B {
        for h in 0..<NH {
            let s = scores + (b * NH + h) * T * T
            let p = pattern + (b * NH + h) * T * T
            // s (T,T) = scale * q_h (T,hs) · k_h (T,hs)^T
            gemmNT(T, T, hs, q + b * T * C + h * hs, C, k + b * T * C + h * hs, C, s, T, alpha: scale)
            maskAndSoftmaxRows(p, s, T: T, length: lengths[b])
            // z_h (T,hs) = p (T,T) · v_h (T,hs)
            gemmNN(T, hs, T, p, T, v + b * T * C + h * hs, C, z + b * T * C + h * hs, C)
        }
    }
}

@inline(__always)
func maskAndSoftmaxRows(_ p: FPtr, _ s: FPtr, T: Int, length: Int) {
    let masked = -Float.greatestFiniteMagnitude
    for i in 0..<T {
        let row = s + i * T, prow = p + i * T
        for j in length..<max(length, T) { row[j] = row[j] + masked }
        var mx = -Float.infinity
        for j in 0..<T where row[j] > mx { mx = row[j] }
        var sum: Float = 0
        for j in 0..<T { let e = expf(row[j] - mx); prow[j] = e; sum += e }
        let inv = 1 / sum
        for j in 0..<T { prow[j] *= inv }
    }
}

/// Reference for `attentionForward`: plain loops.
public func attentionForwardNaive(_ z: FPtr, _ scores: FPtr, _ pattern: FPtr, _ q: CFPtr, _ k: CFPtr, _ v: CFPtr,
                                  lengths: [Int], B: Int, T: Int, NH: Int, hs: Int) {
    let C = NH * hs
    let scale = 1 / Float(hs).squareRoot()
    for b in 0..<B {
        for h in 0..<NH {
            let s = scores + (b * NH + h) * T * T
            let p = pattern + (b * NH + h) * T * T
            for i in 0..<T {
                for j in 0..<T {
                    var acc: Float = 0
                    for d in 0..<hs { acc += q[b * T * C + i * C + h * hs + d] * k[b * T * C + j * C + h * hs + d] }
                    s[i * T + j] = acc * scale
                }
            }
            maskAndSoftmaxRows(p, s, T: T, length: lengths[b])
            for i in 0..<T {
                for d in 0..<hs {
                    var acc: Float = 0
                    for j in 0..<T { acc += p[i * T + j] * v[b * T * C + j * C + h * hs + d] }
                    z[b * T * C + i * C + h * hs + d] = acc
                }
            }
        }
    }
}

/// Attention's input gradient. dz (B,T,C), optional dpattern/dscores (B,NH,T,T) from an objective that reads them,
/// with the forward's q, k, v, pattern -> dq, dk, dv (B,T,C), overwritten. scratch holds 2·T·T floats.
public func attentionBackward(_ dq: FPtr, _ dk: FPtr, _ dv: FPtr, _ dz: CFPtr, _ dpatternExtra: CFPtr?, _ dscoresExtra: CFPtr?,
                              _ q: CFPtr, _ k: CFPtr, _ v: CFPtr, _ pattern: CFPtr, scratch: FPtr,
                              B: Int, T: Int, NH: Int, hs: Int) {
    let C = NH * hs
    let scale = 1 / Float(hs).squareRoot()
    let dP = scratch, dS = scratch + T * T
    for b in 0..<B {
        for h in 0..<NH {
            let off = b * T * C + h * hs
            let p = pattern + (b * NH + h) * T * T
            // dP (T,T) = dz_h (T,hs) · v_h^T
            gemmNT(T, T, hs, dz + off, C, v + off, C, dP, T)
            if let extra = dpatternExtra { let e = extra + (b * NH + h) * T * T; for i in 0..<T * T { dP[i] += e[i] } }
            // dv_h (T,hs) = P^T (T,T) · dz_h
            gemmTN(T, hs, T, p, T, dz + off, C, dv + off, C)
            // softmax backward, row by row: dS = P ∘ (dP - rowsum(P ∘ dP))
            for i in 0..<T {
                var dot: Float = 0
                for j in 0..<T { dot += p[i * T + j] * dP[i * T + j] }
                for j in 0..<T { dS[i * T + j] = p[i * T + j] * (dP[i * T + j] - dot) }
            }
            if let extra = dscoresExtra { let e = extra + (b * NH + h) * T * T; for i in 0..<T * T { dS[i] += e[i] } }
            // dq_h = scale · dS · k_h ; dk_h = scale · dS^T · q_h
            gemmNN(T, hs, T, dS, T, k + off, C, dq + off, C, alpha: scale)
            gemmTN(T, hs, T, dS, T, q + off, C, dk + off, C, alpha: scale)
        }
    }
}

/// Reference for `attentionBackward`: plain loops.
public func attentionBackwardNaive(_ dq: FPtr, _ dk: FPtr, _ dv: FPtr, _ dz: CFPtr, _ dpatternExtra: CFPtr?, _ dscoresExtra: CFPtr?,
                                   _ q: CFPtr, _ k: CFPtr, _ v: CFPtr, _ pattern: CFPtr,
                                   B: Int, T: Int, NH: Int, hs: Int) {
    let C = NH * hs
    let scale = 1 / Float(hs).squareRoot()
    for i in 0..<(B * T * C) { dq[i] = 0; dk[i] = 0; dv[i] = 0 }
    for b in 0..<B { for h in 0..<NH {
        let p = pattern + (b * NH + h) * T * T
        var dP = [Float](repeating: 0, count: T * T)
        for i in 0..<T { for j in 0..<T {
            var acc: Float = 0
            for d in 0..<hs { acc += dz[b * T * C + i * C + h * hs + d] * v[b * T * C + j * C + h * hs + d] }
            dP[i * T + j] = acc + (dpatternExtra?[(b * NH + h) * T * T + i * T + j] ?? 0)
        } }
        for j in 0..<T { for d in 0..<hs {
            var acc: Float = 0
            for i in 0..<T { acc += p[i * T + j] * dz[b * T * C + i * C + h * hs + d] }
            dv[b * T * C + j * C + h * hs + d] = acc
        } }
        for i in 0..<T {
            var dot: Float = 0
            for j in 0..<T { dot += p[i * T + j] * dP[i * T + j] }
            for j in 0..<T {
                let ds = p[i * T + j] * (dP[i * T + j] - dot) + (dscoresExtra?[(b * NH + h) * T * T + i * T + j] ?? 0)
                for d in 0..<hs {
                    dq[b * T * C + i * C + h * hs + d] += scale * ds * k[b * T * C + j * C + h * hs + d]
                    dk[b * T * C + j * C + h * hs + d] += scale * ds * q[b * T * C + i * C + h * hs + d]
                }
            }
        }
    } }
}

// MARK: - Residual

/// a (N), b (N) -> out (N) = a + b.
@inline(__always)
public func residualForward(_ out: FPtr, _ a: CFPtr, _ b: CFPtr, N: Int) {
    for i in 0..<N { out[i] = a[i] + b[i] }
}
