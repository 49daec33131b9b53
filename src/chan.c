/*
 * chan.c - channels and select.
 *
 * A channel is a lock, a ring buffer of cap values, and two FIFO queues of
 * waiting goroutines (sudogs: "a G waiting on a channel", on the waiting
 * G's own stack, holding where its value lives).  The rules:
 *
 *   - a send finding a waiting receiver copies straight into the
 *     receiver's destination and readies it into runnext: the sender
 *     usually blocks or yields soon, and the receiver then runs on the
 *     same core, cache-warm, without a thread being woken;
 *   - a receive finding a waiting sender (only possible when the buffer is
 *     full, or unbuffered) takes the oldest value and moves the sender's
 *     value in behind it, so FIFO order holds;
 *   - a blocked G's sudog is removed from the queue by whoever wakes it,
 *     under the channel lock; the G itself touches it again only after it
 *     has been readied.
 *
 * Select first looks for a ready case: it draws one uniformly among the
 * cases that look ready, and drops and redraws when one is not after all
 * (see select_ready: one random number, not a permutation of the cases).
 * At P > 1 that first look is made without locks and only the drawn
 * channel is locked; the pass with every channel locked follows only when
 * that finds nothing.  Blocking, it enqueues one sudog per case and parks
 * once.  Several channels may try to wake it at the same moment; the
 * sudogs of one select share a select_state, and a waker claims the
 * select with a CAS on its `done` flag before using a sudog (the losers
 * skip it as stale).  The woken select locks its channels again and
 * removes its other sudogs.
 *
 * Locks: one per channel, a leaf except that select takes several, always
 * in address order (each channel once), so two selects over the same
 * channels cannot deadlock.  With GORT_MAXPROCS=1 only the M holding the
 * single P runs goroutine code, and channel operations are goroutine-only,
 * so the P already serialises them: the channel locks are skipped.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "gort/chan.h"
#include "runq.h"

/* The hand-off paths are a few dozen instructions each; a call, with its
 * saved registers, costs as much as what it calls. */
#define HOT static inline __attribute__((always_inline))

typedef struct sudog sudog;
struct select_state {
    _Atomic uint32_t done;   /* 0 until a waker claims the select */
    sudog *winner;
};

struct sudog {
    gort_g *g;
    sudog *next, *prev;
    sudog *readylink;        /* close(): the list of Gs to wake */
    void *elem;
    struct select_state *sel;
    uint32_t case_index;
    bool success;            /* woken by a value (or a receiver), not close */
};

typedef struct waitq {
    sudog *first, *last;
} waitq;

struct gort_chan {
    gort_rtlock lock;
    _Atomic uint32_t refs;
    uint32_t elemsize;
    uint32_t cap;
    uint32_t count;
    uint32_t sendx, recvx;
    bool closed;
    waitq recvq, sendq;
    char buf[];
};

/* ---- locking ------------------------------------------------------------ */

static inline bool need_locks(void)
{
    return gort_sched.nprocs > 1;
}

static inline void chan_lock(gort_chan *c)
{
    if (need_locks())
        gort_rtlock_lock(&c->lock);
}

static inline void chan_unlock(gort_chan *c)
{
    if (need_locks())
        gort_rtlock_unlock(&c->lock);
}

static void chan_unlock_cb(void *c)
{
    gort_rtlock_unlock(&((gort_chan *)c)->lock);
}

/* Park on c: its lock is released once the G is off the CPU. */
static inline void chan_park(gort_chan *c, const char *reason)
{
    if (need_locks())
        gort_park(reason, chan_unlock_cb, c);
    else
        gort_park(reason, NULL, NULL);
}

/* The fields read without the lock -- a queue's first waiter, count and
 * closed (select's first look at P > 1, gort_chan_len) -- are written
 * under it with relaxed atomic stores (a plain store on x86), so those
 * reads are races only in appearance. */
#define set_relaxed(field, v) __atomic_store_n((field), (v), __ATOMIC_RELAXED)

/* ---- wait queues -------------------------------------------------------- */

HOT void enqueue(waitq *q, sudog *sg)
{
    sg->next = NULL;
    sg->prev = q->last;
    if (q->last)
        q->last->next = sg;
    else
        set_relaxed(&q->first, sg);
    q->last = sg;
}

