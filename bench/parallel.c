/* parallel: 1,000 goroutines each run a fixed CPU loop of N iterations
 * (an LCG, folded into a checksum).  Prints the wall time at this P; the
 * SPEC figure, T(P=1)/T(P=all), is computed by bench/run.sh from two
 * runs.  The checksum is checked against a serial computation. */
#include <stdatomic.h>

#include <gort.h>

#include "bench.h"

#define WORKERS 1000

static int64_t n;
static _Atomic uint64_t checksum;
static gort_waitgroup wg;

static uint64_t work(uint64_t seed, int64_t iters)
{
    uint64_t x = seed;
    for (int64_t i = 0; i < iters; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

static void worker(void *arg)
{
    uint64_t x = work((uint64_t)(uintptr_t)arg, n);
    atomic_fetch_xor_explicit(&checksum, x, memory_order_relaxed);
    gort_waitgroup_done(&wg);
}

static void bench_main(void *arg)
{
    (void)arg;
    double t0 = bench_now_ns();
    gort_waitgroup_add(&wg, WORKERS);
    for (uintptr_t i = 0; i < WORKERS; i++)
        gort_go(worker, (void *)(i + 1));
    gort_waitgroup_wait(&wg);
    double t1 = bench_now_ns();
    uint64_t want = 0;
    for (uintptr_t i = 0; i < WORKERS; i++)
        want ^= work(i + 1, n);
    if (atomic_load(&checksum) != want)
        bench_fail("parallel", "wrong checksum");
    printf("parallel %d %.2f ms\n", gort_maxprocs(), (t1 - t0) / 1e6);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 1000000);
    return gort_main(argc, argv, bench_main, NULL);
}
