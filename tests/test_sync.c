/*
 * test_sync.c - goroutine-blocking sync primitives (include/gort/sync.h).
 *
 * Covers: mutex (mutual exclusion under heavy contention at one P and at
 * the default, trylock, a waiter against a hog that re-locks in a tight
 * loop, a wired goroutine blocking and yielding), rwmutex (readers
 * together, writers alone, writer preference), wait group (10,000
 * goroutines, reuse over rounds), once (1,000 racing callers), cond
 * (producer/consumer with signal, rounds of broadcast, FIFO signal order),
 * semaphore (bounded concurrency, FIFO at one P, try_acquire, ping-pong
 * pairs, semaphores sharing a table bucket), the semaphore table across
 * two gort_main runs, the deadlock report, and misuse (each in a forked
 * child: exit status 2 and the message).
 *
 * "default_procs" tests run at the default GORT_MAXPROCS; set
 * GORT_SYNC_TEST_PROCS=n to run them at n Ps instead (more Ps than cores
 * shakes out other interleavings).
 *
 * Why: these are the primitives whose bugs hide -- a lost wake-up shows
 * up as a hang once in a thousand runs, a missing barrier as a counter
 * off by one.  Every test runs in its own process and calls gort_main
 * once; checks made on goroutines are recorded and asserted after
 * gort_main returns.
 */
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "sync_util.h"

TestSuite(sync, .timeout = 30);

/* ---- mutex: mutual exclusion ------------------------------------------ */

#define STRESS_G 200
#define STRESS_N TSAN_LESS(10000, 500)   /* 2M lock/unlock pairs: hours under TSan */

static gort_mutex stress_mu = GORT_MUTEX_INIT;
static gort_waitgroup stress_wg;
static long stress_counter;          /* plain: the mutex protects it */
static atomic_int stress_inside;

static void stress_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < STRESS_N; i++) {
        gort_mutex_lock(&stress_mu);
        CHECK(atomic_fetch_add(&stress_inside, 1) == 0);
        long v = stress_counter;
        if (i % 4 == 0)
            gort_yield();            /* let the others pile up on the mutex */
        stress_counter = v + 1;
        atomic_fetch_sub(&stress_inside, 1);
        gort_mutex_unlock(&stress_mu);
    }
    gort_waitgroup_done(&stress_wg);
}

static void stress_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&stress_wg, STRESS_G);
    for (int i = 0; i < STRESS_G; i++)
        gort_go(stress_worker, NULL);
    gort_waitgroup_wait(&stress_wg);
}

Test(sync, mutex_exclusion_p1)
{
    cr_assert_eq(sync_run(1, stress_main, NULL), 0);
    ASSERT_NO_FAILURES();
    cr_assert_eq(stress_counter, (long)STRESS_G * STRESS_N, "counter %ld", stress_counter);
}

Test(sync, mutex_exclusion_default_procs)
{
    cr_assert_eq(sync_run(0, stress_main, NULL), 0);
    ASSERT_NO_FAILURES();
    cr_assert_eq(stress_counter, (long)STRESS_G * STRESS_N, "counter %ld", stress_counter);
}

/* ---- mutex: trylock ---------------------------------------------------- */

static gort_mutex try_mu;
static int try_other_result = -1;

static void try_other(void *arg)
{
    (void)arg;
    try_other_result = gort_mutex_trylock(&try_mu);
}

static void trylock_main(void *arg)
{
    (void)arg;
    CHECK(gort_mutex_trylock(&try_mu) == 1);
    CHECK(gort_mutex_trylock(&try_mu) == 0);   /* not recursive */
    gort_go(try_other, NULL);                   /* runs at once: child-first */
    CHECK(try_other_result == 0);
    gort_mutex_unlock(&try_mu);
    gort_go(try_other, NULL);
    CHECK(try_other_result == 1);              /* the child holds it now */
    CHECK(gort_mutex_trylock(&try_mu) == 0);
    gort_mutex_unlock(&try_mu);                /* not owned: anyone may unlock */
    gort_mutex_lock(&try_mu);
    gort_mutex_unlock(&try_mu);
}

/* The checks rely on child-first spawns finishing before the parent goes
 * on, which only one P without preemption guarantees: at two, an idle P
 * may take the parent from runnext while a slow child starts (sysmon sees
 * the P stuck), and a preemption request makes the child yield at its
 * trylock.  (Seen under TSan, where a child's first run is slower: the
 * parent read the result before the child had set it.) */
static void trylock_init(void)
{
    setenv("GORT_DEBUG", "preemptoff=1", 1);
}

Test(sync, mutex_trylock, .init = trylock_init)
{
    cr_assert_eq(sync_run(1, trylock_main, NULL), 0);
    ASSERT_NO_FAILURES();
}

/* ---- mutex: starvation -------------------------------------------------- */

/* The hog holds the mutex nearly all the time and re-locks in a tight
 * loop that never blocks; the waiter, queued behind it, must still get
 * the mutex (at one P through the preemption check in lock, at more by
 * spinning or through starvation mode's hand-off). */
