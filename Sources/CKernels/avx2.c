#include <immintrin.h>
#include "ckernels.h"
#include "kernels_internal.h"

// The small-M products for CPUs with AVX2 and FMA but no AVX-512 (Zen 1-3, Haswell to Alder Lake). The wide kernels'
// 4x4 tiles of 16-float accumulators need 32 ymm registers where AVX2 has 16, so their AVX2 clone spills every
// multiply-add; these tiles hold 12 accumulators, the operands they share, and nothing else.

#define AVX2 __attribute__((target("avx2,fma")))

// The totals of four 8-lane accumulators, as one 4-lane vector (lane j = Σ a_j).
AVX2 static inline __m128 sum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

// MR x-rows (1...3) × 4 W rows: out[m+i][n+j] = Σ_k x_i[k] w_j[k] (+ bias). MR is a constant where it is inlined,
// so each row count gets its own unrolled loop. `pf` prefetches the next 4 W rows while this tile runs.
AVX2 static inline __attribute__((always_inline))
void nt_tile(float *out, int ldo, const float *const *x, const float *const *w, const float *next, int K, int MR, int nr,
             const float *bias, int pf) {
    __m256 a[3][4];
    for (int i = 0; i < 3; i++) for (int j = 0; j < 4; j++) a[i][j] = _mm256_setzero_ps();
    int K8 = K & ~7, k = 0;
    for (; k < K8; k += 8) {
        if (pf && (k & 15) == 0) for (int j = 0; j < 4; j++) __builtin_prefetch(next + (size_t)j * K + k);
        __m256 xv[3];
        for (int i = 0; i < MR; i++) xv[i] = _mm256_loadu_ps(x[i] + k);
        for (int j = 0; j < 4; j++) {
            __m256 wv = _mm256_loadu_ps(w[j] + k);
            for (int i = 0; i < MR; i++) a[i][j] = _mm256_fmadd_ps(xv[i], wv, a[i][j]);
        }
    }
    for (int i = 0; i < MR; i++) {
        float s[4];
        _mm_storeu_ps(s, sum4(a[i][0], a[i][1], a[i][2], a[i][3]));
        for (int j = 0; j < nr; j++) {
            float t = s[j];
            for (int kk = K8; kk < K; kk++) t += x[i][kk] * w[j][kk];
            out[(size_t)i * ldo + j] = t + (bias ? bias[j] : 0.0f);
        }
    }
}

// out (M,N) = X (M,K) · W (N,K)^T (+ bias), rows n0..n1 of W. Each 4-row W tile (in L1) meets every X row in turn.
AVX2 void dl_matmul_nt_avx2(float *out, const float *X, const float *W, const float *bias, int M, int N, int K, int n0, int n1) {
    for (int n = n0; n < n1; n += 4) {
        int nr = n1 - n < 4 ? n1 - n : 4;
        const float *w[4];
        for (int j = 0; j < 4; j++) w[j] = W + (size_t)(n + (j < nr ? j : 0)) * K;
        const float *next = W + (size_t)(n + 4) * K;
        const float *b = bias ? bias + n : 0;
        for (int m = 0; m < M;) {
            // Rows in threes; a remainder of 4 goes as 2 + 2, so no tile computes rows it throws away.
            int left = M - m, mr = left == 4 ? 2 : (left < 3 ? left : 3);
            const float *x[3] = {X + (size_t)m * K, X + (size_t)(m + (mr > 1)) * K, X + (size_t)(m + 2 * (mr > 2)) * K};
            int pf = m == 0 && n + 8 <= n1;
            float *o = out + (size_t)m * N + n;
            if (mr == 3) { if (pf) nt_tile(o, N, x, w, next, K, 3, nr, b, 1); else nt_tile(o, N, x, w, next, K, 3, nr, b, 0); }
            else if (mr == 2) { if (pf) nt_tile(o, N, x, w, next, K, 2, nr, b, 1); else nt_tile(o, N, x, w, next, K, 2, nr, b, 0); }
            else nt_tile(o, N, x, w, next, K, 1, nr, b, pf);
            m += mr;
        }
    }
}

