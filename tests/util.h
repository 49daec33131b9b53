/*
 * util.h - helpers shared by gort's Criterion suites.
 *
 *   run_child      run a scenario in a forked child, capture its stderr,
 *                  return its exit status (or -signal): fatal errors end
 *                  the process, so their status and message are checked
 *                  from the outside.
 *   maps_count     lines in /proc/self/maps (one per mapping).
 *   rss_bytes      resident memory from /proc/self/statm (-1 if unreadable).
 *   run_main       gort_main with a fixed argv, for tests that do not care.
 *   guard_madvise_supported   whether this kernel has MADV_GUARD_INSTALL.
 *
 * Every test runs in its own process (Criterion), so globals start fresh.
 */
#ifndef GORT_TESTS_UTIL_H
#define GORT_TESTS_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gort.h>

#include "tsan_criterion.h"   /* empty unless built with TSan */

/*
 * TSAN_LESS(n, m): n, or m in a ThreadSanitizer build.  Under TSan every
 * goroutine is a TSan fiber and TSan (gcc 12's runtime) keeps at most 8128
 * threads and fibers alive at once ("Thread limit exceeded. Dying"), and
 * it runs stress loops 10-50 times slower: a test that keeps more
 * goroutines alive, or loops longer, than TSan can take uses a smaller
 * count there.  Each use says which limit it is about.
 */
#if defined(__SANITIZE_THREAD__)
#define TSAN_LESS(n, m) (m)
#else
#define TSAN_LESS(n, m) (n)
#endif

/*
 * Fork; in the child send stderr (and stdout) into a pipe, disable core
 * dumps, call fn() and exit 0 if it returns.  Signal actions are
 * inherited as they are: a child forked inside a running runtime keeps
 * gort's fault handler.  The parent reads the child's output into errbuf (NUL
 * terminated, truncated to n - 1 bytes) and returns WEXITSTATUS, or
 * -WTERMSIG if the child was killed by a signal (-1000 if fork failed).
 */
static inline int run_child(void (*fn)(void), char *errbuf, size_t n)
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
        if (n > 0 && len + take > n - 1)
            take = n - 1 - len;
        if (take > 0)
            memcpy(errbuf + len, tmp, take);
        len += take;
    }
    if (n > 0)
        errbuf[len] = '\0';
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1000;
    if (WIFSIGNALED(st))
        return -WTERMSIG(st);
    return WEXITSTATUS(st);
}

static inline long rss_bytes(void)
{
    long size = 0, resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static inline int maps_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    int n = 0, c, last = '\n';
    while ((c = getc(f)) != EOF) {
        if (c == '\n')
            n++;
        last = c;
    }
    if (last != '\n')
        n++;
    fclose(f);
    return n;
}

static inline int run_main(void (*fn)(void *), void *arg)
{
    static char *argv[] = {"gort-test", NULL};
    return gort_main(1, argv, fn, arg);
}

/* GORT_MAXPROCS for the next run: n, or unset (the default) for 0. */
static inline void set_procs(int n)
{
    if (n > 0) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", n);
        setenv("GORT_MAXPROCS", buf, 1);
    } else {
        unsetenv("GORT_MAXPROCS");
    }
}

static inline int run_procs(int procs, void (*fn)(void *), void *arg)
{
    set_procs(procs);
    return run_main(fn, arg);
}

static inline int guard_madvise_supported(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    int ok = madvise(p, (size_t)pg, 102 /* MADV_GUARD_INSTALL */) == 0;
    munmap(p, (size_t)pg * 2);
    return ok;
}

#ifdef GORT_TEST_CHECKS
#include <stdarg.h>
#include <stdatomic.h>

/* Checks made inside goroutines, which must not use cr_assert (it would
 * unwind a goroutine's stack): CHECK records the first failure and its
 * line, CHECKR also returns, and ASSERT_NO_FAILURES asserts on the record
 * after gort_main has returned.  The message is an optional printf
 * format and its arguments; without one, the condition's text.  Opt in
 * with #define GORT_TEST_CHECKS. */
static atomic_int nfail;
static char failmsg[1024];

static inline __attribute__((format(printf, 3, 4))) void fail_at(int line, const char *cond,
                                                                 const char *fmt, ...)
{
    if (atomic_fetch_add(&nfail, 1) != 0)
        return;
    int n = snprintf(failmsg, sizeof failmsg, "line %d: ", line);
    if (!fmt[1]) {
        snprintf(failmsg + n, sizeof failmsg - (size_t)n, "%s", cond);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failmsg + n, sizeof failmsg - (size_t)n, fmt + 1, ap);
    va_end(ap);
}

/* " " before the arguments (a literal format, or nothing at all) keeps the
 * format from ever being empty; fail_at skips it. */
#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond))                                                                      \
            fail_at(__LINE__, #cond, " " __VA_ARGS__);                                     \
    } while (0)
#define CHECKR(cond, ...)                                                                 \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fail_at(__LINE__, #cond, " " __VA_ARGS__);                                     \
            return;                                                                       \
        }                                                                                 \
    } while (0)

#define ASSERT_NO_FAILURES()                                                              \
    cr_assert_eq(atomic_load(&nfail), 0, "%d failure(s); first: %s", atomic_load(&nfail), \
                 failmsg)
#endif

#endif
