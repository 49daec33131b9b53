/*
 * gort/sync.h - goroutine-blocking synchronisation: mutexes, reader/writer
 * mutexes, wait groups, once, condition variables and semaphores.
 *
 * These are the counterparts of Go's sync package.  A goroutine that has
 * to wait is parked: its thread goes on running other goroutines, so a
 * thousand goroutines blocked on one mutex cost no threads and no CPU.
 * (pthread mutexes, by contrast, block the whole thread and every
 * goroutine that would have run on it.)
 *
 * Conventions:
 *   - Every type is a plain value: zero-initialised it is ready to use
 *     (an unlocked mutex, a wait group at 0, a semaphore with no permits),
 *     so `static gort_mutex mu;` or `gort_mutex mu = GORT_MUTEX_INIT;`
 *     needs no init call.  The fields are private: read or write them only
 *     through these functions.
 *   - Do not copy one after first use, and do not move it while any
 *     goroutine waits on it: waiters are found by its address.
 *   - Goroutine context only: every function here, blocking or not,
 *     except the two plain initialisers gort_cond_init and gort_sema_init,
 *     must be called from a goroutine (between gort_main's start and its
 *     return).  Called anywhere else -- a plain thread, the scheduler
 *     stack, before or after gort_main -- it is a fatal error naming the
 *     call.  (Waking a goroutine from a foreign thread would be possible,
 *     but the runtime's deadlock check cannot see foreign threads: every
 *     goroutine waiting for one would be reported as a deadlock.)
 *   - Misuse (unlocking an unlocked mutex, a negative wait-group counter,
 *     ...) is a fatal error, as in Go: "gort: fatal error: <call>: ...",
 *     the goroutine's id, exit status 2.
 *   - Calls that may block are also preemption points: a goroutine asked
 *     to yield by the runtime (after running 10 ms) does so there.
 *   - If every goroutine ends up blocked, the runtime reports a deadlock
 *     ("all goroutines are asleep - deadlock!") and exits with status 2.
 *   - Goroutines still blocked on an object when gort_main returns are
 *     discarded with the runtime; the object is then in an undefined
 *     state: re-initialise it (assign its zero value) before a later
 *     gort_main uses it.
 */
#ifndef GORT_SYNC_H
#define GORT_SYNC_H

#include <stdint.h>

#include <gort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- mutex ------------------------------------------------------------ */

/*
 * A mutual-exclusion lock, Go's sync.Mutex.  Not recursive; not owned: a
 * goroutine may unlock a mutex another one locked.
 *
 * Fairness: normally a goroutine that arrives while the mutex is free
 * takes it, even if others are queued (throughput: the running goroutine
 * wins against a woken one that must first be scheduled).  A waiter that
 * has waited more than 1 ms switches the mutex to starvation mode: unlock
 * then hands it straight to the first waiter in FIFO order and newcomers
 * queue behind, until the queue drains or a waiter got it quickly.  So no
 * waiter waits forever.
 */
typedef struct gort_mutex {
    int32_t state_;   /* private: locked, woken, starving bits; waiters << 3 */
    uint32_t sema_;   /* private: wake-up tokens for the waiters */
} gort_mutex;

#define GORT_MUTEX_INIT {0, 0}

/* Lock mu, parking the calling goroutine until it is free.  Spins briefly
 * first when other processors are running (the holder may be about to
 * unlock).  Locking a mutex the caller already holds deadlocks. */
GORT_API void gort_mutex_lock(gort_mutex *mu);

/* Lock mu if it is free and not in starvation mode; never blocks.
 * 1 if the caller now holds it, 0 if not. */
GORT_API int gort_mutex_trylock(gort_mutex *mu);

/* Unlock mu, waking a waiter if any.  Unlocking an unlocked mutex is a
 * fatal error ("gort_mutex_unlock: unlock of unlocked mutex"). */
GORT_API void gort_mutex_unlock(gort_mutex *mu);

/* ---- reader/writer mutex ---------------------------------------------- */

/*
 * A reader/writer lock, Go's sync.RWMutex: any number of readers or one
 * writer.  Writers are preferred: once a writer waits in
 * gort_rwmutex_lock, new readers wait until it has had its turn, so a
 * steady stream of readers cannot starve writers.  Hence a reader must
 * not take the read lock again while holding it (a writer arriving in
 * between would deadlock both).
 */
typedef struct gort_rwmutex {
    gort_mutex w_;           /* private: held by the writer, writers queue */
    uint32_t writer_sem_;    /* private: the writer waits for readers here */
    uint32_t reader_sem_;    /* private: readers wait for the writer here */
    int32_t reader_count_;   /* private: readers in; minus 2^30 if a writer */
    int32_t reader_wait_;    /* private: readers the writer still waits for */
} gort_rwmutex;

#define GORT_RWMUTEX_INIT {GORT_MUTEX_INIT, 0, 0, 0, 0}

/* Take a read lock; blocks while a writer holds or waits for the lock. */
GORT_API void gort_rwmutex_rlock(gort_rwmutex *rw);

/* Take a read lock if that needs no wait: 1 if taken, 0 if not. */
GORT_API int gort_rwmutex_tryrlock(gort_rwmutex *rw);

/* Release a read lock.  Fatal if rw is not read-locked
 * ("gort_rwmutex_runlock: runlock of unlocked rwmutex"). */
GORT_API void gort_rwmutex_runlock(gort_rwmutex *rw);

/* Take the write lock: waits for other writers, then for the readers
 * inside to leave (new readers wait from the moment this is called). */
