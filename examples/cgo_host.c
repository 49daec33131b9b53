/*
 * cgo_host.c - a host that plugs its own hooks into gort's entry, the way
 * a program linked with Go's runtime/cgo does.
 *
 * The host's x_cgo_init is called once by gort's entry on the main thread,
 * before any goroutine runs.  It is handed g0 (whose first two words are
 * the stack bounds) and gort's setg callback.  Like Go's libcgo, it
 * reports the main thread's real stack limit by lowering g0->stack_lo;
 * gort then recomputes its stack guards from it.  Its x_cgo_thread_start
 * is what gort would call for each runtime thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <gort.h>
#include <gort/cgo.h>

static void (*host_setg)(void *);

static void x_cgo_init(gort_cgo_g *g0, void (*setg)(void *), void **tlsg, void **tlsbase)
{
    pthread_attr_t attr;
    size_t size = 0;

    (void)tlsg;
    (void)tlsbase;
    host_setg = setg;
    printf("host: _cgo_init: g0 stack [%#lx, %#lx) as the entry carved it\n",
           (unsigned long)g0->stack_lo, (unsigned long)g0->stack_hi);
    pthread_attr_init(&attr);
    pthread_attr_getstacksize(&attr, &size);
    pthread_attr_destroy(&attr);
    g0->stack_lo = (uintptr_t)__builtin_frame_address(0) - size + 4096;
    printf("host: _cgo_init: reporting stack_lo %#lx (%zu KiB thread stack)\n",
           (unsigned long)g0->stack_lo, size / 1024);
}

struct start {
    gort_thread_start ts;
};

static void *thread_entry(void *v)
{
    struct start s = *(struct start *)v;
    free(v);
    host_setg(s.ts.g);
    s.ts.fn();
    return NULL;
}

static void x_cgo_thread_start(gort_thread_start *ts)
{
    static int nthreads;
    struct start *s = malloc(sizeof *s);
    pthread_t t;
    if (!s)
        abort();
    s->ts = *ts;
    ts->g->stack_lo = 0;
    ts->g->stack_hi = 8 << 20;
    printf("host: _cgo_thread_start: runtime thread %d\n", ++nthreads);
    if (pthread_create(&t, NULL, thread_entry, s) != 0)
        abort();
    pthread_detach(t);
}

static void main_goroutine(void *arg)
{
    (void)arg;
    printf("main goroutine %lld running on the host's hooks\n", (long long)gort_id());
}

int main(int argc, char **argv)
{
    _cgo_init = x_cgo_init;
    _cgo_thread_start = x_cgo_thread_start;
    return gort_main(argc, argv, main_goroutine, NULL);
}
