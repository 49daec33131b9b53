/*
 * test_entry.c - gort's entry (asm/amd64/rt0.S, src/main.c) and the
 * _cgo_init hook of the cgo ABI (cgo/).
 *
 * Covers: g0's stack bounds and stackguards with no hook, with gort's
 * default hook and with a host hook that records or edits them; when and
 * where the hook is called and with what arguments; the setg callback;
 * gort_cgo_set_hooks (and that it is fatal while the runtime runs); the
 * _cgo_mmap/_cgo_munmap hooks; gort_main's return values, re-entry and
 * argument bookkeeping; teardown (mappings, signal handlers, FP control
 * state); and errno being per goroutine.
 *
 * Why: the entry is the one place where a mistake silently corrupts every
 * later stack check or makes a host's hooks see the wrong thread.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fenv.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime.h"
#include "util.h"

/* These tests are about the entry and hooks, and count with plain ints
 * across goroutines: one P keeps that exact (the M:N scheduler has its
 * own suite, test_mn.c). */
static void one_p(void)
{
    setenv("GORT_MAXPROCS", "1", 1);
}

TestSuite(entry, .timeout = 60, .init = one_p);

#define CARVE_LO(hi) ((hi) - 64 * 1024 + 104)

/* g0 as the main goroutine sees it. */
static gort_g g0_seen;

static void snap_g0_main(void *arg)
{
    (void)arg;
    g0_seen = gort_g0;
}

/* ---- no hook ---------------------------------------------------------- */

static _Atomic int child_ran;   /* goroutines may run on two Ps */

static void child_count(void *arg)
{
    (void)arg;
    child_ran++;
    gort_yield();
    child_ran++;
}

static void nohook_main(void *arg)
{
    (void)arg;
    g0_seen = gort_g0;
    gort_go(child_count, NULL);
    gort_go(child_count, NULL);
    while (child_ran < 4)
        gort_yield();
}

Test(entry, no_hook_keeps_carved_bounds)
{
    _cgo_init = NULL;
    cr_assert_eq(run_main(nohook_main, NULL), 0);
    cr_assert_eq(child_ran, 4, "runtime does not work without a hook");
    cr_assert_eq(g0_seen.stack_lo, CARVE_LO(g0_seen.stack_hi));
    cr_assert_eq(g0_seen.stack_hi - g0_seen.stack_lo, (uintptr_t)GORT_G0_STACK_CARVE);
    cr_assert_eq(g0_seen.stackguard0, g0_seen.stack_lo, "Go leaves the guards at lo");
    cr_assert_eq(g0_seen.stackguard1, g0_seen.stack_lo);
}

/* ---- gort's default hook ---------------------------------------------- */

Test(entry, default_hook_finds_the_real_stack_limit)
{
    cr_assert(_cgo_init == gort_cgo_default_init, "the default hook is not installed");
    pthread_attr_t attr;
    void *addr;
    size_t size;
    cr_assert_eq(pthread_getattr_np(pthread_self(), &attr), 0);
    cr_assert_eq(pthread_attr_getstack(&attr, &addr, &size), 0);
    pthread_attr_destroy(&attr);
    uintptr_t want = (uintptr_t)addr + (uintptr_t)sysconf(_SC_PAGESIZE);

    cr_assert_eq(run_main(snap_g0_main, NULL), 0);
    cr_assert_lt(want, CARVE_LO(g0_seen.stack_hi), "the thread stack is smaller than the carve");
    cr_assert_eq(g0_seen.stack_lo, want, "stack_lo %#lx, want %#lx",
                 (unsigned long)g0_seen.stack_lo, (unsigned long)want);
    cr_assert_eq(g0_seen.stackguard0, want + GORT_STACK_GUARD);
    cr_assert_eq(g0_seen.stackguard1, want + GORT_STACK_GUARD);
    cr_assert_gt(g0_seen.stack_hi, (uintptr_t)addr);
    cr_assert_leq(g0_seen.stack_hi, (uintptr_t)addr + size);
}

/* ---- a recording hook ------------------------------------------------- */

static struct {
    int calls;
    pthread_t thread;
    long tid;
    gort_cgo_g *g0;
    uintptr_t lo, hi, guard0, guard1;
    void (*setg)(void *);
    void **tlsg, **tlsbase;
} rec;

