#ifndef DREAMLAB_CKERNELS_H
#define DREAMLAB_CKERNELS_H
#include <stddef.h>
#include <stdint.h>

// Small-M matrix kernels. With few rows (a dream step has 10 to 100), OpenBLAS spends most of its time packing
// the weight matrix; these stream each weight row once instead. Built for AVX-512, AVX2 and a generic target,
// picked at load time (target_clones).

// out (M,N) = X (M,K) · W (N,K)^T (+ bias (N)); rows n0..n1 of W only (for splitting across threads).
void dl_matmul_nt(float *out, const float *X, const float *W, const float *bias, int M, int N, int K, int n0, int n1);

// dX (M,K) += dOut (M,N) · W (N,K), over rows n0..n1 of W (the caller gives each thread its own dX to sum later,
// or splits along K instead: k0..k1).
void dl_matmul_nn_acc(float *dX, const float *dOut, const float *W, int M, int N, int K, int k0, int k1);
// Whether the two above run their AVX2 tiles (CPUs with AVX2 but no AVX-512) or the wide ones: returns 1 for AVX2.
// force 1 picks AVX2 where the CPU has it, 0 the wide ones, -1 leaves the choice as it is (tests compare both).
int dl_small_kernels_avx2(int force);

// Products against weights packed once (gemm.c): out (M,N) (+)= X (M,K) · B (K,N) (+ bias), B in panels of 32
// columns. dl_pack_nt packs W (N,K) as B = W^T (forward products), dl_pack_nn packs W (K,N) as B = W (backward).
size_t dl_packed_floats(int N, int K);
void dl_pack_nt(float *packed, const float *W, int N, int K);
void dl_pack_nn(float *packed, const float *W, int K, int N);
int dl_gemm_packed_available(void);   // 1 where the CPU has AVX-512 (elsewhere OpenBLAS does these products)
// X's rows m0..m1 and panels p0..p1 only (threads split either way); `accumulate` adds to out.
void dl_gemm_packed(float *out, const float *X, const float *packed, const float *bias,
                    int N, int K, int m0, int m1, int p0, int p1, int accumulate);
void dl_gemm_packed_slice(float *out, size_t ldc, const float *X, size_t ldx, const float *packed, int N, int K, int k0, int kc,
                          int m0, int m1);  // rows k0..k0+kc of a packed B only (kc <= 384)

// Seeded Gumbel(0,1) noise, −log(−log(u)), for draws first+1 ... first+n of a SplitMix64 generator at `state`
// (relaxation.c): the numbers SplitMix64.nextDouble gives one by one, computed in any range independently.
void dl_gumbel_noise(float *out, size_t n, uint64_t state, size_t first);

// One update of the softmax relaxation over vocabulary rows v0..v1 in one pass over E (relaxation.c): the softmax
// backward of g = dRows·E^T, Adam on z, and the next step's p·E against a running max. t receives z·invTNext
// (the next softmax's argument); acc, mx, sum, best, bestZ are this range's partials; scratch holds 2·rows·64 floats.
void dl_relaxed_step(float *z, const float *p, float *t, float *m, float *v, float *acc, float *mx, double *sum, int *best, float *bestZ,
                     const float *E, const float *dRows, const float *dot, int rows, int V, int H, int v0, int v1,
                     float invT, float invTNext, float beta1, float beta2, float stepSize, float bc2Sqrt, float eps,
                     const float *noiseNext, const float *noiseArg, int logForm, float *scratch);


// Row softmax with temperature, GELU and its backward, vectorised with libmvec.
void dl_softmax_rows(float *p, const float *z, int rows, int V, float invT);
// In place: g = p·(g − ⟨p,g⟩)·invT per row (÷ z where z > 1e-10 for PAIR's Gumbel form, `gumbel` 1).
void dl_softmax_backward_rows(float *g, const float *p, const float *z, int rows, int V, float invT, int gumbel);
// LayerNorm forward (of a + b, stored to `sum`, when b is given) and backward (accumulates into dinp), with
// vectorised reductions; the plain loops in Kernels.swift are the reference.
void dl_layernorm(float *out, float *mean, float *rstd, float *sum, const float *a, const float *b,
                  const float *gamma, const float *beta, int N, int C, float eps);
void dl_layernorm_backward(float *dinp, const float *dout, const float *inp, const float *mean, const float *rstd,
                           const float *gamma, int N, int C);
void dl_gelu(float *out, const float *x, int n);
void dl_gelu_backward(float *dx, const float *dout, const float *x, int n);
void dl_configure_malloc(void);
// One Adam step (PyTorch's formula) over n parameters; gscale -1 climbs the gradient.
void dl_adam(float *p, float *m, float *v, const float *grad, size_t n, float gscale,
             float beta1, float beta2, float stepSize, float bc2Sqrt, float eps);

// The opt-in bf16 mode (bf16.c). bf16 values are uint16_t, the top half of a float32.
#include <stdint.h>
void dl_to_bf16(uint16_t *dst, const float *src, size_t n);                              // rounds to nearest even
void dl_from_bf16(float *dst, const uint16_t *src, size_t n);
void dl_to_bf16_transposed(uint16_t *dst, const float *src, int rows, int cols);          // (rows,cols) -> (cols,rows)
// out (M,N) (+)= X (M,K) · W (N,K)^T (+ bias), X and W bf16, rows n0..n1 of W; AVX512_BF16 where the CPU has it.
void dl_matmul_nt_bf16(float *out, const uint16_t *X, const uint16_t *W, const float *bias,
                       int M, int N, int K, int n0, int n1, int accumulate);
int dl_has_avx512_bf16(void);
void dl_bf16_use_native(int on);   // 0: the plain kernel even on AVX512_BF16 CPUs (tests compare the two)
int dl_bf16_native(void);          // 1 when the AVX512_BF16 kernel runs (the CPU has it and it is not turned off)
void dl_round_bf16(float *dst, const float *src, size_t n);                              // float32 rounded to bf16 values

// The thread pool every parallel kernel call goes through (pool.c): `threads` includes the caller.
typedef void (*dl_task)(void *ctx, long chunk);
void dl_pool_start(int threads);
int dl_pool_workers(void);
// Runs fn(ctx, 0..<chunks) across the pool and returns when all are done; chunk 0 runs on the caller.
int dl_pool_run(int chunks, dl_task fn, void *ctx);   // how many threads shared the chunks (1: the caller ran them all)

/* The number of CPUs this process may run on (sched_getaffinity), or 0 if unknown. */
int dl_affinity_cores(void);
// sum of x[0..n) (the bandwidth probe)
float dl_sum(const float *x, int n);
#endif
