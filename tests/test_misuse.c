/*
 * test_misuse.c - misuse of the API is a fatal error (src/fatal.c).
 *
 * Covers: goroutine-only calls (gort_yield, gort_go, gort_go_opts,
 * gort_exit_status) made with no runtime, after the runtime ended, from a
 * plain thread while it runs, and on the scheduler stack;
 * gort_cgo_set_hooks(NULL); a bad GORT_STACKSIZE.  Each runs in a forked
 * child; the test checks exit status 2 and the exact message, the way a
 * user would read it.
 *
 * Why: the header promises "gort: fatal error: <call>: ..." and status 2
 * for misuse, never a crash or a silently corrupted scheduler.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "util.h"

TestSuite(misuse, .timeout = 30);

static char out[4096];

static void expect_fatal(void (*fn)(void), const char *want)
{
    int st = run_child(fn, out, sizeof out);
    cr_assert_eq(st, 2, "status %d, output:\n%s", st, out);
    cr_assert_not_null(strstr(out, want), "want \"%s\" in:\n%s", want, out);
}

#define NO_RUNTIME "called outside a goroutine (no gort runtime on this thread)"

static void noop(void *arg)
{
    (void)arg;
}

/* ---- no runtime ------------------------------------------------------- */

static void yield_no_runtime(void)
{
    gort_yield();
}

static void go_no_runtime(void)
{
    gort_go(noop, NULL);
}

static void go_opts_no_runtime(void)
{
    gort_go_options o = {.stack_size = 64 * 1024};
    gort_go_opts(noop, NULL, &o);
}

static void exit_status_no_runtime(void)
{
    gort_exit_status(3);
}

Test(misuse, yield_without_runtime)
{
    expect_fatal(yield_no_runtime, "gort: fatal error: gort_yield: called outside a goroutine");
    cr_assert_not_null(strstr(out, NO_RUNTIME), "%s", out);
}

Test(misuse, go_without_runtime)
{
    expect_fatal(go_no_runtime, "gort: fatal error: gort_go: " NO_RUNTIME);
}

Test(misuse, go_opts_without_runtime)
{
    expect_fatal(go_opts_no_runtime, "gort: fatal error: gort_go: " NO_RUNTIME);
}

Test(misuse, exit_status_without_runtime)
{
    expect_fatal(exit_status_no_runtime, "gort: fatal error: gort_exit_status: " NO_RUNTIME);
}

Test(misuse, yield_without_runtime_exits_2, .exit_code = 2)
{
    gort_yield();
}

/* ---- after the runtime ended ------------------------------------------ */

static void yield_after_runtime(void)
{
    if (run_main(noop, NULL) == 0)
        gort_yield();
}

Test(misuse, yield_after_gort_main_returned)
{
    expect_fatal(yield_after_runtime, "gort: fatal error: gort_yield: " NO_RUNTIME);
}

/* ---- from a plain thread while the runtime runs ------------------------ */

static void *yield_thread(void *arg)
{
    (void)arg;
    gort_yield();
    return NULL;
}

static void *go_thread(void *arg)
{
    (void)arg;
    gort_go(noop, NULL);
    return NULL;
}

static void thread_main(void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, (void *(*)(void *))arg, NULL) == 0)
        pthread_join(t, NULL);
}

static void yield_from_thread(void)
{
    run_main(thread_main, (void *)yield_thread);
}

static void go_from_thread(void)
{
    run_main(thread_main, (void *)go_thread);
}

Test(misuse, yield_from_a_plain_thread)
{
    expect_fatal(yield_from_thread, "gort: fatal error: gort_yield: " NO_RUNTIME);
    /* no goroutine runs on that thread: the report must not name one */
    cr_assert_null(strstr(out, "[running]"), "%s", out);
}

Test(misuse, go_from_a_plain_thread)
{
    expect_fatal(go_from_thread, "gort: fatal error: gort_go: " NO_RUNTIME);
}

/* ---- on the scheduler stack ------------------------------------------- */

static void *g0_thread(void *arg)
{
    (void)arg;
    gort_setg(&gort_g0);
    gort_yield();
    return NULL;
}

static void yield_on_g0(void)
{
    run_main(thread_main, (void *)g0_thread);
}

