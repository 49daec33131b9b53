/* pingpong: two goroutines, two unbuffered channels; A sends an int to B,
 * B sends it back: N round trips.  Figure: ns per round trip. */
#include <gort.h>

#include "bench.h"

static int64_t n;
static gort_chan *ab, *ba;

static void echo(void *arg)
{
    (void)arg;
    int64_t v;
    while (gort_chan_recv(ab, &v)) {
        v++;
        gort_chan_send(ba, &v);
    }
}

static void bench_main(void *arg)
{
    (void)arg;
    ab = gort_chan_new(sizeof(int64_t), 0);
    ba = gort_chan_new(sizeof(int64_t), 0);
    gort_go(echo, NULL);
    int64_t v = 0;
    double t0 = bench_now_ns();
    for (int64_t i = 0; i < n; i++) {
        gort_chan_send(ab, &v);
        gort_chan_recv(ba, &v);
    }
    double t1 = bench_now_ns();
    gort_chan_close(ab);
    if (v != n)
        bench_fail("pingpong", "wrong count");
    printf("pingpong %d %.2f ns/roundtrip\n", gort_maxprocs(), (t1 - t0) / (double)n);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 1000000);
    return gort_main(argc, argv, bench_main, NULL);
}
