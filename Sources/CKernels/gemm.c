#include <immintrin.h>
#include "ckernels.h"

// Products against weights packed once at load, for the batched paths (token search, the discrete method's
// candidates, restarts, batch forwards): out (M,N) (+)= X (M,K) · B (K,N) (+ bias), where B is W^T for a forward
// product (dl_pack_nt) or W itself for a backward one (dl_pack_nn). OpenBLAS packs both operands on every call
// (a tenth of a search's time) and the caller filled the output with the bias first (another twentieth); here B is
// packed already, X is read in place and the bias is added as the tile is stored.
//
// Packed B: panels of 32 columns, each K×32 floats k-major (column n0+j at k is [k·32 + j]), zero-padded to a whole
// panel. Register tile: 14 rows of X × 32 columns, 28 accumulators, fed per k by two loads of the panel and one
// broadcast per row. Blocks: KC values of k (the panel's KC×32 slice, 48 KB, read from L2 by the row tiles in turn)
// and MC rows of X (in L2). Measured against OpenBLAS on one core of an Emerald Rapids VM (best of 60 interleaved
// calls): 1.35x at 96 rows, 0.95-1.04x at 896-1792 rows before OpenBLAS's bias fill; KC 256 and MC up to 14·128 were
// slower (KC 256 re-reads the output once more per call).

#define NR 32
#define MR 14
#define KC 384
#define MC (MR * 8)

size_t dl_packed_floats(int N, int K) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)K; }

// B (K,N), element (k,n) at src[n·sn + k·sk] -> panels of 32 columns, K×32 each, k-major, zero-padded.
static void pack_panels(float *packed, const float *src, int N, int K, size_t sn, size_t sk) {
    for (int p = 0; p * NR < N; p++) {
        float *dst = packed + (size_t)p * NR * K;
        for (int k = 0; k < K; k++)
            for (int j = 0; j < NR; j++) {
                int n = p * NR + j;
                dst[(size_t)k * NR + j] = n < N ? src[(size_t)n * sn + (size_t)k * sk] : 0.0f;
            }
    }
}

// W (N,K) -> packed B = W^T (K,N): the forward product out = X·W^T.
void dl_pack_nt(float *packed, const float *W, int N, int K) { pack_panels(packed, W, N, K, (size_t)K, 1); }

// W (K,N) -> packed B = W (K,N): the backward product dX += dOut·W, with W (out,in) = (K,N) here.
void dl_pack_nn(float *packed, const float *W, int K, int N) { pack_panels(packed, W, N, K, 1, (size_t)N); }

int dl_gemm_packed_available(void) {
    static int known = -1;
    if (known < 0) { __builtin_cpu_init(); known = __builtin_cpu_supports("avx512f") ? 1 : 0; }
    return known;
}

#define AVX512 __attribute__((target("avx512f")))

// c (mr,nr) = or += x (mr,kc; rows ldx apart) · b (kc,32) (+ bias when given). `store` writes, otherwise it adds to c.
// Columns at or past nr (the panel's padding) are not stored.
AVX512 static inline __attribute__((always_inline))
void tile(float *c, size_t ldc, const float *x, size_t ldx, const float *b, int kc, int mr, int nr, const float *bias, int store) {
    __m512 acc[MR][2];
    for (int i = 0; i < MR; i++) { acc[i][0] = _mm512_setzero_ps(); acc[i][1] = _mm512_setzero_ps(); }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(b + (size_t)k * NR), b1 = _mm512_load_ps(b + (size_t)k * NR + 16);
        for (int i = 0; i < MR; i++) {
            if (i >= mr) break;
            __m512 xi = _mm512_set1_ps(x[(size_t)i * ldx + k]);
            acc[i][0] = _mm512_fmadd_ps(xi, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(xi, b1, acc[i][1]);
        }
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (bias) { bias0 = _mm512_maskz_loadu_ps(m0, bias); bias1 = _mm512_maskz_loadu_ps(m1, bias + 16); }
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *row = c + (size_t)i * ldc;
        __m512 v0 = _mm512_add_ps(acc[i][0], bias0), v1 = _mm512_add_ps(acc[i][1], bias1);
        if (!store) { v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row)); v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row + 16)); }
        _mm512_mask_storeu_ps(row, m0, v0);
        _mm512_mask_storeu_ps(row + 16, m1, v1);
    }
}

// mr a constant in each case, so the accumulators live in registers.
AVX512 static void tile_rows(float *c, size_t ldc, const float *x, size_t ldx, const float *b, int kc, int mr, int nr,
                             const float *bias, int store) {
    switch (mr) {
#define CASE(n) case n: tile(c, ldc, x, ldx, b, kc, n, nr, bias, store); break;
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8) CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14)
#undef CASE
    default: break;
    }
}

// out (M,N) = or += X (M,K) · B (K,N) (+ bias (N)), B packed by dl_pack_nt or dl_pack_nn; X's rows m0..m1 and
// B's panels p0..p1 (columns 32·p0 ..< 32·p1) only, so threads split either way. `accumulate` adds to out.
AVX512 void dl_gemm_packed(float *out, const float *X, const float *packed, const float *bias,
                           int N, int K, int m0, int m1, int p0, int p1, int accumulate) {
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        int store = k0 == 0 && !accumulate;
        for (int mb = m0; mb < m1; mb += MC) {
            int mc = m1 - mb < MC ? m1 - mb : MC;
            for (int p = p0; p < p1; p++) {
                const float *b = packed + (size_t)p * NR * K + (size_t)k0 * NR;
                int n0 = p * NR, nr = N - n0 < NR ? N - n0 : NR;
                const float *bp = bias && k0 == 0 ? bias + n0 : NULL;
                for (int i0 = 0; i0 < mc; i0 += MR) {
                    int mr = mc - i0 < MR ? mc - i0 : MR;
                    tile_rows(out + (size_t)(mb + i0) * N + n0, (size_t)N, X + (size_t)(mb + i0) * K + k0, (size_t)K, b, kc, mr, nr, bp, store);
                }
            }
        }
    }
}

// out (M,N), rows ldc apart, = X (M,kc), rows ldx apart, · rows k0 ..< k0+kc of a packed B (K,N) (kc <= KC): one
// head's share of a product (SharedFirstLayer's O_h·v_s). Rows m0..m1; each row sums as in any other split.
AVX512 void dl_gemm_packed_slice(float *out, size_t ldc, const float *X, size_t ldx, const float *packed, int N, int K, int k0, int kc,
                                 int m0, int m1) {
    for (int mb = m0; mb < m1; mb += MC) {
        int mc = m1 - mb < MC ? m1 - mb : MC;
        for (int p = 0; p * NR < N; p++) {
            const float *b = packed + (size_t)p * NR * K + (size_t)k0 * NR;
            int n0 = p * NR, nr = N - n0 < NR ? N - n0 : NR;
            for (int i0 = 0; i0 < mc; i0 += MR) {
                int mr = mc - i0 < MR ? mc - i0 : MR;
                tile_rows(out + (size_t)(mb + i0) * ldc + n0, ldc, X + (size_t)(mb + i0) * ldx, ldx, b, kc, mr, nr, NULL, 1);
            }
        }
    }
}
