/*
 * runq.h - the run queue operations on the scheduler's hot paths, inline
 * (every yield, spawn and channel hand-off goes through them); the slow
 * paths are in runq.c, whose design comment describes the queues.
 */
#ifndef GORT_RUNQ_H
#define GORT_RUNQ_H

#include "runtime.h"

#define RING_MASK (GORT_RUNQ_SIZE - 1)

GORT_INTERNAL void gort_runq_ovf_put(gort_p *p, gort_g *g);
GORT_INTERNAL gort_g *gort_runq_refill(gort_p *p);

/* With one P there are no thieves (only an M holding a P takes from
 * queues): the owner may use plain loads and stores. */
static inline bool gort_single_p(void)
{
    return gort_sched.nprocs == 1;
}

static inline bool gort_ring_put(gort_p *p, gort_g *g)
{
    uint32_t h = atomic_load_explicit(&p->runq_head, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&p->runq_tail, memory_order_relaxed);
    if (t - h >= GORT_RUNQ_SIZE)
        return false;
    p->runq[t & RING_MASK] = g;
    atomic_store_explicit(&p->runq_tail, t + 1, memory_order_release);
    return true;
}

/* Put g at the head of the ring: it runs before everything queued.  The
 * owner writes the slot just below the head (no thief reads it: thieves
 * read [head, tail)) and then moves the head down by CAS. */
static inline bool gort_ring_put_front(gort_p *p, gort_g *g)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&p->runq_head, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&p->runq_tail, memory_order_relaxed);
        if (t - h >= GORT_RUNQ_SIZE)
            return false;
        p->runq[(h - 1) & RING_MASK] = g;
        if (gort_single_p()) {
            atomic_store_explicit(&p->runq_head, h - 1, memory_order_relaxed);
            return true;
        }
        if (atomic_compare_exchange_weak_explicit(&p->runq_head, &h, h - 1,
                                                  memory_order_release, memory_order_relaxed))
            return true;
    }
}

static inline gort_g *gort_ring_get(gort_p *p)
{
    if (gort_single_p()) {
        uint32_t h = atomic_load_explicit(&p->runq_head, memory_order_relaxed);
        if (h == atomic_load_explicit(&p->runq_tail, memory_order_relaxed))
            return NULL;
        gort_g *g = p->runq[h & RING_MASK];
        atomic_store_explicit(&p->runq_head, h + 1, memory_order_relaxed);
        return g;
    }
    for (;;) {
        uint32_t h = atomic_load_explicit(&p->runq_head, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&p->runq_tail, memory_order_relaxed);
        if (t == h)
            return NULL;
        gort_g *g = p->runq[h & RING_MASK];
        if (atomic_compare_exchange_weak_explicit(&p->runq_head, &h, h + 1,
                                                  memory_order_release, memory_order_relaxed))
            return g;
    }
}

static inline void gort_runq_put(gort_p *p, gort_g *g)
{
    atomic_store_explicit(&g->status, GORT_G_RUNNABLE, memory_order_relaxed);
    if (likely(atomic_load_explicit(&p->ovf_len, memory_order_relaxed) == 0) && gort_ring_put(p, g))
        return;
    gort_runq_ovf_put(p, g);
}

static inline void gort_runq_put_next(gort_p *p, gort_g *g)
{
    atomic_store_explicit(&g->status, GORT_G_RUNNABLE, memory_order_relaxed);
    gort_g *old;
    if (gort_single_p()) {
        old = atomic_load_explicit(&p->runnext, memory_order_relaxed);
        atomic_store_explicit(&p->runnext, g, memory_order_relaxed);
    } else {
        old = atomic_exchange_explicit(&p->runnext, g, memory_order_acq_rel);
    }
    /* The G it displaces goes to the front, not the back: when a spawned
     * child spawns in turn, its parent must not queue behind everything
     * else, or a spawn tree runs breadth-first and keeps most of its
     * goroutines (and their stacks) alive at once.  The front is also
     * where thieves take from, and an older continuation is the bigger
     * piece of work to move to another core. */
    if (old && !gort_ring_put_front(p, old))
        gort_runq_put(p, old);
}

static inline gort_g *gort_runq_get(gort_p *p)
{
    gort_g *g;
    if (gort_single_p()) {
        g = atomic_load_explicit(&p->runnext, memory_order_relaxed);
        if (g) {
            atomic_store_explicit(&p->runnext, NULL, memory_order_relaxed);
            return g;
        }
    } else {
        g = atomic_load_explicit(&p->runnext, memory_order_relaxed);
        while (g && !atomic_compare_exchange_weak_explicit(&p->runnext, &g, NULL,
                                                           memory_order_acquire,
                                                           memory_order_relaxed))
            ;
        if (g)
            return g;
    }
    g = gort_ring_get(p);
    if (g)
        return g;
    return gort_runq_refill(p);
}

/* gort_ready's body (proc.c), inline for the channel hand-off path. */
static inline void gort_ready_inline(gort_g *g, bool next)
{
    gort_g *cur = gort_getg();
    if (unlikely(gort_trace_on))
        g->trace_flow = gort_trace_unblock(cur ? cur->id : 0, g->id);
    /* Only an M running Go code owns its P's queues; a thread in a foreign
     * call (or a host thread) may lose its P to sysmon at any moment. */
    gort_p *p = (cur && cur->m && cur->in_cgo == GORT_CGO_NONE) ? cur->m->p : NULL;
    if (unlikely(!p)) {
        gort_gq_put(g);
        gort_wakep();
        return;
    }
    if (next) {
        gort_runq_put_next(p, g);
        return;
    }
    gort_runq_put(p, g);
    if (atomic_load_explicit(&gort_sched.npidle, memory_order_relaxed) > 0 &&
        atomic_load_explicit(&gort_sched.nmspinning, memory_order_relaxed) == 0)
        gort_wakep();
}

#endif
