import CBLAS
import CKernels
import Dispatch
import Foundation

/// OpenBLAS set-up. Debian's OpenBLAS 0.3.21 does not recognise recent Intel cores and falls back to a
/// Prescott kernel that is about 10x slower. The core type is read when the library loads, before `main`,
/// so the executable re-executes itself once with `OPENBLAS_CORETYPE` set.
public enum BLASRuntime {
    /// The core type this CPU should use, from /proc/cpuinfo flags: SkylakeX with AVX-512, Haswell with AVX2.
    public static func recommendedCoreType() -> String? {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// Re-executes this process with the right core type unless the user chose one already.
    /// Returns normally when no re-exec is needed (or it failed, in which case BLAS is merely slow).
    public static func ensureCoreType() {
        let env = ProcessInfo.processInfo.environment
        if env["OPENBLAS_CORETYPE"] != nil || env["DREAMLAB_BLAS_REEXEC"] != nil { return }
        guard let core = recommendedCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv("DREAMLAB_BLAS_REEXEC", "1", 1)
        let args = CommandLine.arguments
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cargs.append(nil)
        execv("/proc/self/exe", &cargs)
        // execv only returns on failure: carry on with whatever core OpenBLAS picked.
    }

    /// OpenBLAS runs single-threaded: its thread pool spins and yields between the many small products of a
    /// dream step. Dreamlab splits the large products across the cores itself.
    public static func configureThreads() {
        openblas_set_num_threads(1)
        dl_configure_malloc()
    }

    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }
    public static var threads: Int { Int(openblas_get_num_threads()) }
}

// MARK: - GEMM wrappers (row-major)

/// out (M,N) = alpha * inp (M,K) · W(N,K)^T + beta * out. Weights are stored as Hugging Face does: (out, in).
@inline(__always)
func gemmNT(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
            _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
            alpha: Float = 1, beta: Float = 0) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// out (M,N) = alpha * a (M,K) · b (K,N) + beta * out.
@inline(__always)
func gemmNN(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
            _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
            alpha: Float = 1, beta: Float = 0) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// out (M,N) = alpha * a(K,M)^T · b (K,N) + beta * out.
@inline(__always)
func gemmTN(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
            _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
            alpha: Float = 1, beta: Float = 0) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

// MARK: - Small-M products

/// Rows at or below this use the streaming kernels; above it OpenBLAS's packing pays for itself.
/// `streaming: true` forces them: for the 30522×H embedding matrix, packing it costs more than any M gains.
public nonisolated(unsafe) var smallMThreshold = 48

/// For `streaming: true` products (the 30522-row embedding matrix), BLAS takes over only above this many rows: below
/// it packing E costs more than the rows gain.
public nonisolated(unsafe) var streamingBLASRows = 64

/// Rows per thread from which a forward without gradients runs as whole-sequence groups side by side (BertModel.forward)
/// rather than splitting every product; DREAMLAB_SIDE_ROWS sets it.
public nonisolated(unsafe) var sideBySideRows = ProcessInfo.processInfo.environment["DREAMLAB_SIDE_ROWS"].flatMap { Int($0) } ?? 256

/// Up to this many rows, a BLAS product is split across threads by W's rows rather than by the input's rows.
let columnSplitRows = 512

/// Work below this many multiply-adds stays on one thread; above it, the cores split it. Waking a thread costs about
/// as much as a 384x384 product at 12 rows (measured: 2M gives a 5-10% faster dream step than 400k or 8M).
let parallelWork = 200_000

/// How many threads Dreamlab's kernels split work across: the CPUs this process may use (sched_getaffinity, so a
/// Slurm job's allocation, not the node), or DREAMLAB_THREADS. OpenBLAS itself stays single-threaded (see above).
public enum Threads {
    public static let available: Int = {
        let count: Int
        if let s = ProcessInfo.processInfo.environment["DREAMLAB_THREADS"], let n = Int(s), n >= 1 {
            count = min(n, 256)
        } else {
            let n = Int(dl_affinity_cores())
            count = n >= 1 ? min(n, 256) : max(1, ProcessInfo.processInfo.activeProcessorCount)
        }
        dl_pool_start(Int32(count))   // the workers behind that count, whichever way it was chosen
        return count
    }()
    /// The count in use; `dreamlab bench --threads` changes it between measurements.
    public nonisolated(unsafe) static var count = available
    /// The threads that actually take a split: the caller and the pool's workers.
    public static var running: Int { min(count, Int(dl_pool_workers()) + 1) }
}

/// Splits 0..<n into up to Threads.count chunks (aligned, so the kernels' tiles stay whole) and runs
/// body(chunk, lo, hi) on each in parallel when the work pays for the hand-off. Chunks write disjoint memory.
/// The chunks run on Dreamlab's own pool (pool.c): its workers spin between the products of a step, so a hand-off
/// costs about a microsecond where Dispatch's cost tens.
@inline(__always)
func splitWork(_ work: Int, _ n: Int, align: Int = 64, _ body: (Int, Int, Int) -> Void) {
    let chunks = min(Threads.count, n / max(align, 1), max(1, work / parallelWork))
    if chunks < 2 { body(0, 0, n); return }
    let per = (n / chunks) / align * align
    withoutActuallyEscaping(body) { fn in
        var job = PoolJob(body: fn, per: per, n: n, chunks: chunks)
        _ = withUnsafeMutablePointer(to: &job) { dl_pool_run(Int32(chunks), poolTrampoline, $0) }
    }
}

