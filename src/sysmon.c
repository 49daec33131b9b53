/*
 * sysmon.c - the system monitor, deadlock reports, schedtrace, stats.
 *
 * sysmon is an M without a P that wakes now and then to look at the Ps:
 *
 *   - a P that has not started a new time slice for 10 ms (a hand-off
 *     through runnext, or to a spawned child, inherits the slice: see
 *     p->slicetick) gets a preemption request: the running G's preempt
 *     flag, which it honours (by yielding) at its next gort_go, gort_yield,
 *     channel operation or blocking call.  C code between runtime calls is
 *     not preempted.
 *   - a P with Gs queued that another P could take (its ring, or a
 *     runnext that has waited a whole look), or with timers 1 ms late
 *     (its G is not switching), while other Ps are idle and no M is
 *     spinning, gets help: one idle P is woken to steal (or to run the
 *     late timers: whoever looks for work runs every P's due timers).  Yields
 *     and child-first spawns queue work without waking anyone (a wake-up
 *     costs more than most hand-offs); this is what spreads that work
 *     over the cores within one look.
 *   - GORT_DEBUG=schedtrace=MS prints a state line every MS milliseconds.
 *   - a P whose G has been in a foreign call for 20 us is taken and
 *     handed to another M (cgo/cgocall.c, gort_cgo_retake), and spare
 *     Ms are made ready for the next such hand-offs (sched.c,
 *     gort_spare_m).
 *   - every SCAVENGE_NS it gives back to the kernel the memory of freed
 *     stacks that nobody took during the whole period (stack.c).
 *
 * It sleeps 20 us between looks while it finds things to do, backs off to
 * 10 ms when it does not (1 ms while some P is busy and another idle, so
 * help for a stuck P is never long in coming), and sleeps on its note
 * without a timeout when every P is idle -- an idle runtime costs no CPU
 * (once the scavenger has nothing left: until then it wakes every period).
 * The first P to get busy again wakes it (sched.c, pidle_get_locked).
 * For HOT_NS after taking a P from a foreign call it polls instead of
 * sleeping (yielding the CPU at each turn): in a burst of blocking calls
 * the next G on that P usually blocks in C too, and a timed sleep on this
 * class of VM overshoots by 15-40 us -- twice the 20 us the call is
 * given.  Each burst step then costs 20 us plus one wake-up of the parked
 * spare, not two looks, a timer's overshoot and a thread creation.
 * Polling is capped at half of every 10 ms.
 */
#include <stdio.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

#define PREEMPT_NS (10 * 1000 * 1000)
/* After taking a P from a foreign call, sysmon polls for this long: the
 * P's next G is likely to block in C too (a burst of blocking calls), and
 * its hand-off should follow 20 us after that call began, not 20 us plus
 * a timer's overshoot.  About three wake-ups of a parked thread here. */
#define HOT_NS (100 * 1000)
#define SCAVENGE_NS (500 * 1000 * 1000)

void gort_sysmon_start(void)
{
    if (!gort_newm(true, NULL, false))
        gort_printf("gort: warning: no sysmon thread: long-running goroutines "
                    "will not be preempted\n");
}

void gort_sysmon_wake(void)
{
    if (atomic_load(&gort_sched.sysmon_sleeping))
        gort_note_wakeup(&gort_sched.sysmon_note);
}

static void schedtrace(int64_t now)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "SCHED %lldms: maxprocs=%d idleprocs=%d threads=%d spinningthreads=%d "
                     "idlethreads=%d runqueue=%lld [",
                     (long long)((now - gort_sched.start_time) / 1000000), gort_sched.nprocs,
                     atomic_load(&gort_sched.npidle), gort_sched.mcount,
                     atomic_load(&gort_sched.nmspinning), gort_sched.nmidle,
                     (long long)atomic_load(&gort_sched.gq_len));
    for (int32_t i = 0; i < gort_sched.nprocs && n < (int)sizeof buf - 16; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, i ? " %u" : "%u",
                      gort_runq_len(&gort_sched.allp[i]));
    gort_printf("%s]\n", buf);
}

/* Work queued on p that another P could take now: its ring or overflow
 * list, or a runnext that has waited a whole look (stuck behind a G that
 * does not switch). */
