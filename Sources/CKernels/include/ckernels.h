#ifndef CKERNELS_H
#define CKERNELS_H
#include <stdbool.h>

// Micro-kernels for instruction sets the Swift kernels are not compiled for. Each function is compiled for its
// ISA alone (__attribute__((target))), so the rest of the binary runs anywhere; callers ask first whether the
// CPU has it.

/// 1 when this CPU executes AVX-512F instructions.
int ckernels_cpu_has_avx512f(void);

/// C[rows x columns] (+)= A[rows x kc] * Bpanel[kc x 16], rows <= 12, columns <= 16, with twelve 512-bit
/// accumulators. A is read in place: element (row i, depth p) at a[i * a_row_stride + p * a_depth_stride].
/// B is a packed panel: depth p's 16 values at b[16 p]. Needs AVX-512F.
void ckernels_micro_12x16_avx512(long kc, const float *a, long a_row_stride, long a_depth_stride, const float *b,
                                 float *c, long ldc, int rows, int columns, bool accumulate);

#endif
