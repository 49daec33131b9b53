/*
 * tsan_criterion.h - lets Criterion start under ThreadSanitizer.
 *
 * Criterion (through BoxFort) maps its "inheritable arena" with MAP_FIXED
 * at a random address in [0x2000_0000_0000, 0x6000_0000_0000) that
 * mincore() reports unmapped, and gives up after 10 tries.  Under TSan
 * nearly all of that range is TSan's own (shadow, meta data, reserved
 * gaps): mapped, or refused by TSan's mmap as "not application memory".
 * Criterion then dies with "Could not initialize inheritable arena"
 * most of the time (Criterion issue #274).  So in a TSan build the suites
 * interpose two calls:
 *
 *   mincore   on a page in [0x2000_0000_0000, 0x5500_0000_0000), a range
 *             that is TSan's in every x86-64 layout it has had, says "not
 *             mapped" (ENOMEM), so BoxFort goes on to map there;
 *   mmap      a fixed shared mapping in BoxFort's range that fails is
 *             made instead in [0x5500_0000_0000, 0x5550_0000_0000): the
 *             application range TSan keeps for PIE binaries, below where
 *             the kernel loads them, without replacing anything
 *             (MAP_FIXED_NOREPLACE).  The address still passes BoxFort's
 *             range check, and the test children, which map the arena at
 *             the same address, have the same application range.
 *
 * Every other call goes straight through.
 *
 * Also TSan's default options for the suites: several tests fork a child
 * that starts a runtime (util.h's run_child) while the parent's runtime
 * or Criterion's threads run; TSan would end such a child at its first
 * thread ("starting new threads after multi-threaded fork is not
 * supported") unless die_after_fork=0.  TSAN_OPTIONS still overrides.
 *
 * Included once per suite (by util.h); empty unless built with TSan.
 */
#ifndef GORT_TESTS_TSAN_CRITERION_H
#define GORT_TESTS_TSAN_CRITERION_H

#if defined(__SANITIZE_THREAD__)
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>

typedef void *tsan_criterion_mmap_fn(void *, size_t, int, int, int, off_t);

/* Not instrumented (no_sanitize_thread: gcc then adds nothing at all):
 * TSan's own start-up calls mmap too, before instrumented code may run. */
__attribute__((no_sanitize_thread)) static void *
tsan_criterion_mmap(tsan_criterion_mmap_fn *next, void *addr, size_t len, int prot, int flags,
                    int fd, off_t off)
{
    void *p = next(addr, len, prot, flags, fd, off);
    uintptr_t a = (uintptr_t)addr;
    if (p != MAP_FAILED || !(flags & MAP_FIXED) || !(flags & MAP_SHARED) ||
        a < 0x200000000000 || a >= 0x7f0000000000)
        return p;
    const uintptr_t lo = 0x550000000000, hi = 0x555000000000, step = (uintptr_t)1 << 24;
    int nflags = (flags & ~MAP_FIXED) | MAP_FIXED_NOREPLACE;
    uintptr_t try = lo + (a % (hi - lo)) / step * step;
    for (int n = 0; n < 64; n++) {
        if (try + len > hi)
            try = lo;
        p = next((void *)try, len, prot, nflags, fd, off);
        if (p != MAP_FAILED)
            return p;
        try += step * 7919;
    }
    return MAP_FAILED;
}

/* Criterion's library calls mmap64 (the same function on x86-64). */
#define TSAN_CRITERION_INTERPOSE(name)                                                      \
    __attribute__((visibility("default"), no_sanitize_thread)) void *                       \
    name(void *addr, size_t len, int prot, int flags, int fd, off_t off);                   \
    void *name(void *addr, size_t len, int prot, int flags, int fd, off_t off)              \
    {                                                                                       \
        static tsan_criterion_mmap_fn *next;                                                \
        if (!next)                                                                          \
            next = (tsan_criterion_mmap_fn *)dlsym(RTLD_NEXT, #name);                       \
        return tsan_criterion_mmap(next, addr, len, prot, flags, fd, off);                  \
    }
TSAN_CRITERION_INTERPOSE(mmap)
TSAN_CRITERION_INTERPOSE(mmap64)

__attribute__((visibility("default"), no_sanitize_thread)) const char *
__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}

__attribute__((visibility("default"), no_sanitize_thread)) int
mincore(void *addr, size_t len, unsigned char *vec);
int mincore(void *addr, size_t len, unsigned char *vec)
{
    static int (*next)(void *, size_t, unsigned char *);
    if (!next)
        next = (int (*)(void *, size_t, unsigned char *))dlsym(RTLD_NEXT, "mincore");
    uintptr_t a = (uintptr_t)addr;
    if (a >= 0x200000000000 && a + len <= 0x550000000000) {
        errno = ENOMEM;
        return -1;
    }
    return next(addr, len, vec);
}
#endif

#endif
