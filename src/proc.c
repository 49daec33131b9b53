/*
 * proc.c - goroutines: creation, the switch between them, blocking and
 * waking, yielding, exit, and wiring a goroutine to its thread.
 *
 * See runtime.h for the G/M/P model, runq.c for the queues and sched.c
 * for what an M does when it has nothing to run.
 *
 * Switching.  A G that yields, blocks or exits switches straight to the
 * next G of its P (one context switch, no scheduler frame in between);
 * only when its P has nothing runnable does it switch to the M's g0,
 * whose loop (sched.c) looks further: the global queue, other Ps, sleep.
 * The leaving G is still on its own stack until the switch completes, so
 * it may not be queued (another P could resume it), unlocked-and-woken or
 * freed before then.  It records itself in m->prev with an action; the
 * context that runs next on the M carries the action out in
 * gort_switch_in(), which the switch tail (switch.S) calls on the new
 * stack.
 *
 * Spawning is child-first: gort_go switches straight to the new goroutine
 * and leaves its caller in runnext, so the caller resumes as soon as the
 * child blocks, yields or exits.  A child that finishes at once costs two
 * switches and hands its still-warm stack to the next spawn.  A caller
 * left in runnext while its child computes is taken by an idle P (sysmon
 * notices the P has not switched and wakes one; see sysmon.c).
 *
 * The fast path of a spawn and an exit: the child starts on its bare
 * stack, called from gort_spawn_switch rather than resumed from a laid-out
 * context; when it returns, goexit puts its default-size stack straight
 * into the P's cache (only the M holding the P takes from it, and it takes
 * nothing before the switch is done), hands the M over and returns the
 * next context, which gort_gostart resumes.  A child that returns at once
 * thus comes back to its parent through matched calls and returns, which
 * the CPU predicts (switch.S).
 *
 * Waking.  gort_ready puts a G on the caller's P: in runnext for a
 * hand-off (the waker is about to block: pingpong stays on one core and
 * no thread is woken), at the ring's tail otherwise, and then wakes an
 * idle P only if none is already looking for work.  A cross-core wake
 * costs tens of microseconds on a VM; it is worth it only for work that
 * can run in parallel.
 *
 * Wired goroutines (gort_lock_os_thread).  An M whose G is wired to it
 * runs nothing else: when that G blocks or yields, the M gives its P away
 * and sleeps until the G is runnable again (sched.c).  A G that exits
 * while wired takes its thread with it.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"
#include "runq.h"
#include "sanitizer.h"

struct gort_sched gort_sched;
gort_g gort_g0;
gort_m gort_m0;
__thread gort_g *gort_tls_g __attribute__((tls_model("initial-exec")));

/* ---- switching --------------------------------------------------------- */

static void run_own_timers(gort_p *p);

static void finish_prev(gort_m *m, gort_g *prev, uint32_t action)
{
    gort_p *p = m->p;
    switch (action) {
    case GORT_PREV_READY:
        gort_runq_put(p, prev);
        break;
    case GORT_PREV_RUNNEXT:
        gort_runq_put_next(p, prev);
        break;
    case GORT_PREV_PARK:
        if (m->prev_unlockf)
            m->prev_unlockf(m->prev_lock);
        break;
    case GORT_PREV_DEAD:
        gort_stack_free(p, prev);
        break;
    case GORT_PREV_GLOBAL:
        gort_gq_put(prev);
        gort_wakep();
        break;
    }
}

/* Called by the switch tail (switch.S) on the resumed G's stack, before
 * its registers are restored: the resumed side's half of every switch. */
void gort_switch_in(void)
{
    gort_g *g = gort_getg();
    gort_m *m = g->m;
    gort_san_switch_finish(g);
    *m->errno_ptr = g->saved_errno;
    gort_g *prev = m->prev;
    if (prev) {
        m->prev = NULL;
        finish_prev(m, prev, m->prev_action);
    }
    /* A busy P runs its own due timers every few dozen switches, here,
     * where the G that left is fully parked. */
    gort_p *p = m->p;
    if (p && unlikely(--p->timer_countdown <= 0)) {
        p->timer_countdown = 61;
        if (atomic_load_explicit(&p->timer0_when, memory_order_relaxed) != 0)
            run_own_timers(p);
    }
}