static void rec_hook(gort_cgo_g *g0, void (*setg)(void *), void **tlsg, void **tlsbase)
{
    gort_g *g = (gort_g *)g0;
    rec.calls++;
    rec.thread = pthread_self();
    rec.tid = syscall(SYS_gettid);
    rec.g0 = g0;
    rec.lo = g->stack_lo;
    rec.hi = g->stack_hi;
    rec.guard0 = g->stackguard0;
    rec.guard1 = g->stackguard1;
    rec.setg = setg;
    rec.tlsg = tlsg;
    rec.tlsbase = tlsbase;
}

static int calls_seen_by_main = -1;

static void rec_main(void *arg)
{
    (void)arg;
    calls_seen_by_main = rec.calls;
}

/* The function that calls gort_main: its frame address is the SP the
 * entry carves g0's stack from, give or take gort_main's own frame. */
static __attribute__((noinline)) int enter_recording_frame(uintptr_t *frame)
{
    static char *argv[] = {"entry", NULL};
    *frame = (uintptr_t)__builtin_frame_address(0);
    return gort_main(1, argv, rec_main, NULL);
}

Test(entry, recording_hook_called_once_on_main_thread_before_main)
{
    uintptr_t frame = 0;
    _cgo_init = rec_hook;
    cr_assert_eq(enter_recording_frame(&frame), 0);

    cr_assert_eq(rec.calls, 1, "hook called %d times", rec.calls);
    cr_assert(pthread_equal(rec.thread, pthread_self()), "hook ran on another thread");
    cr_assert_eq(rec.tid, syscall(SYS_gettid));
    cr_assert_eq(calls_seen_by_main, 1, "main goroutine ran before the hook");
    cr_assert_eq((void *)rec.g0, (void *)&gort_g0);
    cr_assert_null(rec.tlsg);
    cr_assert_null(rec.tlsbase);
    cr_assert(rec.setg == gort_setg_gcc, "setg is not gort's callback");

    long d = (long)(rec.hi - frame);
    cr_assert(d > -512 && d < 512, "stack_hi %#lx is %ld bytes from the caller's frame %#lx",
              (unsigned long)rec.hi, d, (unsigned long)frame);
    cr_assert_lt(rec.hi, frame, "stack_hi is above the caller's frame");
    cr_assert_eq(rec.lo, CARVE_LO(rec.hi));
    cr_assert_eq(rec.guard0, rec.lo);
    cr_assert_eq(rec.guard1, rec.lo);
}

/* ---- a hook that lowers stack_lo -------------------------------------- */

#define LOWER_BY (1024 * 1024)

static uintptr_t lowered_lo;

static void lowering_hook(gort_cgo_g *g0, void (*setg)(void *), void **tlsg, void **tlsbase)
{
    (void)setg, (void)tlsg, (void)tlsbase;
    g0->stack_lo -= LOWER_BY;
    lowered_lo = g0->stack_lo;
}

Test(entry, hook_lowering_stack_lo_moves_the_guards)
{
    _cgo_init = lowering_hook;
    cr_assert_eq(run_main(snap_g0_main, NULL), 0);
    cr_assert_neq(lowered_lo, 0);
    cr_assert_eq(g0_seen.stack_lo, lowered_lo);
    cr_assert_eq(g0_seen.stack_hi - g0_seen.stack_lo,
                 (uintptr_t)GORT_G0_STACK_CARVE + LOWER_BY);
    cr_assert_eq(g0_seen.stackguard0, lowered_lo + GORT_STACK_GUARD);
    cr_assert_eq(g0_seen.stackguard1, lowered_lo + GORT_STACK_GUARD);
}

/* ---- the setg callback ------------------------------------------------ */

static void (*saved_setg)(void *);

static void setg_hook(gort_cgo_g *g0, void (*setg)(void *), void **tlsg, void **tlsbase)
{
    (void)g0, (void)tlsg, (void)tlsbase;
    saved_setg = setg;
}

static struct {
    gort_g *g_before;
    int64_t id_before;
    gort_g *g_after_setg;
    int64_t id_fake;
    int64_t id_g0;
    gort_g *g_after_null;
} thr;
static gort_g fake_g;
static gort_g *main_g_before, *main_g_after;
static int64_t main_id_after;

static void *setg_thread(void *arg)
{
    (void)arg;
    thr.g_before = gort_getg();
    thr.id_before = gort_id();
    saved_setg(&fake_g);
    thr.g_after_setg = gort_getg();
    thr.id_fake = gort_id();
    saved_setg(&gort_g0);
    thr.id_g0 = gort_id();
    saved_setg(NULL);
    thr.g_after_null = gort_getg();
    return NULL;
}

static void setg_main(void *arg)
{
    (void)arg;
    pthread_t t;
    main_g_before = gort_getg();
    if (pthread_create(&t, NULL, setg_thread, NULL) == 0)
        pthread_join(t, NULL);
    main_g_after = gort_getg();
    main_id_after = gort_id();
}

