/*
 * gort/cgo.h - the cgo hook ABI: how a C host plugs into gort's entry and
 * thread creation, with exactly the C ABI of Go 1.19's runtime/cgo.
 *
 * A host written for Go's libcgo (its x_cgo_init, x_cgo_thread_start, ...)
 * assigns its functions to the hook variables below before it enters the
 * runtime (gort_main, or gort_start in library mode) and works unchanged.
 *
 * What a host sees of a goroutine descriptor is its first two words:
 *
 *     struct G { uintptr_t stacklo, stackhi; };
 *
 * gort's descriptor starts with stack_lo, stack_hi, stackguard0,
 * stackguard1 (offsets 0, 8, 16, 24), so a host may edit the bounds in
 * place, as Go's x_cgo_init does for g0.
 *
 * The hooks and when gort calls them:
 *
 *   _cgo_init(g0, setg, tlsg, tlsbase)
 *       Once, from the entry on the thread that called gort_main, before
 *       any goroutine runs and before the TLS step.  g0->stack_hi is the
 *       entry's stack pointer and g0->stack_lo = stack_hi - 64 KiB + 104;
 *       the hook may lower stack_lo to the thread's true limit, and the
 *       entry then recomputes both stackguards from it.  setg is gort's
 *       callback: a thread that calls setg(g) is seen by the runtime as
 *       running g.  tlsg and tlsbase are NULL (gort keeps libc's thread
 *       pointer and has its own TLS slot).
 *   _cgo_thread_start(ts)
 *       For every thread the runtime creates.  *ts lives on the caller's
 *       stack: copy it.  The new thread must call setg(ts->g) and then
 *       ts->fn().  The hook may leave ts->g->stack_lo = 0 and put the
 *       thread's stack size in ts->g->stack_hi; gort then derives the real
 *       bounds on the new thread.  ts->tls points at the thread's TLS block
 *       in the runtime's M (unused by gort's own hooks).
 *   _cgo_sys_thread_create(fn, arg)
 *       Library mode (gort_start): start the runtime's first thread
 *       without touching runtime state.  Used only when the host set its
 *       own; otherwise gort makes (and at gort_stop joins) a pthread.
 *   _cgo_notify_runtime_init_done(unused)
 *       Once the runtime is initialised; a host releases threads blocked
 *       in its own wait-for-init there.
 *   _cgo_set_context_function(fn)
 *       Traceback context registration: declared for ABI compatibility;
 *       gort does not call it (it has no traceback context functions).
 *   _cgo_mmap / _cgo_munmap
 *       If set, every mapping the runtime makes for stacks goes through
 *       them (so sanitizer interceptors see the memory).  _cgo_mmap returns
 *       the address, or an errno value (< 4096) on failure.
 *   _cgo_yield (defined by the host, referenced weakly by gort)
 *       Called when a runtime thread is about to sleep idle.
 *
 * Defaults in force when the host sets nothing: _cgo_init,
 * _cgo_thread_start and _cgo_sys_thread_create start out pointing at
 * gort's own hooks (cgo/default_hooks.c: exact main-thread stack bounds
 * from pthread_getattr_np; pthread-based thread start that calls setg then
 * fn; a detached pthread).  The other variables start out NULL.  A host may
 * also set any of them to NULL: with _cgo_init NULL, g0 keeps the carved
 * 64 KiB bounds; with _cgo_thread_start NULL gort creates threads itself.
 *
 * Names such as x_cgo_init, crosscall_amd64, _cgo_try_pthread_create and
 * fatalf belong to the host side: gort defines none of them, so a host may
 * link objects that do.
 */
#ifndef GORT_CGO_H
#define GORT_CGO_H

#include <stdint.h>

#include <gort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The host's view of a goroutine descriptor (Go's libcgo calls it G). */
typedef struct gort_cgo_g {
    uintptr_t stack_lo;
    uintptr_t stack_hi;
} gort_cgo_g;

/* Argument of _cgo_thread_start; the layout is Go's ThreadStart. */
typedef struct gort_thread_start {
    gort_cgo_g *g;
    uintptr_t *tls;
    void (*fn)(void);
} gort_thread_start;

#ifdef GORT_CGO_COMPAT_NAMES
/* libcgo's own spellings, for hosts ported from Go's libcgo that want
 * them (a host that includes Go's libcgo.h gets them from there). */
typedef gort_cgo_g G;
typedef gort_thread_start ThreadStart;
#endif

GORT_API extern void (*_cgo_init)(gort_cgo_g *g0, void (*setg)(void *),
                                  void **tlsg, void **tlsbase);
GORT_API extern void (*_cgo_thread_start)(gort_thread_start *ts);
GORT_API extern void (*_cgo_sys_thread_create)(void *(*fn)(void *), void *arg);
GORT_API extern void (*_cgo_notify_runtime_init_done)(void *unused);
GORT_API extern void (*_cgo_set_context_function)(void *fn);
GORT_API extern uintptr_t (*_cgo_mmap)(void *addr, uintptr_t len, int32_t prot,
                                       int32_t flags, int32_t fd, uint32_t off);
GORT_API extern void (*_cgo_munmap)(void *addr, uintptr_t len);

/* All hooks at once: gort_cgo_set_hooks copies every field into the hook
 * variables above (NULL fields set NULL).  Call it before entering the
 * runtime; changing hooks while the runtime runs is a fatal error. */
typedef struct gort_cgo_hooks {
    void (*init)(gort_cgo_g *g0, void (*setg)(void *), void **tlsg, void **tlsbase);
    void (*thread_start)(gort_thread_start *ts);
    void (*sys_thread_create)(void *(*fn)(void *), void *arg);
    void (*notify_runtime_init_done)(void *unused);
    void (*set_context_function)(void *fn);
    uintptr_t (*mmap)(void *addr, uintptr_t len, int32_t prot, int32_t flags,
                      int32_t fd, uint32_t off);
    void (*munmap)(void *addr, uintptr_t len);
} gort_cgo_hooks;

GORT_API void gort_cgo_set_hooks(const gort_cgo_hooks *hooks);

/* gort's own default hooks, for a host that wants to wrap them. */
GORT_API void gort_cgo_default_init(gort_cgo_g *g0, void (*setg)(void *),
                                    void **tlsg, void **tlsbase);
GORT_API void gort_cgo_default_thread_start(gort_thread_start *ts);
GORT_API void gort_cgo_default_sys_thread_create(void *(*fn)(void *), void *arg);

#ifdef __cplusplus
}
#endif

#endif /* GORT_CGO_H */
