/*
 * test_mn.c - the M:N scheduler: goroutines on GORT_MAXPROCS Ps over
 * several OS threads (src/sched.c, src/runq.c, src/sysmon.c, src/proc.c).
 *
 * Covers: a spawn/yield/channel stress tree at 2 and 4 Ps with exact
 * totals; work stealing; gort_lock_os_thread (same thread, exclusive
 * thread, nesting, a wired goroutine that exits takes its thread, also on
 * the main thread); threads made through a host's _cgo_thread_start (exact
 * and Go-style stack bounds); a thread that cannot be created is reported
 * and the program carries on; a million guarded goroutines alive at once;
 * deadlock reports and the absence of false ones (sleepers, timers, wired
 * goroutines); an idle runtime uses no CPU; errno and the current-g slot
 * follow a goroutine across threads; GORT_DEBUG=schedtrace; GORT_MAXPROCS;
 * sysmon's preemption request honoured at gort_go.
 *
 * Goroutines run in parallel here: every counter they share is atomic, and
 * nothing is asserted on a goroutine (Criterion's asserts must run on the
 * test's own thread): results are recorded, then checked once gort_main
 * has returned.  Scenarios that end the process (fatal errors, deadlock)
 * run in a forked child (util.h run_child) with an alarm, so a hang fails
 * fast instead of at the suite timeout.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"
#include "util.h"

TestSuite(mn, .timeout = 60);

/* ---- helpers ---------------------------------------------------------- */

