#include <math.h>
#include "ckernels.h"
#include "tiles.h"

typedef float v16 __attribute__((vector_size(64), aligned(4)));
#define CLONES __attribute__((target_clones("avx512f", "fma", "default")))
#define INLINE static inline __attribute__((always_inline))

// g[i][j..j+jr] = d_i · e_c for MR <= 4 rows of d against 4 rows e[0..3] of E: 16 dot products in registers.
// `ahead` > 0: the same 4 rows that far ahead are pulled into L2 meanwhile (the pass is otherwise bound by waiting for
// E's rows to arrive from memory).
INLINE void dots_tile(float *g, const float *d, const float *const *e, int MR, int jr, int nb, int H, size_t ahead) {
    int H16 = H & ~15;
    v16 a[4][4];
    for (int i = 0; i < 4; i++) for (int c = 0; c < 4; c++) a[i][c] = (v16){0};
    for (int h = 0; h < H16; h += 16) {
        if (ahead)
            for (int c = 0; c < 4; c++) __builtin_prefetch(e[c] + ahead + h, 0, 2);
        v16 w0 = *(const v16 *)(e[0] + h), w1 = *(const v16 *)(e[1] + h), w2 = *(const v16 *)(e[2] + h), w3 = *(const v16 *)(e[3] + h);
        for (int i = 0; i < MR; i++) {
            v16 x = *(const v16 *)(d + (size_t)i * H + h);
            a[i][0] += x * w0; a[i][1] += x * w1; a[i][2] += x * w2; a[i][3] += x * w3;
        }
    }
    v16 sums = TILE_SUMS(a);
    for (int i = 0; i < MR; i++)
        for (int c = 0; c < jr; c++) {
            float t = sums[4 * i + c];
            for (int h = H16; h < H; h++) t += d[(size_t)i * H + h] * e[c][h];
            g[(size_t)i * nb + c] = t;
        }
}

// acc (MR,H) += ev (MR,nb) · Eb (nb,H) for MR <= 10 rows: 32 columns of acc in 2·MR registers while the block's rows
// stream past, each E value used by every row.
INLINE void mix_tile(float *acc, const float *ev, const float *Eb, int MR, int nb, int H) {
    int H32 = H & ~31;
    for (int h = 0; h < H32; h += 32) {
        v16 a0[10], a1[10];
        for (int i = 0; i < MR; i++) { a0[i] = (v16){0}; a1[i] = (v16){0}; }
        for (int j = 0; j < nb; j++) {
            v16 w0 = *(const v16 *)(Eb + (size_t)j * H + h), w1 = *(const v16 *)(Eb + (size_t)j * H + h + 16);
            for (int i = 0; i < MR; i++) { float x = ev[(size_t)i * nb + j]; a0[i] += x * w0; a1[i] += x * w1; }
        }
        for (int i = 0; i < MR; i++) {
            *(v16 *)(acc + (size_t)i * H + h) += a0[i];
            *(v16 *)(acc + (size_t)i * H + h + 16) += a1[i];
        }
    }
    for (int h = H32; h < H; h++)
        for (int i = 0; i < MR; i++) {
            float t = 0;
            for (int j = 0; j < nb; j++) t += ev[(size_t)i * nb + j] * Eb[(size_t)j * H + h];
            acc[(size_t)i * H + h] += t;
        }
}

