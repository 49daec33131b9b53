/*
 * timer.c - timers in per-P heaps, run by the scheduler.
 *
 * A timer is added to the heap of the P its creator runs on, under that
 * P's timers lock (a leaf lock: nothing else is taken with it, and the
 * timer's function runs after it is released).  p->timer0_when mirrors
 * the earliest deadline in the heap (0: empty) so that the scheduler can
 * look without locking.
 *
 * Who runs timers:
 *   - the owner P: every 61 switches, in gort_switch_in on the arriving
 *     stack (never while the leaving G parks: it may hold the locks a
 *     timer function needs, and could be readied before it is parked);
 *     every 61 yields of a goroutine alone on its P; before a preempted G
 *     yields; and whenever the P looks for work (sched.c);
 *   - any M looking for work runs the expired timers of every P (an idle
 *     P's timers included) before it steals;
 *   - an M going to sleep with timers pending sleeps only until the
 *     earliest of them.  At most one M sleeps that way at a time
 *     (sched.timer_sleeper); a new timer that is due earlier pokes it.
 *
 * A timer's function runs on an M holding a P (on g0 or inside a switch),
 * never with a lock held; it must not block: it readies goroutines or
 * offers a value to a channel.
 *
 * Stop and reset find the timer's heap through t->p, under that heap's
 * lock.  While its function runs, a timer counts as running (t->running)
 * and free waits for that to end -- except timers marked self_managed,
 * which the runner never touches after calling f: one on the stack of
 * the goroutine f wakes (gort_sleep) could be gone by then.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "timer.h"

/*
 * The heap is 4-ary and keeps each deadline next to its timer pointer, so
 * ordering the heap reads one contiguous array and never the timers
 * themselves: a timer lives wherever its owner put it (gort_sleep keeps it
 * on the sleeping goroutine's stack), and with 100,000 sleepers touching
 * each one on every sift would be a cache and TLB miss per level.  Slot k
 * sits at base[k + HEAP_PAD]: with a 64-byte aligned base, the four
 * children of any slot fill exactly one cache line.  Sifts move a hole
 * rather than swapping, so each level costs one 16-byte copy and one
 * store to the moved timer's idx.
 */
#define HEAP_PAD 3u

static inline void heap_put(gort_p *p, uint32_t i, gort_timer_slot s)
{
    p->timers[i] = s;
    s.t->idx = i;
}

static void sift_up(gort_p *p, uint32_t i, gort_timer_slot s)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 4;
        if (p->timers[parent].when <= s.when)
            break;
        heap_put(p, i, p->timers[parent]);
        i = parent;
    }
    heap_put(p, i, s);
}

/* The smallest of i's children, or i itself if it has none. */
static inline uint32_t min_child(const gort_p *p, uint32_t i)
{
    uint32_t first = 4 * i + 1, n = p->ntimers;
    if (first >= n)
        return i;
    uint32_t end = first + 4 < n ? first + 4 : n, m = first;
    for (uint32_t c = first + 1; c < end; c++)
        if (p->timers[c].when < p->timers[m].when)
            m = c;
    return m;
}

static void sift_down(gort_p *p, uint32_t i, gort_timer_slot s)
{
    for (;;) {
        uint32_t m = min_child(p, i);
        if (m == i || p->timers[m].when >= s.when)
            break;
        heap_put(p, i, p->timers[m]);
        i = m;
    }
    heap_put(p, i, s);
}

static void update_when0(gort_p *p)
{
    atomic_store_explicit(&p->timer0_when, p->ntimers ? p->timers[0].when : 0,
                          memory_order_release);
}

static bool heap_grow(gort_p *p)
{
    uint32_t cap = p->ctimers ? p->ctimers * 2 : 64;
    size_t bytes = (cap + HEAP_PAD) * sizeof(gort_timer_slot);
    gort_timer_slot *base = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!base)
        return false;
    if (p->timers) {
        memcpy(base + HEAP_PAD, p->timers, p->ntimers * sizeof *base);
        free(p->timers - HEAP_PAD);
    }
    p->timers = base + HEAP_PAD;
    p->ctimers = cap;
    return true;
}

static bool heap_push(gort_p *p, gort_rt_timer *t)
{
    if (p->ntimers == p->ctimers && !heap_grow(p))
        return false;
    sift_up(p, p->ntimers++, (gort_timer_slot){t->when, t});
    return true;
}

static void heap_remove(gort_p *p, uint32_t i)
{
    uint32_t last = --p->ntimers;
    if (i == last)
        return;
    gort_timer_slot s = p->timers[last];
    if (i > 0 && s.when < p->timers[(i - 1) / 4].when)
        sift_up(p, i, s);
    else
        sift_down(p, i, s);
}

/* Poke the M sleeping for timers if t is due before it would wake. */
static void wake_timer_sleeper(int64_t when)
{
    gort_rtlock_lock(&gort_sched.lock);
    gort_m *m = gort_timer_sleeper_poke_locked(when);
    gort_rtlock_unlock(&gort_sched.lock);
    if (m)
        gort_note_wakeup(&m->park);
}

