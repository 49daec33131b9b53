/*
 * gort/ffi.h - the foreign boundary: goroutines calling C, C calling
 * goroutines, calls to a chosen host thread, and library mode.
 *
 * Goroutine -> C.  gort_cgocall runs fn(arg) on the current thread's
 * system stack (the thread's own stack: the default pthread size for
 * runtime threads, the caller's stack on gort_main's thread), not on the
 * goroutine's stack, so a C library that needs a deep stack cannot
 * overflow a goroutine.  While the call runs, the goroutine's processor
 * (P) stays with the thread; if the call lasts more than about 20 us and
 * the P is needed (goroutines or timers waiting, or no other P free), or
 * more than 10 ms in any case, the system monitor gives the P to another
 * thread so other goroutines keep running, and the
 * caller gets a P back (or waits for one) when C returns.  A function
 * whose call lost its P that way is remembered as one that blocks: its
 * later calls give the P away as they begin, as gort_cgocall_blocking
 * does, until one of them returns within the 20 us.  Entering and
 * leaving cost a few stores and no atomic read-modify-write: the monitor
 * pays for the synchronisation (a process-wide memory barrier) when it
 * takes a P, which is rare.
 *
 * C -> goroutine.  gort_callback_new makes a libffi closure: a plain C
 * function pointer with the signature of a libffi call interface.  When
 * C code calls it -- from a goroutine's foreign call, from a runtime
 * thread, or from a thread the runtime never saw -- the handler runs as
 * goroutine code: it may block on channels, start goroutines and make
 * foreign calls, and the calling thread waits for it like any C call.
 * A thread new to gort borrows a runtime thread record (an "extra M") on
 * its first callback and keeps it until the thread exits.  A callback
 * made while no runtime is running waits up to a second for gort_start
 * (or gort_main) to bring one up -- a host thread may call in while the
 * runtime is still starting -- and is a fatal error after that.  While
 * gort_stop waits for the run to wind down, the run's goroutines (and
 * threads already inside a callback) may still call back as they finish;
 * a new callback from any other thread is a fatal error at once.
 *
 * errno: a foreign call's errno is the goroutine's errno when it returns.
 */
#ifndef GORT_FFI_H
#define GORT_FFI_H

#include <stdint.h>

#include <ffi.h>

#include <gort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- goroutine -> C ------------------------------------------------------ */

/* Call fn(arg) on the system stack; other goroutines keep running if it
 * blocks.  Goroutine context only. */
GORT_API void gort_cgocall(void (*fn)(void *), void *arg);

/* For calls known to block (read(2) on a pipe, sleep, a lock held
 * elsewhere): the P is handed to another thread at once. */
GORT_API void gort_cgocall_blocking(void (*fn)(void *), void *arg);

/* For calls known to be short and never to call back into gort: only the
 * stack switch, no processor bookkeeping.  A callback made from such a
 * call is a fatal error. */
GORT_API void gort_cgocall_fast(void (*fn)(void *), void *arg);

/* A libffi-described call (cif prepared with ffi_prep_cif), with
 * gort_cgocall's semantics.  rvalue and avalues as for ffi_call. */
GORT_API void gort_ffi_call(ffi_cif *cif, void (*fn)(void), void *rvalue, void **avalues);

/* ---- C -> goroutine ------------------------------------------------------ */

/* A callback handler: libffi's closure signature.  args[i] points at the
 * i-th argument; the result is written to *ret (for integral results
 * narrower than a word, write an ffi_arg). */
typedef void (*gort_callback_fn)(ffi_cif *cif, void *ret, void **args, void *user);

/* A C function pointer of cif's signature that runs handler in the
 * goroutine world.  cif must stay valid while the callback exists.
 * NULL if memory is short or libffi cannot make the closure. */
GORT_API void *gort_callback_new(ffi_cif *cif, gort_callback_fn handler, void *user);

/* Free a callback made by gort_callback_new (code is what it returned).
 * No thread may be inside it, or call it afterwards. */
GORT_API void gort_callback_free(void *code);

/* ---- goroutine -> a chosen host thread ------------------------------------ */

typedef struct gort_host gort_host;

/* Register the calling thread (not a runtime thread) as a host that
 * serves calls from goroutines.  NULL if memory or an eventfd is short. */
GORT_API gort_host *gort_host_register(void);

/* A file descriptor that polls readable while calls are waiting, for the
 * host's own event loop. */
GORT_API int gort_host_fd(gort_host *h);

/* Run every call queued so far, on the calling thread (the registered
 * one); returns how many ran.  Never blocks. */
GORT_API int gort_host_serve(gort_host *h);

/* Unregister; calls still queued are run first.  The handle is freed. */
GORT_API void gort_host_unregister(gort_host *h);

/* From a goroutine: run fn through libffi on the host's thread and wait
 * (only this goroutine waits).  Calls from one goroutine run in order.
 * errno after the call is the host thread's errno right after fn. */
GORT_API void gort_host_call(gort_host *h, ffi_cif *cif, void (*fn)(void),
                             void *rvalue, void **avalues);

/* ---- library mode: the host keeps its main thread --------------------- */

typedef struct gort_config {
    int maxprocs;          /* 0: GORT_MAXPROCS or the CPU count */
    size_t stack_size;     /* 0: GORT_STACKSIZE or the default */
} gort_config;

/* Boot the runtime on threads of its own (the first one made through
 * _cgo_sys_thread_create when the host set it) and return once it is
 * running.  cfg may be NULL.  GORT_EBUSY if a runtime is running. */
GORT_API int gort_start(const gort_config *cfg);

/* Run fn(arg) as goroutine code from a host thread and wait for it. */
GORT_API void gort_run(void (*fn)(void *), void *arg);

/* Stop a runtime made by gort_start: no new work is taken, goroutines
 * get up to timeout_ns to finish, then every runtime thread is joined and
 * everything is freed.  0, or GORT_ETIMEDOUT if goroutines were still
 * running at the deadline (those parked or runnable are abandoned; one in
 * a foreign call holds gort_stop until its C code returns, since its
 * thread cannot be taken away), GORT_EINVAL if no library-mode runtime is
 * running. */
GORT_API int gort_stop(int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif /* GORT_FFI_H */
