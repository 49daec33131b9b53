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
 * exits cannot free the stack it is running on where another M could take
 * it (its own P's stack cache is the exception: only this M uses it), and
 * one that yields must not become runnable elsewhere while its stack is
 * still in use; so the leaving G is recorded in m->prev with what to do
 * with it, and the next context to run on that M does it
 * (gort_switch_in).
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

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>
#include <sys/types.h>

#include "gort.h"
#include "gort/cgo.h"
#include "layout.h"
#include "lock.h"
#include "timer.h"
#include "trace.h"

#define GORT_INTERNAL __attribute__((visibility("hidden")))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* A plain field that its owner writes and another thread reads without
 * the owner's lock -- sysmon's periodic look at every P and M, a hand-over
 * the reader polls for -- is written with GORT_POKE (a release store) and
 * read with GORT_PEEK (an acquire load).  On x86-64 these are the very
 * same moves as plain accesses, but they are not data races (TSan), the
 * compiler cannot tear, cache or re-read them, and a pointer read this
 * way comes with what was written before it was stored (an M's fields,
 * for sysmon following p->m). */
#define GORT_PEEK(x)      __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define GORT_POKE(x, v)   __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

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
    GORT_G_CCALL,      /* in a foreign call (gort_cgocall and friends) */
};

/* g->in_cgo */
enum { GORT_CGO_NONE = 0, GORT_CGO_CALL, GORT_CGO_FAST };

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
    _Atomic uint32_t status; /* enum gort_gstatus */
    int saved_errno;
    void (*fn)(void *);
    void *arg;
    const char *waitreason;
    gort_slab *slab;       /* the slab this G's stack came from (NULL: g0) */
    uint32_t slot;         /* index of the stack in its slab */
    uint32_t lockcount;    /* gort_lock_os_thread nesting */
    gort_m *lockedm;       /* the M this G is wired to, if any */
    _Atomic bool preempt;  /* sysmon asks the G to yield at its next runtime call */
    uint32_t in_cgo;       /* GORT_CGO_*: in a foreign call, and which kind */
    uintptr_t cgo_sp;      /* the G's stack pointer when it entered C */
    int64_t trace_flow;    /* GORT_TRACE: the flow arrow that ends where it next runs */
    void *asan_fake;       /* --enable-sanitizer=address: ASan's fake stack while switched out */
    void *tsan_fiber;      /* --enable-sanitizer=thread: the G's TSan fiber (offset: layout.h) */
    unsigned vg_stack;     /* --enable-valgrind: its stack's registration */
};

/* What the next context to run on an M does with the G that left it.
 * Done on the new stack, because until then the old G's stack is in use:
 * making it runnable (or freeing it) any earlier would let another thread
 * resume (or reuse) a stack that is still being run on. */
enum gort_prev_action {
    GORT_PREV_NONE = 0,
    GORT_PREV_READY,       /* yielded: to the tail of the run queue */
    GORT_PREV_RUNNEXT,     /* spawned a child: run next */
    GORT_PREV_PARK,        /* blocked: run m->prev_unlockf(m->prev_lock) */
    GORT_PREV_DEAD,        /* exited: release its stack */
    GORT_PREV_GLOBAL,      /* back from C without a P: to the global queue */
};

