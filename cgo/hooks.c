/*
 * hooks.c - the cgo hook variables and gort's setg callback.
 *
 * These are the only global symbols gort defines without the gort_
 * prefix: their names are Go 1.19's runtime/cgo ABI, so that a host
 * written for Go's libcgo assigns its x_cgo_* functions to them unchanged.
 * Three start out pointing at gort's defaults (default_hooks.c); the rest
 * start NULL.  The host assigns them before entering the runtime; the
 * runtime reads them at the moment it needs each one.
 *
 * _cgo_yield is the other way round: the host defines it (Go's libcgo has
 * `void (*const _cgo_yield)(void)`, NULL unless built for TSan) and gort
 * only references it, weakly, so linking without a host leaves it absent.
 */
#include "runtime.h"

void (*_cgo_init)(gort_cgo_g *, void (*)(void *), void **, void **) = gort_cgo_default_init;
void (*_cgo_thread_start)(gort_thread_start *) = gort_cgo_default_thread_start;
void (*_cgo_sys_thread_create)(void *(*)(void *), void *) = gort_cgo_default_sys_thread_create;
void (*_cgo_notify_runtime_init_done)(void *);
void (*_cgo_set_context_function)(void *);
uintptr_t (*_cgo_mmap)(void *, uintptr_t, int32_t, int32_t, int32_t, uint32_t);
void (*_cgo_munmap)(void *, uintptr_t);

extern void (*const _cgo_yield)(void) __attribute__((weak));

void gort_cgo_set_hooks(const gort_cgo_hooks *h)
{
    if (gort_sched.running)
        gort_throw_call("gort_cgo_set_hooks", "the runtime is already running; "
                        "set the hooks before gort_main or gort_start");
    if (!h)
        gort_throw_call("gort_cgo_set_hooks", "hooks is NULL");
    _cgo_init = h->init;
    _cgo_thread_start = h->thread_start;
    _cgo_sys_thread_create = h->sys_thread_create;
    _cgo_notify_runtime_init_done = h->notify_runtime_init_done;
    _cgo_set_context_function = h->set_context_function;
    _cgo_mmap = h->mmap;
    _cgo_munmap = h->munmap;
}

/* The setg callback handed to _cgo_init: the calling thread now runs g. */
void gort_setg_gcc(void *g)
{
    gort_setg((gort_g *)g);
}

/* Called by an M about to sleep with nothing to do. */
void gort_cgo_idle_yield(void)
{
    if (&_cgo_yield != NULL && _cgo_yield != NULL)
        _cgo_yield();
}
