/*
 * sync.c - gort_mutex and gort_rwmutex (Go's sync.Mutex and sync.RWMutex),
 * on the semaphore layer (sema.c).
 *
 * Mutex.  state_ packs, from bit 0: LOCKED, WOKEN (a waiter has been
 * woken, or a spinner is about to take the lock: unlock need not wake
 * another), STARVING, and the number of parked waiters (<< WAITER_SHIFT).
 * sema_ holds wake-up tokens for the parked waiters.
 *
 *   Normal mode: lock is one CAS 0 -> LOCKED.  Under contention a locker
 *   spins a few rounds while the holder runs on another P (gort_sync_canspin),
 *   then counts itself a waiter and parks on sema_ (FIFO).  Unlock clears
 *   LOCKED, and if there are waiters and none is already woken, takes one
 *   off the count, sets WOKEN and releases one token.  The woken waiter
 *   competes with newcomers for the lock; if it loses, it parks again at
 *   the head of the queue.  Newcomers usually win (they are on a CPU
 *   already), which is what makes normal mode fast.
 *
 *   Starvation mode: a waiter that has waited more than 1 ms sets
 *   STARVING on its next try.  From then on unlock hands the mutex
 *   straight to the first waiter (semrelease with hand-off: the waiter is
 *   given the token and runs right away, LOCKED stays clear but nobody
 *   else may take it) and newcomers queue behind without trying.  The
 *   waiter that receives it switches back to normal mode if it waited less
 *   than 1 ms or is the last waiter.
 *
 * Invariants: WOKEN is set by at most one goroutine at a time (a spinner
 * or the unlocker) and cleared by the goroutine that was woken or spun,
 * when it next updates the state; in starvation mode LOCKED and WOKEN are
 * clear while the mutex is being handed off and the waiter count is > 0.
 * The state is only ever changed by CAS or by atomic add of exact deltas.
 *
 * RWMutex.  reader_count_ is the number of readers inside (or waiting for
 * a writer), minus RWMUTEX_MAX_READERS while a writer holds or waits for
 * the lock, so a reader knows with one atomic add whether it may enter.
 * A writer first takes w_ (serialising writers), subtracts the constant,
 * and waits on writer_sem_ for the readers it found inside: reader_wait_
 * counts them down, and the last one out releases writer_sem_.  Unlock
 * adds the constant back and releases one token on reader_sem_ per reader
 * that queued meanwhile, then unlocks w_.
 *
 * Lock order: none of its own.  No state here is protected by a lock;
 * the only locks taken are the semaphore table's buckets (sema.c), one at
 * a time and never across a park.
 */
#include "sema.h"

#define MUTEX_LOCKED   1
#define MUTEX_WOKEN    2
#define MUTEX_STARVING 4
#define WAITER_SHIFT   3
#define STARVATION_NS  (1000 * 1000)

#define RWMUTEX_MAX_READERS (1 << 30)

/* The public fields are plain integers (the header is C and C++); all
 * access goes through the __atomic builtins. */
