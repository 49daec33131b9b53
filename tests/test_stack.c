/*
 * test_stack.c - goroutine stacks (src/stack.c) and the fault handler
 * (src/signal.c).
 *
 * Covers: stack overflow reports (default, custom and GORT_STACKSIZE
 * sizes, goroutines and the main goroutine); SIGSEGV chaining to a host's
 * handler or to the default action for faults that are not guard hits;
 * guard pages below every live stack (and below freed ones); stack reuse
 * (hot and cold lists, no new mappings); freed stacks kept resident for
 * the next wave and scavenged once idle; the mprotect fallback
 * (GORT_DEBUG=guard=mprotect); and that 20,000 live goroutines cost few
 * mappings with MADV_GUARD_INSTALL.
 *
 * Why: a goroutine that runs off its stack must die loudly, never scribble
 * over a neighbour; and a process must be able to hold many goroutines
 * without running into the kernel's map limit.
 *
 * Scenarios that end the process run in a forked child (util.h run_child).
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "runtime.h"
#include "util.h"

/* Reuse and release are per-P caches in front of shared lists: one P
 * makes "the next goroutine gets the stack just freed" exact. */
static void one_p(void)
{
    setenv("GORT_MAXPROCS", "1", 1);
}

TestSuite(stack, .timeout = 90, .init = one_p);

static char out[8192];

/* ---- the descriptor -------------------------------------------------- */

#define NDESC 300

static gort_g desc_copy[NDESC + 1];
static gort_g *desc_ptr[NDESC + 1];

static void desc_record(void *arg)
{
    int i = (int)(intptr_t)arg;
    desc_ptr[i] = gort_getg();
    desc_copy[i] = *desc_ptr[i];
    gort_yield();
}

static void desc_main(void *arg)
{
    (void)arg;
    gort_go_options o = {.stack_size = 40 * 1024};
    desc_ptr[0] = gort_getg();
    desc_copy[0] = *desc_ptr[0];
    for (intptr_t i = 1; i <= NDESC; i++)
        gort_go_opts(desc_record, (void *)i, i % 2 ? &o : NULL);
    gort_yield();
}

/* The copies read the whole descriptor, preempt flag included, which
 * sysmon may set from its thread (seen under TSan, where the spawning
 * loop outlasts a 10 ms time slice): no preemption here. */
static void one_p_no_preemption(void)
{
    one_p();
    setenv("GORT_DEBUG", "preemptoff=1", 1);
}

/* What the cgo ABI promises a host about any goroutine's first words. */
Test(stack, descriptor_bounds_are_consistent, .init = one_p_no_preemption)
{
    cr_assert_eq(run_main(desc_main, NULL), 0);
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i <= NDESC; i++) {
        gort_g *g = &desc_copy[i];
        size_t want = i == 0 || i % 2 == 0 ? GORT_STACK_DEFAULT : 40 * 1024;
        cr_assert_neq(g->stack_lo, 0, "goroutine %lld: stack_lo is 0", (long long)g->id);
        cr_assert_eq(g->stack_lo % pg, 0, "goroutine %lld: stack_lo %#lx", (long long)g->id,
                     (unsigned long)g->stack_lo);
        cr_assert_eq(g->stack_hi, (uintptr_t)desc_ptr[i], "the descriptor tops the stack");
        cr_assert_geq(g->stack_hi - g->stack_lo, want - 256);
        cr_assert_lt(g->stack_hi - g->stack_lo, want);
        cr_assert_eq(g->stackguard0, g->stack_lo + GORT_STACK_GUARD);
        cr_assert_eq(g->stackguard1, g->stack_lo + GORT_STACK_GUARD);
        cr_assert_eq(g->id, i + 1);
    }
}

/* ---- overflow --------------------------------------------------------- */

static volatile int keep_going = 1;

static __attribute__((noinline)) int recurse(int n)
{
    volatile char buf[1024];
    buf[0] = (char)n;
    buf[sizeof buf - 1] = (char)n;
    if (keep_going)
        n += recurse(n + 1);
    return n + buf[0] + buf[sizeof buf - 1];
}

static void noop(void *arg)
{
    (void)arg;
}

static void overflowing(void *arg)
{
    (void)arg;
    fprintf(stderr, "id=%lld\n", (long long)gort_id());
    recurse(0);
}

static size_t overflow_stack_size;

static void overflow_main(void *arg)
{
    (void)arg;
    gort_go(noop, NULL);
    gort_go(noop, NULL);
    gort_go_options o = {.stack_size = overflow_stack_size};
    gort_go_opts(overflowing, NULL, &o);
}