struct gort_m {
    gort_g *g0;            /* the thread's own stack, runs the scheduler */
    gort_g *curg;          /* the G running on this M (g0 when idle) */
    gort_p *p;             /* held P, NULL if none */
    int64_t id;
    int *errno_ptr;        /* this thread's errno, looked up once */
    gort_g *prev;          /* the G that just left this M, see gort_switch_in */
    uint32_t prev_action;  /* enum gort_prev_action: what to do with it */
    void (*prev_unlockf)(void *);
    void *prev_lock;
    void *altstack;        /* signal stack (stack overflow reports) */
    size_t altstack_size;
    gort_m *schedlink;     /* idle M list */
    gort_m *alllink;       /* every M */
    gort_note park;        /* an idle M sleeps here */
    gort_p *nextp;         /* the P to take when woken */
    gort_g *lockedg;       /* the G wired to this M (gort_lock_os_thread) */
    bool spinning;         /* looking for work without having found any */
    bool exiting;          /* leave the scheduler loop and end the thread */
    bool is_sysmon;
    bool in_midle;         /* [L] on the idle M list */
    bool locked_waiting;   /* [L] in gort_locked_wait, counted in nmidlelocked */
    bool spare_starting;   /* [L] made as a spare (gort_spare_m), not yet idle */
    /* Foreign calls (cgo/cgocall.c).  sc_out/sc_req are the two sides of
     * the hand-shake with sysmon; sc_lock settles who owns the P. */
    _Atomic uint32_t sc_out;   /* 1 unless a G on this M is in C */
    _Atomic uint32_t sc_req;   /* sysmon wants the P */
    bool sc_retaken;           /* [sc_lock] sysmon took the P */
    gort_rtlock sc_lock;
    _Atomic uint64_t sc_seq;   /* foreign calls entered */
    _Atomic(void *) sc_fn;     /* the C function of the call (sysmon learns it) */
    uintptr_t cgo_top;     /* where the next foreign call's stack starts (0: below g0's context) */
    int32_t cb_depth;      /* callbacks running on this M */
    bool is_extra;         /* borrowed by a thread the runtime did not make */
    gort_g *extra_g;       /* its goroutine */
    gort_m *extralink;
    uintptr_t tls[8];      /* ThreadStart.tls points here */
};

#define GORT_RUNQ_SIZE 256
#define GORT_MAXPROCS_LIMIT 1024

enum gort_pstatus { GORT_P_IDLE = 0, GORT_P_RUNNING };

struct gort_p {
    int32_t id;
    uint32_t status;       /* enum gort_pstatus, under sched.lock */
    gort_m *m;
    gort_p *link;          /* idle P list */
    /* Lock-free ring (runq.c): the owner puts at the tail and takes from
     * the head; thieves take half from the head.  Both heads move by CAS. */
    _Atomic uint64_t runq_head;  /* low 32 bits: the head; high 32: a generation (runq.c) */
    _Atomic uint32_t runq_tail;
    _Atomic(gort_g *) runnext;   /* runs before the ring (the parent of a spawn) */
    gort_g *runq[GORT_RUNQ_SIZE];
    /* Behind the ring, FIFO, when it is full (runq.c). */
    gort_rtlock ovf_lock;
    gort_g *ovf_head, *ovf_tail;
    _Atomic int32_t ovf_len;
    _Atomic uint64_t schedtick;  /* bumped at every switch to a new G */
    /* bumped when a G starts a time slice: every switch but the hand-off
     * to runnext or to a spawned child, which inherit the slice (Go's
     * inheritTime).  sysmon preempts by it (sysmon.c). */
    _Atomic uint64_t slicetick;
    int32_t fair_countdown;      /* to the next look at the global queue */
    bool timers_fired;           /* rotate at the next look (proc.c) */
    int32_t timer_countdown;     /* to the next look at this P's timers */
    /* sysmon's last look (sysmon.c) */
    uint64_t sysmon_tick;
    int64_t sysmon_when;
    uint64_t sysmon_slicetick;
    int64_t sysmon_slicewhen;
    uint64_t sysmon_scseq;
    int64_t sysmon_scwhen;
    _Atomic uint64_t nretake;    /* taken from a foreign call by sysmon */
    /* goroutine ids handed out in batches, to keep the global counter cold */
    int64_t goid_next, goid_end;
    /* freed default-size stacks kept by this P (stack.c) */
    gort_g *stackcache;
    uint32_t nstackcache;
    uint32_t rand;
    /* timers (timer.c) */
    gort_rtlock timers_lock;
    gort_timer_slot *timers;   /* 4-ary heap by when (timer.c) */
    uint32_t ntimers, ctimers;
    _Atomic int64_t timer0_when;     /* earliest deadline, 0 if none */
    /* statistics (sysmon.c); nspawn and nexit are written only by the
     * M holding the P (gort_p_count) */
    _Atomic uint64_t nspawn, nexit, nsteal, nstolen_from;
};