static bool p_has_spare_work(gort_p *p, bool stuck)
{
    uint32_t ring = atomic_load_explicit(&p->runq_tail, memory_order_relaxed) -
                    (uint32_t)atomic_load_explicit(&p->runq_head, memory_order_relaxed);
    if (ring > 0 || atomic_load_explicit(&p->ovf_len, memory_order_relaxed) > 0)
        return true;
    return stuck && atomic_load_explicit(&p->runnext, memory_order_relaxed) != NULL;
}

/* A busy P runs its own timers only when it switches; a G that runs C
 * code without calling into gort leaves them late.  An idle P woken to
 * look for work runs every P's due timers first (sched.c, findrunnable),
 * and then the Gs they woke. */
#define TIMER_LATE_NS (1000 * 1000)

static bool timers_late(gort_p *p, int64_t now)
{
    int64_t w = atomic_load_explicit(&p->timer0_when, memory_order_relaxed);
    return w != 0 && now - w >= TIMER_LATE_NS;
}

/* One look at every P; true if it did something.  *cgo_took: a P was
 * taken from a foreign call; *due: when a call not yet due will be. */
static bool retake(int64_t now, bool *cgo_took, int64_t *due)
{
    bool did = false;
    for (int32_t i = 0; i < gort_sched.nprocs; i++) {
        gort_p *p = &gort_sched.allp[i];
        if (GORT_PEEK(p->status) != GORT_P_RUNNING)
            continue;
        if (gort_cgo_retake(p, now, due)) {
            did = true;
            *cgo_took = true;
            continue;
        }
        uint64_t tick = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
        bool stuck = tick == p->sysmon_tick;
        if (!stuck) {
            p->sysmon_tick = tick;
            p->sysmon_when = now;
        }
        if (atomic_load(&gort_sched.npidle) > 0 && atomic_load(&gort_sched.nmspinning) == 0 &&
            (p_has_spare_work(p, stuck) || timers_late(p, now))) {
            gort_wakep();
            did = true;
        }
        /* Preemption goes by time slices, not switches: a G that spawns
         * (child-first: the P comes straight back to it through runnext)
         * or hands values to a partner switches all the time without ever
         * letting the rest of the queue run. */
        uint64_t slice = atomic_load_explicit(&p->slicetick, memory_order_relaxed);
        if (slice != p->sysmon_slicetick) {
            p->sysmon_slicetick = slice;
            p->sysmon_slicewhen = now;
        } else if (now - p->sysmon_slicewhen >= PREEMPT_NS && !gort_sched.preempt_off) {
            gort_m *m = GORT_PEEK(p->m);
            gort_g *g = m ? GORT_PEEK(m->curg) : NULL;
            if (g && GORT_PEEK(g->id) > 0)
                atomic_store_explicit(&g->preempt, true, memory_order_relaxed);
            p->sysmon_slicewhen = now;
            did = true;
        }
    }
    return did;
}

/* Freed stacks nobody took for a whole period go back to the kernel
 * (stack.c); *left says whether more may follow them. */
static void scavenge(int64_t now, int64_t *next, uint32_t *left)
{
    if (now < *next)
        return;
    *left = gort_stack_scavenge();
    *next = now + SCAVENGE_NS;
}

static bool all_idle(void)
{
    return atomic_load(&gort_sched.npidle) == gort_sched.nprocs;
}

/* Polling is capped at half of every 10 ms, so that a program whose calls
 * block one after another all the time gets quick hand-offs without a
 * CPU spent on sysmon. */
#define HOT_WINDOW_NS (10 * 1000 * 1000)
#define HOT_BUDGET_NS (HOT_WINDOW_NS / 2)
/* A foreign call becomes due this long after sysmon first sees it
 * (cgo/cgocall.c). */
#define CALL_DUE_NS (20 * 1000)

/* When sysmon polls.  A hand-off starts HOT_NS of it; a call seen in that
 * time keeps it polling until the call is due, but no longer than
 * HOT_NS + CALL_DUE_NS after the hand-off: short calls one after another
 * must not keep it polling for ever. */
