/*
 * runq.h - the run queue operations on the scheduler's hot paths, inline
 * (every yield, spawn and channel hand-off goes through them); the slow
 * paths are in runq.c, whose design comment describes the queues.
 */
#ifndef GORT_RUNQ_H
#define GORT_RUNQ_H

#include "runtime.h"

#define RING_MASK (GORT_RUNQ_SIZE - 1)

/* runq_head: the head index in the low 32 bits, a generation in the high
 * 32.  Thieves read the head, copy the slots from there, then CAS the head
 * forward; that CAS must fail if the ring changed meanwhile.  The head
 * normally only moves forward, but gort_ring_put_front moves it back: the
 * owner could take the G at slot h (head h -> h+1), then put another G in
 * front (slot h rewritten, head h+1 -> h), and a thief holding the head h
 * it read before would succeed with a stale copy of slot h -- running a G
 * the owner already ran and losing the new one.  Putting in front bumps
 * the generation, so the thief's CAS fails and it retries. */
#define HEAD_GEN_ONE ((uint64_t)1 << 32)

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
    uint32_t h = (uint32_t)atomic_load_explicit(&p->runq_head, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&p->runq_tail, memory_order_relaxed);
    if (t - h >= GORT_RUNQ_SIZE)
        return false;
    /* (a thief with a stale head may be reading this slot: it drops what
     * it read when its CAS fails, but the accesses must not race) */
    GORT_POKE(p->runq[t & RING_MASK], g);
    atomic_store_explicit(&p->runq_tail, t + 1, memory_order_release);
    return true;
}

/* Put g at the head of the ring: it runs before everything queued.  The
 * owner writes the slot just below the head (no thief reads it: thieves
 * read [head, tail)) and then moves the head down by CAS. */
static inline bool gort_ring_put_front(gort_p *p, gort_g *g)
{
    for (;;) {
        uint64_t hv = atomic_load_explicit(&p->runq_head, memory_order_acquire);
        uint32_t h = (uint32_t)hv;
        uint32_t t = atomic_load_explicit(&p->runq_tail, memory_order_relaxed);
        if (t - h >= GORT_RUNQ_SIZE)
            return false;
        GORT_POKE(p->runq[(h - 1) & RING_MASK], g);
        uint64_t nv = ((hv & ~(uint64_t)UINT32_MAX) + HEAD_GEN_ONE) | (uint32_t)(h - 1);
        if (gort_single_p()) {
            atomic_store_explicit(&p->runq_head, nv, memory_order_relaxed);
            return true;
        }
        if (atomic_compare_exchange_weak_explicit(&p->runq_head, &hv, nv,
                                                  memory_order_release, memory_order_relaxed))
            return true;
    }
}

static inline gort_g *gort_ring_get(gort_p *p)
{
    if (gort_single_p()) {
        uint64_t hv = atomic_load_explicit(&p->runq_head, memory_order_relaxed);
        if ((uint32_t)hv == atomic_load_explicit(&p->runq_tail, memory_order_relaxed))
            return NULL;
        gort_g *g = p->runq[hv & RING_MASK];
        atomic_store_explicit(&p->runq_head, hv + 1, memory_order_relaxed);
        return g;
    }
    for (;;) {
        uint64_t hv = atomic_load_explicit(&p->runq_head, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&p->runq_tail, memory_order_relaxed);
        if (t == (uint32_t)hv)
            return NULL;
        gort_g *g = p->runq[hv & RING_MASK];
        if (atomic_compare_exchange_weak_explicit(&p->runq_head, &hv, hv + 1,
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
static inline __attribute__((always_inline)) void gort_ready_inline(gort_g *g, bool next)
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
