/*
 * lock.h - the runtime's own locks and one-shot wake-ups, on futexes.
 *
 * gort_rtlock: the runtime's own lock, a three-state futex mutex (0 free, 1 held, 2 held with
 *   sleepers).  It spins briefly before sleeping, because the runtime holds
 *   its locks for a few dozen instructions and a futex sleep/wake pair
 *   costs microseconds (tens across cores on a VM).  Never held across a
 *   context switch.
 * gort_note: one sleeper, one waker, one shot (Go's note).  An idle M
 *   sleeps on its note; whoever hands it work wakes it.  Clear it before
 *   the sleeper may be woken again.
 *
 * Lock order (outer first): sched.lock, then any P's overflow lock, then a
 * stack class lock.  Nothing else is taken while holding any of them.
 */
#ifndef GORT_LOCK_H
#define GORT_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct gort_rtlock {
    _Atomic uint32_t key;
} gort_rtlock;

typedef struct gort_note {
    _Atomic uint32_t key;
} gort_note;

__attribute__((visibility("hidden"))) void gort_rtlock_lock_slow(gort_rtlock *l);
__attribute__((visibility("hidden"))) void gort_rtlock_wake(gort_rtlock *l);

static inline void gort_rtlock_lock(gort_rtlock *l)
{
    uint32_t zero = 0;
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(
                             &l->key, &zero, 1, memory_order_acquire,
                             memory_order_relaxed), 1))
        return;
    gort_rtlock_lock_slow(l);
}

static inline void gort_rtlock_unlock(gort_rtlock *l)
{
    if (__builtin_expect(atomic_exchange_explicit(&l->key, 0, memory_order_release) == 2, 0))
        gort_rtlock_wake(l);
}

__attribute__((visibility("hidden"))) void gort_note_clear(gort_note *n);
__attribute__((visibility("hidden"))) void gort_note_wakeup(gort_note *n);
__attribute__((visibility("hidden"))) void gort_note_sleep(gort_note *n);
/* Sleeps at most ns nanoseconds (< 0: no limit); true if woken. */
__attribute__((visibility("hidden"))) bool gort_note_tsleep(gort_note *n, int64_t ns);

__attribute__((visibility("hidden"))) int64_t gort_nanotime(void);
__attribute__((visibility("hidden"))) void gort_usleep(uint32_t us);

#endif
