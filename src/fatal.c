/*
 * fatal.c - fatal errors and the runtime's own printing.
 *
 * Misuse of the API and broken invariants end the process the way a Go
 * panic does: a message that names the call and the goroutine, then exit
 * status 2.  Everything here writes straight to fd 2 with write(2) and
 * formats into a stack buffer: a fatal error may come from a signal
 * handler, or from a goroutine holding stdio's lock.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

static void write_all(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

static void vprint(const char *fmt, va_list ap)
{
    char buf[1024];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n < 0)
        return;
    write_all(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

void gort_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
}

static noreturn void die(void)
{
    gort_traceback_fatal();
    _exit(2);
}

void gort_throw(const char *fmt, ...)
{
    va_list ap;
    gort_printf("gort: fatal error: ");
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
    gort_printf("\n");
    die();
}

void gort_throw_call(const char *call, const char *fmt, ...)
{
    va_list ap;
    gort_printf("gort: fatal error: %s: ", call);
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
    gort_printf("\n");
    die();
}

const char *gort_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case GORT_EINVAL:
        return "invalid argument";
    case GORT_ENOMEM:
        return "out of memory for a goroutine stack";
    case GORT_EBUSY:
        return "the gort runtime is already running";
    case GORT_EAGAIN:
        return "a system limit was reached";
    case GORT_ETIMEDOUT:
        return "timed out";
    default:
        return "unknown gort error";
    }
}
