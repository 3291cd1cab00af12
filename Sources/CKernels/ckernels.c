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

// Eight rows by `panels` (1 or 2) panels of 16 columns: sixteen 512-bit accumulators when both panels are there.
// Inlined with a constant `panels` and `tile_rows` (8, 4, 2 or 1: the rows computed, at least row_count), so that a
// narrow or short tile carries no dead code: an edge of one row (a 3x3 kernel's ninth tap in a weight gradient)
// then costs two FMAs a step rather than sixteen.
__attribute__((target("avx512f"), always_inline))
static inline void tile_8_rows_avx512(const float *const *rows, int row_count, long depth_stride, long segments,
                                      const long *segment_starts, long segment_length, const float *b, long b_depth_stride,
                                      long b_panel_stride, float *c, long ldc, int columns, bool accumulate,
                                      const float *bias, bool relu, const int panels, const int tile_rows) {
    // Rows past the edge read the last real row again; their results are never stored.
    const float *r[8];
    for (int i = 0; i < 8; i++) r[i] = rows[i < row_count ? i : row_count - 1];
    const long second = b_panel_stride;
    // C's lines are fetched while the depth loop runs: with a short depth the stores would otherwise wait on them.
    for (int i = 0; i < row_count; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        if (panels == 2) _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
    }
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    const float *bp = b;
    for (long s = 0; s < segments; s++) {
        const long start = segment_starts[s];
        const float *a0 = r[0] + start, *a1 = r[1] + start, *a2 = r[2] + start, *a3 = r[3] + start;
        const float *a4 = r[4] + start, *a5 = r[5] + start, *a6 = r[6] + start, *a7 = r[7] + start;
        for (long p = 0; p < segment_length; p++) {
            const __m512 b0 = _mm512_loadu_ps(bp);
            const __m512 b1 = panels == 2 ? _mm512_loadu_ps(bp + second) : b0;
#define ROW(i, ci0, ci1, ai)                                    \
            if (i < tile_rows) {                                \
                const __m512 a = _mm512_set1_ps(*ai);           \
                ci0 = _mm512_fmadd_ps(a, b0, ci0);              \
                if (panels == 2) ci1 = _mm512_fmadd_ps(a, b1, ci1); \
                ai += depth_stride;                             \
            }
            ROW(0, c00, c01, a0) ROW(1, c10, c11, a1) ROW(2, c20, c21, a2) ROW(3, c30, c31, a3)
            ROW(4, c40, c41, a4) ROW(5, c50, c51, a5) ROW(6, c60, c61, a6) ROW(7, c70, c71, a7)
#undef ROW
            bp += b_depth_stride;
        }
    }
    const __m512 tile[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                               {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    // Masks cover a tile narrower than its panels; rows beyond row_count are not stored.
    const int first_columns = columns < 16 ? columns : 16, second_columns = columns - first_columns;
    const __mmask16 first_mask = (__mmask16)((1u << first_columns) - 1);
    const __mmask16 second_mask = (__mmask16)((1u << second_columns) - 1);
    const __m512 zero = _mm512_setzero_ps();
    const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(first_mask, bias) : zero;
    const __m512 bias1 = bias && panels == 2 ? _mm512_maskz_loadu_ps(second_mask, bias + 16) : zero;
    for (int i = 0; i < row_count; i++) {
        float *target = c + i * ldc;
        __m512 v = tile[i][0];
        if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(first_mask, target), v);
        if (bias) v = _mm512_add_ps(v, bias0);
        if (relu) v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LE_OQ), zero);
        _mm512_mask_storeu_ps(target, first_mask, v);
        if (panels == 2) {
            __m512 w = tile[i][1];
            if (accumulate) w = _mm512_add_ps(_mm512_maskz_loadu_ps(second_mask, target + 16), w);
            if (bias) w = _mm512_add_ps(w, bias1);
            if (relu) w = _mm512_mask_mov_ps(w, _mm512_cmp_ps_mask(w, zero, _CMP_LE_OQ), zero);
            _mm512_mask_storeu_ps(target + 16, second_mask, w);
        }
    }
}