HOT void unlink_sg(waitq *q, sudog *sg)
{
    if (sg->prev)
        sg->prev->next = sg->next;
    else
        set_relaxed(&q->first, sg->next);
    if (sg->next)
        sg->next->prev = sg->prev;
    else
        q->last = sg->prev;
    sg->next = sg->prev = NULL;
}

/* The first waiter that can still be woken; select sudogs whose select
 * was already claimed elsewhere are dropped. */
HOT sudog *dequeue(waitq *q)
{
    for (;;) {
        sudog *sg = q->first;
        if (!sg)
            return NULL;
        unlink_sg(q, sg);
        if (sg->sel) {
            uint32_t zero = 0;
            if (!atomic_compare_exchange_strong(&sg->sel->done, &zero, 1))
                continue;
            sg->sel->winner = sg;
        }
        return sg;
    }
}

/* ---- life --------------------------------------------------------------- */

gort_chan *gort_chan_new(size_t elem_size, size_t capacity)
{
    if (elem_size > GORT_CHAN_ELEM_MAX || capacity > (1u << 31))
        return NULL;
    size_t bytes = sizeof(gort_chan) + elem_size * capacity;
    gort_chan *c = calloc(1, bytes);
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->elemsize = (uint32_t)elem_size;
    c->cap = (uint32_t)capacity;
    return c;
}

