import Foundation
import XCTest
import CKernels
@testable import Engine

/// The BLAS-backed kernels against their naive references, on odd shapes.
final class KernelTests: XCTestCase {
    func randomBuffer(_ n: Int, _ rng: inout SplitMix64) -> FloatBuffer {
        FloatBuffer((0..<n).map { _ in Float(rng.nextDouble() * 2 - 1) })
    }

    /// The threaded Gumbel noise is the one-at-a-time stream: same numbers (the logs may differ in a last double ulp,
    /// which float32 hides all but rarely), and the generator left where drawing them one by one leaves it.
    func testGumbelNoiseIsTheSequentialStream() {
        for (seed, count) in [(UInt64(1), 1), (7, 1_000), (42, 305_220), (3, 2_441_760)] {
            var a = SplitMix64(seed: seed), b = SplitMix64(seed: seed)
            let fast = gumbelNoise(count: count, rng: &a), slow = gumbelNoiseNaive(count: count, rng: &b)
            var differ = 0, worst: Float = 0
            for (x, y) in zip(fast, slow) where x != y { differ += 1; worst = max(worst, abs(x - y) / max(1, abs(y))) }
            print(String(format: "gumbel noise, %d draws: %d differ, max rel %.1e", count, differ, worst))
            XCTAssertLessThanOrEqual(worst, 2e-7, "count \(count)")
            XCTAssertLessThan(differ, max(2, count / 10_000), "count \(count)")
            XCTAssertEqual(a.next(), b.next(), "the generator must continue where the one-by-one draws leave it")
        }
    }

    func testLinearMatchesNaive() {
        var rng = SplitMix64(seed: 3)
        for (N, C, OC) in [(1, 1, 1), (3, 7, 5), (13, 33, 17), (31, 65, 129)] {
            let x = randomBuffer(N * C, &rng), w = randomBuffer(OC * C, &rng), b = randomBuffer(OC, &rng)
            let fast = FloatBuffer(count: N * OC), slow = FloatBuffer(count: N * OC)
            linearForward(fast.ptr, x.ptr, w.ptr, b.ptr, N: N, C: C, OC: OC)
            linearForwardNaive(slow.ptr, x.ptr, w.ptr, b.ptr, N: N, C: C, OC: OC)
            let d = Tensor.maxAbsDiff(fast.array, slow.array)
            print("linear N=\(N) C=\(C) OC=\(OC): max |fast-naive| \(d)")
            XCTAssertLessThan(d, 1e-4)
        }
    }

    func testAttentionMatchesNaiveWithPadding() {
        var rng = SplitMix64(seed: 4)
        for (B, T, NH, hs) in [(1, 1, 1, 1), (2, 5, 3, 7), (3, 11, 2, 5)] {
            let C = NH * hs
            let q = randomBuffer(B * T * C, &rng), k = randomBuffer(B * T * C, &rng), v = randomBuffer(B * T * C, &rng)
            let lengths = (0..<B).map { max(1, T - $0 * 2) }
            let z1 = FloatBuffer(count: B * T * C), s1 = FloatBuffer(count: B * NH * T * T), p1 = FloatBuffer(count: B * NH * T * T)
            let z2 = FloatBuffer(count: B * T * C), s2 = FloatBuffer(count: B * NH * T * T), p2 = FloatBuffer(count: B * NH * T * T)
            attentionForward(z1.ptr, s1.ptr, p1.ptr, q.ptr, k.ptr, v.ptr, lengths: lengths, B: B, T: T, NH: NH, hs: hs)
            attentionForwardNaive(z2.ptr, s2.ptr, p2.ptr, q.ptr, k.ptr, v.ptr, lengths: lengths, B: B, T: T, NH: NH, hs: hs)
            let dz = Tensor.maxAbsDiff(z1.array, z2.array), dp = Tensor.maxAbsDiff(p1.array, p2.array)
            print("attention B=\(B) T=\(T) NH=\(NH) hs=\(hs): max |fast-naive| z \(dz), pattern \(dp)")
            XCTAssertLessThan(dz, 1e-5); XCTAssertLessThan(dp, 1e-6)
            // Masked keys get no probability.
            for b in 0..<B { for h in 0..<NH { for i in 0..<T { for j in lengths[b]..<T where lengths[b] < T {
                XCTAssertEqual(p1[((b * NH + h) * T + i) * T + j], 0)
            } } } }
        }
    }