Test(entry, setg_callback_sets_g_on_the_calling_thread)
{
    fake_g.id = 99;
    _cgo_init = setg_hook;
    cr_assert_eq(run_main(setg_main, NULL), 0);
    cr_assert_not_null(saved_setg);
    cr_assert_null(thr.g_before, "a new thread starts with a g");
    cr_assert_eq(thr.id_before, 0, "gort_id with no g");
    cr_assert_eq(thr.g_after_setg, &fake_g, "setg did not set g on its thread");
    cr_assert_eq(thr.id_fake, 99);
    cr_assert_eq(thr.id_g0, 0, "gort_id on g0");
    cr_assert_null(thr.g_after_null);
    cr_assert_not_null(main_g_before);
    cr_assert_eq(main_g_after, main_g_before, "setg on another thread changed the main thread's g");
    cr_assert_eq(main_id_after, 1);
}

/* ---- gort_cgo_set_hooks ----------------------------------------------- */

static void h_init(gort_cgo_g *g0, void (*s)(void *), void **a, void **b)
{
    (void)g0, (void)s, (void)a, (void)b;
}
static void h_thread_start(gort_thread_start *ts) { (void)ts; }
static void h_sys_thread_create(void *(*fn)(void *), void *arg) { (void)fn, (void)arg; }
static void h_notify(void *u) { (void)u; }
static void h_context(void *fn) { (void)fn; }
static uintptr_t h_mmap(void *a, uintptr_t l, int32_t p, int32_t f, int32_t fd, uint32_t o)
{
    (void)a, (void)l, (void)p, (void)f, (void)fd, (void)o;
    return 12;
}
static void h_munmap(void *a, uintptr_t l) { (void)a, (void)l; }

static const gort_cgo_hooks default_hooks = {
    .init = gort_cgo_default_init,
    .thread_start = gort_cgo_default_thread_start,
    .sys_thread_create = gort_cgo_default_sys_thread_create,
};

Test(entry, set_hooks_sets_every_variable)
{
    gort_cgo_hooks h = {h_init, h_thread_start, h_sys_thread_create, h_notify,
                        h_context, h_mmap, h_munmap};
    gort_cgo_set_hooks(&h);
    cr_assert(_cgo_init == h_init);
    cr_assert(_cgo_thread_start == h_thread_start);
    cr_assert(_cgo_sys_thread_create == h_sys_thread_create);
    cr_assert(_cgo_notify_runtime_init_done == h_notify);
    cr_assert(_cgo_set_context_function == h_context);
    cr_assert(_cgo_mmap == h_mmap);
    cr_assert(_cgo_munmap == h_munmap);

    gort_cgo_hooks none = {0};
    gort_cgo_set_hooks(&none);
    cr_assert_null(_cgo_init);
    cr_assert_null(_cgo_thread_start);
    cr_assert_null(_cgo_sys_thread_create);
    cr_assert_null(_cgo_notify_runtime_init_done);
    cr_assert_null(_cgo_set_context_function);
    cr_assert_null(_cgo_mmap);
    cr_assert_null(_cgo_munmap);

    gort_cgo_set_hooks(&default_hooks);
    cr_assert(_cgo_init == gort_cgo_default_init);
    cr_assert(_cgo_thread_start == gort_cgo_default_thread_start);
    cr_assert(_cgo_sys_thread_create == gort_cgo_default_sys_thread_create);
    cr_assert_null(_cgo_mmap);
    cr_assert_eq(run_main(snap_g0_main, NULL), 0, "runtime broken after restoring defaults");
    cr_assert_lt(g0_seen.stack_lo, CARVE_LO(g0_seen.stack_hi), "default init did not run");
}

static void set_hooks_while_running_main(void *arg)
{
    (void)arg;
    gort_cgo_set_hooks(&default_hooks);
}

static void set_hooks_while_running(void)
{
    run_main(set_hooks_while_running_main, NULL);
}

Test(entry, set_hooks_while_running_is_fatal)
{
    char err[4096];
    int st = run_child(set_hooks_while_running, err, sizeof err);
    cr_assert_eq(st, 2, "status %d, output: %s", st, err);
    cr_assert_not_null(strstr(err, "gort: fatal error: gort_cgo_set_hooks: "
                                   "the runtime is already running"), "output: %s", err);
    cr_assert_not_null(strstr(err, "goroutine 1 [running]"), "output: %s", err);
}