__attribute__((target("avx512f")))
void ckernels_tile_8x32_avx512(const float *const *rows, int row_count, long depth_stride, long segments,
                               const long *segment_starts, long segment_length, const float *b, long b_depth_stride,
                               long b_panel_stride, float *c, long ldc, int columns, bool accumulate,
                               const float *bias, bool relu) {
#define TILE(panels, tile_rows)                                                                                    \
    tile_8_rows_avx512(rows, row_count, depth_stride, segments, segment_starts, segment_length, b, b_depth_stride,  \
                       b_panel_stride, c, ldc, columns, accumulate, bias, relu, panels, tile_rows)
    const int panels = columns > 16 ? 2 : 1;
    if (row_count > 4) {
        if (panels == 2) TILE(2, 8); else TILE(1, 8);
    } else if (row_count > 2) {
        if (panels == 2) TILE(2, 4); else TILE(1, 4);
    } else if (row_count == 2) {
        if (panels == 2) TILE(2, 2); else TILE(1, 2);
    } else {
        if (panels == 2) TILE(2, 1); else TILE(1, 1);
    }
#undef TILE
}

__attribute__((target("avx512f")))
float ckernels_fma_probe_avx512(const float *values, long iterations) {
    // The 8x32 tile's instruction mix on L1-resident operands: two loads, eight broadcasts, sixteen FMAs.
    __m512 c[16];
    for (int i = 0; i < 16; i++) c[i] = _mm512_setzero_ps();
    for (long i = 0; i < iterations; i++) {
        const float *b = values + (i & 3) * 32, *a = values + (i & 7);
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        for (int r = 0; r < 8; r++) {
            const __m512 ar = _mm512_set1_ps(a[r]);
            c[2 * r] = _mm512_fmadd_ps(ar, b0, c[2 * r]);
            c[2 * r + 1] = _mm512_fmadd_ps(ar, b1, c[2 * r + 1]);
        }
    }
    __m512 sum = c[0];
    for (int i = 1; i < 16; i++) sum = _mm512_add_ps(sum, c[i]);
    return _mm512_reduce_add_ps(sum);
}