    func testLayerNormAndGelu() {
        let x: [Float] = [1, 2, 3, 4]
        let out = FloatBuffer(count: 4), mean = FloatBuffer(count: 1), rstd = FloatBuffer(count: 1)
        let g = FloatBuffer([1, 1, 1, 1]), b = FloatBuffer([0, 0, 0, 0])
        x.withUnsafeBufferPointer { layernormForward(out.ptr, mean.ptr, rstd.ptr, $0.baseAddress!, g.ptr, b.ptr, N: 1, C: 4, eps: 0) }
        XCTAssertEqual(mean[0], 2.5, accuracy: 1e-6)
        XCTAssertEqual(out[0], -1.3416408, accuracy: 1e-5)
        let gx: [Float] = [-3, -1, 0, 0.5, 2]
        let gy = FloatBuffer(count: 5)
        gx.withUnsafeBufferPointer { geluForward(gy.ptr, $0.baseAddress!, N: 5) }
        // torch.nn.functional.gelu([-3,-1,0,0.5,2])
        let want: [Float] = [-0.0040496, -0.1586553, 0, 0.3457312, 1.9544997]
        for i in 0..<5 { XCTAssertEqual(gy[i], want[i], accuracy: 1e-6) }
    }

    /// The LayerNorm kernels (vectorised reductions, the residual add fused in front) against the naive loops, on row
    /// widths with and without a remainder past 16.
    func testLayerNormKernelsMatchTheNaiveLoops() {
        var rng = SplitMix64(seed: 21)
        for (N, C) in [(1, 4), (7, 33), (13, 384), (17, 768)] {
            let a = randomBuffer(N * C, &rng), b = randomBuffer(N * C, &rng), dy = randomBuffer(N * C, &rng)
            let g = randomBuffer(C, &rng), beta = randomBuffer(C, &rng)
            let sumRef = FloatBuffer(count: N * C), outRef = FloatBuffer(count: N * C), mRef = FloatBuffer(count: N), rRef = FloatBuffer(count: N)
            residualForward(sumRef.ptr, a.ptr, b.ptr, N: N * C)
            layernormForwardNaive(outRef.ptr, mRef.ptr, rRef.ptr, sumRef.ptr, g.ptr, beta.ptr, N: N, C: C, eps: 1e-12)
            let sum = FloatBuffer(count: N * C), out = FloatBuffer(count: N * C), m = FloatBuffer(count: N), r = FloatBuffer(count: N)
            residualLayernormForward(out.ptr, m.ptr, r.ptr, sum.ptr, a.ptr, b.ptr, g.ptr, beta.ptr, N: N, C: C, eps: 1e-12)
            XCTAssertEqual(sum.array, sumRef.array)
            let plain = FloatBuffer(count: N * C)
            layernormForward(plain.ptr, m.ptr, r.ptr, sumRef.ptr, g.ptr, beta.ptr, N: N, C: C, eps: 1e-12)
            XCTAssertEqual(plain.array, out.array, "the fused residual changes nothing after the add")
            let dx = FloatBuffer(a.array), dxRef = FloatBuffer(a.array)   // both accumulate onto the same start
            layernormBackward(dx.ptr, dy.ptr, sumRef.ptr, mRef.ptr, rRef.ptr, g.ptr, N: N, C: C)
            layernormBackwardNaive(dxRef.ptr, dy.ptr, sumRef.ptr, mRef.ptr, rRef.ptr, g.ptr, N: N, C: C)
            let dOut = Tensor.maxAbsDiff(out.array, outRef.array), dMean = Tensor.maxAbsDiff(m.array, mRef.array)
            let dRstd = Tensor.maxAbsDiff(r.array, rRef.array), dBack = Tensor.maxAbsDiff(dx.array, dxRef.array)
            print("layernorm N=\(N) C=\(C): max |fast-naive| out \(dOut), mean \(dMean), rstd \(dRstd), backward \(dBack)")
            XCTAssertLessThan(dOut, 2e-6); XCTAssertLessThan(dMean, 1e-6); XCTAssertLessThan(dRstd, 1e-5); XCTAssertLessThan(dBack, 2e-5)
        }
    }