static pid_t tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static void procs(const char *n)
{
    setenv("GORT_MAXPROCS", n, 1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Burn CPU without calling into gort. */
static void spin_ns(int64_t ns)
{
    int64_t end = now_ns() + ns;
    while (now_ns() < end)
        ;
}

/* Threads in this process now. */
static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static bool task_exists(pid_t t)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d", (int)t);
    return access(path, F_OK) == 0;
}

/* Wait (sleeping, so other goroutines run) until *ctr >= want; false if
 * that takes longer than timeout_ns. */
static bool wait_for(_Atomic int64_t *ctr, int64_t want, int64_t timeout_ns)
{
    int64_t end = now_ns() + timeout_ns;
    while (atomic_load(ctr) < want) {
        if (now_ns() > end)
            return false;
        gort_sleep(GORT_MILLISECOND);
    }
    return true;
}

/* Wait until only the caller is alive (every other goroutine has fully
 * exited); returns the last count seen. */
static int64_t wait_alone(int64_t timeout_ns)
{
    int64_t end = now_ns() + timeout_ns;
    gort_stats st;
    for (;;) {
        gort_stats_get(&st);
        if (st.goroutines <= 1 || now_ns() > end)
            return st.goroutines;
        gort_sleep(GORT_MILLISECOND);
    }
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static char out[65536];

/* A child whose runtime hangs is killed by SIGALRM instead of holding the
 * suite until its timeout. */
static unsigned child_alarm_secs = 10;
static void (*child_body)(void);

static void child_wrapper(void)
{
    alarm(child_alarm_secs);
    child_body();
}

static int run_guarded(void (*fn)(void), unsigned secs)
{
    child_alarm_secs = secs;
    child_body = fn;
    return run_child(child_wrapper, out, sizeof out);
}

/* ---- 1. stress: a spawn tree with yields and channel hand-offs --------- */

#define ST_FANOUT 4
#define ST_DEPTH 6                      /* 1 + 4 + ... + 4^6 nodes */
#define ST_NODES 5461
#define ST_LEAVES 4096
#define ST_ECHOES 6                     /* round trips per leaf */
#define ST_PER_ROUND (ST_NODES + ST_LEAVES + 1)   /* + echoes + collector */
#define ST_MAX_ROUNDS 64

static gort_chan *st_results;
static _Atomic int64_t st_nodes, st_done, st_idsum_sent, st_bad, st_dup, st_echo_bad;
static _Atomic int64_t st_spawn_fail, st_yields;
static _Atomic uint8_t *st_seen;
static int64_t st_seen_n;
static int64_t st_idsum_recv, st_recv_count;   /* the collector's alone */
static int st_rounds, st_round_fail = -1;
static int64_t st_left_alive = -1;
static uint64_t st_created, st_created_before;
static int64_t st_created_expect;
static const char *st_round_why;
static _Atomic int64_t st_per_p[8];   /* nodes run by each P */

static void st_maybe_yield(uint64_t *r)
{
    if (xorshift(r) % 3 == 0) {
        atomic_fetch_add(&st_yields, 1);
        gort_yield();
    }
}

static void st_echo(void *arg)
{
    gort_chan *c = arg;
    int64_t v;
    while (gort_chan_recv(c, &v)) {
        int64_t w = v + 1;
        gort_chan_send(c, &w);
    }
    gort_chan_release(c);
}

static void st_node(void *arg)
{
    int depth = (int)(intptr_t)arg;
    int64_t id = gort_id();
    uint64_t r = (uint64_t)id * 0x9E3779B97F4A7C15ull | 1;

    atomic_fetch_add(&st_nodes, 1);
    atomic_fetch_add(&st_per_p[gort_getg()->m->p->id & 7], 1);
    if (id < 2 || id >= st_seen_n)
        atomic_fetch_add(&st_bad, 1);
    else if (atomic_fetch_add(&st_seen[id], 1) != 0)
        atomic_fetch_add(&st_dup, 1);
    st_maybe_yield(&r);
    if (depth < ST_DEPTH) {
        for (int i = 0; i < ST_FANOUT; i++) {
            if (gort_go(st_node, (void *)(intptr_t)(depth + 1)) <= 0)
                atomic_fetch_add(&st_spawn_fail, 1);
            st_maybe_yield(&r);
        }
    } else {
        /* A leaf talks to a goroutine of its own over an unbuffered
         * channel: every message is a hand-off between two goroutines
         * that may sit on different Ps. */
        gort_chan *c = gort_chan_new(sizeof(int64_t), 0);
        if (gort_go(st_echo, gort_chan_retain(c)) <= 0)
            atomic_fetch_add(&st_spawn_fail, 1);
        for (int k = 0; k < ST_ECHOES; k++) {
            int64_t v = id * 100 + k, w = 0;
            gort_chan_send(c, &v);
            if (!gort_chan_recv(c, &w) || w != v + 1)
                atomic_fetch_add(&st_echo_bad, 1);
            st_maybe_yield(&r);
        }
        gort_chan_close(c);
        gort_chan_release(c);
    }
    atomic_fetch_add(&st_idsum_sent, id);
    gort_chan_send(st_results, &id);   /* blocks while the buffer is full */
    st_maybe_yield(&r);
    atomic_fetch_add(&st_done, 1);
}

static void st_collector(void *arg)
{
    gort_chan *done = arg;
    for (int i = 0; i < ST_NODES; i++) {
        int64_t v;
        if (!gort_chan_recv(st_results, &v))
            break;
        st_idsum_recv += v;
        st_recv_count++;
    }
    int one = 1;
    gort_chan_send(done, &one);
}

static const char *st_round(void)
{
    atomic_store(&st_nodes, 0);
    atomic_store(&st_done, 0);
    atomic_store(&st_idsum_sent, 0);
    st_idsum_recv = 0;
    st_recv_count = 0;
    gort_chan *done = gort_chan_new(sizeof(int), 0);
    if (gort_go(st_collector, done) <= 0 || gort_go(st_node, (void *)(intptr_t)0) <= 0)
        return "spawn failed";
    int one = 0;
    gort_chan_recv(done, &one);
    gort_chan_release(done);
    if (!wait_for(&st_done, ST_NODES, 20 * GORT_SECOND))
        return "not every node finished";
    if (atomic_load(&st_nodes) != ST_NODES)
        return "wrong number of nodes ran";
    if (st_recv_count != ST_NODES)
        return "the collector did not get one value per node";
    if (st_idsum_recv != atomic_load(&st_idsum_sent))
        return "the ids received differ from the ids sent";
    if (wait_alone(10 * GORT_SECOND) != 1)
        return "goroutines left alive after the round";
    return NULL;
}

static void st_main(void *arg)
{
    (void)arg;
    gort_stats st;
    gort_stats_get(&st);
    st_created_before = st.goroutines_created;
    st_results = gort_chan_new(sizeof(int64_t), 16);
    int64_t end = now_ns() + 900 * GORT_MILLISECOND;
    do {
        const char *why = st_round();
        if (why) {
            st_round_fail = st_rounds;
            st_round_why = why;
            break;
        }
        st_rounds++;
    } while (st_rounds < 2 || (now_ns() < end && st_rounds < ST_MAX_ROUNDS));
    gort_chan_release(st_results);
    st_left_alive = wait_alone(10 * GORT_SECOND);
    gort_stats_get(&st);
    st_created = st.goroutines_created - st_created_before;
    st_created_expect = (int64_t)st_rounds * ST_PER_ROUND;
}

static void stress(const char *np)
{
    procs(np);
    st_seen_n = (int64_t)ST_MAX_ROUNDS * ST_PER_ROUND + 64 * 1024;
    st_seen = calloc((size_t)st_seen_n, 1);
    cr_assert_not_null(st_seen);
    cr_assert_eq(run_main(st_main, NULL), 0);
    cr_assert_eq(st_round_fail, -1, "round %d: %s (nodes %lld, done %lld, received %lld)",
                 st_round_fail, st_round_why ? st_round_why : "",
                 (long long)atomic_load(&st_nodes), (long long)atomic_load(&st_done),
                 (long long)st_recv_count);
    cr_assert_geq(st_rounds, 2);
    cr_assert_eq(atomic_load(&st_spawn_fail), 0, "gort_go failed");
    cr_assert_eq(atomic_load(&st_bad), 0, "ids out of range");
    cr_assert_eq(atomic_load(&st_dup), 0, "an id was seen twice");
    cr_assert_eq(atomic_load(&st_echo_bad), 0, "echo replies wrong");
    cr_assert_gt(atomic_load(&st_yields), 0);
    cr_assert_eq(st_left_alive, 1, "%lld goroutines alive at the end", (long long)st_left_alive);
    cr_assert_eq((int64_t)st_created, st_created_expect, "created %llu goroutines, want %lld",
                 (unsigned long long)st_created, (long long)st_created_expect);
    int ps = 0;
    for (int i = 0; i < 8; i++)
        ps += atomic_load(&st_per_p[i]) > 0;
    cr_assert_geq(ps, 2, "all the nodes ran on one P");
    cr_log_info("stress at GORT_MAXPROCS=%s: %d rounds of %d goroutines, nodes per P "
                "%lld %lld %lld %lld", np, st_rounds, ST_PER_ROUND, (long long)st_per_p[0],
                (long long)st_per_p[1], (long long)st_per_p[2], (long long)st_per_p[3]);
    free(st_seen);
}

Test(mn, stress_tree_2_procs)
{
    stress("2");
}

Test(mn, stress_tree_4_procs)
{
    stress("4");
}

/* ---- 2. work stealing ------------------------------------------------- */

#define WS_N 1000
#define WS_STEPS 4

static pid_t ws_tid[WS_N][WS_STEPS];
static _Atomic int64_t ws_done;
static gort_stats ws_stats;
static bool ws_finished;

static void ws_worker(void *arg)
{
    intptr_t i = (intptr_t)arg;
    for (int k = 0; k < WS_STEPS; k++) {
        spin_ns(100 * 1000);
        ws_tid[i][k] = tid();
        gort_yield();
    }
    atomic_fetch_add(&ws_done, 1);
}

static void ws_main(void *arg)
{
    (void)arg;
    for (intptr_t i = 0; i < WS_N; i++)
        gort_go(ws_worker, (void *)i);
    ws_finished = wait_for(&ws_done, WS_N, 30 * GORT_SECOND);
    gort_stats_get(&ws_stats);
}

static int count_distinct(pid_t *v, size_t n)
{
    int distinct = 0;
    pid_t seen[64];
    for (size_t i = 0; i < n; i++) {
        if (v[i] == 0)
            continue;
        int j;
        for (j = 0; j < distinct; j++)
            if (seen[j] == v[i])
                break;
        if (j == distinct && distinct < 64)
            seen[distinct++] = v[i];
    }
    return distinct;
}

Test(mn, work_is_stolen_by_an_idle_p)
{
    procs("2");
    cr_assert_eq(run_main(ws_main, NULL), 0);
    cr_assert(ws_finished, "only %lld of %d goroutines finished", (long long)ws_done, WS_N);
    cr_assert_gt(ws_stats.steals, 0, "no steals");
    cr_assert_geq(ws_stats.stolen, ws_stats.steals);
    int d = count_distinct(&ws_tid[0][0], WS_N * WS_STEPS);
    cr_assert_geq(d, 2, "goroutines ran on %d thread(s)", d);
}

/* ---- 3. gort_lock_os_thread ------------------------------------------- */

#define LK_ITERS 300
#define LK_OTHERS 24

static _Atomic pid_t lk_tid;
static _Atomic bool lk_active, lk_stop;
static _Atomic int64_t lk_moved, lk_violations, lk_other_iters, lk_other_iters_active;
static _Atomic int64_t lk_bad_value, lk_others_done;
static gort_chan *lk_ping, *lk_pong;
static bool lk_finished;

/* A goroutine other than the wired one: it must never be on the wired
 * thread while the wiring holds.  The tid is read before the flag, with
 * no switch in between: if the flag is still up, the wired goroutine was
 * wired at that instant, so this thread is not its thread. */
static void lk_check(void)
{
    pid_t t = tid();
    if (atomic_load(&lk_active)) {
        atomic_fetch_add(&lk_other_iters_active, 1);
        if (t == atomic_load(&lk_tid))
            atomic_fetch_add(&lk_violations, 1);
    }
}

static void lk_other(void *arg)
{
    uint64_t r = (uint64_t)(intptr_t)arg * 7919 + 1;
    while (!atomic_load(&lk_stop)) {
        lk_check();
        switch (xorshift(&r) % 3) {
        case 0:
            gort_yield();
            break;
        case 1:
            gort_sleep(20 * GORT_MICROSECOND);
            break;
        default:
            spin_ns(20 * 1000);
            gort_yield();
            break;
        }
        atomic_fetch_add(&lk_other_iters, 1);
    }
    atomic_fetch_add(&lk_others_done, 1);
}

static void lk_feeder(void *arg)
{
    (void)arg;
    for (int64_t i = 0; i < LK_ITERS; i++) {
        gort_chan_send(lk_ping, &i);
        lk_check();
        int64_t v = -1;
        gort_chan_recv(lk_pong, &v);
        lk_check();
        if (v != i + 1)
            atomic_fetch_add(&lk_bad_value, 1);
    }
    atomic_fetch_add(&lk_others_done, 1);
}

static void lk_note_moved(void)
{
    if (tid() != atomic_load(&lk_tid))
        atomic_fetch_add(&lk_moved, 1);
}

static void lk_wired(void *arg)
{
    (void)arg;
    gort_lock_os_thread();
    atomic_store(&lk_tid, tid());
    atomic_store(&lk_active, true);
    for (int64_t i = 0; i < LK_ITERS; i++) {
        gort_yield();
        lk_note_moved();
        gort_sleep(50 * GORT_MICROSECOND);
        lk_note_moved();
        int64_t v = -1;
        gort_chan_recv(lk_ping, &v);
        lk_note_moved();
        if (v != i)
            atomic_fetch_add(&lk_bad_value, 1);
        v++;
        gort_chan_send(lk_pong, &v);
        lk_note_moved();
    }
    atomic_store(&lk_active, false);
    gort_unlock_os_thread();
    atomic_store(&lk_stop, true);
    atomic_fetch_add(&lk_others_done, 1);
}

static void lk_main(void *arg)
{
    (void)arg;
    lk_ping = gort_chan_new(sizeof(int64_t), 0);
    lk_pong = gort_chan_new(sizeof(int64_t), 0);
    for (intptr_t i = 0; i < LK_OTHERS; i++)
        gort_go(lk_other, (void *)i);
    gort_go(lk_wired, NULL);
    gort_go(lk_feeder, NULL);
    lk_finished = wait_for(&lk_others_done, LK_OTHERS + 2, 30 * GORT_SECOND);
}

Test(mn, wired_goroutine_keeps_its_thread_and_has_it_alone)
{
    procs("2");
    cr_assert_eq(run_main(lk_main, NULL), 0);
    cr_assert(lk_finished, "only %lld goroutines finished", (long long)lk_others_done);
    cr_assert_neq(lk_tid, 0);
    cr_assert_eq(lk_moved, 0, "the wired goroutine changed threads %lld times",
                 (long long)lk_moved);
    cr_assert_eq(lk_bad_value, 0);
    cr_assert_eq(lk_violations, 0, "other goroutines ran %lld times on the wired thread",
                 (long long)lk_violations);
    /* The check meant something: the others ran while the wiring held. */
    cr_assert_geq(lk_other_iters_active, 1000, "others ran only %lld times meanwhile",
                  (long long)lk_other_iters_active);
}

/* Nesting and unlocking an unwired goroutine. */
static _Atomic int64_t nest_moved_while_locked;
static int nest_count_after_two, nest_count_after_one, nest_count_after_zero;
static int nest_count_after_extra, nest_count_fresh;
static bool nest_wired_after_one, nest_unwired_after_zero, nest_unwired_after_extra;
static pid_t nest_tid;
static _Atomic bool nest_stop;
static _Atomic int64_t nest_done;
static int nest_moved_after;

static void nest_busy(void *arg)
{
    (void)arg;
    while (!atomic_load(&nest_stop)) {
        spin_ns(10 * 1000);
        gort_sleep(10 * GORT_MICROSECOND);
    }
    atomic_fetch_add(&nest_done, 1);
}

static void nest_fn(void *arg)
{
    (void)arg;
    gort_g *g = gort_getg();
    gort_unlock_os_thread();   /* never wired: a no-op */
    nest_count_fresh = (int)g->lockcount + (g->lockedm ? 100 : 0);

    gort_lock_os_thread();
    gort_lock_os_thread();
    nest_count_after_two = (int)g->lockcount;
    gort_unlock_os_thread();
    nest_count_after_one = (int)g->lockcount;
    nest_wired_after_one = g->lockedm == g->m && g->m->lockedg == g;
    nest_tid = tid();
    for (int i = 0; i < 100; i++) {
        if (i % 2)
            gort_yield();
        else
            gort_sleep(50 * GORT_MICROSECOND);
        if (tid() != nest_tid)
            atomic_fetch_add(&nest_moved_while_locked, 1);
    }
    g = gort_getg();
    gort_unlock_os_thread();
    nest_count_after_zero = (int)g->lockcount;
    nest_unwired_after_zero = g->lockedm == NULL && g->m->lockedg == NULL;
    gort_unlock_os_thread();   /* one too many: a no-op */
    nest_count_after_extra = (int)g->lockcount;
    nest_unwired_after_extra = g->lockedm == NULL && g->m->lockedg == NULL;
    /* Free again: it may now move (not asserted: it need not). */
    for (int i = 0; i < 200; i++) {
        gort_sleep(50 * GORT_MICROSECOND);
        if (tid() != nest_tid)
            nest_moved_after = 1;
    }
    atomic_store(&nest_stop, true);
    atomic_fetch_add(&nest_done, 1);
}

static void nest_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 8; i++)
        gort_go(nest_busy, NULL);
    gort_go(nest_fn, NULL);
    wait_for(&nest_done, 9, 30 * GORT_SECOND);
}

