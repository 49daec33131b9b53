/*
 * callback.c - C calling goroutines: libffi closures, borrowed runtime
 * records for foreign threads, and the runtime's life-cycle as callers
 * outside it see it.
 *
 * A callback arrives on one of three kinds of thread:
 *
 *   - a goroutine's own thread, the goroutine being in a foreign call
 *     (gort_cgocall -> C -> callback).  The goroutine comes back into the
 *     runtime (its P back, or waiting for one), the handler runs on the
 *     goroutine's own stack below the frames that made the foreign call,
 *     and the C frames stay where they are on the system stack;
 *   - a goroutine calling the function pointer directly: the handler just
 *     runs;
 *   - a thread the runtime never saw.  It borrows an "extra M" -- a
 *     runtime thread record with a goroutine of its own, both made once --
 *     and keeps it until the thread exits (a pthread key destructor gives
 *     it back).  Between callbacks the extra M's goroutine is "in a
 *     foreign call", so the next callback takes the same fast path as
 *     above, and sysmon takes its P if the thread stays away.
 *
 * During a callback the goroutine is wired to the M: below it, on the
 * system stack, are the foreign caller's frames, so the M must neither
 * run other goroutines nor use that stack for the scheduler.  If the
 * handler blocks, the M waits on the goroutine's own stack
 * (gort_locked_wait).  Callbacks nest: each level records where the C
 * frames end (m->cgo_top), and a foreign call made by the handler starts
 * below them.
 *
 * The runtime's life-cycle (rt_state): NONE -> STARTING (gort_main or
 * gort_start) -> RUNNING (the scheduler is up: callbacks waiting for it
 * are released, and _cgo_notify_runtime_init_done is called) -> STOPPING
 * (gort_stop: new callbacks are refused) -> NONE.  Each run has a
 * generation; a thread's borrowed M from an earlier run is forgotten.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "runtime.h"
#include "runq.h"
#include "sanitizer.h"

#define RT_NONE GORT_RT_NONE
#define RT_STARTING GORT_RT_STARTING
#define RT_RUNNING GORT_RT_RUNNING
#define RT_STOPPING GORT_RT_STOPPING

static _Atomic int rt_state;
static _Atomic uint64_t rt_generation;
static pthread_mutex_t rt_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rt_cv = PTHREAD_COND_INITIALIZER;

static __thread uint64_t tls_gen __attribute__((tls_model("initial-exec")));
/* This thread's record is an extra M (valid while tls_gen is current):
 * known without touching the record, which may be freed already. */
static __thread bool tls_extra __attribute__((tls_model("initial-exec")));
/* Callbacks this thread is inside (its M's cb_depth, readable without
 * the record). */
static __thread uint32_t tls_cb_depth __attribute__((tls_model("initial-exec")));

static pthread_key_t extra_key;
static bool extra_key_made;
static gort_m *extra_free;     /* [sched.lock] extra Ms given back */
static _Atomic int32_t ncallbacks;

/* ---- life-cycle ------------------------------------------------------- */

bool gort_rt_begin(void)
{
    int none = RT_NONE;
    if (!atomic_compare_exchange_strong(&rt_state, &none, RT_STARTING))
        return false;
    atomic_fetch_add(&rt_generation, 1);
    return true;
}

static void rt_set(int st)
{
    pthread_mutex_lock(&rt_mu);
    atomic_store(&rt_state, st);
    pthread_cond_broadcast(&rt_cv);
    pthread_mutex_unlock(&rt_mu);
}

static void dropm(void *v);

void gort_runtime_ready(void)
{
    extra_key_made = pthread_key_create(&extra_key, dropm) == 0;
    rt_set(RT_RUNNING);
    if (_cgo_notify_runtime_init_done)
        _cgo_notify_runtime_init_done(NULL);
}

void gort_rt_stopping(void)
{
    rt_set(RT_STOPPING);
}

void gort_rt_end(void)
{
    rt_set(RT_NONE);
}

int gort_rt_state(void)
{
    return atomic_load(&rt_state);
}

/* Block a host thread until the runtime is running; false if it ends
 * (or fails to start) instead. */
bool gort_rt_wait_running(void)
{
    pthread_mutex_lock(&rt_mu);
    while (atomic_load(&rt_state) == RT_STARTING)
        pthread_cond_wait(&rt_cv, &rt_mu);
    bool ok = atomic_load(&rt_state) == RT_RUNNING;
    pthread_mutex_unlock(&rt_mu);
    return ok;
}

/* Every runtime thread marks itself as belonging to this run (gort_minit),
 * so that a callback on it is not taken for one from a foreign thread. */
void gort_tls_gen_set(void)
{
    tls_gen = atomic_load(&rt_generation);
    tls_extra = false;
}