// The two block products over all rows, in tiles whose row counts are constants (so their loops unroll and the
// accumulators stay in registers). Rows go in near-even tiles: 10 rows run as 3+3+4 dots and one mix tile of 10.
INLINE void block_dots(float *g, const float *d, const float *Eb, int rows, int nb, int H, size_t ahead) {
    int tiles = (rows + 3) / 4;
    for (int j = 0; j < nb; j += 4) {   // 4 rows of E (in L1) against every row of d
        int jr = nb - j < 4 ? nb - j : 4;
        const float *e[4];
        for (int c = 0; c < 4; c++) e[c] = Eb + (size_t)(j + (c < jr ? c : 0)) * H;
        for (int t = 0, r = 0, mr; t < tiles; t++, r += mr) {
            mr = (rows - r) / (tiles - t);
            float *gt = g + (size_t)r * nb + j;
            const float *dt = d + (size_t)r * H;
            switch (mr) {
                case 4: dots_tile(gt, dt, e, 4, jr, nb, H, t == 0 ? ahead : 0); break;
                case 3: dots_tile(gt, dt, e, 3, jr, nb, H, t == 0 ? ahead : 0); break;
                case 2: dots_tile(gt, dt, e, 2, jr, nb, H, t == 0 ? ahead : 0); break;
                default: dots_tile(gt, dt, e, 1, jr, nb, H, t == 0 ? ahead : 0); break;
            }
        }
    }
}
INLINE void block_mix(float *acc, const float *ev, const float *Eb, int rows, int nb, int H) {
    int tiles = (rows + 9) / 10;
    for (int t = 0, r = 0, mr; t < tiles; t++, r += mr) {
        mr = (rows - r) / (tiles - t);
        float *at = acc + (size_t)r * H;
        const float *et = ev + (size_t)r * nb;
        switch (mr) {
            case 10: mix_tile(at, et, Eb, 10, nb, H); break;
            case 9: mix_tile(at, et, Eb, 9, nb, H); break;
            case 8: mix_tile(at, et, Eb, 8, nb, H); break;
            case 7: mix_tile(at, et, Eb, 7, nb, H); break;
            case 6: mix_tile(at, et, Eb, 6, nb, H); break;
            case 5: mix_tile(at, et, Eb, 5, nb, H); break;
            case 4: mix_tile(at, et, Eb, 4, nb, H); break;
            case 3: mix_tile(at, et, Eb, 3, nb, H); break;
            case 2: mix_tile(at, et, Eb, 2, nb, H); break;
            default: mix_tile(at, et, Eb, 1, nb, H); break;
        }
    }
}

