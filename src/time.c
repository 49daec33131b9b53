/*
 * time.c - the public time API: gort_sleep, timer and ticker channels.
 *
 * All of it is built on the runtime timers of timer.c.  gort_sleep parks
 * the goroutine with a timer (on its own stack) whose function readies it.
 * Timer and ticker channels have capacity 1 and are fed by a non-blocking
 * offer, so a timer never blocks the M that runs it; a ticker whose
 * reader is slow drops ticks instead of queueing them.
 */
#include <stdlib.h>

#include "runtime.h"
#include "gort/time.h"

int64_t gort_now(void)
{
    return gort_nanotime();
}

/* Timers live in the Ps' heaps: with no runtime there are none (any thread
 * may start a timer while one runs). */
static void need_runtime(const char *call)
{
    if (unlikely(!atomic_load(&gort_sched.running) || gort_sched.allp == NULL))
        gort_throw_call(call, "called with no gort runtime running");
}

static void wake_sleeper(void *g)
{
    gort_ready(g, false);
}

/* Runs once the sleeping G is off the CPU: starting the timer any earlier
 * would let another M fire it and ready a G that is still running. */
static void start_sleep_timer(void *t)
{
    gort_timer_start(t, ((gort_rt_timer *)t)->when);
}

void gort_sleep(int64_t ns)
{
    gort_g *g = gort_need_g("gort_sleep");
    if (ns <= 0)
        return;
    gort_rt_timer t = {.f = wake_sleeper, .arg = g, .self_managed = true,
                       .when = gort_nanotime() + ns};
    gort_park("sleep", start_sleep_timer, &t);
}

/* Send the time on a timer channel if there is room. */
static void offer_time(gort_chan *c)
{
    int64_t now = gort_nanotime();
    gort_chan_offer(c, &now);
}

/* ---- gort_after: a one-shot timer that frees itself -------------------- */

struct after {
    gort_rt_timer rt;   /* first: the timer's arg is the struct itself */
    gort_chan *c;
};

static void after_fire(void *arg)
{
    struct after *a = arg;
    offer_time(a->c);
    gort_chan_release(a->c);
    free(a);
}

gort_chan *gort_after(int64_t ns)
{
    need_runtime("gort_after");
    struct after *a = calloc(1, sizeof *a);
    gort_chan *c = gort_chan_new(sizeof(int64_t), 1);
    if (!a || !c) {
        free(a);
        gort_chan_release(c);
        return NULL;
    }
    a->c = gort_chan_retain(c);
    a->rt.f = after_fire;
    a->rt.arg = a;
    a->rt.self_managed = true;
    gort_timer_start(&a->rt, gort_nanotime() + (ns > 0 ? ns : 0));
    return c;
}

/* ---- timers and tickers ------------------------------------------------- */

/* Both are a runtime timer feeding a one-slot channel; a ticker's timer
 * has a period.  The public types stay distinct. */
struct chan_timer {
    gort_rt_timer rt;
    gort_chan *c;
};

struct gort_timer {
    struct chan_timer ct;
};

struct gort_ticker {
    struct chan_timer ct;
};

static void chan_timer_fire(void *arg)
{
    offer_time(((struct chan_timer *)arg)->c);
}

/* A zeroed object of size bytes that starts with a chan_timer, started. */
static void *chan_timer_new(size_t size, int64_t first_ns, int64_t period_ns)
{
    struct chan_timer *t = calloc(1, size);
    if (!t)
        return NULL;
    t->c = gort_chan_new(sizeof(int64_t), 1);
    if (!t->c) {
        free(t);
        return NULL;
    }
    t->rt.f = chan_timer_fire;
    t->rt.arg = t;
    t->rt.period = period_ns;
    gort_timer_start(&t->rt, gort_nanotime() + (first_ns > 0 ? first_ns : 0));
    return t;
}

/* Stop t and start it again first_ns from now; true if it was pending. */
static bool chan_timer_restart(struct chan_timer *t, int64_t first_ns)
{
    bool was = gort_timer_cancel(&t->rt);
    gort_timer_wait_idle(&t->rt);
    gort_timer_start(&t->rt, gort_nanotime() + (first_ns > 0 ? first_ns : 0));
    return was;
}

static void chan_timer_free(struct chan_timer *t)
{
    gort_timer_cancel(&t->rt);
    gort_timer_wait_idle(&t->rt);
    gort_chan_release(t->c);
    free(t);
}

gort_timer *gort_timer_new(int64_t ns)
{
    need_runtime("gort_timer_new");
    return chan_timer_new(sizeof(gort_timer), ns, 0);
}

gort_chan *gort_timer_chan(gort_timer *t)
{
    return t ? t->ct.c : NULL;
}

bool gort_timer_stop(gort_timer *t)
{
    return t && gort_timer_cancel(&t->ct.rt);
}

bool gort_timer_reset(gort_timer *t, int64_t ns)
{
    return t && chan_timer_restart(&t->ct, ns);
}

void gort_timer_free(gort_timer *t)
{
    if (t)
        chan_timer_free(&t->ct);
}

gort_ticker *gort_ticker_new(int64_t period_ns)
{
    need_runtime("gort_ticker_new");
    if (period_ns <= 0)
        return NULL;
    return chan_timer_new(sizeof(gort_ticker), period_ns, period_ns);
}

gort_chan *gort_ticker_chan(gort_ticker *t)
{
    return t ? t->ct.c : NULL;
}

void gort_ticker_stop(gort_ticker *t)
{
    if (t)
        gort_timer_cancel(&t->ct.rt);
}

void gort_ticker_reset(gort_ticker *t, int64_t period_ns)
{
    if (!t)
        return;
    if (period_ns <= 0)
        gort_throw_call("gort_ticker_reset", "non-positive period %lld", (long long)period_ns);
    gort_timer_cancel(&t->ct.rt);
    gort_timer_wait_idle(&t->ct.rt);
    t->ct.rt.period = period_ns;
    gort_timer_start(&t->ct.rt, gort_nanotime() + period_ns);
}

void gort_ticker_free(gort_ticker *t)
{
    if (t)
        chan_timer_free(&t->ct);
}

/* ---- timed receive ------------------------------------------------------ */

int gort_chan_recv_timeout(gort_chan *c, void *elem, bool *ok, int64_t timeout_ns)
{
    gort_need_g("gort_chan_recv_timeout");
    bool dummy;
    if (!ok)
        ok = &dummy;
    if (gort_chan_try_recv(c, elem, ok))
        return 1;
    if (timeout_ns <= 0)
        return 0;
    gort_chan *after = gort_after(timeout_ns);
    if (!after)
        gort_throw_call("gort_chan_recv_timeout", "out of memory for a timer");
    gort_select_case cases[2] = {
        {.chan = c, .dir = GORT_SELECT_RECV, .elem = elem},
        {.chan = after, .dir = GORT_SELECT_RECV, .elem = NULL},
    };
    int i = gort_select(cases, 2, true);
    gort_chan_release(after);
    if (i == 0) {
        *ok = cases[0].ok;
        return 1;
    }
    return 0;
}