static __attribute__((noinline)) void trace_switch(gort_g *g, gort_g *next, uint32_t action)
{
    if (g->id > 0)
        gort_trace_event(GORT_EV_GO_STOP, g->id, action);
    if (next->id > 0) {
        gort_trace_event(GORT_EV_GO_START, next->id, next->trace_flow);
        next->trace_flow = 0;
    }
}

/* The leaving side's half: hand the M to next and record what the new
 * context must do with g (enum gort_prev_action). */
static inline void hand_over(gort_g *g, gort_g *next, uint32_t action)
{
    gort_m *m = g->m;
    if (unlikely(gort_trace_on))
        trace_switch(g, next, action);
    if (action != GORT_PREV_NONE) {
        m->prev = g;
        m->prev_action = action;
    }
    if (next == m->g0)
        gort_note_clear(&m->park);   /* before anyone can wake the M for g */
    next->m = m;
    atomic_store_explicit(&next->status, GORT_G_RUNNING, memory_order_relaxed);
    GORT_POKE(m->curg, next);   /* (sysmon peeks) */
    g->saved_errno = *m->errno_ptr;
    gort_setg(next);
    gort_san_switch_start(g, next, action == GORT_PREV_DEAD);
}

/* Switch the M running g over to next.  Returns when g is switched back
 * in, perhaps on another M.  Inline for gort_park, the switch of every
 * blocking channel operation, where the extra call and frame were a tenth
 * of a hand-off's instructions. */
static inline __attribute__((always_inline)) void switch_to(gort_g *g, gort_g *next,
                                                            uint32_t action)
{
    hand_over(g, next, action);
    gort_san_fiber_switch(next);   /* (gort_yield: in switch.S) */
    gort_ctx_switch(&g->sp, next->sp);
}

void gort_switch_to(gort_g *g, gort_g *next, uint32_t action)
{
    switch_to(g, next, action);
}

/*
 * Goroutines woken by timers go to the back of the ring, in deadline
 * order.  But a chain of runnext hand-offs (a parent spawning child after
 * child: each child runs at once and the parent waits in runnext) would
 * keep them waiting there until sysmon ends its time slice, 10 ms later --
 * 100,000 sleepers would hold 10,000 stacks alive instead of a few
 * hundred.  So when this P's timers fire, its next pick rotates: the ring
 * head runs and the runnext G moves to the back, behind what was woken.
 * Without timers firing, runnext keeps its place (spawn trees stay
 * depth-first).
 */
static gort_g *ring_before_runnext(gort_p *p)
{
    gort_g *rn = atomic_load_explicit(&p->runnext, memory_order_relaxed);
    if (!rn)
        return NULL;
    gort_g *g = gort_ring_get(p);
    if (!g)
        return NULL;
    /* A thief may take rn meanwhile; then there is nothing to move. */
    if (atomic_compare_exchange_strong_explicit(&p->runnext, &rn, NULL, memory_order_acquire,
                                                memory_order_relaxed))
        gort_runq_put(p, rn);
    return g;
}

/* This P's due timers, run by the M holding it; the next pick rotates
 * (next_local) if any fired. */
static void run_own_timers(gort_p *p)
{
    int64_t now = gort_nanotime();
    if (atomic_load_explicit(&p->timer0_when, memory_order_relaxed) > now)
        return;
    gort_timers_run(p, now);
    p->timers_fired = true;
    p->fair_countdown = 1;
}

