/* ot_simd.h - the vector of the instruction set this build targets, for the kernels that are
 * written once over it (kgemm.c, conv_sparse.c, conv2d.c): VL floats a vector (16 with
 * AVX-512, 8 with AVX2 and FMA, 1 in the portable build), loads, stores, broadcasts and fused
 * multiply-adds, masks for the first lanes of a vector, the lanes whose bits are not all zero
 * (-0 and NaN count) as a bit mask, and stores that bypass the caches. V_FMA rounds once, in
 * every build. */
#ifndef OT_SIMD_H
#define OT_SIMD_H

#include <stddef.h>
#include <stdint.h>

/* Whether v's bits are not all zero: a -0 or a NaN is not zero here (V_NONZERO, a lane each). */
static inline unsigned ot_bits_nonzero(float v)
{
    union {
        float f;
        uint32_t u;
    } b = {v};
    return b.u != 0;
}

#if defined(__AVX512F__)
#include <immintrin.h>
#define OT_SIMD_AVX512 1
typedef __m512 vf_t;
#define VL 16
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps(p, v)
#define V_BCAST(x) _mm512_set1_ps(x)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_SUB(a, b) _mm512_sub_ps(a, b)
#define V_STREAM(p, v) _mm512_stream_ps(p, v) /* p aligned to a vector */
#define V_STREAM_FENCE() _mm_sfence()
#define V_NONZERO(v) ((unsigned)_mm512_test_epi32_mask(_mm512_castps_si512(v), \
                                                      _mm512_castps_si512(v)))
#define ISA "AVX-512"
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define OT_SIMD_AVX2 1
typedef __m256 vf_t;
#define VL 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps(p, v)
#define V_BCAST(x) _mm256_set1_ps(x)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_SUB(a, b) _mm256_sub_ps(a, b)
#define V_STREAM(p, v) _mm256_stream_ps(p, v)
#define V_STREAM_FENCE() _mm_sfence()
#define V_NONZERO(v)                                                                     \
    (~(unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(                                  \
         _mm256_cmpeq_epi32(_mm256_castps_si256(v), _mm256_setzero_si256()))) &           \
     0xFFu)
#define ISA "AVX2"
#else
#include <math.h>
typedef float vf_t;
#define VL 1
#define V_ZERO() 0.0f
#define V_LOAD(p) (*(p))
#define V_STORE(p, v) (*(p) = (v))
#define V_BCAST(x) (x)
#define V_FMA(a, b, c) fmaf(a, b, c)
#define V_ADD(a, b) ((a) + (b))
#define V_SUB(a, b) ((a) - (b))
#define V_STREAM(p, v) (*(p) = (v))
#define V_STREAM_FENCE() ((void)0)
#define V_NONZERO(v) ot_bits_nonzero(v)
#define ISA "portable"
#endif

/* A vector's first `left` lanes (1 <= left <= VL): loads that leave the rest zero and stores
 * that leave the rest of memory alone, for the last vector of a row. */
#if defined(OT_SIMD_AVX512)
typedef __mmask16 vmask_t;
#define V_MASK(left) ((__mmask16)((1u << (left)) - 1))
#define V_LOADN(p, k) _mm512_maskz_loadu_ps(k, p)
#define V_STOREN(p, v, k) _mm512_mask_storeu_ps(p, k, v)
#elif defined(OT_SIMD_AVX2)
typedef __m256i vmask_t;
#define V_MASK(left) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left)), \
                                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define V_LOADN(p, k) _mm256_maskload_ps(p, k)
#define V_STOREN(p, v, k) _mm256_maskstore_ps(p, k, v)
#else
typedef int vmask_t;
#define V_MASK(left) ((int)(left))
#define V_LOADN(p, k) (*(p))
#define V_STOREN(p, v, k) (*(p) = (v))
#endif

/* One case of a switch on a small count: CALL, an expression in the constant NAME, compiled
 * with NAME = k. The kernels list these for each vector count they run with a constant one
 * (kgemm.c's SP_DISPATCH, conv_sparse.c's CV_DISPATCH), so that each loop's copy has it fixed. */
#define V_CONST_CASE(k, NAME, CALL)                                                        \
    case k: {                                                                              \
        enum { NAME = k };                                                                 \
        CALL;                                                                              \
    } break;

/* n floats from src to dst, with stores that go to memory past every core's caches where dst
 * is aligned to a vector (plain stores at the unaligned ends), for data that other cores read
 * next: a plain store leaves the line in this core's cache, and this core's next store to it
 * must first invalidate the copies the readers took. V_STREAM_FENCE() after the last call,
 * before the readers may look. */
static inline void ot_stream_floats(float *restrict dst, const float *restrict src, size_t n)
{
    size_t i = 0;
    for (; i < n && (uintptr_t)(dst + i) % (VL * sizeof(float)) != 0; i++)
        dst[i] = src[i];
    for (; i + VL <= n; i += VL)
        V_STREAM(dst + i, V_LOAD(src + i));
    for (; i < n; i++)
        dst[i] = src[i];
}

#endif
