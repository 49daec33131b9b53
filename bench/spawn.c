/* spawn: start N goroutines, each adds 1 to a shared atomic counter and
 * signals one wait group; main waits and checks the counter.  Figure: ns
 * per goroutine. */
#include <stdatomic.h>

#include <gort.h>

#include "bench.h"

static _Atomic int64_t counter;
static gort_waitgroup wg;

static void child(void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
    gort_waitgroup_done(&wg);
}

static int64_t n;

static void bench_main(void *arg)
{
    (void)arg;
    double t0 = bench_now_ns();
    gort_waitgroup_add(&wg, (int)n);
    for (int64_t i = 0; i < n; i++)
        if (gort_go(child, NULL) < 0)
            bench_fail("spawn", "gort_go failed");
    gort_waitgroup_wait(&wg);
    double t1 = bench_now_ns();
    if (atomic_load(&counter) != n)
        bench_fail("spawn", "wrong count");
    printf("spawn %d %.2f ns/goroutine\n", gort_maxprocs(), (t1 - t0) / (double)n);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 1000000);
    return gort_main(argc, argv, bench_main, NULL);
}
