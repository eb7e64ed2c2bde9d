#ifndef DREAMLAB_CBLAS_SHIM_H
#define DREAMLAB_CBLAS_SHIM_H
#include <cblas.h>

// OpenBLAS extras: which kernel ("core") the dynamic-arch build picked, and its threads.
char *openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
#endif
