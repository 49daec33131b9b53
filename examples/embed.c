/*
 * embed.c - gort inside a C application that keeps its own threads.
 *
 * The application (the "host") owns main() and a pool of plain pthreads.
 * The pool stands in for a C library that calls back into user code from
 * threads of its own (a network server, a plugin host, a GUI toolkit).
 * The host starts gort in library mode, and from then on:
 *
 *   - the pool calls an ordinary C function pointer, made by
 *     gort_callback_new.  Its body runs as goroutine code on the pool
 *     thread: it hands the request to a server goroutine over a channel
 *     and waits for the answer;
 *   - each server goroutine starts a worker goroutine for the request and
 *     waits for its result or for a deadline, whichever comes first
 *     (gort_select on the result channel and on gort_after);
 *   - the worker makes a blocking foreign call through libffi
 *     (gort_ffi_call to a C function that sleeps and computes).  While it
 *     blocks, the other goroutines keep running;
 *   - once every request has its answer, a goroutine calls a function
 *     that must run on the host's main thread (gort_host_call); main runs
 *     it from its own poll() loop on gort_host_fd;
 *   - the host stops gort (gort_stop) and prints what crossed the
 *     boundary.  main carries on after gort: it returns normally.
 *
 *   cc embed.c $(pkg-config --cflags --libs gort) -o embed && ./embed
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <ffi.h>
#include <gort.h>

#define POOL_THREADS 4
#define CALLS_PER_THREAD 25
#define REQUESTS (POOL_THREADS * CALLS_PER_THREAD)
#define SERVERS 4
#define DEADLINE (100 * GORT_MILLISECOND)
#define SLOW_INPUT 42                  /* this request's work overruns the deadline */
#define TIMED_OUT INT64_MIN            /* the answer to a request past its deadline */

/* What crossed the boundary. */
static atomic_int n_callbacks;         /* pool thread -> goroutine code */
static atomic_int n_foreign;           /* goroutine -> C (gort_ffi_call) */
static atomic_int n_host_calls;        /* goroutine -> the host's main thread */
static atomic_int n_goroutines;        /* gort_go */
static atomic_int n_timeouts;          /* requests answered "past the deadline" */

/* ==== the host's C side: knows nothing of gort =========================== */

static pthread_t main_thread;

/* The work: a call that blocks the thread it runs on (as a database
 * query or a disk read would), then computes. */
static int64_t slow_square(int64_t x)
{
    usleep(x == SLOW_INPUT ? 300 * 1000 : 1000);
    return x * x;
}

/* Must run on the main thread (think: a GUI toolkit's update call). */
static int64_t show_on_main(int64_t answered)
{
    int on_main = pthread_equal(pthread_self(), main_thread);
    printf("main thread: asked by a goroutine to show progress: %lld requests answered (%s)\n",
           (long long)answered, on_main ? "running on the main thread" : "WRONG THREAD");
    return on_main;
}

/* The pool: each thread calls the handler it was given, as a C library
 * calls a user's callback. */
typedef int64_t (*handler_fn)(int64_t);

struct pool_thread {
    pthread_t tid;
    int index;
    handler_fn handle;
    int wrong;                         /* answers that were not x*x */
};

static void *pool_main(void *arg)
{
    struct pool_thread *t = arg;
    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        int64_t x = (int64_t)t->index * CALLS_PER_THREAD + i;
        int64_t y = t->handle(x);
        if (y != x * x && y != TIMED_OUT)   /* late is allowed, wrong is not */
            t->wrong++;
    }
    return NULL;
}

/* ==== the goroutine side ================================================= */

static ffi_cif square_cif, show_cif, handler_cif;
static ffi_type *one_int64[1] = {&ffi_type_sint64};

static gort_host *host;                /* the main thread, as a call target */
static gort_chan *requests;            /* struct request *, unbuffered */
static gort_waitgroup answered;        /* one per request */
static gort_waitgroup servers_done;