    /// The relaxation's softmax and its backward (16 partial sums per row) against one running double sum per row, the
    /// plain formula; the max and the normalised values agree to float round-off, Gumbel's form included.
    func testSoftmaxKernelsMatchThePlainFormula() {
        var rng = SplitMix64(seed: 22)
        let rows = 5, V = 1037, invT: Float = 1 / 0.7
        let z = (0..<(rows * V)).map { _ in Float(rng.nextDouble() * 8 - 4) }
        var p = [Float](repeating: 0, count: rows * V)
        dl_softmax_rows(&p, z, Int32(rows), Int32(V), invT)
        let g0 = (0..<(rows * V)).map { _ in Float(rng.nextDouble() * 2 - 1) + 50 }   // a large common component, as dp has
        let zPos = z.map { abs($0) * Float(rng.nextDouble() < 0.05 ? 0 : 1) }          // some entries at or below 1e-10
        var maxP: Float = 0, maxG: Float = 0
        for gumbel in [false, true] {
            var g = g0
            dl_softmax_backward_rows(&g, p, zPos, Int32(rows), Int32(V), invT, gumbel ? 1 : 0)
            for r in 0..<rows {
                let zr = z[(r * V)..<((r + 1) * V)]
                let mx = zr.max()! * invT
                let e = zr.map { Double(expf($0 * invT - mx)) }
                let sum = e.reduce(0, +)
                for j in 0..<V { maxP = max(maxP, abs(p[r * V + j] - Float(e[j] / sum))) }
                var dot: Double = 0
                for j in 0..<V { dot += Double(p[r * V + j]) * Double(g0[r * V + j]) }
                for j in 0..<V {
                    let k = r * V + j
                    // Measured per unit of (g - dot), whose float rounding (about 3e-6 at 50) is the kernel's own error.
                    var scale = Double(p[k]) * Double(invT)
                    if gumbel { scale = zPos[k] > 1e-10 ? scale / Double(zPos[k]) : 0 }
                    let want = scale * (Double(g0[k]) - dot)
                    if scale == 0 { XCTAssertEqual(g[k], 0); continue }
                    maxG = max(maxG, Float(abs(Double(g[k]) - want) / scale))
                }
            }
        }
        print("softmax kernel vs plain formula: max |p diff| \(maxP), backward max diff per unit of (g - dot) \(maxG)")
        XCTAssertLessThan(maxP, 1e-8)
        XCTAssertLessThan(maxG, 2e-5)
    }

    func testVectorisedGeluMatchesLibm() {
        let x = (0..<4001).map { Float($0 - 2000) / 250 }   // -8 ... 8
        let fast = FloatBuffer(count: x.count), slow = FloatBuffer(count: x.count)
        let dFast = FloatBuffer(count: x.count), dSlow = FloatBuffer(count: x.count)
        let ones = [Float](repeating: 1, count: x.count)
        x.withUnsafeBufferPointer { xp in ones.withUnsafeBufferPointer { op in
            geluForward(fast.ptr, xp.baseAddress!, N: x.count)
            geluForwardNaive(slow.ptr, xp.baseAddress!, N: x.count)
            geluBackward(dFast.ptr, op.baseAddress!, xp.baseAddress!, N: x.count)
            geluBackwardNaive(dSlow.ptr, op.baseAddress!, xp.baseAddress!, N: x.count)
        } }
        let d = Tensor.maxAbsDiff(fast.array, slow.array), dd = Tensor.maxAbsDiff(dFast.array, dSlow.array)
        print("gelu vectorised vs libm: max |diff| \(d), backward \(dd)")
        XCTAssertLessThan(d, 2e-6); XCTAssertLessThan(dd, 2e-6)
    }