Test(mn, lock_os_thread_nests_and_unlock_without_lock_is_a_no_op)
{
    procs("2");
    cr_assert_eq(run_main(nest_main, NULL), 0);
    cr_assert_eq(nest_done, 9);
    cr_assert_eq(nest_count_fresh, 0, "unlock of an unwired goroutine changed it");
    cr_assert_eq(nest_count_after_two, 2);
    cr_assert_eq(nest_count_after_one, 1);
    cr_assert(nest_wired_after_one, "lock, lock, unlock: no longer wired");
    cr_assert_eq(nest_moved_while_locked, 0, "moved %lld times while still wired once",
                 (long long)nest_moved_while_locked);
    cr_assert_eq(nest_count_after_zero, 0);
    cr_assert(nest_unwired_after_zero, "still wired after as many unlocks as locks");
    cr_assert_eq(nest_count_after_extra, 0, "an extra unlock went below zero");
    cr_assert(nest_unwired_after_extra);
    cr_log_info("after unwiring, the goroutine %s threads", nest_moved_after ? "changed" : "kept");
}

/* A goroutine that exits while wired takes its thread with it. */
#define EX_WORKERS 100

static pid_t ex_tid, ex_main_tid;
static int ex_before = -1, ex_after = -1;
static bool ex_gone, ex_on_main_thread;
static _Atomic int64_t ex_ready, ex_seen_again, ex_workers_done, ex_holders_done;
static gort_chan *ex_sync, *ex_hold;

/* Wire to a thread, then wait: this makes the runtime start more Ms, which
 * stay around (idle) once the holders unwire and end. */
static void ex_holder(void *arg)
{
    (void)arg;
    gort_lock_os_thread();
    atomic_fetch_add(&ex_ready, 1);
    gort_chan_recv(ex_hold, NULL);
    gort_unlock_os_thread();
    atomic_fetch_add(&ex_holders_done, 1);
}

static void ex_leaver(void *arg)
{
    (void)arg;
    gort_lock_os_thread();
    ex_tid = tid();
    ex_on_main_thread = ex_tid == ex_main_tid;
    ex_before = count_tasks();
    int one = 1;
    gort_chan_send(ex_sync, &one);
    /* returns wired */
}

static void ex_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        if (tid() == ex_tid)
            atomic_fetch_add(&ex_seen_again, 1);
        if (i % 2)
            gort_sleep(20 * GORT_MICROSECOND);
        else {
            spin_ns(20 * 1000);
            gort_yield();
        }
    }
    atomic_fetch_add(&ex_workers_done, 1);
}

static void ex_main(void *arg)
{
    (void)arg;
    /* main wires itself first, so that the leaver cannot end up on the
     * thread that called gort_main (which is kept, see the next test). */
    gort_lock_os_thread();
    ex_main_tid = tid();
    ex_sync = gort_chan_new(sizeof(int), 0);
    ex_hold = gort_chan_new(0, 0);
    gort_go(ex_holder, NULL);
    gort_go(ex_holder, NULL);
    wait_for(&ex_ready, 2, 10 * GORT_SECOND);
    gort_chan_close(ex_hold);
    wait_for(&ex_holders_done, 2, 10 * GORT_SECOND);

    gort_go(ex_leaver, NULL);
    int one = 0;
    gort_chan_recv(ex_sync, &one);
    /* Until the thread is gone.  The thread count is checked only for
     * growth: on a loaded machine the runtime may meanwhile have made an
     * M for the P the leaver's thread gave up (CI saw 7 before, 7 after). */
    int64_t end = now_ns() + 5 * GORT_SECOND;
    do {
        gort_sleep(5 * GORT_MILLISECOND);
        ex_gone = !task_exists(ex_tid);
    } while (!ex_gone && now_ns() < end);
    ex_after = count_tasks();

    for (int i = 0; i < EX_WORKERS; i++)
        gort_go(ex_worker, NULL);
    wait_for(&ex_workers_done, EX_WORKERS, 20 * GORT_SECOND);
    gort_unlock_os_thread();
}