static void overflow_child(void)
{
    run_main(overflow_main, NULL);
}

static void overflow_main_goroutine_child(void)
{
    run_main(overflowing, NULL);
}

/* Runs fn in a child, expects exit 2 with the overflow report for the
 * goroutine that printed "id=N" and the given stack size. */
static void expect_overflow(void (*fn)(void), long long want_id, unsigned kib)
{
    int st = run_child(fn, out, sizeof out);
    cr_assert_eq(st, 2, "status %d, output:\n%s", st, out);
    const char *p = strstr(out, "id=");
    cr_assert_not_null(p, "the goroutine did not start:\n%s", out);
    long long id = strtoll(p + 3, NULL, 10);
    cr_assert_eq(id, want_id, "overflowing goroutine has id %lld", id);
    char want[128];
    snprintf(want, sizeof want, "gort: goroutine %lld stack overflow (stack %u KiB)\n", id, kib);
    cr_assert_not_null(strstr(out, want), "want \"%s\" in:\n%s", want, out);
}

Test(stack, overflow_is_reported_with_id_and_size)
{
    overflow_stack_size = 0;
    expect_overflow(overflow_child, 4, 256);
}

Test(stack, overflow_of_a_64k_stack)
{
    overflow_stack_size = 64 * 1024;
    expect_overflow(overflow_child, 4, 64);
}

Test(stack, overflow_of_the_main_goroutine)
{
    expect_overflow(overflow_main_goroutine_child, 1, 256);
}

Test(stack, overflow_with_gort_stacksize_env)
{
    setenv("GORT_STACKSIZE", "96K", 1);
    overflow_stack_size = 0;
    expect_overflow(overflow_child, 4, 96);
    expect_overflow(overflow_main_goroutine_child, 1, 96);
}

/* ---- non-guard faults are chained ------------------------------------- */

static int *volatile nullp;

static void null_write(void *arg)
{
    (void)arg;
    *nullp = 1;
}

static void null_write_main(void *arg)
{
    (void)arg;
    gort_go(null_write, NULL);
}

static void null_write_child(void)
{
    signal(SIGSEGV, SIG_DFL);
    run_main(null_write_main, NULL);
}

Test(stack, plain_segv_kills_the_process_by_sigsegv)
{
#ifdef GORT_ASAN
    cr_skip("under UBSan the deliberate NULL store is reported (and exits) before it faults");
#endif
    int st = run_child(null_write_child, out, sizeof out);
    cr_assert_eq(st, -SIGSEGV, "status %d (want killed by SIGSEGV), output:\n%s", st, out);
    cr_assert_null(strstr(out, "overflow"), "a NULL write was reported as an overflow");
}

static void host_siginfo_handler(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    _exit(sig == SIGSEGV && si->si_addr == NULL ? 77 : 78);
}

static void host_plain_handler(int sig)
{
    _exit(sig == SIGSEGV ? 79 : 80);
}

static void install_host_handler(int siginfo)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (siginfo) {
        sa.sa_sigaction = host_siginfo_handler;
        sa.sa_flags = SA_SIGINFO;
    } else {
        sa.sa_handler = host_plain_handler;
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
}

static void host_siginfo_child(void)
{
    install_host_handler(1);
    run_main(null_write_main, NULL);
}

static void host_plain_child(void)
{
    install_host_handler(0);
    run_main(null_write_main, NULL);
}

static void host_handler_then_overflow_child(void)
{
    install_host_handler(1);
    overflow_stack_size = 0;
    run_main(overflow_main, NULL);
}

Test(stack, host_siginfo_handler_gets_non_guard_faults)
{
#ifdef GORT_ASAN
    cr_skip("under UBSan the deliberate NULL store is reported (and exits) before it faults");
#endif
    int st = run_child(host_siginfo_child, out, sizeof out);
    cr_assert_eq(st, 77, "status %d, output:\n%s", st, out);
}

Test(stack, host_plain_handler_gets_non_guard_faults)
{
#ifdef GORT_ASAN
    cr_skip("under UBSan the deliberate NULL store is reported (and exits) before it faults");
#endif
    int st = run_child(host_plain_child, out, sizeof out);
    cr_assert_eq(st, 79, "status %d, output:\n%s", st, out);
}

Test(stack, guard_hits_are_not_passed_to_the_host_handler)
{
    int st = run_child(host_handler_then_overflow_child, out, sizeof out);
    cr_assert_eq(st, 2, "status %d, output:\n%s", st, out);
    cr_assert_not_null(strstr(out, "stack overflow (stack 256 KiB)"), "output:\n%s", out);
}