Test(misuse, yield_on_the_scheduler_stack)
{
    expect_fatal(yield_on_g0, "gort: fatal error: gort_yield: called outside a goroutine "
                              "(on the scheduler stack)");
    cr_assert_not_null(strstr(out, "(on the scheduler stack of M1)"), "%s", out);
}

/* ---- the report names the goroutine ----------------------------------- */

static void set_hooks_from_goroutine(void *arg)
{
    (void)arg;
    gort_cgo_hooks h = {0};
    gort_cgo_set_hooks(&h);
}

static void spawn_then_set_hooks(void *arg)
{
    (void)arg;
    gort_go(noop, NULL);
    gort_go(set_hooks_from_goroutine, NULL);
}

static void set_hooks_in_goroutine_3(void)
{
    /* Goroutine ids come in per-P batches of 16: "3" holds at one P; at
     * two, main may be stolen onto the other P and draw from its batch. */
    setenv("GORT_MAXPROCS", "1", 1);
    run_main(spawn_then_set_hooks, NULL);
}

Test(misuse, fatal_error_names_the_goroutine)
{
    expect_fatal(set_hooks_in_goroutine_3,
                 "gort: fatal error: gort_cgo_set_hooks: the runtime is already running");
    cr_assert_not_null(strstr(out, "\ngoroutine 3 [running]:\n"), "%s", out);
    /* ... with a backtrace that starts at the call that failed (the
     * error path's own frames are left out). */
    const char *bt = strstr(out, "[running]:\n\t");
    cr_assert_not_null(bt, "%s", out);
    cr_assert_eq(strncmp(bt + strlen("[running]:\n\t"), "gort_cgo_set_hooks+", 19), 0, "%s", out);
    cr_assert_not_null(strstr(out, "GORT_TRACEBACK=all"), "%s", out);
}

static void all_tracebacks(void)
{
    setenv("GORT_TRACEBACK", "all", 1);
    setenv("GORT_MAXPROCS", "1", 1);   /* main stays parked behind its child */
    run_main(spawn_then_set_hooks, NULL);
}

Test(misuse, traceback_all_lists_every_goroutine)
{
#ifdef GORT_ASAN
    cr_skip("ASan keeps frames on its fake stack: the frame-pointer walk of parked goroutines ends early");
#endif
    expect_fatal(all_tracebacks,
                 "gort: fatal error: gort_cgo_set_hooks: the runtime is already running");
    cr_assert_not_null(strstr(out, "\ngoroutine 3 [running]:\n"), "%s", out);
    /* main (1) is parked in runnext behind its child: listed, walked from
     * its saved context down to its own function. */
    cr_assert_not_null(strstr(out, "\ngoroutine 1 [runnable]:\n"), "%s", out);
#ifdef GORT_TSAN   /* instrumented, gort_switch_to is not inlined: an unnamed frame comes first */
    cr_assert_not_null(strstr(strstr(out, "\ngoroutine 1 [runnable]:\n"), "\tgort_go_opts+"), "%s", out);
#else
    cr_assert_not_null(strstr(out, "\ngoroutine 1 [runnable]:\n\tgort_go_opts+"), "%s", out);
#endif
}

/* ---- gort_cgo_set_hooks(NULL) ----------------------------------------- */

static void set_hooks_null(void)
{
    gort_cgo_set_hooks(NULL);
}

Test(misuse, set_hooks_null)
{
    expect_fatal(set_hooks_null, "gort: fatal error: gort_cgo_set_hooks: hooks is NULL");
}

/* ---- bad environment -------------------------------------------------- */

static void bad_stacksize(void)
{
    setenv("GORT_STACKSIZE", "12", 1);
    run_main(noop, NULL);
}

static void junk_stacksize(void)
{
    setenv("GORT_STACKSIZE", "64Q", 1);
    run_main(noop, NULL);
}

Test(misuse, gort_stacksize_out_of_range)
{
    expect_fatal(bad_stacksize, "gort: fatal error: GORT_STACKSIZE=12: want a size in bytes");
}

Test(misuse, gort_stacksize_not_a_size)
{
    expect_fatal(junk_stacksize, "gort: fatal error: GORT_STACKSIZE=64Q: want a size in bytes");
}
