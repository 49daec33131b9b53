/*
 * stack.c - goroutine stacks: guarded, carved from slabs, recycled.
 *
 * Every goroutine stack has a guard page below it, and a million of them
 * must fit under the kernel's default vm.max_map_count (65530).  A guard
 * made with mprotect splits the mapping around it, so it costs two
 * mappings per stack and caps a process near 32,700 stacks.  Linux 6.13
 * added madvise(MADV_GUARD_INSTALL), which marks pages of an existing
 * mapping as guards without splitting it.  So stacks are carved from large
 * MAP_NORESERVE slab mappings (one mapping per slab) and guarded with
 * MADV_GUARD_INSTALL; on older kernels the guard falls back to mprotect,
 * and reaching the map limit is reported once, clearly, with the way out.
 *
 * A slot, low to high:  [guard page][stack ............ |G descriptor]
 * The descriptor sits at the top of its own stack, so a goroutine that
 * has barely run costs one resident page for both.
 *
 * Stack classes: one per distinct usable size (page multiple); the default
 * size is one class, each custom size another.  A class owns its slabs
 * (growing 64, 128, ... 1024 slots), a hot list of freed stacks whose pages
 * are still resident (reused first: no page faults), and a cold list of
 * freed stacks whose memory went back to the kernel (MADV_DONTNEED).  Slots
 * never used yet are taken in address order from the newest slab; their
 * guard is installed on first use, so a big slab costs nothing until it is
 * needed.
 *
 * Freeing never gives memory back by itself: on this class of VM a page
 * fault costs 4-9 us, several hundred times a spawn, so a workload that
 * frees and starts goroutines in waves must find its stacks still
 * resident.  Instead sysmon scavenges (gort_stack_scavenge, every
 * SCAVENGE_NS): the hot list is LIFO, so the stacks at its bottom are the
 * ones idle longest, and hot_low -- the shortest the list got since the
 * last pass -- counts those nobody took during the whole period.  Those,
 * beyond a reserve of HOT_KEEP, go back to the kernel.  An idle runtime
 * keeps sysmon coming back until nothing is left to scavenge.
 *
 * Each slab keeps one state byte per slot, so every live goroutine can be
 * found by walking the slabs (deadlock reports, tracebacks, teardown), and
 * the SIGSEGV handler can tell a guard-page hit from any other fault.
 *
 * Each P keeps up to PCACHE_MAX freed default-size stacks of its own in
 * front of these lists (no lock: only the M holding the P touches it), and
 * trades half of them with the class when it runs full.  An exiting G puts
 * its own stack there while still running on it (gort_stack_free_exiting):
 * safe because nothing else takes from that cache, and because a full
 * cache is trimmed before the stack goes in.  Everything else
 * is under stack_lock, a leaf lock.  The slab list only ever grows while
 * the runtime runs, so the fault handler may walk it without the lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime.h"
#include "sanitizer.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define SLAB_MIN_SLOTS 64u
#define SLAB_MAX_SLOTS 1024u
#define HOT_KEEP       64u    /* idle freed stacks kept resident, per class */
#define PCACHE_MAX     64u    /* freed default-size stacks kept per P */

enum slot_state { SLOT_FRESH = 0, SLOT_INUSE, SLOT_HOT, SLOT_COLD };

/* The state bytes are read without stack_lock (gort_stack_each_g, the
 * fault handler): relaxed atomic byte accesses, plain moves on x86-64. */
#define SLOT_SET(s, i, v) __atomic_store_n(&(s)->state[i], (uint8_t)(v), __ATOMIC_RELAXED)
#define SLOT_GET(s, i)    __atomic_load_n(&(s)->state[i], __ATOMIC_RELAXED)
enum guard_mode { GUARD_UNKNOWN = 0, GUARD_MADVISE, GUARD_MPROTECT };

