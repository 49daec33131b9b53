/*
 * gort/time.h - sleeping, timers and tickers.
 *
 * Timers live in per-processor heaps and are run by the scheduler; no
 * thread is dedicated to them.  A runtime whose goroutines all sleep
 * sleeps too, until the earliest timer.  Times are nanoseconds on the
 * monotonic clock.
 *
 * Timer and ticker channels carry an int64_t: the gort_now() at which the
 * timer fired.  They have room for one value; a ticker whose reader falls
 * behind drops ticks, as Go's does.
 */
#ifndef GORT_TIME_H
#define GORT_TIME_H

#include <stdbool.h>
#include <stdint.h>

#include <gort/chan.h>
#include <gort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GORT_MICROSECOND INT64_C(1000)
#define GORT_MILLISECOND INT64_C(1000000)
#define GORT_SECOND      INT64_C(1000000000)

/* The monotonic clock, in nanoseconds. */
GORT_API int64_t gort_now(void);

/* Block the calling goroutine for at least ns nanoseconds (ns <= 0:
 * return at once).  Goroutine context only. */
GORT_API void gort_sleep(int64_t ns);

/* A channel that receives the time once, ns from now.  The caller owns
 * one reference (gort_chan_release it when done; the timer keeps its own
 * until it fires).  NULL if memory is short. */
GORT_API gort_chan *gort_after(int64_t ns);

typedef struct gort_timer gort_timer;

/* A timer that sends the time on its channel once, ns from now. */
GORT_API gort_timer *gort_timer_new(int64_t ns);
GORT_API gort_chan *gort_timer_chan(gort_timer *t);
/* Stop t.  true if this stopped it before it fired, false if it had
 * already fired or been stopped (a value may then be in the channel). */
GORT_API bool gort_timer_stop(gort_timer *t);
/* Stop t and start it again to fire ns from now; returns what
 * gort_timer_stop would have. */
GORT_API bool gort_timer_reset(gort_timer *t, int64_t ns);
/* Stop and free t (its channel reference too). */
GORT_API void gort_timer_free(gort_timer *t);

typedef struct gort_ticker gort_ticker;

/* A ticker that sends the time on its channel every period_ns (> 0;
 * NULL otherwise). */
GORT_API gort_ticker *gort_ticker_new(int64_t period_ns);
GORT_API gort_chan *gort_ticker_chan(gort_ticker *t);
GORT_API void gort_ticker_stop(gort_ticker *t);
/* Stop and restart with a new period (> 0). */
GORT_API void gort_ticker_reset(gort_ticker *t, int64_t period_ns);
GORT_API void gort_ticker_free(gort_ticker *t);

#ifdef __cplusplus
}
#endif

#endif /* GORT_TIME_H */