// Inlined with a constant `tile_rows` (6, 3, 2 or 1: the rows computed, at least row_count), as the AVX-512 tile.
__attribute__((target("avx2,fma"), always_inline))
static inline void tile_6_rows_avx2(const float *const *rows, int row_count, long depth_stride, long segments,
                                    const long *segment_starts, long segment_length, const float *b, long b_depth_stride,
                                    float *c, long ldc, int columns, bool accumulate, const int tile_rows) {
    const float *r[6];
    for (int i = 0; i < 6; i++) r[i] = rows[i < row_count ? i : row_count - 1];
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *bp = b;
    for (long s = 0; s < segments; s++) {
        const long start = segment_starts[s];
        const float *a0 = r[0] + start, *a1 = r[1] + start, *a2 = r[2] + start;
        const float *a3 = r[3] + start, *a4 = r[4] + start, *a5 = r[5] + start;
        for (long p = 0; p < segment_length; p++) {
            const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
#define ROW(i, ci0, ci1, ai)                                                                  \
            if (i < tile_rows) {                                                              \
                const __m256 a = _mm256_broadcast_ss(ai);                                     \
                ci0 = _mm256_fmadd_ps(a, b0, ci0); ci1 = _mm256_fmadd_ps(a, b1, ci1);          \
                ai += depth_stride;                                                           \
            }
            ROW(0, c00, c01, a0) ROW(1, c10, c11, a1) ROW(2, c20, c21, a2)
            ROW(3, c30, c31, a3) ROW(4, c40, c41, a4) ROW(5, c50, c51, a5)
#undef ROW
            bp += b_depth_stride;
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

__attribute__((target("avx2,fma")))
void ckernels_tile_6x16_avx2(const float *const *rows, int row_count, long depth_stride, long segments,
                             const long *segment_starts, long segment_length, const float *b, long b_depth_stride,
                             long b_panel_stride, float *c, long ldc, int columns, bool accumulate) {
#define TILE(tile_rows)                                                                                       \
    tile_6_rows_avx2(rows, row_count, depth_stride, segments, segment_starts, segment_length, b, b_depth_stride, \
                     c, ldc, columns, accumulate, tile_rows)
    if (row_count > 3) TILE(6); else if (row_count == 3) TILE(3); else if (row_count == 2) TILE(2); else TILE(1);
#undef TILE
}

__attribute__((target("avx2,fma")))
void ckernels_tile_8x8_avx2(const float *const *rows, int row_count, long depth_stride, long segments,
                            const long *segment_starts, long segment_length, const float *b, long b_depth_stride,
                            long b_panel_stride, float *c, long ldc, int columns, bool accumulate) {
    // Eight rows of eight columns from the first half of each 16-wide panel row: for a narrow C (6 filters)
    // twice the useful lanes of a 16-wide tile. Eight row pointers fit the registers; sixteen spill.
    const float *r[8];
    for (int i = 0; i < 8; i++) r[i] = rows[i < row_count ? i : row_count - 1];
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    const float *bp = b;
    for (long s = 0; s < segments; s++) {
        const long start = segment_starts[s];
        const float *a0 = r[0] + start, *a1 = r[1] + start, *a2 = r[2] + start, *a3 = r[3] + start;
        const float *a4 = r[4] + start, *a5 = r[5] + start, *a6 = r[6] + start, *a7 = r[7] + start;
        for (long p = 0; p < segment_length; p++) {
            const __m256 bv = _mm256_loadu_ps(bp);
#define ROW(ci, ai) ci = _mm256_fmadd_ps(_mm256_broadcast_ss(ai), bv, ci); ai += depth_stride;
            ROW(c0, a0) ROW(c1, a1) ROW(c2, a2) ROW(c3, a3) ROW(c4, a4) ROW(c5, a5) ROW(c6, a6) ROW(c7, a7)
#undef ROW
            bp += b_depth_stride;
        }
    }
    float tile[8][8];
    _mm256_storeu_ps(tile[0], c0); _mm256_storeu_ps(tile[1], c1); _mm256_storeu_ps(tile[2], c2);
    _mm256_storeu_ps(tile[3], c3); _mm256_storeu_ps(tile[4], c4); _mm256_storeu_ps(tile[5], c5);
    _mm256_storeu_ps(tile[6], c6); _mm256_storeu_ps(tile[7], c7);
    for (int i = 0; i < row_count; i++) {
        float *target = c + i * ldc;
        for (int j = 0; j < columns; j++) target[j] = accumulate ? target[j] + tile[i][j] : tile[i][j];
    }
}

#else
// No x86: the CPU has neither ISA, so these kernels are never called.

float ckernels_fma_probe_avx512(const float *values, long iterations) { __builtin_trap(); }

int ckernels_cpu_has_avx512f(void) { return 0; }
int ckernels_cpu_has_avx2_fma(void) { return 0; }

void ckernels_tile_8x32_avx512(const float *const *rows, int row_count, long depth_stride, long segments,
                               const long *segment_starts, long segment_length, const float *b, long b_depth_stride,
                               long b_panel_stride, float *c, long ldc, int columns, bool accumulate,
                               const float *bias, bool relu) {
    __builtin_trap();
}

void ckernels_tile_8x8_avx2(const float *const *rows, int row_count, long depth_stride, long segments,
                            const long *segment_starts, long segment_length, const float *b, long b_depth_stride,
                            long b_panel_stride, float *c, long ldc, int columns, bool accumulate) {
    __builtin_trap();
}

void ckernels_tile_6x16_avx2(const float *const *rows, int row_count, long depth_stride, long segments,
                             const long *segment_starts, long segment_length, const float *b, long b_depth_stride,
                             long b_panel_stride, float *c, long ldc, int columns, bool accumulate) {
    __builtin_trap();
}
#endif

void ckernels_scale_bytes(const unsigned char *bytes, float *out, long count, const unsigned char *next,
                          long next_count) {
    if (next) {
        for (long i = 0; i < next_count; i += 64) __builtin_prefetch(next + i);
    }
    for (long i = 0; i < count; i++) out[i] = (float)bytes[i] / 255.0f;
}