#define HOG_BOUND 5000000L

static gort_mutex starve_mu;
static gort_waitgroup starve_wg;
static atomic_bool starve_done;
static long hog_iters;

static void hog(void *arg)
{
    (void)arg;
    long i;
    for (i = 0; i < HOG_BOUND && !atomic_load_explicit(&starve_done, memory_order_relaxed); i++) {
        gort_mutex_lock(&starve_mu);
        for (volatile int k = 0; k < 1000; k++)
            ;   /* a critical section of about a microsecond */
        gort_mutex_unlock(&starve_mu);
    }
    hog_iters = i;
    gort_waitgroup_done(&starve_wg);
}

static void starved(void *arg)
{
    (void)arg;
    gort_mutex_lock(&starve_mu);
    atomic_store(&starve_done, true);
    gort_mutex_unlock(&starve_mu);
    gort_waitgroup_done(&starve_wg);
}

static void starve_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&starve_wg, 2);
    gort_mutex_lock(&starve_mu);
    gort_go(hog, NULL);       /* blocks on the mutex: first in the queue */
    gort_go(starved, NULL);   /* second */
    gort_mutex_unlock(&starve_mu);
    gort_waitgroup_wait(&starve_wg);
}

Test(sync, mutex_starvation_p1)
{
    cr_assert_eq(sync_run(1, starve_main, NULL), 0);
    cr_assert(atomic_load(&starve_done), "waiter never got the mutex (%ld hog iterations)",
              hog_iters);
    cr_assert_lt(hog_iters, HOG_BOUND);
}

Test(sync, mutex_starvation_default_procs)
{
    cr_assert_eq(sync_run(0, starve_main, NULL), 0);
    cr_assert(atomic_load(&starve_done), "waiter never got the mutex (%ld hog iterations)",
              hog_iters);
    cr_assert_lt(hog_iters, HOG_BOUND);
}

/* ---- mutex: a wired goroutine blocks and is woken ----------------------- */

/* A wired goroutine (gort_lock_os_thread) that blocks on the mutex and
 * yields inside the critical section waits on its own thread
 * (gort_locked_wait) while unwired ones contend with it. */

static gort_mutex wired_mu;
static gort_waitgroup wired_wg;
static long wired_counter;

static void wired_worker(void *arg)
{
    bool wire = arg != NULL;
    if (wire)
        gort_lock_os_thread();
    for (int i = 0; i < 2000; i++) {
        gort_mutex_lock(&wired_mu);
        long v = wired_counter;
        gort_yield();
        wired_counter = v + 1;
        gort_mutex_unlock(&wired_mu);
    }
    if (wire)
        gort_unlock_os_thread();
    gort_waitgroup_done(&wired_wg);
}

static void wired_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&wired_wg, 4);
    gort_go(wired_worker, (void *)1);
    for (int i = 0; i < 3; i++)
        gort_go(wired_worker, NULL);
    gort_waitgroup_wait(&wired_wg);
}

Test(sync, mutex_with_wired_goroutine)
{
    cr_assert_eq(sync_run(0, wired_main, NULL), 0);
    cr_assert_eq(wired_counter, 4 * 2000L);
}

/* ---- rwmutex ----------------------------------------------------------- */

static gort_rwmutex rw = GORT_RWMUTEX_INIT;
static gort_waitgroup rw_wg;
static atomic_int readers_inside, writers_inside, max_readers;
static long rw_data;

static void note_reader_max(int n)
{
    int m = atomic_load(&max_readers);
    while (n > m && !atomic_compare_exchange_weak(&max_readers, &m, n))
        ;
}

static void reader_once(void *arg)
{
    (void)arg;
    gort_rwmutex_rlock(&rw);
    note_reader_max(atomic_fetch_add(&readers_inside, 1) + 1);
    for (int i = 0; i < 3; i++)
        gort_yield();
    atomic_fetch_sub(&readers_inside, 1);
    gort_rwmutex_runlock(&rw);
    gort_waitgroup_done(&rw_wg);
}

static void readers_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&rw_wg, 50);
    for (int i = 0; i < 50; i++)
        gort_go(reader_once, NULL);
    gort_waitgroup_wait(&rw_wg);
    CHECK(gort_rwmutex_tryrlock(&rw) == 1);
    CHECK(gort_rwmutex_tryrlock(&rw) == 1);
    CHECK(gort_rwmutex_trylock(&rw) == 0);
    gort_rwmutex_runlock(&rw);
    gort_rwmutex_runlock(&rw);
    CHECK(gort_rwmutex_trylock(&rw) == 1);
    CHECK(gort_rwmutex_tryrlock(&rw) == 0);
    CHECK(gort_rwmutex_trylock(&rw) == 0);
    gort_rwmutex_unlock(&rw);
}

Test(sync, rwmutex_readers_share)
{
    cr_assert_eq(sync_run(0, readers_main, NULL), 0);
    ASSERT_NO_FAILURES();
    cr_assert_gt(atomic_load(&max_readers), 1, "never more than one reader inside");
}