gort_chan *gort_chan_retain(gort_chan *c)
{
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void gort_chan_release(gort_chan *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (c->recvq.first || c->sendq.first)
        gort_throw_call("gort_chan_release", "channel freed while goroutines are blocked on it");
    free(c);
}

size_t gort_chan_len(gort_chan *c)
{
    return c ? __atomic_load_n(&c->count, __ATOMIC_RELAXED) : 0;
}

size_t gort_chan_cap(gort_chan *c)
{
    return c ? c->cap : 0;
}

/* ---- the operations, with the channel locked ---------------------------- */

static inline void *slot(gort_chan *c, uint32_t i)
{
    return c->buf + (size_t)i * c->elemsize;
}

static inline void copy_elem(gort_chan *c, void *dst, const void *src)
{
    if (!dst)
        return;
    switch (c->elemsize) {   /* the common sizes without a call */
    case 0:
        return;
    case 4:
        memcpy(dst, src, 4);
        return;
    case 8:
        memcpy(dst, src, 8);
        return;
    case 16:
        memcpy(dst, src, 16);
        return;
    default:
        memcpy(dst, src, c->elemsize);
    }
}

static inline void zero_elem(gort_chan *c, void *dst)
{
    if (dst && c->elemsize)
        memset(dst, 0, c->elemsize);
}

/* Hand elem to a waiting receiver; returns the G to ready. */
static inline gort_g *send_to(gort_chan *c, sudog *sg, const void *elem)
{
    copy_elem(c, sg->elem, elem);
    sg->success = true;
    return sg->g;
}

/* Take a value while a sender waits (buffer full, or unbuffered). */
static inline gort_g *recv_from(gort_chan *c, sudog *sg, void *elem)
{
    if (c->cap == 0) {
        copy_elem(c, elem, sg->elem);
    } else {
        void *s = slot(c, c->recvx);
        copy_elem(c, elem, s);
        copy_elem(c, s, sg->elem);
        if (++c->recvx == c->cap)
            c->recvx = 0;
        c->sendx = c->recvx;
    }
    sg->success = true;
    return sg->g;
}

static inline void buf_put(gort_chan *c, const void *elem)
{
    copy_elem(c, slot(c, c->sendx), elem);
    if (++c->sendx == c->cap)
        c->sendx = 0;
    set_relaxed(&c->count, c->count + 1);
}

static inline void buf_take(gort_chan *c, void *elem)
{
    copy_elem(c, elem, slot(c, c->recvx));
    if (++c->recvx == c->cap)
        c->recvx = 0;
    set_relaxed(&c->count, c->count - 1);
}

/* Every channel call is a point where the goroutine honours a preemption
 * request (sysmon, after 10 ms without a switch) or the runtime's end, as
 * gort_go and gort_park do: a goroutine whose operations all complete at
 * once (buffered channels, try_*, select with a ready case) never parks,
 * and would otherwise starve the other goroutines of its P. */
static inline void chan_checkpoint(gort_g *g)
{
    if (unlikely(atomic_load_explicit(&gort_sched.stopping, memory_order_relaxed)))
        gort_stop_check_slow(g);
    if (unlikely(atomic_load_explicit(&g->preempt, memory_order_relaxed)))
        gort_preempt_check_slow(g);
}

static noreturn void block_forever(const char *reason)
{
    gort_park(reason, NULL, NULL);
    gort_throw("goroutine blocked on a nil channel was woken");
}

/* 1 done (readied *wake if non-NULL), 0 would block.  Locked on entry,
 * unlocked on return 1. */
HOT int try_send_locked(gort_chan *c, const void *elem, const char *call)
{
    if (unlikely(c->closed)) {
        chan_unlock(c);
        gort_throw_call(call, "send on closed channel");
    }
    sudog *sg = dequeue(&c->recvq);
    if (sg) {
        gort_g *g = send_to(c, sg, elem);
        chan_unlock(c);
        gort_ready_inline(g, true);
        return 1;
    }
    if (c->count < c->cap) {
        buf_put(c, elem);
        chan_unlock(c);
        return 1;
    }
    return 0;
}

HOT int try_recv_locked(gort_chan *c, void *elem, bool *ok)
{
    sudog *sg = dequeue(&c->sendq);
    if (sg) {
        gort_g *g = recv_from(c, sg, elem);
        chan_unlock(c);
        gort_ready_inline(g, true);
        *ok = true;
        return 1;
    }
    if (c->count > 0) {
        buf_take(c, elem);
        chan_unlock(c);
        *ok = true;
        return 1;
    }
    if (c->closed) {
        chan_unlock(c);
        zero_elem(c, elem);
        *ok = false;
        return 1;
    }
    return 0;
}

void gort_chan_send(gort_chan *c, const void *elem)
{
    gort_g *g = gort_need_g("gort_chan_send");
    chan_checkpoint(g);
    if (!c)
        block_forever("chan send (nil chan)");
    chan_lock(c);
    if (try_send_locked(c, elem, "gort_chan_send"))
        return;
    sudog me = {.g = g, .elem = (void *)elem};
    enqueue(&c->sendq, &me);
    chan_park(c, "chan send");
    if (!me.success)
        gort_throw_call("gort_chan_send", "send on closed channel");
}

bool gort_chan_recv(gort_chan *c, void *elem)
{
    gort_g *g = gort_need_g("gort_chan_recv");
    chan_checkpoint(g);
    bool ok;
    if (!c)
        block_forever("chan receive (nil chan)");
    chan_lock(c);
    if (try_recv_locked(c, elem, &ok))
        return ok;
    sudog me = {.g = g, .elem = elem};
    enqueue(&c->recvq, &me);
    chan_park(c, "chan receive");
    return me.success;
}

int gort_chan_try_send(gort_chan *c, const void *elem)
{
    chan_checkpoint(gort_need_g("gort_chan_try_send"));
    if (!c)
        return 0;
    chan_lock(c);
    if (try_send_locked(c, elem, "gort_chan_try_send"))
        return 1;
    chan_unlock(c);
    return 0;
}

int gort_chan_try_recv(gort_chan *c, void *elem, bool *ok)
{
    chan_checkpoint(gort_need_g("gort_chan_try_recv"));
    bool dummy;
    if (!ok)
        ok = &dummy;
    if (!c)
        return 0;
    chan_lock(c);
    if (try_recv_locked(c, elem, ok))
        return 1;
    chan_unlock(c);
    return 0;
}

/* For the runtime (timer functions, on an M holding a P, possibly on
 * g0): a non-blocking send that never throws. */
void gort_chan_offer(gort_chan *c, const void *elem)
{
    chan_lock(c);
    if (c->closed || !try_send_locked(c, elem, "timer"))
        chan_unlock(c);
}

void gort_chan_close(gort_chan *c)
{
    gort_need_g("gort_chan_close");
    if (!c)
        gort_throw_call("gort_chan_close", "close of nil channel");
    chan_lock(c);
    if (c->closed) {
        chan_unlock(c);
        gort_throw_call("gort_chan_close", "close of closed channel");
    }
    set_relaxed(&c->closed, true);
    sudog *wake = NULL, *sg;
    while ((sg = dequeue(&c->recvq))) {
        zero_elem(c, sg->elem);
        sg->success = false;
        sg->readylink = wake;
        wake = sg;
    }
    while ((sg = dequeue(&c->sendq))) {
        sg->success = false;
        sg->readylink = wake;
        wake = sg;
    }
    chan_unlock(c);
    while (wake) {
        sg = wake;
        wake = sg->readylink;   /* read before the G may run and reuse its stack */
        gort_ready_inline(sg->g, false);
    }
}

/* ---- select --------------------------------------------------------------- */

#define SELECT_STACK_CASES 16
#define SELECT_MAX_CASES 65536

struct select_ctx {
    gort_select_case *cases;
    size_t ncases;
    uint16_t *lockorder;    /* case indices with a channel, by address (P > 1) */
    size_t nlock;
};

static int by_chan_address(const void *a, const void *b, void *arg)
{
    gort_select_case *cases = arg;
    uintptr_t x = (uintptr_t)cases[*(const uint16_t *)a].chan;
    uintptr_t y = (uintptr_t)cases[*(const uint16_t *)b].chan;
    return x < y ? -1 : x > y;
}

/* Insertion sort by channel address: a select has a handful of cases, and
 * qsort_r's calls through a comparator cost more than the sort itself. */
static void sort_lockorder(gort_select_case *cases, uint16_t *order, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint16_t x = order[i];
        uintptr_t key = (uintptr_t)cases[x].chan;
        size_t j = i;
        while (j > 0 && (uintptr_t)cases[order[j - 1]].chan > key) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
}

static void sellock(struct select_ctx *s)
{
    if (!need_locks())
        return;
    gort_chan *last = NULL;
    for (size_t i = 0; i < s->nlock; i++) {
        gort_chan *c = s->cases[s->lockorder[i]].chan;
        if (c != last)
            gort_rtlock_lock(&c->lock);
        last = c;
    }
}

static void selunlock(struct select_ctx *s)
{
    if (!need_locks())
        return;
    /* Backwards: the first lock is released last.  As the unlock of a
     * parked select (selunlock_cb), s, the cases and the lock order live
     * on the parked G's stack: once a lock is released a waker may ready
     * the G, and it runs on another M as soon as it can take all its locks
     * again -- that is, right after the last unlock here.  So a duplicate
     * is recognised by looking at the next entry before unlocking, and
     * nothing is read after the last unlock (Go's selunlock does the
     * same). */
    for (size_t i = s->nlock; i-- > 0;) {
        gort_chan *c = s->cases[s->lockorder[i]].chan;
        if (i > 0 && c == s->cases[s->lockorder[i - 1]].chan)
            continue;   /* released at the next step */
        gort_rtlock_unlock(&c->lock);
    }
}

static void selunlock_cb(void *s)
{
    selunlock(s);
}

static inline uint32_t fastrand(gort_p *p)
{
    uint32_t x = p->rand ? p->rand : (uint32_t)(p->id + 1) * 2654435761u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p->rand = x;
    return x;
}

/* A uniform integer in [0, n) without a division (a variable divide costs
 * tens of cycles). */
static inline uint32_t fastrandn(gort_p *p, uint32_t n)
{
    return (uint32_t)(((uint64_t)fastrand(p) * n) >> 32);
}

/* Whether a case may be ready, from its channel's state alone.  It may
 * not be after all: the waiter at the head of a queue can be a select
 * that another channel already woke (dequeue drops it).  A send on a
 * closed channel counts as ready: choosing it is the panic.  peek: read
 * without the channel's lock (P > 1), a guess to be checked under it. */
static inline bool case_may_be_ready(const gort_select_case *cas, bool peek)
{
    gort_chan *c = cas->chan;
    if (peek) {
        if (cas->dir == GORT_SELECT_SEND)
            return __atomic_load_n(&c->recvq.first, __ATOMIC_RELAXED) ||
                   __atomic_load_n(&c->count, __ATOMIC_RELAXED) < c->cap ||
                   __atomic_load_n(&c->closed, __ATOMIC_RELAXED);
        return __atomic_load_n(&c->sendq.first, __ATOMIC_RELAXED) ||
               __atomic_load_n(&c->count, __ATOMIC_RELAXED) > 0 ||
               __atomic_load_n(&c->closed, __ATOMIC_RELAXED);
    }
    if (cas->dir == GORT_SELECT_SEND)
        return c->recvq.first || c->count < c->cap || c->closed;
    return c->sendq.first || c->count > 0 || c->closed;
}

enum { CASE_NOT_READY = 0, CASE_DONE, CASE_SEND_CLOSED };

/* Do case cas if it can complete now (its channel locked).  *wake: the G
 * it readied, if any (to be made runnable once the channel is unlocked). */
static inline int case_try(gort_select_case *cas, gort_g **wake)
{
    gort_chan *c = cas->chan;
    if (cas->dir == GORT_SELECT_SEND) {
        if (unlikely(c->closed))
            return CASE_SEND_CLOSED;
        sudog *sg = dequeue(&c->recvq);
        if (sg)
            *wake = send_to(c, sg, cas->elem);
        else if (c->count < c->cap)
            buf_put(c, cas->elem);
        else
            return CASE_NOT_READY;
        return CASE_DONE;
    }
    sudog *sg = dequeue(&c->sendq);
    if (sg) {
        *wake = recv_from(c, sg, cas->elem);
        cas->ok = true;
    } else if (c->count > 0) {
        buf_take(c, cas->elem);
        cas->ok = true;
    } else if (c->closed) {
        zero_elem(c, cas->elem);
        cas->ok = false;
    } else {
        return CASE_NOT_READY;
    }
    return CASE_DONE;
}

static noreturn void select_send_closed(void)
{
    gort_throw_call("gort_select", "send on closed channel");
}

/* Draw among the n candidate cases until one is done: -1 if none was
 * ready after all.  all_locked: every channel of the select is locked
 * (pass 1), and unlocked once a case is done; otherwise only the drawn
 * case's channel is locked, around its try (the lock-free first look). */
HOT int draw_ready(struct select_ctx *s, uint16_t *cand, size_t n, gort_p *p, bool all_locked)
{
    gort_select_case *cases = s->cases;
    while (n > 0) {
        size_t k = n > 1 ? fastrandn(p, (uint32_t)n) : 0;
        uint16_t i = cand[k];
        gort_chan *c = cases[i].chan;
        gort_g *wake = NULL;
        if (!all_locked)
            gort_rtlock_lock(&c->lock);
        int r = case_try(&cases[i], &wake);
        if (!all_locked)
            gort_rtlock_unlock(&c->lock);
        if (r != CASE_NOT_READY) {
            if (all_locked)
                selunlock(s);
            if (r == CASE_SEND_CLOSED)
                select_send_closed();
            if (wake)
                gort_ready_inline(wake, true);
            return i;
        }
        cand[k] = cand[--n];
    }
    return -1;
}

/* Pass 1: do one ready case, chosen uniformly among the ready ones.  The
 * candidates are the cases that look ready; one is drawn at random, and
 * if it turns out not to be (only stale select waiters), it is dropped and
 * another drawn.  Every truly ready case is equally likely to be drawn
 * first among the truly ready ones, so the choice stays uniform -- the
 * same distribution as Go's random poll order, for one random number in
 * the common case instead of one per case.  Returns the case's index, or
 * -1 with the channels still locked. */
static int select_ready(struct select_ctx *s, uint16_t *cand, gort_p *p, size_t *nchan)
{
    size_t n = 0, nc = 0;
    gort_select_case *cases = s->cases;
    for (size_t i = 0, end = s->ncases; i < end; i++) {
        if (!cases[i].chan)
            continue;
        nc++;
        if (case_may_be_ready(&cases[i], false))
            cand[n++] = (uint16_t)i;
    }
    *nchan = nc;
    return draw_ready(s, cand, n, p, true);
}

/* The same with P > 1, before any lock is taken: the candidates are
 * guessed from a lock-free look at each channel, and only the drawn
 * case's channel is locked to do it.  A select with a ready case then
 * takes one lock, not one per case.  It is the choice the locked pass
 * would make among the cases ready at that look; when none looks ready,
 * or none of those still is, the locked pass decides (so "nothing is
 * ready" is only ever answered under all the locks). */
static int select_ready_peek(struct select_ctx *s, uint16_t *cand, gort_p *p)
{
    size_t n = 0;
    gort_select_case *cases = s->cases;
    for (size_t i = 0, end = s->ncases; i < end; i++)
        if (cases[i].chan && case_may_be_ready(&cases[i], true))
            cand[n++] = (uint16_t)i;
    return draw_ready(s, cand, n, p, false);
}

static inline waitq *case_queue(gort_select_case *cas)
{
    return cas->dir == GORT_SELECT_SEND ? &cas->chan->sendq : &cas->chan->recvq;
}

static int select_block(struct select_ctx *s, sudog *sgs)
{
    gort_g *g = gort_getg();
    struct select_state st;
    atomic_init(&st.done, 0);
    st.winner = NULL;
    /* Queue order across channels does not matter: every channel is
     * locked (P > 1) or nobody else runs (P = 1). */
    for (size_t i = 0; i < s->ncases; i++) {
        gort_select_case *cas = &s->cases[i];
        if (!cas->chan)
            continue;
        sudog *sg = &sgs[i];
        sg->g = g;
        sg->elem = cas->elem;
        sg->sel = &st;
        sg->case_index = (uint32_t)i;
        sg->success = false;
        enqueue(case_queue(cas), sg);
    }
    if (need_locks())
        gort_park("select", selunlock_cb, s);
    else
        gort_park("select", NULL, NULL);

    sellock(s);
    sudog *win = st.winner;
    for (size_t i = 0; i < s->ncases; i++) {
        gort_select_case *cas = &s->cases[i];
        if (!cas->chan || &sgs[i] == win)
            continue;
        waitq *q = case_queue(cas);
        if (sgs[i].prev || q->first == &sgs[i])
            unlink_sg(q, &sgs[i]);
    }
    selunlock(s);
    gort_select_case *cas = &s->cases[win->case_index];
    if (cas->dir == GORT_SELECT_SEND) {
        if (!win->success)
            gort_throw_call("gort_select", "send on closed channel");
    } else {
        cas->ok = win->success;
    }
    return (int)win->case_index;
}

int gort_select(gort_select_case *cases, size_t ncases, bool block)
{
    gort_g *g = gort_need_g("gort_select");
    chan_checkpoint(g);
    if (ncases > SELECT_MAX_CASES)
        gort_throw_call("gort_select", "%zu cases (at most %d)", ncases, SELECT_MAX_CASES);

    uint16_t stack_orders[2 * SELECT_STACK_CASES];
    sudog stack_sgs[SELECT_STACK_CASES];
    uint16_t *orders = stack_orders;
    sudog *sgs = stack_sgs;
    if (ncases > SELECT_STACK_CASES) {
        orders = malloc(2 * ncases * sizeof *orders);
        sgs = malloc(ncases * sizeof *sgs);
        if (!orders || !sgs)
            gort_throw_call("gort_select", "out of memory for %zu cases", ncases);
    }
    uint16_t *cand = orders, *lockorder = orders + ncases;

    /* With locks to take (P > 1): the cases that have a channel, in
     * address order. */
    struct select_ctx s = {.cases = cases, .ncases = ncases, .lockorder = lockorder, .nlock = 0};
    int chosen;
    if (need_locks()) {
        chosen = select_ready_peek(&s, cand, g->m->p);
        if (chosen >= 0)
            goto out;
        size_t n = 0;
        for (size_t i = 0; i < ncases; i++)
            if (cases[i].chan)
                lockorder[n++] = (uint16_t)i;
        if (n <= SELECT_STACK_CASES)
            sort_lockorder(cases, lockorder, n);
        else
            qsort_r(lockorder, n, sizeof *lockorder, by_chan_address, cases);
        s.nlock = n;
        sellock(&s);
    }
    size_t nchan;
    chosen = select_ready(&s, cand, g->m->p, &nchan);
    if (chosen < 0) {
        if (!block) {
            selunlock(&s);
            goto out;
        }
        if (nchan == 0)
            block_forever("select (no cases)");
        chosen = select_block(&s, sgs);
    }
out:
    if (orders != stack_orders) {
        free(orders);
        free(sgs);
    }
    return chosen;
}
