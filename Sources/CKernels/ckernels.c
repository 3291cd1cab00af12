#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

int ckernels_cpu_has_avx512f(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

__attribute__((target("avx512f")))
void ckernels_micro_12x16_avx512(long kc, const float *a, long a_row_stride, long a_depth_stride, const float *b,
                                 float *c, long ldc, int rows, int columns, bool accumulate) {
    // Rows past the edge read the last real row again; their results are never stored.
    const float *r[12];
    for (int i = 0; i < 12; i++) r[i] = a + (i < rows ? i : rows - 1) * a_row_stride;
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    __m512 c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    for (long p = 0; p < kc; p++) {
        const __m512 bp = _mm512_loadu_ps(b + 16 * p);
        const long o = p * a_depth_stride;
        c0 = _mm512_fmadd_ps(_mm512_set1_ps(r[0][o]), bp, c0);
        c1 = _mm512_fmadd_ps(_mm512_set1_ps(r[1][o]), bp, c1);
        c2 = _mm512_fmadd_ps(_mm512_set1_ps(r[2][o]), bp, c2);
        c3 = _mm512_fmadd_ps(_mm512_set1_ps(r[3][o]), bp, c3);
        c4 = _mm512_fmadd_ps(_mm512_set1_ps(r[4][o]), bp, c4);
        c5 = _mm512_fmadd_ps(_mm512_set1_ps(r[5][o]), bp, c5);
        c6 = _mm512_fmadd_ps(_mm512_set1_ps(r[6][o]), bp, c6);
        c7 = _mm512_fmadd_ps(_mm512_set1_ps(r[7][o]), bp, c7);
        c8 = _mm512_fmadd_ps(_mm512_set1_ps(r[8][o]), bp, c8);
        c9 = _mm512_fmadd_ps(_mm512_set1_ps(r[9][o]), bp, c9);
        c10 = _mm512_fmadd_ps(_mm512_set1_ps(r[10][o]), bp, c10);
        c11 = _mm512_fmadd_ps(_mm512_set1_ps(r[11][o]), bp, c11);
    }
    // A mask covers a tile narrower than 16 columns; rows beyond `rows` are not stored.
    const __mmask16 mask = columns >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << columns) - 1);
    const __m512 tile[12] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11};
    for (int i = 0; i < rows; i++) {
        float *target = c + i * ldc;
        __m512 v = tile[i];
        if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, target), v);
        _mm512_mask_storeu_ps(target, mask, v);
    }
}

#else
// No x86: the CPU never has AVX-512, so the kernel is never called.
#include <stdlib.h>

int ckernels_cpu_has_avx512f(void) { return 0; }

void ckernels_micro_12x16_avx512(long kc, const float *a, long a_row_stride, long a_depth_stride, const float *b,
                                 float *c, long ldc, int rows, int columns, bool accumulate) {
    abort();
}
#endif