#define RW_ITERS 500

static void rw_reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < RW_ITERS; i++) {
        gort_rwmutex_rlock(&rw);
        note_reader_max(atomic_fetch_add(&readers_inside, 1) + 1);
        CHECK(atomic_load(&writers_inside) == 0);
        long v = rw_data;
        gort_yield();
        CHECK(rw_data == v);                        /* no writer meanwhile */
        CHECK(atomic_load(&writers_inside) == 0);
        atomic_fetch_sub(&readers_inside, 1);
        gort_rwmutex_runlock(&rw);
    }
    gort_waitgroup_done(&rw_wg);
}

static void rw_writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < RW_ITERS; i++) {
        gort_rwmutex_lock(&rw);
        CHECK(atomic_fetch_add(&writers_inside, 1) == 0);
        CHECK(atomic_load(&readers_inside) == 0);
        long v = rw_data;
        gort_yield();
        rw_data = v + 1;
        CHECK(atomic_load(&readers_inside) == 0);
        atomic_fetch_sub(&writers_inside, 1);
        gort_rwmutex_unlock(&rw);
        if (i % 8 == 0)
            gort_yield();
    }
    gort_waitgroup_done(&rw_wg);
}

static void rw_mixed_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&rw_wg, 25);
    for (int i = 0; i < 25; i++)
        gort_go(i % 5 == 0 ? rw_writer : rw_reader, NULL);
    gort_waitgroup_wait(&rw_wg);
}

Test(sync, rwmutex_writer_exclusive_p1)
{
    cr_assert_eq(sync_run(1, rw_mixed_main, NULL), 0);
    ASSERT_NO_FAILURES();
    cr_assert_eq(rw_data, 5L * RW_ITERS);
}

Test(sync, rwmutex_writer_exclusive_default_procs)
{
    cr_assert_eq(sync_run(0, rw_mixed_main, NULL), 0);
    ASSERT_NO_FAILURES();
    cr_assert_eq(rw_data, 5L * RW_ITERS);
}

/* Overlapping readers keep the read lock held at every instant; without
 * writer preference the writer would never get in. */
#define READER_BOUND 2000000L

static atomic_bool writer_done;
static atomic_long reader_iters;

static void busy_reader(void *arg)
{
    (void)arg;
    while (!atomic_load(&writer_done) && atomic_load(&reader_iters) < READER_BOUND) {
        gort_rwmutex_rlock(&rw);
        atomic_fetch_add(&reader_iters, 1);
        gort_yield();
        gort_rwmutex_runlock(&rw);
    }
    gort_waitgroup_done(&rw_wg);
}

static void busy_writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        gort_rwmutex_lock(&rw);
        rw_data++;
        gort_rwmutex_unlock(&rw);
        gort_yield();
    }
    atomic_store(&writer_done, true);
    gort_waitgroup_done(&rw_wg);
}

static void writer_starve_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&rw_wg, 9);
    for (int i = 0; i < 8; i++)
        gort_go(busy_reader, NULL);
    gort_go(busy_writer, NULL);
    gort_waitgroup_wait(&rw_wg);
}

Test(sync, rwmutex_writer_not_starved_p1)
{
    cr_assert_eq(sync_run(1, writer_starve_main, NULL), 0);
    cr_assert(atomic_load(&writer_done));
    cr_assert_eq(rw_data, 100);
    cr_assert_lt(atomic_load(&reader_iters), READER_BOUND);
}

Test(sync, rwmutex_writer_not_starved_default_procs)
{
    cr_assert_eq(sync_run(0, writer_starve_main, NULL), 0);
    cr_assert(atomic_load(&writer_done));
    cr_assert_eq(rw_data, 100);
    cr_assert_lt(atomic_load(&reader_iters), READER_BOUND);
}

/* ---- wait group -------------------------------------------------------- */

#define WG_MANY TSAN_LESS(10000, 4000)   /* all alive at once: TSan's fiber limit */

static gort_waitgroup wg_gate, wg_all;
static atomic_int wg_finished;

static void wg_worker(void *arg)
{
    (void)arg;
    gort_waitgroup_wait(&wg_gate);      /* all 10,000 park here first */
    gort_yield();
    atomic_fetch_add(&wg_finished, 1);
    gort_waitgroup_done(&wg_all);
}

static void wg_many_main(void *arg)
{
    (void)arg;
    gort_waitgroup_wait(&wg_all);       /* at 0: returns at once */
    gort_waitgroup_add(&wg_gate, 1);
    gort_waitgroup_add(&wg_all, WG_MANY);
    for (int i = 0; i < WG_MANY; i++)
        CHECK(gort_go(wg_worker, NULL) > 0);
    CHECK(atomic_load(&wg_finished) == 0);
    gort_waitgroup_done(&wg_gate);      /* releases 10,000 waiters */
    gort_waitgroup_wait(&wg_all);
    CHECK(atomic_load(&wg_finished) == WG_MANY);
}