Test(entry, set_hooks_while_running_exits_2, .exit_code = 2)
{
    run_main(set_hooks_while_running_main, NULL);
}

/* ---- the mmap hooks --------------------------------------------------- */

/* Atomic: the runtime's threads (sysmon's signal stack) map too. */
static _Atomic long nmap, nunmap;
static _Atomic uintptr_t mapped_bytes, unmapped_bytes;

static uintptr_t counting_mmap(void *addr, uintptr_t len, int32_t prot, int32_t flags,
                               int32_t fd, uint32_t off)
{
    void *p = mmap(addr, len, prot, flags, fd, off);
    if (p == MAP_FAILED)
        return (uintptr_t)errno;
    nmap++;
    mapped_bytes += len;
    return (uintptr_t)p;
}

static void counting_munmap(void *addr, uintptr_t len)
{
    nunmap++;
    unmapped_bytes += len;
    munmap(addr, len);
}

static void spawn_some_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        gort_go(child_count, NULL);
    while (child_ran < 200)
        gort_yield();
}

Test(entry, mmap_hooks_see_every_runtime_mapping)
{
    _cgo_mmap = counting_mmap;
    _cgo_munmap = counting_munmap;
    cr_assert_eq(run_main(spawn_some_main, NULL), 0);
    cr_assert_eq(child_ran, 200);
    cr_assert_gt(nmap, 0, "_cgo_mmap was never called");
    cr_assert_eq(nunmap, nmap, "%ld maps, %ld unmaps", nmap, nunmap);
    cr_assert_eq(unmapped_bytes, mapped_bytes);
}

/* ---- gort_main -------------------------------------------------------- */

static void exit42_main(void *arg)
{
    (void)arg;
    gort_exit_status(42);
}

static void noop_main(void *arg)
{
    (void)arg;
}

Test(entry, gort_main_returns_exit_status)
{
    cr_assert_eq(run_main(exit42_main, NULL), 42);
}

Test(entry, gort_main_returns_zero_by_default)
{
    cr_assert_eq(run_main(noop_main, NULL), 0);
}

Test(entry, gort_main_null_fn_is_einval)
{
    cr_assert_eq(gort_main(0, NULL, NULL, NULL), GORT_EINVAL);
    /* and it did not leave the runtime marked as entered */
    cr_assert_eq(run_main(exit42_main, NULL), 42);
}

static int inner_ret = 1;
static int thread_ret = 1;

static void *gort_main_from_thread(void *arg)
{
    (void)arg;
    thread_ret = gort_main(0, NULL, noop_main, NULL);
    return NULL;
}

static void reenter_main(void *arg)
{
    (void)arg;
    pthread_t t;
    inner_ret = gort_main(0, NULL, noop_main, NULL);
    if (pthread_create(&t, NULL, gort_main_from_thread, NULL) == 0)
        pthread_join(t, NULL);
    gort_exit_status(5);
}

Test(entry, gort_main_while_running_is_ebusy)
{
    cr_assert_eq(run_main(reenter_main, NULL), 5);
    cr_assert_eq(inner_ret, GORT_EBUSY, "from the main goroutine: %d", inner_ret);
    cr_assert_eq(thread_ret, GORT_EBUSY, "from another thread: %d", thread_ret);
}

static int64_t run_ids[2], run_spawned[2];
static int run_no;

static void forever(void *arg)
{
    (void)arg;
    for (;;)
        gort_yield();
}

static void twice_main(void *arg)
{
    int status = (int)(intptr_t)arg;
    run_ids[run_no] = gort_id();
    run_spawned[run_no] = gort_go(forever, NULL);
    gort_go(forever, NULL);
    gort_yield();
    run_no++;
    if (status)
        gort_exit_status(status);
}

Test(entry, gort_main_can_run_twice)
{
    int maps0 = maps_count();
    cr_assert_eq(run_main(twice_main, (void *)(intptr_t)42), 42);
    int maps1 = maps_count();
    cr_assert_eq(run_main(twice_main, (void *)0), 0, "exit status leaked into the second run");
    int maps2 = maps_count();
    cr_assert_eq(run_no, 2);
    cr_assert_eq(run_ids[0], 1);
    cr_assert_eq(run_ids[1], 1, "ids do not restart");
    cr_assert_eq(run_spawned[0], 2);
    cr_assert_eq(run_spawned[1], 2);
    /* Goroutines still alive at the end are discarded with their stacks.
     * The runtime's threads (sysmon, Ms) are gone too, but libc keeps
     * their stacks cached for reuse: allow two mappings each. */
#ifndef GORT_TSAN   /* TSan maps memory for every thread and fiber */
    cr_assert_leq(maps1, maps0 + 2 + 2 * 4, "maps %d -> %d after the first run", maps0, maps1);
    cr_assert_leq(maps2, maps1 + 4, "maps %d -> %d after the second run", maps1, maps2);
#else
    (void)maps0, (void)maps1, (void)maps2;
#endif
    cr_assert_null(gort_getg(), "g left set after gort_main");
}

