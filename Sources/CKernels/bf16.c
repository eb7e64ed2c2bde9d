#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "ckernels.h"
#include "tiles.h"

// The opt-in bf16 mode's kernels. Weights and inputs are bf16 (the top half of a float32), sums are float32.
// With AVX512_BF16 one vdpbf16ps does 32 multiply-adds where an fp32 FMA does 16, on half the bytes. The plain kernel
// widens bf16 to float32 and runs the same tiles: the reference the tests hold the native one to. (Without
// AVX512_BF16 the model runs the fp32 kernels on bf16-rounded values instead, which is faster: Precision.swift.)

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

// src (n) float32 -> dst (n) float32 rounded to bf16 values (what the products see where the CPU lacks AVX512_BF16).
void dl_round_bf16(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = from_bf16(to_bf16(src[i]));
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

typedef float v4f __attribute__((vector_size(16), aligned(4)));

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// One 4x4 tile: a[i][j] = Σ_k x_i[k] w_j[k] over K columns (K % 32 masked). x_i = x + i·ld, w_j = w + j·ld. With
// `prefetch`, the next 4 W rows (at w + 4·ld) are fetched while this tile computes. Inlined with a constant
// `prefetch`, so the common loop carries no test and no spilled pointers.
BF16_TARGET static inline __attribute__((always_inline))
__m512 tile_bf16(const uint16_t *x, const uint16_t *w, size_t ld, int K, int prefetch) {
    __m512 a[4][4];
    for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) a[i][j] = _mm512_setzero_ps();
    int K32 = K & ~31;
    const uint16_t *next = w + 4 * ld;
    for (int k = 0; k < K32; k += 32) {
        if (prefetch) {
            _mm_prefetch((const char *)(next + k), _MM_HINT_T0); _mm_prefetch((const char *)(next + ld + k), _MM_HINT_T0);
            _mm_prefetch((const char *)(next + 2 * ld + k), _MM_HINT_T0); _mm_prefetch((const char *)(next + 3 * ld + k), _MM_HINT_T0);
        }
        __m512bh xv[4], wv[4];
        for (int i = 0; i < 4; i++) xv[i] = (__m512bh)_mm512_loadu_si512(x + i * ld + k);
        for (int j = 0; j < 4; j++) wv[j] = (__m512bh)_mm512_loadu_si512(w + j * ld + k);
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) a[i][j] = _mm512_dpbf16_ps(a[i][j], xv[i], wv[j]);
    }
    if (K32 < K) {   // the last K % 32 columns, masked (zeros add nothing)
        __mmask32 tail = (__mmask32)((1ull << (K - K32)) - 1);
        __m512bh xv[4], wv[4];
        for (int i = 0; i < 4; i++) xv[i] = (__m512bh)_mm512_maskz_loadu_epi16(tail, x + i * ld + K32);
        for (int j = 0; j < 4; j++) wv[j] = (__m512bh)_mm512_maskz_loadu_epi16(tail, w + j * ld + K32);
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) a[i][j] = _mm512_dpbf16_ps(a[i][j], xv[i], wv[j]);
    }
    return TILE_SUMS(a);
}

// out (M,N) (+)= X (M,K) · W (N,K)^T (+ bias (N)), X and W bf16 with rows ld apart (K <= 1024, the driver's blocks);
// rows n0..n1 of W only. `accumulate` adds to out. Tiles of 4 W rows × 4 X rows as dl_matmul_nt. A partial tile at
// an edge is computed as the whole tile ending there (rows already written are computed again and dropped).
BF16_TARGET
static void nt_bf16_avx512bf16(float *out, const uint16_t *X, const uint16_t *W, const float *bias,
                               int M, int N, int ld, int K, int n0, int n1, int accumulate) {
    for (int n = n0; n < n1; n += 4) {
        int nb = n1 - n >= 4 ? n : n1 - 4;   // the tile's first W row (may reach below n0: W is only read)
        for (int m = 0; m < M; m += 4) {
            int mb = M - m >= 4 ? m : M - 4;
            if (nb < 0 || mb < 0) {
                // Fewer than 4 rows in all: a zero-padded copy of the rows.
                uint16_t xs[4 * 1024], ws[4 * 1024];
                int mr = M - m < 4 ? M - m : 4, nr = n1 - n < 4 ? n1 - n : 4;
                for (int i = 0; i < 4; i++) for (int k = 0; k < K; k++) xs[i * K + k] = i < mr ? X[(size_t)(m + i) * ld + k] : 0;
                for (int j = 0; j < 4; j++) for (int k = 0; k < K; k++) ws[j * K + k] = j < nr ? W[(size_t)(n + j) * ld + k] : 0;
                __m512 sums = tile_bf16(xs, ws, (size_t)K, K, 0);
                for (int i = 0; i < mr; i++) for (int j = 0; j < nr; j++) {
                    float s = sums[4 * i + j] + (bias ? bias[n + j] : 0.0f);
                    float *o = out + (size_t)(m + i) * N + n + j;
                    *o = accumulate ? *o + s : s;
                }
                continue;
            }
            const uint16_t *x = X + (size_t)mb * ld, *w = W + (size_t)nb * ld;
            __m512 sums = m == 0 && nb == n && n + 8 <= n1 ? tile_bf16(x, w, ld, K, 1) : tile_bf16(x, w, ld, K, 0);
            if (mb == m && nb == n) {
                v4f b4 = bias ? *(const v4f *)(bias + n) : (v4f){0};
                v4f rows[4] = { __builtin_shufflevector(sums, sums, 0, 1, 2, 3), __builtin_shufflevector(sums, sums, 4, 5, 6, 7),
                                __builtin_shufflevector(sums, sums, 8, 9, 10, 11), __builtin_shufflevector(sums, sums, 12, 13, 14, 15) };
                for (int i = 0; i < 4; i++) {
                    v4f *o = (v4f *)(out + (size_t)(m + i) * N + n);
                    *o = accumulate ? *o + rows[i] + b4 : rows[i] + b4;
                }
                continue;
            }
            for (int i = m - mb; i < 4; i++) for (int j = n - nb; j < 4; j++) {
                float s = sums[4 * i + j] + (bias ? bias[nb + j] : 0.0f);
                float *o = out + (size_t)(mb + i) * N + nb + j;
                *o = accumulate ? *o + s : s;
            }
        }
    }
}

