/* mpmc: 4 producers and 4 consumers share one channel of capacity 1024;
 * N items in all.  Figure: ns per item. */
#include <gort.h>

#include "bench.h"

#define SIDES 4

static int64_t n;
static gort_chan *c, *result;

static void producer(void *arg)
{
    int64_t k = (intptr_t)arg;
    for (int64_t i = k; i < n; i += SIDES)
        gort_chan_send(c, &i);
    int64_t zero = 0;
    gort_chan_send(result, &zero);   /* "producer done" */
}

static void consumer(void *arg)
{
    (void)arg;
    int64_t v, sum = 0;
    while (gort_chan_recv(c, &v))
        sum += v;
    sum = -sum - 1;                  /* tag: a consumer's sum */
    gort_chan_send(result, &sum);
}

static void bench_main(void *arg)
{
    (void)arg;
    c = gort_chan_new(sizeof(int64_t), 1024);
    result = gort_chan_new(sizeof(int64_t), 0);
    double t0 = bench_now_ns();
    for (intptr_t i = 0; i < SIDES; i++)
        gort_go(consumer, NULL);
    for (intptr_t i = 0; i < SIDES; i++)
        gort_go(producer, (void *)i);
    int64_t sum = 0, v;
    for (int i = 0; i < SIDES; i++)
        gort_chan_recv(result, &v);   /* producers first: they finish first */
    gort_chan_close(c);
    for (int i = 0; i < SIDES; i++) {
        gort_chan_recv(result, &v);
        sum += -v - 1;
    }
    double t1 = bench_now_ns();
    if (sum != n * (n - 1) / 2)
        bench_fail("mpmc", "wrong sum");
    printf("mpmc %d %.2f ns/item\n", gort_maxprocs(), (t1 - t0) / (double)n);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 10000000);
    return gort_main(argc, argv, bench_main, NULL);
}