Test(sync, waitgroup_10000)
{
    cr_assert_eq(sync_run(0, wg_many_main, NULL), 0);
    ASSERT_NO_FAILURES();
    cr_assert_eq(atomic_load(&wg_finished), WG_MANY);
}

#define WG_ROUNDS 8
#define WG_ROUND_N 1000
#define WG_WAITERS 3

static gort_waitgroup wg_round, wg_waiters_back;
static atomic_int wg_round_done;
static atomic_int wg_round_seen[WG_ROUNDS];
static int wg_current_round;

static void round_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < (int)((uintptr_t)arg % 3); i++)
        gort_yield();
    atomic_fetch_add(&wg_round_done, 1);
    gort_waitgroup_done(&wg_round);
}

static void round_waiter(void *arg)
{
    (void)arg;
    gort_waitgroup_wait(&wg_round);
    /* every worker of this round has called done */
    CHECK(atomic_load(&wg_round_done) == (wg_current_round + 1) * WG_ROUND_N);
    atomic_fetch_add(&wg_round_seen[wg_current_round], 1);
    gort_waitgroup_done(&wg_waiters_back);
}

static void wg_reuse_main(void *arg)
{
    (void)arg;
    for (int r = 0; r < WG_ROUNDS; r++) {
        wg_current_round = r;
        gort_waitgroup_add(&wg_round, WG_ROUND_N);
        gort_waitgroup_add(&wg_waiters_back, WG_WAITERS);
        for (int i = 0; i < WG_WAITERS; i++)
            gort_go(round_waiter, NULL);
        for (int i = 0; i < WG_ROUND_N; i++)
            gort_go(round_worker, (void *)(uintptr_t)i);
        gort_waitgroup_wait(&wg_round);
        gort_waitgroup_wait(&wg_waiters_back);   /* every wait returned */
    }
}

Test(sync, waitgroup_reuse)
{
    cr_assert_eq(sync_run(0, wg_reuse_main, NULL), 0);
    ASSERT_NO_FAILURES();
    for (int r = 0; r < WG_ROUNDS; r++)
        cr_assert_eq(atomic_load(&wg_round_seen[r]), WG_WAITERS, "round %d", r);
}

/* ---- once -------------------------------------------------------------- */

#define ONCE_G 1000

static gort_once once = GORT_ONCE_INIT;
static gort_waitgroup once_wg;
static atomic_int once_runs, once_early_returns;
static atomic_bool once_finished;

static void once_fn(void *arg)
{
    CHECK(arg == &once);
    atomic_fetch_add(&once_runs, 1);
    for (int i = 0; i < 20; i++)
        gort_yield();                      /* let the others pile up */
    atomic_store(&once_finished, true);
}

static void once_caller(void *arg)
{
    (void)arg;
    gort_once_do(&once, once_fn, &once);
    if (!atomic_load(&once_finished))
        atomic_fetch_add(&once_early_returns, 1);
    gort_waitgroup_done(&once_wg);
}

static void once_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&once_wg, ONCE_G);
    for (int i = 0; i < ONCE_G; i++)
        gort_go(once_caller, NULL);
    gort_waitgroup_wait(&once_wg);
    gort_once_do(&once, once_fn, &once);   /* done: returns at once */
}

Test(sync, once_race)
{
    cr_assert_eq(sync_run(0, once_main, NULL), 0);
    ASSERT_NO_FAILURES();
    cr_assert_eq(atomic_load(&once_runs), 1);
    cr_assert_eq(atomic_load(&once_early_returns), 0);
}

/* ---- cond -------------------------------------------------------------- */

#define PC_PRODUCERS 4
#define PC_CONSUMERS 4
#define PC_ITEMS 5000      /* per producer */
#define PC_CAP 4

static gort_mutex pc_mu;
static gort_cond pc_not_full = GORT_COND_INIT(&pc_mu);
static gort_cond pc_not_empty;
static long pc_buf[PC_CAP];
static int pc_len, pc_head;
static int pc_producers_left = PC_PRODUCERS;
static long pc_sum, pc_count;
static gort_waitgroup pc_wg;

static void producer(void *arg)
{
    long base = (long)(uintptr_t)arg * PC_ITEMS;
    for (long i = 1; i <= PC_ITEMS; i++) {
        gort_mutex_lock(&pc_mu);
        while (pc_len == PC_CAP)
            gort_cond_wait(&pc_not_full);
        pc_buf[(pc_head + pc_len) % PC_CAP] = base + i;
        pc_len++;
        gort_cond_signal(&pc_not_empty);
        gort_mutex_unlock(&pc_mu);
    }
    gort_mutex_lock(&pc_mu);
    if (--pc_producers_left == 0)
        gort_cond_broadcast(&pc_not_empty);   /* consumers may stop */
    gort_mutex_unlock(&pc_mu);
    gort_waitgroup_done(&pc_wg);
}

