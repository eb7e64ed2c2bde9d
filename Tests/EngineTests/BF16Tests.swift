import CKernels
import Foundation
import XCTest
@testable import Engine

/// The bf16 mode's kernels against a naive double-precision reference on the same bf16-rounded inputs, and the
/// thread pool every parallel kernel uses.
final class BF16Tests: XCTestCase {
    func bits(_ f: Float) -> UInt16 { var h: UInt16 = 0; var x = f; dl_to_bf16(&h, &x, 1); return h }

    func testRoundingIsToNearestEven() {
        XCTAssertEqual(bits(1.0), 0x3F80)
        XCTAssertEqual(bits(1.00390625), 0x3F80, "halfway between 0x3F80 and 0x3F81: ties go to the even one")
        XCTAssertEqual(bits(1.01171875), 0x3F82, "halfway between 0x3F81 and 0x3F82: ties go to the even one")
        XCTAssertEqual(bits(Float(bitPattern: 0x3F80_8001)), 0x3F81, "just above halfway rounds up")
        XCTAssertEqual(bits(-2.5), 0xC020)
        let nan = bits(.nan)
        XCTAssertTrue(nan & 0x7F80 == 0x7F80 && nan & 0x7F != 0, "NaN stays NaN, got \(String(nan, radix: 16))")
        XCTAssertEqual(bits(.infinity), 0x7F80)
    }

    /// out = X·W^T + bias in double from the bf16 values themselves: the kernels may differ only by float32 sums.
    func naive(_ x: BF16Buffer, _ w: BF16Buffer, _ bias: FloatBuffer?, M: Int, N: Int, K: Int) -> [Float] {
        let xf = FloatBuffer(count: M * K), wf = FloatBuffer(count: N * K)
        dl_from_bf16(xf.ptr, x.ptr, M * K); dl_from_bf16(wf.ptr, w.ptr, N * K)
        var out = [Float](repeating: 0, count: M * N)
        for m in 0..<M { for n in 0..<N {
            var s = Double(bias?[n] ?? 0)
            for k in 0..<K { s += Double(xf[m * K + k]) * Double(wf[n * K + k]) }
            out[m * N + n] = Float(s)
        } }
        return out
    }

    func testNTKernelsMatchNaive() {
        var rng = SplitMix64(seed: 21)
        func random(_ n: Int) -> FloatBuffer { FloatBuffer((0..<n).map { _ in Float(rng.nextDouble() * 2 - 1) }) }
        let kernels: [(String, Int32)] = dl_has_avx512_bf16() != 0 ? [("AVX512_BF16", 1), ("plain", 0)] : [("plain", 0)]
        defer { dl_bf16_use_native(1) }
        // K: below, at and past one 32-wide step, with tails; M and N: partial 4x4 tiles (fewer than 4 rows in all, and
        // edge tiles computed as the whole tile ending there) and the prefetch's last rows.
        for (M, N, K) in [(1, 1, 1), (1, 2, 7), (3, 5, 31), (4, 8, 32), (5, 13, 33), (12, 130, 384), (10, 257, 1000), (96, 67, 129),
                          (100, 9, 2100), (130, 6, 40)] {   // the last two cross the driver's 96-row and 1024-column blocks
            // (the float buffers stay alive until converted: ARC may free a temporary right after its .ptr is read)
            let xf = random(M * K), wf = random(N * K), b = random(N)
            let x = withExtendedLifetime(xf) { BF16Buffer(xf.ptr, count: M * K) }, w = withExtendedLifetime(wf) { BF16Buffer(wf.ptr, count: N * K) }
            let want = naive(x, w, b, M: M, N: N, K: K)
            for (name, native) in kernels {
                dl_bf16_use_native(native)
                let out = FloatBuffer(count: M * N)
                dl_matmul_nt_bf16(out.ptr, x.ptr, w.ptr, b.ptr, Int32(M), Int32(N), Int32(K), 0, Int32(N), 0)
                let d = Tensor.maxAbsDiff(out.array, want)
                print("bf16 nt \(name) \(M)x\(N)x\(K): max |kernel-naive| \(d)")
                XCTAssertLessThan(d, 2e-5 * Float(K).squareRoot() + 1e-6, "\(name) \(M)x\(N)x\(K)")
                // accumulate adds to what is there; a row range leaves the other columns alone
                let acc = FloatBuffer([Float](repeating: 1, count: M * N))
                let n0 = N > 4 ? 4 : 0
                dl_matmul_nt_bf16(acc.ptr, x.ptr, w.ptr, nil, Int32(M), Int32(N), Int32(K), Int32(n0), Int32(N), 1)
                var worst: Float = 0
                for m in 0..<M { for n in 0..<N {
                    let expect = n < n0 ? 1 : 1 + want[m * N + n] - b[n]
                    worst = max(worst, abs(acc[m * N + n] - expect))
                } }
                XCTAssertLessThan(worst, 2e-5 * Float(K).squareRoot() + 1e-6, "\(name) accumulate \(M)x\(N)x\(K)")
            }
        }
    }

    func testModelProductsInBF16MatchTheirFP32Twins() throws {
        // Both routes: the AVX512_BF16 kernel where the CPU has it, and the fp32 kernels on bf16-rounded values.
        defer { dl_bf16_use_native(1) }
        for native: Int32 in dl_has_avx512_bf16() != 0 ? [1, 0] : [0] {
            dl_bf16_use_native(native)
            try modelProductsInBF16MatchTheirFP32Twins()
        }
    }