struct gort_slab {
    gort_slab *next;
    struct stack_class *cls;
    char *base;
    size_t len;
    uint32_t nslots;
    uint32_t nused;          /* slots handed out at least once (bump) */
    uint8_t state[];         /* enum slot_state, one per slot */
};

struct cold_slot {
    gort_slab *slab;
    uint32_t idx;
};

struct stack_class {
    struct stack_class *next;
    size_t usable;           /* stack bytes, page multiple, incl. descriptor */
    size_t slot_size;        /* usable + guard page */
    gort_slab *slabs;        /* newest first */
    uint32_t nslabs;
    gort_g *hot;             /* linked through schedlink, newest first */
    uint32_t nhot;
    uint32_t hot_low;        /* least nhot since the last scavenge */
    struct cold_slot *cold;
    size_t ncold, capcold;
};

static gort_rtlock stack_lock;
static struct stack_class *classes;
static struct stack_class *default_class;
static enum guard_mode guard_mode;
static int64_t nguarded;
static bool limit_reported;

/* ---- system memory ----------------------------------------------------- */

void *gort_sysmap(size_t len, int prot, int flags)
{
    if (_cgo_mmap) {
        uintptr_t r = _cgo_mmap(NULL, len, prot, flags, -1, 0);
        if (r < 4096) {
            errno = (int)r;
            return NULL;
        }
        return (void *)r;
    }
    void *p = mmap(NULL, len, prot, flags, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void gort_sysunmap(void *p, size_t len)
{
    if (_cgo_munmap)
        _cgo_munmap(p, len);
    else
        munmap(p, len);
}

/* ---- classes and slabs ------------------------------------------------- */

static size_t page(void)
{
    return (size_t)gort_sched.pagesize;
}

size_t gort_stack_round(size_t usable)
{
    size_t pg = page();
    if (usable < GORT_STACK_MIN)
        usable = GORT_STACK_MIN;
    return (usable + pg - 1) & ~(pg - 1);
}

static struct stack_class *class_for(size_t usable)
{
    usable = gort_stack_round(usable);
    if (default_class && default_class->usable == usable)
        return default_class;
    for (struct stack_class *c = classes; c; c = c->next)
        if (c->usable == usable)
            return c;
    struct stack_class *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->usable = usable;
    c->slot_size = usable + page();
    c->next = classes;
    classes = c;
    return c;
}

static gort_slab *slab_new(struct stack_class *c, int *err)
{
    uint32_t n = SLAB_MIN_SLOTS << (c->nslabs < 4 ? c->nslabs : 4);
    if (n > SLAB_MAX_SLOTS)
        n = SLAB_MAX_SLOTS;
    gort_slab *s = calloc(1, sizeof *s + n);
    if (!s) {
        *err = GORT_ENOMEM;
        return NULL;
    }
    s->len = (size_t)n * c->slot_size;
    s->base = gort_sysmap(s->len, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
    if (!s->base) {
        *err = errno == ENOMEM ? GORT_ENOMEM : GORT_EAGAIN;
        free(s);
        return NULL;
    }
    s->cls = c;
    s->nslots = n;
    s->next = c->slabs;
    __atomic_store_n(&c->slabs, s, __ATOMIC_RELEASE);   /* the fault handler walks it */
    c->nslabs++;
    return s;
}

static void report_map_limit(void)
{
    if (limit_reported)
        return;
    limit_reported = true;
    long max = -1;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1)
            max = -1;
        fclose(f);
    }
    gort_printf("gort: cannot guard another goroutine stack: the kernel's map limit "
                "(vm.max_map_count = %ld) is reached at %lld guarded stacks.\n"
                "gort: this kernel has no MADV_GUARD_INSTALL (Linux >= 6.13), so each guard "
                "page costs two mappings; raise vm.max_map_count or keep fewer goroutines "
                "alive. gort_go returns GORT_EAGAIN until stacks are freed.\n",
                max, (long long)nguarded);
}

static bool guard_install(char *lo)
{
    if (guard_mode != GUARD_MPROTECT) {
        if (madvise(lo, page(), MADV_GUARD_INSTALL) == 0) {
            guard_mode = GUARD_MADVISE;
            nguarded++;
            return true;
        }
        if (guard_mode == GUARD_MADVISE || (errno != EINVAL && errno != ENOSYS))
            return false;
        guard_mode = GUARD_MPROTECT;
    }
    if (mprotect(lo, page(), PROT_NONE) == 0) {
        nguarded++;
        return true;
    }
    if (errno == ENOMEM)
        report_map_limit();
    return false;
}

static char *slot_base(gort_slab *s, uint32_t idx)
{
    return s->base + (size_t)idx * s->cls->slot_size;
}

static gort_g *slot_g(gort_slab *s, uint32_t idx)
{
    uintptr_t top = (uintptr_t)slot_base(s, idx) + s->cls->slot_size;
    return (gort_g *)((top - sizeof(gort_g)) & ~(uintptr_t)63);
}

/* The descriptor's fixed fields; newproc (proc.c) sets the others. */
static gort_g *slot_take(gort_slab *s, uint32_t idx)
{
    gort_g *g = slot_g(s, idx);
    g->slab = s;
    g->slot = idx;
    g->stack_lo = (uintptr_t)slot_base(s, idx) + page();
    g->stack_hi = (uintptr_t)g;
    g->stackguard0 = g->stack_lo + GORT_STACK_GUARD;
    g->stackguard1 = g->stackguard0;
    SLOT_SET(s, idx, SLOT_INUSE);
    return g;
}

static gort_g *take_fresh(struct stack_class *c, int *err)
{
    gort_slab *s = c->slabs;
    if (!s || s->nused == s->nslots) {
        s = slab_new(c, err);
        if (!s)
            return NULL;
    }
    uint32_t idx = s->nused;
    if (!guard_install(slot_base(s, idx))) {
        *err = guard_mode == GUARD_MPROTECT ? GORT_EAGAIN : GORT_ENOMEM;
        return NULL;
    }
    s->nused++;
    gort_g *g = slot_take(s, idx);
    g->vg_stack = gort_vg_stack_register(g->stack_lo, g->stack_hi);
    return g;
}

/* ---- allocation -------------------------------------------------------- */

void gort_stack_init(void)
{
    const char *dbg = getenv("GORT_DEBUG");
    guard_mode = (dbg && strstr(dbg, "guard=mprotect")) ? GUARD_MPROTECT : GUARD_UNKNOWN;
    classes = NULL;
    default_class = NULL;
    nguarded = 0;
    limit_reported = false;
    default_class = class_for(gort_sched.stack_size);
    if (!default_class)
        gort_throw("stack_init: out of memory");
}

static gort_g *alloc_locked(size_t usable, int *err)
{
    struct stack_class *c = class_for(usable);
    if (!c) {
        *err = GORT_ENOMEM;
        return NULL;
    }
    gort_g *g = c->hot;
    if (g) {
        c->hot = g->schedlink;
        c->nhot--;
        if (c->nhot < c->hot_low)
            c->hot_low = c->nhot;
        return slot_take(g->slab, g->slot);
    }
    if (c->ncold) {
        struct cold_slot cs = c->cold[--c->ncold];
        return slot_take(cs.slab, cs.idx);
    }
    return take_fresh(c, err);
}

static __attribute__((noinline)) gort_g *alloc_shared(size_t usable, int *err)
{
    if (usable == 0)
        usable = default_class->usable;
    gort_rtlock_lock(&stack_lock);
    gort_g *g = alloc_locked(usable, err);
    gort_rtlock_unlock(&stack_lock);
    return g;
}

/* usable 0: the default size.  The P's cache is the fast path (every
 * spawn of a goroutine that returns at once), so the rest is kept out of
 * line. */
gort_g *gort_stack_alloc(gort_p *p, size_t usable, int *err)
{
    gort_g *g;
    if (p && (g = p->stackcache) != NULL &&
        (usable == 0 || gort_stack_round(usable) == default_class->usable)) {
        /* A stack this P just freed: its descriptor's fixed fields are
         * still right. */
        p->stackcache = g->schedlink;
        p->nstackcache--;
        SLOT_SET(g->slab, g->slot, SLOT_INUSE);
        return g;
    }
    return alloc_shared(usable, err);
}

static void free_locked(struct stack_class *c, gort_g *g)
{
    SLOT_SET(g->slab, g->slot, SLOT_HOT);
    g->schedlink = c->hot;
    c->hot = g;
    c->nhot++;
}

void gort_stack_pcache_flush(gort_p *p)
{
    if (!p->stackcache)
        return;
    gort_rtlock_lock(&stack_lock);
    while (p->stackcache) {
        gort_g *g = p->stackcache;
        p->stackcache = g->schedlink;
        free_locked(default_class, g);
    }
    p->nstackcache = 0;
    gort_rtlock_unlock(&stack_lock);
}

/* A full P cache gives half its stacks to the class. */
static __attribute__((noinline)) void pcache_trim(gort_p *p)
{
    gort_rtlock_lock(&stack_lock);
    while (p->nstackcache > PCACHE_MAX / 2) {
        gort_g *old = p->stackcache;
        p->stackcache = old->schedlink;
        p->nstackcache--;
        free_locked(default_class, old);
    }
    gort_rtlock_unlock(&stack_lock);
}

/* Trims before it puts g in: g itself never goes to the shared lists. */
static inline void pcache_put(gort_p *p, gort_g *g)
{
    if (unlikely(p->nstackcache >= PCACHE_MAX))
        pcache_trim(p);
    SLOT_SET(g->slab, g->slot, SLOT_HOT);
    g->schedlink = p->stackcache;
    p->stackcache = g;
    p->nstackcache++;
}

void gort_stack_free(gort_p *p, gort_g *g)
{
    struct stack_class *c = g->slab->cls;
    if (p && c == default_class) {
        pcache_put(p, g);
        return;
    }
    gort_rtlock_lock(&stack_lock);
    free_locked(c, g);
    gort_rtlock_unlock(&stack_lock);
}

/* ---- giving memory back ------------------------------------------------ */

/* Make room for n more cold entries (stack_lock held). */
static bool cold_reserve(struct stack_class *c, size_t n)
{
    if (c->ncold + n <= c->capcold)
        return true;
    size_t cap = c->capcold ? c->capcold : 256;
    while (cap < c->ncold + n)
        cap *= 2;
    struct cold_slot *v = realloc(c->cold, cap * sizeof *v);
    if (!v)
        return false;
    c->cold = v;
    c->capcold = cap;
    return true;
}

/* Detach the n oldest stacks of the hot list (stack_lock held).  They
 * are in no list while their memory is released: nobody can take one. */
static gort_g *hot_detach_oldest(struct stack_class *c, uint32_t n)
{
    gort_g **link = &c->hot;
    for (uint32_t keep = c->nhot - n; keep > 0; keep--)
        link = &(*link)->schedlink;
    gort_g *tail = *link;
    *link = NULL;
    c->nhot -= n;
    for (gort_g *g = tail; g; g = g->schedlink)
        SLOT_SET(g->slab, g->slot, SLOT_COLD);
    return tail;
}

/* Release c's stacks idle for a whole period; returns how many hot ones
 * remain beyond the reserve. */
static uint32_t scavenge_class(struct stack_class *c)
{
    gort_rtlock_lock(&stack_lock);
    uint32_t n = c->hot_low > HOT_KEEP ? c->hot_low - HOT_KEEP : 0;
    if (n && !cold_reserve(c, n))
        n = 0;
    gort_g *list = n ? hot_detach_oldest(c, n) : NULL;
    c->hot_low = c->nhot;
    uint32_t left = c->nhot > HOT_KEEP ? c->nhot - HOT_KEEP : 0;
    gort_rtlock_unlock(&stack_lock);

    /* Room for all n is reserved: only this pass adds cold entries. */
    for (gort_g *g = list, *next; g; g = next) {
        next = g->schedlink;   /* read before the page is zeroed */
        gort_slab *s = g->slab;
        uint32_t idx = g->slot;
        gort_san_stack_drop(g);   /* TSan: the fiber is in the descriptor about to go */
        madvise(slot_base(s, idx) + page(), c->usable, MADV_DONTNEED);
        gort_rtlock_lock(&stack_lock);
        c->cold[c->ncold++] = (struct cold_slot){s, idx};
        gort_rtlock_unlock(&stack_lock);
    }
    return left;
}

/* Called by sysmon every SCAVENGE_NS; returns how many stacks are still
 * hot beyond the reserve (nonzero: come back after another period). */
uint32_t gort_stack_scavenge(void)
{
    gort_rtlock_lock(&stack_lock);
    struct stack_class *head = classes;   /* classes are only ever prepended */
    gort_rtlock_unlock(&stack_lock);
    uint32_t left = 0;
    for (struct stack_class *c = head; c; c = c->next)
        left += scavenge_class(c);
    return left;
}

/* Free the stack of an exiting G that still runs on it, if it can go to
 * the P's cache, which only the M holding p touches; false if it must
 * wait until the G has switched away (a custom size goes to the shared
 * lists, where another M could take it at once). */
bool gort_stack_free_exiting(gort_p *p, gort_g *g)
{
    if (g->slab->cls != default_class)
        return false;
    pcache_put(p, g);
    return true;
}

void gort_stack_release_all(void)
{
    struct stack_class *c = classes;
    while (c) {
        struct stack_class *cn = c->next;
        gort_slab *s = c->slabs;
        while (s) {
            gort_slab *sn = s->next;
#if defined(GORT_TSAN) || defined(GORT_VALGRIND)
            /* The stacks' TSan fibers and valgrind registrations (a cold
             * stack's descriptor was zeroed: its fiber went then, and its
             * valgrind registration is left). */
            for (uint32_t i = 0; i < s->nused; i++)
                if (SLOT_GET(s, i) == SLOT_INUSE || SLOT_GET(s, i) == SLOT_HOT) {
                    gort_san_stack_drop(slot_g(s, i));
                    gort_vg_stack_deregister(slot_g(s, i)->vg_stack);
                }
#endif
            gort_sysunmap(s->base, s->len);
            free(s);
            s = sn;
        }
        free(c->cold);
        free(c);
        c = cn;
    }
    classes = NULL;
    default_class = NULL;
}

/* ---- walking ----------------------------------------------------------- */

void gort_stack_each_g(void (*fn)(gort_g *g, void *arg), void *arg)
{
    for (struct stack_class *c = classes; c; c = c->next)
        for (gort_slab *s = c->slabs; s; s = s->next)
            for (uint32_t i = 0; i < s->nused; i++)
                if (SLOT_GET(s, i) == SLOT_INUSE)
                    fn(slot_g(s, i), arg);
}

/* Async-signal-safe: reads only. */
bool gort_stack_guard_has(uintptr_t addr, gort_g **owner)
{
    for (struct stack_class *c = classes; c; c = c->next) {
        for (gort_slab *s = c->slabs; s; s = s->next) {
            uintptr_t base = (uintptr_t)s->base;
            if (addr < base || addr >= base + s->len)
                continue;
            uintptr_t off = addr - base;
            uint32_t idx = (uint32_t)(off / c->slot_size);
            if (off % c->slot_size >= page())
                return false;
            *owner = SLOT_GET(s, idx) == SLOT_INUSE ? slot_g(s, idx) : NULL;
            return true;
        }
    }
    return false;
}

size_t gort_stack_size_of(const gort_g *g)
{
    return g->slab ? g->slab->cls->usable : g->stack_hi - g->stack_lo;
}
