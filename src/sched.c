/*
 * sched.c - Ms and Ps: what a thread does when its P has nothing to run.
 *
 * Every M runs gort_schedule() on its g0 stack.  It finds a runnable G and
 * switches to it; it comes back only when a G on this M blocks, yields or
 * exits with nothing else runnable on the P.  Finding work, in order:
 * the P's own queues, the global queue, then stealing from other Ps.  An
 * M doing the last of these is "spinning".
 *
 * Spinning is bounded (at most half the busy Ps' worth of spinners), and
 * a thread is woken (gort_wakep) only when there is an idle P, no M is
 * already spinning, and work was put where another P can take it.  On
 * this class of VM a cross-core futex wake costs 12-30 us: waking a thread
 * for a hand-off that the current thread would run a few ns later is the
 * worst trade there is.
 *
 * An M with nothing to do gives up its P (idle P list), decrements the
 * spinning count and then looks at every P once more: a G made ready
 * between its last look and its going idle would otherwise wait for the
 * next wake-up (the spinning-M handshake Go's runtime uses too).  Then it
 * sleeps on its futex note until an M that found work for it hands it a P.
 *
 * Threads.  Every M's thread is started through _cgo_thread_start (the
 * host's, else gort's default), with ThreadStart{g0, m->tls, mstart}.  If
 * the hook leaves g0's stack_lo at 0 and the size in stack_hi, the new
 * thread derives its real bounds in gort_mstart_thread.  If gort's default
 * hook cannot create the thread it says so and the runtime carries on with
 * the Ms it has.  While sysmon takes Ps from foreign calls, one or two
 * spare Ms are kept parked on the idle list (gort_spare_m), so that the
 * next such hand-off wakes a thread instead of creating one on the spot.
 *
 * Ending.  When the main goroutine returns, `stopping` is set and every
 * M's note is poked.  Ms leave their loops at their next scheduling point
 * or runtime call; m0 waits for the others, then gort_rt0_exit frees
 * everything.  A goroutine looping in C without calling into gort keeps
 * its M, and so gort_main, from finishing (documented).
 *
 * Locks: sched.lock guards the idle lists, the M list and the global queue
 * ([L] fields in runtime.h); see lock.h for the order.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "runq.h"
#include "sanitizer.h"

static sigset_t runtime_sigmask;   /* the mask m0 had: every M starts from it */

/* ---- P and M lists (sched.lock) ---------------------------------------- */

static void pidle_put_locked(gort_p *p)
{
    GORT_POKE(p->status, GORT_P_IDLE);   /* (sysmon peeks at status and m) */
    GORT_POKE(p->m, NULL);
    p->link = gort_sched.pidle;
    gort_sched.pidle = p;
    atomic_fetch_add(&gort_sched.npidle, 1);
}

static gort_p *pidle_get_locked(void)
{
    gort_p *p = gort_sched.pidle;
    if (p) {
        gort_sched.pidle = p->link;
        if (atomic_fetch_sub(&gort_sched.npidle, 1) == gort_sched.nprocs)
            gort_sysmon_wake();   /* the runtime was idle: sysmon may be asleep */
    }
    return p;
}

gort_p *gort_pidle_get(void)
{
    gort_rtlock_lock(&gort_sched.lock);
    gort_p *p = pidle_get_locked();
    gort_rtlock_unlock(&gort_sched.lock);
    if (p)
        GORT_POKE(p->status, GORT_P_RUNNING);
    return p;
}

static gort_m *midle_get_locked(void)
{
    gort_m *m = gort_sched.midle;
    if (m) {
        gort_sched.midle = m->schedlink;
        gort_sched.nmidle--;
        m->in_midle = false;
    }
    return m;
}

static void midle_remove_locked(gort_m *m)
{
    gort_m **pp = &gort_sched.midle;
    while (*pp != m)
        pp = &(*pp)->schedlink;
    *pp = m->schedlink;
    gort_sched.nmidle--;
    m->in_midle = false;
}

void gort_acquirep(gort_m *m, gort_p *p)
{
    if (p->m != NULL && p->m != m)
        gort_throw("acquirep: P%d held by M%lld", p->id, (long long)p->m->id);
    GORT_POKE(m->p, p);
    GORT_POKE(p->m, m);
    GORT_POKE(p->status, GORT_P_RUNNING);
}

