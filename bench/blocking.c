/* blocking: 64 goroutines each make one foreign call (gort_cgocall) to
 * usleep(20000), all at the same time, while one goroutine counts to N in
 * a loop (an LCG step per count, a yield every 1024).  N is sized so that
 * the count alone takes about 10 ms.  Check: all 64 calls returned and
 * the count's checksum.  Figure: wall time of the whole, ms (ideal: about
 * 20 ms; the calls serialised on P processors would take 1280/P ms). */
#include <unistd.h>

#include <gort.h>

#include "bench.h"

#define NCALLS 64

static int64_t n;
static gort_waitgroup wg;
static int64_t calls_done;   /* [one goroutine at a time: under mu] */
static gort_mutex mu = GORT_MUTEX_INIT;
static uint64_t checksum;

static uint64_t count(int64_t to, bool yield)
{
    uint64_t x = 1;
    for (int64_t i = 0; i < to; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        if (yield && (i & 1023) == 1023)
            gort_yield();
    }
    return x;
}

static void counter(void *arg)
{
    (void)arg;
    checksum = count(n, true);
    gort_waitgroup_done(&wg);
}

static void sleep_20ms(void *arg)
{
    (void)arg;
    usleep(20000);
}

static void caller(void *arg)
{
    (void)arg;
    gort_cgocall(sleep_20ms, NULL);
    gort_mutex_lock(&mu);
    calls_done++;
    gort_mutex_unlock(&mu);
    gort_waitgroup_done(&wg);
}

static void bench_main(void *arg)
{
    (void)arg;
    double t0 = bench_now_ns();
    gort_waitgroup_add(&wg, NCALLS + 1);
    gort_go(counter, NULL);
    for (int i = 0; i < NCALLS; i++)
        gort_go(caller, NULL);
    gort_waitgroup_wait(&wg);
    double t1 = bench_now_ns();
    if (calls_done != NCALLS)
        bench_fail("blocking", "calls lost");
    if (checksum != count(n, false))
        bench_fail("blocking", "wrong count");
    if (t1 - t0 < 20e6)
        bench_fail("blocking", "finished before 20 ms");
    printf("blocking %d %.2f ms\n", gort_maxprocs(), (t1 - t0) / 1e6);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 10000000);
    return gort_main(argc, argv, bench_main, NULL);
}
