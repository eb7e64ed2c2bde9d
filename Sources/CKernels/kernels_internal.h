#ifndef DREAMLAB_KERNELS_INTERNAL_H
#define DREAMLAB_KERNELS_INTERNAL_H
// The AVX2 small-M kernels (avx2.c), which dl_matmul_nt and dl_matmul_nn_acc pick on CPUs without AVX-512.
void dl_matmul_nt_avx2(float *out, const float *X, const float *W, const float *bias, int M, int N, int K, int n0, int n1);
void dl_matmul_nn_acc_avx2(float *dX, const float *dOut, const float *W, int M, int N, int K, int k0, int k1);
#endif