gort_p *gort_releasep(gort_m *m)
{
    gort_p *p = m->p;
    GORT_POKE(m->p, NULL);
    GORT_POKE(p->m, NULL);
    return p;
}

/* ---- threads ----------------------------------------------------------- */

/* Make an M and start its thread through the hook.  p: the P it starts
 * with (not for sysmon; NULL for a spare, which goes idle at once).  NULL
 * if the thread could not be made.  The caller of a spare counted it in
 * nmspare. */
gort_m *gort_newm(bool sysmon, gort_p *p, bool spinning)
{
    gort_m *m = calloc(1, sizeof *m);
    gort_g *g0 = calloc(1, sizeof *g0);
    if (!m || !g0) {
        free(m);
        free(g0);
        gort_printf("gort: cannot create thread: out of memory\n");
        atomic_fetch_add(&gort_sched.nthreads_failed, 1);
        return NULL;
    }
    m->g0 = g0;
    g0->m = m;
    atomic_init(&m->sc_out, 1);   /* not in a foreign call */
    m->is_sysmon = sysmon;
    m->nextp = p;
    m->spinning = spinning;
    m->spare_starting = !sysmon && !p;
    gort_rtlock_lock(&gort_sched.lock);
    m->id = ++gort_sched.mgen;
    m->alllink = gort_sched.allm;
    gort_sched.allm = m;
    gort_sched.mcount++;
    gort_sched.nmalive++;
    if (sysmon)
        gort_sched.nmsys++;
    gort_rtlock_unlock(&gort_sched.lock);

    GORT_TRACE(GORT_EV_THREAD, 0, m->id);
    gort_thread_start ts = {.g = (gort_cgo_g *)g0, .tls = m->tls, .fn = gort_mstart_thread};
    void (*start)(gort_thread_start *) = _cgo_thread_start;
    if (!start)
        start = gort_cgo_default_thread_start;
    bool failed = false;
    if (start == gort_cgo_default_thread_start)
        failed = gort_default_thread_start(&ts) != 0;   /* (g0 is the new thread's now) */
    else
        start(&ts);
    if (failed) {
        /* gort's hook reported the failure; undo. */
        gort_rtlock_lock(&gort_sched.lock);
        gort_m **pp = &gort_sched.allm;
        while (*pp != m)
            pp = &(*pp)->alllink;
        *pp = m->alllink;
        gort_sched.mcount--;
        gort_sched.nmalive--;
        if (sysmon)
            gort_sched.nmsys--;
        if (m->spare_starting)
            gort_sched.nmspare--;
        gort_rtlock_unlock(&gort_sched.lock);
        atomic_fetch_add(&gort_sched.nthreads_failed, 1);
        free(g0);
        free(m);
        return NULL;
    }
    return m;
}

/* ts.fn of every M but m0: runs on the new thread after setg(g0). */
void gort_mstart_thread(void)
{
    gort_g *g0 = gort_getg();
    gort_m *m = g0->m;

    if (g0->stack_lo == 0) {
        /* The hook told us the size only: the stack ends a little above
         * this frame, and reaches size bytes below it. */
        uintptr_t size = g0->stack_hi ? g0->stack_hi : 64 * 1024;
        uintptr_t hi = (uintptr_t)__builtin_frame_address(0) + 256;
        g0->stack_hi = hi;
        g0->stack_lo = hi - size + 1024;
    }
    g0->stackguard0 = g0->stack_lo + GORT_STACK_GUARD;
    g0->stackguard1 = g0->stackguard0;
    pthread_sigmask(SIG_SETMASK, &runtime_sigmask, NULL);
    gort_minit(m);
    g0->status = GORT_G_RUNNING;
    GORT_POKE(m->curg, g0);

    if (m->is_sysmon) {
        gort_sysmon_main(m);
    } else {
        gort_p *p = m->nextp;
        m->nextp = NULL;
        if (p)
            gort_acquirep(m, p);
        gort_schedule(m);
    }

    gort_mfini(m);
    gort_rtlock_lock(&gort_sched.lock);
    bool last = --gort_sched.nmalive == 0;
    if (!m->is_sysmon && !atomic_load(&gort_sched.stopping)) {
        /* Ended with its wired G: it no longer counts as running, and if
         * it was the last that did, nothing will wake anybody. */
        gort_sched.nmexited++;
        gort_checkdead_locked();
    }
    gort_rtlock_unlock(&gort_sched.lock);
    if (last)
        gort_note_wakeup(&gort_sched.m0_wait);
    /* Return into the hook's thread entry, which ends the thread.  The M
     * and its g0 are freed by gort_rt0_exit. */
}