/* next_local's general case, after the caller bumped schedtick. */
static __attribute__((noinline)) gort_g *next_pick(gort_p *p)
{
    gort_g *next = NULL;
    if (unlikely(--p->fair_countdown <= 0)) {
        /* Not timers here: the G that is leaving may still hold the locks
         * of what it blocks on, and a timer could ready it before it is
         * parked.  Timers run in gort_switch_in, on the next stack. */
        p->fair_countdown = 61;
        if (atomic_load_explicit(&gort_sched.gq_len, memory_order_relaxed) > 0) {
            gort_rtlock_lock(&gort_sched.lock);
            next = gort_gq_get_locked(p);
            gort_rtlock_unlock(&gort_sched.lock);
        }
        if (p->timers_fired) {
            p->timers_fired = false;
            if (!next)
                next = ring_before_runnext(p);
        }
    }
    if (!next) {
        /* The G waiting in runnext inherits the time slice (it was handed
         * the P: a spawning parent resuming, a receiver given a value);
         * anything else starts a new one, which sysmon watches. */
        gort_g *rn = atomic_load_explicit(&p->runnext, memory_order_relaxed);
        next = gort_runq_get(p);
        if (next != rn)
            atomic_store_explicit(&p->slicetick,
                                  atomic_load_explicit(&p->slicetick, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
    } else {
        atomic_store_explicit(&p->slicetick,
                              atomic_load_explicit(&p->slicetick, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    }
    if (next && unlikely(next->lockedm != NULL)) {
        /* Wired to another M: g0's loop hands it over. */
        gort_runq_put_next(p, next);
        return NULL;
    }
    return next;
}

/* The next G this M may run without entering the scheduler loop, or NULL:
 * then it switches to g0, which looks further (or sleeps).  Inline, the
 * common case of a spawn's exit and a channel hand-off: the G in runnext,
 * which inherits the time slice, when the global queue is not due for a
 * look; everything else is next_pick. */
static inline gort_g *next_local(gort_m *m)
{
    if (unlikely(m->lockedg != NULL))
        return NULL;
    gort_p *p = m->p;
    uint64_t tick = atomic_load_explicit(&p->schedtick, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->schedtick, tick, memory_order_relaxed);
    /* rn's fields are read only once the CAS has made it ours: until
     * then a thief may take it, run it to its exit and recycle its
     * descriptor for a new goroutine (TSan saw exactly that).  Acquire
     * for the single-P take, which has no CAS: a host thread may have
     * wired rn before publishing it.  A plain load on x86-64. */
    gort_g *rn = atomic_load_explicit(&p->runnext, memory_order_acquire);
    if (rn && likely(p->fair_countdown > 1)) {
        bool took;
        if (gort_single_p()) {
            atomic_store_explicit(&p->runnext, NULL, memory_order_relaxed);
            took = true;
        } else {
            took = atomic_compare_exchange_strong_explicit(&p->runnext, &rn, NULL,
                                                           memory_order_acquire,
                                                           memory_order_relaxed);
        }
        if (likely(took)) {
            if (unlikely(rn->lockedm != NULL)) {
                /* Wired to another M: g0's loop hands it over. */
                gort_runq_put_next(p, rn);
                return NULL;
            }
            p->fair_countdown--;
            return rn;
        }
    }
    return next_pick(p);
}

/* Lay out a first context on g's stack that resumes at gort_gostart_pc
 * with r12 = g (layout.h, GORT_CTX_*).  The slot above the resume address
 * is left so that gort_gostart starts with a 16-byte aligned stack. */
static void g_prepare(gort_g *g)
{
    uintptr_t top = g->stack_hi & ~(uintptr_t)15;
    uint64_t *ctx = (uint64_t *)(top - 24 - (GORT_CTX_SIZE - 8));
    /* Only what gort_gostart reads, rbp (0 ends frame-pointer walks) and
     * the two words above the resume address; the other saved registers
     * are don't-cares.  Nothing at or above top: that is the descriptor. */
    ctx[GORT_CTX_FPCSR / 8] = GORT_MXCSR_INIT | ((uint64_t)GORT_FPUCW_INIT << 32);
    ctx[GORT_CTX_R12 / 8] = (uint64_t)(uintptr_t)g;
    ctx[GORT_CTX_RBP / 8] = 0;
    ctx[GORT_CTX_PC / 8] = (uint64_t)(uintptr_t)gort_gostart_pc;
    ctx[GORT_CTX_PC / 8 + 1] = 0;
    ctx[GORT_CTX_PC / 8 + 2] = 0;
    g->sp = ctx;
}

/* ---- checkpoints: preemption requests and shutdown --------------------- */

static inline void checkpoint(gort_g *g)
{
    if (unlikely(atomic_load_explicit(&gort_sched.stopping, memory_order_relaxed)))
        gort_stop_check_slow(g);
    if (unlikely(atomic_load_explicit(&g->preempt, memory_order_relaxed)))
        gort_preempt_check_slow(g);
}

/* The runtime is ending: this G will not run again.  Leave it (its stack
 * goes with the slabs) and let g0 end the M. */
void gort_stop_check_slow(gort_g *g)
{
    if (g == gort_sched.main_g && !atomic_load(&gort_sched.main_done))
        return; /* main itself is still running: it ends the runtime */
    if (g->m->is_extra)
        gort_callback_abandon(g);   /* a host thread: it cannot go to g0 */
    atomic_store_explicit(&g->status, GORT_G_WAITING, memory_order_relaxed);
    g->waitreason = "runtime stopping";
    gort_switch_to(g, g->m->g0, GORT_PREV_NONE);
    gort_throw("goroutine %lld resumed after the runtime stopped", (long long)g->id);
}

void gort_preempt_check_slow(gort_g *g)
{
    atomic_store_explicit(&g->preempt, false, memory_order_relaxed);
    /* A P kept busy by one goroutine gets to its timers here too. */
    gort_p *p = g->m->p;
    if (p && atomic_load_explicit(&p->timer0_when, memory_order_relaxed) != 0)
        gort_timers_run(p, gort_nanotime());
    gort_yield();
}

/* ---- goroutine life ---------------------------------------------------- */

/* The G has returned from its function: hand the M to the next G and
 * return that G's context, which gort_gostart (switch.S) resumes. */
static void *goexit(gort_g *g)
{
    gort_m *m = g->m;
    gort_p *p = m->p;
    gort_g *next = NULL;

    atomic_store_explicit(&g->status, GORT_G_DEAD, memory_order_relaxed);
    gort_p_count(&p->nexit);
    if (unlikely(g->lockedm != NULL)) {
        /* Exiting while wired: the thread goes with it (m0 stays, since
         * it must return to gort_main's caller, but runs nothing more). */
        g->lockedm = NULL;
        g->lockcount = 0;
        m->lockedg = NULL;
        m->exiting = true;
    }
    if (g == gort_sched.main_g) {
        atomic_store(&gort_sched.main_done, true);
        gort_sched_shutdown();   /* every M leaves its loop */
    } else if (!m->exiting) {
        next = next_local(m);
    }
    if (!next)
        next = m->g0;
    /* A default-size stack goes to the P's cache now, though it is still
     * being run on: only the M holding the P takes from that cache, and
     * this M takes nothing before the switch is done.  That spares the
     * next context the deferred free.  (Before hand_over: once that has
     * told ASan about the switch, only the switch itself follows.) */
    bool freed = gort_stack_free_exiting(p, g);
    hand_over(g, next, GORT_PREV_DEAD);
    if (freed)
        m->prev = NULL;
    return next->sp;
}

void *gort_goroutine_main(gort_g *g)
{
    g->fn(g->arg);
    return goexit(g);
}

static int64_t new_goid(gort_p *p)
{
    if (p->goid_next == p->goid_end) {
        int64_t base = atomic_fetch_add_explicit(&gort_sched.goidgen, 16, memory_order_relaxed);
        p->goid_next = base + 1;
        p->goid_end = base + 17;
    }
    return p->goid_next++;
}

/* A descriptor fresh from the stack allocator (which set the stack
 * fields) or recycled from a dead G: everything else starts over. */
void gort_g_reset(gort_g *g, int64_t id)
{
    GORT_POKE(g->id, id);   /* sysmon may be peeking at a G that was on this stack */
    g->m = NULL;
    g->schedlink = NULL;
    g->saved_errno = 0;
    g->waitreason = NULL;
    g->lockcount = 0;
    g->lockedm = NULL;
    g->in_cgo = GORT_CGO_NONE;
    g->cgo_sp = 0;
    g->asan_fake = NULL;
    atomic_store_explicit(&g->preempt, false, memory_order_relaxed);
    atomic_store_explicit(&g->status, GORT_G_IDLE, memory_order_relaxed);
}

static gort_g *newproc(gort_p *p, int64_t id, void (*fn)(void *), void *arg,
                       size_t stack_size, int *err)
{
    gort_g *g = gort_stack_alloc(p, stack_size, err);
    if (!g)
        return NULL;
    gort_san_stack_reuse(g);
    gort_g_reset(g, id);
    gort_san_g_start(g);
    g->fn = fn;
    g->arg = arg;
    if (p)
        gort_p_count(&p->nspawn);
    return g;
}

int64_t gort_go_opts(void (*fn)(void *), void *arg, const gort_go_options *opts)
{
    gort_g *g = gort_need_g("gort_go");
    size_t size = opts ? opts->stack_size : 0;   /* 0: the default size */
    int err = 0;

    if (fn == NULL || size > GORT_STACK_MAX)
        return GORT_EINVAL;
    checkpoint(g);
    gort_m *m = g->m;
    gort_g *ng = newproc(m->p, new_goid(m->p), fn, arg, size, &err);
    if (!ng)
        return err;
    int64_t id = ng->id;
    GORT_TRACE(GORT_EV_GO_CREATE, g->id, id);
    if (unlikely(m->lockedg != NULL)) {
        /* A wired M runs only its G: the child goes to the queue. */
        g_prepare(ng);
        gort_runq_put(m->p, ng);
        if (atomic_load_explicit(&gort_sched.npidle, memory_order_relaxed) > 0)
            gort_wakep();
        return id;
    }
    /* The child starts on its bare stack, called rather than resumed:
     * when it returns at once, its exit resumes us by the return path,
     * which keeps the CPU's return prediction in step (switch.S). */
    hand_over(g, ng, GORT_PREV_RUNNEXT);
    gort_san_fiber_switch(ng);
    gort_spawn_switch(&g->sp, ng);
    return id;
}

int64_t gort_go(void (*fn)(void *), void *arg)
{
    return gort_go_opts(fn, arg, NULL);
}

/* gort_yield itself is in switch.S: it saves the context at sp and
 * resumes whatever this returns (NULL: nothing else to run, carry on). */
void *gort_yield_prepare(void *sp)
{
    gort_g *g = gort_need_g("gort_yield");
    gort_m *m = g->m;
    if (unlikely(atomic_load_explicit(&gort_sched.stopping, memory_order_relaxed)))
        gort_stop_check_slow(g);
    atomic_store_explicit(&g->preempt, false, memory_order_relaxed);
    if (unlikely(m->lockedg != NULL)) {
        /* A wired G makes room by queueing itself and lending its P out
         * until someone picks it from the queue. */
        if (!gort_runq_empty(m->p) ||
            atomic_load_explicit(&gort_sched.gq_len, memory_order_relaxed) != 0)
            gort_locked_wait(g, true, NULL, NULL);
        return NULL;
    }
    gort_g *next = next_local(m);
    if (!next && gort_runq_empty(m->p)) {
        /* Alone on the P: nothing switches, so look at the P's timers
         * here now and then (the yielding G holds no locks). */
        gort_p *p = m->p;
        if (--p->timer_countdown <= 0) {
            p->timer_countdown = 61;
            if (atomic_load_explicit(&p->timer0_when, memory_order_relaxed) != 0 &&
                gort_timers_run(p, gort_nanotime()) >= 0)
                next = next_local(m);
        }
    }
    if (!next) {
        if (gort_runq_empty(m->p))
            return NULL;
        /* Something runnable that only g0 may hand over (a G wired to
         * another M): go through the scheduler. */
        next = m->g0;
    }
    g->sp = sp;
    hand_over(g, next, GORT_PREV_READY);
    return next->sp;
}

void gort_park(const char *reason, void (*unlockf)(void *), void *lock)
{
    gort_g *g = gort_getg();
    gort_m *m = g->m;
    g->waitreason = reason;
    atomic_store_explicit(&g->status, GORT_G_WAITING, memory_order_relaxed);
    if (unlikely(m->lockedg == g)) {
        gort_locked_wait(g, false, unlockf, lock);
        g->waitreason = NULL;
        if (unlikely(!m->p))
            gort_stop_check_slow(g);   /* woken because the runtime ends */
        return;
    }
    m->prev_unlockf = unlockf;
    m->prev_lock = lock;
    gort_g *next = next_local(m);
    switch_to(g, next ? next : m->g0, GORT_PREV_PARK);
    /* Back.  waitreason is read only while the G is waiting, so it is
     * left as it is (one store fewer on every wake-up); and a preemption
     * request can only be one made before the G parked (sysmon asks the
     * running G), which the G's next runtime call honours anyway. */
    if (unlikely(atomic_load_explicit(&gort_sched.stopping, memory_order_relaxed)))
        gort_stop_check_slow(g);
}

void gort_ready(gort_g *g, bool next)
{
    gort_ready_inline(g, next);
}

int64_t gort_id(void)
{
    gort_g *g = gort_getg();
    return g ? g->id : 0;
}

void gort_exit_status(int status)
{
    gort_need_g("gort_exit_status");
    gort_sched.exit_status = status;
}

int gort_args(char ***argv)
{
    if (argv)
        *argv = gort_sched.argv;
    return gort_sched.argc;
}

int gort_maxprocs(void)
{
    /* nprocs outlives the runtime (reset by the next gort_main only). */
    return atomic_load(&gort_sched.running) ? gort_sched.nprocs : 0;
}

/* ---- wiring a goroutine to its thread ---------------------------------- */

/*
 * A wired G that cannot go on (it blocks, or yields to others) keeps its
 * M: the M lends its P out and sleeps, on the G's own stack, until an M
 * that finds the G runnable in a queue hands it a P (startlockedm in
 * sched.c).  Never going through g0 matters for callbacks: there g0's
 * stack holds the foreign caller's frames.
 *
 * requeue: the G is runnable (a yield) and waits its turn in the global
 * queue; otherwise it is parked and unlockf(lock) releases whoever will
 * ready it.
 */
void gort_locked_wait(gort_g *g, bool requeue, void (*unlockf)(void *), void *lock)
{
    gort_m *m = g->m;
    GORT_TRACE(GORT_EV_GO_STOP, g->id, requeue ? GORT_PREV_READY : GORT_PREV_PARK);
    gort_note_clear(&m->park);
    if (unlockf)
        unlockf(lock);   /* with the P still held: a timer started here lands in its heap */
    /* Count as idle before the P goes: an M that finds g as soon as the P
     * is out hands it back and un-counts us (startlockedm). */
    gort_rtlock_lock(&gort_sched.lock);
    gort_sched.nmidlelocked++;
    m->locked_waiting = true;
    gort_rtlock_unlock(&gort_sched.lock);
    gort_p *p = m->p ? gort_releasep(m) : NULL;   /* none: back from C without one */
    if (requeue) {
        gort_gq_put(g);
        if (!p)
            gort_wakep();
    }
    if (p)
        gort_handoffp(p);
    gort_rtlock_lock(&gort_sched.lock);
    if (m->locked_waiting)
        gort_checkdead_locked();
    gort_rtlock_unlock(&gort_sched.lock);
    for (;;) {
        gort_note_sleep(&m->park);
        gort_note_clear(&m->park);
        if (GORT_PEEK(m->nextp) || atomic_load(&gort_sched.stopping))
            break;
    }
    gort_rtlock_lock(&gort_sched.lock);
    if (m->locked_waiting) {   /* woken by the end, not by a hand-over */
        m->locked_waiting = false;
        gort_sched.nmidlelocked--;
    }
    gort_rtlock_unlock(&gort_sched.lock);
    /* Taken, not read and cleared: woken by the end, a hand-over may
     * still be on its way. */
    gort_p *np = __atomic_exchange_n(&m->nextp, NULL, __ATOMIC_ACQUIRE);
    if (np)
        gort_acquirep(m, np);
    atomic_store_explicit(&g->status, GORT_G_RUNNING, memory_order_relaxed);
    GORT_POKE(m->curg, g);
    if (unlikely(gort_trace_on) && m->p) {
        gort_trace_event(GORT_EV_GO_START, g->id, g->trace_flow);
        g->trace_flow = 0;
    }
}

void gort_lock_os_thread(void)
{
    gort_g *g = gort_need_g("gort_lock_os_thread");
    if (g->lockcount == UINT32_MAX)
        gort_throw_call("gort_lock_os_thread", "nesting count overflows");
    g->lockcount++;
    g->lockedm = g->m;
    g->m->lockedg = g;
}

void gort_unlock_os_thread(void)
{
    gort_g *g = gort_need_g("gort_unlock_os_thread");
    if (g->lockcount == 0)
        return;   /* as in Go: unlocking an unlocked goroutine is a no-op */
    if (--g->lockcount == 0) {
        g->m->lockedg = NULL;
        g->lockedm = NULL;
    }
}

/* ---- the entry's scheduler steps -------------------------------------- */

static void main_trampoline(void *unused)
{
    (void)unused;
    gort_sched.main_fn(gort_sched.main_arg);
}

void gort_newproc_main(void)
{
    int err = 0;
    int64_t id = atomic_fetch_add(&gort_sched.goidgen, 1) + 1;
    gort_g *g = newproc(NULL, id, main_trampoline, NULL, 0, &err);
    if (!g)
        gort_throw("cannot create the main goroutine: %s", gort_strerror(err));
    g_prepare(g);
    gort_sched.main_g = g;
    gort_gq_put(g);
}