Test(mn, goroutine_exiting_wired_takes_its_thread)
{
    procs("2");
    cr_assert_eq(run_main(ex_main, NULL), 0);
    cr_assert_neq(ex_tid, 0);
    cr_assert_not(ex_on_main_thread, "the leaver ran on main's wired thread");
    cr_assert_gt(ex_before, 0);
    cr_assert(ex_gone, "thread %d still exists", (int)ex_tid);
    cr_assert_leq(ex_after, ex_before, "threads: %d with the wired goroutine, %d after it exited",
                  ex_before, ex_after);
    cr_log_info("threads: %d with the wired goroutine, %d after it exited", ex_before, ex_after);
    cr_assert_eq(ex_workers_done, EX_WORKERS);
    cr_assert_eq(ex_seen_again, 0, "the ended thread ran goroutines again");
}

/* The thread that called gort_main cannot end: a goroutine that exits
 * wired to it leaves it idle, and the runtime goes on on the others --
 * including wired goroutines that sleep and block for a long time (the
 * main thread then waits for the others, waking them now and then). */
static pid_t m0x_tid_main, m0x_tid_child;
static _Atomic int64_t m0x_done, m0x_moved, m0x_on_m0;
static int m0x_tasks_before, m0x_tasks_after;

static void m0x_leaver(void *arg)
{
    (void)arg;
    gort_lock_os_thread();
    m0x_tid_child = tid();
    /* returns wired */
}

static void m0x_wired_sleeper(void *arg)
{
    gort_chan *c = arg;
    gort_lock_os_thread();
    pid_t t = tid();
    if (t == m0x_tid_main)
        atomic_fetch_add(&m0x_on_m0, 1);
    gort_sleep(150 * GORT_MILLISECOND);
    if (tid() != t)
        atomic_fetch_add(&m0x_moved, 1);
    gort_chan_recv(c, NULL);   /* fed 250 ms from now by a timer */
    if (tid() != t)
        atomic_fetch_add(&m0x_moved, 1);
    gort_unlock_os_thread();
    atomic_fetch_add(&m0x_done, 1);
}

static void m0x_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        if (tid() == m0x_tid_main)
            atomic_fetch_add(&m0x_on_m0, 1);
        gort_sleep(2 * GORT_MILLISECOND);
    }
    atomic_fetch_add(&m0x_done, 1);
}

static void m0x_main(void *arg)
{
    (void)arg;
    m0x_tid_main = tid();
    m0x_tasks_before = count_tasks();
    gort_go(m0x_leaver, NULL);   /* child-first: it runs here, on m0 */
    gort_chan *c = gort_after(250 * GORT_MILLISECOND);
    gort_go(m0x_wired_sleeper, c);
    for (int i = 0; i < 10; i++)
        gort_go(m0x_worker, NULL);
    wait_for(&m0x_done, 11, 20 * GORT_SECOND);
    gort_chan_release(c);
    m0x_tasks_after = count_tasks();
}

Test(mn, goroutine_exiting_wired_to_the_main_thread)
{
    procs("2");
    int st = run_main(m0x_main, NULL);
    cr_assert_eq(st, 0);
    cr_assert_eq(m0x_tid_child, m0x_tid_main, "the child did not start on the main thread");
    cr_assert_eq(m0x_done, 11);
    cr_assert_eq(m0x_moved, 0, "a wired goroutine changed threads");
    cr_assert_eq(m0x_on_m0, 0, "goroutines ran on the main thread after it was left idle");
    cr_assert_eq(m0x_tid_main, tid(), "gort_main returned on another thread?");
}

/* ---- 4. threads made by the host's _cgo_thread_start ------------------ */

#define HK_MAX 64

static void (*hk_setg)(void *);
static _Atomic int hk_calls, hk_init_calls, hk_create_failed;
static bool hk_gostyle;
struct hk_rec {
    _Atomic(gort_cgo_g *) g0;
    uintptr_t real_lo, real_hi;   /* the thread's stack, from pthread */
    uintptr_t entry_sp;
};
static struct hk_rec hk_recs[HK_MAX];
static _Atomic int hk_nrecs;

static void hk_init(gort_cgo_g *g0, void (*setg)(void *), void **tlsg, void **tlsbase)
{
    atomic_fetch_add(&hk_init_calls, 1);
    hk_setg = setg;
    gort_cgo_default_init(g0, setg, tlsg, tlsbase);
}

static void *hk_entry(void *v)
{
    gort_thread_start ts = *(gort_thread_start *)v;
    free(v);
    int k = atomic_fetch_add(&hk_nrecs, 1);
    pthread_attr_t attr;
    void *addr = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &addr, &size);
        pthread_attr_destroy(&attr);
    }
    if (k < HK_MAX) {
        hk_recs[k].real_lo = (uintptr_t)addr;
        hk_recs[k].real_hi = (uintptr_t)addr + size;
        hk_recs[k].entry_sp = (uintptr_t)__builtin_frame_address(0);
        atomic_store(&hk_recs[k].g0, ts.g);
    }
    if (!hk_gostyle) {
        /* Exact bounds, set on the thread itself before setg. */
        ts.g->stack_lo = (uintptr_t)addr + 4096;
        ts.g->stack_hi = (uintptr_t)__builtin_frame_address(0);
    }
    hk_setg(ts.g);
    ts.fn();
    return NULL;
}