    func testAdamKernelEqualsTheScalarFormula() {
        // PyTorch's Adam written out in Swift, against the vectorised dl_adam behind Adam.step: equal to the last bit
        // (no fused multiply-adds), climbing (scale -1) as the dream loop does.
        var rng = SplitMix64(seed: 12)
        let n = 1003
        var z = (0..<n).map { _ in Float(rng.nextDouble() * 4 - 2) }, ref = z
        var adam = Adam(count: n, lr: 0.1)
        var m = [Float](repeating: 0, count: n), v = [Float](repeating: 0, count: n)
        for t in 1...5 {
            let g = (0..<n).map { _ in Float(rng.nextDouble() * 2 - 1) * (rng.nextDouble() < 0.1 ? 1e-6 : 1) }
            adam.step(&z, grad: g, scale: -1)
            let bc1 = 1 - powf(0.9, Float(t)), bc2 = 1 - powf(0.999, Float(t))
            for i in 0..<n {
                let gi = -g[i]
                m[i] = 0.9 * m[i] + (1 - 0.9) * gi
                v[i] = 0.999 * v[i] + (1 - 0.999) * gi * gi
                ref[i] -= (0.1 / bc1) * m[i] / (v[i].squareRoot() / bc2.squareRoot() + 1e-8)
            }
        }
        XCTAssertEqual(z, ref)
    }

    /// The discrete method's neighbour lists, made for a batch in one product over E, against PAIR-style cosine
    /// neighbours computed one token at a time by the naive loop (embeddingNeighbours).
    func testBatchedCosineNeighboursMatchTheNaiveLookup() throws {
        let model = try defaultModel()
        let banned = discreteBannedTokens(model)
        let excluded = (0..<model.config.vocabSize).map { banned.contains($0) }
        let lists = CosineNeighbourLists(model: model, k: 16, excluded: excluded)
        let tokens = [1045, 5223, 2000, 7592, 2023, 1996, 999, 29000]
        lists.prepare(tokens)   // 8 rows: one streaming product
        for t in tokens {
            let naive = try embeddingNeighbours(model: model, of: t, k: 16 + 1 + banned.count, metric: .cosine)
                .map(\.id).filter { $0 != t && !banned.contains($0) }.prefix(16)
            let batched = lists(t)
            // Near-ties may swap places between the two summation orders; the sets and the leaders agree.
            XCTAssertEqual(batched.count, 16)
            XCTAssertEqual(Set(batched.prefix(14)).subtracting(naive).count, 0, "token \(t): \(batched) vs \(Array(naive))")
            XCTAssertEqual(batched.first, naive.first, "token \(t)")
        }
    }

    func testSmallMKernelsMatchNaive() {
        // Both small-M kernel families: the wide tiles (AVX-512 or generic) and the AVX2 tiles, where the CPU has AVX2.
        let saved = dl_small_kernels_avx2(-1)
        defer { _ = dl_small_kernels_avx2(saved) }
        for force: Int32 in [0, 1] {
            let avx2 = dl_small_kernels_avx2(force)
            print("small-M kernels: \(avx2 != 0 ? "AVX2 tiles" : "wide tiles")")
            smallMKernelsMatchNaive()
        }
    }

