/* callback: a thread the runtime did not create (plain pthread_create)
 * calls a libffi closure made by gort_callback_new N times; the handler
 * runs in the goroutine world and returns a+b (through add2); check the
 * sum.  The main goroutine waits for the thread with pthread_join inside
 * gort_cgocall_blocking.  Figure: ns per callback. */
#include <pthread.h>

#include <gort.h>

#include "bench.h"

int64_t add2(int64_t a, int64_t b);

static int64_t n;
static int64_t (*cb)(int64_t, int64_t);
static int64_t sum;
static double elapsed;

static void handler(ffi_cif *cif, void *ret, void **args, void *user)
{
    (void)cif;
    (void)user;
    *(int64_t *)ret = add2(*(int64_t *)args[0], *(int64_t *)args[1]);
}

static void *caller(void *arg)
{
    (void)arg;
    int64_t s = 0;
    double t0 = bench_now_ns();
    for (int64_t i = 0; i < n; i++)
        s += cb(i, 1);
    elapsed = bench_now_ns() - t0;
    sum = s;
    return NULL;
}

static void join(void *arg)
{
    pthread_join(*(pthread_t *)arg, NULL);
}

static void bench_main(void *arg)
{
    (void)arg;
    pthread_t t;
    if (pthread_create(&t, NULL, caller, NULL) != 0)
        bench_fail("callback", "pthread_create");
    gort_cgocall_blocking(join, &t);
    if (sum != n * (n - 1) / 2 + n)
        bench_fail("callback", "wrong sum");
    printf("callback %d %.2f ns/callback\n", gort_maxprocs(), elapsed / (double)n);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 1000000);
    static ffi_cif cif;
    static ffi_type *args[2] = {&ffi_type_sint64, &ffi_type_sint64};
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint64, args) != FFI_OK)
        bench_fail("callback", "ffi_prep_cif");
    cb = (int64_t(*)(int64_t, int64_t))gort_callback_new(&cif, handler, NULL);
    if (!cb)
        bench_fail("callback", "gort_callback_new");
    int rc = gort_main(argc, argv, bench_main, NULL);
    gort_callback_free((void *)cb);
    return rc;
}
