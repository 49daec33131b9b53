/* sleep: N goroutines each sleep 1 ms once, all at the same time; main
 * waits for all.  Figure: ms total. */
#include <gort.h>

#include "bench.h"

static gort_waitgroup wg;

static void sleeper(void *arg)
{
    (void)arg;
    gort_sleep(GORT_MILLISECOND);
    gort_waitgroup_done(&wg);
}

static int64_t n;

static void bench_main(void *arg)
{
    (void)arg;
    double t0 = bench_now_ns();
    gort_waitgroup_add(&wg, (int)n);
    for (int64_t i = 0; i < n; i++)
        gort_go(sleeper, NULL);
    gort_waitgroup_wait(&wg);
    double t1 = bench_now_ns();
    if ((t1 - t0) < 1e6)
        bench_fail("sleep", "finished before 1 ms");
    printf("sleep %d %.2f ms\n", gort_maxprocs(), (t1 - t0) / 1e6);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 100000);
    return gort_main(argc, argv, bench_main, NULL);
}