    func smallMKernelsMatchNaive() {
        var rng = SplitMix64(seed: 9)
        // Streaming shapes (prefetch at the last tiles included; row counts that the AVX2 tiles take as 3s, 2 + 2, 1, and
        // columns that leave 8-wide and scalar remainders), then BLAS split by W's rows (96) and by the input's (600).
        for (M, N, K) in [(1, 5, 3), (2, 9, 8), (4, 13, 31), (5, 67, 24), (3, 130, 70), (10, 257, 384), (7, 64, 129), (12, 1539, 384),
                          (96, 1003, 384), (600, 70, 130)] {
            let x = randomBuffer(M * K, &rng), w = randomBuffer(N * K, &rng), b = randomBuffer(N, &rng)
            let fast = FloatBuffer(count: M * N), slow = FloatBuffer(count: M * N)
            matmulNT(fast.ptr, x.ptr, w.ptr, b.ptr, M: M, N: N, K: K)
            linearForwardNaive(slow.ptr, x.ptr, w.ptr, b.ptr, N: M, C: K, OC: N)
            XCTAssertLessThan(Tensor.maxAbsDiff(fast.array, slow.array), 1e-4, "nt \(M)x\(N)x\(K)")
            let g = randomBuffer(M * N, &rng)
            let d1 = FloatBuffer(count: M * K), d2 = FloatBuffer(count: M * K)
            matmulNNAcc(d1.ptr, g.ptr, w.ptr, M: M, N: N, K: K)
            linearBackwardNaive(d2.ptr, g.ptr, w.ptr, N: M, C: K, OC: N)
            XCTAssertLessThan(Tensor.maxAbsDiff(d1.array, d2.array), 1e-4, "nn \(M)x\(N)x\(K)")
        }
        // The embedding-matrix products (streaming: true): streamed at 10 rows, BLAS above streamingBLASRows.
        for (M, N, K) in [(10, 3001, 64), (11, 3001, 70), (80, 3001, 64)] {
            let x = randomBuffer(M * K, &rng), w = randomBuffer(N * K, &rng)
            let fast = FloatBuffer(count: M * N), slow = FloatBuffer(count: M * N)
            matmulNT(fast.ptr, x.ptr, w.ptr, nil, M: M, N: N, K: K, streaming: true)
            linearForwardNaive(slow.ptr, x.ptr, w.ptr, nil, N: M, C: K, OC: N)
            XCTAssertLessThan(Tensor.maxAbsDiff(fast.array, slow.array), 1e-4, "streaming nt \(M)x\(N)x\(K)")
            let g = randomBuffer(M * N, &rng)
            let d1 = FloatBuffer(count: M * K), d2 = FloatBuffer(count: M * K)
            matmulNNAcc(d1.ptr, g.ptr, w.ptr, M: M, N: N, K: K, streaming: true)
            linearBackwardNaive(d2.ptr, g.ptr, w.ptr, N: M, C: K, OC: N)
            XCTAssertLessThan(Tensor.maxAbsDiff(d1.array, d2.array), 1e-3, "streaming nn \(M)x\(N)x\(K)")
        }
    }