static void hk_thread_start(gort_thread_start *ts)
{
    atomic_fetch_add(&hk_calls, 1);
    gort_thread_start *copy = malloc(sizeof *copy);
    if (!copy) {
        atomic_fetch_add(&hk_create_failed, 1);
        return;
    }
    *copy = *ts;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (hk_gostyle) {
        pthread_attr_setstacksize(&attr, 1 << 20);
        /* Go's way: no low bound, the size in stack_hi; the runtime works
         * out the real bounds on the new thread. */
        ts->g->stack_lo = 0;
        ts->g->stack_hi = 1 << 20;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    if (pthread_create(&t, &attr, hk_entry, copy) != 0) {
        atomic_fetch_add(&hk_create_failed, 1);
        free(copy);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

static struct hk_rec *hk_find(gort_g *g0)
{
    int n = atomic_load(&hk_nrecs);
    for (int i = 0; i < n && i < HK_MAX; i++)
        if (atomic_load(&hk_recs[i].g0) == (gort_cgo_g *)g0)
            return &hk_recs[i];
    return NULL;
}

#define HK_N 200

static _Atomic int64_t hk_done, hk_on_other, hk_not_hooked, hk_bad_bounds, hk_bad_sp;
static _Atomic uintptr_t hk_span_min = UINTPTR_MAX, hk_span_max;
static _Atomic intptr_t hk_lo_below_real_max;
static gort_stats hk_stats;
static pid_t hk_tids[HK_N];
static int64_t hk_deadline;

static void hk_worker(void *arg)
{
    intptr_t i = (intptr_t)arg;
    /* Four rounds each -- more while nothing has run on a hooked thread
     * yet: on a host loaded by other processes the second P's thread may
     * get no CPU for a while, and the test must not prove nothing. */
    for (int k = 0; k < 4 || (atomic_load(&hk_on_other) == 0 && gort_now() < hk_deadline); k++) {
        spin_ns(100 * 1000);
        gort_g *g = gort_getg();
        gort_m *m = g->m;
        if (m != &gort_m0) {
            atomic_fetch_add(&hk_on_other, 1);
            hk_tids[i] = tid();
            gort_g *g0 = m->g0;
            struct hk_rec *rec = hk_find(g0);
            if (!rec) {
                atomic_fetch_add(&hk_not_hooked, 1);
            } else {
                uintptr_t lo = g0->stack_lo, hi = g0->stack_hi, sp = (uintptr_t)g0->sp;
                uintptr_t span = hi - lo;
                if (lo == 0 || hi <= lo || hi > rec->real_hi || hi < rec->entry_sp - 4096 ||
                    g0->stackguard0 != lo + GORT_STACK_GUARD)
                    atomic_fetch_add(&hk_bad_bounds, 1);
                /* g0's saved stack pointer: where g0 last switched away,
                 * measured on g0's own stack. */
                if (sp < lo || sp > hi || sp < rec->real_lo || sp > rec->real_hi)
                    atomic_fetch_add(&hk_bad_sp, 1);
                uintptr_t cur = atomic_load(&hk_span_min);
                while (span < cur && !atomic_compare_exchange_weak(&hk_span_min, &cur, span))
                    ;
                cur = atomic_load(&hk_span_max);
                while (span > cur && !atomic_compare_exchange_weak(&hk_span_max, &cur, span))
                    ;
                intptr_t below = (intptr_t)(rec->real_lo - lo);
                intptr_t cb = atomic_load(&hk_lo_below_real_max);
                while (below > cb && !atomic_compare_exchange_weak(&hk_lo_below_real_max, &cb, below))
                    ;
            }
        }
        gort_yield();
    }
    atomic_fetch_add(&hk_done, 1);
}

static void hk_main(void *arg)
{
    (void)arg;
    hk_deadline = gort_now() + 10 * GORT_SECOND;
    for (intptr_t i = 0; i < HK_N; i++)
        gort_go(hk_worker, (void *)i);
    wait_for(&hk_done, HK_N, 30 * GORT_SECOND);
    gort_stats_get(&hk_stats);
}

static void hk_run(bool gostyle)
{
    procs("2");
    hk_gostyle = gostyle;
    _cgo_init = hk_init;
    _cgo_thread_start = hk_thread_start;
    cr_assert_eq(run_main(hk_main, NULL), 0);
    cr_assert_eq(hk_init_calls, 1);
    cr_assert_not_null(hk_setg);
    cr_assert_eq(hk_create_failed, 0);
    cr_assert_eq(hk_done, HK_N);
    /* The count the run ended with, not hk_stats' snapshot: an M may
     * still be started (a spinning one) after the snapshot is taken. */
    cr_assert_eq(hk_calls, gort_sched.mcount - 1,
                 "%d threads through the hook, the runtime made %d (m0 included)",
                 hk_calls, gort_sched.mcount);
    cr_assert_geq(hk_calls, 2, "want sysmon and at least one more M through the hook");
    cr_assert_eq(hk_stats.threads_failed, 0);
    cr_assert_gt(hk_on_other, 0, "no goroutine ran on a hooked thread");
    cr_assert_eq(hk_not_hooked, 0, "goroutines ran on %lld Ms that did not come through the hook",
                 (long long)hk_not_hooked);
    cr_assert_eq(hk_bad_bounds, 0, "g0 bounds wrong %lld times", (long long)hk_bad_bounds);
    cr_assert_eq(hk_bad_sp, 0, "g0's stack pointer outside its bounds %lld times",
                 (long long)hk_bad_sp);
}

Test(mn, threads_come_through_the_host_hook)
{
    hk_run(false);
}

Test(mn, host_hook_go_style_bounds)
{
    hk_run(true);
    uintptr_t mib = 1 << 20;
    cr_assert_leq(hk_span_max, mib, "g0 span %#lx above the 1 MiB stack", (unsigned long)hk_span_max);
    cr_assert_geq(hk_span_min, mib - 8192, "g0 span %#lx, want close to 1 MiB",
                  (unsigned long)hk_span_min);
    cr_log_info("Go-style bounds: g0 span %lu bytes, stack_lo up to %ld bytes below the "
                "pthread stack", (unsigned long)hk_span_min, (long)hk_lo_below_real_max);
}

/* ---- 5. a thread that cannot be created -------------------------------- */

#define TF_N 40   /* all alive at once fit in the first slab of stacks */

static _Atomic int64_t tf_done;
static size_t tf_margin;

static void tf_worker(void *arg)
{
    (void)arg;
    for (int k = 0; k < 5; k++) {
        spin_ns(200 * 1000);
        gort_yield();
    }
    atomic_fetch_add(&tf_done, 1);
}

static void tf_main(void *arg)
{
    (void)arg;
    gort_stats st;
    gort_stats_get(&st);
    int threads0 = st.threads;
    /* Leave less address space than a thread stack takes. */
    long vm_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld", &vm_pages) != 1) {
        printf("tf: cannot read statm\n");
        return;
    }
    fclose(f);
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)vm_pages * (rlim_t)sysconf(_SC_PAGESIZE) + tf_margin;
    if (setrlimit(RLIMIT_AS, &rl) != 0) {
        printf("tf: setrlimit failed\n");
        return;
    }
    int spawned = 0;
    for (int i = 0; i < TF_N; i++)
        if (gort_go(tf_worker, NULL) > 0)
            spawned++;
    wait_for(&tf_done, spawned, 20 * GORT_SECOND);
    /* A creation attempt counts its M while it is in flight (and undoes
     * that when it fails): the least of a few snapshots is the count of
     * threads that exist. */
    int threads = INT32_MAX;
    for (int i = 0; i < 10; i++) {
        gort_stats_get(&st);
        if (st.threads < threads)
            threads = st.threads;
        gort_sleep(GORT_MILLISECOND);
    }
    st.threads = threads;
    printf("\ntf: threads0=%d spawned=%d done=%lld threads=%d failed=%llu\n", threads0, spawned,
           (long long)atomic_load(&tf_done), st.threads, (unsigned long long)st.threads_failed);
    fflush(stdout);
}

static void tf_child(void)
{
    procs("2");
    int st = run_main(tf_main, NULL);
    printf("tf: status=%d\n", st);
}

Test(mn, thread_creation_failure_is_reported_and_survived)
{
#if defined(GORT_ASAN) || defined(GORT_TSAN)
    cr_skip_test("RLIMIT_AS cannot make thread creation fail reliably under ASan or TSan, "
                 "whose terabytes of reserved shadow dwarf the limit's margin");
#endif
    pthread_attr_t attr;
    size_t stack = 0;
    pthread_attr_init(&attr);
    pthread_attr_getstacksize(&attr, &stack);
    pthread_attr_destroy(&attr);
    if (stack < 1024 * 1024)
        cr_skip_test("default thread stack of %zu bytes: too small to leave room below", stack);
    tf_margin = stack / 2;
    int st = run_guarded(tf_child, 30);
    cr_assert_eq(st, 0, "status %d, output:\n%.4000s", st, out);
    cr_assert_not_null(strstr(out, "gort: cannot create thread:"), "no report in:\n%.4000s", out);
    const char *line = strstr(out, "\ntf: threads0=");
    cr_assert_not_null(line, "no summary in:\n%.4000s", out);
    int threads0 = 0, spawned = 0, threads = 0;
    long long done = 0;
    unsigned long long failed = 0;
    cr_assert_eq(sscanf(line, "\ntf: threads0=%d spawned=%d done=%lld threads=%d failed=%llu",
                        &threads0, &spawned, &done, &threads, &failed), 5, "%s", line);
    cr_assert_eq(threads0, 2, "want only m0 and sysmon before the limit (%d)", threads0);
    cr_assert_eq(spawned, TF_N);
    cr_assert_eq(done, TF_N, "the work did not complete on the threads there were");
    cr_assert_gt(failed, 0);
    cr_assert_eq(threads, threads0, "a thread was made after all:\n%.4000s", out);
    cr_assert_not_null(strstr(out, "tf: status=0"));
    int reports = 0;
    for (const char *p = out; (p = strstr(p, "gort: cannot create thread:")); p++)
        reports++;
    cr_log_info("thread creation: %llu failures, %d reports", failed, reports);
    /* The runtime retries at every wake-up it wants: reported once, not
     * hundreds of times. */
    cr_assert_leq(reports, 2, "%d reports of %llu failures", reports, failed);
}

/* ---- 6. a million guarded goroutines alive at once --------------------- */

#define MILLION 1000000

static gort_chan *mg_gate;
static _Atomic int64_t mg_started, mg_finished, mg_woken_ok;
static int64_t mg_spawn_err, mg_peak, mg_left = -1;
static int mg_maps = -1, mg_maps_after = -1;
static long mg_rss_peak;
static double mg_spawn_s, mg_total_s;

static void mg_waiter(void *arg)
{
    (void)arg;
    atomic_fetch_add(&mg_started, 1);
    if (!gort_chan_recv(mg_gate, NULL))   /* false: closed */
        atomic_fetch_add(&mg_woken_ok, 1);
    atomic_fetch_add(&mg_finished, 1);
}

static void mg_main(void *arg)
{
    (void)arg;
    int64_t t0 = now_ns();
    mg_gate = gort_chan_new(0, 0);
    for (int i = 0; i < MILLION; i++) {
        int64_t id = gort_go(mg_waiter, NULL);
        if (id <= 0) {
            mg_spawn_err = id;
            break;
        }
    }
    wait_for(&mg_started, MILLION, 60 * GORT_SECOND);
    mg_spawn_s = (double)(now_ns() - t0) / 1e9;
    gort_stats st;
    gort_stats_get(&st);
    mg_peak = st.goroutines;
    mg_maps = maps_count();
    mg_rss_peak = rss_bytes();
    gort_chan_close(mg_gate);
    wait_for(&mg_finished, MILLION, 60 * GORT_SECOND);
    mg_left = wait_alone(30 * GORT_SECOND);
    mg_maps_after = maps_count();
    gort_chan_release(mg_gate);
    mg_total_s = (double)(now_ns() - t0) / 1e9;
}

Test(mn, a_million_guarded_goroutines, .timeout = 180)
{
#ifdef GORT_ASAN
    cr_skip_test("under ASan a million goroutines need more shadow and fake-stack memory "
                 "than the sanitizer allows");
#endif
#ifdef GORT_TSAN
    cr_skip_test("each goroutine is a TSan fiber, and TSan allows 8128 threads and fibers");
#endif
    if (!guard_madvise_supported())
        cr_skip_test("this kernel has no MADV_GUARD_INSTALL: a million guards would need "
                     "two million mappings");
    cr_assert_eq(run_main(mg_main, NULL), 0);
    cr_assert_eq(mg_spawn_err, 0, "gort_go failed: %s", gort_strerror((int)mg_spawn_err));
    cr_assert_eq(mg_started, MILLION);
    cr_assert_geq(mg_peak, MILLION + 1, "only %lld goroutines alive at the peak",
                  (long long)mg_peak);
    cr_assert_lt(mg_maps, 10000, "%d mappings with a million goroutines", mg_maps);
    cr_assert_eq(mg_finished, MILLION);
    cr_assert_eq(mg_woken_ok, MILLION, "receivers not told the channel was closed");
    cr_assert_eq(mg_left, 1, "%lld goroutines left", (long long)mg_left);
    fprintf(stderr, "mn: 1M goroutines: spawned and blocked in %.2f s, all done in %.2f s, "
            "peak RSS %ld MiB, %d maps at the peak (%d after)\n", mg_spawn_s, mg_total_s,
            mg_rss_peak >> 20, mg_maps, mg_maps_after);
}

/* ---- 7. deadlock detection -------------------------------------------- */

#define DL_N 3

static void dl_blocker(void *arg)
{
    gort_chan *c = arg;
    dprintf(1, "blocker %lld\n", (long long)gort_id());
    gort_chan_recv(c, NULL);
}

static void dl_main(void *arg)
{
    (void)arg;
    gort_chan *c = gort_chan_new(0, 0);
    for (int i = 0; i < DL_N; i++)
        gort_go(dl_blocker, c);
    gort_sleep(20 * GORT_MILLISECOND);   /* a timer that ends: not a way out */
    gort_chan_recv(c, NULL);
    dprintf(1, "main woke up\n");
}

static void dl_child(void)
{
    run_main(dl_main, NULL);
    dprintf(1, "gort_main returned\n");
}

static void expect_deadlock(void (*child)(void), int nblockers, const char *reason)
{
    int st = run_guarded(child, 10);
    cr_assert_eq(st, 2, "status %d, output:\n%.4000s", st, out);
    cr_assert_not_null(strstr(out, "gort: all goroutines are asleep - deadlock!"), "%.4000s", out);
    char want[128];
    snprintf(want, sizeof want, "goroutine 1 [%s]", reason);
    cr_assert_not_null(strstr(out, want), "no \"%s\" in:\n%.4000s", want, out);
    int found = 0;
    for (const char *p = out; (p = strstr(p, "blocker ")); found++) {
        long long id = strtoll(p + 8, NULL, 10);
        snprintf(want, sizeof want, "goroutine %lld [%s]", id, reason);
        cr_assert_not_null(strstr(out, want), "no \"%s\" in:\n%.4000s", want, out);
        p += 8;
    }
    cr_assert_eq(found, nblockers, "%.4000s", out);
    cr_assert_null(strstr(out, "main woke up"));
}

Test(mn, deadlock_is_reported_with_every_goroutine)
{
    expect_deadlock(dl_child, DL_N, "chan receive");
}

static void dl_locked_blocker(void *arg)
{
    gort_lock_os_thread();
    dl_blocker(arg);
}

static void dl_locked_main(void *arg)
{
    (void)arg;
    gort_lock_os_thread();
    gort_chan *c = gort_chan_new(0, 0);
    for (int i = 0; i < DL_N; i++)
        gort_go(dl_locked_blocker, c);
    gort_sleep(20 * GORT_MILLISECOND);
    gort_chan_recv(c, NULL);
    dprintf(1, "main woke up\n");
}

static void dl_locked_child(void)
{
    procs("2");
    run_main(dl_locked_main, NULL);
}

Test(mn, deadlock_of_wired_goroutines_is_reported)
{
    expect_deadlock(dl_locked_child, DL_N, "chan receive");
    cr_assert_not_null(strstr(out, "goroutine 1 [chan receive] (locked to thread)"), "%.4000s", out);
}

/* A wired goroutine exited and took its thread: the thread is gone, so it
 * cannot be the one that would wake anybody. */
static void dl_exit_wired(void *arg)
{
    (void)arg;
    gort_lock_os_thread();
}

static void dl_after_exit_main(void *arg)
{
    (void)arg;
    gort_lock_os_thread();   /* keep the leaver off this thread */
    gort_go(dl_exit_wired, NULL);
    gort_sleep(50 * GORT_MILLISECOND);
    gort_unlock_os_thread();
    gort_chan *c = gort_chan_new(0, 0);
    for (int i = 0; i < DL_N; i++)
        gort_go(dl_blocker, c);
    gort_chan_recv(c, NULL);
    dprintf(1, "main woke up\n");
}

static void dl_after_exit_child(void)
{
    procs("2");
    run_main(dl_after_exit_main, NULL);
}

Test(mn, deadlock_after_a_wired_goroutine_exited)
{
    expect_deadlock(dl_after_exit_child, DL_N, "chan receive");
}

/* The last goroutine that could wake anybody exits wired, taking its
 * thread: the deadlock is noticed as that thread ends. */
static void dl_last_wired(void *arg)
{
    (void)arg;
    gort_lock_os_thread();
    gort_sleep(30 * GORT_MILLISECOND);   /* main blocks meanwhile */
}

static void dl_last_main(void *arg)
{
    (void)arg;
    gort_chan *c = gort_chan_new(0, 0);
    for (int i = 0; i < DL_N; i++)
        gort_go(dl_blocker, c);
    gort_go(dl_last_wired, NULL);
    gort_chan_recv(c, NULL);
    dprintf(1, "main woke up\n");
}

static void dl_last_child(void)
{
    procs("2");
    run_main(dl_last_main, NULL);
}

Test(mn, deadlock_when_the_last_runner_exits_wired)
{
    expect_deadlock(dl_last_child, DL_N, "chan receive");
}

/* No false alarms: goroutines that only sleep, and one waiting for a
 * channel that a timer will feed. */
static _Atomic int64_t nd_done;

static void nd_sleeper(void *arg)
{
    gort_chan *c = arg;
    gort_sleep(50 * GORT_MILLISECOND);
    atomic_fetch_add(&nd_done, 1);
    gort_chan_send(c, NULL);
}

static void nd_sleep_main(void *arg)
{
    (void)arg;
    gort_chan *c = gort_chan_new(0, 0);
    for (int i = 0; i < 5; i++)
        gort_go(nd_sleeper, c);
    for (int i = 0; i < 5; i++)
        gort_chan_recv(c, NULL);   /* main blocks on a channel, the others sleep */
    gort_sleep(50 * GORT_MILLISECOND);
    dprintf(1, "sleepers done %lld\n", (long long)atomic_load(&nd_done));
}

static void nd_sleep_child(void)
{
    int st = run_main(nd_sleep_main, NULL);
    dprintf(1, "status %d\n", st);
}

Test(mn, no_false_deadlock_while_goroutines_sleep)
{
    int st = run_guarded(nd_sleep_child, 10);
    cr_assert_eq(st, 0, "status %d, output:\n%.4000s", st, out);
    cr_assert_null(strstr(out, "deadlock"), "%.4000s", out);
    cr_assert_not_null(strstr(out, "sleepers done 5\nstatus 0"), "%.4000s", out);
}

static void nd_timer_waiter(void *arg)
{
    gort_chan *done = arg;
    gort_chan *t = gort_after(50 * GORT_MILLISECOND);
    int64_t when = 0;
    bool ok = gort_chan_recv(t, &when);
    gort_chan_release(t);
    int r = ok && when > 0;
    gort_chan_send(done, &r);
}

static void nd_timer_main(void *arg)
{
    (void)arg;
    gort_chan *done = gort_chan_new(sizeof(int), 0);
    gort_go(nd_timer_waiter, done);
    int r = 0;
    gort_chan_recv(done, &r);
    dprintf(1, "timer fed: %d\n", r);
}

static void nd_timer_child(void)
{
    int st = run_main(nd_timer_main, NULL);
    dprintf(1, "status %d\n", st);
}

Test(mn, no_false_deadlock_while_a_timer_will_feed_a_channel)
{
    int st = run_guarded(nd_timer_child, 10);
    cr_assert_eq(st, 0, "status %d, output:\n%.4000s", st, out);
    cr_assert_null(strstr(out, "deadlock"), "%.4000s", out);
    cr_assert_not_null(strstr(out, "timer fed: 1\nstatus 0"), "%.4000s", out);
}

/* The same with the sleepers wired to their threads: a wired M gives its
 * P away while its goroutine sleeps, and the timer must still fire. */
static void nd_wired_sleeper(void *arg)
{
    gort_lock_os_thread();
    nd_sleeper(arg);
}

static void nd_wired_main(void *arg)
{
    (void)arg;
    gort_lock_os_thread();
    for (int i = 0; i < 3; i++)
        gort_sleep(10 * GORT_MILLISECOND);
    gort_chan *c = gort_chan_new(0, 0);
    for (int i = 0; i < 5; i++)
        gort_go(nd_wired_sleeper, c);
    for (int i = 0; i < 5; i++)
        gort_chan_recv(c, NULL);
    gort_sleep(20 * GORT_MILLISECOND);
    dprintf(1, "sleepers done %lld\n", (long long)atomic_load(&nd_done));
}

static void nd_wired_child(void)
{
    procs("2");
    int st = run_main(nd_wired_main, NULL);
    dprintf(1, "status %d\n", st);
}

Test(mn, wired_goroutines_sleep_and_wake)
{
    int st = run_guarded(nd_wired_child, 10);
    cr_assert_eq(st, 0, "status %d, output:\n%.4000s", st, out);
    cr_assert_null(strstr(out, "deadlock"), "%.4000s", out);
    cr_assert_not_null(strstr(out, "sleepers done 5\nstatus 0"), "%.4000s", out);
}

/* ---- 8. an idle runtime uses no CPU ------------------------------------ */

#define IDLE_N 100

static _Atomic int64_t idle_done;
static double idle_cpu_s, idle_wall_s;

static void idle_blocker(void *arg)
{
    gort_chan_recv(arg, NULL);
    atomic_fetch_add(&idle_done, 1);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void idle_main(void *arg)
{
    (void)arg;
    gort_chan *c = gort_chan_new(0, 0);
    for (int i = 0; i < IDLE_N; i++)
        gort_go(idle_blocker, c);
    gort_sleep(100 * GORT_MILLISECOND);   /* let every thread settle */
    double c0 = cpu_seconds();
    int64_t t0 = now_ns();
    gort_sleep(GORT_SECOND);
    idle_wall_s = (double)(now_ns() - t0) / 1e9;
    idle_cpu_s = cpu_seconds() - c0;
    gort_chan_close(c);
    wait_for(&idle_done, IDLE_N, 10 * GORT_SECOND);
    gort_chan_release(c);
}

Test(mn, idle_runtime_uses_no_cpu)
{
    cr_assert_eq(run_main(idle_main, NULL), 0);
    cr_assert_eq(idle_done, IDLE_N);
    cr_assert_geq(idle_wall_s, 1.0);
    fprintf(stderr, "mn: idle: %.3f ms CPU over %.3f s wall (%.3f%%)\n", idle_cpu_s * 1e3,
            idle_wall_s, 100 * idle_cpu_s / idle_wall_s);
    cr_assert_lt(idle_cpu_s, idle_wall_s / 100, "%.3f ms of CPU in %.3f s of idling",
                 idle_cpu_s * 1e3, idle_wall_s);
}

/* ---- 9. errno and the current g follow the goroutine ------------------- */

#define EN_G 32
#define EN_ITERS 1200

static gort_chan *en_pair[EN_G / 2];
static _Atomic int64_t en_errno_bad, en_id_bad, en_migrated, en_done, en_msg_bad;
static int en_first_bad_got, en_first_bad_op;

/* Fresh reads and writes: never let the compiler keep &errno across a
 * call that may switch threads. */
static __attribute__((noinline, noclone)) int get_errno(void)
{
    __asm__ volatile("" ::: "memory");
    return errno;
}

static __attribute__((noinline, noclone)) void set_errno(int v)
{
    __asm__ volatile("" ::: "memory");
    errno = v;
}

static void en_clobber(void *arg)
{
    (void)arg;
    set_errno(-7);
}

static void en_worker(void *arg)
{
    intptr_t i = (intptr_t)arg;
    int64_t me = gort_id();
    pid_t t0 = tid();
    bool moved = false;
    gort_chan *c = en_pair[i / 2];
    for (int k = 0; k < EN_ITERS; k++) {
        int want = (int)(i + 1) * 100000 + k;
        set_errno(want);
        switch (k % 4) {
        case 0:
            gort_yield();
            break;
        case 1:
            gort_sleep(20 * GORT_MICROSECOND);
            break;
        case 2: {
            int64_t v = k;
            if (i % 2 == 0) {
                gort_chan_send(c, &v);
            } else {
                v = -1;
                gort_chan_recv(c, &v);
                if (v != k)
                    atomic_fetch_add(&en_msg_bad, 1);
            }
            break;
        }
        default:
            /* A child runs first, here, and leaves errno of its own. */
            spin_ns(10 * 1000);
            gort_go(en_clobber, NULL);
            break;
        }
        int got = get_errno();
        if (got != want && atomic_fetch_add(&en_errno_bad, 1) == 0) {
            en_first_bad_got = got;
            en_first_bad_op = k % 4;
        }
        if (gort_id() != me || gort_getg()->id != me)
            atomic_fetch_add(&en_id_bad, 1);
        if (tid() != t0)
            moved = true;
    }
    if (moved)
        atomic_fetch_add(&en_migrated, 1);
    atomic_fetch_add(&en_done, 1);
}

static void en_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < EN_G / 2; i++)
        en_pair[i] = gort_chan_new(sizeof(int64_t), 0);
    for (intptr_t i = 0; i < EN_G; i++)
        gort_go(en_worker, (void *)i);
    wait_for(&en_done, EN_G, 30 * GORT_SECOND);
    wait_alone(10 * GORT_SECOND);
    for (int i = 0; i < EN_G / 2; i++)
        gort_chan_release(en_pair[i]);
}