static void consumer(void *arg)
{
    (void)arg;
    for (;;) {
        gort_mutex_lock(&pc_mu);
        while (pc_len == 0 && pc_producers_left > 0)
            gort_cond_wait(&pc_not_empty);
        if (pc_len == 0) {
            gort_mutex_unlock(&pc_mu);
            break;
        }
        long v = pc_buf[pc_head];
        pc_head = (pc_head + 1) % PC_CAP;
        pc_len--;
        pc_sum += v;
        pc_count++;
        gort_cond_signal(&pc_not_full);
        gort_mutex_unlock(&pc_mu);
    }
    gort_waitgroup_done(&pc_wg);
}

static void pc_main(void *arg)
{
    (void)arg;
    gort_cond_init(&pc_not_empty, &pc_mu);
    gort_waitgroup_add(&pc_wg, PC_PRODUCERS + PC_CONSUMERS);
    for (int i = 0; i < PC_CONSUMERS; i++)
        gort_go(consumer, NULL);
    for (int i = 0; i < PC_PRODUCERS; i++)
        gort_go(producer, (void *)(uintptr_t)i);
    gort_waitgroup_wait(&pc_wg);
}

static void pc_check(void)
{
    long n = (long)PC_PRODUCERS * PC_ITEMS;
    cr_assert_eq(pc_count, n);
    cr_assert_eq(pc_sum, n * (n + 1) / 2);
    cr_assert_eq(pc_len, 0);
}

Test(sync, cond_producer_consumer_p1)
{
    cr_assert_eq(sync_run(1, pc_main, NULL), 0);
    pc_check();
}

Test(sync, cond_producer_consumer_default_procs)
{
    cr_assert_eq(sync_run(0, pc_main, NULL), 0);
    pc_check();
}

#define BC_WAITERS 50
#define BC_ROUNDS 300

static gort_mutex bc_mu;
static gort_cond bc_go = GORT_COND_INIT(&bc_mu);
static gort_cond bc_back = GORT_COND_INIT(&bc_mu);
static int bc_gen, bc_arrived;
static gort_waitgroup bc_wg;

static void bc_waiter(void *arg)
{
    (void)arg;
    gort_mutex_lock(&bc_mu);
    for (int r = 1; r <= BC_ROUNDS; r++) {
        while (bc_gen < r)
            gort_cond_wait(&bc_go);
        if (++bc_arrived == BC_WAITERS)
            gort_cond_signal(&bc_back);
    }
    gort_mutex_unlock(&bc_mu);
    gort_waitgroup_done(&bc_wg);
}

static void bc_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&bc_wg, BC_WAITERS);
    for (int i = 0; i < BC_WAITERS; i++)
        gort_go(bc_waiter, NULL);
    gort_mutex_lock(&bc_mu);
    for (int r = 1; r <= BC_ROUNDS; r++) {
        bc_arrived = 0;
        bc_gen = r;
        gort_cond_broadcast(&bc_go);
        while (bc_arrived < BC_WAITERS)
            gort_cond_wait(&bc_back);
    }
    gort_mutex_unlock(&bc_mu);
    gort_waitgroup_wait(&bc_wg);
}

Test(sync, cond_broadcast_rounds)
{
    cr_assert_eq(sync_run(0, bc_main, NULL), 0);
    cr_assert_eq(bc_gen, BC_ROUNDS);
}

/* The FIFO tests check the order in which goroutines that queued up one
 * by one are woken.  A preemption request is a yield at the next
 * checkpoint -- inside the lock or acquire a goroutine was about to queue
 * with -- and lets the next one queue first: a slow machine (or TSan)
 * that stretches the spawning loop past sysmon's 10 ms does exactly that
 * (seen under TSan: "acquirer #57 was 58").  So no preemption here. */
static void no_preemption(void)
{
    setenv("GORT_DEBUG", "preemptoff=1", 1);
}

/* Signal wakes in FIFO (ticket) order. */
static gort_mutex fifo_mu;
static gort_cond fifo_c = GORT_COND_INIT(&fifo_mu);
static int fifo_order[10], fifo_n, fifo_permits;

static void cond_fifo_waiter(void *arg)
{
    gort_mutex_lock(&fifo_mu);
    while (fifo_permits == 0)
        gort_cond_wait(&fifo_c);
    fifo_permits--;
    fifo_order[fifo_n++] = (int)(uintptr_t)arg;
    gort_mutex_unlock(&fifo_mu);
}

static void cond_fifo_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++)
        gort_go(cond_fifo_waiter, (void *)(uintptr_t)i);
    for (int i = 0; i < 10; i++) {
        gort_mutex_lock(&fifo_mu);
        fifo_permits++;
        gort_cond_signal(&fifo_c);
        gort_mutex_unlock(&fifo_mu);
        while (fifo_n == i)
            gort_yield();
    }
}

Test(sync, cond_signal_fifo_p1, .init = no_preemption)
{
    cr_assert_eq(sync_run(1, cond_fifo_main, NULL), 0);
    cr_assert_eq(fifo_n, 10);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(fifo_order[i], i, "woken #%d was waiter %d", i, fifo_order[i]);
}

/* ---- semaphore --------------------------------------------------------- */

#define SEM_N 3
#define SEM_G 100
#define SEM_ITERS 100

