/*
 * cpu.c - the CPU feature flags the entry fills in.
 *
 * gort_rt0_go writes these bytes from CPUID and XGETBV (step 3 of the
 * entry) before anything else runs, at the offsets layout.h names; this
 * file only stores them and answers queries.  They are plain bytes, not
 * atomics: written once on one thread before any other runtime thread
 * exists, read-only afterwards.
 */
#include <string.h>

#include "runtime.h"

uint8_t gort_cpu[GORT_CPU_SIZE] __attribute__((aligned(8)));

static const uint8_t feature_offset[GORT_CPU_FEATURE_COUNT] = {
    [GORT_CPU_FEATURE_SSE2] = GORT_CPU_SSE2,
    [GORT_CPU_FEATURE_SSSE3] = GORT_CPU_SSSE3,
    [GORT_CPU_FEATURE_SSE41] = GORT_CPU_SSE41,
    [GORT_CPU_FEATURE_SSE42] = GORT_CPU_SSE42,
    [GORT_CPU_FEATURE_POPCNT] = GORT_CPU_POPCNT,
    [GORT_CPU_FEATURE_AES] = GORT_CPU_AES,
    [GORT_CPU_FEATURE_OSXSAVE] = GORT_CPU_OSXSAVE,
    [GORT_CPU_FEATURE_AVX] = GORT_CPU_AVX,
    [GORT_CPU_FEATURE_BMI1] = GORT_CPU_BMI1,
    [GORT_CPU_FEATURE_AVX2] = GORT_CPU_AVX2,
    [GORT_CPU_FEATURE_BMI2] = GORT_CPU_BMI2,
    [GORT_CPU_FEATURE_ERMS] = GORT_CPU_ERMS,
};

int gort_cpu_has(gort_cpu_feature f)
{
    if ((unsigned)f >= GORT_CPU_FEATURE_COUNT)
        return 0;
    return gort_cpu[feature_offset[f]] != 0;
}

int gort_cpu_is_intel(void)
{
    return gort_cpu[GORT_CPU_IS_INTEL] != 0;
}

uint32_t gort_cpu_version(void)
{
    uint32_t v;
    memcpy(&v, &gort_cpu[GORT_CPU_VERSION], sizeof v);
    return v;
}
