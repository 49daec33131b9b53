/* ring: 503 goroutines joined by unbuffered channels pass one token N hops
 * in all; each decrements it and passes it on; at 0 the holder reports.
 * Figure: ns per hop. */
#include <gort.h>

#include "bench.h"

#define RING 503

static gort_chan *links[RING];
static gort_chan *done;

static void member(void *arg)
{
    intptr_t i = (intptr_t)arg;
    gort_chan *in = links[i], *out = links[(i + 1) % RING];
    int64_t token;
    while (gort_chan_recv(in, &token)) {
        if (token == 0) {
            int64_t who = i;
            gort_chan_send(done, &who);
            return;
        }
        token--;
        gort_chan_send(out, &token);
    }
}

static int64_t n;

static void bench_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < RING; i++)
        links[i] = gort_chan_new(sizeof(int64_t), 0);
    done = gort_chan_new(sizeof(int64_t), 0);
    for (intptr_t i = 0; i < RING; i++)
        gort_go(member, (void *)i);
    double t0 = bench_now_ns();
    int64_t token = n;
    gort_chan_send(links[0], &token);
    int64_t who;
    gort_chan_recv(done, &who);
    double t1 = bench_now_ns();
    if (who != n % RING)
        bench_fail("ring", "token ended at the wrong goroutine");
    for (int i = 0; i < RING; i++)
        gort_chan_close(links[i]);
    printf("ring %d %.2f ns/hop\n", gort_maxprocs(), (t1 - t0) / (double)n);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 10000000);
    return gort_main(argc, argv, bench_main, NULL);
}