struct hot {
    int64_t until;    /* polling, not sleeping, until then */
    int64_t limit;    /* and never past this */
    int64_t window;   /* the current budget window began then */
    int64_t spent;    /* ns of polling in it */
};

static void hot_start(struct hot *h, int64_t now)
{
    h->until = now + HOT_NS;
    h->limit = h->until + CALL_DUE_NS;
}

static void hot_extend(struct hot *h, int64_t due)
{
    if (due > h->until)
        h->until = due < h->limit ? due : h->limit;
}

static bool hot_on(struct hot *h, int64_t now)
{
    if (now - h->window >= HOT_WINDOW_NS) {
        h->window = now;
        h->spent = 0;
    }
    return now < h->until && h->spent < HOT_BUDGET_NS;
}

/* Wait until `until` (ns) or a poke.  Close to a retake, a timed sleep
 * is too coarse: on this class of VM it overshoots by 15-40 us, more than
 * the 20 us sysmon waits on a call.  So while hot (a P was just taken from
 * a foreign call, and the next hand-off's call is likely to block too)
 * sysmon polls instead, giving the CPU to anyone runnable at each turn. */
static void sysmon_wait(int64_t now, int64_t until, bool hot)
{
    if (hot) {
        sched_yield();
        return;
    }
    int64_t ns = until - now;
    gort_note_tsleep(&gort_sched.sysmon_note, ns > 1000 ? ns : 1000);
}

void gort_sysmon_main(gort_m *m)
{
    (void)m;
    /* The default 50 us timer slack would stretch every 20 us look to
     * ~70 us: that is the latency of taking a P from a blocked C call. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    int64_t delay_us = 20;
    int idle_rounds = 0;
    struct hot hot = {0, 0, 0, 0};
    int64_t next_scavenge = gort_nanotime() + SCAVENGE_NS;
    uint32_t scavenge_left = 0;
    int64_t next_trace = gort_sched.schedtrace_ms
                             ? gort_nanotime() + gort_sched.schedtrace_ms * 1000000
                             : INT64_MAX;
    while (!atomic_load(&gort_sched.stopping)) {
        if (idle_rounds == 0)
            delay_us = 20;
        else if (idle_rounds > 50)
            delay_us *= 2;
        int64_t cap = (!all_idle() && atomic_load(&gort_sched.npidle) > 0) ? 1000 : 10000;
        if (delay_us > cap)
            delay_us = cap;
        if (gort_sched.schedtrace_ms && delay_us > gort_sched.schedtrace_ms * 1000)
            delay_us = gort_sched.schedtrace_ms * 1000;

        gort_note_clear(&gort_sched.sysmon_note);
        if (all_idle() && !gort_sched.schedtrace_ms) {
            /* Idle: sleep until some P gets busy -- or, while freed stacks
             * are waiting to be scavenged, until the next pass is due. */
            atomic_store(&gort_sched.sysmon_sleeping, true);
            if (all_idle() && !atomic_load(&gort_sched.stopping)) {
                if (scavenge_left)
                    gort_note_tsleep(&gort_sched.sysmon_note, SCAVENGE_NS);
                else
                    gort_note_sleep(&gort_sched.sysmon_note);
            }
            atomic_store(&gort_sched.sysmon_sleeping, false);
            idle_rounds = 0;
            hot.until = 0;
            scavenge(gort_nanotime(), &next_scavenge, &scavenge_left);
            continue;
        }
        int64_t before = gort_nanotime();
        int64_t until = before + delay_us * 1000;
        bool polling = hot_on(&hot, before);
        sysmon_wait(before, until, polling);

        int64_t now = gort_nanotime();
        if (polling) {
            hot.spent += now - before;
            atomic_store_explicit(&gort_sched.sysmon_polls,
                                  atomic_load_explicit(&gort_sched.sysmon_polls,
                                                       memory_order_relaxed) + 1,
                                  memory_order_relaxed);   /* sysmon alone writes it */
        }
        scavenge(now, &next_scavenge, &scavenge_left);
        gort_trace_flush(false);
        bool cgo_took = false;
        int64_t due = INT64_MAX;   /* a foreign call sysmon will take then */
        bool did = retake(now, &cgo_took, &due);
        if (cgo_took) {
            /* The next hand-off needs a parked M: if none is left, make
             * one now, late as it is. */
            gort_spare_m(1);
            hot_start(&hot, now);
        } else if (due != INT64_MAX && now < hot.until) {
            hot_extend(&hot, due);   /* a call seen while hot: watch it through */
            /* The call just seen will be taken in 20 us, its hand-off
             * waking the parked spare.  Make the one after it now, in
             * this wait, rather than right after the hand-off, when
             * sysmon should be watching for the next call to begin. */
            gort_spare_m(2);
        }
        if (did)
            idle_rounds = 0;
        else if (now >= hot.until)
            idle_rounds++;
        if (now >= next_trace) {
            schedtrace(now);
            next_trace = now + gort_sched.schedtrace_ms * 1000000;
        }
    }
}

