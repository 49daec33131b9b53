/* yield: two goroutines each call gort_yield N times, P=1.
 * Figure: wall time / (2N) in ns per yield. */
#include <gort.h>

#include "bench.h"

static int64_t n;
static int64_t counts[2];

static void yielder(void *arg)
{
    int64_t *c = arg;
    for (int64_t i = 0; i < n; i++) {
        gort_yield();
        (*c)++;
    }
}

static void bench_main(void *arg)
{
    (void)arg;
    double t0 = bench_now_ns();
    gort_go(yielder, &counts[0]);
    gort_go(yielder, &counts[1]);
    while (counts[0] < n || counts[1] < n)
        gort_yield();
    double t1 = bench_now_ns();
    if (counts[0] != n || counts[1] != n)
        bench_fail("yield", "a goroutine did not finish its yields");
    printf("yield %d %.2f ns/yield\n", bench_procs(), (t1 - t0) / (double)(2 * n));
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 5000000);
    return gort_main(argc, argv, bench_main, NULL);
}