    func modelProductsInBF16MatchTheirFP32Twins() throws {
        // A random model in both precisions: each bf16 product equals the fp32 product of the bf16-rounded operands.
        let fp = try RandomBert.model(BertConfig(hiddenSize: 64, numLayers: 2, numHeads: 4, intermediateSize: 96, vocabSize: 500), seed: 5, withMLM: true)
        let bf = fp.converted(to: .bf16)
        XCTAssertEqual(bf.precision, .bf16)
        XCTAssertEqual(fp.precision, .fp32, "converting leaves the fp32 model as it was")
        let lin = bf.weights.layers[1].ffnIn
        var rng = SplitMix64(seed: 8)
        // 7 rows: the streaming kernels; 100: the packed products (gemm.c) where the CPU lacks AVX512_BF16.
        for M in [7, 100] {
            let x = FloatBuffer((0..<(M * lin.inFeatures)).map { _ in Float(rng.nextDouble() * 2 - 1) })
            let xr = FloatBuffer(count: x.count)
            let xb = BF16Buffer(x.ptr, count: x.count); dl_from_bf16(xr.ptr, xb.ptr, x.count)
            let out = FloatBuffer(count: M * lin.outFeatures), ref = FloatBuffer(count: M * lin.outFeatures)
            lin.forward(out.ptr, x.ptr, rows: M)
            linearForwardNaive(ref.ptr, xr.ptr, lin.weight.ptr, lin.bias.ptr, N: M, C: lin.inFeatures, OC: lin.outFeatures)
            XCTAssertLessThan(Tensor.maxAbsDiff(out.array, ref.array), 1e-4, "linear forward, \(M) rows")
            let g = FloatBuffer((0..<(M * lin.outFeatures)).map { _ in Float(rng.nextDouble() * 2 - 1) })
            let gr = FloatBuffer(count: g.count)
            let gb = BF16Buffer(g.ptr, count: g.count); dl_from_bf16(gr.ptr, gb.ptr, g.count)
            let dx = FloatBuffer(count: M * lin.inFeatures), dref = FloatBuffer(count: M * lin.inFeatures)
            lin.backward(dx.ptr, g.ptr, rows: M)
            linearBackwardNaive(dref.ptr, gr.ptr, lin.weight.ptr, N: M, C: lin.inFeatures, OC: lin.outFeatures)
            XCTAssertLessThan(Tensor.maxAbsDiff(dx.array, dref.array), 1e-4, "linear backward (the transposed copy), \(M) rows")
            // The embedding matrix's two products: p·E (soft inputs) and d·E^T (every token's first-order gain).
            let V = bf.config.vocabSize, H = bf.config.hiddenSize
            let p = FloatBuffer((0..<(M * V)).map { _ in Float(rng.nextDouble()) }), pr = FloatBuffer(count: M * V)
            let pb = BF16Buffer(p.ptr, count: p.count); dl_from_bf16(pr.ptr, pb.ptr, p.count)
            let mix = FloatBuffer(count: M * H), mixRef = FloatBuffer(count: M * H)
            bf.weights.embeddingMix(mix.ptr, p.ptr, M: M)
            linearBackwardNaive(mixRef.ptr, pr.ptr, bf.weights.wordEmbeddings.ptr, N: M, C: H, OC: V)
            XCTAssertLessThan(Tensor.maxAbsDiff(mix.array, mixRef.array), 1e-3, "p·E, \(M) rows")
            let dots = FloatBuffer(count: M * V), dotsRef = FloatBuffer(count: M * V)
            bf.weights.embeddingDots(dots.ptr, xr.ptr, M: M)
            linearForwardNaive(dotsRef.ptr, xr.ptr, bf.weights.wordEmbeddings.ptr, nil, N: M, C: H, OC: V)
            XCTAssertLessThan(Tensor.maxAbsDiff(dots.array, dotsRef.array), 1e-4, "d·E^T, \(M) rows")
        }
        // Every fp32 reader sees the rounded weights: rounding them again changes nothing.
        let e = bf.weights.wordEmbeddings
        let again = BF16Buffer(e.ptr, count: e.count), back = FloatBuffer(count: e.count)
        dl_from_bf16(back.ptr, again.ptr, e.count)
        XCTAssertEqual(back.array, e.array)
        XCTAssertTrue(bf.weights.mlm!.decoderBF16 === bf.weights.wordBF16, "a tied decoder shares E's bf16 copies")
    }

    func testPoolRunsEveryChunkOnceAndNestsInline() {
        let saved = Threads.count
        defer { Threads.count = saved }
        for threads in [1, 2, 3, 5] {
            Threads.count = threads
            for _ in 0..<200 {
                let n = 1000
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: n); hits.initialize(repeating: 0, count: n)
                defer { hits.deallocate() }
                parallelChunks(n, work: Int.max / 2) { chunk, lo, hi in
                    for i in lo..<hi { hits[i] += 1 }
                    // A nested split while the pool is busy runs on the calling thread.
                    parallelHalves(4, work: Int.max / 2) { _, _ in }
                }
                XCTAssertEqual((0..<n).filter { hits[$0] != 1 }.count, 0, "threads \(threads): every index exactly once")
            }
        }
    }
}