static void en_run(const char *np)
{
    procs(np);
    /* On a host loaded by other processes the second P may get no CPU
     * during a whole run, and then nothing migrates: try again (up to 3
     * runs) rather than prove nothing. */
    for (int attempt = 0; attempt < 3; attempt++) {
        atomic_store(&en_errno_bad, 0);
        atomic_store(&en_id_bad, 0);
        atomic_store(&en_migrated, 0);
        atomic_store(&en_done, 0);
        atomic_store(&en_msg_bad, 0);
        cr_assert_eq(run_main(en_main, NULL), 0);
        if (en_migrated > 0 || en_errno_bad || en_id_bad)
            break;
    }
    cr_assert_eq(en_done, EN_G);
    cr_assert_eq(en_msg_bad, 0);
    static const char *ops[] = {"gort_yield", "gort_sleep", "a channel hand-off", "gort_go"};
    cr_assert_eq(en_errno_bad, 0,
                 "GORT_MAXPROCS=%s: errno lost %lld times (first after %s: %d)", np,
                 (long long)en_errno_bad, ops[en_first_bad_op], en_first_bad_got);
    cr_assert_eq(en_id_bad, 0, "GORT_MAXPROCS=%s: gort_id wrong %lld times", np,
                 (long long)en_id_bad);
    cr_assert_gt(en_migrated, 0,
                 "GORT_MAXPROCS=%s: no goroutine changed threads: the test proved nothing", np);
}