/* ---- starting and stopping Ms ------------------------------------------ */

/* Run p (or an idle P if p is NULL) on an idle or new M.  spinning: the M
 * starts out looking for work, and the caller already counted it. */
static void startm(gort_p *p, bool spinning)
{
    gort_rtlock_lock(&gort_sched.lock);
    if (!p) {
        p = pidle_get_locked();
        if (!p) {
            gort_rtlock_unlock(&gort_sched.lock);
            if (spinning)
                atomic_fetch_sub(&gort_sched.nmspinning, 1);
            return;
        }
    }
    GORT_POKE(p->status, GORT_P_RUNNING);
    gort_m *m = midle_get_locked();
    gort_rtlock_unlock(&gort_sched.lock);
    if (!m) {
        m = gort_newm(false, p, spinning);
        if (!m) {
            gort_rtlock_lock(&gort_sched.lock);
            pidle_put_locked(p);
            gort_rtlock_unlock(&gort_sched.lock);
            if (spinning)
                atomic_fetch_sub(&gort_sched.nmspinning, 1);
            return;
        }
        return;
    }
    m->spinning = spinning;
    GORT_POKE(m->nextp, p);   /* m may be polling for it (stopm) */
    gort_note_wakeup(&m->park);
}

void gort_wakep(void)
{
    if (atomic_load(&gort_sched.npidle) == 0)
        return;
    int32_t zero = 0;
    if (atomic_load(&gort_sched.nmspinning) != 0 ||
        !atomic_compare_exchange_strong(&gort_sched.nmspinning, &zero, 1))
        return;
    startm(NULL, true);
}

/* sched.lock held.  The M sleeping for timers, if it must be woken to
 * watch a deadline `when` (it sleeps until later); that deadline is then
 * its own (one poke is enough).  NULL if it need not be, or if no M
 * sleeps for timers -- then whoever goes idle next becomes that M. */
gort_m *gort_timer_sleeper_poke_locked(int64_t when)
{
    gort_m *m = gort_sched.timer_sleeper;
    if (!m || !when ||
        (gort_sched.timer_sleep_until != 0 && when >= gort_sched.timer_sleep_until))
        return NULL;
    gort_sched.timer_sleep_until = when;
    return m;
}

/* Give p away: to an M if there is work for it, else to the idle list. */
void gort_handoffp(gort_p *p)
{
    if (!gort_runq_empty(p) || atomic_load(&gort_sched.gq_len) > 0) {
        startm(p, false);
        return;
    }
    int32_t zero = 0;
    if (atomic_load(&gort_sched.nmspinning) + atomic_load(&gort_sched.npidle) == 0 &&
        atomic_compare_exchange_strong(&gort_sched.nmspinning, &zero, 1)) {
        startm(p, true);
        return;
    }
    gort_rtlock_lock(&gort_sched.lock);
    int64_t when = atomic_load(&p->timer0_when);
    if (atomic_load(&gort_sched.gq_len) > 0 || (when != 0 && !gort_sched.timer_sleeper)) {
        /* Work, or timers that nobody would otherwise wait for. */
        gort_rtlock_unlock(&gort_sched.lock);
        startm(p, false);
        return;
    }
    /* Idle with timers: the M sleeping for timers must see them. */
    gort_m *poke = gort_timer_sleeper_poke_locked(when);
    pidle_put_locked(p);
    gort_rtlock_unlock(&gort_sched.lock);
    if (poke)
        gort_note_wakeup(&poke->park);
}

