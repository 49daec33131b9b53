/*
 * sync_util.h - helpers for the sync suite (tests/test_sync.c).
 *
 *   sync_run        gort_main(0, NULL, fn, arg) with GORT_MAXPROCS set to
 *                   procs (0: unset, the default -- or, to stress more Ps
 *                   than this machine has cores, GORT_SYNC_TEST_PROCS).
 *   (run_child from util.h runs a scenario in a forked child with its
 *   output captured: fatal errors end the process, so their exit status
 *   and message are checked from the outside.)
 *   CHECK           record a failed condition inside a goroutine; the test
 *                   asserts on the record after gort_main has returned
 *                   (Criterion's asserts must not unwind a goroutine's
 *                   stack).
 */
#ifndef GORT_TESTS_SYNC_UTIL_H
#define GORT_TESTS_SYNC_UTIL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gort.h>

#include "util.h"   /* run_child */

static inline int sync_run(int procs, void (*fn)(void *), void *arg)
{
    const char *more = getenv("GORT_SYNC_TEST_PROCS");
    if (procs == 0 && more && *more)
        procs = atoi(more);
    if (procs > 0) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", procs);
        setenv("GORT_MAXPROCS", buf, 1);
    } else {
        unsetenv("GORT_MAXPROCS");
    }
    return gort_main(0, NULL, fn, arg);
}

static atomic_int sync_failures;
static char sync_failmsg[256];

static inline void sync_note_failure(int line, const char *what)
{
    if (atomic_fetch_add(&sync_failures, 1) == 0)
        snprintf(sync_failmsg, sizeof sync_failmsg, "line %d: %s", line, what);
}

#define CHECK(cond)                                        \
    do {                                                   \
        if (!(cond))                                       \
            sync_note_failure(__LINE__, #cond);            \
    } while (0)

#define ASSERT_NO_FAILURES()                                                       \
    cr_assert_eq(atomic_load(&sync_failures), 0, "%d failed checks, first: %s",    \
                 atomic_load(&sync_failures), sync_failmsg)

#endif