/* At 4 Ps on fewer CPUs, threads are descheduled holding runtime locks
 * and the others' futex waits fail (EAGAIN): that is where a runtime
 * system call leaking into errno shows. */
Test(mn, errno_and_current_goroutine_follow_migration)
{
    en_run("2");
    en_run("4");
}

/* ---- 10. GORT_DEBUG=schedtrace ---------------------------------------- */

static _Atomic int64_t tr_done;

static void tr_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        spin_ns(500 * 1000);
        gort_sleep(GORT_MILLISECOND);
    }
    atomic_fetch_add(&tr_done, 1);
}

static void tr_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 8; i++)
        gort_go(tr_worker, NULL);
    wait_for(&tr_done, 8, 10 * GORT_SECOND);
    gort_sleep(250 * GORT_MILLISECOND);   /* several 50 ms periods, even on a slow machine */
}

static void tr_child(void)
{
    procs("2");
    setenv("GORT_DEBUG", "schedtrace=50", 1);
    run_main(tr_main, NULL);
}

Test(mn, schedtrace_prints_sched_lines)
{
    int st = run_guarded(tr_child, 10);
    cr_assert_eq(st, 0, "status %d, output:\n%.4000s", st, out);
    int lines = 0;
    for (const char *p = out; (p = strstr(p, "SCHED ")); p++) {
        cr_assert(p == out || p[-1] == '\n', "SCHED not at the start of a line:\n%.4000s", out);
        const char *eol = strchr(p, '\n');
        cr_assert_not_null(eol);
        char line[512];
        size_t n = (size_t)(eol - p) < sizeof line - 1 ? (size_t)(eol - p) : sizeof line - 1;
        memcpy(line, p, n);
        line[n] = '\0';
        cr_assert_not_null(strstr(line, "maxprocs=2"), "%s", line);
        cr_assert_not_null(strstr(line, "threads="), "%s", line);
        lines++;
    }
    cr_assert_geq(lines, 2, "%d SCHED lines in:\n%.4000s", lines, out);
}