static int args_argc = -1;
static char **args_argv;
static int args_null_argc = -1;

static void args_main(void *arg)
{
    (void)arg;
    args_argc = gort_args(&args_argv);
    args_null_argc = gort_args(NULL);
}

Test(entry, gort_args_returns_what_gort_main_got)
{
    char *argv[] = {"prog", "-x", "file", NULL};
    char **v = (char **)1;
    cr_assert_eq(gort_args(&v), 0, "argc before gort_main");
    cr_assert_null(v);
    cr_assert_eq(gort_main(3, argv, args_main, NULL), 0);
    cr_assert_eq(args_argc, 3);
    cr_assert_eq(args_null_argc, 3);
    cr_assert_eq(args_argv, argv);
    v = (char **)1;
    cr_assert_eq(gort_args(&v), 0, "argc after gort_main returned");
    cr_assert_null(v, "argv after gort_main returned");
}

/* ---- teardown --------------------------------------------------------- */

static void user_segv(int sig, siginfo_t *si, void *ctx)
{
    (void)sig, (void)si, (void)ctx;
}

Test(entry, signal_handlers_and_altstack_restored)
{
    struct sigaction sa, cur;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = user_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGSEGV, &sa, NULL), 0);
    stack_t ss0;
    cr_assert_eq(sigaltstack(NULL, &ss0), 0);

    cr_assert_eq(run_main(noop_main, NULL), 0);

    cr_assert_eq(sigaction(SIGSEGV, NULL, &cur), 0);
    cr_assert(cur.sa_sigaction == user_segv, "SIGSEGV handler not restored");
    stack_t ss1;
    cr_assert_eq(sigaltstack(NULL, &ss1), 0);
    cr_assert_eq(ss1.ss_flags & SS_DISABLE, ss0.ss_flags & SS_DISABLE,
                 "signal stack left installed");
}

static int main_round_seen = -1;

static void fp_main(void *arg)
{
    (void)arg;
    main_round_seen = fegetround();
    fesetround(FE_UPWARD);
}

Test(entry, caller_fp_control_state_survives_gort_main)
{
    cr_assert_eq(fesetround(FE_DOWNWARD), 0);
    cr_assert_eq(run_main(fp_main, NULL), 0);
    int after = fegetround();
    fesetround(FE_TONEAREST);
    cr_assert_eq(main_round_seen, FE_TONEAREST, "the main goroutine inherited the caller's mode");
    cr_assert_eq(after, FE_DOWNWARD, "the caller's rounding mode was not restored");
}

/* ---- errno ------------------------------------------------------------ */

static __attribute__((noinline)) int read_errno(void)
{
    __asm__ volatile("" ::: "memory");
    return errno;
}

static int errno_a_after = -1, errno_b_seen = -1, errno_b_after = -1;
static int errno_parent_after_go = -1;
static int errno_done;

static void errno_a(void *arg)
{
    (void)arg;
    errno = 123;
    gort_yield();
    errno_a_after = read_errno();
    errno_done++;
}

static void errno_b(void *arg)
{
    (void)arg;
    errno_b_seen = read_errno();
    errno = 7;
    gort_yield();
    errno_b_after = read_errno();
    errno_done++;
}

static void errno_child(void *arg)
{
    (void)arg;
    errno = 9;
}

static void errno_main(void *arg)
{
    (void)arg;
    errno = 55;
    gort_go(errno_child, NULL);
    errno_parent_after_go = read_errno();
    gort_go(errno_a, NULL);
    gort_go(errno_b, NULL);
    while (errno_done < 2)
        gort_yield();
}

Test(entry, errno_is_per_goroutine)
{
    cr_assert_eq(run_main(errno_main, NULL), 0);
    cr_assert_eq(errno_parent_after_go, 55, "a child's errno leaked into its parent");
    cr_assert_eq(errno_b_seen, 0, "a new goroutine starts with errno %d", errno_b_seen);
    cr_assert_eq(errno_a_after, 123, "goroutine A sees errno %d", errno_a_after);
    cr_assert_eq(errno_b_after, 7, "goroutine B sees errno %d", errno_b_after);
}
