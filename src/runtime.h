/*
 * runtime.h - gort's internal model: G, M, P and the scheduler state.
 *
 * The model (the same three nouns as Go's runtime, for the same reasons):
 *
 *   G  a goroutine: a saved context, a stack with a guard page below it,
 *      and a descriptor that lives at the top of that stack (so an idle
 *      goroutine costs one page: its descriptor and its few live frames).
 *   M  an OS thread.  Each M has a g0: a goroutine-shaped record of the
 *      thread's own stack, on which the scheduler loop runs when the M has
 *      nothing else to do.  m0/g0 are the thread that called gort_main.
 *   P  a processor: the right to run goroutines, with a local run queue.
 *      An M must hold a P to run a G.
 *
 * Switching goroutines does not go through g0: a goroutine that yields or
 * blocks switches straight to the next runnable G (one context switch, no
 * scheduler frame in between).  Only when nothing is runnable does it
 * switch to g0, which then waits for work or ends the runtime.  A G that
 * exits cannot free the stack it is running on, and one that yields must
 * not become runnable elsewhere while its stack is still in use; so the
 * leaving G is recorded in m->prev with what to do with it, and the next
 * context to run on that M does it (gort_switch_in).
 *
 * Invariants:
 *   - tls g (gort_getg) is the G whose stack the thread is on, or NULL on a
 *     thread outside the runtime.  It is written only by the thread itself,
 *     right before a switch and by the setg callback.
 *   - g->m is valid while g runs and is set by whoever switches to g.
 *   - a G is in at most one queue (run queue, stack cache) at a time, linked
 *     through g->schedlink.
 *   - errno belongs to the goroutine: saved when it switches out, restored
 *     when it switches in.
 */
#ifndef GORT_RUNTIME_H
#define GORT_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>
#include <sys/types.h>

#include "gort.h"
#include "gort/cgo.h"
#include "layout.h"

#define GORT_INTERNAL __attribute__((visibility("hidden")))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

typedef struct gort_g gort_g;
typedef struct gort_m gort_m;
typedef struct gort_p gort_p;
typedef struct gort_slab gort_slab;

enum gort_gstatus {
    GORT_G_IDLE = 0,   /* just made, not yet queued */
    GORT_G_RUNNABLE,   /* in a run queue */
    GORT_G_RUNNING,    /* on an M */
    GORT_G_WAITING,    /* parked; waitreason says why */
    GORT_G_DEAD,       /* exited; stack about to be recycled */
};

struct gort_g {
    /* The first four words are the cgo hook ABI: do not move them. */
    uintptr_t stack_lo;
    uintptr_t stack_hi;
    uintptr_t stackguard0;
    uintptr_t stackguard1;

    void *sp;              /* saved context while switched out */
    gort_m *m;             /* the M running this G (valid while running) */
    gort_g *schedlink;     /* run queue link */
    int64_t id;            /* 0 for g0s */
    uint32_t status;       /* enum gort_gstatus */
    int saved_errno;
    void (*fn)(void *);
    void *arg;
    const char *waitreason;
    gort_slab *slab;       /* the slab this G's stack came from (NULL: g0) */
    uint32_t slot;         /* index of the stack in its slab */
};

struct gort_m {
    gort_g *g0;            /* the thread's own stack, runs the scheduler */
    gort_g *curg;          /* the G running on this M (g0 when idle) */
    gort_p *p;             /* held P, NULL if none */
    int64_t id;
    int *errno_ptr;        /* this thread's errno, looked up once */
    gort_g *prev;          /* the G that just left this M, see gort_switch_in */
    uint32_t prev_action;  /* enum gort_prev_action: what to do with it */
    void *altstack;        /* signal stack (stack overflow reports) */
    size_t altstack_size;
    uintptr_t tls[8];      /* ThreadStart.tls points here */
};

/* What the next context to run on an M does with the G that left it.
 * Done on the new stack, because until then the old G's stack is in use:
 * making it runnable (or freeing it) any earlier would let another thread
 * resume (or reuse) a stack that is still being run on. */
enum gort_prev_action {
    GORT_PREV_NONE = 0,
    GORT_PREV_READY,       /* yielded: to the tail of the run queue */
    GORT_PREV_RUNNEXT,     /* spawned a child: run next */
    GORT_PREV_DEAD,        /* exited: release its stack */
};

#define GORT_RUNQ_SIZE 256

struct gort_p {
    int32_t id;
    gort_m *m;
    uint32_t runq_head;    /* ring of runnable Gs, oldest at head */
    uint32_t runq_tail;
    gort_g *runnext;       /* runs before the ring (the parent of a spawn) */
    gort_g *runq[GORT_RUNQ_SIZE];
    uint64_t schedtick;
};

