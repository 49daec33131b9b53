/*
 * proc.c - goroutines and the scheduler on a processor.
 *
 * See runtime.h for the G/M/P model.  This file holds the run queues, the
 * switch between goroutines, goroutine creation and exit, and the
 * scheduler loop that an M runs on its g0.
 *
 * Run order.  Each P has a ring of GORT_RUNQ_SIZE runnable Gs and a
 * runnext slot that runs before the ring.  Goroutines that do not fit in
 * the ring go to the global queue.  The ring is always older than the
 * global queue: once the global queue holds anything, new arrivals join
 * it behind, and the ring is refilled from its head.  Ready order is
 * therefore run order (FIFO), which is what a yield loop over many
 * goroutines expects.
 *
 * Spawning is child-first: gort_go switches straight to the new goroutine
 * and parks its caller in runnext, so the caller resumes as soon as the
 * child blocks, yields or exits.  A child that finishes at once costs two
 * switches and hands its still-warm stack to the next spawn; no queue is
 * touched.  A caller displaced from runnext by a grandchild joins the
 * ring's tail.
 *
 * Exiting.  A dead G cannot release the stack it runs on.  It records
 * itself in m->dead and switches away; whatever runs next on that M
 * (another G or g0) releases it in after_switch().
 *
 * Locking: a P's queues are touched only by the M holding the P.  The
 * global queue belongs to the scheduler (one P for now: no lock is
 * taken; the M:N scheduler adds one around gq_* and nothing else here).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

struct gort_sched gort_sched;
gort_g gort_g0;
gort_m gort_m0;
__thread gort_g *gort_tls_g __attribute__((tls_model("initial-exec")));

/* ---- run queues -------------------------------------------------------- */

static void gq_put(gort_g *g)
{
    g->schedlink = NULL;
    if (gort_sched.gq_tail)
        gort_sched.gq_tail->schedlink = g;
    else
        gort_sched.gq_head = g;
    gort_sched.gq_tail = g;
    gort_sched.gq_len++;
}

static gort_g *gq_get(void)
{
    gort_g *g = gort_sched.gq_head;
    if (g) {
        gort_sched.gq_head = g->schedlink;
        if (!gort_sched.gq_head)
            gort_sched.gq_tail = NULL;
        gort_sched.gq_len--;
    }
    return g;
}

static inline void runq_put(gort_p *p, gort_g *g)
{
    g->status = GORT_G_RUNNABLE;
    if (likely(gort_sched.gq_len == 0 &&
               p->runq_tail - p->runq_head < GORT_RUNQ_SIZE)) {
        p->runq[p->runq_tail % GORT_RUNQ_SIZE] = g;
        p->runq_tail++;
        return;
    }
    gq_put(g);
}

/* Move up to half a ring of Gs from the global queue into an empty ring. */
static void runq_refill(gort_p *p)
{
    for (int i = 0; i < GORT_RUNQ_SIZE / 2; i++) {
        gort_g *g = gq_get();
        if (!g)
            break;
        p->runq[p->runq_tail % GORT_RUNQ_SIZE] = g;
        p->runq_tail++;
    }
}

static inline gort_g *runq_get(gort_p *p)
{
    gort_g *g = p->runnext;
    if (g) {
        p->runnext = NULL;
        return g;
    }
    if (unlikely(p->runq_head == p->runq_tail)) {
        if (gort_sched.gq_len == 0)
            return NULL;
        runq_refill(p);
    }
    g = p->runq[p->runq_head % GORT_RUNQ_SIZE];
    p->runq_head++;
    return g;
}

void gort_ready(gort_g *g)
{
    runq_put(gort_getg()->m->p, g);
}

/* ---- switching --------------------------------------------------------- */

static void release_dead(gort_m *m)
{
    gort_g *dead = m->dead;
    m->dead = NULL;
    gort_stack_free(dead);
}

/* Runs on g's stack right after g is switched back in (or first in). */
static inline void after_switch(gort_g *g)
{
    gort_m *m = g->m;
    *m->errno_ptr = g->saved_errno;
    if (unlikely(m->dead != NULL))
        release_dead(m);
}

/* Switch the M running g over to next.  Returns when g is switched back
 * in, perhaps on another M. */
static inline void switch_to(gort_g *g, gort_g *next)
{
    gort_m *m = g->m;
    next->m = m;
    next->status = GORT_G_RUNNING;
    m->curg = next;
    g->saved_errno = *m->errno_ptr;
    gort_setg(next);
    gort_ctx_switch(&g->sp, next->sp);
    after_switch(g);
}

/* Lay out a first context on g's stack that "returns" into gort_gostart
 * with r12 = g (layout.h, GORT_CTX_*).  The slot above the return address
 * is left so that gort_gostart starts with a 16-byte aligned stack. */
