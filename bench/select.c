/* select: 4 producers each send N/4 items on their own unbuffered channel;
 * one consumer selects over the 4 until all are drained.  Figure: ns per
 * item. */
#include <gort.h>

#include "bench.h"

#define PRODUCERS 4

static int64_t n;
static gort_chan *chans[PRODUCERS];

static void producer(void *arg)
{
    intptr_t k = (intptr_t)arg;
    for (int64_t i = k; i < n; i += PRODUCERS)
        gort_chan_send(chans[k], &i);
    gort_chan_close(chans[k]);
}

static void bench_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < PRODUCERS; i++)
        chans[i] = gort_chan_new(sizeof(int64_t), 0);
    double t0 = bench_now_ns();
    for (intptr_t i = 0; i < PRODUCERS; i++)
        gort_go(producer, (void *)i);
    int64_t v, sum = 0;
    gort_select_case cases[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        cases[i] = (gort_select_case){.chan = chans[i], .dir = GORT_SELECT_RECV, .elem = &v};
    int open = PRODUCERS;
    while (open > 0) {
        int i = gort_select(cases, PRODUCERS, true);
        if (cases[i].ok) {
            sum += v;
        } else {
            cases[i].chan = NULL;   /* drained: never ready again */
            open--;
        }
    }
    double t1 = bench_now_ns();
    if (sum != n * (n - 1) / 2)
        bench_fail("select", "wrong sum");
    printf("select %d %.2f ns/item\n", gort_maxprocs(), (t1 - t0) / (double)n);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 4000000);
    return gort_main(argc, argv, bench_main, NULL);
}