struct request {
    int64_t x;
    gort_chan *reply;                  /* int64_t, unbuffered */
};

struct job {
    int64_t x;
    gort_chan *result;                 /* int64_t, capacity 1 */
};

static void go(void (*fn)(void *), void *arg)
{
    if (gort_go(fn, arg) < 0) {
        fprintf(stderr, "embed: gort_go failed\n");
        exit(1);
    }
    atomic_fetch_add(&n_goroutines, 1);
}

/* A worker goroutine: one blocking foreign call.  Its result channel has
 * room for one value, so the send never blocks, even when the server has
 * stopped waiting; each side drops its own reference. */
static void worker(void *arg)
{
    struct job *j = arg;
    int64_t y;
    void *args[1] = {&j->x};
    gort_ffi_call(&square_cif, FFI_FN(slow_square), &y, args);
    atomic_fetch_add(&n_foreign, 1);
    gort_chan_send(j->result, &y);
    gort_chan_release(j->result);
    free(j);
}

/* A server goroutine: for each request, run a worker and wait for its
 * result or the deadline. */
static void server(void *arg)
{
    (void)arg;
    struct request *r;
    while (gort_chan_recv(requests, &r)) {
        struct job *j = malloc(sizeof *j);
        if (!j)
            abort();
        j->x = r->x;
        j->result = gort_chan_new(sizeof(int64_t), 1);
        gort_chan *result = gort_chan_retain(j->result);
        go(worker, j);

        gort_chan *deadline = gort_after(DEADLINE);
        int64_t y;
        gort_select_case cases[2] = {
            {.chan = result, .dir = GORT_SELECT_RECV, .elem = &y},
            {.chan = deadline, .dir = GORT_SELECT_RECV, .elem = NULL},
        };
        if (gort_select(cases, 2, true) == 1) {
            y = TIMED_OUT;
            atomic_fetch_add(&n_timeouts, 1);
        }
        gort_chan_release(deadline);
        gort_chan_release(result);
        gort_chan_send(r->reply, &y);
    }
    gort_waitgroup_done(&servers_done);
}

/* The callback's body: goroutine code, running on the pool thread that
 * called the function pointer.  The request lives on this stack: it stays
 * valid because the server answers before this function returns. */
static void handle_request(ffi_cif *cif, void *ret, void **args, void *user)
{
    (void)cif;
    (void)user;
    struct request req = {.x = *(int64_t *)args[0],
                          .reply = gort_chan_new(sizeof(int64_t), 0)};
    struct request *rp = &req;
    int64_t y;
    gort_chan_send(requests, &rp);
    gort_chan_recv(req.reply, &y);
    gort_chan_release(req.reply);
    *(int64_t *)ret = y;
    atomic_fetch_add(&n_callbacks, 1);
    gort_waitgroup_done(&answered);
}

/* Waits until every request is answered, then asks the main thread to
 * show it. */
static void reporter(void *arg)
{
    (void)arg;
    gort_waitgroup_wait(&answered);
    int64_t n = atomic_load(&n_callbacks), on_main = 0;
    void *args[1] = {&n};
    gort_host_call(host, &show_cif, FFI_FN(show_on_main), &on_main, args);
    atomic_fetch_add(&n_host_calls, 1);
    if (!on_main)
        fprintf(stderr, "embed: the host call did not run on the main thread\n");
}

/* Run from the main thread through gort_run: goroutine code. */
static void start_servers(void *arg)
{
    (void)arg;
    requests = gort_chan_new(sizeof(struct request *), 0);
    gort_waitgroup_add(&answered, REQUESTS);
    gort_waitgroup_add(&servers_done, SERVERS);
    for (int i = 0; i < SERVERS; i++)
        go(server, NULL);
    go(reporter, NULL);
}

static void stop_servers(void *arg)
{
    (void)arg;
    gort_chan_close(requests);        /* servers see "closed" and return */
    gort_waitgroup_wait(&servers_done);
    gort_chan_release(requests);
}