/* Keep idle Ms ready for the next hand-offs of Ps taken from foreign
 * calls (sysmon calls this while such calls come one after another).
 * Without them each hand-off would make a thread on the spot -- a clone,
 * an 8 MiB stack, a signal stack, tens of microseconds, and on a busy
 * machine a new thread waits longer for a CPU than a woken one -- between
 * taking the P and anyone running it.  A spare goes straight to the idle
 * list and sleeps on its note (no CPU) until a hand-off wakes it.  Makes
 * one M if fewer than `want` are idle or on their way there. */
void gort_spare_m(int32_t want)
{
    gort_rtlock_lock(&gort_sched.lock);
    bool need = gort_sched.nmidle + gort_sched.nmspare < want &&
                !atomic_load(&gort_sched.stopping);
    if (need)
        gort_sched.nmspare++;
    gort_rtlock_unlock(&gort_sched.lock);
    if (need)
        gort_newm(false, NULL, false);   /* a failure has been counted and undone */
}

/* A thread that is not one of this run's Ms (gort_stop's caller, a
 * foreign thread giving its extra M back, a host thread in
 * gort_host_serve) may make a G runnable and then hand a P on, wake an M
 * or make one.  An M already awake can run that G meanwhile, and if that
 * ends the run, m0 frees every M and P (allp, the idle lists' Ps) as soon
 * as nmalive is 0: the thread would then hand out a P from freed memory
 * to a thread that starts after the end.  So such a thread counts as
 * alive while it touches the scheduler.  false: too late, the run is
 * being freed and nothing of it may be touched. */
bool gort_sched_hold(void)
{
    gort_rtlock_lock(&gort_sched.lock);
    bool ok = !gort_sched.ms_ended;
    if (ok)
        gort_sched.nmalive++;
    gort_rtlock_unlock(&gort_sched.lock);
    return ok;
}

void gort_sched_release(void)
{
    gort_rtlock_lock(&gort_sched.lock);
    bool last = --gort_sched.nmalive == 0;
    gort_rtlock_unlock(&gort_sched.lock);
    if (last)
        gort_note_wakeup(&gort_sched.m0_wait);
}

/* Deadlock check, with sched.lock held, as an M goes idle: if no M is
 * left running Gs, nothing can make one runnable again. */
void gort_checkdead_locked(void)
{
    int32_t run = gort_sched.mcount - gort_sched.nmidle - gort_sched.nmidlelocked -
                  gort_sched.nmsys - gort_sched.nmexited;
    if (run > 0 || atomic_load(&gort_sched.stopping) || gort_sched.library_mode)
        return;
    if (atomic_load(&gort_sched.gq_len) > 0 || gort_timers_next() != 0 ||
        atomic_load(&gort_sched.nhostcalls) > 0 || gort_callbacks_live())
        return;   /* a timer, a host thread or a callback may wake somebody */
    gort_rtlock_unlock(&gort_sched.lock);
    gort_deadlock();
}

/* Sleep until an M hands this one a P (m->nextp).  With timers pending,
 * one idle M sleeps only until the earliest: it then returns without a P
 * (m->nextp NULL) to run them.  Also returns without a P when the runtime
 * is stopping.  A wake-up that finds the M still on the idle list and no
 * reason to get up (a poke that came late) just sleeps again: the idle
 * list is the truth, the note only a doorbell. */