    /// The products against packed weights (gemm.c) against the plain loops: row counts around the 14-row tile and the
    /// row split (448), columns around the 32-column panel, K past one 384-wide block; with bias, and accumulating.
    func testPackedProductsMatchNaive() throws {
        try XCTSkipUnless(dl_gemm_packed_available() != 0, "the packed products need AVX-512")
        var rng = SplitMix64(seed: 21)
        for (M, N, K) in [(1, 1, 1), (13, 33, 40), (14, 32, 385), (15, 31, 7), (29, 100, 800), (96, 40, 384), (470, 65, 130), (1000, 17, 33)] {
            let x = randomBuffer(M * K, &rng), w = randomBuffer(N * K, &rng), b = randomBuffer(N, &rng)
            let linear = Linear(weight: w, bias: b, outFeatures: N, inFeatures: K)
            let fast = FloatBuffer(count: M * N), slow = FloatBuffer(count: M * N)
            linear.packed.forward(w, out: N, inp: K).product(fast.ptr, x.ptr, b.ptr, M: M, accumulate: false)
            linearForwardNaive(slow.ptr, x.ptr, w.ptr, b.ptr, N: M, C: K, OC: N)
            let dNT = Tensor.maxAbsDiff(fast.array, slow.array)
            // Backward: dX += dOut · W on top of what dX held.
            let g = randomBuffer(M * N, &rng), start = randomBuffer(M * K, &rng)
            let d1 = FloatBuffer(start.array), d2 = FloatBuffer(start.array)
            linear.packed.backward(w, out: N, inp: K).product(d1.ptr, g.ptr, nil, M: M, accumulate: true)
            linearBackwardNaive(d2.ptr, g.ptr, w.ptr, N: M, C: K, OC: N)
            let dNN = Tensor.maxAbsDiff(d1.array, d2.array)
            print(String(format: "packed %dx%dx%d: forward max |packed-naive| %.1e, backward %.1e", M, N, K, dNT, dNN))
            XCTAssertLessThan(dNT, 1e-4 * Float(max(1, K / 100)), "nt \(M)x\(N)x\(K)")
            XCTAssertLessThan(dNN, 1e-4 * Float(max(1, N / 100)), "nn \(M)x\(N)x\(K)")
        }
        // Through Linear, where the products go past smallMThreshold rows: the same as OpenBLAS's.
        let (M, N, K) = (200, 96, 64)
        let x = randomBuffer(M * K, &rng), w = randomBuffer(N * K, &rng), b = randomBuffer(N, &rng)
        let linear = Linear(weight: w, bias: b, outFeatures: N, inFeatures: K)
        let viaLinear = FloatBuffer(count: M * N), viaBLAS = FloatBuffer(count: M * N)
        linear.forward(viaLinear.ptr, x.ptr, rows: M)
        PackedLinear.enabled = false
        linear.forward(viaBLAS.ptr, x.ptr, rows: M)
        PackedLinear.enabled = dl_gemm_packed_available() != 0
        XCTAssertLessThan(Tensor.maxAbsDiff(viaLinear.array, viaBLAS.array), 1e-4)
    }

    /// The packed products split their rows (or panels) in shares that follow the threads' measured speeds
    /// (GroupBalance.products): any shares give the even split's numbers bit for bit.
    func testPackedProductsGiveTheSameNumbersUnderAnySplit() throws {
        try XCTSkipUnless(dl_gemm_packed_available() != 0, "the packed products need AVX-512")
        defer { GroupBalance.products.reset() }
        var rng = SplitMix64(seed: 23)
        for (M, N, K) in [(1000, 384, 384), (96, 1536, 384), (700, 100, 1536)] {
            let x = randomBuffer(M * K, &rng), w = randomBuffer(N * K, &rng), b = randomBuffer(N, &rng)
            let packed = PackedLinear().forward(w, out: N, inp: K)
            var results: [[Float]] = []
            for rates in [[1.0, 1.0], [10.0, 1.0], [1.0, 10.0]] {
                GroupBalance.products.reset(rates: rates)
                let out = FloatBuffer(count: M * N)
                packed.product(out.ptr, x.ptr, b.ptr, M: M, accumulate: false)
                results.append(out.array)
            }
            XCTAssertEqual(results[1], results[0], "\(M)x\(N)x\(K), a fast first thread")
            XCTAssertEqual(results[2], results[0], "\(M)x\(N)x\(K), a fast second thread")
        }
        if Threads.running >= 2 { XCTAssertGreaterThanOrEqual(GroupBalance.products.measuredRates.filter { $0 > 0 }.count, 2, "each thread's part was timed") }
    }