/* ==== main: the host's own thread ======================================== */

static void die(const char *what)
{
    fprintf(stderr, "embed: %s\n", what);
    exit(1);
}

int main(void)
{
    main_thread = pthread_self();
    if (ffi_prep_cif(&square_cif, FFI_DEFAULT_ABI, 1, &ffi_type_sint64, one_int64) != FFI_OK ||
        ffi_prep_cif(&show_cif, FFI_DEFAULT_ABI, 1, &ffi_type_sint64, one_int64) != FFI_OK ||
        ffi_prep_cif(&handler_cif, FFI_DEFAULT_ABI, 1, &ffi_type_sint64, one_int64) != FFI_OK)
        die("ffi_prep_cif failed");

    /* 1. Start gort on threads of its own; main keeps running here. */
    int err = gort_start(NULL);
    if (err != 0) {
        fprintf(stderr, "embed: gort_start: %s\n", gort_strerror(err));
        return 1;
    }
    printf("host: gort started in library mode with %d processors\n", gort_maxprocs());

    /* 2. Make main a call target for goroutines, and start the servers. */
    host = gort_host_register();
    if (!host)
        die("gort_host_register failed");
    gort_run(start_servers, NULL);

    /* 3. A C function pointer whose body runs in the goroutine world, for
     *    the pool to call from its threads. */
    handler_fn handle = (handler_fn)gort_callback_new(&handler_cif, handle_request, NULL);
    if (!handle)
        die("gort_callback_new failed");
    struct pool_thread pool[POOL_THREADS];
    for (int i = 0; i < POOL_THREADS; i++) {
        pool[i] = (struct pool_thread){.index = i, .handle = handle};
        if (pthread_create(&pool[i].tid, NULL, pool_main, &pool[i]) != 0)
            die("pthread_create failed");
    }

    /* 4. main's own event loop: serve calls from goroutines when the
     *    host fd polls readable; here, until the reporter's one call. */
    int served = 0;
    while (served == 0) {
        struct pollfd pfd = {.fd = gort_host_fd(host), .events = POLLIN};
        int n = poll(&pfd, 1, 30 * 1000);
        if (n < 0 && errno != EINTR)
            die("poll failed");
        if (n == 0)
            die("no call from the goroutines in 30 s");
        if (n > 0 && (pfd.revents & POLLIN))
            served += gort_host_serve(host);
    }

    /* 5. Wind down: the pool first (no callback may start after
     *    gort_stop), then the servers, then the runtime. */
    int wrong = 0;
    for (int i = 0; i < POOL_THREADS; i++) {
        pthread_join(pool[i].tid, NULL);
        wrong += pool[i].wrong;
    }
    gort_run(stop_servers, NULL);
    gort_callback_free((void *)handle);
    gort_host_unregister(host);
    err = gort_stop(5 * GORT_SECOND);   /* waits for the late worker too */
    if (err != 0) {
        fprintf(stderr, "embed: gort_stop: %s\n", gort_strerror(err));
        return 1;
    }

    printf("callbacks from %d host threads:      %d\n", POOL_THREADS, atomic_load(&n_callbacks));
    printf("foreign calls through libffi:         %d (%d answered past the %lld ms deadline)\n",
           atomic_load(&n_foreign), atomic_load(&n_timeouts),
           (long long)(DEADLINE / GORT_MILLISECOND));
    printf("calls run on the host's main thread:  %d\n", atomic_load(&n_host_calls));
    printf("goroutines started:                   %d\n", atomic_load(&n_goroutines));
    if (wrong != 0 || atomic_load(&n_callbacks) != REQUESTS ||
        atomic_load(&n_foreign) != REQUESTS || atomic_load(&n_host_calls) != 1) {
        fprintf(stderr, "embed: FAILED (%d wrong answers)\n", wrong);
        return 1;
    }
    printf("host: gort stopped; main thread carries on and exits 0\n");
    return 0;
}