static void stopm(gort_m *m, bool for_timers)
{
    gort_rtlock_lock(&gort_sched.lock);
    m->schedlink = gort_sched.midle;
    gort_sched.midle = m;
    gort_sched.nmidle++;
    m->in_midle = true;
    if (m->spare_starting) {
        m->spare_starting = false;
        gort_sched.nmspare--;
    }
    gort_checkdead_locked();
    int64_t until = 0;
    gort_m *poke = NULL;
    if (for_timers && !atomic_load(&gort_sched.stopping)) {
        int64_t next = gort_timers_next();
        if (next && !gort_sched.timer_sleeper) {
            until = next;
            gort_sched.timer_sleeper = m;
            gort_sched.timer_sleep_until = until;
        } else {
            /* The sleeper may wait for a later deadline than one this M
             * saw: a timer started while every P was busy (no poke then:
             * its P was to run it), on a P that has just gone idle.
             * Nobody else is watching it: wake the sleeper for it. */
            poke = gort_timer_sleeper_poke_locked(next);
        }
    }
    gort_rtlock_unlock(&gort_sched.lock);
    if (poke)
        gort_note_wakeup(&poke->park);
    gort_cgo_idle_yield();

    for (;;) {
        if (until) {
            int64_t left = until - gort_nanotime();
            gort_note_tsleep(&m->park, left > 0 ? left : 0);   /* < 0 would mean "forever" */
        } else
            gort_note_sleep(&m->park);
        gort_note_clear(&m->park);

        gort_rtlock_lock(&gort_sched.lock);
        if (gort_sched.timer_sleeper == m)
            gort_sched.timer_sleeper = NULL;
        if (!m->in_midle) {
            /* A waker took us off the list; its hand-over (m->nextp and
             * a wake-up) may still be on its way. */
            gort_rtlock_unlock(&gort_sched.lock);
            while (!GORT_PEEK(m->nextp) && !atomic_load(&gort_sched.stopping)) {
                gort_note_sleep(&m->park);
                gort_note_clear(&m->park);
            }
            return;
        }
        if (until || atomic_load(&gort_sched.stopping)) {
            /* Timers due (or poked about an earlier one), or the end. */
            midle_remove_locked(m);
            gort_rtlock_unlock(&gort_sched.lock);
            return;
        }
        gort_rtlock_unlock(&gort_sched.lock);
    }
}

/* A spinning M found work: stop spinning, and if it was the last spinner
 * and Ps are idle, wake another to keep looking (there may be more). */
static void reset_spinning(gort_m *m)
{
    m->spinning = false;
    if (atomic_fetch_sub(&gort_sched.nmspinning, 1) == 1 &&
        atomic_load(&gort_sched.npidle) > 0)
        gort_wakep();
}

static uint32_t fastrand(gort_p *p)
{
    uint32_t x = p->rand ? p->rand : (uint32_t)(p->id * 2654435761u + 1);
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p->rand = x;
    return x;
}

static gort_g *steal_work(gort_m *m)
{
    gort_p *p = m->p;
    int32_t n = gort_sched.nprocs;
    for (int round = 0; round < 4; round++) {
        bool last = round == 3;
        uint32_t start = fastrand(p) % (uint32_t)n;
        for (int32_t i = 0; i < n; i++) {
            gort_p *v = &gort_sched.allp[(start + (uint32_t)i) % (uint32_t)n];
            if (v == p)
                continue;
            if (atomic_load(&gort_sched.stopping))
                return NULL;
            gort_g *g = gort_runq_steal(p, v, last);
            if (g)
                return g;
        }
    }
    return NULL;
}

static bool any_p_has_work(void)
{
    for (int32_t i = 0; i < gort_sched.nprocs; i++)
        if (!gort_runq_empty(&gort_sched.allp[i]))
            return true;
    return false;
}

/* Find a G to run; sleeps if there is none.  Returns with a P held, or
 * NULL when the runtime is stopping. */
