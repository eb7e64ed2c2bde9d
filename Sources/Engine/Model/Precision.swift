import CKernels
import Foundation

/// The arithmetic of the large products. fp32 is exact and the default: every golden holds to it. bf16 is opt-in:
/// the weight matrices and the embedding matrix are rounded to bf16, and the products read bf16 copies of them with
/// bf16 inputs and float32 sums. With AVX512_BF16 the products read bf16 copies (half the bytes, twice the
/// multiply-adds per instruction). Elsewhere they run the fp32 kernels on the bf16-rounded values: the same products,
/// so the same results up to the order of the sums, at fp32 speed (a kernel that widens bf16 in registers was 2.5x
/// slower than fp32 on an AVX2 EPYC). LayerNorm, GELU, attention, softmax and Adam stay float32.
public enum Precision: String, Sendable, CaseIterable {
    case fp32, bf16

    public static func parse(_ s: String) throws -> Precision {
        guard let p = Precision(rawValue: s.lowercased()) else {
            throw DreamlabError.invalidArgument("precision must be fp32 (exact, the default) or bf16 (faster, about 3 significant digits), got \(s)")
        }
        return p
    }

    /// Which bf16 kernel this CPU runs.
    public static var bf16Kernel: String {
        dl_has_avx512_bf16() != 0 ? "AVX512_BF16 dot products" : "fp32 kernels on bf16-rounded values (this CPU has no AVX512_BF16, so bf16 is no faster than fp32 here)"
    }

    /// Whether bf16 products run the AVX512_BF16 kernel now (tests can turn it off with dl_bf16_use_native(0)).
    static var bf16Native: Bool { dl_bf16_native() != 0 }
}

/// bf16 values (the top half of a float32) at a stable address.
public final class BF16Buffer: @unchecked Sendable {
    public let ptr: UnsafeMutablePointer<UInt16>
    public let count: Int
    public init(count: Int) {
        self.count = count
        ptr = .allocate(capacity: max(count, 1))
    }
    /// src (count) rounded to bf16.
    public convenience init(_ src: CFPtr, count: Int) {
        self.init(count: count)
        dl_to_bf16(ptr, src, count)
    }
    deinit { ptr.deallocate() }
}

/// A weight matrix W (rows, cols) in the bf16 mode: its float32 buffer rounded to bf16 values, and, where the CPU has
/// AVX512_BF16, bf16 copies for that kernel: W itself for out = x·W^T, and W^T for dx += dout·W (the kernel reduces
/// along contiguous memory, so each direction gets its own layout).
public final class BF16Matrix: @unchecked Sendable {
    public let rows: Int, cols: Int
    public let w: BF16Buffer?    // (rows, cols)
    public let wt: BF16Buffer?   // (cols, rows)
    /// The float32 matrix rounded to bf16 values: what the fp32 kernels and every float32 reader (lookups, neighbours) take.
    public let rounded: FloatBuffer

    public init(_ source: FloatBuffer, rows: Int, cols: Int) {
        precondition(source.count == rows * cols)
        self.rows = rows; self.cols = cols
        let bf = BF16Buffer(source.ptr, count: rows * cols)
        rounded = FloatBuffer(uninitialized: rows * cols)
        dl_from_bf16(rounded.ptr, bf.ptr, rows * cols)
        if dl_has_avx512_bf16() != 0 {
            w = bf
            let t = BF16Buffer(count: rows * cols)
            dl_to_bf16_transposed(t.ptr, source.ptr, Int32(rows), Int32(cols))
            wt = t
        } else {
            w = nil; wt = nil
        }
    }

    /// out (M,rows) = X (M,cols) · W^T (+ bias), X taken as bf16 values.
    /// `kernelRows`: the rows that pick the fp32 kernel (matmulNT's).
    func productNT(_ out: FPtr, _ X: CFPtr, _ bias: CFPtr?, M: Int, streaming: Bool = false, kernelRows: Int? = nil) {
        if Precision.bf16Native, let w {
            matmulNTBF16(out, X, w.ptr, bias, M: M, N: rows, K: cols, accumulate: false)
            return
        }
        let xr = roundedToBF16(X, count: M * cols)
        matmulNT(out, xr.ptr, rounded.ptr, bias, M: M, N: rows, K: cols, streaming: streaming, kernelRows: kernelRows)
    }

