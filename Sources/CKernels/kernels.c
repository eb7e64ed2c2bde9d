#include "ckernels.h"
#include "kernels_internal.h"
#include "tiles.h"

// Feature-based clones: model-based ones ("arch=") miss CPUs newer than the compiler, as OpenBLAS does.
#define CLONES __attribute__((target_clones("avx512f", "fma", "default")))

typedef float v16 __attribute__((vector_size(64), aligned(4)));

// out[m][n] = Σ_k X[m][k] W[n][k]. Tiles of 4 W rows × 4 X rows: 8 loads feed 16 FMAs, so the loop is bound by
// arithmetic rather than loads; W comes from memory once per call when M <= 4, and from L2 otherwise.
__attribute__((target_clones("avx512f", "default")))
static void matmul_nt_wide(float *out, const float *X, const float *W, const float *bias, int M, int N, int K, int n0, int n1) {
    int K16 = K & ~15;
    for (int n = n0; n < n1; n += 4) {
        int nr = n1 - n < 4 ? n1 - n : 4;
        const float *w[4];
        for (int j = 0; j < 4; j++) w[j] = W + (size_t)(n + (j < nr ? j : 0)) * K;
        for (int m = 0; m < M; m += 4) {
            int mr = M - m < 4 ? M - m : 4;
            const float *x[4];
            for (int i = 0; i < 4; i++) x[i] = X + (size_t)(m + (i < mr ? i : 0)) * K;
            v16 a[4][4];
            for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) a[i][j] = (v16){0};
            // While the first X tile runs, the next 4 W rows are prefetched: the rows stream from memory under the
            // arithmetic instead of after it (about 1.35x on weights that are not in cache; the sums are unchanged).
            const float *next = W + (size_t)(n + 4) * K;
            int pf = m == 0 && n + 8 <= n1;
            for (int k = 0; k < K16; k += 16) {
                if (pf) { __builtin_prefetch(next + k); __builtin_prefetch(next + K + k); __builtin_prefetch(next + 2 * K + k); __builtin_prefetch(next + 3 * K + k); }
                v16 x0 = *(const v16 *)(x[0] + k), x1 = *(const v16 *)(x[1] + k), x2 = *(const v16 *)(x[2] + k), x3 = *(const v16 *)(x[3] + k);
                v16 w0 = *(const v16 *)(w[0] + k), w1 = *(const v16 *)(w[1] + k), w2 = *(const v16 *)(w[2] + k), w3 = *(const v16 *)(w[3] + k);
                a[0][0] += x0 * w0; a[0][1] += x0 * w1; a[0][2] += x0 * w2; a[0][3] += x0 * w3;
                a[1][0] += x1 * w0; a[1][1] += x1 * w1; a[1][2] += x1 * w2; a[1][3] += x1 * w3;
                a[2][0] += x2 * w0; a[2][1] += x2 * w1; a[2][2] += x2 * w2; a[2][3] += x2 * w3;
                a[3][0] += x3 * w0; a[3][1] += x3 * w1; a[3][2] += x3 * w2; a[3][3] += x3 * w3;
            }
            v16 sums = TILE_SUMS(a);
            for (int i = 0; i < mr; i++) {
                for (int j = 0; j < nr; j++) {
                    float s = sums[4 * i + j];
                    for (int k = K16; k < K; k++) s += x[i][k] * w[j][k];
                    out[(size_t)(m + i) * N + n + j] = s + (bias ? bias[n + j] : 0.0f);
                }
            }
        }
    }
}

