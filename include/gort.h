/*
 * gort.h - the public API of gort, a Go-style runtime for C.
 *
 * gort runs goroutines: cheap threads of control with their own guarded
 * stacks, scheduled in user space.  A program enters the runtime with
 * gort_main(), which turns the calling thread into the runtime's first
 * thread and runs a function as the main goroutine.
 *
 * Conventions (uniform across the API):
 *   - every name is prefixed gort_ (types gort_*, macros GORT_*);
 *   - functions that can fail return an int (or int64_t) that is negative
 *     on failure: one of the GORT_E* codes below, never a magic errno;
 *   - misuse (calling a goroutine-only function from a plain thread, ...)
 *     is a fatal error: the runtime prints "gort: fatal error: ..." naming
 *     the goroutine and the call, and exits with status 2, like a Go panic.
 *
 * The cgo hook ABI (for hosts that bring their own thread and TLS set-up,
 * the way Go's runtime/cgo does) lives in <gort/cgo.h>.  Mutexes, wait
 * groups and the other goroutine-blocking sync primitives are in
 * <gort/sync.h>, included here.
 */
#ifndef GORT_H
#define GORT_H

#include <stddef.h>
#include <stdint.h>

#include <gort/common.h>
#include <gort/chan.h>
#include <gort/ffi.h>
#include <gort/sync.h>
#include <gort/time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ----------------------------------------------------------- */

#define GORT_EINVAL   (-22)  /* an argument is out of range */
#define GORT_ENOMEM   (-12)  /* no memory, or no address space, for a stack */
#define GORT_EBUSY    (-16)  /* the runtime is already running */
#define GORT_EAGAIN   (-11)  /* a system limit was reached (threads, maps) */
#define GORT_ETIMEDOUT (-110) /* a deadline passed first */

/* A short English description of a GORT_E* code (never NULL). */
GORT_API const char *gort_strerror(int err);

/* ---- entering the runtime --------------------------------------------- */

/*
 * Start the runtime on the calling thread and run main_fn(arg) as the main
 * goroutine (id 1).  argc/argv are recorded for gort_args().
 *
 * The calling thread goes through gort's entry (asm/amd64/rt0.S): its
 * stack becomes g0's stack, the _cgo_init hook is called if set, CPU
 * features are probed.  When main_fn returns, gort_main returns to the
 * caller with the status set by gort_exit_status() (0 if never set).
 * Goroutines still alive at that point are discarded, as Go discards them
 * when main returns; their stacks are released.  A goroutine in a foreign
 * call (or running C code that never calls into gort) keeps its thread,
 * and gort_main returns only once every runtime thread has ended.
 *
 * Returns GORT_EBUSY if a runtime is already running in this process,
 * GORT_EINVAL if main_fn is NULL.  gort_main may be called again after it
 * has returned.
 */
GORT_API int gort_main(int argc, char **argv, void (*main_fn)(void *), void *arg);

/* Set the status gort_main will return.  Goroutine context only. */
GORT_API void gort_exit_status(int status);

/* The argc/argv given to gort_main (argc 0 and NULL outside it). */
GORT_API int gort_args(char ***argv);

/* ---- goroutines ------------------------------------------------------- */

/* Options for gort_go_opts.  Zero-initialise, then set what you need. */
typedef struct gort_go_options {
    /* Usable stack size in bytes, rounded up to whole pages; 0 = the
     * default (GORT_STACK_DEFAULT, or GORT_STACKSIZE in the environment).
     * A guard page always sits below the stack. */
    size_t stack_size;
} gort_go_options;

#define GORT_STACK_DEFAULT  (256u * 1024u)
#define GORT_STACK_MIN      (16u * 1024u)
#define GORT_STACK_MAX      (1024u * 1024u * 1024u)

/*
 * Start a goroutine running fn(arg).  Returns its id (> 0), or a negative
 * GORT_E* code if no stack could be had.
 *
 * The new goroutine runs at once on the calling thread and the caller is
 * queued to resume next: spawning costs two context switches and reuses a
 * cache-warm stack, and creation order is run order.  When fn returns the
 * goroutine ends; its stack is kept for the next one.
 *
 * Goroutine context only (a fatal error elsewhere).
 */
GORT_API int64_t gort_go(void (*fn)(void *), void *arg);

/* gort_go with options; opts may be NULL. */
GORT_API int64_t gort_go_opts(void (*fn)(void *), void *arg,
                              const gort_go_options *opts);

