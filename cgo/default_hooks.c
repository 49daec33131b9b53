/*
 * default_hooks.c - the hooks in force when the host sets none.
 *
 * They do what Go's runtime/cgo does on linux/amd64, written for gort:
 *
 *   gort_cgo_default_init: finds the main thread's real stack limit with
 *   pthread_getattr_np and lowers g0's stack_lo to it (one page above, so
 *   the bound never touches the gap the kernel keeps below a growing main
 *   stack).  gort's setg is not stored: the defaults use it directly.
 *
 *   gort_cgo_default_thread_start: copies the ThreadStart (it lives on the
 *   caller's stack), creates a thread with every signal blocked around
 *   pthread_create (the new thread starts with them blocked and the M
 *   unblocks what it handles), reports the thread's stack size the Go way
 *   (stack_lo = 0, stack_hi = size), and on the new thread calls
 *   setg(ts.g) then ts.fn().  If the thread cannot be created it leaves
 *   stack_hi = 0 as well: the runtime sees both bounds zero, reports
 *   "gort: cannot create thread: ..." and carries on without that M.  The
 *   runtime retries whenever it wants another thread (sysmon may ask
 *   every few microseconds), so only a runtime's first failure is printed;
 *   gort_stats.threads_failed counts them all.
 *
 *   gort_cgo_default_sys_thread_create: a detached thread, signals blocked
 *   around its creation, for library mode's first runtime thread.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

void gort_cgo_default_init(gort_cgo_g *g0, void (*setg)(void *), void **tlsg, void **tlsbase)
{
    (void)setg;
    (void)tlsg;
    (void)tlsbase;
    pthread_attr_t attr;
    void *addr;
    size_t size;

    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        uintptr_t lo = (uintptr_t)addr + (uintptr_t)sysconf(_SC_PAGESIZE);
        if (lo < g0->stack_lo)
            g0->stack_lo = lo;
    }
    pthread_attr_destroy(&attr);
}

/* Print a thread creation failure, once per runtime. */
static void report_failure(const char *why)
{
    if (atomic_load(&gort_sched.nthreads_failed) == 0)
        gort_printf("gort: cannot create thread: %s (further failures are counted, "
                    "not reported)\n", why);
}

static void *thread_entry(void *v)
{
    gort_thread_start ts = *(gort_thread_start *)v;
    free(v);
    gort_setg_gcc(ts.g);
    ts.fn();
    return NULL;
}

/* g, if given, gets the Go-style bounds (lo 0, hi = stack size) before
 * the thread exists, so the new thread always sees them. */
static int create_blocked(void *(*fn)(void *), void *arg, gort_cgo_g *g)
{
    sigset_t all, old;
    pthread_attr_t attr;
    pthread_t t;
    int err;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (g) {
        size_t size = 0;
        pthread_attr_getstacksize(&attr, &size);
        g->stack_lo = 0;
        g->stack_hi = size;
    }
    err = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

/* 0, or -1 when no thread was made (reported; g's bounds zeroed).  Once
 * a thread exists its g0 is the thread's: the caller must not read it. */
int gort_default_thread_start(gort_thread_start *arg)
{
    gort_thread_start *ts = malloc(sizeof *ts);
    if (!ts) {
        arg->g->stack_lo = 0;
        arg->g->stack_hi = 0;
        report_failure("out of memory");
        return -1;
    }
    *ts = *arg;
    int err = create_blocked(thread_entry, ts, arg->g);
    if (err != 0) {
        free(ts);
        arg->g->stack_lo = 0;
        arg->g->stack_hi = 0;
        report_failure(strerror(err));
        return -1;
    }
    return 0;
}

void gort_cgo_default_thread_start(gort_thread_start *arg)
{
    gort_default_thread_start(arg);
}

void gort_cgo_default_sys_thread_create(void *(*fn)(void *), void *arg)
{
    int err = create_blocked(fn, arg, NULL);
    if (err != 0)
        gort_throw("cannot create thread: %s", strerror(err));
}
