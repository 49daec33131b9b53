/*
 * trace.h - execution tracing (GORT_TRACE=path), see trace.c.
 *
 * Every hook is `if (unlikely(gort_trace_on)) ...`: with tracing off it
 * costs one load of a read-mostly byte and a predicted branch.
 */
#ifndef GORT_TRACE_H
#define GORT_TRACE_H

#include <stdbool.h>
#include <stdint.h>

enum gort_trace_ev {
    GORT_EV_GO_START = 1,  /* g starts running on the P; arg: flow id it ends, or 0 */
    GORT_EV_GO_STOP,       /* g leaves the P; arg: enum gort_prev_action (why) */
    GORT_EV_GO_CREATE,     /* g created; arg: the new goroutine's id */
    GORT_EV_UNBLOCK,       /* g made ready by the current G; arg: flow id */
    GORT_EV_CCALL_BEGIN,   /* g enters a foreign call */
    GORT_EV_CCALL_END,
    GORT_EV_CALLBACK_BEGIN, /* a callback from C starts running g */
    GORT_EV_CALLBACK_END,
    GORT_EV_THREAD,        /* a runtime thread was made; arg: its M id */
    GORT_EV_PROC_IDLE,     /* the P has nothing to run */
};

struct gort_g;
__attribute__((visibility("hidden"))) extern bool gort_trace_on;
__attribute__((visibility("hidden"))) void gort_trace_event(uint32_t type, int64_t g, int64_t arg);
__attribute__((visibility("hidden"))) int64_t gort_trace_unblock(int64_t waker, int64_t target);
__attribute__((visibility("hidden"))) void gort_trace_init(void);
__attribute__((visibility("hidden"))) void gort_trace_flush(bool final);

#define GORT_TRACE(type, g, arg)                         \
    do {                                                 \
        if (__builtin_expect(gort_trace_on, 0))          \
            gort_trace_event((type), (g), (arg));        \
    } while (0)

#endif
