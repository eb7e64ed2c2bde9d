#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "ckernels.h"

// The opt-in bf16 mode's kernels. Weights and inputs are bf16 (the top half of a float32), sums are float32.
// With AVX512_BF16 one vdpbf16ps does 32 multiply-adds where an fp32 FMA does 16, on half the bytes; elsewhere a
// plain kernel widens bf16 to float32 and runs the same tiles.

// float32 -> bf16, rounding to nearest even (NaN stays NaN).
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// src (n) float32 -> dst (n) bf16.
void dl_to_bf16(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = to_bf16(src[i]);
}

// src (n) bf16 -> dst (n) float32.
void dl_from_bf16(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = from_bf16(src[i]);
}

// src (rows,cols) float32 -> dst (cols,rows) bf16: the transposed copy the backward products read.
void dl_to_bf16_transposed(uint16_t *dst, const float *src, int rows, int cols) {
    const int B = 32;
    for (int r0 = 0; r0 < rows; r0 += B)
        for (int c0 = 0; c0 < cols; c0 += B)
            for (int c = c0; c < c0 + B && c < cols; c++)
                for (int r = r0; r < r0 + B && r < rows; r++)
                    dst[(size_t)c * rows + r] = to_bf16(src[(size_t)r * cols + c]);
}

// out (M,N) (+)= X (M,K) · W (N,K)^T (+ bias (N)), X and W bf16; rows n0..n1 of W only. `accumulate` adds to out.
// Tiles of 4 W rows × 4 X rows as dl_matmul_nt; the next 4 W rows are prefetched while the first X tile runs.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void nt_bf16_avx512bf16(float *out, const uint16_t *X, const uint16_t *W, const float *bias,
                               int M, int N, int K, int n0, int n1, int accumulate) {
    int K32 = K & ~31;
    __mmask32 tail = (__mmask32)((1ull << (K - K32)) - 1);
    for (int n = n0; n < n1; n += 4) {
        int nr = n1 - n < 4 ? n1 - n : 4;
        const uint16_t *w[4];
        for (int j = 0; j < 4; j++) w[j] = W + (size_t)(n + (j < nr ? j : 0)) * K;
        const uint16_t *next = W + (size_t)(n + 4) * K;
        for (int m = 0; m < M; m += 4) {
            int mr = M - m < 4 ? M - m : 4;
            const uint16_t *x[4];
            for (int i = 0; i < 4; i++) x[i] = X + (size_t)(m + (i < mr ? i : 0)) * K;
            __m512 a[4][4];
            for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) a[i][j] = _mm512_setzero_ps();
            int pf = m == 0 && n + 8 <= n1;
            for (int k = 0; k < K32; k += 32) {
                if (pf) { _mm_prefetch((const char *)(next + k), _MM_HINT_T0); _mm_prefetch((const char *)(next + K + k), _MM_HINT_T0);
                          _mm_prefetch((const char *)(next + 2 * (size_t)K + k), _MM_HINT_T0); _mm_prefetch((const char *)(next + 3 * (size_t)K + k), _MM_HINT_T0); }
                __m512bh x0 = (__m512bh)_mm512_loadu_si512(x[0] + k), x1 = (__m512bh)_mm512_loadu_si512(x[1] + k);
                __m512bh x2 = (__m512bh)_mm512_loadu_si512(x[2] + k), x3 = (__m512bh)_mm512_loadu_si512(x[3] + k);
                __m512bh w0 = (__m512bh)_mm512_loadu_si512(w[0] + k), w1 = (__m512bh)_mm512_loadu_si512(w[1] + k);
                __m512bh w2 = (__m512bh)_mm512_loadu_si512(w[2] + k), w3 = (__m512bh)_mm512_loadu_si512(w[3] + k);
                a[0][0] = _mm512_dpbf16_ps(a[0][0], x0, w0); a[0][1] = _mm512_dpbf16_ps(a[0][1], x0, w1);
                a[0][2] = _mm512_dpbf16_ps(a[0][2], x0, w2); a[0][3] = _mm512_dpbf16_ps(a[0][3], x0, w3);
                a[1][0] = _mm512_dpbf16_ps(a[1][0], x1, w0); a[1][1] = _mm512_dpbf16_ps(a[1][1], x1, w1);
                a[1][2] = _mm512_dpbf16_ps(a[1][2], x1, w2); a[1][3] = _mm512_dpbf16_ps(a[1][3], x1, w3);
                a[2][0] = _mm512_dpbf16_ps(a[2][0], x2, w0); a[2][1] = _mm512_dpbf16_ps(a[2][1], x2, w1);
                a[2][2] = _mm512_dpbf16_ps(a[2][2], x2, w2); a[2][3] = _mm512_dpbf16_ps(a[2][3], x2, w3);
                a[3][0] = _mm512_dpbf16_ps(a[3][0], x3, w0); a[3][1] = _mm512_dpbf16_ps(a[3][1], x3, w1);
                a[3][2] = _mm512_dpbf16_ps(a[3][2], x3, w2); a[3][3] = _mm512_dpbf16_ps(a[3][3], x3, w3);
            }
            if (K32 < K) {   // the last K % 32 columns, masked (zeros add nothing)
                __m512bh xt[4], wt[4];
                for (int i = 0; i < 4; i++) xt[i] = (__m512bh)_mm512_maskz_loadu_epi16(tail, x[i] + K32);
                for (int j = 0; j < 4; j++) wt[j] = (__m512bh)_mm512_maskz_loadu_epi16(tail, w[j] + K32);
                for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) a[i][j] = _mm512_dpbf16_ps(a[i][j], xt[i], wt[j]);
            }
            for (int i = 0; i < mr; i++) {
                for (int j = 0; j < nr; j++) {
                    float s = _mm512_reduce_add_ps(a[i][j]) + (bias ? bias[n + j] : 0.0f);
                    float *o = out + (size_t)(m + i) * N + n + j;
                    *o = accumulate ? *o + s : s;
                }
            }
        }
    }
}