static gort_sema sem = GORT_SEMA_INIT(SEM_N);
static atomic_int sem_inside, sem_max;
static gort_waitgroup sem_wg;

static void sem_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < SEM_ITERS; i++) {
        gort_sema_acquire(&sem);
        int n = atomic_fetch_add(&sem_inside, 1) + 1;
        CHECK(n <= SEM_N);
        int m = atomic_load(&sem_max);
        while (n > m && !atomic_compare_exchange_weak(&sem_max, &m, n))
            ;
        gort_yield();
        atomic_fetch_sub(&sem_inside, 1);
        gort_sema_release(&sem);
    }
    gort_waitgroup_done(&sem_wg);
}

static void sem_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&sem_wg, SEM_G);
    for (int i = 0; i < SEM_G; i++)
        gort_go(sem_worker, NULL);
    gort_waitgroup_wait(&sem_wg);
    /* all permits are back */
    for (int i = 0; i < SEM_N; i++)
        CHECK(gort_sema_try_acquire(&sem) == 1);
    CHECK(gort_sema_try_acquire(&sem) == 0);
}

Test(sync, sema_bounded_p1)
{
    cr_assert_eq(sync_run(1, sem_main, NULL), 0);
    ASSERT_NO_FAILURES();
    cr_assert_eq(atomic_load(&sem_max), SEM_N);
}

Test(sync, sema_bounded_default_procs)
{
    cr_assert_eq(sync_run(0, sem_main, NULL), 0);
    ASSERT_NO_FAILURES();
    cr_assert_leq(atomic_load(&sem_max), SEM_N);
    cr_assert_gt(atomic_load(&sem_max), 1);
}

#define FIFO_G 64

static gort_sema fifo_sem;   /* zero: no permits */
static int sem_order[FIFO_G], sem_order_n;
static gort_waitgroup fifo_wg;

static void fifo_acquirer(void *arg)
{
    gort_sema_acquire(&fifo_sem);
    sem_order[sem_order_n++] = (int)(uintptr_t)arg;   /* P=1: no race */
    gort_waitgroup_done(&fifo_wg);
}

static void sem_fifo_main(void *arg)
{
    (void)arg;
    gort_sema_init(&fifo_sem, 0);
    gort_waitgroup_add(&fifo_wg, FIFO_G);
    for (int i = 0; i < FIFO_G; i++)
        gort_go(fifo_acquirer, (void *)(uintptr_t)i);   /* each parks at once */
    /* Release in bursts, with newcomers trying to barge in between. */
    for (int i = 0; i < FIFO_G; i++) {
        gort_sema_release(&fifo_sem);
        CHECK(gort_sema_try_acquire(&fifo_sem) == 0);   /* handed off already */
        if (i % 3 == 0)
            gort_yield();
    }
    gort_waitgroup_wait(&fifo_wg);
}

Test(sync, sema_fifo_p1, .init = no_preemption)
{
    cr_assert_eq(sync_run(1, sem_fifo_main, NULL), 0);
    ASSERT_NO_FAILURES();
    cr_assert_eq(sem_order_n, FIFO_G);
    for (int i = 0; i < FIFO_G; i++)
        cr_assert_eq(sem_order[i], i, "acquirer #%d was %d", i, sem_order[i]);
}

/* Ping-pong pairs spread over the Ps: a wake-up lost between a release
 * and a concurrent acquire leaves a pair parked for good (the deadlock
 * report, or a timeout). */
#define PP_PAIRS 4
#define PP_ROUNDS 20000

static gort_sema pp_sem[PP_PAIRS][2];
static gort_waitgroup pp_wg;
static atomic_long pp_total;

static void pp_side(void *arg)
{
    int pair = (int)((uintptr_t)arg >> 1), side = (int)((uintptr_t)arg & 1);
    for (int i = 0; i < PP_ROUNDS; i++) {
        if (side == 0) {
            gort_sema_release(&pp_sem[pair][1]);
            gort_sema_acquire(&pp_sem[pair][0]);
        } else {
            gort_sema_acquire(&pp_sem[pair][1]);
            gort_sema_release(&pp_sem[pair][0]);
        }
        atomic_fetch_add_explicit(&pp_total, 1, memory_order_relaxed);
        for (volatile int k = 0; k < (i & 63); k++)
            ;   /* vary the timing so the sides meet at every point */
    }
    gort_waitgroup_done(&pp_wg);
}

static void pp_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&pp_wg, 2 * PP_PAIRS);
    for (int i = 0; i < 2 * PP_PAIRS; i++)
        gort_go(pp_side, (void *)(uintptr_t)i);
    gort_waitgroup_wait(&pp_wg);
}

Test(sync, sema_pingpong_no_lost_wakeup)
{
    cr_assert_eq(sync_run(0, pp_main, NULL), 0);
    cr_assert_eq(atomic_load(&pp_total), 2L * PP_PAIRS * PP_ROUNDS);
}

/* Semaphores whose addresses share a bucket of the semaphore table: each
 * keeps its own FIFO queue, whatever order the releases come in. */
