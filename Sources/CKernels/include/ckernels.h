#ifndef CKERNELS_H
#define CKERNELS_H
#include <stdbool.h>

#pragma clang assume_nonnull begin

// GEMM micro-kernels written with one instruction set's intrinsics. Each function is compiled for its ISA alone
// (__attribute__((target))), so the rest of the binary runs on any CPU of its architecture; callers ask first
// whether the CPU has it.
//
// Every kernel computes one tile C[row_count x columns] (+)= A[row_count x depth] * Bpanel[depth x 16], adding
// the products of each element along depth in order, one fused multiply-add at a time, so that every kernel
// gives the same bits. A is read in place: row i starts at rows[i] and runs in `segments` pieces of
// `segment_length` depths, piece s at rows[i] + segment_starts[s], its depths depth_stride apart. A GEMM row is
// one piece. A convolution's window is one piece per kernel row, read from the image; for its weight gradient
// a row is one kernel tap, and a piece one output row of the image it slides over. B is a panel of 16 columns,
// depth d's values at b[b_depth_stride d], where d counts the depths of all pieces in order: 16 when B is
// packed, B's row length when it is read in place. A second panel (8x32) starts b_panel_stride after the first.

/// 1 when this CPU executes AVX-512F instructions.
int ckernels_cpu_has_avx512f(void);
/// 1 when this CPU executes AVX2 and FMA instructions.
int ckernels_cpu_has_avx2_fma(void);

/// The tile above for row_count <= 8, columns <= 32, with sixteen 512-bit accumulators: B is two panels (one
/// when columns <= 16). Needs AVX-512F. As it stores, it adds `bias[0..<columns]` when that is not null and then
/// applies ReLU when `relu` is set, in the arithmetic of Kernels' addBiasAndActivate: c + bias, then 0 where
/// that is not above 0 (NaN stays NaN).
void ckernels_tile_8x32_avx512(const float *_Nonnull const *_Nonnull rows, int row_count, long depth_stride,
                               long segments, const long *segment_starts, long segment_length, const float *b,
                               long b_depth_stride, long b_panel_stride, float *c, long ldc, int columns, bool accumulate,
                               const float *_Nullable bias, bool relu);

/// The tile above for row_count <= 8, columns <= 8, with eight 256-bit accumulators, reading the first 8 of each
/// panel row's 16 values: for a narrow C. Needs AVX2 and FMA.
void ckernels_tile_8x8_avx2(const float *_Nonnull const *_Nonnull rows, int row_count, long depth_stride,
                            long segments, const long *segment_starts, long segment_length, const float *b,
                            long b_depth_stride, long b_panel_stride, float *c, long ldc, int columns, bool accumulate);

/// Runs `iterations` steps of the 8x32 kernel's loop on 128 values of L1 (8 x 16 FMAs a step), for the FMA
/// peak. Needs AVX-512F.
float ckernels_fma_probe_avx512(const float *values, long iterations);

/// The tile above for row_count <= 6, columns <= 16, with twelve 256-bit accumulators. Needs AVX2 and FMA.
void ckernels_tile_6x16_avx2(const float *_Nonnull const *_Nonnull rows, int row_count, long depth_stride,
                             long segments, const long *segment_starts, long segment_length, const float *b,
                             long b_depth_stride, long b_panel_stride, float *c, long ldc, int columns, bool accumulate);

/// Eight square roots in one instruction where the target has one. Swift lowers SIMD8<Float>.squareRoot() to
/// eight scalar ones; this, inlined from the header, is the vector instruction. Square roots are correctly
/// rounded either way: the same bits.
typedef float ckernels_float8 __attribute__((ext_vector_type(8)));
static inline __attribute__((always_inline)) ckernels_float8 ckernels_sqrt8(ckernels_float8 x) {
    return __builtin_elementwise_sqrt(x);
}

/// Image bytes as floats in [0, 1]: out[i] = bytes[i] / 255, each correctly rounded (a division, not a
/// multiplication by 1/255), in vector instructions the compiler chooses; Swift's SIMD conversions from bytes stay
/// calls. Then asks for the `next_count` bytes at `next`, the next image to read, to be brought into cache: images
/// are read in random order, and a load that waits for memory costs more than the conversion.
void ckernels_scale_bytes(const unsigned char *bytes, float *out, long count, const unsigned char *_Nullable next,
                          long next_count);

#pragma clang assume_nonnull end
#endif
