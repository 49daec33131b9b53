/*
 * library.c - library mode: the host keeps its main thread.
 *
 * gort_start runs gort's entry on a thread of the runtime's own (made
 * through _cgo_sys_thread_create when the host set it, as Go's c-archive
 * does, else a joinable pthread), whose main goroutine just waits for
 * gort_stop.  Host threads use the runtime through callbacks and
 * gort_run.  gort_stop refuses new work, gives running goroutines their
 * time, wakes the waiting main goroutine, and the ordinary end of the
 * runtime follows: every M leaves its loop and is waited for, and
 * everything is freed, so a host can start and stop gort again and again.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "runtime.h"

static pthread_t lib_thread;
static bool lib_joinable;
static pthread_mutex_t lib_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lib_cv = PTHREAD_COND_INITIALIZER;
static bool lib_exited;

/* Runs once the main goroutine is off the CPU: only then may gort_stop
 * make it runnable. */
static void lib_parked(void *g)
{
    __atomic_store_n(&gort_sched.library_g, (gort_g *)g, __ATOMIC_RELEASE);
}

static void lib_main(void *unused)
{
    (void)unused;
    gort_park("library mode (waiting for gort_stop)", lib_parked, gort_getg());
}

static void *lib_thread_main(void *unused)
{
    (void)unused;
    gort_main_entry(0, NULL, lib_main, NULL);
    pthread_mutex_lock(&lib_mu);
    lib_exited = true;
    pthread_cond_broadcast(&lib_cv);
    pthread_mutex_unlock(&lib_mu);
    return NULL;
}

int gort_start(const gort_config *cfg)
{
    if (!gort_rt_begin())
        return GORT_EBUSY;
    gort_lib_config = cfg ? *cfg : (gort_config){0};
    gort_lib_mode = true;
    lib_exited = false;

    void (*create)(void *(*)(void *), void *) = _cgo_sys_thread_create;
    if (create && create != gort_cgo_default_sys_thread_create) {
        lib_joinable = false;
        create(lib_thread_main, NULL);
    } else {
        sigset_t all, old;
        pthread_attr_t attr;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 8u << 20);
        int err = pthread_create(&lib_thread, &attr, lib_thread_main, NULL);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (err != 0) {
            gort_rt_end();
            return GORT_EAGAIN;
        }
        lib_joinable = true;
    }
    return gort_rt_wait_running() ? 0 : GORT_EAGAIN;
}

int gort_stop(int64_t timeout_ns)
{
    if (gort_rt_state() != GORT_RT_RUNNING || !gort_sched.library_mode)
        return GORT_EINVAL;
    gort_rt_stopping();
    int rc = 0;
    int64_t deadline = gort_nanotime() + (timeout_ns > 0 ? timeout_ns : 0);
    for (;;) {
        gort_stats st;
        bool busy = gort_stats_get(&st) == 0 && st.goroutines > 1;
        if (!busy && gort_callbacks_in_flight() == 0)
            break;
        if (gort_nanotime() >= deadline) {
            rc = GORT_ETIMEDOUT;
            break;
        }
        gort_usleep(500);
    }
    /* Wake the main goroutine: its return ends the runtime.  gort_start
     * returns as soon as the scheduler is up, so the main goroutine may
     * not have parked yet. */
    gort_g *g;
    while ((g = __atomic_load_n(&gort_sched.library_g, __ATOMIC_ACQUIRE)) == NULL)
        gort_usleep(100);
    /* Once g is on the queue any M may run it and end the run, and m0
     * then frees the Ps and Ms that the wake-up below takes: this thread
     * holds the run open until it is done.  The hold cannot fail: the run
     * ends only after g has run. */
    gort_sched_hold();
    gort_gq_put(g);
    gort_wakep();
    gort_sched_release();
    pthread_mutex_lock(&lib_mu);
    while (!lib_exited)
        pthread_cond_wait(&lib_cv, &lib_mu);
    pthread_mutex_unlock(&lib_mu);
    if (lib_joinable)
        pthread_join(lib_thread, NULL);
    return rc;
}
