/*
 * traceback.c - what a fatal error prints about goroutines.
 *
 * GORT_TRACEBACK chooses how much (like GOTRACEBACK):
 *   none    the message only;
 *   single  (default) the failing goroutine, with its backtrace;
 *   all     then every goroutine: id, state, wait reason, backtrace.
 *
 * The failing goroutine is unwound with the libgcc unwinder (backtrace(3)),
 * which reads CFI: it walks C frames with or without frame pointers and
 * through gort's assembly, which carries CFI.  Other goroutines are not
 * running, so there is no unwinder context for them; they are walked
 * along the frame-pointer chain from their saved context (gort's own code
 * keeps frame pointers; frames of code built without them end the walk
 * early).  Addresses are printed with their module and offset, so
 * `addr2line -e MODULE OFFSET` gives the line.
 *
 * All of it runs on the way to _exit, possibly inside a signal handler on
 * the alternate stack: it only reads runtime state and writes to fd 2.
 */
#include <dlfcn.h>
#include <execinfo.h>
#include <unwind.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define MAX_FRAMES 48

enum { TB_NONE, TB_SINGLE, TB_ALL };

static int traceback_level(void)
{
    const char *s = getenv("GORT_TRACEBACK");
    if (!s || !*s || !strcmp(s, "single"))
        return TB_SINGLE;
    if (!strcmp(s, "none") || !strcmp(s, "0"))
        return TB_NONE;
    return TB_ALL;   /* "all", "system", "crash", ... */
}

static void print_pc(uintptr_t pc)
{
    Dl_info info;
    if (dladdr((void *)pc, &info) && info.dli_fname) {
        const char *mod = strrchr(info.dli_fname, '/');
        mod = mod ? mod + 1 : info.dli_fname;
        if (info.dli_sname)
            gort_printf("\t%s+%#lx\t(%s+%#lx)\n", info.dli_sname,
                        (unsigned long)(pc - (uintptr_t)info.dli_saddr), mod,
                        (unsigned long)(pc - (uintptr_t)info.dli_fbase));
        else
            gort_printf("\t%#lx\t(%s+%#lx)\n", (unsigned long)pc, mod,
                        (unsigned long)(pc - (uintptr_t)info.dli_fbase));
    } else {
        gort_printf("\t%#lx\n", (unsigned long)pc);
    }
}

const char *gort_g_state_name(const gort_g *g)
{
    switch (atomic_load_explicit(&g->status, memory_order_relaxed)) {
    case GORT_G_IDLE:
        return "idle";
    case GORT_G_RUNNABLE:
        return "runnable";
    case GORT_G_RUNNING:
        return "running";
    case GORT_G_WAITING:
        return g->waitreason ? g->waitreason : "waiting";
    case GORT_G_CCALL:
        return "in foreign call";
    case GORT_G_DEAD:
        return "dead";
    }
    return "?";
}

/* Is pc inside one of the functions that report the error?  Asked of the
 * unwinder's own tables (the FDE that covers pc), so it works for hidden
 * and static functions alike. */
static bool in_error_path(void *pc)
{
    void *fn = _Unwind_FindEnclosingFunction(pc);
    return fn == (void *)gort_throw || fn == (void *)gort_throw_call ||
           fn == (void *)gort_traceback_fatal;
}

/* The running goroutine (or thread), from here, without the frames of
 * the error path itself. */
static __attribute__((noinline)) void unwind_self(void)
{
    void *pcs[MAX_FRAMES];
    int n = backtrace(pcs, MAX_FRAMES);
    int start = 0;
    for (int i = 0; i < n; i++)
        if (in_error_path((char *)pcs[i] - 1))
            start = i + 1;
    for (int i = start; i < n; i++)
        print_pc((uintptr_t)pcs[i] - 1);
}

/* A switched-out goroutine: its saved context, then the rbp chain. */
static void unwind_saved(const gort_g *g)
{
    const uint64_t *ctx = g->sp;
    uintptr_t lo = g->stack_lo, hi = g->stack_hi;
    if (!ctx || (uintptr_t)ctx < lo || (uintptr_t)ctx >= hi)
        return;
    uintptr_t pc = ctx[GORT_CTX_PC / 8];
    uintptr_t fp = ctx[GORT_CTX_RBP / 8];
    for (int n = 0; n < MAX_FRAMES && pc; n++) {
        print_pc(pc - (n > 0 ? 1 : 0));
        if (fp < lo || fp + 16 > hi || (fp & 7))
            break;
        const uintptr_t *frame = (const uintptr_t *)fp;
        pc = frame[1];
        if (frame[0] <= fp)
            break;
        fp = frame[0];
    }
}

static void print_header(const gort_g *g, const char *state)
{
    gort_printf("\ngoroutine %lld [%s]%s:\n", (long long)g->id, state,
                g->lockedm ? ", locked to thread" : "");
}

static void print_other(gort_g *g, void *self)
{
    if (g == self || atomic_load_explicit(&g->status, memory_order_relaxed) == GORT_G_DEAD)
        return;
    print_header(g, gort_g_state_name(g));
    uint32_t st = atomic_load_explicit(&g->status, memory_order_relaxed);
    if (st == GORT_G_RUNNING || st == GORT_G_CCALL)
        gort_printf("\t(running on another thread: no backtrace)\n");
    else
        unwind_saved(g);
}

/* Called by every fatal error path after its message. */
void gort_traceback_fatal(void)
{
    int level = traceback_level();
    if (level == TB_NONE)
        return;
    gort_g *g = gort_getg();
    if (g && g->id > 0) {
        print_header(g, "running");
        unwind_self();
    } else {
        if (g)
            gort_printf("\n(on the scheduler stack of M%lld):\n", g->m ? (long long)g->m->id : -1LL);
        else
            gort_printf("\n(on a thread outside gort):\n");
        unwind_self();
    }
    if (level == TB_ALL && atomic_load(&gort_sched.running))
        gort_stack_each_g(print_other, g);
    else if (level == TB_SINGLE)
        gort_printf("\n(GORT_TRACEBACK=all shows every goroutine)\n");
}

/* Deadlock: nobody is running; list everyone (backtraces with "all"). */
void gort_traceback_all_waiting(void)
{
    int level = traceback_level();
    void *self = NULL;
    if (level == TB_ALL) {
        gort_stack_each_g(print_other, self);
        return;
    }
    gort_dump_goroutines();
}