// dX[m][k] += Σ_n dOut[m][n] W[n][k], for k in k0..k1. W is taken 64 rows at a time (a block that stays in L2)
// and every row of dOut is run against it, in register tiles of 4 rows × 64 columns, so W comes from memory once.
__attribute__((target_clones("avx512f", "default")))
static void matmul_nn_acc_wide(float *dX, const float *dOut, const float *W, int M, int N, int K, int k0, int k1) {
    const int NB = 64;
    for (int nb = 0; nb < N; nb += NB) {
        int ne = nb + NB < N ? nb + NB : N;
        for (int mb = 0; mb < M; mb += 4) {
            int mr = M - mb < 4 ? M - mb : 4;
            const float *g0 = dOut + (size_t)mb * N;
            const float *g1 = mr > 1 ? g0 + N : g0, *g2 = mr > 2 ? g0 + 2 * (size_t)N : g0, *g3 = mr > 3 ? g0 + 3 * (size_t)N : g0;
            int k = k0;
            for (; k + 64 <= k1; k += 64) {
                v16 a[4][4];
                for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) a[i][j] = (v16){0};
                // The first row tile prefetches the next block of W (as dl_matmul_nt does).
                int pf = mb == 0 && ne + NB <= N;
                for (int n = nb; n < ne; n++) {
                    const float *w = W + (size_t)n * K + k;
                    if (pf) { const float *q = w + (size_t)NB * K; __builtin_prefetch(q); __builtin_prefetch(q + 16); __builtin_prefetch(q + 32); __builtin_prefetch(q + 48); }
                    v16 w0 = *(const v16 *)w, w1 = *(const v16 *)(w + 16), w2 = *(const v16 *)(w + 32), w3 = *(const v16 *)(w + 48);
                    float s0 = g0[n], s1 = g1[n], s2 = g2[n], s3 = g3[n];
                    a[0][0] += s0 * w0; a[0][1] += s0 * w1; a[0][2] += s0 * w2; a[0][3] += s0 * w3;
                    a[1][0] += s1 * w0; a[1][1] += s1 * w1; a[1][2] += s1 * w2; a[1][3] += s1 * w3;
                    a[2][0] += s2 * w0; a[2][1] += s2 * w1; a[2][2] += s2 * w2; a[2][3] += s2 * w3;
                    a[3][0] += s3 * w0; a[3][1] += s3 * w1; a[3][2] += s3 * w2; a[3][3] += s3 * w3;
                }
                for (int i = 0; i < mr; i++) {
                    float *d = dX + (size_t)(mb + i) * K + k;
                    for (int j = 0; j < 4; j++) *(v16 *)(d + 16 * j) += a[i][j];
                }
            }
            for (; k < k1; k++) {   // columns left over when k1 - k0 is not a multiple of 64
                for (int i = 0; i < mr; i++) {
                    const float *g = dOut + (size_t)(mb + i) * N;
                    float acc = 0;
                    for (int n = nb; n < ne; n++) acc += g[n] * W[(size_t)n * K + k];
                    dX[(size_t)(mb + i) * K + k] += acc;
                }
            }
        }
    }
}

