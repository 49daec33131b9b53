/* idle: start N goroutines that each block on a channel receive; measure
 * peak RSS after all have started, then release them.  Figure: bytes per
 * goroutine (peak RSS growth / N). */
#include <sys/resource.h>

#include <gort.h>

#include "bench.h"

static gort_chan *block;
static gort_waitgroup wg;

static void idler(void *arg)
{
    (void)arg;
    gort_chan_recv(block, NULL);
    gort_waitgroup_done(&wg);
}

static long maxrss_bytes(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss * 1024L;
}

static int64_t n;

static void bench_main(void *arg)
{
    (void)arg;
    block = gort_chan_new(0, 0);
    long before = maxrss_bytes();
    gort_waitgroup_add(&wg, (int)n);
    for (int64_t i = 0; i < n; i++)
        if (gort_go(idler, NULL) < 0)
            bench_fail("idle", "gort_go failed");
    gort_stats st;
    gort_stats_get(&st);
    long after = maxrss_bytes();
    if (st.goroutines < n + 1)
        bench_fail("idle", "not all goroutines alive at once");
    gort_chan_close(block);
    gort_waitgroup_wait(&wg);
    printf("idle %d %.0f bytes/goroutine\n", gort_maxprocs(), (double)(after - before) / (double)n);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 100000);
    return gort_main(argc, argv, bench_main, NULL);
}
