#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

int ckernels_cpu_has_avx512f(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

int ckernels_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

__attribute__((target("avx512f")))
void ckernels_tile_12x16_avx512(const float *const *rows, int row_count, long depth_stride, long segments,
                                const long *segment_starts, long segment_length, const float *b, float *c, long ldc,
                                int columns, bool accumulate) {
    // Rows past the edge read the last real row again; their results are never stored.
    const float *r[12];
    for (int i = 0; i < 12; i++) r[i] = rows[i < row_count ? i : row_count - 1];
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    __m512 c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    for (long s = 0; s < segments; s++) {
        const long start = segment_starts[s];
        const float *bp = b + 16 * s * segment_length;
        for (long p = 0; p < segment_length; p++) {
            const __m512 bv = _mm512_loadu_ps(bp + 16 * p);
            const long o = start + p * depth_stride;
            c0 = _mm512_fmadd_ps(_mm512_set1_ps(r[0][o]), bv, c0);
            c1 = _mm512_fmadd_ps(_mm512_set1_ps(r[1][o]), bv, c1);
            c2 = _mm512_fmadd_ps(_mm512_set1_ps(r[2][o]), bv, c2);
            c3 = _mm512_fmadd_ps(_mm512_set1_ps(r[3][o]), bv, c3);
            c4 = _mm512_fmadd_ps(_mm512_set1_ps(r[4][o]), bv, c4);
            c5 = _mm512_fmadd_ps(_mm512_set1_ps(r[5][o]), bv, c5);
            c6 = _mm512_fmadd_ps(_mm512_set1_ps(r[6][o]), bv, c6);
            c7 = _mm512_fmadd_ps(_mm512_set1_ps(r[7][o]), bv, c7);
            c8 = _mm512_fmadd_ps(_mm512_set1_ps(r[8][o]), bv, c8);
            c9 = _mm512_fmadd_ps(_mm512_set1_ps(r[9][o]), bv, c9);
            c10 = _mm512_fmadd_ps(_mm512_set1_ps(r[10][o]), bv, c10);
            c11 = _mm512_fmadd_ps(_mm512_set1_ps(r[11][o]), bv, c11);
        }
    }
    // A mask covers a tile narrower than 16 columns; rows beyond row_count are not stored.
    const __mmask16 mask = columns >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << columns) - 1);
    const __m512 tile[12] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11};
    for (int i = 0; i < row_count; i++) {
        float *target = c + i * ldc;
        __m512 v = tile[i];
        if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, target), v);
        _mm512_mask_storeu_ps(target, mask, v);
    }
}

__attribute__((target("avx2,fma")))
void ckernels_tile_6x16_avx2(const float *const *rows, int row_count, long depth_stride, long segments,
                             const long *segment_starts, long segment_length, const float *b, float *c, long ldc,
                             int columns, bool accumulate) {
    const float *r[6];
    for (int i = 0; i < 6; i++) r[i] = rows[i < row_count ? i : row_count - 1];
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (long s = 0; s < segments; s++) {
        const long start = segment_starts[s];
        const float *bp = b + 16 * s * segment_length;
        for (long p = 0; p < segment_length; p++) {
            const __m256 b0 = _mm256_loadu_ps(bp + 16 * p), b1 = _mm256_loadu_ps(bp + 16 * p + 8);
            const long o = start + p * depth_stride;
            __m256 a = _mm256_broadcast_ss(r[0] + o);
            c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
            a = _mm256_broadcast_ss(r[1] + o);
            c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
            a = _mm256_broadcast_ss(r[2] + o);
            c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
            a = _mm256_broadcast_ss(r[3] + o);
            c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
            a = _mm256_broadcast_ss(r[4] + o);
            c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
            a = _mm256_broadcast_ss(r[5] + o);
            c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
        }
    }
    // The tile goes through memory so that a narrow or short edge stores only the part that exists.
    float tile[6][16];
    _mm256_storeu_ps(tile[0], c00); _mm256_storeu_ps(tile[0] + 8, c01);
    _mm256_storeu_ps(tile[1], c10); _mm256_storeu_ps(tile[1] + 8, c11);
    _mm256_storeu_ps(tile[2], c20); _mm256_storeu_ps(tile[2] + 8, c21);
    _mm256_storeu_ps(tile[3], c30); _mm256_storeu_ps(tile[3] + 8, c31);
    _mm256_storeu_ps(tile[4], c40); _mm256_storeu_ps(tile[4] + 8, c41);
    _mm256_storeu_ps(tile[5], c50); _mm256_storeu_ps(tile[5] + 8, c51);
    for (int i = 0; i < row_count; i++) {
        float *target = c + i * ldc;
        if (columns == 16) {
            __m256 low = _mm256_loadu_ps(tile[i]), high = _mm256_loadu_ps(tile[i] + 8);
            if (accumulate) {
                low = _mm256_add_ps(_mm256_loadu_ps(target), low);
                high = _mm256_add_ps(_mm256_loadu_ps(target + 8), high);
            }
            _mm256_storeu_ps(target, low);
            _mm256_storeu_ps(target + 8, high);
        } else {
            for (int j = 0; j < columns; j++) target[j] = accumulate ? target[j] + tile[i][j] : tile[i][j];
        }
    }
}

#else
// No x86: the CPU has neither ISA, so these kernels are never called.
#include <stdlib.h>

int ckernels_cpu_has_avx512f(void) { return 0; }
int ckernels_cpu_has_avx2_fma(void) { return 0; }

void ckernels_tile_12x16_avx512(const float *const *rows, int row_count, long depth_stride, long segments,
                                const long *segment_starts, long segment_length, const float *b, float *c, long ldc,
                                int columns, bool accumulate) {
    abort();
}

void ckernels_tile_6x16_avx2(const float *const *rows, int row_count, long depth_stride, long segments,
                             const long *segment_starts, long segment_length, const float *b, float *c, long ldc,
                             int columns, bool accumulate) {
    abort();
}
#endif