#define SB_SEMS 6
#define SB_WAITERS 5
#define SB_STRIDE (251 * 4)   /* sema.c: bucket = (addr >> 2) % 251 */

static _Alignas(8) char sb_mem[SB_SEMS * SB_STRIDE];
static int sb_order[SB_SEMS][SB_WAITERS], sb_n[SB_SEMS];
static gort_waitgroup sb_wg;

static gort_sema *sb_sem(int k)
{
    return (gort_sema *)(void *)(sb_mem + k * SB_STRIDE);
}

static void sb_waiter(void *arg)
{
    int k = (int)((uintptr_t)arg / SB_WAITERS), i = (int)((uintptr_t)arg % SB_WAITERS);
    gort_sema_acquire(sb_sem(k));
    sb_order[k][sb_n[k]++] = i;   /* P=1: no race */
    gort_waitgroup_done(&sb_wg);
}

static void sb_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&sb_wg, SB_SEMS * SB_WAITERS);
    /* Queue them interleaved: sem 0 waiter 0, sem 1 waiter 0, ... */
    for (int i = 0; i < SB_WAITERS; i++)
        for (int k = 0; k < SB_SEMS; k++)
            gort_go(sb_waiter, (void *)(uintptr_t)(k * SB_WAITERS + i));
    /* Release in a scrambled order: middle semaphores first, then ends. */
    static const int order[SB_SEMS] = {3, 1, 4, 0, 5, 2};
    for (int round = 0; round < SB_WAITERS; round++) {
        for (int j = 0; j < SB_SEMS; j++) {
            int k = order[(j + round) % SB_SEMS];
            gort_sema_release(sb_sem(k));
            gort_yield();
            CHECK(sb_n[k] == round + 1);   /* exactly one of k's waiters woke */
        }
    }
    gort_waitgroup_wait(&sb_wg);
}

Test(sync, sema_shared_bucket_p1)
{
    cr_assert_eq(sync_run(1, sb_main, NULL), 0);
    ASSERT_NO_FAILURES();
    for (int k = 0; k < SB_SEMS; k++)
        for (int i = 0; i < SB_WAITERS; i++)
            cr_assert_eq(sb_order[k][i], i, "sem %d: woken #%d was waiter %d", k, i,
                         sb_order[k][i]);
}

/* ---- the semaphore table across runtime restarts ------------------------ */

/* Run 1 ends with a goroutine parked on the mutex: its waiter record
 * (on a stack that is freed) must not be found by run 2, which parks and
 * wakes on the same address. */
static gort_mutex restart_mu;
static atomic_int restart_got;   /* run 2's main polls it without the mutex */

static void restart_blocker(void *arg)
{
    (void)arg;
    gort_mutex_lock(&restart_mu);   /* never returns in run 1 */
    restart_got++;
    gort_mutex_unlock(&restart_mu);
}

static gort_waitgroup restart_gate;

static void restart_parked(void *arg)
{
    (void)arg;
    gort_waitgroup_wait(&restart_gate);   /* never returns in run 1 */
}

static void restart_run1(void *arg)
{
    (void)arg;
    gort_mutex_lock(&restart_mu);
    /* Other goroutines first, so that the blocker's stack (and its G)
     * lies where run 2 puts none: a stale record then points at memory
     * no goroutine of run 2 owns. */
    gort_waitgroup_add(&restart_gate, 1);
    for (int i = 0; i < 100; i++)
        gort_go(restart_parked, NULL);
    gort_go(restart_blocker, NULL);
    /* return with all of them parked: they are discarded */
}

static void restart_run2(void *arg)
{
    (void)arg;
    gort_mutex_lock(&restart_mu);
    gort_go(restart_blocker, NULL);
    gort_go(restart_blocker, NULL);
    gort_mutex_unlock(&restart_mu);
    while (restart_got < 2)
        gort_yield();
}

Test(sync, semtable_survives_restart)
{
    cr_assert_eq(sync_run(0, restart_run1, NULL), 0);
    cr_assert_eq(restart_got, 0);
    restart_mu = (gort_mutex)GORT_MUTEX_INIT;   /* as sync.h asks */
    restart_gate = (gort_waitgroup)GORT_WAITGROUP_INIT;
    cr_assert_eq(sync_run(0, restart_run2, NULL), 0);
    cr_assert_eq(restart_got, 2);
}

/* ---- fatal errors ------------------------------------------------------ */

static char out[8192];

static void expect_fatal(void (*fn)(void), const char *want)
{
    int st = run_child(fn, out, sizeof out);
    cr_assert_eq(st, 2, "status %d, output:\n%s", st, out);
    cr_assert_not_null(strstr(out, want), "want \"%s\" in:\n%s", want, out);
}

static void in_runtime(void (*fn)(void *))
{
    sync_run(0, fn, NULL);
}

static void unlock_unlocked(void *arg)
{
    (void)arg;
    static gort_mutex mu;
    gort_mutex_unlock(&mu);
}
static void child_unlock_unlocked(void) { in_runtime(unlock_unlocked); }

