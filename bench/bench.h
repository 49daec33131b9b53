/*
 * bench.h - shared by the bench/ programs (../shared/bench/SPEC.md).
 *
 * Each program prints exactly one line, "<name> <P> <figure> <unit>",
 * checks its own result and exits non-zero if it is wrong.  An optional
 * first argument multiplies N.
 */
#ifndef GORT_BENCH_H
#define GORT_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int64_t bench_n(int argc, char **argv, int64_t n)
{
    if (argc > 1) {
        double f = atof(argv[1]);
        if (f > 0)
            n = (int64_t)((double)n * f);
    }
    return n < 1 ? 1 : n;
}

static inline void bench_fail(const char *name, const char *what)
{
    fprintf(stderr, "%s: FAILED: %s\n", name, what);
    exit(1);
}

#endif