GORT_API void gort_rwmutex_lock(gort_rwmutex *rw);

/* Take the write lock if that needs no wait: 1 if taken, 0 if not. */
GORT_API int gort_rwmutex_trylock(gort_rwmutex *rw);

/* Release the write lock, letting in the readers that queued behind it.
 * Fatal if rw is not write-locked
 * ("gort_rwmutex_unlock: unlock of unlocked rwmutex"). */
GORT_API void gort_rwmutex_unlock(gort_rwmutex *rw);

/* ---- wait group ------------------------------------------------------- */

/*
 * Waits for a collection of goroutines to finish, Go's sync.WaitGroup.
 * Add the number to wait for (before starting them), each calls
 * gort_waitgroup_done when finished, gort_waitgroup_wait blocks until
 * the counter is 0.  A wait group may be reused once every wait of the
 * previous round has returned.
 */
typedef struct gort_waitgroup {
    uint64_t state_;   /* private: counter << 32 | waiters */
    uint32_t sema_;    /* private */
} gort_waitgroup;

#define GORT_WAITGROUP_INIT {0, 0}

/* Add delta (may be negative) to the counter; at 0 every waiter is
 * released.  Fatal if the counter goes negative ("gort_waitgroup_add:
 * negative WaitGroup counter"), and if a positive delta is added from 0
 * while goroutines are waiting or being released (an add must happen
 * before the wait it should hold back, as in Go). */
GORT_API void gort_waitgroup_add(gort_waitgroup *wg, int delta);

/* gort_waitgroup_add(wg, -1); a negative counter names this call. */
GORT_API void gort_waitgroup_done(gort_waitgroup *wg);

/* Block until the counter is 0 (returns at once if it is). */
GORT_API void gort_waitgroup_wait(gort_waitgroup *wg);

/* ---- once ------------------------------------------------------------- */

/* Runs a function exactly once, Go's sync.Once. */
typedef struct gort_once {
    uint32_t done_;     /* private: 1 once fn has returned */
    gort_mutex m_;      /* private */
    int64_t owner_;     /* private: the goroutine running fn, else 0 */
} gort_once;

#define GORT_ONCE_INIT {0, GORT_MUTEX_INIT, 0}

/*
 * Call fn(arg) if no gort_once_do on this once has called its fn yet.
 * Every call returns only after that one fn has returned: callers that
 * arrive while it runs park until then (goroutine-blocking; their threads
 * run other goroutines).  fn must return normally; calling gort_once_do
 * on the same once from inside fn is a fatal error (it could never
 * finish).
 */
GORT_API void gort_once_do(gort_once *once, void (*fn)(void *), void *arg);

/* ---- condition variable ----------------------------------------------- */

/*
 * A condition variable bound to a mutex, Go's sync.Cond.  Waiters queue
 * in ticket order: a signal wakes the goroutine that has waited longest,
 * and a signal or broadcast is never lost between a waiter's unlocking of
 * the mutex and its parking (each wait takes a ticket first).
 * As with any condition variable, recheck the condition in a loop.
 */
typedef struct gort_cond {
    gort_mutex *L;       /* the mutex held around wait (set by init) */
    uint32_t wait_;      /* private: next ticket to hand a waiter */
    uint32_t notify_;    /* private: next ticket to wake */
    uint32_t lock_;      /* private: guards the list */
    void *head_;         /* private: parked waiters, in ticket order */
    void *tail_;         /* private */
} gort_cond;

/* A cond bound to mutex *mu: gort_cond c = GORT_COND_INIT(&mu); */
#define GORT_COND_INIT(mu) {(mu), 0, 0, 0, 0, 0}

/* Bind c to mu and reset it (no waiters).  Same as assigning
 * GORT_COND_INIT(mu); not while goroutines wait on c.  Callable from any
 * thread, with or without a runtime. */
GORT_API void gort_cond_init(gort_cond *c, gort_mutex *mu);

/* Atomically unlock c->L and park until signalled; lock c->L again
 * before returning.  The caller must hold c->L (fatal if it is not
 * locked, or if c has no mutex). */
GORT_API void gort_cond_wait(gort_cond *c);

/* Wake the longest-waiting goroutine, if any.  Holding c->L is allowed
 * but not required. */
GORT_API void gort_cond_signal(gort_cond *c);

/* Wake every goroutine waiting on c. */
GORT_API void gort_cond_broadcast(gort_cond *c);

/* ---- semaphore -------------------------------------------------------- */

/*
 * A counting semaphore.  Acquirers that must wait are served in FIFO
 * order: a release with waiters hands its permit straight to the one that
 * has waited longest.  Zero-initialised it holds no permits.
 */
typedef struct gort_sema {
    uint32_t count_;   /* private: permits available */
} gort_sema;

#define GORT_SEMA_INIT(n) {(n)}

/* Set the number of permits (not while goroutines wait on s).  Callable
 * from any thread, with or without a runtime. */
GORT_API void gort_sema_init(gort_sema *s, uint32_t n);

/* Take a permit, parking until one is available. */
GORT_API void gort_sema_acquire(gort_sema *s);

/* Take a permit if one is available now: 1 if taken, 0 if not. */
GORT_API int gort_sema_try_acquire(gort_sema *s);

/* Return a permit: to the longest waiter if any, else to the count.
 * Fatal if the count would pass UINT32_MAX. */
GORT_API void gort_sema_release(gort_sema *s);

#ifdef __cplusplus
}
#endif

#endif /* GORT_SYNC_H */