/* Global scheduler state.  One instance; reset by every gort_main. */
struct gort_sched {
    bool running;          /* between the entry and gort_main's return */
    bool main_done;        /* the main goroutine returned */
    int exit_status;
    gort_g *main_g;
    void (*main_fn)(void *);
    void *main_arg;
    int argc;
    char **argv;
    int64_t goidgen;       /* last goroutine id handed out */
    int64_t mgen;          /* last M id handed out */
    int32_t nprocs;
    gort_p *allp;
    /* Global run queue: goroutines that did not fit in a local ring, kept
     * FIFO behind them. */
    gort_g *gq_head, *gq_tail;
    int64_t gq_len;
    size_t stack_size;     /* default usable stack size */
    long pagesize;
    long ncpu;
};

GORT_INTERNAL extern struct gort_sched gort_sched;
GORT_INTERNAL extern gort_g gort_g0;
GORT_INTERNAL extern gort_m gort_m0;
GORT_INTERNAL extern uint8_t gort_cpu[GORT_CPU_SIZE];

/* The current G.  Thread-local, initial-exec so that the offset from the
 * thread pointer is a link-time constant.  Always read through
 * gort_getg(): the asm is volatile, so the compiler cannot reuse a
 * thread-local address it computed before a switch, after which this
 * goroutine may be on another thread. */
GORT_INTERNAL extern __thread gort_g *gort_tls_g
    __attribute__((tls_model("initial-exec")));

static inline gort_g *gort_getg(void)
{
    gort_g *g;
    __asm__ volatile("movq gort_tls_g@gottpoff(%%rip), %0\n\t"
                     "movq %%fs:(%0), %0" : "=r"(g));
    return g;
}

static inline void gort_setg(gort_g *g)
{
    uintptr_t off;
    __asm__ volatile("movq gort_tls_g@gottpoff(%%rip), %0\n\t"
                     "movq %1, %%fs:(%0)" : "=&r"(off) : "r"(g) : "memory");
}

/* asm/amd64 */
GORT_INTERNAL int gort_rt0_go(int argc, char **argv);
GORT_INTERNAL void gort_ctx_switch(void **save_sp, void *load_sp);
GORT_INTERNAL void gort_switch_in(void);
GORT_INTERNAL void *gort_yield_prepare(void *sp);
GORT_INTERNAL void gort_gostart(void);
GORT_INTERNAL void gort_gostart_pc(void);
GORT_INTERNAL void gort_setg_gcc(void *g);
GORT_INTERNAL void gort_cgo_idle_yield(void);

/* The entry's C steps, in the order rt0 calls them. */
GORT_INTERNAL void gort_tls_failed(uintptr_t got);
GORT_INTERNAL void gort_check(void);
GORT_INTERNAL void gort_args_init(int argc, char **argv);
GORT_INTERNAL void gort_osinit(void);
GORT_INTERNAL void gort_schedinit(void);
GORT_INTERNAL void gort_newproc_main(void);
GORT_INTERNAL void gort_mstart(void);
GORT_INTERNAL int gort_rt0_exit(void);

/* proc.c */
GORT_INTERNAL noreturn void gort_goroutine_main(gort_g *g);
GORT_INTERNAL void gort_ready(gort_g *g);

/* stack.c */
GORT_INTERNAL void gort_stack_init(void);
GORT_INTERNAL gort_g *gort_stack_alloc(size_t usable, int *err);
GORT_INTERNAL void gort_stack_free(gort_g *g);
GORT_INTERNAL void gort_stack_release_all(void);
GORT_INTERNAL size_t gort_stack_round(size_t usable);
GORT_INTERNAL size_t gort_stack_size_of(const gort_g *g);
GORT_INTERNAL void gort_stack_each_g(void (*fn)(gort_g *g, void *arg), void *arg);
GORT_INTERNAL bool gort_stack_guard_has(uintptr_t addr, gort_g **owner);
GORT_INTERNAL void *gort_sysmap(size_t len, int prot, int flags);
GORT_INTERNAL void gort_sysunmap(void *p, size_t len);

/* signal.c */
GORT_INTERNAL void gort_signal_init(void);
GORT_INTERNAL void gort_signal_fini(void);
GORT_INTERNAL void gort_minit(gort_m *m);
GORT_INTERNAL void gort_mfini(gort_m *m);

/* fatal.c: every fatal error goes through here (exit status 2). */
GORT_INTERNAL noreturn void gort_throw(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
GORT_INTERNAL noreturn void gort_throw_call(const char *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
GORT_INTERNAL void gort_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* A goroutine-only API call made off a goroutine is misuse. */
static inline gort_g *gort_need_g(const char *call)
{
    gort_g *g = gort_getg();
    if (unlikely(g == NULL || g->id == 0))
        gort_throw_call(call, "called outside a goroutine (%s)",
                        g == NULL ? "no gort runtime on this thread"
                                  : "on the scheduler stack");
    return g;
}

#endif