/* ---- 11. GORT_MAXPROCS ------------------------------------------------ */

static int mp_seen = -1, mp_stats = -1;

static void mp_main(void *arg)
{
    (void)arg;
    mp_seen = gort_maxprocs();
    gort_stats st;
    gort_stats_get(&st);
    mp_stats = st.procs;
}

Test(mn, maxprocs_from_the_environment)
{
    cr_assert_eq(gort_maxprocs(), 0, "outside the runtime");
    procs("3");
    cr_assert_eq(run_main(mp_main, NULL), 0);
    cr_assert_eq(mp_seen, 3);
    cr_assert_eq(mp_stats, 3);
    cr_assert_eq(gort_maxprocs(), 0, "after the runtime");

    unsetenv("GORT_MAXPROCS");
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    cr_assert_eq(run_main(mp_main, NULL), 0);
    cr_assert_eq(mp_seen, CPU_COUNT(&set), "the default is the CPUs we may run on");
}

static void mp_bad_child(void)
{
    run_main(mp_main, NULL);
    dprintf(1, "gort_main returned\n");
}

Test(mn, maxprocs_invalid_is_fatal)
{
    static const char *bad[] = {"0", "abc", "100000", "-1", "2x", "1025"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        procs(bad[i]);
        int st = run_guarded(mp_bad_child, 10);
        cr_assert_eq(st, 2, "GORT_MAXPROCS=%s: status %d, output:\n%s", bad[i], st, out);
        char want[64];
        snprintf(want, sizeof want, "GORT_MAXPROCS=%s", bad[i]);
        cr_assert_not_null(strstr(out, "gort: fatal error:"), "%s", out);
        cr_assert_not_null(strstr(out, want), "no \"%s\" in:\n%s", want, out);
        cr_assert_null(strstr(out, "gort_main returned"));
    }
}

/* ---- 12. preemption ----------------------------------------------------- */

static _Atomic int64_t pr_counter;
static _Atomic bool pr_stop;
static int64_t pr_before, pr_after, pr_spawns, pr_elapsed;
static _Atomic int64_t pr_done;

#define PR_TURNS 5

static void pr_noop(void *arg)
{
    (void)arg;
}

static void pr_other(void *arg)
{
    (void)arg;
    while (!atomic_load(&pr_stop)) {
        atomic_fetch_add(&pr_counter, 1);
        gort_yield();
    }
    atomic_fetch_add(&pr_done, 1);
}

/* CPU-bound; its only calls into gort are a gort_go every millisecond.
 * It loops until the other goroutine has had PR_TURNS turns, or 2 s (at
 * one preemption per 10 ms, 200 chances: generous on a loaded machine,
 * and without preemption the other never runs at all). */
static void pr_hog(void *arg)
{
    (void)arg;
    pr_before = atomic_load(&pr_counter);
    int64_t t0 = now_ns(), next = t0;
    while (atomic_load(&pr_counter) - pr_before < PR_TURNS && now_ns() - t0 < 2 * GORT_SECOND) {
        if (now_ns() >= next) {
            gort_go(pr_noop, NULL);
            pr_spawns++;
            next += GORT_MILLISECOND;
        }
    }
    pr_elapsed = now_ns() - t0;
    pr_after = atomic_load(&pr_counter);
    atomic_store(&pr_stop, true);
    atomic_fetch_add(&pr_done, 1);
}

static void pr_main(void *arg)
{
    (void)arg;
    gort_go(pr_other, NULL);
    gort_go(pr_hog, NULL);
    wait_for(&pr_done, 2, 10 * GORT_SECOND);
}

Test(mn, long_running_goroutine_is_preempted_at_gort_go)
{
    procs("1");
    cr_assert_eq(run_main(pr_main, NULL), 0);
    cr_assert_eq(pr_done, 2);
    cr_log_info("preemption: the other goroutine had %lld turns in %.1f ms (%lld spawns)",
                (long long)(pr_after - pr_before), (double)pr_elapsed / 1e6,
                (long long)pr_spawns);
    cr_assert_geq(pr_after - pr_before, PR_TURNS,
                  "the other goroutine ran %lld times while the loop ran %.0f ms",
                  (long long)(pr_after - pr_before), (double)pr_elapsed / 1e6);
    cr_assert_geq(pr_spawns, PR_TURNS, "the loop hardly called gort_go: it proved nothing");
}