/* Count an event in a per-P counter that only the M holding the P writes
 * (others only read it): a relaxed load and store, not a locked add,
 * which would cost a full barrier on every spawn and exit. */
static inline void gort_p_count(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Global scheduler state.  One instance; reset by every gort_main. */
struct gort_sched {
    gort_rtlock lock;       /* protects the fields marked [L] */
    _Atomic bool running;  /* between the entry and gort_main's return */
    _Atomic bool main_done; /* the main goroutine returned */
    _Atomic bool stopping; /* Ms leave their loops: the runtime is ending */
    int exit_status;
    gort_g *main_g;
    void (*main_fn)(void *);
    void *main_arg;
    int argc;
    char **argv;
    _Atomic int64_t goidgen; /* last goroutine id handed out */
    int64_t mgen;          /* [L] last M id handed out */
    int32_t nprocs;
    gort_p *allp;
    gort_m *allm;          /* [L] */
    gort_m *midle;         /* [L] idle Ms */
    int32_t nmidle;        /* [L] */
    int32_t nmidlelocked;  /* [L] Ms waiting for their locked G */
    int32_t mcount;        /* [L] Ms made, m0 included */
    int32_t nmsys;         /* [L] Ms that never run Gs (sysmon) */
    int32_t nmspare;       /* [L] spare Ms made but not yet on the idle list */
    int32_t nmalive;       /* [L] Ms whose threads still run, m0 excluded,
                            * and threads in gort_sched_hold */
    bool ms_ended;         /* [L] m0 saw nmalive 0: the run is being freed */
    int32_t nmexited;      /* [L] Ms that left the scheduler for good while the
                            * runtime runs on (wired exits), m0 included */
    gort_note m0_wait;     /* m0 waits here for the other Ms to end */
    gort_p *pidle;         /* [L] idle Ps */
    _Atomic int32_t npidle;
    _Atomic int32_t nmspinning;
    /* Global run queue [L]: Gs made ready off any P, and locked Gs. */
    gort_g *gq_head, *gq_tail;
    _Atomic int64_t gq_len;
    /* the one M sleeping until the next timer [L] */
    gort_m *timer_sleeper;
    int64_t timer_sleep_until;
    /* sysmon */
    gort_note sysmon_note;
    _Atomic bool sysmon_sleeping;
    _Atomic uint64_t sysmon_polls;  /* looks sysmon made polling, not sleeping (sysmon.c) */
    int64_t schedtrace_ms;
    bool preempt_off;
    bool library_mode;     /* gort_start: host threads may call in any time */
    bool membarrier;       /* process-wide barrier available (cgocall.c) */
    _Atomic int32_t nhostcalls;  /* goroutines waiting on a host thread */
    gort_g *library_g;     /* library mode's main goroutine, parked */      /* GORT_DEBUG=preemptoff=1: sysmon asks nobody to yield */
    int64_t start_time;
    size_t stack_size;     /* default usable stack size */
    long pagesize;
    long ncpu;
    _Atomic uint64_t nthreads_failed;
};

GORT_INTERNAL extern struct gort_sched gort_sched;
GORT_INTERNAL extern gort_config gort_lib_config;
GORT_INTERNAL extern bool gort_lib_mode;
GORT_INTERNAL int gort_main_entry(int argc, char **argv, void (*main_fn)(void *), void *arg);
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

/* Where this thread's next foreign call puts its C frames (cgo/cgocall.c,
 * c_stack_top), or 0 when that must be worked out again.  Whoever moves
 * that place -- g0 switching out, a callback moving m->cgo_top -- resets
 * it, on the thread itself.  Accessed like gort_tls_g, through volatile
 * asm. */
GORT_INTERNAL extern __thread uintptr_t gort_tls_ctop
    __attribute__((tls_model("initial-exec")));

static inline uintptr_t gort_ctop_get(void)
{
    uintptr_t top;
    __asm__ volatile("movq gort_tls_ctop@gottpoff(%%rip), %0\n\t"
                     "movq %%fs:(%0), %0" : "=r"(top));
    return top;
}

static inline void gort_ctop_set(uintptr_t top)
{
    uintptr_t off;
    __asm__ volatile("movq gort_tls_ctop@gottpoff(%%rip), %0\n\t"
                     "movq %1, %%fs:(%0)" : "=&r"(off) : "r"(top) : "memory");
}

/* asm/amd64 */
GORT_INTERNAL int gort_rt0_go(int argc, char **argv);
GORT_INTERNAL void gort_ctx_switch(void **save_sp, void *load_sp);
GORT_INTERNAL void gort_switch_in(void);
GORT_INTERNAL void *gort_yield_prepare(void *sp);
GORT_INTERNAL void gort_gostart(void);
GORT_INTERNAL void gort_gostart_pc(void);
GORT_INTERNAL void gort_spawn_switch(void **save_sp, gort_g *g);
GORT_INTERNAL void gort_setg_gcc(void *g);
/* gort_cgo_default_thread_start, telling its caller whether a thread was made. */
GORT_INTERNAL int gort_default_thread_start(gort_thread_start *ts);
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
GORT_INTERNAL void *gort_goroutine_main(gort_g *g);
GORT_INTERNAL void gort_g_reset(gort_g *g, int64_t id);
/* Make a parked G runnable.  next: run it before the caller's queue (the
 * hand-off of a channel operation).  Any thread may call it. */
GORT_INTERNAL void gort_ready(gort_g *g, bool next);
/* Block the calling G.  unlockf(lock) runs once the G is off the CPU: the
 * lock that kept wakers out is released only when waking is safe. */
GORT_INTERNAL void gort_park(const char *reason, void (*unlockf)(void *), void *lock);
GORT_INTERNAL void gort_preempt_check_slow(gort_g *g);
GORT_INTERNAL void gort_stop_check_slow(gort_g *g);

/* runq.c: P run queues and the global queue */
/* (gort_runq_put, gort_runq_put_next, gort_runq_get: inline in runq.h) */
GORT_INTERNAL bool gort_runq_empty(gort_p *p);
GORT_INTERNAL uint32_t gort_runq_len(gort_p *p);
GORT_INTERNAL gort_g *gort_runq_steal(gort_p *p, gort_p *victim, bool take_next);
GORT_INTERNAL void gort_gq_put_locked(gort_g *g);
GORT_INTERNAL gort_g *gort_gq_get_locked(gort_p *p);
GORT_INTERNAL void gort_gq_put(gort_g *g);

/* cgo/cgocall.c */
GORT_INTERNAL void gort_asmcgocall(void (*fn)(void *), void *arg, uintptr_t stack_top,
                                   uintptr_t *save_sp);
GORT_INTERNAL void gort_asmffi(ffi_cif *cif, void (*fn)(void), void *rvalue, void **avalues,
                               uintptr_t stack_top, uintptr_t *save_sp);
GORT_INTERNAL void gort_cgo_init(void);
GORT_INTERNAL bool gort_cgo_retake(gort_p *p, int64_t now, int64_t *due);
GORT_INTERNAL void gort_entersyscall(gort_g *g, gort_m *m);
GORT_INTERNAL uint64_t gort_cgo_handoffs(void);
GORT_INTERNAL void gort_exitsyscall(gort_g *g, gort_m *m);

/* cgo/callback.c */
GORT_INTERNAL void gort_callback_fini(void);
GORT_INTERNAL void gort_runtime_ready(void);
GORT_INTERNAL void gort_cgo_enter(void (*fn)(void *), void *arg, const char *what);
enum { GORT_RT_NONE = 0, GORT_RT_STARTING, GORT_RT_RUNNING, GORT_RT_STOPPING };
GORT_INTERNAL bool gort_rt_begin(void);
GORT_INTERNAL void gort_rt_stopping(void);
GORT_INTERNAL void gort_rt_end(void);
GORT_INTERNAL int gort_rt_state(void);
GORT_INTERNAL bool gort_rt_wait_running(void);
GORT_INTERNAL int32_t gort_callbacks_in_flight(void);
GORT_INTERNAL noreturn void gort_callback_abandon(gort_g *g);
GORT_INTERNAL void gort_tls_gen_set(void);
GORT_INTERNAL bool gort_callbacks_live(void);

/* chan.c */
GORT_INTERNAL void gort_chan_offer(gort_chan *c, const void *elem);

/* sched.c: Ms, Ps, finding work */
GORT_INTERNAL void gort_sched_start_ms(void);
GORT_INTERNAL void gort_wakep(void);
GORT_INTERNAL gort_m *gort_timer_sleeper_poke_locked(int64_t when);
GORT_INTERNAL void gort_schedule(gort_m *m);
GORT_INTERNAL noreturn void gort_goto_g0(gort_g *g, uint32_t action);
GORT_INTERNAL void gort_sched_shutdown(void);
GORT_INTERNAL void gort_handoff_locked(gort_g *g);
GORT_INTERNAL void gort_mstart_thread(void);
GORT_INTERNAL gort_m *gort_newm(bool sysmon, gort_p *p, bool spinning);
GORT_INTERNAL void gort_switch_to(gort_g *g, gort_g *next, uint32_t action);
GORT_INTERNAL void gort_acquirep(gort_m *m, gort_p *p);
GORT_INTERNAL gort_p *gort_releasep(gort_m *m);
GORT_INTERNAL void gort_handoffp(gort_p *p);
GORT_INTERNAL void gort_spare_m(int32_t want);
GORT_INTERNAL bool gort_sched_hold(void);
GORT_INTERNAL void gort_sched_release(void);
GORT_INTERNAL gort_p *gort_pidle_get(void);
GORT_INTERNAL void gort_checkdead_locked(void);
GORT_INTERNAL void gort_locked_wait(gort_g *g, bool requeue, void (*unlockf)(void *), void *lock);

/* sysmon.c */
GORT_INTERNAL void gort_sysmon_start(void);
GORT_INTERNAL void gort_sysmon_wake(void);
GORT_INTERNAL void gort_sysmon_main(gort_m *m);
GORT_INTERNAL noreturn void gort_deadlock(void);
GORT_INTERNAL void gort_dump_goroutines(void);

/* stack.c */
GORT_INTERNAL void gort_stack_init(void);
GORT_INTERNAL gort_g *gort_stack_alloc(gort_p *p, size_t usable, int *err);
GORT_INTERNAL void gort_stack_free(gort_p *p, gort_g *g);
GORT_INTERNAL bool gort_stack_free_exiting(gort_p *p, gort_g *g);
GORT_INTERNAL void gort_stack_pcache_flush(gort_p *p);
GORT_INTERNAL void gort_stack_release_all(void);
GORT_INTERNAL uint32_t gort_stack_scavenge(void);
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
GORT_INTERNAL void gort_minit_altstack(gort_m *m);
GORT_INTERNAL void gort_mfini(gort_m *m);

/* traceback.c */
GORT_INTERNAL const char *gort_g_state_name(const gort_g *g);
GORT_INTERNAL void gort_traceback_fatal(void);
GORT_INTERNAL void gort_traceback_all_waiting(void);

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
