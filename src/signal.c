/*
 * signal.c - turning a guard-page hit into a stack overflow report.
 *
 * A goroutine that runs off the bottom of its stack touches the guard page
 * below it and takes SIGSEGV.  The handler cannot run on the overflowed
 * stack, so every M has an alternate signal stack and the handler is
 * installed with SA_ONSTACK.  It asks the stack allocator whether the
 * fault address is a guard page; if so it reports
 *
 *     gort: goroutine 17 stack overflow (stack 256 KiB)
 *
 * with a backtrace, and exits with status 2.  Any other crash (SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL) in a goroutine is reported -- which goroutine,
 * with a backtrace -- and then passed to whatever handler was installed
 * before gort's (a host's crash reporter, a sanitizer), or, if that was
 * the default action, the default is restored and the handler returns so
 * the fault repeats and kills the process the ordinary way (with a core
 * dump where enabled).
 *
 * The previous handlers and the thread's previous signal stack are put
 * back when the runtime ends, so gort_main can be called again.
 */
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime.h"
#include "sanitizer.h"

#define ALTSTACK_SIZE (64 * 1024)

static const int fault_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
#define NFAULT (sizeof fault_signals / sizeof fault_signals[0])

static struct sigaction old_action[NFAULT];
static stack_t old_altstack;

static int fault_index(int sig)
{
    for (size_t i = 0; i < NFAULT; i++)
        if (fault_signals[i] == sig)
            return (int)i;
    return -1;
}

static void chain(int sig, siginfo_t *info, void *ctx)
{
    int i = fault_index(sig);
    struct sigaction *old = &old_action[i];

    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction) {
            old->sa_sigaction(sig, info, ctx);
            return;
        }
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    /* Default action (or an ignored fault, which would only loop): let
     * the faulting instruction run again without us. */
    signal(sig, SIG_DFL);
}

static void on_fault(int sig, siginfo_t *info, void *ctx)
{
    gort_g *owner = NULL;
    uintptr_t addr = (uintptr_t)info->si_addr;

    if (gort_stack_guard_has(addr, &owner)) {
        gort_g *g = gort_getg();
        if (owner && owner == g) {
            gort_printf("gort: goroutine %lld stack overflow (stack %zu KiB)\n",
                        (long long)g->id, gort_stack_size_of(g) / 1024);
        } else if (owner) {
            gort_printf("gort: goroutine %lld touched the guard page of goroutine "
                        "%lld's stack at %#lx (stack %zu KiB)\n",
                        g ? (long long)g->id : 0LL, (long long)owner->id,
                        (unsigned long)addr, gort_stack_size_of(owner) / 1024);
        } else {
            gort_printf("gort: fault at %#lx in the guard page of a free goroutine stack\n",
                        (unsigned long)addr);
        }
        gort_printf("gort: fault address %#lx, signal %d\n", (unsigned long)addr, sig);
        gort_traceback_fatal();
        _exit(2);
    }
    /* Not a guard page: say which goroutine crashed, then let the
     * previous handler (or the default action) deal with it. */
    gort_g *g = gort_getg();
    if (g && g->id > 0 && atomic_load(&gort_sched.running)) {
        gort_printf("gort: signal %d (%s) at %#lx in goroutine %lld\n", sig, strsignal(sig),
                    (unsigned long)addr, (long long)g->id);
        gort_traceback_fatal();
    }
    chain(sig, info, ctx);
}

void gort_signal_init(void)
{
    /* The first backtrace() loads the unwinder (dlopen, malloc): do that
     * here, not in the fault handler's traceback, where neither is safe
     * (a fault inside malloc would deadlock; TSan reports it). */
    void *pc;
    backtrace(&pc, 1);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFAULT; i++)
        if (sigaction(fault_signals[i], &sa, &old_action[i]) != 0)
            gort_throw("signal_init: sigaction(%d) failed", fault_signals[i]);
}

void gort_signal_fini(void)
{
    for (size_t i = 0; i < NFAULT; i++)
        sigaction(fault_signals[i], &old_action[i], NULL);
}

/* Per-thread set-up when an M starts: errno location, signal stack, and
 * the fault signals unblocked (a thread made with every signal blocked,
 * as thread hooks do, must still get its stack overflow report). */
void gort_minit(gort_m *m)
{
    m->errno_ptr = &errno;
    /* valgrind must know the system stack too, or a foreign call's move
     * onto it (gort_asmcgocall) looks like writes below a stale SP. */
    m->g0->vg_stack = gort_vg_stack_register(m->g0->stack_lo, m->g0->stack_hi);
    gort_san_m_init(m);
    gort_tls_gen_set();
    sigset_t faults;
    sigemptyset(&faults);
    for (size_t i = 0; i < NFAULT; i++)
        sigaddset(&faults, fault_signals[i]);
    pthread_sigmask(SIG_UNBLOCK, &faults, NULL);
    gort_minit_altstack(m);
}

void gort_minit_altstack(gort_m *m)
{
    m->altstack_size = ALTSTACK_SIZE;
    m->altstack = gort_sysmap(m->altstack_size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS);
    if (!m->altstack)
        gort_throw("minit: cannot map a %zu-byte signal stack", m->altstack_size);
    stack_t ss = {.ss_sp = m->altstack, .ss_size = m->altstack_size, .ss_flags = 0};
    stack_t *old = m == &gort_m0 ? &old_altstack : NULL;
    if (sigaltstack(&ss, old) != 0)
        gort_throw("minit: sigaltstack failed");
}

void gort_mfini(gort_m *m)
{
    if (m == &gort_m0) {
        /* valgrind: m0's system stack is the part of its thread's stack
         * below gort_main's (gort_start's thread's) frame, which the
         * thread goes on using when gort_main returns.  Other Ms' threads
         * end here; deregistering the stack they still run on would make
         * their last frames look like a stack switch. */
        gort_vg_stack_deregister(m->g0->vg_stack);
        m->g0->vg_stack = 0;
    }
    if (!m->altstack)
        return;
    if (m == &gort_m0 && !(old_altstack.ss_flags & SS_DISABLE) && old_altstack.ss_sp) {
        sigaltstack(&old_altstack, NULL);
    } else {
        stack_t ss = {.ss_flags = SS_DISABLE};
        sigaltstack(&ss, NULL);
    }
    gort_sysunmap(m->altstack, m->altstack_size);
    m->altstack = NULL;
}
