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
 * the way Go's runtime/cgo does) lives in <gort/cgo.h>.
 */
#ifndef GORT_H
#define GORT_H

#include <stddef.h>
#include <stdint.h>

#include <gort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ----------------------------------------------------------- */

#define GORT_EINVAL   (-22)  /* an argument is out of range */
#define GORT_ENOMEM   (-12)  /* no memory, or no address space, for a stack */
#define GORT_EBUSY    (-16)  /* the runtime is already running */
#define GORT_EAGAIN   (-11)  /* a system limit was reached (threads, maps) */

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
 * when main returns; their stacks are released.
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
