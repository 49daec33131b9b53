/* ccall: a goroutine calls the C function add2 (another translation unit,
 * noinline) N times through gort_cgocall, the foreign-call path that lets
 * other goroutines run if the call blocks; check the sum.  Figure: ns per
 * call. */
#include <gort.h>

#include "bench.h"

int64_t add2(int64_t a, int64_t b);

struct call {
    int64_t a, b, r;
};

static void call_add2(void *arg)
{
    struct call *c = arg;
    c->r = add2(c->a, c->b);
}

static int64_t n;

static void bench_main(void *arg)
{
    (void)arg;
    struct call c = {0, 1, 0};
    int64_t sum = 0;
    double t0 = bench_now_ns();
    for (int64_t i = 0; i < n; i++) {
        c.a = i;
        gort_cgocall(call_add2, &c);
        sum += c.r;
    }
    double t1 = bench_now_ns();
    if (sum != n * (n - 1) / 2 + n)
        bench_fail("ccall", "wrong sum");
    printf("ccall %d %.2f ns/call\n", gort_maxprocs(), (t1 - t0) / (double)n);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 10000000);
    return gort_main(argc, argv, bench_main, NULL);
}