/// One split handed to the pool: chunk i covers i·per ..< (i+1)·per, the last one up to n.
private struct PoolJob {
    let body: (Int, Int, Int) -> Void
    let per: Int, n: Int, chunks: Int
}

private let poolTrampoline: dl_task = { ctx, chunk in
    let job = ctx!.assumingMemoryBound(to: PoolJob.self)
    let i = Int(chunk)
    job.pointee.body(i, i * job.pointee.per, i == job.pointee.chunks - 1 ? job.pointee.n : (i + 1) * job.pointee.per)
}

@inline(__always)
func splitTwo(_ work: Int, _ n: Int, align: Int = 64, _ body: (Int, Int) -> Void) {
    splitWork(work, n, align: align) { _, lo, hi in body(lo, hi) }
}

/// out (M,N) = X (M,K) · W(N,K)^T (+ bias). Streams W once for small M; OpenBLAS on row halves otherwise.
/// `kernelRows` (default M) picks the kernel: a group of a batch run side by side passes the whole batch's rows.
public func matmulNT(_ out: UnsafeMutablePointer<Float>, _ X: UnsafePointer<Float>, _ W: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                     M: Int, N: Int, K: Int, streaming: Bool = false, kernelRows: Int? = nil) {
    if (kernelRows ?? M) > (streaming ? streamingBLASRows : smallMThreshold) {
        // Each thread fills its own share of the output with the bias (BLAS adds to it): no serial pass first.
        if M <= columnSplitRows {
            // Few rows: each thread takes a share of W's rows (output columns), so W is packed once in all, not
            // once per thread as row halves would.
            splitTwo(M * N * K, N, align: 16) { n0, n1 in
                if let bias { for m in 0..<M { (out + m * N + n0).update(from: bias + n0, count: n1 - n0) } }
                gemmNT(M, n1 - n0, K, X, K, W + n0 * K, K, out + n0, N, beta: bias == nil ? 0 : 1)
            }
            return
        }
        splitTwo(M * N * K, M, align: 8) { m0, m1 in
            if let bias { for m in m0..<m1 { (out + m * N).update(from: bias, count: N) } }
            gemmNT(m1 - m0, N, K, X + m0 * K, K, W, K, out + m0 * N, N, beta: bias == nil ? 0 : 1)
        }
        return
    }
    splitTwo(M * N * K, N) { n0, n1 in dl_matmul_nt(out, X, W, bias, Int32(M), Int32(N), Int32(K), Int32(n0), Int32(n1)) }
}

/// dX (M,K) += dOut (M,N) · W (N,K). Streams W once for small M.
public func matmulNNAcc(_ dX: UnsafeMutablePointer<Float>, _ dOut: UnsafePointer<Float>, _ W: UnsafePointer<Float>, M: Int, N: Int, K: Int,
                        streaming: Bool = false) {
    if M > (streaming ? streamingBLASRows : smallMThreshold) {
        if M <= columnSplitRows {
            splitTwo(M * N * K, K, align: 16) { k0, k1 in gemmNN(M, k1 - k0, N, dOut, N, W + k0, K, dX + k0, K, beta: 1) }
            return
        }
        splitTwo(M * N * K, M, align: 8) { m0, m1 in gemmNN(m1 - m0, K, N, dOut + m0 * N, N, W, K, dX + m0 * K, K, beta: 1) }
        return
    }
    splitTwo(M * N * K, K) { k0, k1 in dl_matmul_nn_acc(dX, dOut, W, Int32(M), Int32(N), Int32(K), Int32(k0), Int32(k1)) }
}

/// Runs body over 0..<n split across the threads when the work is large enough to pay for the hand-off.
@inline(__always)
public func parallelHalves(_ n: Int, work: Int, _ body: (Int, Int) -> Void) {
    splitTwo(work, n, align: 1, body)
}

/// The same, telling each part its chunk index (for per-thread scratch: Threads.count areas).
@inline(__always)
public func parallelChunks(_ n: Int, work: Int, _ body: (Int, Int, Int) -> Void) {
    splitWork(work, n, align: 1, body)
}

/// GB/s of streaming reads on the threads in use (best of three passes over 256 MB): the roof for byte-bound work.
public func memoryReadBandwidth() -> Double {
    let n = 64 << 20
    let buf = FloatBuffer(count: n)
    for i in stride(from: 0, to: n, by: 1024) { buf.ptr[i] = 1 }   // touch every page first
    let sums = UnsafeMutablePointer<Float>.allocate(capacity: 256)
    defer { sums.deallocate() }
    var best = 0.0
    for _ in 0..<3 {
        let t0 = Date()
        parallelChunks(n, work: n * 100) { chunk, lo, hi in sums[chunk] = dl_sum(buf.ptr + lo, Int32(hi - lo)) }
        best = max(best, Double(n * 4) / Date().timeIntervalSince(t0) / 1e9)
    }
    return best
}