void gort_timer_start(gort_rt_timer *t, int64_t when)
{
    gort_g *g = gort_getg();
    bool own = g && g->m && g->m->p;
    gort_p *p = own ? g->m->p : &gort_sched.allp[0];
    t->when = when;
    gort_rtlock_lock(&p->timers_lock);
    if (!heap_push(p, t)) {
        gort_rtlock_unlock(&p->timers_lock);
        gort_throw("timer: out of memory for the timer heap");
    }
    atomic_store_explicit(&t->p, p, memory_order_release);
    atomic_store_explicit(&t->state, GORT_TIMER_WAITING, memory_order_relaxed);
    update_when0(p);
    gort_rtlock_unlock(&p->timers_lock);
    if (!own) {
        /* No P of ours will go idle and wait for it: make sure an M does. */
        wake_timer_sleeper(when);
        gort_wakep();
    } else if (atomic_load(&gort_sched.npidle) > 0) {
        wake_timer_sleeper(when);
    }
}

bool gort_timer_cancel(gort_rt_timer *t)
{
    for (;;) {
        gort_p *p = atomic_load_explicit(&t->p, memory_order_acquire);
        if (!p)
            return false;
        gort_rtlock_lock(&p->timers_lock);
        if (atomic_load_explicit(&t->p, memory_order_relaxed) != p) {
            gort_rtlock_unlock(&p->timers_lock);
            continue;
        }
        heap_remove(p, t->idx);
        atomic_store_explicit(&t->p, NULL, memory_order_relaxed);
        atomic_store_explicit(&t->state, GORT_TIMER_IDLE, memory_order_release);
        update_when0(p);
        gort_rtlock_unlock(&p->timers_lock);
        return true;
    }
}

void gort_timer_wait_idle(gort_rt_timer *t)
{
    while (atomic_load_explicit(&t->running, memory_order_acquire) != 0)
        __builtin_ia32_pause();
}

/* A timer taken off the heap to be run once the heap lock is dropped. */
struct due {
    void (*f)(void *arg);
    void *arg;
    gort_rt_timer *t;   /* NULL: self-managed, not to be touched again */
};

#define DUE_BATCH 32u

/* Take up to DUE_BATCH timers due by now off p's heap (p->timers_lock
 * held), re-arming periodic ones; their functions run after unlocking. */
static uint32_t take_due(gort_p *p, int64_t now, struct due *out)
{
    uint32_t n = 0;
    while (n < DUE_BATCH && p->ntimers && p->timers[0].when <= now) {
        gort_rt_timer *t = p->timers[0].t;
        heap_remove(p, 0);
        bool managed = !t->self_managed;
        /* Counted as running before t->p says it is off every heap:
         * free (gort_timer_cancel) reads t->p without the heap lock, and
         * on NULL goes straight to waiting for running to be 0 -- seeing
         * 0 before this increment, it would free t under our feet. */
        if (managed)
            atomic_fetch_add_explicit(&t->running, 1, memory_order_relaxed);
        out[n++] = (struct due){t->f, t->arg, managed ? t : NULL};
        if (t->period > 0) {
            t->when += t->period;
            if (t->when <= now)   /* fell behind: skip the missed ticks */
                t->when = now + t->period;
            heap_push(p, t);      /* cannot fail: it was just in the heap */
        } else {
            atomic_store_explicit(&t->state, GORT_TIMER_IDLE, memory_order_relaxed);
            atomic_store_explicit(&t->p, NULL, memory_order_release);
        }
        /* A timer that is not self-managed ends the batch: its running
         * count must not be held while other timers' functions run (a
         * goroutine freeing it may hold a lock one of them needs). */
        if (managed)
            break;
    }
    update_when0(p);
    return n;
}

/* Run p's timers that are due by now; returns the next deadline (0: none).
 * Due timers are taken off in batches, so that a burst of expiries (a
 * hundred thousand sleepers waking together) costs one lock round trip
 * per batch rather than per timer. */
int64_t gort_timers_run(gort_p *p, int64_t now)
{
    int64_t w = atomic_load_explicit(&p->timer0_when, memory_order_acquire);
    if (w == 0 || w > now)
        return w;
    struct due due[DUE_BATCH];
    for (;;) {
        gort_rtlock_lock(&p->timers_lock);
        uint32_t n = take_due(p, now, due);
        int64_t next = p->ntimers ? p->timers[0].when : 0;
        gort_rtlock_unlock(&p->timers_lock);
        for (uint32_t i = 0; i < n; i++) {
            due[i].f(due[i].arg);
            if (due[i].t)
                atomic_fetch_sub_explicit(&due[i].t->running, 1, memory_order_release);
        }
        if (n == 0 || next == 0 || next > now)
            return next;
    }
}

/* The earliest deadline over all Ps (0: no timers). */
int64_t gort_timers_next(void)
{
    int64_t next = 0;
    for (int32_t i = 0; i < gort_sched.nprocs; i++) {
        int64_t w = atomic_load_explicit(&gort_sched.allp[i].timer0_when, memory_order_acquire);
        if (w && (next == 0 || w < next))
            next = w;
    }
    return next;
}

/* Run every P's due timers (an M looking for work does this). */
void gort_timers_run_all(int64_t now)
{
    for (int32_t i = 0; i < gort_sched.nprocs; i++)
        gort_timers_run(&gort_sched.allp[i], now);
}

void gort_timers_free(gort_p *p)
{
    if (p->timers)
        free(p->timers - HEAP_PAD);
    p->timers = NULL;
    p->ntimers = p->ctimers = 0;
}
