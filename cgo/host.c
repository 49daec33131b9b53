/*
 * host.c - goroutines calling into one chosen host thread.
 *
 * Some C libraries must be called from one thread only (a GUI main loop,
 * a thread-affine engine).  That thread registers itself as a host; a
 * goroutine's gort_host_call queues a request (on the goroutine's stack)
 * and parks; the host thread runs queued requests through libffi when it
 * calls gort_host_serve, records errno, and readies each goroutine.  An
 * eventfd tells the host's own event loop when requests are waiting.
 *
 * Locks: h->lock (a leaf).  The request is queued and the goroutine
 * parked with the lock held, and the lock is released (and the eventfd
 * written) only once the goroutine is off the CPU, so the host can never
 * ready a goroutine that is still running.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "runtime.h"

struct host_req {
    ffi_cif *cif;
    void (*fn)(void);
    void *rvalue;
    void **avalues;
    int err;
    gort_g *g;
    struct host_req *next;
};

struct gort_host {
    gort_rtlock lock;
    int fd;
    struct host_req *head, *tail;
};

gort_host *gort_host_register(void)
{
    gort_host *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->fd < 0) {
        free(h);
        return NULL;
    }
    return h;
}

int gort_host_fd(gort_host *h)
{
    return h ? h->fd : -1;
}

static void queued(void *p)
{
    gort_host *h = p;
    gort_rtlock_unlock(&h->lock);
    uint64_t one = 1;
    while (write(h->fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

void gort_host_call(gort_host *h, ffi_cif *cif, void (*fn)(void), void *rvalue, void **avalues)
{
    gort_g *g = gort_need_g("gort_host_call");
    if (!h || !cif || !fn)
        gort_throw_call("gort_host_call", "host, cif or fn is NULL");
    struct host_req r = {cif, fn, rvalue, avalues, 0, g, NULL};
    atomic_fetch_add(&gort_sched.nhostcalls, 1);
    gort_rtlock_lock(&h->lock);
    if (h->tail)
        h->tail->next = &r;
    else
        h->head = &r;
    h->tail = &r;
    gort_park("host call", queued, h);
    atomic_fetch_sub(&gort_sched.nhostcalls, 1);
    errno = r.err;
}

int gort_host_serve(gort_host *h)
{
    if (!h)
        return 0;
    uint64_t n;
    while (read(h->fd, &n, sizeof n) < 0 && errno == EINTR)
        ;
    gort_rtlock_lock(&h->lock);
    struct host_req *r = h->head;
    h->head = h->tail = NULL;
    gort_rtlock_unlock(&h->lock);
    /* This thread is none of the runtime's Ms: a goroutine it readies may
     * finish, and the run end, while gort_ready is still waking an M for
     * it.  Hold the run until the last one is handed over. */
    if (r && !gort_sched_hold())
        return 0;   /* the run ended with these goroutines parked: gone with it */
    int count = 0;
    while (r) {
        struct host_req *next = r->next;   /* r lives on a stack that moves on once readied */
        errno = 0;
        ffi_call(r->cif, r->fn, r->rvalue, r->avalues);
        r->err = errno;
        gort_ready(r->g, false);
        r = next;
        count++;
    }
    if (count)
        gort_sched_release();
    return count;
}

void gort_host_unregister(gort_host *h)
{
    if (!h)
        return;
    gort_host_serve(h);
    close(h->fd);
    free(h);
}