// Which small-M kernels run: the wide ones with AVX-512 (or without AVX2), the AVX2 ones (avx2.c) otherwise.
static int small_kernels = -1;   // 0 wide, 1 AVX2
static int pick_small_kernels(void) {
    if (small_kernels < 0) {
        __builtin_cpu_init();
        small_kernels = !__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return small_kernels;
}

int dl_small_kernels_avx2(int force) {
    if (force == 0) small_kernels = 0;
    else if (force > 0) { __builtin_cpu_init(); small_kernels = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
    return pick_small_kernels();
}

void dl_matmul_nt(float *out, const float *X, const float *W, const float *bias, int M, int N, int K, int n0, int n1) {
    if (pick_small_kernels()) dl_matmul_nt_avx2(out, X, W, bias, M, N, K, n0, n1);
    else matmul_nt_wide(out, X, W, bias, M, N, K, n0, n1);
}

void dl_matmul_nn_acc(float *dX, const float *dOut, const float *W, int M, int N, int K, int k0, int k1) {
    if (pick_small_kernels()) dl_matmul_nn_acc_avx2(dX, dOut, W, M, N, K, k0, k1);
    else matmul_nn_acc_wide(dX, dOut, W, M, N, K, k0, k1);
}

#include <math.h>

// p[r][j] = softmax(z[r][·] * invT)[j] for `rows` rows of length V. The sum is kept in double: 30k terms.
// exp is vectorised through glibc's libmvec (a few ulp, far below float32 round-off in the sums that follow).
// The max and the sum keep 16 partials: one running max or sum is a chain of 30k dependent operations (the max is
// the same in any order; the double sum differs from one chain only in its last bits).
CLONES
void dl_softmax_rows(float *p, const float *z, int rows, int V, float invT) {
    for (int r = 0; r < rows; r++) {
        const float *zr = z + (size_t)r * V;
        float *pr = p + (size_t)r * V;
        float lane[16];
        for (int l = 0; l < 16; l++) lane[l] = -INFINITY;
        int j = 0;
        for (; j + 16 <= V; j += 16)
            for (int l = 0; l < 16; l++) lane[l] = zr[j + l] > lane[l] ? zr[j + l] : lane[l];
        float mx = -INFINITY;
        for (int l = 0; l < 16; l++) mx = lane[l] > mx ? lane[l] : mx;
        for (; j < V; j++) mx = zr[j] > mx ? zr[j] : mx;
        mx *= invT;
        for (j = 0; j < V; j++) pr[j] = expf(zr[j] * invT - mx);
        double part[16] = {0};
        for (j = 0; j + 16 <= V; j += 16)
            for (int l = 0; l < 16; l++) part[l] += pr[j + l];
        double sum = 0;
        for (int l = 0; l < 16; l++) sum += part[l];
        for (; j < V; j++) sum += pr[j];
        float inv = (float)(1.0 / sum);
        for (j = 0; j < V; j++) pr[j] *= inv;
    }
}
// The softmax backward, in place: g[r][j] = p[r][j]·(g[r][j] − ⟨p_r, g_r⟩)·invT, and for PAIR's Gumbel form
// (p = softmax((log z + noise)/T)) divided by z[r][j] where z > 1e-10 (else 0). g has a large common component that
// the subtraction cancels, so the dot is summed in double, in 16 partials (one chain of 30k adds was the cost).
CLONES
void dl_softmax_backward_rows(float *g, const float *p, const float *z, int rows, int V, float invT, int gumbel) {
#pragma clang fp contract(off)
    for (int r = 0; r < rows; r++) {
        const float *pr = p + (size_t)r * V, *zr = z + (size_t)r * V;
        float *gr = g + (size_t)r * V;
        double part[16] = {0};
        int j = 0;
        for (; j + 16 <= V; j += 16)
            for (int l = 0; l < 16; l++) part[l] += (double)pr[j + l] * (double)gr[j + l];
        double dotD = 0;
        for (int l = 0; l < 16; l++) dotD += part[l];
        for (; j < V; j++) dotD += (double)pr[j] * (double)gr[j];
        float dot = (float)dotD;
        if (gumbel) {
            for (j = 0; j < V; j++) gr[j] = zr[j] > 1e-10f ? pr[j] * (gr[j] - dot) * invT / zr[j] : 0.0f;
        } else {
            for (j = 0; j < V; j++) gr[j] = pr[j] * (gr[j] - dot) * invT;
        }
    }
}
// LayerNorm over N rows of C (two passes, as torch's: mean, then the variance about it). Each reduction keeps 16
// partial sums in one vector: a single running sum is a chain of C dependent adds, which was most of the kernel's
// time. The order differs from the naive loop's, so results agree to float round-off, not to the bit.
// With `b`, the rows are a + b (a residual), written to `sum` for the backward, then normalised.
CLONES
void dl_layernorm(float *out, float *mean, float *rstd, float *sum, const float *a, const float *b,
                  const float *gamma, const float *beta, int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = a + (size_t)n * C;
        if (b) {
            float *s = sum + (size_t)n * C;
            const float *y = b + (size_t)n * C;
            for (int c = 0; c < C; c++) s[c] = x[c] + y[c];
            x = s;
        }
        float part[16] = {0};
        int c = 0;
        for (; c + 16 <= C; c += 16)
            for (int l = 0; l < 16; l++) part[l] += x[c + l];
        float m = 0;
        for (int l = 0; l < 16; l++) m += part[l];
        for (; c < C; c++) m += x[c];
        m /= (float)C;
        for (int l = 0; l < 16; l++) part[l] = 0;
        for (c = 0; c + 16 <= C; c += 16)
            for (int l = 0; l < 16; l++) { float d = x[c + l] - m; part[l] += d * d; }
        float v = 0;
        for (int l = 0; l < 16; l++) v += part[l];
        for (; c < C; c++) { float d = x[c] - m; v += d * d; }
        v /= (float)C;
        float s = 1.0f / sqrtf(v + eps);
        float *o = out + (size_t)n * C;
        for (c = 0; c < C; c++) o[c] = (x[c] - m) * s * gamma[c] + beta[c];
        mean[n] = m;
        rstd[n] = s;
    }
}
// dinp (N,C) += the LayerNorm backward of dout, from the forward's inp, mean, rstd; reductions in 16 partials as above.
CLONES
void dl_layernorm_backward(float *dinp, const float *dout, const float *inp, const float *mean, const float *rstd,
                           const float *gamma, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        float pD[16] = {0}, pDX[16] = {0};
        int c = 0;
        for (; c + 16 <= C; c += 16)
            for (int l = 0; l < 16; l++) {
                float xhat = (x[c + l] - m) * s, d = gamma[c + l] * dy[c + l];
                pD[l] += d; pDX[l] += d * xhat;
            }
        float meanD = 0, meanDX = 0;
        for (int l = 0; l < 16; l++) { meanD += pD[l]; meanDX += pDX[l]; }
        for (; c < C; c++) {
            float xhat = (x[c] - m) * s, d = gamma[c] * dy[c];
            meanD += d; meanDX += d * xhat;
        }
        meanD /= (float)C; meanDX /= (float)C;
        for (c = 0; c < C; c++) {
            float xhat = (x[c] - m) * s;
            dx[c] += s * (gamma[c] * dy[c] - meanD - xhat * meanDX);
        }
    }
}
// e^x for the GELU kernels, written out so the compiler inlines and vectorises it at the clone's full width (the
// libmvec call it replaces runs 8 lanes through the PLT even in the AVX-512 clone): x = k·ln2 + r with ln2 split in
// two (Cody-Waite), a degree-7 polynomial for e^r on |r| <= ln2/2 (Cephes' expf coefficients), and 2^k from the
// exponent bits. About 1 ulp; x is clamped to [-87, 88], where e^x stays a normal float.
static inline float dl_exp(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float k = rintf(x * 1.44269504088896341f);
    float r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int i; float f; } two_k = { .i = ((int)k + 127) << 23 };
    return p * two_k.f;
}
// erf through erfc(|x|) = t·exp(-x² + P(t)), t = 1/(1 + |x|/2) (Numerical Recipes' erfcc): fractional error
// below 1.2e-7, so within float32 round-off of libm's erff, and it vectorises.
static inline float dl_erf(float x) {
    float a = fabsf(x);
    float t = 1.0f / (1.0f + 0.5f * a);
    float poly = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f +
                 t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    float erfc = t * dl_exp(-a * a + poly);
    return x >= 0 ? 1.0f - erfc : erfc - 1.0f;
}
// out = 0.5 x (1 + erf(x / sqrt 2)), vectorised.
CLONES
void dl_gelu(float *out, const float *x, int n) {
    for (int i = 0; i < n; i++) out[i] = 0.5f * x[i] * (1.0f + dl_erf(x[i] * 0.70710678118654752f));
}
// dx += dout * (Φ(x) + x φ(x)), vectorised.
CLONES
void dl_gelu_backward(float *dx, const float *dout, const float *x, int n) {
    for (int i = 0; i < n; i++) {
        float cdf = 0.5f * (1.0f + dl_erf(x[i] * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * dl_exp(-0.5f * x[i] * x[i]);
        dx[i] += dout[i] * (cdf + x[i] * pdf);
    }
}
// One Adam step over n parameters, as PyTorch's: g ← gscale·grad (−1 to climb), m ← β1·m + (1−β1)·g,
// v ← β2·v + (1−β2)·g², p ← p − stepSize·m / (√v / √bc2 + ε). Vectorised; no fused multiply-adds, so the sums round
// as the scalar formula's do.
CLONES
void dl_adam(float *p, float *m, float *v, const float *grad, size_t n, float gscale,
             float beta1, float beta2, float stepSize, float bc2Sqrt, float eps) {
#pragma clang fp contract(off)
    for (size_t i = 0; i < n; i++) {
        float g = gscale * grad[i];
        m[i] = beta1 * m[i] + (1 - beta1) * g;
        v[i] = beta2 * v[i] + (1 - beta2) * g * g;
        p[i] -= stepSize * m[i] / (sqrtf(v[i]) / bc2Sqrt + eps);
    }
}

#include <malloc.h>
// Keep freed activation buffers in the heap: a fresh mmap per batch costs a page fault per 4 KB touched.
void dl_configure_malloc(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

// sum of x[0..n): a streaming read, for the bandwidth probe in dreamlab bench.
float dl_sum(const float *x, int n) {
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += x[i + j];
    float s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    for (; i < n; i++) s += x[i];
    return s;
}

