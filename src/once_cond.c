/*
 * once_cond.c - gort_once and gort_cond (Go's sync.Once and sync.Cond).
 *
 * Once.  done_ is set (release) only after fn has returned, so the fast
 * path -- one acquire load that sees 1 -- also sees everything fn wrote.
 * Otherwise callers serialise on the once's own gort_mutex: the first to
 * get it runs fn, the rest park on the mutex until fn has returned, then
 * find done_ set.  owner_ holds the id of the goroutine running fn, so a
 * recursive call from inside fn (which would wait for itself forever) is
 * reported instead.  Only that goroutine writes its own id there, so a
 * caller that reads its own id is that goroutine.
 *
 * Cond: a ticket-based notify list (Go's runtime notifyList).  wait_ is
 * the next ticket to give out, notify_ the next to wake.  A waiter takes
 * a ticket *before* unlocking the mutex, then enqueues itself under the
 * list lock unless its ticket was already notified.  Signal wakes ticket
 * notify_ (and advances notify_), broadcast wakes everything up to wait_.
 * A signal that comes between a waiter's unlock and its park thus finds
 * the ticket outstanding and either wakes the record or -- if the waiter
 * is not queued yet -- the waiter sees its ticket below notify_ and does
 * not park at all.  No wake-up is lost, and a signal never wakes a
 * goroutine that started waiting after it.
 *
 * Invariants (under lock_): the list holds, in ticket order, the waiters
 * whose tickets are >= notify_; every ticket below notify_ has been woken
 * or never parked.  Tickets compare modulo 2^32 (wait_ - notify_ is the
 * number outstanding).
 *
 * Lock order: lock_ (a gort_rtlock in the public struct) is a leaf, held
 * for a few list operations, never across gort_ready, and released by
 * gort_park once the waiter is off the CPU.  gort_cond_wait never holds it
 * together with the mutex's semaphore bucket locks.
 */
#include "sema.h"

_Static_assert(sizeof(gort_rtlock) == sizeof(uint32_t), "cond lock_ holds a gort_rtlock");

/* ---- once -------------------------------------------------------------- */

void gort_once_do(gort_once *once, void (*fn)(void *), void *arg)
{
    gort_g *g = gort_need_g("gort_once_do");
    if (likely(__atomic_load_n(&once->done_, __ATOMIC_ACQUIRE) != 0))
        return;
    if (unlikely(__atomic_load_n(&once->owner_, __ATOMIC_RELAXED) == g->id))
        gort_throw_call("gort_once_do", "recursive call from the once function "
                        "(it would wait for itself forever)");
    gort_mutex_lock_g(&once->m_, g);
    if (__atomic_load_n(&once->done_, __ATOMIC_RELAXED) == 0) {
        __atomic_store_n(&once->owner_, g->id, __ATOMIC_RELAXED);
        fn(arg);
        /* fn may have migrated us: g is the goroutine, not the thread. */
        __atomic_store_n(&once->owner_, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&once->done_, 1, __ATOMIC_RELEASE);
    }
    gort_mutex_unlock_call(&once->m_, "gort_once_do");
}

/* ---- cond -------------------------------------------------------------- */

typedef struct condwaiter {
    gort_g *g;
    uint32_t ticket;
    struct condwaiter *next;
} condwaiter;

static inline gort_rtlock *cond_lock(gort_cond *c)
{
    return (gort_rtlock *)(void *)&c->lock_;
}

static void cond_unlock(void *lock)
{
    gort_rtlock_unlock((gort_rtlock *)lock);
}

/* a < b in ticket order */
static inline bool ticket_less(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

void gort_cond_init(gort_cond *c, gort_mutex *mu)
{
    *c = (gort_cond)GORT_COND_INIT(mu);
}

void gort_cond_wait(gort_cond *c)
{
    gort_g *g = gort_need_g("gort_cond_wait");
    gort_mutex *mu = c->L;
    if (unlikely(mu == NULL))
        gort_throw_call("gort_cond_wait", "condition variable has no mutex "
                        "(initialise it with gort_cond_init or GORT_COND_INIT)");
    uint32_t t = __atomic_fetch_add(&c->wait_, 1, __ATOMIC_SEQ_CST);
    gort_mutex_unlock_call(mu, "gort_cond_wait");

    condwaiter w;
    gort_rtlock_lock(cond_lock(c));
    if (ticket_less(t, __atomic_load_n(&c->notify_, __ATOMIC_RELAXED))) {
        gort_rtlock_unlock(cond_lock(c));   /* signalled in between */
    } else {
        w.g = g;
        w.ticket = t;
        w.next = NULL;
        if (c->tail_)
            ((condwaiter *)c->tail_)->next = &w;
        else
            c->head_ = &w;
        c->tail_ = &w;
        gort_park("gort_cond_wait", cond_unlock, cond_lock(c));
    }
    gort_mutex_lock_g(mu, g);
}

void gort_cond_signal(gort_cond *c)
{
    gort_need_g("gort_cond_signal");
    if (__atomic_load_n(&c->wait_, __ATOMIC_SEQ_CST) ==
        __atomic_load_n(&c->notify_, __ATOMIC_SEQ_CST))
        return;   /* no ticket outstanding */
    gort_rtlock_lock(cond_lock(c));
    uint32_t t = c->notify_;
    if (t == __atomic_load_n(&c->wait_, __ATOMIC_SEQ_CST)) {
        gort_rtlock_unlock(cond_lock(c));
        return;
    }
    __atomic_store_n(&c->notify_, t + 1, __ATOMIC_SEQ_CST);
    /* Ticket t's waiter may not have queued yet: then it will see
     * t < notify_ and not park. */
    condwaiter *prev = NULL;
    for (condwaiter *w = c->head_; w; prev = w, w = w->next) {
        if (w->ticket != t)
            continue;
        if (prev)
            prev->next = w->next;
        else
            c->head_ = w->next;
        if (c->tail_ == w)
            c->tail_ = prev;
        gort_rtlock_unlock(cond_lock(c));
        gort_ready(w->g, false);   /* w is gone once g may run */
        return;
    }
    gort_rtlock_unlock(cond_lock(c));
}

void gort_cond_broadcast(gort_cond *c)
{
    gort_need_g("gort_cond_broadcast");
    if (__atomic_load_n(&c->wait_, __ATOMIC_SEQ_CST) ==
        __atomic_load_n(&c->notify_, __ATOMIC_SEQ_CST))
        return;
    gort_rtlock_lock(cond_lock(c));
    condwaiter *w = c->head_;
    c->head_ = c->tail_ = NULL;
    __atomic_store_n(&c->notify_, __atomic_load_n(&c->wait_, __ATOMIC_SEQ_CST),
                     __ATOMIC_SEQ_CST);
    gort_rtlock_unlock(cond_lock(c));
    while (w) {
        condwaiter *next = w->next;   /* read before w's goroutine may run */
        gort_ready(w->g, false);
        w = next;
    }
}
