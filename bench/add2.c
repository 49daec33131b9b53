/* add2.c - the C function the foreign-call benchmarks call (ccall, ffi,
 * callback, rcallback), in a translation unit of its own so that the
 * caller cannot inline it. */
#include <stdint.h>

int64_t add2(int64_t a, int64_t b);

__attribute__((noinline)) int64_t add2(int64_t a, int64_t b)
{
    return a + b;
}
