/*
 * sema.h - the runtime's semaphore layer (sema.c), under gort's sync
 * primitives (sync.c, waitgroup.c, once_cond.c, semaphore.c).
 *
 * A semaphore here is any uint32_t in user memory: its value counts
 * permits (or wake-up tokens), and goroutines that find it at 0 park in a
 * table of wait queues hashed by its address, Go's runtime/sema.go.  Nothing
 * needs initialising per semaphore, so the public types stay plain values.
 */
#ifndef GORT_SEMA_H
#define GORT_SEMA_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime.h"

/* Flags for gort_semrelease_flags. */
enum {
    /* Give the permit straight to the first waiter (it cannot be taken
     * by a goroutine that arrives in between, unless one took it before
     * the hand-off). */
    GORT_SEMREL_HANDOFF = 1,
    /* With HANDOFF: run the waiter right now, on this thread: it goes to
     * runnext and the caller yields (the mutex's starvation mode). */
    GORT_SEMREL_YIELD = 2,
};

/* Take one from *addr, parking (FIFO; at the head of the queue if lifo)
 * until it is above 0.  reason is the goroutine's wait reason.  The
 * caller must be a goroutine (checked by the public entry points). */
GORT_INTERNAL void gort_semacquire(uint32_t *addr, bool lifo, const char *reason);

/* Add one to *addr and wake the first waiter, if any.  handoff: Go's
 * semrelease(handoff): the waiter gets the count directly and runs next,
 * the caller yielding to it.  Goroutine context only. */
GORT_INTERNAL void gort_semrelease(uint32_t *addr, bool handoff);

/* gort_semrelease with GORT_SEMREL_* flags; call names the public call
 * in the fatal error for a count that would wrap past UINT32_MAX. */
GORT_INTERNAL void gort_semrelease_flags(uint32_t *addr, unsigned flags, const char *call);

/* Take one from *addr if it is above 0, without blocking. */
GORT_INTERNAL bool gort_cansemacquire(uint32_t *addr);

/* Whether a goroutine contending for a sync lock should spin a little
 * (iter: the spins it has done): only while other Ps run goroutines that
 * may release it and this P has nothing else to run.  Go's canSpin. */
GORT_INTERNAL bool gort_sync_canspin(gort_g *g, int iter);
/* One round of spinning: a few dozen PAUSE instructions. */
GORT_INTERNAL void gort_sync_dospin(void);

/* A preemption point: honour a pending preemption request (yield) or the
 * runtime's shutdown.  Called only where no sync lock is held. */
static inline void gort_sync_checkpoint(gort_g *g)
{
    if (unlikely(atomic_load_explicit(&gort_sched.stopping, memory_order_relaxed)))
        gort_stop_check_slow(g);
    if (unlikely(atomic_load_explicit(&g->preempt, memory_order_relaxed)))
        gort_preempt_check_slow(g);
}

/* Internal halves of the public calls, with the public call's name for
 * fatal errors (gort_cond_wait unlocks and locks its mutex, gort_once_do
 * locks its own). */
GORT_INTERNAL void gort_mutex_lock_g(gort_mutex *mu, gort_g *g);
GORT_INTERNAL void gort_mutex_unlock_call(gort_mutex *mu, const char *call);

#endif