    /// dX (M,cols) += dOut (M,rows) · W, dOut taken as bf16 values.
    func productNNAcc(_ dX: FPtr, _ dOut: CFPtr, M: Int, streaming: Bool = false) {
        if Precision.bf16Native, let wt {
            matmulNTBF16(dX, dOut, wt.ptr, nil, M: M, N: cols, K: rows, accumulate: true)
            return
        }
        let gr = roundedToBF16(dOut, count: M * rows)
        matmulNNAcc(dX, gr.ptr, rounded.ptr, M: M, N: rows, K: cols, streaming: streaming)
    }
}

/// Whether a product of `rows` rows runs against packed weights (gemm.c): past the streaming kernels' rows, in fp32 and
/// in the bf16 mode on CPUs without AVX512_BF16 (whose products are fp32 ones on bf16-rounded values anyway).
func packs(rows: Int, threshold: Int = smallMThreshold, bf16: Bool) -> Bool {
    rows > threshold && PackedLinear.enabled && !(bf16 && Precision.bf16Native)
}

/// src (count) rounded to bf16 values, kept as float32.
func roundedToBF16(_ src: CFPtr, count: Int) -> FloatBuffer {
    let out = FloatBuffer(uninitialized: count)
    dl_round_bf16(out.ptr, src, count)
    return out
}

/// out (M,N) (+)= X (M,K) · W (N,K)^T (+ bias), W in bf16; X is rounded to bf16 first. Split by W's rows.
public func matmulNTBF16(_ out: FPtr, _ X: CFPtr, _ W: UnsafePointer<UInt16>, _ bias: CFPtr?, M: Int, N: Int, K: Int, accumulate: Bool) {
    let xb = BF16Buffer(X, count: M * K)
    splitTwo(M * N * K, N, align: 16) { n0, n1 in
        dl_matmul_nt_bf16(out, xb.ptr, W, bias, Int32(M), Int32(N), Int32(K), Int32(n0), Int32(n1), accumulate ? 1 : 0)
    }
}

extension Linear {
    /// inp (N,C) -> out (N,OC) = inp · W^T + b, in the model's precision. `kernelRows`: the rows that pick the kernel
    /// (default N): a group of a batch run side by side passes the whole batch's, so it sums as one pass would.
    @inline(__always)
    func forward(_ out: FPtr, _ inp: CFPtr, rows N: Int, kernelRows: Int? = nil) {
        if packs(rows: kernelRows ?? N, bf16: bf16 != nil) {
            packed.forward(weight, out: outFeatures, inp: inFeatures).product(out, inp, bias.ptr, M: N, accumulate: false, bf16Inputs: bf16 != nil)
        }
        else if let b = bf16 { b.productNT(out, inp, bias.ptr, M: N, kernelRows: kernelRows) }
        else { linearForward(out, inp, weight.ptr, bias.ptr, N: N, C: inFeatures, OC: outFeatures, kernelRows: kernelRows) }
    }

    /// dout (N,OC) -> dinp (N,C) += dout · W, in the model's precision.
    @inline(__always)
    func backward(_ dinp: FPtr, _ dout: CFPtr, rows N: Int) {
        if packs(rows: N, bf16: bf16 != nil) {
            packed.backward(weight, out: outFeatures, inp: inFeatures).product(dinp, dout, nil, M: N, accumulate: true, bf16Inputs: bf16 != nil)
        }
        else if let b = bf16 { b.productNNAcc(dinp, dout, M: N) }
        else { linearBackward(dinp, dout, weight.ptr, N: N, C: inFeatures, OC: outFeatures) }
    }

    func bf16Copy() -> Linear {
        let m = BF16Matrix(weight, rows: outFeatures, cols: inFeatures)
        var l = Linear(weight: m.rounded, bias: bias, outFeatures: outFeatures, inFeatures: inFeatures)
        l.bf16 = m
        return l
    }
}

extension BertWeights {
    public var precision: Precision { wordBF16 == nil ? .fp32 : .bf16 }