/* ---- guard pages ------------------------------------------------------ */

#define NGUARDED 5

static volatile char *touch_addr;
static int parked_stop, parked_done;
static gort_g *parked_g[NGUARDED];

static void touch_write(void)
{
    *touch_addr = 1;
}

static void touch_read(void)
{
    (void)*touch_addr;
}

static void parked(void *arg)
{
    gort_g **slot = arg;
    if (slot)
        *slot = gort_getg();
    while (!parked_stop)
        gort_yield();
    parked_done++;
}

static struct guard_result {
    int st;
    char msg[512];
} guard_res[NGUARDED][2], own_res, lo_res, free_res;
static long long guard_ids[NGUARDED];

static void check_guard(struct guard_result *r, void (*fn)(void), volatile char *addr)
{
    touch_addr = addr;
    r->st = run_child(fn, r->msg, sizeof r->msg);
}

static void guard_main(void *arg)
{
    (void)arg;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    gort_go_options small = {.stack_size = 64 * 1024};
    for (int i = 0; i < NGUARDED; i++)
        gort_go_opts(parked, &parked_g[i], i % 2 ? &small : NULL);
    for (int i = 0; i < NGUARDED; i++) {
        guard_ids[i] = parked_g[i]->id;
        char *lo = (char *)parked_g[i]->stack_lo;
        check_guard(&guard_res[i][0], touch_write, lo - 1);
        check_guard(&guard_res[i][1], touch_read, lo - pg);
    }
    char *mylo = (char *)gort_getg()->stack_lo;
    check_guard(&own_res, touch_write, mylo - 8);
    check_guard(&lo_res, touch_write, (char *)parked_g[0]->stack_lo);

    char *freed_lo = (char *)parked_g[1]->stack_lo;
    parked_stop = 1;
    while (parked_done < NGUARDED)
        gort_yield();
    check_guard(&free_res, touch_write, freed_lo - 1);
}

Test(stack, every_live_stack_has_a_guard_page_below_it)
{
    cr_assert_eq(run_main(guard_main, NULL), 0);
    for (int i = 0; i < NGUARDED; i++) {
        char want[128];
        snprintf(want, sizeof want,
                 "gort: goroutine 1 touched the guard page of goroutine %lld's stack",
                 guard_ids[i]);
        for (int k = 0; k < 2; k++) {
            struct guard_result *r = &guard_res[i][k];
            cr_assert_eq(r->st, 2, "goroutine %lld guard (%s): status %d, output:\n%s",
                         guard_ids[i], k ? "read" : "write", r->st, r->msg);
            cr_assert_not_null(strstr(r->msg, want), "want \"%s\" in:\n%s", want, r->msg);
            cr_assert_not_null(strstr(r->msg, i % 2 ? "(stack 64 KiB)" : "(stack 256 KiB)"),
                               "%s", r->msg);
        }
    }
    cr_assert_eq(own_res.st, 2, "own guard: status %d, output:\n%s", own_res.st, own_res.msg);
    cr_assert_not_null(strstr(own_res.msg, "gort: goroutine 1 stack overflow"), "%s", own_res.msg);
    cr_assert_eq(lo_res.st, 0, "stack_lo itself is not usable: status %d\n%s",
                 lo_res.st, lo_res.msg);
    cr_assert_eq(free_res.st, 2, "freed stack's guard: status %d, output:\n%s",
                 free_res.st, free_res.msg);
    cr_assert_not_null(strstr(free_res.msg, "guard page of a free goroutine stack"),
                       "%s", free_res.msg);
}

/* ---- reuse ------------------------------------------------------------ */

#define NSEQ 10000
#define NWAVE 2000

static uintptr_t seq_lo[NSEQ];
static int maps_before = -1, maps_after = -1;
static int wave_maps[2] = {-1, -1};
static uintptr_t wave_lo[2][NWAVE];
static gort_g *wave_g[NWAVE];

static void record_lo(void *arg)
{
    *(uintptr_t *)arg = gort_getg()->stack_lo;
}

static void wave(int w)
{
    parked_stop = 0;
    parked_done = 0;
    for (int i = 0; i < NWAVE; i++)
        gort_go(parked, &wave_g[i]);
    for (int i = 0; i < NWAVE; i++)
        wave_lo[w][i] = wave_g[i]->stack_lo;
    parked_stop = 1;
    while (parked_done < NWAVE)
        gort_yield();
    wave_maps[w] = maps_count();
}