static inline int32_t ld(int32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline bool cas(int32_t *p, int32_t old, int32_t new)
{
    return __atomic_compare_exchange_n(p, &old, new, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}

static inline int32_t add(int32_t *p, int32_t delta)
{
    return __atomic_add_fetch(p, delta, __ATOMIC_ACQ_REL);
}

/* ---- mutex ------------------------------------------------------------- */

static void mutex_lock_slow(gort_mutex *mu, gort_g *g)
{
    int64_t wait_start = 0;
    bool starving = false;
    bool awoke = false;
    int iter = 0;
    int32_t old = ld(&mu->state_);
    for (;;) {
        /* Spin while locked (not in starvation mode, where the lock goes
         * to the queue, not to us) if the holder may be running.  Setting
         * WOKEN tells unlock not to wake a waiter we would race with. */
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED &&
            gort_sync_canspin(g, iter)) {
            if (!awoke && !(old & MUTEX_WOKEN) && (old >> WAITER_SHIFT) != 0 &&
                cas(&mu->state_, old, old | MUTEX_WOKEN))
                awoke = true;
            gort_sync_dospin();
            iter++;
            old = ld(&mu->state_);
            continue;
        }
        int32_t new = old;
        if (!(old & MUTEX_STARVING))
            new |= MUTEX_LOCKED;                 /* try to take it */
        if (old & (MUTEX_LOCKED | MUTEX_STARVING))
            new += 1 << WAITER_SHIFT;            /* or queue */
        if (starving && (old & MUTEX_LOCKED))
            new |= MUTEX_STARVING;               /* we waited too long */
        if (awoke) {
            if (unlikely(!(new & MUTEX_WOKEN)))
                gort_throw_call("gort_mutex_lock", "inconsistent mutex state %#x",
                                (unsigned)old);
            new &= ~MUTEX_WOKEN;
        }
        if (!cas(&mu->state_, old, new)) {
            old = ld(&mu->state_);
            continue;
        }
        if (!(old & (MUTEX_LOCKED | MUTEX_STARVING)))
            return;                              /* took it */
        /* Queued: park.  A goroutine that already waited goes back to
         * the head of the queue. */
        bool lifo = wait_start != 0;
        if (wait_start == 0)
            wait_start = gort_nanotime();
        gort_semacquire(&mu->sema_, lifo, "gort_mutex_lock");
        starving = starving || gort_nanotime() - wait_start > STARVATION_NS;
        old = ld(&mu->state_);
        if (old & MUTEX_STARVING) {
            /* Handed to us: LOCKED is clear and nobody else may set it. */
            if (unlikely((old & (MUTEX_LOCKED | MUTEX_WOKEN)) || (old >> WAITER_SHIFT) == 0))
                gort_throw_call("gort_mutex_lock", "inconsistent mutex state %#x",
                                (unsigned)old);
            int32_t delta = MUTEX_LOCKED - (1 << WAITER_SHIFT);
            if (!starving || (old >> WAITER_SHIFT) == 1)
                delta -= MUTEX_STARVING;         /* back to normal mode */
            add(&mu->state_, delta);
            return;
        }
        awoke = true;
        iter = 0;
    }
}

void gort_mutex_lock_g(gort_mutex *mu, gort_g *g)
{
    gort_sync_checkpoint(g);
    if (likely(cas(&mu->state_, 0, MUTEX_LOCKED)))
        return;
    mutex_lock_slow(mu, g);
}

void gort_mutex_lock(gort_mutex *mu)
{
    gort_mutex_lock_g(mu, gort_need_g("gort_mutex_lock"));
}

int gort_mutex_trylock(gort_mutex *mu)
{
    gort_need_g("gort_mutex_trylock");
    int32_t old = ld(&mu->state_);
    if (old & (MUTEX_LOCKED | MUTEX_STARVING))
        return 0;
    return cas(&mu->state_, old, old | MUTEX_LOCKED) ? 1 : 0;
}

static void mutex_unlock_slow(gort_mutex *mu, int32_t new, const char *call)
{
    if (unlikely(!((new + MUTEX_LOCKED) & MUTEX_LOCKED)))
        gort_throw_call(call, "unlock of unlocked mutex");
    if (new & MUTEX_STARVING) {
        /* Hand the mutex to the first waiter and let it run now. */
        gort_semrelease_flags(&mu->sema_, GORT_SEMREL_HANDOFF | GORT_SEMREL_YIELD, call);
        return;
    }
    int32_t old = new;
    for (;;) {
        /* Nobody to wake, or someone is already awake or has the lock
         * again, or the mutex went into starvation mode (the locker that
         * set it will be handed the lock by a later unlock). */
        if ((old >> WAITER_SHIFT) == 0 ||
            (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)))
            return;
        new = (old - (1 << WAITER_SHIFT)) | MUTEX_WOKEN;
        if (cas(&mu->state_, old, new)) {
            gort_semrelease_flags(&mu->sema_, 0, call);
            return;
        }
        old = ld(&mu->state_);
    }
}

