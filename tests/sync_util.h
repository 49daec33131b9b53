/*
 * sync_util.h - helpers for the sync suite (tests/test_sync.c).
 *
 *   sync_run        gort_main(0, NULL, fn, arg) with GORT_MAXPROCS set to
 *                   procs (0: unset, the default -- or, to stress more Ps
 *                   than this machine has cores, GORT_SYNC_TEST_PROCS).
 *   (run_child from util.h runs a scenario in a forked child with its
 *   output captured: fatal errors end the process, so their exit status
 *   and message are checked from the outside.)
 *   (CHECK and ASSERT_NO_FAILURES come from util.h: a failed condition
 *   inside a goroutine is recorded, and the test asserts on the record
 *   after gort_main has returned.)
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

#define GORT_TEST_CHECKS   /* CHECK, ASSERT_NO_FAILURES */
#include "util.h"   /* run_child, run_procs */

static inline int sync_run(int procs, void (*fn)(void *), void *arg)
{
    const char *more = getenv("GORT_SYNC_TEST_PROCS");
    if (procs == 0 && more && *more)
        procs = atoi(more);
    return run_procs(procs, fn, arg);
}

#endif
