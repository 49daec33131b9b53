/* skynet: a goroutine for level 0 starts 10 children, each of those 10,
 * ... down to N leaves; leaf i sends i to its parent, each parent sums
 * its 10 children and sends the sum up.  Figure: ms total. */
#include <gort.h>

#include "bench.h"

struct node {
    gort_chan *up;
    int64_t num, size;
};

static void skynet(void *arg)
{
    struct node *me = arg;
    int64_t sum = 0;
    if (me->size == 1) {
        sum = me->num;
    } else {
        gort_chan *c = gort_chan_new(sizeof(int64_t), 0);
        struct node kids[10];
        int64_t step = me->size / 10;
        for (int i = 0; i < 10; i++) {
            kids[i] = (struct node){.up = c, .num = me->num + i * step, .size = step};
            gort_go(skynet, &kids[i]);
        }
        for (int i = 0; i < 10; i++) {
            int64_t v;
            gort_chan_recv(c, &v);
            sum += v;
        }
        gort_chan_release(c);
    }
    gort_chan_send(me->up, &sum);
}

static int64_t n;

static void bench_main(void *arg)
{
    (void)arg;
    gort_chan *top = gort_chan_new(sizeof(int64_t), 0);
    struct node root = {.up = top, .num = 0, .size = n};
    double t0 = bench_now_ns();
    gort_go(skynet, &root);
    int64_t sum;
    gort_chan_recv(top, &sum);
    double t1 = bench_now_ns();
    if (sum != n * (n - 1) / 2)
        bench_fail("skynet", "wrong sum");
    printf("skynet %d %.2f ms\n", gort_maxprocs(), (t1 - t0) / 1e6);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 1000000);
    int64_t p = 1;
    while (p < n)
        p *= 10;
    n = p;   /* a power of 10 */
    return gort_main(argc, argv, bench_main, NULL);
}
