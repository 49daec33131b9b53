/*
 * sanitizer.h - telling ASan and valgrind about goroutine stacks.
 *
 * ASan keeps a notion of "the current stack" per thread; a goroutine
 * switch moves the thread to another stack behind its back.  With
 * --enable-sanitizer=address every switch is announced: the leaving side
 * calls __sanitizer_start_switch_fiber with the bounds of the stack it is
 * about to run on (NULL save slot when the leaving goroutine is dead), and
 * the arriving side finishes it with __sanitizer_finish_switch_fiber
 * (gort_switch_in).  A recycled stack is unpoisoned whole: frames of the
 * goroutine that died on it were never unwound.  With --enable-valgrind
 * each stack is registered when carved, so valgrind treats jumps between
 * them as stack switches rather than huge frames.  In a normal build every
 * hook here is an empty inline function.
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

#ifdef GORT_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
static inline unsigned gort_vg_stack_register(uintptr_t lo, uintptr_t hi)
{
    return VALGRIND_STACK_REGISTER(lo, hi);
}
static inline void gort_vg_stack_deregister(unsigned id)
{
    VALGRIND_STACK_DEREGISTER(id);
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