/* ---- goroutine listings and the deadlock report ------------------------ */

static void print_g(gort_g *g, void *arg)
{
    (void)arg;
    if (atomic_load_explicit(&g->status, memory_order_relaxed) == GORT_G_DEAD)
        return;
    gort_printf("goroutine %lld [%s]%s\n", (long long)g->id, gort_g_state_name(g),
                g->lockedm ? " (locked to thread)" : "");
}

void gort_dump_goroutines(void)
{
    gort_stack_each_g(print_g, NULL);
}

void gort_deadlock(void)
{
    gort_printf("gort: all goroutines are asleep - deadlock!\n\n");
    gort_traceback_all_waiting();
    if (getenv("GORT_DEBUG") && strstr(getenv("GORT_DEBUG"), "deadlockdump=1")) {
        gort_printf("\nthreads=%d idle=%d idlelocked=%d sys=%d gq=%lld\n", gort_sched.mcount,
                    gort_sched.nmidle, gort_sched.nmidlelocked, gort_sched.nmsys,
                    (long long)atomic_load(&gort_sched.gq_len));
        for (gort_m *m = gort_sched.allm; m; m = m->alllink)
            gort_printf("M%lld p=%d nextp=%d lockedg=%lld in_midle=%d sysmon=%d park=%u\n",
                        (long long)m->id, m->p ? m->p->id : -1, m->nextp ? m->nextp->id : -1,
                        m->lockedg ? (long long)m->lockedg->id : 0LL, m->in_midle,
                        m->is_sysmon, atomic_load(&m->park.key));
        for (int32_t i = 0; i < gort_sched.nprocs; i++) {
            gort_p *p = &gort_sched.allp[i];
            gort_printf("P%d status=%u m=%lld runq=%u\n", i, p->status,
                        p->m ? (long long)p->m->id : -1LL, gort_runq_len(p));
        }
    }
    _exit(2);
}

/* ---- statistics --------------------------------------------------------- */

int gort_stats_get(gort_stats *st)
{
    if (!st)
        return GORT_EINVAL;
    memset(st, 0, sizeof *st);
    if (!atomic_load(&gort_sched.running) || !gort_sched.allp)
        return GORT_EINVAL;
    st->procs = gort_sched.nprocs;
    st->idle_procs = atomic_load(&gort_sched.npidle);
    st->spinning_threads = atomic_load(&gort_sched.nmspinning);
    gort_rtlock_lock(&gort_sched.lock);
    st->threads = gort_sched.mcount;
    st->idle_threads = gort_sched.nmidle + gort_sched.nmidlelocked;
    gort_rtlock_unlock(&gort_sched.lock);
    st->threads_failed = atomic_load(&gort_sched.nthreads_failed);
    st->global_runqueue = atomic_load(&gort_sched.gq_len);
    uint64_t spawned = 1, exited = 0;   /* the main goroutine */
    for (int32_t i = 0; i < gort_sched.nprocs; i++) {
        gort_p *p = &gort_sched.allp[i];
        spawned += atomic_load(&p->nspawn);
        exited += atomic_load(&p->nexit);
        st->steals += atomic_load(&p->nsteal);
        st->stolen += atomic_load(&p->nstolen_from);
        st->retakes += atomic_load(&p->nretake);
    }
    st->goroutines_created = spawned;
    st->goroutines = (int64_t)(spawned - exited);
    st->handoffs = gort_cgo_handoffs();
    return 0;
}
