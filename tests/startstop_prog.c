/* startstop_prog.c - library mode started and stopped N times (default
 * 20) in one process, each cycle running goroutines, a channel, a timer
 * and a callback from a fresh foreign thread.  .ci/run runs it under
 * valgrind: no invalid access, and no memory definitely lost across the
 * cycles. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <gort.h>

static ffi_cif cif;
static ffi_type *args[2] = {&ffi_type_sint64, &ffi_type_sint64};

static void add(ffi_cif *c, void *ret, void **a, void *user)
{
    (void)c;
    (void)user;
    *(int64_t *)ret = *(int64_t *)a[0] + *(int64_t *)a[1];
}

static void child(void *arg)
{
    gort_chan *c = arg;
    int64_t v = 41;
    gort_sleep(GORT_MILLISECOND);
    gort_chan_send(c, &v);
}

static void work(void *arg)
{
    int64_t *out = arg;
    gort_chan *c = gort_chan_new(sizeof(int64_t), 0);
    gort_go(child, c);
    gort_chan_recv(c, out);
    gort_chan_release(c);
}

static void *host_thread(void *fn)
{
    int64_t r = ((int64_t (*)(int64_t, int64_t))fn)(40, 2);
    return (void *)(intptr_t)r;
}

int main(int argc, char **argv)
{
    int cycles = argc > 1 ? atoi(argv[1]) : 20;
    ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint64, args);
    for (int i = 0; i < cycles; i++) {
        if (gort_start(NULL) != 0) {
            fprintf(stderr, "cycle %d: gort_start failed\n", i);
            return 1;
        }
        int64_t v = 0;
        gort_run(work, &v);
        void *fn = gort_callback_new(&cif, add, NULL);
        pthread_t t;
        void *r;
        pthread_create(&t, NULL, host_thread, fn);
        pthread_join(t, &r);
        gort_callback_free(fn);
        if (gort_stop(GORT_SECOND) != 0 || v != 41 || (intptr_t)r != 42) {
            fprintf(stderr, "cycle %d: v=%lld r=%lld\n", i, (long long)v, (long long)(intptr_t)r);
            return 1;
        }
    }
    printf("%d start/stop cycles ok\n", cycles);
    return 0;
}