/* Let other runnable goroutines run; the caller is queued behind them
 * (first in, first out).  Goroutine context only. */
GORT_API void gort_yield(void);

/* The calling goroutine's id (> 0); 0 when called off any goroutine. */
GORT_API int64_t gort_id(void);

/* ---- the scheduler ---------------------------------------------------- */

/*
 * Goroutines run on GORT_MAXPROCS processors (Ps) at once, multiplexed over
 * as many OS threads as needed.  The default is the number of CPUs in the
 * process's affinity mask; set GORT_MAXPROCS=n in the environment to
 * choose.  A goroutine may move to another thread whenever it calls into
 * gort (yield, channel operations, ...).
 *
 * Thread-locals and migration: the address of a thread-local variable
 * (errno included: the compiler may keep &errno in a register) taken
 * before a gort call that may block or yield can belong to another thread
 * after it.  gort saves and restores errno for each goroutine, so a fresh
 * read of errno after such a call sees the goroutine's own value; for
 * other thread-locals, read them afresh after the call, or wire the
 * goroutine to its thread with gort_lock_os_thread.
 *
 * Preemption: a goroutine that has run for 10 ms is asked to yield, and
 * does so at its next call into gort.  C code that never calls into gort
 * is not preempted.
 */

/* The number of Ps (GORT_MAXPROCS); 0 outside the runtime. */
GORT_API int gort_maxprocs(void);

/* Wire the calling goroutine to its current OS thread: it runs only there
 * and no other goroutine runs there, until as many gort_unlock_os_thread
 * calls as lock calls.  A goroutine that returns while wired ends its
 * thread with it (the thread that called gort_main is kept, idle, until
 * gort_main returns).  Goroutine context only. */
GORT_API void gort_lock_os_thread(void);

/* Undo one gort_lock_os_thread; a no-op when not wired (as in Go). */
GORT_API void gort_unlock_os_thread(void);

/* A snapshot of the scheduler's counters (racy by nature: each field is
 * read once, not all at one instant). */
typedef struct gort_stats {
    int32_t procs;              /* GORT_MAXPROCS */
    int32_t idle_procs;
    int32_t threads;            /* Ms made so far, sysmon included */
    int32_t idle_threads;
    int32_t spinning_threads;
    uint64_t threads_failed;    /* thread creations that failed */
    uint64_t goroutines_created;
    int64_t goroutines;         /* alive now */
    uint64_t steals;            /* successful steals by a P */
    uint64_t stolen;            /* goroutines moved by those steals */
    int64_t global_runqueue;
    uint64_t retakes;           /* Ps taken from foreign calls that lasted (sysmon) */
    uint64_t handoffs;          /* Ps given away as a foreign call began: gort_cgocall_blocking,
                                   or a function that blocked before (see gort_cgocall) */
} gort_stats;

/* Fill *st; 0, or GORT_EINVAL when st is NULL or no runtime is running. */
GORT_API int gort_stats_get(gort_stats *st);

/* ---- CPU features ----------------------------------------------------- */

/* Filled by the entry from CPUID/XGETBV before any goroutine runs. */
typedef enum gort_cpu_feature {
    GORT_CPU_FEATURE_SSE2 = 0,
    GORT_CPU_FEATURE_SSSE3,
    GORT_CPU_FEATURE_SSE41,
    GORT_CPU_FEATURE_SSE42,
    GORT_CPU_FEATURE_POPCNT,
    GORT_CPU_FEATURE_AES,
    GORT_CPU_FEATURE_OSXSAVE,
    GORT_CPU_FEATURE_AVX,      /* cleared if the OS does not save YMM state */
    GORT_CPU_FEATURE_BMI1,
    GORT_CPU_FEATURE_AVX2,     /* cleared if the OS does not save YMM state */
    GORT_CPU_FEATURE_BMI2,
    GORT_CPU_FEATURE_ERMS,
    GORT_CPU_FEATURE_COUNT
} gort_cpu_feature;

/* 1 if the CPU (and OS) support the feature, 0 if not or if the runtime's
 * entry has not run yet. */
GORT_API int gort_cpu_has(gort_cpu_feature f);

/* 1 on a GenuineIntel processor (the entry then serialises RDTSC with
 * LFENCE), 0 otherwise. */
GORT_API int gort_cpu_is_intel(void);

/* CPUID leaf 1 EAX: stepping, model, family. */
GORT_API uint32_t gort_cpu_version(void);

#ifdef __cplusplus
}
#endif

#endif /* GORT_H */
