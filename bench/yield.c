/* yield: two goroutines each call gort_yield N times, P=1.
 * The main goroutine is one of the two, so nothing else is runnable.
 * Figure: wall time / (2N) in ns per yield. */
#include <gort.h>

#include "bench.h"

static int64_t n;
static int64_t other_count;

static void yielder(void *arg)
{
    (void)arg;
    for (int64_t i = 0; i < n; i++) {
        gort_yield();
        other_count++;
    }
}

static void bench_main(void *arg)
{
    (void)arg;
    int64_t mine = 0;
    gort_go(yielder, NULL);
    double t0 = bench_now_ns();
    for (int64_t i = 0; i < n; i++) {
        gort_yield();
        mine++;
    }
    double t1 = bench_now_ns();
    while (other_count < n)
        gort_yield();
    if (mine != n || other_count != n)
        bench_fail("yield", "a goroutine did not finish its yields");
    printf("yield %d %.2f ns/yield\n", gort_maxprocs(), (t1 - t0) / (double)(2 * n));
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 5000000);
    return gort_main(argc, argv, bench_main, NULL);
}
