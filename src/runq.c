/*
 * runq.c - run queues: a lock-free ring per P, its overflow list, and the
 * global queue.
 *
 * A P's runnable Gs, in the order they run:
 *   runnext   one G that runs before everything else: the parent parked
 *             by a child-first spawn, or a G handed a value by a channel.
 *             A G it displaces goes to the front of the ring (LIFO for
 *             continuations, as in a work-first scheduler).
 *   ring      GORT_RUNQ_SIZE slots.  The owner puts at the tail (a plain
 *             store published with release) and takes from the head; a
 *             thief takes half from the head.  Both heads move by CAS, so
 *             no lock is taken on the owner's path.
 *   overflow  a FIFO list behind a full ring, under the P's ovf_lock.
 *             While it is non-empty new arrivals join it, so the ring is
 *             always older than the overflow: ready order stays run order
 *             however many Gs are runnable.  The owner refills the ring
 *             from it; thieves may take from it too.
 * The global queue holds Gs made ready by threads that hold no P, and is
 * checked every 61 scheduling rounds so it cannot starve.
 *
 * With one P there are no thieves (only an M holding a P takes from
 * queues), and the owner uses plain loads and stores instead of CAS.
 */
#include "runtime.h"
#include "runq.h"

#define OVF_REFILL (GORT_RUNQ_SIZE / 2)

void gort_runq_ovf_put(gort_p *p, gort_g *g)
{
    gort_rtlock_lock(&p->ovf_lock);
    g->schedlink = NULL;
    if (p->ovf_tail)
        p->ovf_tail->schedlink = g;
    else
        p->ovf_head = g;
    p->ovf_tail = g;
    atomic_fetch_add_explicit(&p->ovf_len, 1, memory_order_relaxed);
    gort_rtlock_unlock(&p->ovf_lock);
}

/* Take up to max Gs off the head of p's overflow list, as a chain. */
static gort_g *ovf_take(gort_p *p, int32_t max, int32_t *n)
{
    *n = 0;
    if (atomic_load_explicit(&p->ovf_len, memory_order_relaxed) == 0)
        return NULL;
    gort_rtlock_lock(&p->ovf_lock);
    gort_g *head = p->ovf_head, *last = NULL, *g = head;
    while (g && *n < max) {
        last = g;
        g = g->schedlink;
        (*n)++;
    }
    if (last) {
        last->schedlink = NULL;
        p->ovf_head = g;
        if (!g)
            p->ovf_tail = NULL;
        atomic_fetch_sub_explicit(&p->ovf_len, *n, memory_order_relaxed);
    }
    gort_rtlock_unlock(&p->ovf_lock);
    return last ? head : NULL;
}

gort_g *gort_runq_refill(gort_p *p)
{
    int32_t n;
    gort_g *chain = ovf_take(p, OVF_REFILL, &n);
    if (!chain)
        return NULL;
    gort_g *first = chain;
    for (gort_g *g = chain->schedlink; g; ) {
        gort_g *next = g->schedlink;
        gort_ring_put(p, g);   /* the ring is empty: it fits */
        g = next;
    }
    return first;
}

bool gort_runq_empty(gort_p *p)
{
    return (uint32_t)atomic_load_explicit(&p->runq_head, memory_order_acquire) ==
               atomic_load_explicit(&p->runq_tail, memory_order_acquire) &&
           atomic_load_explicit(&p->runnext, memory_order_relaxed) == NULL &&
           atomic_load_explicit(&p->ovf_len, memory_order_relaxed) == 0;
}

uint32_t gort_runq_len(gort_p *p)
{
    uint32_t n = atomic_load_explicit(&p->runq_tail, memory_order_relaxed) -
                 (uint32_t)atomic_load_explicit(&p->runq_head, memory_order_relaxed);
    if (n > GORT_RUNQ_SIZE)
        n = 0;
    n += (uint32_t)atomic_load_explicit(&p->ovf_len, memory_order_relaxed);
    if (atomic_load_explicit(&p->runnext, memory_order_relaxed))
        n++;
    return n;
}

