/*
 * sanitizer.h - telling ASan, TSan and valgrind about goroutine stacks.
 *
 * ASan keeps a notion of "the current stack" per thread; a goroutine
 * switch moves the thread to another stack behind its back.  With
 * --enable-sanitizer=address every switch is announced: the leaving side
 * calls __sanitizer_start_switch_fiber with the bounds of the stack it is
 * about to run on (NULL save slot when the leaving goroutine is dead), and
 * the arriving side finishes it with __sanitizer_finish_switch_fiber
 * (gort_switch_in).  A recycled stack is unpoisoned whole: frames of the
 * goroutine that died on it were never unwound.
 *
 * TSan (--enable-sanitizer=thread) keeps a vector clock and a shadow call
 * stack per thread; a goroutine is its own TSan "fiber" with both.  The
 * fiber belongs to the goroutine's stack: made when a goroutine first
 * starts on the stack, kept while the stack is recycled (the next
 * goroutine on it starts from the clock of the last, which the stack's
 * reuse implies anyway), unmade when the stack's memory goes back to the
 * kernel or the runtime ends.  Every M's g0 is the thread's own fiber.
 * The leaving side switches TSan to the next G's fiber immediately before
 * the asm switch -- nothing instrumented may run in between, or its
 * function-exit would pop the wrong shadow stack, so gort_san_fiber_switch
 * is always inlined into gort_switch_to (and gort_go_opts), and the asm
 * gort_yield and gort_gostart (after a goroutine's function and goexit
 * have returned) make the call themselves.  Because the fiber outlives
 * the goroutine, its shadow call stack must be empty when the goroutine
 * ends, and it is: the goroutine's frames have all returned by then.  A switch is a release by the leaving
 * fiber and an acquire by the arriving one: a G that moves between Ms
 * carries what it knew.  Everything else gort synchronises through --
 * the futex locks and notes (lock.c), the run queues, the foreign-call
 * hand-shake with sysmon -- is C11 atomics with release/acquire where
 * data is handed over, which TSan models: no __tsan_acquire/release is
 * needed.
 *
 * With --enable-valgrind each stack is registered when carved (and each
 * M's system stack when the M starts), so valgrind treats jumps between
 * them as stack switches rather than huge frames; m0's and the goroutine
 * stacks' registrations end with the run (signal.c, stack.c).
 *
 * In a normal build every hook here is an empty inline function.
 */
#ifndef GORT_SANITIZER_H
#define GORT_SANITIZER_H

#include "runtime.h"

#ifdef GORT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>

static inline void gort_san_switch_start(gort_g *from, gort_g *to, bool from_dead)
{
    __sanitizer_start_switch_fiber(from_dead ? NULL : &from->asan_fake, (const void *)to->stack_lo,
                                   to->stack_hi - to->stack_lo);
}

static inline void gort_san_switch_finish(gort_g *g)
{
    __sanitizer_finish_switch_fiber(g->asan_fake, NULL, NULL);
}

static inline void gort_san_stack_reuse(gort_g *g)
{
    __asan_unpoison_memory_region((void *)g->stack_lo, g->stack_hi - g->stack_lo);
}
#else
static inline void gort_san_switch_start(gort_g *from, gort_g *to, bool from_dead)
{
    (void)from, (void)to, (void)from_dead;
}
static inline void gort_san_switch_finish(gort_g *g)
{
    (void)g;
}
static inline void gort_san_stack_reuse(gort_g *g)
{
    (void)g;
}
#endif

#ifdef GORT_TSAN
#include <stdio.h>
#include <sanitizer/tsan_interface.h>

/* newproc: g's stack keeps its fiber from one goroutine to the next (a
 * fiber costs TSan system calls to make and unmake); a fresh stack gets
 * one.  The first switch to g is the creator's release to it. */
static inline void gort_san_g_start(gort_g *g)
{
    char name[32];
    if (!g->tsan_fiber)
        g->tsan_fiber = __tsan_create_fiber(0);
    snprintf(name, sizeof name, "goroutine %lld", (long long)g->id);
    __tsan_set_fiber_name(g->tsan_fiber, name);
}

/* The stack's memory goes back to the kernel (its descriptor with it), or
 * the runtime ends: never the current fiber. */
static inline void gort_san_stack_drop(gort_g *g)
{
    if (g->tsan_fiber) {
        __tsan_destroy_fiber(g->tsan_fiber);
        g->tsan_fiber = NULL;
    }
}

/* On the M's own thread, before its g0 is ever switched away from. */
static inline void gort_san_m_init(gort_m *m)
{
    m->g0->tsan_fiber = __tsan_get_current_fiber();
}

/* Immediately before gort_ctx_switch to `to`: always inlined, so that no
 * function of ours is entered on one fiber and left on the other. */
static inline __attribute__((always_inline)) void gort_san_fiber_switch(gort_g *to)
{
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
}
#else
static inline void gort_san_g_start(gort_g *g)
{
    (void)g;
}
static inline void gort_san_stack_drop(gort_g *g)
{
    (void)g;
}
static inline void gort_san_m_init(gort_m *m)
{
    (void)m;
}
static inline void gort_san_fiber_switch(gort_g *to)
{
    (void)to;
}
#endif

#ifdef GORT_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
/* The id is valgrind's plus one: 0 means "not registered". */
static inline unsigned gort_vg_stack_register(uintptr_t lo, uintptr_t hi)
{
    return VALGRIND_STACK_REGISTER(lo, hi) + 1;
}
/* A registration must not outlive its stack: memcheck takes a move of the
 * SP into a registered range for a stack switch, and then leaves the new
 * frames unaddressable (seen: the main thread's stack below gort_main's
 * frame, registered as m0's g0, after gort_main returned). */
static inline void gort_vg_stack_deregister(unsigned id)
{
    if (id)
        VALGRIND_STACK_DEREGISTER(id - 1);
}
/* Memcheck marks what lies below a stack pointer as inaccessible; when a
 * foreign call moves the SP back onto the system stack it does not see a
 * push, so the region is declared usable first. */
static inline void gort_vg_stack_usable(uintptr_t lo, uintptr_t hi)
{
    if (hi > lo)
        VALGRIND_MAKE_MEM_UNDEFINED((void *)lo, hi - lo);
}
#else
static inline void gort_vg_stack_usable(uintptr_t lo, uintptr_t hi)
{
    (void)lo, (void)hi;
}
static inline unsigned gort_vg_stack_register(uintptr_t lo, uintptr_t hi)
{
    (void)lo, (void)hi;
    return 0;
}
static inline void gort_vg_stack_deregister(unsigned id)
{
    (void)id;
}
#endif

#endif
