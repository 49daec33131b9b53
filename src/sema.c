/*
 * sema.c - the semaphore layer under gort's sync primitives (Go's
 * runtime/sema.go): park a goroutine until a uint32_t in user memory is
 * above zero, and wake parked goroutines in FIFO order.
 *
 * The table.  SEMTAB_SIZE buckets, chosen by the semaphore's address.
 * Each bucket has a gort_rtlock, a count of the goroutines parked in it
 * (nwait) and a list of the distinct addresses that have waiters; each
 * address heads a FIFO chain of waiter records.  A waiter record lives on
 * the waiting goroutine's stack: the goroutine cannot return (and its
 * stack cannot be reused) before the record is off every list, because
 * only a waker that has dequeued the record makes it runnable.  So the
 * layer allocates nothing and a semaphore is any uint32_t.
 *
 * Invariants (under the bucket lock):
 *   - a record is in its bucket's lists exactly while its goroutine is
 *     parked, or about to park, on it; nwait counts those records (plus,
 *     briefly, an acquirer between nwait++ and its re-check);
 *   - only a list head (the first waiter on its address) has a valid
 *     `next` (the next address) and `waittail` (the last waiter on the
 *     address, NULL when it is alone).
 *
 * Why it cannot lose a wake-up (the Dekker pair, both sides seq_cst):
 *   release:  *addr += 1;  then if nwait == 0, nobody to wake: return.
 *   acquire:  nwait += 1;  then re-check *addr before queueing.
 * Either the acquirer sees the new count and takes it, or the releaser
 * sees nwait > 0, takes the lock (which the acquirer holds until it is
 * off the CPU: gort_park's unlockf) and dequeues it.  A waiter woken
 * without a hand-off ticket re-checks the count; if another goroutine
 * took it first, it queues again at the head of the chain, keeping its
 * place.
 *
 * Runtime restarts.  Goroutines still parked when gort_main returns are
 * discarded with their stacks, and their records with them.  Each bucket
 * remembers the run that last used it (gort_sched.start_time, distinct
 * for every gort_main) and forgets its lists when a later run finds it.
 *
 * Lock order: a bucket lock is a leaf.  Nothing else is taken while it is
 * held, and it is never held across gort_ready or a switch (gort_park
 * releases it once the parking goroutine is off the CPU).  A sync
 * primitive never holds two bucket locks, nor a bucket lock and a
 * condition variable's list lock, at once.
 */
#include "sema.h"

#define SEMTAB_SIZE 251
#define SPIN_ITERS 4     /* rounds of spinning before parking (Go's active_spin) */
#define SPIN_PAUSES 30   /* PAUSEs per round (Go's active_spin_cnt) */

typedef struct semwaiter {
    gort_g *g;
    uint32_t *addr;
    struct semwaiter *next;      /* next address in the bucket (heads only) */
    struct semwaiter *waitlink;  /* next waiter on the same address */
    struct semwaiter *waittail;  /* last waiter on the address (heads only) */
    uint32_t ticket;             /* 1: the releaser handed us the count */
} semwaiter;

struct semroot {
    gort_rtlock lock;
    _Atomic uint32_t nwait;
    int64_t epoch;               /* gort_sched.start_time of the lists' run */
    semwaiter *heads;
} __attribute__((aligned(64)));

static struct semroot semtab[SEMTAB_SIZE];

static inline struct semroot *root_for(uint32_t *addr)
{
    return &semtab[((uintptr_t)addr >> 2) % SEMTAB_SIZE];
}

/* With the lock held: drop lists left by an earlier gort_main. */
static inline void root_sync_epoch(struct semroot *root)
{
    int64_t run = gort_sched.start_time;
    if (unlikely(root->epoch != run)) {
        root->heads = NULL;
        atomic_store(&root->nwait, 0);
        root->epoch = run;
    }
}

static void root_unlock(void *lock)
{
    gort_rtlock_unlock((gort_rtlock *)lock);
}

