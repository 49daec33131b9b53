/* chan: one producer sends N int64 values over a channel of capacity 1024;
 * one consumer sums them.  Figure: ns per item. */
#include <gort.h>

#include "bench.h"

static int64_t n;
static gort_chan *c, *result;

static void producer(void *arg)
{
    (void)arg;
    for (int64_t i = 0; i < n; i++)
        gort_chan_send(c, &i);
    gort_chan_close(c);
}

static void consumer(void *arg)
{
    (void)arg;
    int64_t v, sum = 0;
    while (gort_chan_recv(c, &v))
        sum += v;
    gort_chan_send(result, &sum);
}

static void bench_main(void *arg)
{
    (void)arg;
    c = gort_chan_new(sizeof(int64_t), 1024);
    result = gort_chan_new(sizeof(int64_t), 0);
    double t0 = bench_now_ns();
    gort_go(consumer, NULL);
    gort_go(producer, NULL);
    int64_t sum;
    gort_chan_recv(result, &sum);
    double t1 = bench_now_ns();
    if (sum != n * (n - 1) / 2)
        bench_fail("chan", "wrong sum");
    printf("chan %d %.2f ns/item\n", gort_maxprocs(), (t1 - t0) / (double)n);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 10000000);
    return gort_main(argc, argv, bench_main, NULL);
}