// MR dOut rows (1...4) × CV 8-column vectors: dX[mb+i][k..k+8·CV) += Σ_{n in nb..ne} g_i[n] W[n][k..].
AVX2 static inline __attribute__((always_inline))
void nn_tile(float *dX, const float *const *g, const float *W, int K, int k, int nb, int ne, int NB, int MR, int CV, int pf) {
    __m256 a[4][3];
    for (int i = 0; i < 4; i++) for (int j = 0; j < 3; j++) a[i][j] = _mm256_setzero_ps();
    for (int n = nb; n < ne; n++) {
        const float *w = W + (size_t)n * K + k;
        if (pf) __builtin_prefetch(w + (size_t)NB * K);
        __m256 wv[3];
        for (int j = 0; j < CV; j++) wv[j] = _mm256_loadu_ps(w + 8 * j);
        for (int i = 0; i < MR; i++) {
            __m256 s = _mm256_broadcast_ss(g[i] + n);
            for (int j = 0; j < CV; j++) a[i][j] = _mm256_fmadd_ps(s, wv[j], a[i][j]);
        }
    }
    for (int i = 0; i < MR; i++) {
        float *d = dX + (size_t)i * K + k;
        for (int j = 0; j < CV; j++) _mm256_storeu_ps(d + 8 * j, _mm256_add_ps(_mm256_loadu_ps(d + 8 * j), a[i][j]));
    }
}

// One strip of CV vectors for mr rows: a constant CV and a switch on mr give each tile shape its own unrolled loop.
AVX2 static inline __attribute__((always_inline))
void nn_strip(float *dX, const float *const *g, const float *W, int K, int k, int nb, int ne, int NB, int mr, int CV, int pf) {
    switch (mr) {
    case 4: nn_tile(dX, g, W, K, k, nb, ne, NB, 4, CV, pf); break;
    case 3: nn_tile(dX, g, W, K, k, nb, ne, NB, 3, CV, pf); break;
    case 2: nn_tile(dX, g, W, K, k, nb, ne, NB, 2, CV, pf); break;
    default: nn_tile(dX, g, W, K, k, nb, ne, NB, 1, CV, pf); break;
    }
}

// dX (M,K) += dOut (M,N) · W (N,K), columns k0..k1. W is taken 64 rows at a time (a block that stays in L2), and every
// dOut row tile runs against it in 24-column strips, so W comes from memory once.
AVX2 void dl_matmul_nn_acc_avx2(float *dX, const float *dOut, const float *W, int M, int N, int K, int k0, int k1) {
    const int NB = 64;
    for (int nb = 0; nb < N; nb += NB) {
        int ne = nb + NB < N ? nb + NB : N;
        for (int mb = 0; mb < M; mb += 4) {
            int mr = M - mb < 4 ? M - mb : 4;
            const float *g[4];
            for (int i = 0; i < 4; i++) g[i] = dOut + (size_t)(mb + (i < mr ? i : 0)) * N;
            float *d = dX + (size_t)mb * K;
            int pf = mb == 0 && ne + NB <= N;
            int k = k0;
            for (; k + 24 <= k1; k += 24) nn_strip(d, g, W, K, k, nb, ne, NB, mr, 3, pf);
            for (; k + 8 <= k1; k += 8) nn_strip(d, g, W, K, k, nb, ne, NB, mr, 1, pf);
            for (; k < k1; k++) {   // columns left over when k1 - k0 is not a multiple of 8
                for (int i = 0; i < mr; i++) {
                    float acc = 0;
                    for (int n = nb; n < ne; n++) acc += g[i][n] * W[(size_t)n * K + k];
                    d[(size_t)i * K + k] += acc;
                }
            }
        }
    }
}