/* A callback that finds no runtime at all: a host thread may call in
 * while gort_start (or gort_main) is still on its way, so wait a while
 * for one to start and come up; false if none does. */
#define START_GRACE_S 1

static bool rt_wait_start(void)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += START_GRACE_S;
    pthread_mutex_lock(&rt_mu);
    while (atomic_load(&rt_state) == RT_NONE)
        if (pthread_cond_timedwait(&rt_cv, &rt_mu, &deadline) == ETIMEDOUT)
            break;
    while (atomic_load(&rt_state) == RT_STARTING)
        pthread_cond_wait(&rt_cv, &rt_mu);
    bool ok = atomic_load(&rt_state) == RT_RUNNING;
    pthread_mutex_unlock(&rt_mu);
    return ok;
}

int32_t gort_callbacks_in_flight(void)
{
    return atomic_load(&ncallbacks);
}

/* Called by gort_rt0_exit: extra Ms are freed with the other Ms. */
void gort_callback_fini(void)
{
    if (extra_key_made)
        pthread_key_delete(extra_key);   /* no destructor runs for this run's Ms */
    extra_key_made = false;
    extra_free = NULL;
}

/* ---- extra Ms for foreign threads ---------------------------------------- */

static gort_m *extram_new(void)
{
    gort_m *m = calloc(1, sizeof *m);
    gort_g *g0 = calloc(1, sizeof *g0);
    int err = 0;
    gort_g *g = gort_stack_alloc(NULL, gort_sched.stack_size, &err);
    if (!m || !g0 || !g) {
        free(m);
        free(g0);
        gort_throw("callback from a new thread: cannot make its runtime record: %s",
                   gort_strerror(err ? err : GORT_ENOMEM));
    }
    m->g0 = g0;
    g0->m = m;
    m->is_extra = true;
    m->extra_g = g;
    gort_g_reset(g, atomic_fetch_add(&gort_sched.goidgen, 1) + 1);
    g->m = m;
    g->lockedm = m;          /* wired for good: its system stack is the host's */
    m->lockedg = g;
    gort_rtlock_lock(&gort_sched.lock);
    m->id = ++gort_sched.mgen;
    m->alllink = gort_sched.allm;
    gort_sched.allm = m;
    gort_sched.mcount++;
    gort_rtlock_unlock(&gort_sched.lock);
    return m;
}

/* Bind an extra M to the calling (foreign) thread; returns its G, in the
 * "in a foreign call, without a P" state. */
static gort_g *needm(void)
{
    gort_rtlock_lock(&gort_sched.lock);
    gort_m *m = extra_free;
    if (m)
        extra_free = m->extralink;
    gort_rtlock_unlock(&gort_sched.lock);
    if (!m)
        m = extram_new();

    gort_g *g = m->extra_g;
    gort_g *g0 = m->g0;
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            g0->stack_lo = (uintptr_t)addr;
            g0->stack_hi = (uintptr_t)addr + size;
        }
        pthread_attr_destroy(&attr);
    }
    g0->stackguard0 = g0->stack_lo + GORT_STACK_GUARD;
    g0->stackguard1 = g0->stackguard0;
    m->errno_ptr = &errno;
    /* A stack overflow in a handler must be reportable: give the thread a
     * signal stack if it has none (given back in dropm). */
    stack_t cur;
    m->altstack = NULL;
    if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE))
        gort_minit_altstack(m);
    GORT_POKE(m->curg, g);
    g->in_cgo = GORT_CGO_CALL;
    g->cgo_sp = (g->stack_hi - 64) & ~(uintptr_t)15;
    atomic_store(&g->status, GORT_G_CCALL);
    m->sc_retaken = true;   /* no P: the first exitsyscall goes to find one */
    atomic_store(&m->sc_req, 1);
    atomic_store(&m->sc_out, 0);
    gort_setg(g);
    tls_gen = atomic_load(&rt_generation);
    tls_extra = true;
    if (extra_key_made)
        pthread_setspecific(extra_key, m);
    return g;
}

/* The thread is exiting: give its P (if it still holds one) and its M
 * back. */
static void dropm(void *v)
{
    gort_m *m = v;
    if (!m || tls_gen != atomic_load(&rt_generation) || gort_rt_state() == RT_NONE)
        return;
    /* The thread may exit while gort_stop ends the run, which does not
     * wait for extra Ms: hold the run (its Ms and Ps) while handing on. */
    if (!gort_sched_hold())
        return;
    gort_p *p = NULL;
    gort_rtlock_lock(&m->sc_lock);
    if (!m->sc_retaken && m->p) {
        m->sc_retaken = true;
        atomic_store(&m->sc_req, 1);
        p = gort_releasep(m);
    }
    gort_rtlock_unlock(&m->sc_lock);
    if (p)
        gort_handoffp(p);
    gort_mfini(m);
    gort_setg(NULL);
    gort_rtlock_lock(&gort_sched.lock);
    m->extralink = extra_free;
    extra_free = m;
    gort_rtlock_unlock(&gort_sched.lock);
    gort_sched_release();
}

