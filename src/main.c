/*
 * main.c - gort_main and the C steps of the entry.
 *
 * gort_main resets the runtime's global state and calls gort_rt0_go
 * (asm/amd64/rt0.S), which calls back into this file in the entry's order:
 *
 *   gort_tls_failed   only if the TLS probe did not read back
 *   gort_check        type sizes and the offsets the assembly relies on
 *   gort_args_init    argc/argv
 *   gort_osinit       page size, CPU count
 *   gort_schedinit    Ps, stacks, signals, environment settings
 *   gort_newproc_main (proc.c) the main goroutine, on the global queue
 *   gort_mstart       (sched.c) m0's scheduler loop; returns when the
 *                     main goroutine has returned and the other Ms ended
 *   gort_rt0_exit     (sched.c) frees everything, returns the status
 *
 * Only one runtime runs in a process at a time; the life-cycle state in
 * cgo/callback.c (gort_rt_begin ... gort_rt_end) guards that, and is the
 * only state that survives from one run to the next.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

_Static_assert(offsetof(gort_g, stack_lo) == GORT_G_STACK_LO, "g.stack_lo");
_Static_assert(offsetof(gort_g, stack_hi) == GORT_G_STACK_HI, "g.stack_hi");
_Static_assert(offsetof(gort_g, stackguard0) == GORT_G_STACKGUARD0, "g.stackguard0");
_Static_assert(offsetof(gort_g, stackguard1) == GORT_G_STACKGUARD1, "g.stackguard1");
_Static_assert(offsetof(gort_g, m) == GORT_G_M, "g.m");
_Static_assert(offsetof(gort_m, g0) == GORT_M_G0, "m.g0");
_Static_assert(offsetof(gort_g, tsan_fiber) == GORT_G_TSAN_FIBER, "g.tsan_fiber");
_Static_assert(offsetof(gort_cgo_g, stack_hi) == 8, "cgo G");
_Static_assert(sizeof(gort_thread_start) == 24, "ThreadStart");

/* Library mode's settings (cgo/library.c), applied over the environment. */
gort_config gort_lib_config;
bool gort_lib_mode;

void gort_tls_failed(uintptr_t got)
{
    gort_throw("TLS probe failed: stored %#x through the g slot, read back %#lx; "
               "gort needs initial-exec TLS (static TLS space in the host's libc)",
               GORT_TLS_PROBE, (unsigned long)got);
}

/* Checked again at run time in case a build mixed objects compiled with
 * different layouts (the static asserts cover one translation unit). */
void gort_check(void)
{
    gort_g *g = &gort_g0;
    if ((char *)&g->stack_lo - (char *)g != GORT_G_STACK_LO ||
        (char *)&g->stack_hi - (char *)g != GORT_G_STACK_HI ||
        (char *)&g->stackguard0 - (char *)g != GORT_G_STACKGUARD0 ||
        (char *)&g->stackguard1 - (char *)g != GORT_G_STACKGUARD1 ||
        (char *)&g->m - (char *)g != GORT_G_M ||
        (char *)&g->tsan_fiber - (char *)g != GORT_G_TSAN_FIBER)
        gort_throw("check: goroutine descriptor layout differs from layout.h");
    if (sizeof(int8_t) != 1 || sizeof(int16_t) != 2 || sizeof(int32_t) != 4 ||
        sizeof(int64_t) != 8 || sizeof(void *) != 8 || sizeof(uintptr_t) != 8)
        gort_throw("check: unexpected type sizes");
    if (gort_getg() != &gort_g0 || gort_g0.m != &gort_m0 || gort_m0.g0 != &gort_g0)
        gort_throw("check: m0/g0 not linked");
    if (gort_g0.stack_lo >= gort_g0.stack_hi)
        gort_throw("check: bad g0 stack bounds [%#lx, %#lx)",
                   (unsigned long)gort_g0.stack_lo, (unsigned long)gort_g0.stack_hi);
}

void gort_args_init(int argc, char **argv)
{
    gort_sched.argc = argc;
    gort_sched.argv = argv;
}

