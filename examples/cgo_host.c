/*
 * cgo_host.c - a host that plugs its own hooks into gort's entry and
 * thread creation, the way a program linked with Go's runtime/cgo does.
 *
 * The host's x_cgo_init is called once by gort's entry on the main thread,
 * before any goroutine runs.  It is handed g0 (whose first two words are
 * the stack bounds) and gort's setg callback.  Like Go's libcgo, it
 * reports the main thread's real stack limit by lowering g0->stack_lo;
 * gort then recomputes its stack guards from it.
 *
 * Its x_cgo_thread_start is called for every thread the runtime makes:
 * the system monitor, and an M each time the scheduler needs another
 * thread to run goroutines on.  It copies the ThreadStart (it lives on the
 * caller's stack), reports the new thread's stack size Go's way
 * (stack_lo 0, stack_hi the size), and the new thread calls setg(ts.g)
 * and then ts.fn().  This host also marks its threads in a thread-local
 * of its own, which goroutines read when they run there.
 *
 * The main goroutine runs CPU-bound goroutines on GORT_MAXPROCS
 * processors (2 unless the environment says otherwise), so the scheduler
 * starts threads through the hook, and the program prints how many.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <gort.h>
#include <gort/cgo.h>

#define WORKERS 4
#define ITERATIONS 20000000   /* per worker: tens of milliseconds of CPU */

static void (*host_setg)(void *);
static atomic_int hook_threads;          /* threads x_cgo_thread_start made */
static __thread int made_by_hook;        /* the host's own per-thread state */

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
    made_by_hook = 1;
    host_setg(s.ts.g);
    s.ts.fn();
    return NULL;
}

static void x_cgo_thread_start(gort_thread_start *ts)
{
    struct start *s = malloc(sizeof *s);
    pthread_attr_t attr;
    sigset_t all, old;
    size_t size = 0;
    pthread_t t;

    if (!s)
        abort();
    s->ts = *ts;
    pthread_attr_init(&attr);
    pthread_attr_getstacksize(&attr, &size);
    /* Go's contract: bounds unknown yet (lo 0), the size in hi; the new
     * thread derives the real bounds. */
    ts->g->stack_lo = 0;
    ts->g->stack_hi = size;
    printf("host: _cgo_thread_start: runtime thread %d\n", atomic_fetch_add(&hook_threads, 1) + 1);
    /* The new thread starts with every signal blocked; the runtime
     * unblocks what it handles. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&t, &attr, thread_entry, s) != 0)
        abort();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    pthread_detach(t);
}

/* CPU-bound work that never calls into gort while it runs: the only way
 * to get it done sooner is another thread on another processor. */
static uint64_t checksum_of(uint64_t seed)
{
    uint64_t x = seed;
    for (long i = 0; i < ITERATIONS; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

static gort_waitgroup wg;
static uint64_t sums[WORKERS];
static atomic_int on_hook_threads;

static void worker(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    sums[i] = checksum_of(i + 1);
    /* Read the thread-local now, after the work: a goroutine may move to
     * another thread at any call into gort, so do not keep its address
     * (or its value) from before such a call. */
    if (made_by_hook)
        atomic_fetch_add(&on_hook_threads, 1);
    gort_waitgroup_done(&wg);
}

static void main_goroutine(void *arg)
{
    (void)arg;
    printf("main goroutine %lld running on the host's hooks\n", (long long)gort_id());
    gort_waitgroup_add(&wg, WORKERS);
    for (uintptr_t i = 0; i < WORKERS; i++)
        if (gort_go(worker, (void *)i) < 0) {
            gort_exit_status(1);
            return;
        }
    gort_waitgroup_wait(&wg);
    for (uintptr_t i = 0; i < WORKERS; i++)
        if (sums[i] != checksum_of(i + 1)) {
            printf("worker %u: wrong checksum\n", (unsigned)i);
            gort_exit_status(1);
            return;
        }

    int made = atomic_load(&hook_threads);
    printf("host: %d of %d workers finished on a thread the hook made\n",
           atomic_load(&on_hook_threads), WORKERS);
    printf("host: _cgo_thread_start made %d runtime threads (the system monitor, "
           "and %d to run goroutines)\n", made, made - 1);
    if (gort_maxprocs() > 1 && made < 2) {
        printf("host: expected a thread for a second processor\n");
        gort_exit_status(1);
        return;
    }
    printf("parallel work done on %d processors, on threads started by the host's hook\n",
           gort_maxprocs());
}

int main(int argc, char **argv)
{
    /* Two processors unless the environment chose: enough to need a
     * second thread for goroutines. */
    setenv("GORT_MAXPROCS", "2", 0);
    _cgo_init = x_cgo_init;
    _cgo_thread_start = x_cgo_thread_start;
    return gort_main(argc, argv, main_goroutine, NULL);
}