/* ---- entering the goroutine world from C --------------------------------- */

static noreturn void no_runtime(const char *what, int st)
{
    gort_setg(NULL);   /* a stale g must not be printed */
    gort_throw("%s into gort with %s", what,
               st == RT_STOPPING ? "the runtime stopping (after gort_stop)"
                                 : "no runtime running (call gort_main or gort_start first)");
}

/* True if a call from the thread whose current G is g (NULL: none of
 * this run) comes from inside the run: a goroutine's own C code, or a
 * thread already inside a callback.  While gort_stop waits for the run to
 * wind down, these are its goroutines finishing; anything else is new
 * work from outside. */
static bool from_inside(gort_g *g)
{
    if (!g || tls_gen != atomic_load(&rt_generation))
        return false;
    return !tls_extra || tls_cb_depth > 0;
}

/* Whether a caller runs on a borrowed record (an extra M): a thread of
 * this run not yet seen (g NULL, or from an earlier run) or one already
 * bound.  Only these are counted in ncallbacks: a callback from a
 * goroutine's C code runs on a runtime M, which the end of the run waits
 * for anyway (nmalive), and its goroutine keeps gort_stop waiting. */
static bool on_extra_m(gort_g *g)
{
    return !g || tls_gen != atomic_load(&rt_generation) || tls_extra;
}

/* Admit the caller while the runtime can take it: running, or stopping
 * and the caller is one of its own.  A caller on an extra M is counted
 * in ncallbacks until it returns (true: counted).  The count goes up
 * before the state is read, and gort_stop sets the state before it reads
 * the count (both sequentially consistent): either the caller sees
 * STOPPING, or gort_stop sees the caller and waits for it -- never a
 * caller that passed the check while the run is freed under it.  The end
 * of the run also waits for the count (gort_mstart): a thread outside the
 * runtime must be off the run's memory before it is freed. */
static bool admit(gort_g *g, const char *what)
{
    bool count = on_extra_m(g);
    for (;;) {
        if (count)
            atomic_fetch_add(&ncallbacks, 1);
        int st = atomic_load(&rt_state);
        if (likely(st == RT_RUNNING) || (st == RT_STOPPING && from_inside(g)))
            return count;
        if (count)
            atomic_fetch_sub(&ncallbacks, 1);
        bool up = st == RT_NONE ? rt_wait_start() : st == RT_STARTING && gort_rt_wait_running();
        if (!up)
            no_runtime(what, atomic_load(&rt_state));
    }
}

/* A callback on an extra M whose goroutine code finds the run ending
 * (gort_stop's deadline passed while it was blocked or running): the
 * thread is the host's, its g0 has no scheduler to return to, and its
 * goroutine stack is about to be freed.  On the host's own stack, below
 * the callback's entry frame, it says so, stops being counted (the end
 * of the run waits for that), and stays blocked for good. */
static noreturn void abandon(void *id)
{
    gort_setg(NULL);   /* a signal handler must not find the freed g */
    gort_printf("gort: the runtime stopped while a callback (goroutine %lld) was running "
                "on a thread outside it; that thread stays blocked\n",
                (long long)(intptr_t)id);
    atomic_fetch_sub(&ncallbacks, 1);
    gort_note_wakeup(&gort_sched.m0_wait);
    for (;;)
        pause();
}

noreturn void gort_callback_abandon(gort_g *g)
{
    gort_m *m = g->m;
    /* valgrind saw this stack's SP only as high as the callback's entry. */
    gort_vg_stack_usable(m->g0->stack_lo, m->cgo_top);
    gort_asmcgocall(abandon, (void *)(intptr_t)g->id, m->cgo_top, NULL);
    __builtin_unreachable();
}

