#ifndef DREAMLAB_CKERNELS_H
#define DREAMLAB_CKERNELS_H
#include <stddef.h>

// Small-M matrix kernels. With few rows (a dream step has 10 to 100), OpenBLAS spends most of its time packing
// the weight matrix; these stream each weight row once instead. Built for AVX-512, AVX2 and a generic target,
// picked at load time (target_clones).

// out (M,N) = X (M,K) · W (N,K)^T (+ bias (N)); rows n0..n1 of W only (for splitting across threads).
void dl_matmul_nt(float *out, const float *X, const float *W, const float *bias, int M, int N, int K, int n0, int n1);

// dX (M,K) += dOut (M,N) · W (N,K), over rows n0..n1 of W (the caller gives each thread its own dX to sum later,
// or splits along K instead: k0..k1).
void dl_matmul_nn_acc(float *dX, const float *dOut, const float *W, int M, int N, int K, int k0, int k1);


// Row softmax with temperature, GELU and its backward, vectorised with libmvec.
void dl_softmax_rows(float *p, const float *z, int rows, int V, float invT);
void dl_gelu(float *out, const float *x, int n);
void dl_gelu_backward(float *dx, const float *dout, const float *x, int n);
void dl_configure_malloc(void);
#endif

/* The number of CPUs this process may run on (sched_getaffinity), or 0 if unknown. */
int dl_affinity_cores(void);
// sum of x[0..n) (the bandwidth probe)
float dl_sum(const float *x, int n);
