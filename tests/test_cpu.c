/*
 * test_cpu.c - the CPU feature flags the entry fills in (asm/amd64/rt0.S
 * step 3, src/cpu.c).
 *
 * Covers: every gort_cpu_has flag against CPUID read here with <cpuid.h>
 * (and XGETBV for AVX/AVX2), the vendor check, the version word, and
 * out-of-range queries; flags are all 0 before the entry runs.
 *
 * Why: the probing is hand-written assembly with hard-coded bit numbers;
 * one wrong bit silently turns off (or on!) a code path.
 */
#include <criterion/criterion.h>

#include <cpuid.h>
#include <stdint.h>
#include <string.h>

#include "runtime.h"
#include "util.h"

TestSuite(cpu, .timeout = 30);

static void noop_main(void *arg)
{
    (void)arg;
}

static int bit(uint32_t r, int n)
{
    return (r >> n) & 1;
}

static uint32_t xcr0(void)
{
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return eax;
}

struct expected {
    int has[GORT_CPU_FEATURE_COUNT];
    int intel;
    uint32_t version;
};

static void probe(struct expected *e)
{
    uint32_t a, b, c, d, max;
    memset(e, 0, sizeof *e);
    max = __get_cpuid_max(0, NULL);
    if (max == 0)
        return;
    __cpuid(0, a, b, c, d);
    e->intel = b == 0x756E6547 && d == 0x49656E69 && c == 0x6C65746E; /* GenuineIntel */
    __cpuid(1, a, b, c, d);
    e->version = a;
    e->has[GORT_CPU_FEATURE_SSE2] = bit(d, 26);
    e->has[GORT_CPU_FEATURE_SSSE3] = bit(c, 9);
    e->has[GORT_CPU_FEATURE_SSE41] = bit(c, 19);
    e->has[GORT_CPU_FEATURE_SSE42] = bit(c, 20);
    e->has[GORT_CPU_FEATURE_POPCNT] = bit(c, 23);
    e->has[GORT_CPU_FEATURE_AES] = bit(c, 25);
    e->has[GORT_CPU_FEATURE_OSXSAVE] = bit(c, 27);
    int os_ymm = bit(c, 27) && (xcr0() & 6) == 6;
    e->has[GORT_CPU_FEATURE_AVX] = bit(c, 28) && os_ymm;
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        e->has[GORT_CPU_FEATURE_BMI1] = bit(b, 3);
        e->has[GORT_CPU_FEATURE_AVX2] = bit(b, 5) && os_ymm;
        e->has[GORT_CPU_FEATURE_BMI2] = bit(b, 8);
        e->has[GORT_CPU_FEATURE_ERMS] = bit(b, 9);
    }
}

static const char *const names[GORT_CPU_FEATURE_COUNT] = {
    "SSE2", "SSSE3", "SSE41", "SSE42", "POPCNT", "AES", "OSXSAVE",
    "AVX", "BMI1", "AVX2", "BMI2", "ERMS",
};

Test(cpu, flags_are_zero_before_the_entry)
{
    for (int f = 0; f < GORT_CPU_FEATURE_COUNT; f++)
        cr_assert_eq(gort_cpu_has((gort_cpu_feature)f), 0, "%s set before the entry ran",
                     names[f]);
    cr_assert_eq(gort_cpu_version(), 0);
}

Test(cpu, flags_match_cpuid)
{
    struct expected e;
    probe(&e);
    cr_assert_eq(run_main(noop_main, NULL), 0);
    for (int f = 0; f < GORT_CPU_FEATURE_COUNT; f++)
        cr_assert_eq(gort_cpu_has((gort_cpu_feature)f), e.has[f], "%s: gort says %d, CPUID %d",
                     names[f], gort_cpu_has((gort_cpu_feature)f), e.has[f]);
    /* Every amd64 CPU has SSE2: a flag that is wrong everywhere shows up. */
    cr_assert_eq(gort_cpu_has(GORT_CPU_FEATURE_SSE2), 1);
}

Test(cpu, avx_needs_os_ymm_support)
{
    cr_assert_eq(run_main(noop_main, NULL), 0);
    uint32_t a, b, c, d;
    __cpuid(1, a, b, c, d);
    int os_ymm = bit(c, 27) && (xcr0() & 6) == 6;
    if (!os_ymm) {
        cr_assert_eq(gort_cpu_has(GORT_CPU_FEATURE_AVX), 0);
        cr_assert_eq(gort_cpu_has(GORT_CPU_FEATURE_AVX2), 0);
    } else {
        cr_assert_eq(gort_cpu_has(GORT_CPU_FEATURE_AVX), bit(c, 28));
    }
    if (gort_cpu_has(GORT_CPU_FEATURE_AVX2) || gort_cpu_has(GORT_CPU_FEATURE_AVX))
        cr_assert_eq(xcr0() & 6, 6u);
}

Test(cpu, vendor_and_version)
{
    struct expected e;
    probe(&e);
    cr_assert_eq(run_main(noop_main, NULL), 0);
    char vendor[13];
    uint32_t a, b, c, d;
    __cpuid(0, a, b, c, d);
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    cr_assert_eq(gort_cpu_is_intel(), strcmp(vendor, "GenuineIntel") == 0, "vendor %s", vendor);
    cr_assert_eq(gort_cpu_is_intel(), e.intel);
    cr_assert_eq(gort_cpu[GORT_CPU_LFENCE_RDTSC], (uint8_t)e.intel,
                 "LFENCE-before-RDTSC flag does not follow the vendor");
    cr_assert_eq(gort_cpu_version(), e.version, "version %#x, CPUID.1:EAX %#x",
                 gort_cpu_version(), e.version);
    uint32_t max;
    memcpy(&max, &gort_cpu[GORT_CPU_MAXLEAF], sizeof max);
    cr_assert_eq(max, __get_cpuid_max(0, NULL));
}

Test(cpu, out_of_range_features_are_zero)
{
    cr_assert_eq(run_main(noop_main, NULL), 0);
    cr_assert_eq(gort_cpu_has(GORT_CPU_FEATURE_COUNT), 0);
    cr_assert_eq(gort_cpu_has((gort_cpu_feature)(GORT_CPU_FEATURE_COUNT + 100)), 0);
    cr_assert_eq(gort_cpu_has((gort_cpu_feature)-1), 0);
    cr_assert_eq(gort_cpu_has((gort_cpu_feature)0x7fffffff), 0);
}

static int has_in_goroutine[GORT_CPU_FEATURE_COUNT];

static void cpu_main(void *arg)
{
    (void)arg;
    for (int f = 0; f < GORT_CPU_FEATURE_COUNT; f++)
        has_in_goroutine[f] = gort_cpu_has((gort_cpu_feature)f);
}

Test(cpu, flags_are_set_before_the_main_goroutine_runs)
{
    struct expected e;
    probe(&e);
    cr_assert_eq(run_main(cpu_main, NULL), 0);
    for (int f = 0; f < GORT_CPU_FEATURE_COUNT; f++)
        cr_assert_eq(has_in_goroutine[f], e.has[f], "%s inside the main goroutine", names[f]);
}
