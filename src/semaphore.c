/*
 * semaphore.c - gort_sema, the public counting semaphore: a thin face on
 * the semaphore layer (sema.c), whose uint32_t is the permit count.
 *
 * FIFO: acquirers that find no permit park in arrival order, and release
 * uses the layer's hand-off, so a permit released while goroutines wait
 * goes to the one that has waited longest (it is given the permit before
 * it is made runnable; a goroutine arriving later cannot take it, unless
 * it took the count in the instant between the increment and the
 * hand-off, in which case the waiter keeps its place at the head).  The
 * woken goroutine is queued normally (not run in the releaser's place),
 * so several releases wake their waiters in order.
 *
 * Invariants: count_ is the number of free permits; it is > 0 with
 * goroutines parked only in that instant.
 *
 * Lock order: none of its own; sema.c's bucket locks only.
 */
#include "sema.h"

void gort_sema_init(gort_sema *s, uint32_t n)
{
    __atomic_store_n(&s->count_, n, __ATOMIC_SEQ_CST);
}

void gort_sema_acquire(gort_sema *s)
{
    gort_g *g = gort_need_g("gort_sema_acquire");
    gort_sync_checkpoint(g);
    gort_semacquire(&s->count_, false, "gort_sema_acquire");
}

int gort_sema_try_acquire(gort_sema *s)
{
    gort_need_g("gort_sema_try_acquire");
    return gort_cansemacquire(&s->count_) ? 1 : 0;
}

void gort_sema_release(gort_sema *s)
{
    gort_need_g("gort_sema_release");
    gort_semrelease_flags(&s->count_, GORT_SEMREL_HANDOFF, "gort_sema_release");
}
