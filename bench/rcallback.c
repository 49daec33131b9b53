/* rcallback: the callback workload from a runtime thread.  A goroutine
 * makes one foreign call (gort_cgocall) into a C loop that calls a libffi
 * closure made by gort_callback_new N times; the handler runs as the
 * same goroutine, back on its own stack, and returns a+b (through add2);
 * check the sum.  Figure: ns per callback. */
#include <gort.h>

#include "bench.h"

int64_t add2(int64_t a, int64_t b);

static int64_t n;
static int64_t (*cb)(int64_t, int64_t);

static void handler(ffi_cif *cif, void *ret, void **args, void *user)
{
    (void)cif;
    (void)user;
    *(int64_t *)ret = add2(*(int64_t *)args[0], *(int64_t *)args[1]);
}

static void c_loop(void *arg)
{
    int64_t *sum = arg;
    int64_t s = 0;
    for (int64_t i = 0; i < n; i++)
        s += cb(i, 1);
    *sum = s;
}

static void bench_main(void *arg)
{
    (void)arg;
    int64_t sum = 0;
    double t0 = bench_now_ns();
    gort_cgocall(c_loop, &sum);
    double t1 = bench_now_ns();
    if (sum != n * (n - 1) / 2 + n)
        bench_fail("rcallback", "wrong sum");
    printf("rcallback %d %.2f ns/callback\n", gort_maxprocs(), (t1 - t0) / (double)n);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 1000000);
    static ffi_cif cif;
    static ffi_type *args[2] = {&ffi_type_sint64, &ffi_type_sint64};
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint64, args) != FFI_OK)
        bench_fail("rcallback", "ffi_prep_cif");
    cb = (int64_t(*)(int64_t, int64_t))gort_callback_new(&cif, handler, NULL);
    if (!cb)
        bench_fail("rcallback", "gort_callback_new");
    int rc = gort_main(argc, argv, bench_main, NULL);
    gort_callback_free((void *)cb);
    return rc;
}
