/*
 * lock.c - futex-based mutex and notes (see lock.h for the contracts).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"

#define SPIN_TRIES 100

/* errno is left alone: the runtime's locks and notes are taken on
 * goroutines' own time too (a contended lock in gort_yield, a wake-up in
 * a channel send), and errno there belongs to the goroutine.  A futex
 * wait fails routinely (EAGAIN: the word changed; ETIMEDOUT), and the
 * callers look at the futex word, never at the error. */
static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
    int saved = errno;
    long r = syscall(SYS_futex, (uint32_t *)addr, op | FUTEX_PRIVATE_FLAG, val, ts, NULL, 0);
    errno = saved;
    return r;
}

static inline void cpu_relax(void)
{
    __builtin_ia32_pause();
}

void gort_rtlock_lock_slow(gort_rtlock *l)
{
    for (int i = 0; i < SPIN_TRIES; i++) {
        uint32_t zero = 0;
        if (atomic_load_explicit(&l->key, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->key, &zero, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        cpu_relax();
    }
    /* Mark contended; sleep while someone else holds it. */
    while (atomic_exchange_explicit(&l->key, 2, memory_order_acquire) != 0)
        futex(&l->key, FUTEX_WAIT, 2, NULL);
}

void gort_rtlock_wake(gort_rtlock *l)
{
    futex(&l->key, FUTEX_WAKE, 1, NULL);
}

void gort_note_clear(gort_note *n)
{
    atomic_store_explicit(&n->key, 0, memory_order_relaxed);
}

void gort_note_wakeup(gort_note *n)
{
    if (atomic_exchange_explicit(&n->key, 1, memory_order_release) != 0)
        return; /* already woken: one shot */
    futex(&n->key, FUTEX_WAKE, 1, NULL);
}

void gort_note_sleep(gort_note *n)
{
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0)
        futex(&n->key, FUTEX_WAIT, 0, NULL);
}

int64_t gort_nanotime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool gort_note_tsleep(gort_note *n, int64_t ns)
{
    if (ns < 0) {
        gort_note_sleep(n);
        return true;
    }
    int64_t deadline = gort_nanotime() + ns;
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0) {
        int64_t left = deadline - gort_nanotime();
        if (left <= 0)
            return false;
        struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
        futex(&n->key, FUTEX_WAIT, 0, &ts);
    }
    return true;
}

void gort_usleep(uint32_t us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