static void g_prepare(gort_g *g)
{
    uintptr_t top = g->stack_hi & ~(uintptr_t)15;
    uint64_t *ctx = (uint64_t *)(top - 24 - (GORT_CTX_SIZE - 8));
    memset(ctx, 0, top - (uintptr_t)ctx);   /* up to, not into, the descriptor */
    ctx[GORT_CTX_FPCSR / 8] = GORT_MXCSR_INIT | ((uint64_t)GORT_FPUCW_INIT << 32);
    ctx[GORT_CTX_R12 / 8] = (uint64_t)(uintptr_t)g;
    ctx[GORT_CTX_PC / 8] = (uint64_t)(uintptr_t)gort_gostart;
    g->sp = ctx;
}

/* ---- goroutine life ---------------------------------------------------- */

static noreturn void goexit(gort_g *g)
{
    gort_m *m = g->m;
    gort_g *next;

    g->status = GORT_G_DEAD;
    m->dead = g;
    if (g == gort_sched.main_g) {
        gort_sched.main_done = true;
        gort_sched.main_g = NULL;
        next = m->g0;   /* the runtime ends: back to mstart on m0 */
    } else {
        next = runq_get(m->p);
        if (!next)
            next = m->g0;
    }
    switch_to(g, next);
    gort_throw("dead goroutine %lld was switched back in", (long long)g->id);
}

void gort_goroutine_main(gort_g *g)
{
    after_switch(g);
    g->fn(g->arg);
    goexit(g);
}

static gort_g *newproc(void (*fn)(void *), void *arg, size_t stack_size, int *err)
{
    gort_g *g = gort_stack_alloc(stack_size, err);
    if (!g)
        return NULL;
    g->id = ++gort_sched.goidgen;
    g->fn = fn;
    g->arg = arg;
    g->m = NULL;
    g->schedlink = NULL;
    g->saved_errno = 0;
    g->waitreason = NULL;
    g_prepare(g);
    return g;
}

static size_t stack_size_of(const gort_go_options *opts)
{
    if (opts && opts->stack_size)
        return opts->stack_size;
    return gort_sched.stack_size;
}

int64_t gort_go_opts(void (*fn)(void *), void *arg, const gort_go_options *opts)
{
    gort_g *g = gort_need_g("gort_go");
    size_t size = stack_size_of(opts);
    int err = 0;

    if (fn == NULL || size > GORT_STACK_MAX)
        return GORT_EINVAL;
    gort_g *ng = newproc(fn, arg, size, &err);
    if (!ng)
        return err;
    int64_t id = ng->id;

    gort_p *p = g->m->p;
    if (p->runnext)
        runq_put(p, p->runnext);
    g->status = GORT_G_RUNNABLE;
    p->runnext = g;
    switch_to(g, ng);
    return id;
}

int64_t gort_go(void (*fn)(void *), void *arg)
{
    return gort_go_opts(fn, arg, NULL);
}

void gort_yield(void)
{
    gort_g *g = gort_need_g("gort_yield");
    gort_p *p = g->m->p;
    gort_g *next = runq_get(p);
    if (!next)
        return;
    runq_put(p, g);
    switch_to(g, next);
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

/* ---- the entry's scheduler steps -------------------------------------- */

static void main_trampoline(void *unused)
{
    (void)unused;
    gort_sched.main_fn(gort_sched.main_arg);
}

void gort_newproc_main(void)
{
    int err = 0;
    gort_g *g = newproc(main_trampoline, NULL, gort_sched.stack_size, &err);
    if (!g)
        gort_throw("cannot create the main goroutine: %s", gort_strerror(err));
    gort_sched.main_g = g;
    runq_put(&gort_sched.allp[0], g);
}

static noreturn void deadlock(void)
{
    gort_printf("gort: all goroutines are asleep - deadlock!\n");
    _exit(2);
}

/* The scheduler loop on an M's g0.  On m0 it returns when the main
 * goroutine has returned. */
static void schedule(gort_m *m)
{
    gort_g *g0 = m->g0;
    for (;;) {
        if (gort_sched.main_done)
            return;
        gort_g *next = runq_get(m->p);
        if (!next)
            deadlock();
        switch_to(g0, next);
    }
}

void gort_mstart(void)
{
    gort_g *g0 = gort_getg();
    gort_m *m = g0->m;

    gort_minit(m);
    g0->status = GORT_G_RUNNING;
    m->curg = g0;
    m->p = &gort_sched.allp[0];
    m->p->m = m;
    schedule(m);
}

int gort_rt0_exit(void)
{
    gort_m *m = &gort_m0;
    int status = gort_sched.exit_status;

    if (m->dead)
        m->dead = NULL;       /* its slab is released below */
    gort_stack_release_all();
    gort_mfini(m);
    gort_signal_fini();
    free(gort_sched.allp);
    gort_sched.allp = NULL;
    gort_sched.running = false;
    gort_setg(NULL);
    return status;
}
