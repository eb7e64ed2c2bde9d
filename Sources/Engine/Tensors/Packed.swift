import CKernels
import Foundation

/// A weight matrix packed for gemm.c's products, in 64-byte-aligned panels of 32 columns.
final class PackedPanels: @unchecked Sendable {
    let ptr: UnsafeMutablePointer<Float>
    /// B's shape: out (M,N) = X (M,K) · B (K,N).
    let N: Int, K: Int

    init(N: Int, K: Int, fill: (UnsafeMutablePointer<Float>) -> Void) {
        self.N = N; self.K = K
        let count = dl_packed_floats(Int32(N), Int32(K))
        ptr = UnsafeMutableRawPointer.allocate(byteCount: max(count, 16) * 4, alignment: 64).bindMemory(to: Float.self, capacity: max(count, 16))
        fill(ptr)
    }
    deinit { ptr.deallocate() }

    /// From this many rows the threads split X's rows (four of gemm.c's 112-row blocks); below it B's panels, so B is
    /// read once in all.
    static let rowSplitRows = 4 * 112

    /// out (M,N) = or += X (M,K) · B (+ bias), split across the threads. `bf16Inputs`: X is rounded to bf16 values
    /// first (the bf16 mode's products take bf16 inputs).
    func product(_ out: FPtr, _ X: CFPtr, _ bias: CFPtr?, M: Int, accumulate: Bool, bf16Inputs: Bool = false) {
        if bf16Inputs {
            let rounded = roundedToBF16(X, count: M * K)
            withExtendedLifetime(rounded) { product(out, rounded.ptr, bias, M: M, accumulate: accumulate) }
            return
        }
        let panels = (N + 31) / 32, acc: Int32 = accumulate ? 1 : 0
        // Shares follow the threads' measured speeds (GroupBalance.products): every row and column sums alike in any split.
        if M >= PackedPanels.rowSplitRows {
            splitBalanced(M * N * K, M, align: 14, balance: GroupBalance.products) { m0, m1 in
                dl_gemm_packed(out, X, ptr, bias, Int32(N), Int32(K), Int32(m0), Int32(m1), 0, Int32(panels), acc)
            }
        } else {
            splitBalanced(M * N * K, panels, align: 1, balance: GroupBalance.products) { p0, p1 in
                dl_gemm_packed(out, X, ptr, bias, Int32(N), Int32(K), 0, Int32(M), Int32(p0), Int32(p1), acc)
            }
        }
    }
}

/// A Linear's packed copies, made on first use by a product with more rows than the streaming kernels take (a
/// dream at restarts=1 never pays for them): the forward one holds W^T, the backward one W. Each is as large as W.
final class PackedLinear: @unchecked Sendable {
    private let lock = NSLock()
    private var forwardPanels: PackedPanels?
    private var backwardPanels: PackedPanels?
    /// Off: OpenBLAS takes every large product (tests compare the two; DREAMLAB_PACKED=0 turns them off).
    nonisolated(unsafe) static var enabled = dl_gemm_packed_available() != 0 && ProcessInfo.processInfo.environment["DREAMLAB_PACKED"] != "0"

    /// W (out,in) as B = W^T (in,out).
    func forward(_ weight: FloatBuffer, out: Int, inp: Int) -> PackedPanels {
        made(&forwardPanels) { PackedPanels(N: out, K: inp) { dl_pack_nt($0, weight.ptr, Int32(out), Int32(inp)) } }
    }

    /// W (out,in) as B = W (out,in): dX (M,in) += dOut (M,out) · W.
    func backward(_ weight: FloatBuffer, out: Int, inp: Int) -> PackedPanels {
        made(&backwardPanels) { PackedPanels(N: inp, K: out) { dl_pack_nn($0, weight.ptr, Int32(out), Int32(inp)) } }
    }

    /// The copy in `slot`, made under the lock on first use (threads scoring side by side may ask at once).
    private func made(_ slot: inout PackedPanels?, _ make: () -> PackedPanels) -> PackedPanels {
        lock.lock(); defer { lock.unlock() }
        if let p = slot { return p }
        let p = make()
        slot = p
        return p
    }
}