    /// One head's slice of a packed product (SharedFirstLayer's O_h·v_s) against the naive sum over that slice, with
    /// strided rows in and out; every row equal bit for bit whichever rows a call covers.
    func testPackedSliceMatchesNaive() throws {
        try XCTSkipUnless(dl_gemm_packed_available() != 0, "the packed products need AVX-512")
        var rng = SplitMix64(seed: 22)
        for (M, N, K, k0, kc) in [(1, 1, 1, 0, 1), (30, 384, 384, 32, 32), (131, 70, 96, 64, 32), (17, 33, 500, 100, 300)] {
            let x = randomBuffer(M * K, &rng), w = randomBuffer(N * K, &rng)
            let packed = PackedLinear().forward(w, out: N, inp: K)
            let ldc = N + 5, fast = FloatBuffer(count: M * ldc), parts = FloatBuffer(count: M * ldc)
            dl_gemm_packed_slice(fast.ptr, ldc, x.ptr + k0, K, packed.ptr, Int32(N), Int32(K), Int32(k0), Int32(kc), 0, Int32(M))
            let half = M / 2
            dl_gemm_packed_slice(parts.ptr, ldc, x.ptr + k0, K, packed.ptr, Int32(N), Int32(K), Int32(k0), Int32(kc), 0, Int32(half))
            dl_gemm_packed_slice(parts.ptr, ldc, x.ptr + k0, K, packed.ptr, Int32(N), Int32(K), Int32(k0), Int32(kc), Int32(half), Int32(M))
            var worst: Float = 0
            for m in 0..<M {
                for n in 0..<N {
                    var acc: Double = 0
                    for k in k0..<(k0 + kc) { acc += Double(x.ptr[m * K + k]) * Double(w.ptr[n * K + k]) }
                    worst = max(worst, abs(fast.ptr[m * ldc + n] - Float(acc)))
                }
                for n in N..<ldc { XCTAssertEqual(fast.ptr[m * ldc + n], 0, "the row's padding stays untouched") }
            }
            print(String(format: "packed slice %dx%d, k %d..<%d of %d: max |packed-naive| %.1e", M, N, k0, k0 + kc, K, worst))
            XCTAssertLessThan(worst, 1e-4 * Float(max(1, kc / 100)), "\(M)x\(N) k \(k0)..<\(k0 + kc)")
            XCTAssertEqual(parts.array, fast.array, "two calls over halves of the rows give the one-call numbers")
        }
    }

    /// Quickselect's k-th largest against sorting, with ties (values drawn from a few levels) and k at both ends.
    func testKthLargestEqualsSorting() {
        var rng = SplitMix64(seed: 5)
        for n in [1, 2, 7, 100, 30522] {
            for levels in [3, 1_000_000] {
                let a = (0..<n).map { _ in Float(Int(rng.next() % UInt64(levels))) / Float(levels) }
                let sorted = a.sorted(by: >)
                for k in Set([1, 2, n / 2, n - 1, n, n + 5]) where k >= 1 {
                    XCTAssertEqual(kthLargest(a[...], k), sorted[min(k, n) - 1], "n \(n) levels \(levels) k \(k)")
                }
            }
        }
    }

    /// The bench's FLOP count against the products listed one by one (bert-base shape, T=7, rows-only last layer at 1 row).
    func testForwardFLOPsCountEveryProduct() {
        let c = BertConfig(hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072, vocabSize: 30522)
        let T = 7, H = 768, I = 3072
        func product(_ m: Int, _ n: Int, _ k: Int) -> Double { 2 * Double(m * n * k) }
        let layer = product(T, H, H) * 4 + product(T, I, H) + product(T, H, I) + product(T, T, H) * 2   // Q K V O, FFN, QK^T, PV
        let rowsOnly = product(T, H, H) * 2 + product(1, H, H) * 2 + product(1, I, H) + product(1, H, I) + product(1, T, H) * 2
        XCTAssertEqual(c.forwardFLOPs(T: T, deepest: 11), 12 * layer)
        XCTAssertEqual(c.forwardFLOPs(T: T, deepest: 11, rows: 1), 11 * layer + rowsOnly)
        XCTAssertEqual(c.forwardFLOPs(T: T, deepest: 3, rows: T), 4 * layer)
        XCTAssertEqual(c.forwardFLOPs(T: T, deepest: -1), 0)
    }
}