/* Move half of victim's ring into p's (empty) ring; return one G to run.
 * take_next: also take victim's runnext when its ring is empty. */
gort_g *gort_runq_steal(gort_p *p, gort_p *victim, bool take_next)
{
    gort_g *batch[GORT_RUNQ_SIZE / 2];
    uint32_t n;
    for (;;) {
        uint64_t hv = atomic_load_explicit(&victim->runq_head, memory_order_acquire);
        uint32_t h = (uint32_t)hv;
        uint32_t t = atomic_load_explicit(&victim->runq_tail, memory_order_acquire);
        n = t - h;
        n -= n / 2;
        if (n == 0)
            break;
        if (n > GORT_RUNQ_SIZE / 2)
            continue;  /* read h and t at different moments: retry */
        for (uint32_t i = 0; i < n; i++)
            batch[i] = GORT_PEEK(victim->runq[(h + i) & RING_MASK]);   /* see gort_ring_put */
        if (atomic_compare_exchange_weak_explicit(&victim->runq_head, &hv, hv + n,
                                                  memory_order_acq_rel, memory_order_relaxed))
            goto got;
    }
    /* The ring was empty: the overflow list, then runnext. */
    {
        int32_t m;
        gort_g *chain = ovf_take(victim, OVF_REFILL / 2, &m);
        if (chain) {
            n = 0;
            for (gort_g *g = chain; g; g = g->schedlink)
                batch[n++] = g;
            goto got;
        }
    }
    if (take_next) {
        gort_g *g = atomic_load_explicit(&victim->runnext, memory_order_relaxed);
        if (g && atomic_compare_exchange_strong_explicit(&victim->runnext, &g, NULL,
                                                         memory_order_acquire,
                                                         memory_order_relaxed)) {
            batch[0] = g;
            n = 1;
            goto got;
        }
    }
    return NULL;
got:
    for (uint32_t i = 1; i < n; i++)
        gort_ring_put(p, batch[i]);
    atomic_fetch_add_explicit(&p->nsteal, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&victim->nstolen_from, n, memory_order_relaxed);
    return batch[0];
}

/* ---- global queue (sched.lock) ----------------------------------------- */

void gort_gq_put_locked(gort_g *g)
{
    atomic_store_explicit(&g->status, GORT_G_RUNNABLE, memory_order_relaxed);
    g->schedlink = NULL;
    if (gort_sched.gq_tail)
        gort_sched.gq_tail->schedlink = g;
    else
        gort_sched.gq_head = g;
    gort_sched.gq_tail = g;
    atomic_fetch_add_explicit(&gort_sched.gq_len, 1, memory_order_relaxed);
}

void gort_gq_put(gort_g *g)
{
    gort_rtlock_lock(&gort_sched.lock);
    gort_gq_put_locked(g);
    gort_rtlock_unlock(&gort_sched.lock);
}

/* Take one G to run and, if p is given, a fair share more into its ring. */
gort_g *gort_gq_get_locked(gort_p *p)
{
    int64_t len = atomic_load_explicit(&gort_sched.gq_len, memory_order_relaxed);
    if (len == 0)
        return NULL;
    int64_t n = 1;
    if (p) {
        n = len / gort_sched.nprocs + 1;
        if (n > OVF_REFILL)
            n = OVF_REFILL;
        if (n > len)
            n = len;
    }
    gort_g *first = NULL;
    for (int64_t i = 0; i < n; i++) {
        gort_g *g = gort_sched.gq_head;
        gort_sched.gq_head = g->schedlink;
        if (!gort_sched.gq_head)
            gort_sched.gq_tail = NULL;
        if (!first)
            first = g;
        else
            gort_runq_put(p, g);
    }
    atomic_fetch_sub_explicit(&gort_sched.gq_len, n, memory_order_relaxed);
    return first;
}
