/* ffi: as ccall, but each call goes through gort_ffi_call with a libffi
 * call interface (ffi_cif) prepared once.  Figure: ns per call. */
#include <gort.h>

#include "bench.h"

int64_t add2(int64_t a, int64_t b);

static int64_t n;

static void bench_main(void *arg)
{
    (void)arg;
    ffi_cif cif;
    ffi_type *args[2] = {&ffi_type_sint64, &ffi_type_sint64};
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint64, args) != FFI_OK)
        bench_fail("ffi", "ffi_prep_cif");
    int64_t a = 0, b = 1, r = 0, sum = 0;
    void *av[2] = {&a, &b};
    double t0 = bench_now_ns();
    for (int64_t i = 0; i < n; i++) {
        a = i;
        gort_ffi_call(&cif, (void (*)(void))add2, &r, av);
        sum += r;
    }
    double t1 = bench_now_ns();
    if (sum != n * (n - 1) / 2 + n)
        bench_fail("ffi", "wrong sum");
    printf("ffi %d %.2f ns/call\n", gort_maxprocs(), (t1 - t0) / (double)n);
}

int main(int argc, char **argv)
{
    n = bench_n(argc, argv, 10000000);
    return gort_main(argc, argv, bench_main, NULL);
}