static void reuse_main(void *arg)
{
    (void)arg;
    uintptr_t warm;
    gort_go(record_lo, &warm);
    /* Let the runtime's own threads (sysmon) finish mapping their
     * signal stacks first. */
    gort_sleep(20 * GORT_MILLISECOND);
    maps_before = maps_count();
    for (int i = 0; i < NSEQ; i++)
        gort_go(record_lo, &seq_lo[i]);
    maps_after = maps_count();
    wave(0);
    wave(1);
}

static int cmpu(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

Test(stack, stacks_are_reused)
{
    cr_assert_eq(run_main(reuse_main, NULL), 0);
    cr_assert_gt(maps_before, 0);
    cr_assert_neq(seq_lo[0], 0, "stack_lo is 0");
#ifndef GORT_TSAN   /* TSan maps memory for goroutines' fibers: the count says nothing there */
    cr_assert_leq(maps_after, maps_before + 1, "maps %d -> %d over %d short-lived goroutines",
                  maps_before, maps_after, NSEQ);
#endif
    for (int i = 1; i < NSEQ; i++)
        if (seq_lo[i] != seq_lo[0])
            cr_assert_fail("goroutine %d got stack %#lx, its predecessor %#lx", i,
                           (unsigned long)seq_lo[i], (unsigned long)seq_lo[0]);
    /* The second wave runs entirely on the first wave's stacks (hot and
     * cold ones) and maps nothing new. */
#ifndef GORT_TSAN
    cr_assert_leq(wave_maps[1], wave_maps[0] + 1, "maps %d -> %d", wave_maps[0], wave_maps[1]);
#endif
    qsort(wave_lo[0], NWAVE, sizeof(uintptr_t), cmpu);
    cr_assert_neq(wave_lo[0][0], 0, "stack_lo is 0");
    for (int i = 1; i < NWAVE; i++)
        if (wave_lo[0][i] == wave_lo[0][i - 1])
            cr_assert_fail("two live goroutines share stack %#lx", (unsigned long)wave_lo[0][i]);
    for (int i = 0; i < NWAVE; i++)
        if (!bsearch(&wave_lo[1][i], wave_lo[0], NWAVE, sizeof(uintptr_t), cmpu))
            cr_assert_fail("second-wave goroutine %d got a new stack %#lx", i,
                           (unsigned long)wave_lo[1][i]);
}

/* ---- freed stacks stay resident for a wave, then go back -------------- */

#define NCOLD 2000
#define TOUCH (128 * 1024)

static long rss_alive = -1, rss_exited = -1, rss_after = -1;
static long wave_faults = -1;

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static __attribute__((noinline)) void touch_stack(void)
{
    volatile char buf[TOUCH];
    for (size_t i = 0; i < sizeof buf; i += 1024)
        buf[i] = 1;
}

static void touching(void *arg)
{
    (void)arg;
    touch_stack();
    while (!parked_stop)
        gort_yield();
    parked_done++;
}

/* NCOLD goroutines that each touch TOUCH bytes of stack, all alive at
 * once; returns when every one has exited. */
static void touching_wave(void)
{
    parked_stop = 0;
    parked_done = 0;
    for (int i = 0; i < NCOLD; i++)
        gort_go(touching, NULL);
    rss_alive = rss_bytes();
    parked_stop = 1;
    while (parked_done < NCOLD)
        gort_yield();
}

static void waves_main(void *arg)
{
    (void)arg;
    touching_wave();
    rss_exited = rss_bytes();
    long f0 = minor_faults();
    touching_wave();
    wave_faults = minor_faults() - f0;
    /* Now idle: the scavenger (every 500 ms) gives back what stays unused
     * for a whole period.  Allow it a few periods. */
    for (int i = 0; i < 60; i++) {
        gort_sleep(100 * GORT_MILLISECOND);
        rss_after = rss_bytes();
        if (rss_alive - rss_after > 1500L * TOUCH)
            break;
    }
}

Test(stack, freed_stacks_stay_resident_for_the_next_wave_then_go_back)
{
#ifdef GORT_TSAN
    cr_skip_test("RSS and page faults under TSan count its shadow of every stack page too");
#endif
    cr_assert_eq(run_main(waves_main, NULL), 0);
    cr_assert_gt(rss_alive, (long)NCOLD * TOUCH, "the stacks were not touched? rss %ld",
                 rss_alive);
    /* Freeing gives nothing back at once: a second wave right after the
     * first finds its stacks resident and takes (almost) no page faults,
     * where fresh memory would take NCOLD * TOUCH / 4 KiB = 64,000. */
    cr_assert_gt(rss_exited, rss_alive - 100L * TOUCH, "rss %ld -> %ld on exit", rss_alive,
                 rss_exited);
    cr_assert_lt(wave_faults, 2000L, "the second wave took %ld page faults", wave_faults);
    /* Idle, the scavenger releases all but a small reserve: well over
     * 1500 x 128 KiB must go back. */
    long dropped = rss_alive - rss_after;
    cr_assert_gt(dropped, 1500L * TOUCH, "rss %ld -> %ld: only %ld KiB released", rss_alive,
                 rss_after, dropped / 1024);
}

/* ---- the mprotect fallback -------------------------------------------- */

#define NMPROTECT 3000

static int mp_maps0 = -1, mp_maps1 = -1;
static struct guard_result mp_guard;
static int64_t mp_last_id;

static void mprotect_main(void *arg)
{
    (void)arg;
    gort_g *g = NULL;
    mp_maps0 = maps_count();
    parked_stop = 0;
    parked_done = 0;
    for (int i = 0; i < NMPROTECT; i++)
        gort_go(parked, i == NMPROTECT / 2 ? &g : NULL);
    mp_maps1 = maps_count();
    mp_last_id = g ? g->id : -1;
    if (g)
        check_guard(&mp_guard, touch_write, (char *)g->stack_lo - 1);
    parked_stop = 1;
    while (parked_done < NMPROTECT)
        gort_yield();
}

Test(stack, mprotect_guard_fallback_works)
{
    setenv("GORT_DEBUG", "guard=mprotect", 1);
    cr_assert_eq(run_main(mprotect_main, NULL), 0);
    cr_assert_eq(parked_done, NMPROTECT);
    /* mprotect splits the slab around every guard: about two maps each. */
    cr_assert_geq(mp_maps1 - mp_maps0, NMPROTECT, "maps %d -> %d: guards are not mprotect'ed",
                  mp_maps0, mp_maps1);
    cr_assert_eq(mp_guard.st, 2, "status %d, output:\n%s", mp_guard.st, mp_guard.msg);
    char want[128];
    snprintf(want, sizeof want, "touched the guard page of goroutine %lld's stack",
             (long long)mp_last_id);
    cr_assert_not_null(strstr(mp_guard.msg, want), "%s", mp_guard.msg);
}

/* ---- many live goroutines, few mappings -------------------------------- */

#define NLIVE 20000

static int live_maps0 = -1, live_maps1 = -1;

static void live_main(void *arg)
{
    (void)arg;
    live_maps0 = maps_count();
    parked_stop = 0;
    parked_done = 0;
    for (int i = 0; i < NLIVE; i++)
        if (gort_go(parked, NULL) <= 0)
            break;
    live_maps1 = maps_count();
    parked_stop = 1;
    while (parked_done < NLIVE)
        gort_yield();
}

Test(stack, twenty_thousand_live_goroutines_use_few_mappings)
{
#ifdef GORT_TSAN
    cr_skip_test("a count of mappings, which TSan's own per-fiber memory swamps, of more live "
                 "goroutines than TSan allows fibers (8128)");
#endif
    if (!guard_madvise_supported())
        cr_skip_test("this kernel has no MADV_GUARD_INSTALL");
    cr_assert_eq(run_main(live_main, NULL), 0);
    cr_assert_eq(parked_done, NLIVE);
    cr_assert_lt(live_maps1, 1000, "%d mappings with %d live goroutines (%d before)",
                 live_maps1, NLIVE, live_maps0);
    cr_assert_lt(live_maps1 - live_maps0, 100, "maps %d -> %d", live_maps0, live_maps1);
}

/* ---- GORT_STACKSIZE --------------------------------------------------- */

static uintptr_t env_span, env_main_span;

static void env_record(void *arg)
{
    (void)arg;
    env_span = gort_getg()->stack_hi - gort_getg()->stack_lo;
}

static void env_main(void *arg)
{
    (void)arg;
    env_main_span = gort_getg()->stack_hi - gort_getg()->stack_lo;
    gort_go(env_record, NULL);
}

Test(stack, gort_stacksize_sets_the_default)
{
    setenv("GORT_STACKSIZE", "128K", 1);
    cr_assert_eq(run_main(env_main, NULL), 0);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    cr_assert(env_span >= 128 * 1024 - 256 && env_span < 128 * 1024 + pg, "span %lu",
              (unsigned long)env_span);
    cr_assert(env_main_span >= 128 * 1024 - 256 && env_main_span < 128 * 1024 + pg,
              "main goroutine span %lu", (unsigned long)env_main_span);
}