static gort_g *findrunnable(gort_m *m)
{
    for (;;) {
        if (atomic_load(&gort_sched.stopping) || m->exiting)
            return NULL;
        gort_p *p = m->p;
        if (gort_timers_next() != 0) {
            gort_timers_run_all(gort_nanotime());
        }
        gort_g *g = gort_runq_get(p);
        if (g)
            return g;
        if (atomic_load(&gort_sched.gq_len) > 0) {
            gort_rtlock_lock(&gort_sched.lock);
            g = gort_gq_get_locked(p);
            gort_rtlock_unlock(&gort_sched.lock);
            if (g)
                return g;
        }
        /* Steal, if not too many are at it already. */
        int32_t busy = gort_sched.nprocs - atomic_load(&gort_sched.npidle);
        if (gort_sched.nprocs > 1 &&
            (m->spinning || 2 * atomic_load(&gort_sched.nmspinning) < busy)) {
            if (!m->spinning) {
                m->spinning = true;
                atomic_fetch_add(&gort_sched.nmspinning, 1);
            }
            g = steal_work(m);
            if (g)
                return g;
        }

        /* Nothing: give the P back, then look once more without it. */
        gort_rtlock_lock(&gort_sched.lock);
        if (atomic_load(&gort_sched.gq_len) > 0) {
            g = gort_gq_get_locked(p);
            gort_rtlock_unlock(&gort_sched.lock);
            if (g)
                return g;
            continue;
        }
        gort_releasep(m);
        pidle_put_locked(p);
        gort_rtlock_unlock(&gort_sched.lock);

        if (m->spinning) {
            m->spinning = false;
            atomic_fetch_sub(&gort_sched.nmspinning, 1);
            /* The global queue too: a thread without a P (gort_stop, a
             * host thread, a G back from C) that queued a G there after
             * our look under the lock saw us spinning, and woke nobody. */
            if (any_p_has_work() || atomic_load(&gort_sched.gq_len) > 0) {
                gort_rtlock_lock(&gort_sched.lock);
                p = pidle_get_locked();
                gort_rtlock_unlock(&gort_sched.lock);
                if (p) {
                    gort_acquirep(m, p);
                    m->spinning = true;
                    atomic_fetch_add(&gort_sched.nmspinning, 1);
                    continue;
                }
            }
        }
        /* Sleep.  If woken for timers without a P, take an idle one and
         * look again; if every P is busy their own Ms run their timers,
         * and this M sleeps until handed a P. */
        bool for_timers = true;
        for (;;) {
            stopm(m, for_timers);
            gort_p *np = __atomic_exchange_n(&m->nextp, NULL, __ATOMIC_ACQUIRE);   /* see gort_schedule */
            if (np) {
                gort_acquirep(m, np);
                break;
            }
            if (atomic_load(&gort_sched.stopping) || m->exiting)
                return NULL;
            gort_rtlock_lock(&gort_sched.lock);
            p = pidle_get_locked();
            gort_rtlock_unlock(&gort_sched.lock);
            if (p) {
                gort_acquirep(m, p);
                break;
            }
            for_timers = false;
        }
    }
}

/* g is wired to another M, which sleeps in gort_locked_wait (proc.c):
 * give that M our P (g is its to run), then go idle. */
static void startlockedm(gort_m *m, gort_g *g)
{
    gort_m *lm = g->lockedm;
    gort_p *p = gort_releasep(m);
    /* lm stops counting as idle now, under the lock, not when its thread
     * gets around to running: the deadlock check must never see a gap. */
    gort_rtlock_lock(&gort_sched.lock);
    if (lm->locked_waiting) {
        lm->locked_waiting = false;
        gort_sched.nmidlelocked--;
    }
    GORT_POKE(lm->nextp, p);   /* (lm polls it between wake-ups) */
    gort_rtlock_unlock(&gort_sched.lock);
    gort_note_wakeup(&lm->park);
}

void gort_schedule(gort_m *m)
{
    gort_g *g0 = m->g0;
    for (;;) {
        if (atomic_load(&gort_sched.stopping) || m->exiting)
            break;
        if (!m->p) {
            /* Came back from handing our P to a wired M. */
            stopm(m, true);
            /* Taken, not read and cleared: when the runtime is stopping,
             * stopm returns without waiting for a hand-over that may still
             * be on its way. */
            gort_p *p = __atomic_exchange_n(&m->nextp, NULL, __ATOMIC_ACQUIRE);
            if (!p) {   /* woken for timers */
                gort_rtlock_lock(&gort_sched.lock);
                p = pidle_get_locked();
                gort_rtlock_unlock(&gort_sched.lock);
            }
            if (p)
                gort_acquirep(m, p);
            continue;
        }
        gort_g *g = findrunnable(m);
        if (!g)
            continue;
        if (m->spinning)
            reset_spinning(m);
        atomic_fetch_add_explicit(&m->p->schedtick, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->p->slicetick, 1, memory_order_relaxed);
        if (g->lockedm && g->lockedm != m) {
            startlockedm(m, g);
            continue;
        }
        gort_ctop_set(0);   /* g0's context moves: foreign calls find their stack anew */
        gort_switch_to(g0, g, GORT_PREV_NONE);
    }
    /* Leaving: an exiting M hands its P on; a stopping runtime needs none. */
    if (m->p) {
        gort_p *p = gort_releasep(m);
        if (!atomic_load(&gort_sched.stopping))
            gort_handoffp(p);
        else {
            gort_rtlock_lock(&gort_sched.lock);
            pidle_put_locked(p);
            gort_rtlock_unlock(&gort_sched.lock);
        }
    }
}

