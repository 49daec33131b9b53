/*
 * timer.h - the runtime's timer record (timer.c) and its operations.
 */
#ifndef GORT_TIMER_H
#define GORT_TIMER_H

#include <stdbool.h>
#include <stdint.h>

enum gort_timer_state {
    GORT_TIMER_IDLE = 0,   /* not in a heap */
    GORT_TIMER_WAITING,    /* in t->p's heap */
};

typedef struct gort_rt_timer {
    int64_t when;          /* deadline, gort_nanotime() clock */
    int64_t period;        /* > 0: fires every period after when */
    void (*f)(void *arg);  /* runs on an M holding a P; must not block */
    void *arg;
    _Atomic(struct gort_p *) p;   /* the heap it is in, NULL if none */
    uint32_t idx;          /* index in that heap */
    _Atomic uint32_t state;
    _Atomic uint32_t running;  /* f calls in progress (not self_managed) */
    /* The runner never touches t once f is called: for timers that live
     * on a goroutine's stack (gort_sleep) or that f frees (gort_after). */
    bool self_managed;
} gort_rt_timer;

/* A heap entry: the deadline is kept beside the pointer (timer.c). */
typedef struct gort_timer_slot {
    int64_t when;
    gort_rt_timer *t;
} gort_timer_slot;

struct gort_p;
__attribute__((visibility("hidden"))) void gort_timer_start(gort_rt_timer *t, int64_t when);
__attribute__((visibility("hidden"))) bool gort_timer_cancel(gort_rt_timer *t);
__attribute__((visibility("hidden"))) void gort_timer_wait_idle(gort_rt_timer *t);
__attribute__((visibility("hidden"))) int64_t gort_timers_run(struct gort_p *p, int64_t now);
__attribute__((visibility("hidden"))) int64_t gort_timers_next(void);
__attribute__((visibility("hidden"))) void gort_timers_run_all(int64_t now);
__attribute__((visibility("hidden"))) void gort_timers_free(struct gort_p *p);

#endif
