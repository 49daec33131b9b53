/* trace_prog.c - a small program for tests/trace.sh: channel hand-offs
 * between goroutines on several Ps, sleeps, foreign calls, and callbacks
 * from a thread the runtime never saw. */
#include <pthread.h>
#include <unistd.h>

#include <gort.h>

static gort_chan *ping, *pong;
static ffi_cif cif;
static ffi_type *args[2] = {&ffi_type_sint64, &ffi_type_sint64};
static int64_t (*add)(int64_t, int64_t);

static void handler(ffi_cif *c, void *ret, void **a, void *user)
{
    (void)c;
    (void)user;
    gort_sleep(100 * GORT_MICROSECOND);
    *(int64_t *)ret = *(int64_t *)a[0] + *(int64_t *)a[1];
}

static void *host_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++)
        add(i, 1);
    return NULL;
}

static void echo(void *arg)
{
    (void)arg;
    int64_t v;
    while (gort_chan_recv(ping, &v))
        gort_chan_send(pong, &v);
}

static void nap(void *arg)
{
    (void)arg;
    usleep(2000);
}

static void join(void *t)
{
    pthread_join(*(pthread_t *)t, NULL);
}

static void main_goroutine(void *arg)
{
    (void)arg;
    ping = gort_chan_new(sizeof(int64_t), 0);
    pong = gort_chan_new(sizeof(int64_t), 0);
    ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint64, args);
    add = (int64_t(*)(int64_t, int64_t))gort_callback_new(&cif, handler, NULL);
    gort_go(echo, NULL);
    for (int64_t i = 0; i < 50; i++) {
        gort_chan_send(ping, &i);
        gort_chan_recv(pong, &i);
        if (i % 10 == 0)
            gort_sleep(200 * GORT_MICROSECOND);
    }
    gort_cgocall(nap, NULL);
    pthread_t t;
    pthread_create(&t, NULL, host_thread, NULL);
    gort_cgocall_blocking(join, &t);
    gort_chan_close(ping);
    gort_callback_free((void *)add);
}

int main(int argc, char **argv)
{
    return gort_main(argc, argv, main_goroutine, NULL);
}