// One update of PAIR's softmax relaxation over the vocabulary range v0..v1, in one pass over E's rows. Per block of
// 64 tokens (96 KB of E for H=384, kept in L2 while it is used twice):
//   g  = dRows · E_blk^T                   the gradient w.r.t. p (rows, 64)
//   dz = p ⊙ (g − dot) · invT              the softmax backward; dot_r = ⟨p_r, g_r⟩ = ⟨dRows_r, x_r⟩ with x = p·E
//                                          (divided by z where z > 1e-10, else 0, for PAIR's Gumbel log form)
//   z, m, v ← Adam(z, m, v, −dz)           climbing, as dl_adam
//   t  = (u + noiseNext) · invTNext        the next softmax's argument, written to t; u = z, or log(max(z, 1e-10))
//                                          in the log form; noiseNext (nullable) the next step's Gumbel noise
//   acc += exp(t − mx) · E_blk             the next soft rows, unnormalised against a running max mx per row
// Unfused, a step reads E twice (p·E before the forward, dRows·E^T after the backward) and streams the (rows,V) arrays
// through four separate passes. Outputs per row: mx, the double sum of exp(t − mx), the argmax of u + noiseArg
// (first index on ties; noiseArg nullable: the noise the argmax input is drawn with) and its value. `scratch` holds 2·rows·64 floats. t may not alias p.
CLONES
void dl_relaxed_step(float *z, const float *p, float *t, float *m, float *v, float *acc, float *mx, double *sum, int *best, float *bestZ,
                     const float *E, const float *dRows, const float *dot, int rows, int V, int H, int v0, int v1,
                     float invT, float invTNext, float beta1, float beta2, float stepSize, float bc2Sqrt, float eps,
                     const float *noiseNext, const float *noiseArg, int logForm, float *scratch) {
#pragma clang fp contract(off)
    enum { VB = 64 };
    for (int r = 0; r < rows; r++) { mx[r] = -INFINITY; sum[r] = 0; best[r] = v0; bestZ[r] = -INFINITY; }
    for (int i = 0; i < rows * H; i++) acc[i] = 0;
    float *g = scratch, *e = scratch + (size_t)rows * VB;
    for (int b = v0; b < v1; b += VB) {
        int nb = v1 - b < VB ? v1 - b : VB;
        const float *Eb = E + (size_t)b * H;
        // While this block computes, the next one is fetched (a block ahead, when it is a whole one).
        size_t ahead = b + 2 * VB <= v1 ? (size_t)VB * H : 0;
        block_dots(g, dRows, Eb, rows, nb, H, ahead);   // g (rows,nb)
        for (int r = 0; r < rows; r++) {
            float *zr = z + (size_t)r * V + b, *tr = t + (size_t)r * V + b, *mr = m + (size_t)r * V + b, *vr = v + (size_t)r * V + b;
            const float *gr = g + (size_t)r * nb, *pr = p + (size_t)r * V + b;
            float *er = e + (size_t)r * nb;
            const float dr = dot[r];
            const float *nn = noiseNext ? noiseNext + (size_t)r * V + b : NULL, *na = noiseArg ? noiseArg + (size_t)r * V + b : NULL;
            if (!logForm && !nn) {
                for (int j = 0; j < nb; j++) {
                    float grad = -(pr[j] * (gr[j] - dr) * invT);   // the loss is −activation
                    mr[j] = beta1 * mr[j] + (1 - beta1) * grad;
                    vr[j] = beta2 * vr[j] + (1 - beta2) * grad * grad;
                    zr[j] -= stepSize * mr[j] / (sqrtf(vr[j]) / bc2Sqrt + eps);
                    tr[j] = zr[j] * invTNext;
                }
            } else {
                for (int j = 0; j < nb; j++) {
                    float d = pr[j] * (gr[j] - dr) * invT;
                    if (logForm) d = zr[j] > 1e-10f ? d / zr[j] : 0.0f;
                    float grad = -d;
                    mr[j] = beta1 * mr[j] + (1 - beta1) * grad;
                    vr[j] = beta2 * vr[j] + (1 - beta2) * grad * grad;
                    zr[j] -= stepSize * mr[j] / (sqrtf(vr[j]) / bc2Sqrt + eps);
                    float u = logForm ? logf(zr[j] > 1e-10f ? zr[j] : 1e-10f) : zr[j];
                    er[j] = u;   // kept for the argmax below (er is free until the exps)
                    tr[j] = (nn ? u + nn[j] : u) * invTNext;
                }
            }
            // Reductions in 16 lanes, so they vectorise (one running max or sum is a chain of dependent operations).
            float lane[16];
            for (int l = 0; l < 16; l++) lane[l] = -INFINITY;
            int j = 0;
            for (; j + 16 <= nb; j += 16)
                for (int l = 0; l < 16; l++) lane[l] = tr[j + l] > lane[l] ? tr[j + l] : lane[l];
            float bm = -INFINITY;
            for (int l = 0; l < 16; l++) bm = lane[l] > bm ? lane[l] : bm;
            for (; j < nb; j++) bm = tr[j] > bm ? tr[j] : bm;
            if (!logForm && !nn && !na) {
                for (j = 0; j < nb; j++)
                    if (zr[j] > bestZ[r]) { bestZ[r] = zr[j]; best[r] = b + j; }
            } else {
                const float *ur = (logForm || nn) ? er : zr;
                for (j = 0; j < nb; j++) {
                    float a = na ? ur[j] + na[j] : ur[j];
                    if (a > bestZ[r]) { bestZ[r] = a; best[r] = b + j; }
                }
            }
            if (bm > mx[r]) {   // a new running max: rescale what was summed against the old one
                float scale = mx[r] == -INFINITY ? 0.0f : expf(mx[r] - bm);
                float *ar = acc + (size_t)r * H;
                for (int h = 0; h < H; h++) ar[h] *= scale;
                sum[r] *= scale;
                mx[r] = bm;
            }
            const float mxr = mx[r];
            if (mxr == -INFINITY) { for (j = 0; j < nb; j++) er[j] = 0; continue; }   // nothing yet (exp(−inf − −inf) is NaN)
            for (j = 0; j < nb; j++) er[j] = expf(tr[j] - mxr);
            for (int l = 0; l < 16; l++) lane[l] = 0;
            for (j = 0; j + 16 <= nb; j += 16)
                for (int l = 0; l < 16; l++) lane[l] += er[j + l];
            double s = 0;
            for (int l = 0; l < 16; l++) s += lane[l];
            for (; j < nb; j++) s += er[j];
            sum[r] += s;
        }
        block_mix(acc, e, Eb, rows, nb, H);   // acc (rows,H) += e (rows,nb) · E_blk (nb,H)
    }
}

// out[i] = −log(−log(u_i)) for i in 0..n, u_i the (first+i+1)-th SplitMix64 draw after `state` as a double in
// [0,1) (floored at 1e-12): the same numbers as drawing them one by one, but any range can be computed on its own
// (SplitMix64's state advances by a constant), so the threads split it and the logs vectorise.
CLONES
void dl_gumbel_noise(float *out, size_t n, uint64_t state, size_t first) {
    for (size_t i = 0; i < n; i++) {
        uint64_t z = state + (uint64_t)(first + i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        double u = (double)(z >> 11) * (1.0 / 9007199254740992.0);
        u = u > 1e-12 ? u : 1e-12;
        out[i] = (float)(-log(-log(u)));
    }
}