Test(sync, fatal_unlock_of_unlocked_mutex)
{
    expect_fatal(child_unlock_unlocked,
                 "gort: fatal error: gort_mutex_unlock: unlock of unlocked mutex");
    cr_assert_not_null(strstr(out, "goroutine 1 [running]"), "%s", out);
}

static void double_unlock(void *arg)
{
    (void)arg;
    static gort_mutex mu;
    gort_mutex_lock(&mu);
    gort_mutex_unlock(&mu);
    gort_mutex_unlock(&mu);
}
static void child_double_unlock(void) { in_runtime(double_unlock); }

Test(sync, fatal_double_unlock_of_mutex)
{
    expect_fatal(child_double_unlock,
                 "gort: fatal error: gort_mutex_unlock: unlock of unlocked mutex");
}

static void runlock_unlocked(void *arg)
{
    (void)arg;
    static gort_rwmutex m;
    gort_rwmutex_runlock(&m);
}
static void child_runlock_unlocked(void) { in_runtime(runlock_unlocked); }

Test(sync, fatal_runlock_of_unlocked_rwmutex)
{
    expect_fatal(child_runlock_unlocked,
                 "gort: fatal error: gort_rwmutex_runlock: runlock of unlocked rwmutex");
}

static void rw_unlock_unlocked(void *arg)
{
    (void)arg;
    static gort_rwmutex m;
    gort_rwmutex_rlock(&m);
    gort_rwmutex_unlock(&m);
}
static void child_rw_unlock_unlocked(void) { in_runtime(rw_unlock_unlocked); }

Test(sync, fatal_unlock_of_read_locked_rwmutex)
{
    expect_fatal(child_rw_unlock_unlocked,
                 "gort: fatal error: gort_rwmutex_unlock: unlock of unlocked rwmutex");
}

static void wg_negative(void *arg)
{
    (void)arg;
    static gort_waitgroup wg;
    gort_waitgroup_add(&wg, 1);
    gort_waitgroup_add(&wg, -2);
}
static void child_wg_negative(void) { in_runtime(wg_negative); }

Test(sync, fatal_negative_waitgroup)
{
    expect_fatal(child_wg_negative,
                 "gort: fatal error: gort_waitgroup_add: negative WaitGroup counter");
}

static void wg_done_negative(void *arg)
{
    (void)arg;
    static gort_waitgroup wg;
    gort_waitgroup_done(&wg);
}
static void child_wg_done_negative(void) { in_runtime(wg_done_negative); }

Test(sync, fatal_negative_waitgroup_done)
{
    expect_fatal(child_wg_done_negative,
                 "gort: fatal error: gort_waitgroup_done: negative WaitGroup counter");
}

static void child_lock_no_runtime(void)
{
    static gort_mutex mu;
    gort_mutex_lock(&mu);
}

Test(sync, fatal_mutex_lock_without_runtime)
{
    expect_fatal(child_lock_no_runtime,
                 "gort: fatal error: gort_mutex_lock: called outside a goroutine "
                 "(no gort runtime on this thread)");
}

static void child_wait_no_runtime(void)
{
    static gort_waitgroup wg;
    gort_waitgroup_wait(&wg);
}

Test(sync, fatal_waitgroup_wait_without_runtime)
{
    expect_fatal(child_wait_no_runtime,
                 "gort: fatal error: gort_waitgroup_wait: called outside a goroutine");
}

static void child_release_no_runtime(void)
{
    static gort_sema s;
    gort_sema_release(&s);
}

Test(sync, fatal_sema_release_without_runtime)
{
    expect_fatal(child_release_no_runtime,
                 "gort: fatal error: gort_sema_release: called outside a goroutine");
}

static void cond_no_mutex(void *arg)
{
    (void)arg;
    static gort_cond c;
    gort_cond_wait(&c);
}
static void child_cond_no_mutex(void) { in_runtime(cond_no_mutex); }

Test(sync, fatal_cond_wait_without_mutex)
{
    expect_fatal(child_cond_no_mutex,
                 "gort: fatal error: gort_cond_wait: condition variable has no mutex");
}

static gort_once rec_once;
static void rec_fn(void *arg);
static void rec_fn(void *arg)
{
    gort_once_do(&rec_once, rec_fn, arg);
}
static void once_recursive(void *arg)
{
    (void)arg;
    gort_once_do(&rec_once, rec_fn, NULL);
}
static void child_once_recursive(void) { in_runtime(once_recursive); }

Test(sync, fatal_recursive_once)
{
    expect_fatal(child_once_recursive,
                 "gort: fatal error: gort_once_do: recursive call from the once function");
}

static void all_blocked(void *arg)
{
    (void)arg;
    static gort_mutex mu;
    gort_mutex_lock(&mu);
    gort_mutex_lock(&mu);   /* nobody will ever unlock it */
}
static void child_all_blocked(void) { in_runtime(all_blocked); }

Test(sync, deadlock_is_reported)
{
    expect_fatal(child_all_blocked, "all goroutines are asleep - deadlock!");
}