typedef float v16 __attribute__((vector_size(64), aligned(4)));

// The same product without AVX512_BF16: bf16 widened to float32 (exact), then fp32 FMAs.
__attribute__((target_clones("avx512f", "fma", "default")))
static void nt_bf16_plain(float *out, const uint16_t *X, const uint16_t *W, const float *bias,
                          int M, int N, int K, int n0, int n1, int accumulate) {
    int K16 = K & ~15;
    for (int n = n0; n < n1; n += 4) {
        int nr = n1 - n < 4 ? n1 - n : 4;
        const uint16_t *w[4];
        for (int j = 0; j < 4; j++) w[j] = W + (size_t)(n + (j < nr ? j : 0)) * K;
        for (int m = 0; m < M; m += 4) {
            int mr = M - m < 4 ? M - m : 4;
            const uint16_t *x[4];
            for (int i = 0; i < 4; i++) x[i] = X + (size_t)(m + (i < mr ? i : 0)) * K;
            v16 a[4][4];
            for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) a[i][j] = (v16){0};
            for (int k = 0; k < K16; k += 16) {
                v16 xv[4], wv[4];
                for (int i = 0; i < 4; i++) for (int e = 0; e < 16; e++) xv[i][e] = from_bf16(x[i][k + e]);
                for (int j = 0; j < 4; j++) for (int e = 0; e < 16; e++) wv[j][e] = from_bf16(w[j][k + e]);
                for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) a[i][j] += xv[i] * wv[j];
            }
            for (int i = 0; i < mr; i++) {
                for (int j = 0; j < nr; j++) {
                    float s = 0;
                    for (int e = 0; e < 16; e++) s += a[i][j][e];
                    for (int k = K16; k < K; k++) s += from_bf16(x[i][k]) * from_bf16(w[j][k]);
                    s += bias ? bias[n + j] : 0.0f;
                    float *o = out + (size_t)(m + i) * N + n + j;
                    *o = accumulate ? *o + s : s;
                }
            }
        }
    }
}

int dl_has_avx512_bf16(void) {
    static int known = -1;
    if (known < 0) { __builtin_cpu_init(); known = __builtin_cpu_supports("avx512bf16") ? 1 : 0; }
    return known;
}

// 1: use the AVX512_BF16 kernel where the CPU has it; 0: always the plain one (tests compare the two).
static int use_native = 1;
void dl_bf16_use_native(int on) { use_native = on; }

void dl_matmul_nt_bf16(float *out, const uint16_t *X, const uint16_t *W, const float *bias,
                       int M, int N, int K, int n0, int n1, int accumulate) {
    if (use_native && dl_has_avx512_bf16()) nt_bf16_avx512bf16(out, X, W, bias, M, N, K, n0, n1, accumulate);
    else nt_bf16_plain(out, X, W, bias, M, N, K, n0, n1, accumulate);
}
