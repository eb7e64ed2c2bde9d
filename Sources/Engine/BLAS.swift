import CBLAS
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

    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }
    public static var threads: Int { Int(openblas_get_num_threads()) }
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
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