/* ---- start and end ----------------------------------------------------- */

void gort_sched_start_ms(void)
{
    pthread_sigmask(SIG_SETMASK, NULL, &runtime_sigmask);
    sigdelset(&runtime_sigmask, SIGSEGV);
    sigdelset(&runtime_sigmask, SIGBUS);
    /* Ps other than P0 start idle; Ms are made when there is work. */
    gort_rtlock_lock(&gort_sched.lock);
    for (int32_t i = gort_sched.nprocs - 1; i >= 1; i--)
        pidle_put_locked(&gort_sched.allp[i]);
    gort_rtlock_unlock(&gort_sched.lock);
    gort_sysmon_start();
    gort_runtime_ready();
}

/* Called by whoever ends the runtime (the main goroutine's exit). */
void gort_sched_shutdown(void)
{
    atomic_store(&gort_sched.stopping, true);
    gort_rtlock_lock(&gort_sched.lock);
    for (gort_m *m = gort_sched.allm; m; m = m->alllink)
        gort_note_wakeup(&m->park);
    gort_rtlock_unlock(&gort_sched.lock);
    gort_note_wakeup(&gort_m0.park);
    gort_note_wakeup(&gort_sched.sysmon_note);
}

void gort_mstart(void)
{
    gort_g *g0 = gort_getg();
    gort_m *m = g0->m;

    gort_minit(m);
    g0->status = GORT_G_RUNNING;
    GORT_POKE(m->curg, g0);
    gort_rtlock_lock(&gort_sched.lock);
    gort_sched.mcount++;
    gort_m0.alllink = gort_sched.allm;
    gort_sched.allm = &gort_m0;
    gort_rtlock_unlock(&gort_sched.lock);
    gort_acquirep(m, &gort_sched.allp[0]);
    gort_sched_start_ms();
    gort_schedule(m);
    if (!atomic_load(&gort_sched.stopping)) {
        /* A G exited wired to m0: m0 runs nothing more until the end. */
        gort_rtlock_lock(&gort_sched.lock);
        gort_sched.nmexited++;
        gort_checkdead_locked();
        gort_rtlock_unlock(&gort_sched.lock);
    }

    /* m0: wait for every other M to end, and for callbacks on threads
     * outside the runtime to leave its memory (cgo/callback.c). */
    for (;;) {
        gort_note_clear(&gort_sched.m0_wait);
        gort_rtlock_lock(&gort_sched.lock);
        int32_t alive = gort_sched.nmalive + gort_callbacks_in_flight();
        if (alive == 0)
            gort_sched.ms_ended = true;   /* no gort_sched_hold from now on */
        for (gort_m *om = gort_sched.allm; om; om = om->alllink)
            if (om != &gort_m0)
                gort_note_wakeup(&om->park);
        gort_rtlock_unlock(&gort_sched.lock);
        if (alive == 0)
            break;
        gort_note_tsleep(&gort_sched.m0_wait, 100 * 1000 * 1000);
    }
}

int gort_rt0_exit(void)
{
    gort_m *m = &gort_m0;
    int status = gort_sched.exit_status;

    m->prev = NULL;   /* a dead G: its slab goes below */
    for (gort_m *om = gort_sched.allm, *next; om; om = next) {
        next = om->alllink;
        if (om != &gort_m0) {
            free(om->g0);
            free(om);
        }
    }
    gort_sched.allm = NULL;
    gort_trace_flush(true);
    gort_callback_fini();
    for (int32_t i = 0; i < gort_sched.nprocs; i++)
        gort_timers_free(&gort_sched.allp[i]);
    gort_stack_release_all();
    gort_mfini(m);
    gort_signal_fini();
    free(gort_sched.allp);
    gort_sched.allp = NULL;
    atomic_store(&gort_sched.running, false);
    gort_setg(NULL);
    return status;
}
