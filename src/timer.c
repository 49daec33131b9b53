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

#include "runtime.h"
#include "timer.h"

static void heap_swap(gort_p *p, uint32_t i, uint32_t j)
{
    gort_rt_timer *a = p->timers[i], *b = p->timers[j];
    p->timers[i] = b;
    p->timers[j] = a;
    b->idx = i;
    a->idx = j;
}

static void sift_up(gort_p *p, uint32_t i)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (p->timers[parent]->when <= p->timers[i]->when)
            break;
        heap_swap(p, i, parent);
        i = parent;
    }
}

static void sift_down(gort_p *p, uint32_t i)
{
    uint32_t n = p->ntimers;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && p->timers[l]->when < p->timers[m]->when)
            m = l;
        if (r < n && p->timers[r]->when < p->timers[m]->when)
            m = r;
        if (m == i)
            return;
        heap_swap(p, i, m);
        i = m;
    }
}

static void update_when0(gort_p *p)
{
    atomic_store_explicit(&p->timer0_when, p->ntimers ? p->timers[0]->when : 0,
                          memory_order_release);
}

static bool heap_push(gort_p *p, gort_rt_timer *t)
{
    if (p->ntimers == p->ctimers) {
        uint32_t cap = p->ctimers ? p->ctimers * 2 : 64;
        gort_rt_timer **v = realloc(p->timers, cap * sizeof *v);
        if (!v)
            return false;
        p->timers = v;
        p->ctimers = cap;
    }
    t->idx = p->ntimers++;
    p->timers[t->idx] = t;
    sift_up(p, t->idx);
    return true;
}

static void heap_remove(gort_p *p, gort_rt_timer *t)
{
    uint32_t i = t->idx, last = --p->ntimers;
    if (i != last) {
        heap_swap(p, i, last);
        sift_down(p, i);
        sift_up(p, i);
    }
    p->timers[last] = NULL;
}

/* Poke the M sleeping for timers if t is due before it would wake. */
static void wake_timer_sleeper(int64_t when)
{
    gort_rtlock_lock(&gort_sched.lock);
    gort_m *m = gort_sched.timer_sleeper;
    bool poke = m && (gort_sched.timer_sleep_until == 0 || when < gort_sched.timer_sleep_until);
    if (poke)
        gort_sched.timer_sleep_until = when;   /* one poke is enough */
    gort_rtlock_unlock(&gort_sched.lock);
    if (poke)
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
        heap_remove(p, t);
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

/* Run p's timers that are due by now; returns the next deadline (0: none). */
int64_t gort_timers_run(gort_p *p, int64_t now)
{
    int64_t w = atomic_load_explicit(&p->timer0_when, memory_order_acquire);
    if (w == 0 || w > now)
        return w;
    gort_rtlock_lock(&p->timers_lock);
    while (p->ntimers && p->timers[0]->when <= now) {
        gort_rt_timer *t = p->timers[0];
        heap_remove(p, t);
        void (*f)(void *) = t->f;
        void *arg = t->arg;
        bool managed = t->self_managed;
        if (t->period > 0) {
            t->when += t->period;
            if (t->when <= now)   /* fell behind: skip the missed ticks */
                t->when = now + t->period;
            heap_push(p, t);      /* cannot fail: it was just in the heap */
        } else {
            atomic_store_explicit(&t->p, NULL, memory_order_relaxed);
            atomic_store_explicit(&t->state, GORT_TIMER_IDLE, memory_order_relaxed);
        }
        if (!managed)
            atomic_fetch_add_explicit(&t->running, 1, memory_order_relaxed);
        update_when0(p);
        gort_rtlock_unlock(&p->timers_lock);
        f(arg);
        if (!managed)
            atomic_fetch_sub_explicit(&t->running, 1, memory_order_release);
        gort_rtlock_lock(&p->timers_lock);
    }
    update_when0(p);
    int64_t next = p->ntimers ? p->timers[0]->when : 0;
    gort_rtlock_unlock(&p->timers_lock);
    return next;
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
    free(p->timers);
    p->timers = NULL;
    p->ntimers = p->ctimers = 0;
}
