/*
 * cgocall.c - goroutines calling C.
 *
 * A foreign call runs on the M's system stack (g0's, below the context
 * g0 left there; or, inside a callback, below the C frames that called
 * back: m->cgo_top).  The goroutine stays "on" its M and keeps its P, so a
 * short call costs no hand-off at all.  sysmon watches for calls that
 * last (sysmon.c): after about 20 us it takes the P and hands it to
 * another M, so blocking C code never stalls the other goroutines.
 *
 * The hand-shake with sysmon is an asymmetric Dekker protocol, so that
 * the goroutine's side has no atomic read-modify-write:
 *
 *   goroutine, leaving C:  sc_out = 1; (compiler barrier)  r = sc_req
 *   sysmon, taking the P:  sc_req = 1; membarrier();       r = sc_out
 *
 * membarrier(PRIVATE_EXPEDITED) makes every running thread of the process
 * execute a full barrier, so at least one side sees the other's store:
 * either sysmon sees sc_out == 0 (the call is still on: it takes the P,
 * and the goroutine will see sc_req == 1), or the goroutine sees
 * sc_req == 0 (it keeps its P, and sysmon sees sc_out == 1 and backs
 * off).  When both see each other, sc_lock settles it: sysmon decides
 * under the lock (sc_retaken), and a goroutine that saw sc_req takes the
 * lock and reads the decision.  Without membarrier (old kernels) the
 * goroutine's store becomes an xchg, a full barrier of its own, and sysmon
 * uses a plain fence.
 *
 * Functions that block are learned: when sysmon takes the P from a call,
 * it records the call's C function (m->sc_fn) in a small table, and
 * gort_cgocall then gives the P away as soon as a call to that function
 * begins, as gort_cgocall_blocking does -- a burst of calls to it starts
 * them all at once instead of one per 20 us look.  A learned call that
 * returns within the 20 us is forgotten again.  The table is direct
 * mapped (a collision just forgets the older function); while it is
 * empty, a call pays one predictable branch for it.
 *
 * Locks: m->sc_lock is a leaf lock.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime.h"
#include "runq.h"
#include "sanitizer.h"

#define RETAKE_NS (20 * 1000)

void gort_cgo_init(void)
{
    gort_sched.membarrier =
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

static inline uintptr_t c_stack_top(gort_m *m)
{
    uintptr_t top = likely(m->cgo_top == 0)
                        /* below g0's saved context and its red zone */
                        ? ((uintptr_t)m->g0->sp - 256) & ~(uintptr_t)15
                        : m->cgo_top;
    gort_vg_stack_usable(m->g0->stack_lo, top);
    return top;
}

__thread uintptr_t gort_tls_ctop __attribute__((tls_model("initial-exec")));

/* c_stack_top, cached per thread.  Everything the C function does waits
 * for its stack pointer; computed afresh, that waits on a chain of loads
 * (g -> m -> g0 -> sp) which costs ~2 ns per call around ffi_call. */
static inline uintptr_t call_stack_top(gort_m *m)
{
    uintptr_t top = gort_ctop_get();
    if (unlikely(top == 0)) {
        top = c_stack_top(m);
        gort_ctop_set(top);
    } else {
        gort_vg_stack_usable(m->g0->stack_lo, top);
    }
    return top;
}

/* ---- functions learned to block --------------------------------------- */

#define LEARN_SLOTS 64u

static _Atomic(void *) learned[LEARN_SLOTS];
static _Atomic bool learned_any;
static _Atomic uint64_t nhandoffs;

static inline unsigned learn_slot(const void *fn)
{
    uintptr_t x = (uintptr_t)fn;
    return (unsigned)((x >> 4) ^ (x >> 10)) % LEARN_SLOTS;
}

static inline bool learned_blocking(void (*fn)(void *))
{
    return unlikely(atomic_load_explicit(&learned_any, memory_order_relaxed)) &&
           atomic_load_explicit(&learned[learn_slot((void *)fn)], memory_order_relaxed) ==
               (void *)fn;
}