void gort_mutex_unlock_call(gort_mutex *mu, const char *call)
{
    int32_t new = add(&mu->state_, -MUTEX_LOCKED);
    if (unlikely(new != 0))
        mutex_unlock_slow(mu, new, call);
}

void gort_mutex_unlock(gort_mutex *mu)
{
    gort_need_g("gort_mutex_unlock");
    gort_mutex_unlock_call(mu, "gort_mutex_unlock");
}

/* ---- rwmutex ----------------------------------------------------------- */

void gort_rwmutex_rlock(gort_rwmutex *rw)
{
    gort_g *g = gort_need_g("gort_rwmutex_rlock");
    gort_sync_checkpoint(g);
    if (add(&rw->reader_count_, 1) < 0) {
        /* A writer holds or waits for the lock: wait for its unlock. */
        gort_semacquire(&rw->reader_sem_, false, "gort_rwmutex_rlock");
    }
}

int gort_rwmutex_tryrlock(gort_rwmutex *rw)
{
    gort_need_g("gort_rwmutex_tryrlock");
    int32_t c = ld(&rw->reader_count_);
    for (;;) {
        if (c < 0)
            return 0;
        if (__atomic_compare_exchange_n(&rw->reader_count_, &c, c + 1, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return 1;
    }
}

void gort_rwmutex_runlock(gort_rwmutex *rw)
{
    gort_need_g("gort_rwmutex_runlock");
    int32_t r = add(&rw->reader_count_, -1);
    if (likely(r >= 0))
        return;
    if (unlikely(r + 1 == 0 || r + 1 == -RWMUTEX_MAX_READERS))
        gort_throw_call("gort_rwmutex_runlock", "runlock of unlocked rwmutex");
    /* A writer is waiting: the last reader it waits for lets it in. */
    if (add(&rw->reader_wait_, -1) == 0)
        gort_semrelease_flags(&rw->writer_sem_, 0, "gort_rwmutex_runlock");
}

void gort_rwmutex_lock(gort_rwmutex *rw)
{
    gort_g *g = gort_need_g("gort_rwmutex_lock");
    gort_mutex_lock_g(&rw->w_, g);
    /* Announce the writer to readers, and see how many are inside. */
    int32_t r = add(&rw->reader_count_, -RWMUTEX_MAX_READERS) + RWMUTEX_MAX_READERS;
    if (r != 0 && add(&rw->reader_wait_, r) != 0)
        gort_semacquire(&rw->writer_sem_, false, "gort_rwmutex_lock");
}

int gort_rwmutex_trylock(gort_rwmutex *rw)
{
    gort_need_g("gort_rwmutex_trylock");
    if (!gort_mutex_trylock(&rw->w_))
        return 0;
    if (!cas(&rw->reader_count_, 0, -RWMUTEX_MAX_READERS)) {
        gort_mutex_unlock_call(&rw->w_, "gort_rwmutex_trylock");
        return 0;
    }
    return 1;
}

void gort_rwmutex_unlock(gort_rwmutex *rw)
{
    gort_need_g("gort_rwmutex_unlock");
    /* Let readers in again. */
    int32_t r = add(&rw->reader_count_, RWMUTEX_MAX_READERS);
    if (unlikely(r >= RWMUTEX_MAX_READERS))
        gort_throw_call("gort_rwmutex_unlock", "unlock of unlocked rwmutex");
    /* Wake the readers that queued behind the writer. */
    for (int32_t i = 0; i < r; i++)
        gort_semrelease_flags(&rw->reader_sem_, 0, "gort_rwmutex_unlock");
    gort_mutex_unlock_call(&rw->w_, "gort_rwmutex_unlock");
}