typedef float v16 __attribute__((vector_size(64), aligned(4)));

// The same product without AVX512_BF16: bf16 widened to float32 (exact), then fp32 FMAs.
__attribute__((target_clones("avx512f", "fma", "default")))
static void nt_bf16_plain(float *out, const uint16_t *X, const uint16_t *W, const float *bias,
                          int M, int N, int ld, int K, int n0, int n1, int accumulate) {
    int K16 = K & ~15;
    for (int n = n0; n < n1; n += 4) {
        int nr = n1 - n < 4 ? n1 - n : 4;
        const uint16_t *w[4];
        for (int j = 0; j < 4; j++) w[j] = W + (size_t)(n + (j < nr ? j : 0)) * ld;
        for (int m = 0; m < M; m += 4) {
            int mr = M - m < 4 ? M - m : 4;
            const uint16_t *x[4];
            for (int i = 0; i < 4; i++) x[i] = X + (size_t)(m + (i < mr ? i : 0)) * ld;
            v16 a[4][4];
            for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) a[i][j] = (v16){0};
            for (int k = 0; k < K16; k += 16) {
                v16 xv[4], wv[4];
                for (int i = 0; i < 4; i++) for (int e = 0; e < 16; e++) xv[i][e] = from_bf16(x[i][k + e]);
                for (int j = 0; j < 4; j++) for (int e = 0; e < 16; e++) wv[j][e] = from_bf16(w[j][k + e]);
                for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) a[i][j] += xv[i] * wv[j];
            }
            v16 sums = TILE_SUMS(a);
            for (int i = 0; i < mr; i++) {
                for (int j = 0; j < nr; j++) {
                    float s = sums[4 * i + j];
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
int dl_bf16_native(void) { return use_native && dl_has_avx512_bf16(); }

// Blocks that keep the reused operand in cache: an X block of 96 rows × 1024 columns (192 KB) stays in L2 while every
// W tile (4 × 1024, 8 KB, in L1) runs against it. Without them a 1536-row or 30522-column X streamed from L3 once per
// W tile (the discrete method's candidates, p·E at restarts=8).
#define BLOCK_ROWS 96
#define BLOCK_COLS 1024

void dl_matmul_nt_bf16(float *out, const uint16_t *X, const uint16_t *W, const float *bias,
                       int M, int N, int K, int n0, int n1, int accumulate) {
    void (*kernel)(float *, const uint16_t *, const uint16_t *, const float *, int, int, int, int, int, int, int) =
        use_native && dl_has_avx512_bf16() ? nt_bf16_avx512bf16 : nt_bf16_plain;
    for (int m0 = 0; m0 < M; m0 += BLOCK_ROWS) {
        int mb = M - m0 < BLOCK_ROWS ? M - m0 : BLOCK_ROWS;
        for (int k0 = 0; k0 < K || k0 == 0; k0 += BLOCK_COLS) {
            int kb = K - k0 < BLOCK_COLS ? K - k0 : BLOCK_COLS;
            kernel(out + (size_t)m0 * N, X + (size_t)m0 * K + k0, W + k0, k0 == 0 ? bias : NULL, mb, N, K, kb, n0, n1,
                   accumulate || k0 > 0);
        }
    }
}