void gort_osinit(void)
{
    gort_sched.pagesize = sysconf(_SC_PAGESIZE);
    gort_sched.ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (gort_sched.ncpu < 1)
        gort_sched.ncpu = 1;
}

static size_t env_size(const char *name, size_t def)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return def;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end == 'k' || *end == 'K')
        v *= 1024, end++;
    else if (*end == 'm' || *end == 'M')
        v *= 1024 * 1024, end++;
    if (*end != '\0' || v < GORT_STACK_MIN || v > GORT_STACK_MAX)
        gort_throw("%s=%s: want a size in bytes (suffix K or M allowed) "
                   "between %u and %u", name, s, GORT_STACK_MIN, GORT_STACK_MAX);
    return (size_t)v;
}

static int32_t default_procs(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return (int32_t)gort_sched.ncpu;
}

static int32_t env_procs(void)
{
    const char *s = getenv("GORT_MAXPROCS");
    if (!s || !*s)
        return default_procs();
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < 1 || v > GORT_MAXPROCS_LIMIT)
        gort_throw("GORT_MAXPROCS=%s: want a number of processors from 1 to %d",
                   s, GORT_MAXPROCS_LIMIT);
    return (int32_t)v;
}

/* GORT_DEBUG=name=value,name=value */
static void env_debug(void)
{
    const char *s = getenv("GORT_DEBUG");
    const char *t = s ? strstr(s, "schedtrace=") : NULL;
    if (t) {
        long ms = strtol(t + strlen("schedtrace="), NULL, 10);
        gort_sched.schedtrace_ms = ms > 0 ? ms : 0;
    }
    t = s ? strstr(s, "preemptoff=") : NULL;
    gort_sched.preempt_off = t && t[strlen("preemptoff=")] == '1';
}

void gort_schedinit(void)
{
    gort_m0.id = ++gort_sched.mgen;
    atomic_store(&gort_m0.sc_out, 1);   /* not in a foreign call */
    atomic_store(&gort_sched.running, true);
    gort_sched.start_time = gort_nanotime();
    gort_sched.stack_size = env_size("GORT_STACKSIZE", GORT_STACK_DEFAULT);
    gort_sched.nprocs = env_procs();
    env_debug();
    if (gort_lib_mode) {
        gort_sched.library_mode = true;
        if (gort_lib_config.maxprocs > 0)
            gort_sched.nprocs = gort_lib_config.maxprocs > GORT_MAXPROCS_LIMIT
                                    ? GORT_MAXPROCS_LIMIT : gort_lib_config.maxprocs;
        if (gort_lib_config.stack_size)
            gort_sched.stack_size = gort_lib_config.stack_size;
    }
    gort_cgo_init();
    gort_sched.allp = calloc((size_t)gort_sched.nprocs, sizeof(gort_p));
    if (!gort_sched.allp)
        gort_throw("schedinit: out of memory");
    for (int32_t i = 0; i < gort_sched.nprocs; i++) {
        gort_sched.allp[i].id = i;
        gort_sched.allp[i].status = GORT_P_IDLE;
    }
    gort_stack_init();
    gort_signal_init();
    gort_trace_init();
}

/* The entry proper, for gort_main and library mode (which has already
 * moved the runtime's state to STARTING). */
int gort_main_entry(int argc, char **argv, void (*main_fn)(void *), void *arg)
{
    memset(&gort_sched, 0, sizeof gort_sched);
    memset(&gort_g0, 0, sizeof gort_g0);
    memset(&gort_m0, 0, sizeof gort_m0);
    gort_sched.main_fn = main_fn;
    gort_sched.main_arg = arg;

    int status = gort_rt0_go(argc, argv);

    gort_sched.argc = 0;
    gort_sched.argv = NULL;
    gort_rt_end();
    return status;
}

int gort_main(int argc, char **argv, void (*main_fn)(void *), void *arg)
{
    if (main_fn == NULL)
        return GORT_EINVAL;
    if (!gort_rt_begin())
        return GORT_EBUSY;
    gort_lib_mode = false;
    return gort_main_entry(argc, argv, main_fn, arg);
}