bool gort_cansemacquire(uint32_t *addr)
{
    _Atomic uint32_t *a = (_Atomic uint32_t *)addr;
    /* seq_cst: this load is the second half of the acquirer's side of
     * the Dekker pair with nwait (see the top of the file). */
    uint32_t v = atomic_load_explicit(a, memory_order_seq_cst);
    for (;;) {
        if (v == 0)
            return false;
        if (atomic_compare_exchange_weak_explicit(a, &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
}

/* Put s on addr's chain: at the tail, or at the head if lifo. */
static void queue(struct semroot *root, uint32_t *addr, semwaiter *s, bool lifo)
{
    s->addr = addr;
    s->next = NULL;
    s->waitlink = NULL;
    s->waittail = NULL;
    s->ticket = 0;
    semwaiter **pp = &root->heads;
    semwaiter *t;
    for (t = *pp; t; pp = &t->next, t = *pp)
        if (t->addr == addr)
            break;
    if (!t) {
        s->next = root->heads;
        root->heads = s;
        return;
    }
    if (lifo) {
        /* s takes t's place as the head; t leads the rest. */
        s->next = t->next;
        *pp = s;
        s->waitlink = t;
        s->waittail = t->waittail ? t->waittail : t;
        t->next = NULL;
        t->waittail = NULL;
    } else {
        if (t->waittail)
            t->waittail->waitlink = s;
        else
            t->waitlink = s;
        t->waittail = s;
    }
}

/* Take the first waiter on addr off its chain, or NULL. */
static semwaiter *dequeue(struct semroot *root, uint32_t *addr)
{
    semwaiter **pp = &root->heads;
    semwaiter *s;
    for (s = *pp; s; pp = &s->next, s = *pp)
        if (s->addr == addr)
            break;
    if (!s)
        return NULL;
    semwaiter *t = s->waitlink;
    if (t) {
        t->next = s->next;
        t->waittail = t->waitlink ? s->waittail : NULL;
        *pp = t;
    } else {
        *pp = s->next;
    }
    s->next = s->waitlink = s->waittail = NULL;
    return s;
}

void gort_semacquire(uint32_t *addr, bool lifo, const char *reason)
{
    if (gort_cansemacquire(addr))
        return;
    struct semroot *root = root_for(addr);
    semwaiter s;
    s.g = gort_getg();
    for (;;) {
        gort_rtlock_lock(&root->lock);
        root_sync_epoch(root);
        atomic_fetch_add(&root->nwait, 1);
        if (gort_cansemacquire(addr)) {
            atomic_fetch_sub(&root->nwait, 1);
            gort_rtlock_unlock(&root->lock);
            return;
        }
        queue(root, addr, &s, lifo);
        gort_park(reason, root_unlock, &root->lock);
        /* Woken: dequeued by a releaser, which set the ticket (if any)
         * before making us runnable. */
        if (s.ticket != 0 || gort_cansemacquire(addr))
            return;
        lifo = true;   /* lost the count to a newcomer: keep our place */
    }
}

void gort_semrelease_flags(uint32_t *addr, unsigned flags, const char *call)
{
    _Atomic uint32_t *a = (_Atomic uint32_t *)addr;
    struct semroot *root = root_for(addr);

    if (unlikely(atomic_fetch_add(a, 1) == UINT32_MAX))
        gort_throw_call(call, "semaphore count overflows");
    if (atomic_load(&root->nwait) == 0)
        return;
    gort_rtlock_lock(&root->lock);
    root_sync_epoch(root);
    if (atomic_load(&root->nwait) == 0) {
        gort_rtlock_unlock(&root->lock);
        return;
    }
    semwaiter *s = dequeue(root, addr);
    if (s)
        atomic_fetch_sub(&root->nwait, 1);
    gort_rtlock_unlock(&root->lock);
    if (!s)
        return;

    /* s is off the lists and its goroutine parked: nobody else can wake
     * it, so its record stays valid until gort_ready below, and not one
     * instant longer. */
    gort_g *wg = s->g;
    bool handed = false;
    if ((flags & GORT_SEMREL_HANDOFF) && gort_cansemacquire(addr)) {
        s->ticket = 1;
        handed = true;
    }
    bool run_now = handed && (flags & GORT_SEMREL_YIELD);
    gort_ready(wg, run_now);
    if (run_now)
        gort_yield();   /* wg is in runnext: it runs now, we run after it */
    else
        gort_sync_checkpoint(gort_getg());
}

void gort_semrelease(uint32_t *addr, bool handoff)
{
    gort_semrelease_flags(addr, handoff ? GORT_SEMREL_HANDOFF | GORT_SEMREL_YIELD : 0,
                          "gort_semrelease");
}

/* ---- spinning ---------------------------------------------------------- */

bool gort_sync_canspin(gort_g *g, int iter)
{
    /* Spinning only pays if the holder is running on another P and can
     * release soon, and if this P has nothing better to do. */
    if (iter >= SPIN_ITERS || gort_sched.ncpu <= 1)
        return false;
    if (gort_sched.nprocs <= atomic_load_explicit(&gort_sched.npidle, memory_order_relaxed) +
                                 atomic_load_explicit(&gort_sched.nmspinning,
                                                      memory_order_relaxed) + 1)
        return false;
    gort_p *p = g->m->p;
    return p != NULL && gort_runq_empty(p);
}

void gort_sync_dospin(void)
{
    for (int i = 0; i < SPIN_PAUSES; i++)
        __builtin_ia32_pause();
}
