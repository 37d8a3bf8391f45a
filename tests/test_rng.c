/* test_rng.c - the PRNG (src/rng.c, ot_rng.h): xoshiro256** against its published arithmetic,
 * the seeding, bounded integers without bias, uniform and normal deviates, the shuffle. */
#include <math.h>
#include <string.h>

#include "ot_rng.h"
#include "ot_test.h"

/* xoshiro256** from the state {1, 2, 3, 4}: the first outputs of Blackman and Vigna's
 * reference code (11520 = rotl(2 * 5, 7) * 9, then 0, then 1509978240). */
static void test_reference_outputs(void)
{
    ot_rng_t r = {{1, 2, 3, 4}};
    CU_ASSERT_EQUAL(ot_rng_u64(&r), 11520ULL);
    CU_ASSERT_EQUAL(ot_rng_u64(&r), 0ULL);
    CU_ASSERT_EQUAL(ot_rng_u64(&r), 1509978240ULL);
}

/* splitmix64 seeding: seed 0's first word is splitmix64's first output from 0, every seed
 * gives a state that is not all zero, and nearby seeds give different streams. */
static void test_seed(void)
{
    ot_rng_t a, b;
    ot_rng_seed(&a, 0);
    CU_ASSERT_EQUAL(a.s[0], 0xe220a8397b1dcdafULL);
    CU_ASSERT(a.s[0] | a.s[1] | a.s[2] | a.s[3]);
    ot_rng_seed(&b, 1);
    CU_ASSERT(memcmp(&a, &b, sizeof a) != 0);
    ot_rng_seed(&b, 0);
    CU_ASSERT(memcmp(&a, &b, sizeof a) == 0); /* the same seed, the same state */
    CU_ASSERT_EQUAL(ot_rng_u64(&a), ot_rng_u64(&b));
}

/* ot_rng_below: always in [0, n), n = 1 gives 0, and 100,000 draws over 10 values pass a
 * chi-square test (9 degrees of freedom, 27.9 is the 0.1% point). */
static void test_below(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 42);
    const uint64_t ns[] = {1, 2, 3, 7, 10, 1000003, (1ULL << 63) + 1, UINT64_MAX};
    size_t bad = 0;
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (int k = 0; k < 1000; k++)
            bad += ot_rng_below(&r, ns[i]) >= ns[i];
    CU_ASSERT_EQUAL(bad, 0);
    enum { BINS = 10, DRAWS = 100000 };
    size_t count[BINS] = {0};
    for (int k = 0; k < DRAWS; k++)
        count[ot_rng_below(&r, BINS)]++;
    double chi2 = 0.0, expect = (double)DRAWS / BINS;
    for (int b = 0; b < BINS; b++)
        chi2 += (count[b] - expect) * (count[b] - expect) / expect;
    CU_ASSERT(chi2 < 27.9);
}

/* uniform in [0, 1) with mean 1/2 and variance 1/12; normal with mean 0 and variance 1
 * (100,000 draws: standard errors about 0.001 and 0.003 and 0.0045) */
static void test_uniform_normal(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 7);
    enum { N = 100000 };
    double su = 0, su2 = 0, sn = 0, sn2 = 0;
    size_t out = 0;
    for (int i = 0; i < N; i++) {
        double u = ot_rng_uniform(&r), z = ot_rng_normal(&r);
        out += !(u >= 0.0 && u < 1.0) || !isfinite(z);
        su += u, su2 += u * u, sn += z, sn2 += z * z;
    }
    CU_ASSERT_EQUAL(out, 0);
    CU_ASSERT_DOUBLE_EQUAL(su / N, 0.5, 0.005);
    CU_ASSERT_DOUBLE_EQUAL(su2 / N - (su / N) * (su / N), 1.0 / 12.0, 0.003);
    CU_ASSERT_DOUBLE_EQUAL(sn / N, 0.0, 0.015);
    CU_ASSERT_DOUBLE_EQUAL(sn2 / N - (sn / N) * (sn / N), 1.0, 0.025);
}

/* the shuffle is a permutation, the same for the same seed, another for another seed, and
 * every position takes every value about equally often */
static void test_shuffle(void)
{
    enum { N = 50 };
    uint32_t a[N], b[N], seen[N];
    ot_rng_t r1, r2;
    ot_rng_seed(&r1, 3);
    ot_rng_seed(&r2, 3);
    for (uint32_t i = 0; i < N; i++)
        a[i] = b[i] = i;
    ot_rng_shuffle(&r1, a, N);
    ot_rng_shuffle(&r2, b, N);
    CU_ASSERT(memcmp(a, b, sizeof a) == 0);
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < N; i++)
        seen[a[i]]++;
    size_t once = 0;
    for (size_t i = 0; i < N; i++)
        once += seen[i] == 1;
    CU_ASSERT_EQUAL(once, N);
    ot_rng_seed(&r2, 4);
    for (uint32_t i = 0; i < N; i++)
        b[i] = i;
    ot_rng_shuffle(&r2, b, N);
    CU_ASSERT(memcmp(a, b, sizeof a) != 0);
    /* position 0 over 20,000 shuffles of 4: each value a quarter of the time */
    size_t first[4] = {0};
    for (int k = 0; k < 20000; k++) {
        uint32_t v[4] = {0, 1, 2, 3};
        ot_rng_shuffle(&r1, v, 4);
        first[v[0]]++;
    }
    for (int i = 0; i < 4; i++)
        CU_ASSERT(first[i] > 4700 && first[i] < 5300);
}

OT_TEST_SUITE(rng, NULL, NULL,
              {"xoshiro256**: the reference outputs from state {1, 2, 3, 4}", test_reference_outputs},
              {"seeding: splitmix64, never all zero, same seed same stream", test_seed},
              {"below: in range, n = 1 and near 2^64, chi-square over 10 values", test_below},
              {"uniform and normal: range, mean, variance", test_uniform_normal},
              {"shuffle: a permutation, reproducible, uniform first position", test_shuffle})