    /// rows (M,H) += p (M,V) · E (V,H): soft inputs' word embeddings (E streamed once for all M rows).
    public func embeddingMix(_ rows: FPtr, _ p: CFPtr, M: Int) {
        let V = wordVocab, H = hidden
        if packs(rows: M, threshold: streamingBLASRows, bf16: wordBF16 != nil) {
            wordPacked.backward(wordEmbeddings, out: V, inp: H).product(rows, p, nil, M: M, accumulate: true, bf16Inputs: wordBF16 != nil)
        }
        else if let e = wordBF16 { e.productNNAcc(rows, p, M: M, streaming: true) }
        else { matmulNNAcc(rows, p, wordEmbeddings.ptr, M: M, N: V, K: H, streaming: true) }
    }

    /// out (M,V) = d (M,H) · E^T: every token's first-order gain from a gradient w.r.t. word-embedding rows.
    public func embeddingDots(_ out: FPtr, _ d: CFPtr, M: Int) {
        if packs(rows: M, threshold: streamingBLASRows, bf16: wordBF16 != nil) {
            wordPacked.forward(wordEmbeddings, out: wordVocab, inp: hidden).product(out, d, nil, M: M, accumulate: false, bf16Inputs: wordBF16 != nil)
        }
        else if let e = wordBF16 { e.productNT(out, d, nil, M: M, streaming: true) }
        else { matmulNT(out, d, wordEmbeddings.ptr, nil, M: M, N: wordVocab, K: hidden, streaming: true) }
    }

    var hidden: Int { embLN.gamma.count }
    var wordVocab: Int { wordEmbeddings.count / hidden }

    /// The same model in bf16: new buffers, so a float32 model that shares the old ones is left as it was.
    public func bf16Copy() -> BertWeights {
        if precision == .bf16 { return self }
        let e = BF16Matrix(wordEmbeddings, rows: wordVocab, cols: hidden)
        let layers = self.layers.map { l in
            BertLayerWeights(query: l.query.bf16Copy(), key: l.key.bf16Copy(), value: l.value.bf16Copy(), attnOut: l.attnOut.bf16Copy(),
                             ln1: l.ln1, ffnIn: l.ffnIn.bf16Copy(), ffnOut: l.ffnOut.bf16Copy(), ln2: l.ln2)
        }
        var mlm = self.mlm
        if let head = self.mlm {
            let decoder = head.tiedDecoder ? e : BF16Matrix(head.decoder, rows: wordVocab, cols: hidden)
            mlm = MLMHeadWeights(transform: head.transform.bf16Copy(), ln: head.ln, decoder: decoder.rounded, bias: head.bias,
                                 tiedDecoder: head.tiedDecoder, decoderBF16: decoder)
        }
        var w = BertWeights(wordEmbeddings: e.rounded, positionEmbeddings: positionEmbeddings, typeEmbeddings: typeEmbeddings,
                            embLN: embLN, layers: layers, mlm: mlm)
        w.wordBF16 = e
        return w
    }
}

extension MLMHeadWeights {
    /// normed (N,H) -> logits (N,V) = normed · D^T + bias.
    func decode(_ logits: FPtr, _ normed: CFPtr, rows N: Int, V: Int, H: Int) {
        if let d = decoderBF16 { d.productNT(logits, normed, bias.ptr, M: N) }
        else { linearForward(logits, normed, decoder.ptr, bias.ptr, N: N, C: H, OC: V) }
    }
    /// dLogits (N,V) -> dNormed (N,H) += dLogits · D.
    func decodeBackward(_ dNormed: FPtr, _ dLogits: CFPtr, rows N: Int, V: Int, H: Int) {
        if let d = decoderBF16 { d.productNNAcc(dNormed, dLogits, M: N) }
        else { linearBackward(dNormed, dLogits, decoder.ptr, N: N, C: H, OC: V) }
    }
}

extension BertModel {
    public var precision: Precision { weights.precision }

    /// This model in the given precision (itself when it already is).
    public func converted(to p: Precision) -> BertModel {
        if p == precision { return self }
        precondition(p == .bf16, "a bf16 model cannot go back to fp32: load it again")
        return BertModel(config: config, weights: weights.bf16Copy(), tokenizer: tokenizer, directory: directory)
    }
}
