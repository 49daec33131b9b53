/*
 * waitgroup.c - gort_waitgroup (Go's sync.WaitGroup), on the semaphore
 * layer (sema.c).
 *
 * state_ packs the counter (high 32 bits, signed) and the number of
 * waiters (low 32 bits) into one word, so add and wait each see both with
 * one atomic operation.  A waiter counts itself in with a CAS, and only
 * while the counter is > 0; then it parks on sema_.  The add that brings
 * the counter to 0 with waiters counted owns the release: it resets the
 * whole word to 0 (the next round starts clean) and releases one token
 * per waiter.
 *
 * Invariants: while waiters > 0 the counter is > 0, except during that
 * release; during the release the word is 0 and the goroutine releasing
 * is the only one that may touch sema_.  An add that finds waiters
 * counted but the counter going up from 0 is misuse (it races with the
 * waits of the previous round), and so is a state that changed under the
 * releasing add: both are fatal, as in Go, rather than silently losing a
 * goroutine.
 *
 * Lock order: none of its own; sema.c's bucket locks only.
 */
#include "sema.h"

/* The counter reached 0 with waiters: release them.  Nothing else may
 * change the state now (a wait would see 0 and return; an add from 0 is
 * misuse).  Out of line: wg_add is inlined into every done. */
static __attribute__((noinline)) void wg_release(gort_waitgroup *wg, uint64_t state,
                                                 const char *call)
{
    if (unlikely(__atomic_load_n(&wg->state_, __ATOMIC_SEQ_CST) != state))
        gort_throw_call(call, "WaitGroup misuse: add called concurrently with wait");
    __atomic_store_n(&wg->state_, 0, __ATOMIC_SEQ_CST);
    for (uint32_t w = (uint32_t)state; w != 0; w--)
        gort_semrelease_flags(&wg->sema_, 0, call);
}

static inline void wg_add(gort_waitgroup *wg, int delta, const char *call)
{
    uint64_t state = __atomic_add_fetch(&wg->state_, (uint64_t)(int64_t)delta << 32,
                                        __ATOMIC_SEQ_CST);
    int32_t v = (int32_t)(state >> 32);
    uint32_t w = (uint32_t)state;
    if (unlikely(v < 0))
        gort_throw_call(call, "negative WaitGroup counter");
    if (unlikely(w != 0 && delta > 0 && v == delta))
        gort_throw_call(call, "WaitGroup misuse: add called concurrently with wait");
    if (v > 0 || w == 0)
        return;
    wg_release(wg, state, call);
}

void gort_waitgroup_add(gort_waitgroup *wg, int delta)
{
    gort_need_g("gort_waitgroup_add");
    wg_add(wg, delta, "gort_waitgroup_add");
}

void gort_waitgroup_done(gort_waitgroup *wg)
{
    gort_need_g("gort_waitgroup_done");
    wg_add(wg, -1, "gort_waitgroup_done");
}

void gort_waitgroup_wait(gort_waitgroup *wg)
{
    gort_g *g = gort_need_g("gort_waitgroup_wait");
    gort_sync_checkpoint(g);
    uint64_t state = __atomic_load_n(&wg->state_, __ATOMIC_SEQ_CST);
    for (;;) {
        if ((int32_t)(state >> 32) == 0)
            return;
        if (unlikely((uint32_t)state == UINT32_MAX))
            gort_throw_call("gort_waitgroup_wait", "too many waiters");
        if (__atomic_compare_exchange_n(&wg->state_, &state, state + 1, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            gort_semacquire(&wg->sema_, false, "gort_waitgroup_wait");
            if (unlikely(__atomic_load_n(&wg->state_, __ATOMIC_SEQ_CST) != 0))
                gort_throw_call("gort_waitgroup_wait",
                                "WaitGroup is reused before previous wait has returned");
            return;
        }
    }
}
