/*
 * sync_util.h - helpers for the sync suite (tests/test_sync.c).
 *
 *   sync_run        gort_main(0, NULL, fn, arg) with GORT_MAXPROCS set to
 *                   procs (0: unset, the default -- or, to stress more Ps
 *                   than this machine has cores, GORT_SYNC_TEST_PROCS).
 *   sync_run_child  run a scenario in a forked child with stderr and stdout
 *                   captured: fatal errors end the process, so their exit
 *                   status and message are checked from the outside.
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

/* Fork; the child sends stderr and stdout into a pipe, disables core
 * dumps, calls fn() and exits 0 if it returns.  The parent reads the
 * output into buf (NUL-terminated, truncated to n - 1 bytes) and returns
 * the exit status, -signal if the child was killed, -1000 on failure. */
static inline int sync_run_child(void (*fn)(void), char *buf, size_t n)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1000;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1000;
    if (pid == 0) {
        struct rlimit nocore = {0, 0};
        setrlimit(RLIMIT_CORE, &nocore);
        close(fds[0]);
        dup2(fds[1], 2);
        dup2(fds[1], 1);
        close(fds[1]);
        fn();
        fflush(NULL);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    for (;;) {
        char tmp[512];
        ssize_t r = read(fds[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = (size_t)r;
        if (len + take > n - 1)
            take = n - 1 - len;
        memcpy(buf + len, tmp, take);
        len += take;
    }
    buf[len] = '\0';
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1000;
    if (WIFSIGNALED(st))
        return -WTERMSIG(st);
    return WEXITSTATUS(st);
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