/* sysmon took the P from a call of fn (NULL: not a gort_cgocall). */
static void learn(void *fn)
{
    if (!fn)
        return;
    atomic_store_explicit(&learned[learn_slot(fn)], fn, memory_order_relaxed);
    atomic_store_explicit(&learned_any, true, memory_order_relaxed);
}

static void unlearn(void *fn)
{
    void *want = fn;
    atomic_compare_exchange_strong(&learned[learn_slot(fn)], &want, NULL);
}

uint64_t gort_cgo_handoffs(void)
{
    return atomic_load(&nhandoffs);
}

void gort_entersyscall(gort_g *g, gort_m *m)
{
    atomic_store_explicit(&g->status, GORT_G_CCALL, memory_order_relaxed);
    atomic_store_explicit(&m->sc_seq, atomic_load_explicit(&m->sc_seq, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&m->sc_out, 0, memory_order_release);
}

/* The P is gone (sysmon took it, or the call gave it away): get one back,
 * or wait for one. */
static void exitsyscall_nop(gort_g *g, gort_m *m)
{
    gort_p *p = gort_pidle_get();
    if (p) {
        gort_acquirep(m, p);
        atomic_store_explicit(&g->status, GORT_G_RUNNING, memory_order_relaxed);
        return;
    }
    if (m->lockedg == g) {
        /* Wired (or inside a callback: g0's stack holds C frames): wait
         * on this thread until an M hands over a P. */
        gort_locked_wait(g, true, NULL, NULL);
        return;
    }
    /* Queue g and let this M look for work (or sleep) on g0; whoever
     * runs g next gives it a P. */
    gort_switch_to(g, m->g0, GORT_PREV_GLOBAL);
}

/* errno: the C function's errno is the goroutine's afterwards, but the
 * way back here may make system calls (a lock slept on, a wait for a P)
 * and may end on another thread; so it is kept aside and put back on
 * whatever thread g now runs.  The fast way back makes no calls and
 * leaves errno alone. */
static __attribute__((noinline)) void exitsyscall_slow(gort_g *g, gort_m *m)
{
    int err = *m->errno_ptr;
    gort_rtlock_lock(&m->sc_lock);
    bool taken = m->sc_retaken;
    m->sc_retaken = false;
    atomic_store_explicit(&m->sc_req, 0, memory_order_relaxed);
    gort_rtlock_unlock(&m->sc_lock);
    if (!taken)
        atomic_store_explicit(&g->status, GORT_G_RUNNING, memory_order_relaxed);
    else
        exitsyscall_nop(g, m);
    *g->m->errno_ptr = err;
}

/* Without membarrier the goroutine's side needs a full barrier of its own.
 * Out of line, so that the usual path keeps no register for it. */
static __attribute__((noinline)) void sc_out_fenced(gort_m *m)
{
    atomic_exchange_explicit(&m->sc_out, 1, memory_order_seq_cst);
}

static inline void exitsyscall(gort_g *g, gort_m *m)
{
    if (likely(gort_sched.membarrier)) {
        atomic_store_explicit(&m->sc_out, 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);
    } else {
        sc_out_fenced(m);
    }
    if (likely(atomic_load_explicit(&m->sc_req, memory_order_relaxed) == 0)) {
        atomic_store_explicit(&g->status, GORT_G_RUNNING, memory_order_relaxed);
        return;
    }
    exitsyscall_slow(g, m);
}

void gort_exitsyscall(gort_g *g, gort_m *m)
{
    exitsyscall(g, m);
}

/* sysmon: take p from an M whose G has been in C for RETAKE_NS (since
 * sysmon first saw the call), if anyone could use the P.  True if it did.
 * A call that will be worth taking but is not yet due lowers *due to the
 * time it will be: sysmon keeps polling until then if it is polling. */
bool gort_cgo_retake(gort_p *p, int64_t now, int64_t *due)
{
    gort_m *m = GORT_PEEK(p->m);
    if (!m || atomic_load_explicit(&m->sc_out, memory_order_relaxed) != 0)
        return false;
    uint64_t seq = atomic_load_explicit(&m->sc_seq, memory_order_relaxed);
    if (seq != p->sysmon_scseq) {
        p->sysmon_scseq = seq;
        p->sysmon_scwhen = now;
    }
    /* Worth it only if the P would be used: work is waiting, or no other
     * P is free for work that comes. */
    bool wanted = !gort_runq_empty(p) || atomic_load(&gort_sched.gq_len) != 0 ||
                  atomic_load(&p->timer0_when) != 0 || atomic_load(&gort_sched.npidle) == 0;
    if (now - p->sysmon_scwhen < RETAKE_NS) {
        if (wanted && p->sysmon_scwhen + RETAKE_NS < *due)
            *due = p->sysmon_scwhen + RETAKE_NS;
        return false;
    }
    if (!wanted && now - p->sysmon_scwhen < 10 * 1000 * 1000)
        return false;

    gort_rtlock_lock(&m->sc_lock);
    atomic_store_explicit(&m->sc_req, 1, memory_order_relaxed);
    if (gort_sched.membarrier)
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    else
        atomic_thread_fence(memory_order_seq_cst);
    /* acquire: taking the P, sysmon (and whoever it hands the P to) must
     * see what the goroutine did with it before entersyscall's release
     * (free on x86; TSan needs the edge). */
    bool in_c = atomic_load_explicit(&m->sc_out, memory_order_acquire) == 0 &&
                atomic_load_explicit(&m->sc_seq, memory_order_relaxed) == seq &&
                GORT_PEEK(m->p) == p;
    if (in_c) {
        m->sc_retaken = true;
        gort_releasep(m);
        learn(atomic_load_explicit(&m->sc_fn, memory_order_relaxed));
    } else if (!m->sc_retaken) {
        /* (If the P is already gone -- gort_cgocall_blocking gave it away
         * after we read p->m -- sc_req must stay set for the goroutine.) */
        atomic_store_explicit(&m->sc_req, 0, memory_order_relaxed);
    }
    gort_rtlock_unlock(&m->sc_lock);
    if (!in_c)
        return false;
    atomic_fetch_add_explicit(&p->nretake, 1, memory_order_relaxed);
    p->sysmon_scseq = 0;
    gort_handoffp(p);
    return true;
}

/* ---- the calls --------------------------------------------------------- */

static inline void checkpoint_after_c(gort_g *g)
{
    if (unlikely(atomic_load_explicit(&g->preempt, memory_order_relaxed)) && g->m->cb_depth == 0)
        gort_preempt_check_slow(g);
}

/* The begin and end of a call, and the call, in two copies: traced, and
 * not.  The untraced copy makes no call but the stack switch, so the
 * arguments pass straight through in registers and only g and m are
 * kept across it. */
static inline void call_begin(gort_g *g, gort_m *m, bool traced)
{
    g->in_cgo = GORT_CGO_CALL;
    if (traced)
        gort_trace_event(GORT_EV_CCALL_BEGIN, g->id, 0);
    gort_entersyscall(g, m);
}

/* g is on the M it entered C on: a G in C cannot move. */
static inline void call_end(gort_g *g, gort_m *m, bool traced)
{
    exitsyscall(g, m);
    if (traced)
        gort_trace_event(GORT_EV_CCALL_END, g->id, 0);
    g->in_cgo = GORT_CGO_NONE;
    checkpoint_after_c(g);
}

static inline void cgocall(gort_g *g, void (*fn)(void *), void *arg, bool traced)
{
    gort_m *m = g->m;
    /* Before entersyscall's release: sysmon reads it after its acquire.
     * Cleared after, so that no other kind of call is taken for it. */
    atomic_store_explicit(&m->sc_fn, (void *)fn, memory_order_relaxed);
    call_begin(g, m, traced);
    gort_asmcgocall(fn, arg, call_stack_top(m), &g->cgo_sp);
    atomic_store_explicit(&m->sc_fn, NULL, memory_order_relaxed);
    call_end(g, m, traced);
}

static __attribute__((noinline)) void cgocall_traced(gort_g *g, void (*fn)(void *), void *arg)
{
    cgocall(g, fn, arg, true);
}

/* A call whose P is given away at once, as if sysmon had taken it --
 * unless sysmon already has (this thread may have been descheduled since
 * entersyscall for longer than sysmon waits).  The hand-off's system
 * calls happen before fn runs, so they cannot touch its errno.  learned:
 * the call is one of a function learned to block; if it turns out short,
 * the function is forgotten. */
static __attribute__((noinline)) void cgocall_handoff(gort_g *g, void (*fn)(void *), void *arg,
                                                      bool learned_fn)
{
    gort_m *m = g->m;
    atomic_store_explicit(&m->sc_fn, NULL, memory_order_relaxed);   /* nothing to learn */
    call_begin(g, m, gort_trace_on);
    gort_p *p = NULL;
    gort_rtlock_lock(&m->sc_lock);
    if (!m->sc_retaken && m->p) {
        m->sc_retaken = true;
        atomic_store_explicit(&m->sc_req, 1, memory_order_relaxed);
        p = gort_releasep(m);
    }
    gort_rtlock_unlock(&m->sc_lock);
    if (p) {
        atomic_fetch_add_explicit(&nhandoffs, 1, memory_order_relaxed);
        gort_handoffp(p);
        /* The next blocking call's hand-off should find a parked M to
         * wake, not make a thread while its P waits.  This thread is
         * about to block anyway: making it here costs nobody. */
        gort_spare_m(1);
    }
    int64_t t0 = learned_fn ? gort_nanotime() : 0;
    gort_asmcgocall(fn, arg, call_stack_top(m), &g->cgo_sp);
    if (learned_fn && gort_nanotime() - t0 < RETAKE_NS)
        unlearn((void *)fn);
    call_end(g, m, gort_trace_on);
}

void gort_cgocall(void (*fn)(void *), void *arg)
{
    gort_g *g = gort_need_g("gort_cgocall");
    if (unlikely(learned_blocking(fn)))
        cgocall_handoff(g, fn, arg, true);
    else if (unlikely(gort_trace_on))
        cgocall_traced(g, fn, arg);
    else
        cgocall(g, fn, arg, false);
}

void gort_cgocall_blocking(void (*fn)(void *), void *arg)
{
    cgocall_handoff(gort_need_g("gort_cgocall_blocking"), fn, arg, false);
}

void gort_cgocall_fast(void (*fn)(void *), void *arg)
{
    gort_g *g = gort_need_g("gort_cgocall_fast");
    g->in_cgo = GORT_CGO_FAST;
    gort_asmcgocall(fn, arg, call_stack_top(g->m), &g->cgo_sp);
    g->in_cgo = GORT_CGO_NONE;
}

/* gort_cgocall(ffi_call...) without the argument block and the
 * trampoline: gort_asmffi hands the four arguments to ffi_call as they
 * came.  libffi does all the marshalling. */
static inline void ffi_call_on_system_stack(gort_g *g, ffi_cif *cif, void (*fn)(void),
                                            void *rvalue, void **avalues, bool traced)
{
    gort_m *m = g->m;
    call_begin(g, m, traced);
    gort_asmffi(cif, fn, rvalue, avalues, call_stack_top(m), &g->cgo_sp);
    call_end(g, m, traced);
}

static __attribute__((noinline)) void ffi_call_traced(gort_g *g, ffi_cif *cif, void (*fn)(void),
                                                      void *rvalue, void **avalues)
{
    ffi_call_on_system_stack(g, cif, fn, rvalue, avalues, true);
}

void gort_ffi_call(ffi_cif *cif, void (*fn)(void), void *rvalue, void **avalues)
{
    gort_g *g = gort_need_g("gort_ffi_call");
    if (unlikely(!cif || !fn))
        gort_throw_call("gort_ffi_call", "cif or fn is NULL");
    if (unlikely(gort_trace_on))
        ffi_call_traced(g, cif, fn, rvalue, avalues);
    else
        ffi_call_on_system_stack(g, cif, fn, rvalue, avalues, false);
}