void gort_cgo_enter(void (*fn)(void *), void *arg, const char *what)
{
    gort_g *g = gort_getg();
    bool counted = admit(g, what);
    /* A g from an earlier run is dropped only now: admitted, this thread
     * holds the run, so the generation it is checked against cannot move
     * on under it (checked before admission, it could). */
    if (g && tls_gen != atomic_load(&rt_generation)) {
        gort_setg(NULL);
        g = NULL;
    }
    if (!g) {
        g = needm();
    } else if (g->id == 0) {
        gort_throw("%s on a runtime thread's scheduler stack (from a hook?)", what);
    }
    if (g->in_cgo == GORT_CGO_NONE) {
        fn(arg);   /* a goroutine calling the pointer itself */
        if (counted)
            atomic_fetch_sub(&ncallbacks, 1);
        return;
    }
    if (g->in_cgo == GORT_CGO_FAST)
        gort_throw_call("gort_cgocall_fast", "the C function called back into gort (%s); "
                        "use gort_cgocall for calls that may call back", what);

    gort_m *m = g->m;
    /* Wire g to this M before anything can make it wait: below us on the
     * system stack are the foreign caller's frames, so waiting for a P
     * must happen here (gort_locked_wait), never on g0. */
    gort_m *old_lockedm = g->lockedm;
    gort_g *old_lockedg = m->lockedg;
    g->lockedm = m;
    m->lockedg = g;
    gort_exitsyscall(g, m);
    g->in_cgo = GORT_CGO_NONE;
    m->cb_depth++;
    tls_cb_depth++;

    uintptr_t old_top = m->cgo_top;
    uintptr_t gsp = g->cgo_sp;
    m->cgo_top = ((uintptr_t)__builtin_frame_address(0) - 512) & ~(uintptr_t)15;
    gort_ctop_set(0);

    GORT_TRACE(GORT_EV_CALLBACK_BEGIN, g->id, 0);
    /* valgrind: the goroutine's stack below where it left for C is
     * usable again (it saw that stack's SP rise, not this move back). */
    gort_vg_stack_usable(g->stack_lo, (gsp - 128) & ~(uintptr_t)15);
    gort_asmcgocall(fn, arg, (gsp - 128) & ~(uintptr_t)15, NULL);
    GORT_TRACE(GORT_EV_CALLBACK_END, g->id, 0);

    m = g->m;   /* the same M: g was wired to it */
    m->cgo_top = old_top;
    gort_ctop_set(0);
    m->cb_depth--;
    tls_cb_depth--;
    m->lockedg = old_lockedg;
    g->lockedm = old_lockedm;
    g->cgo_sp = gsp;
    g->in_cgo = GORT_CGO_CALL;
    gort_entersyscall(g, m);
    if (counted)
        atomic_fetch_sub(&ncallbacks, 1);
}

void gort_run(void (*fn)(void *), void *arg)
{
    if (!fn)
        gort_throw_call("gort_run", "fn is NULL");
    gort_cgo_enter(fn, arg, "gort_run");
}

/* ---- libffi closures --------------------------------------------------- */

struct callback {
    ffi_closure *closure;
    void *code;
    ffi_cif *cif;
    gort_callback_fn handler;
    void *user;
    struct callback *next;
};

struct callback_call {
    struct callback *cb;
    void *ret;
    void **args;
};

static pthread_mutex_t cb_mu = PTHREAD_MUTEX_INITIALIZER;
static struct callback *callbacks;
static _Atomic int32_t ncallbacks_live;

/* While a callback exists, a thread the runtime cannot see may call in
 * and wake a goroutine at any moment: goroutines all asleep are then no
 * proof of a deadlock (sched.c, gort_checkdead_locked). */
bool gort_callbacks_live(void)
{
    return atomic_load(&ncallbacks_live) > 0;
}

static void run_handler(void *p)
{
    struct callback_call *c = p;
    c->cb->handler(c->cb->cif, c->ret, c->args, c->cb->user);
}

static void closure_entry(ffi_cif *cif, void *ret, void **args, void *user)
{
    (void)cif;
    struct callback_call c = {user, ret, args};
    gort_cgo_enter(run_handler, &c, "callback");
}

void *gort_callback_new(ffi_cif *cif, gort_callback_fn handler, void *user)
{
    if (!cif || !handler)
        return NULL;
    struct callback *cb = calloc(1, sizeof *cb);
    if (!cb)
        return NULL;
    cb->closure = ffi_closure_alloc(sizeof(ffi_closure), &cb->code);
    if (!cb->closure) {
        free(cb);
        return NULL;
    }
    cb->cif = cif;
    cb->handler = handler;
    cb->user = user;
    if (ffi_prep_closure_loc(cb->closure, cif, closure_entry, cb, cb->code) != FFI_OK) {
        ffi_closure_free(cb->closure);
        free(cb);
        return NULL;
    }
    pthread_mutex_lock(&cb_mu);
    cb->next = callbacks;
    callbacks = cb;
    pthread_mutex_unlock(&cb_mu);
    atomic_fetch_add(&ncallbacks_live, 1);
    return cb->code;
}

void gort_callback_free(void *code)
{
    if (!code)
        return;
    pthread_mutex_lock(&cb_mu);
    struct callback **pp = &callbacks;
    while (*pp && (*pp)->code != code)
        pp = &(*pp)->next;
    struct callback *cb = *pp;
    if (cb)
        *pp = cb->next;
    pthread_mutex_unlock(&cb_mu);
    if (!cb)
        gort_throw_call("gort_callback_free", "%p is not a live gort callback", code);
    atomic_fetch_sub(&ncallbacks_live, 1);
    ffi_closure_free(cb->closure);
    free(cb);
}
