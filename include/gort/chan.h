/*
 * gort/chan.h - channels and select.
 *
 * A channel carries values of one fixed size, copied in and out.  It has
 * Go's semantics exactly:
 *   - unbuffered (capacity 0): a send waits for a receiver and hands the
 *     value straight to it; buffered: a send waits only when full;
 *   - a receive from a closed channel returns the buffered values, then
 *     reports "closed" (gort_chan_recv returns false and zeroes *elem);
 *   - a send on a closed channel, closing a closed channel and closing a
 *     NULL channel are fatal errors naming the goroutine;
 *   - a NULL channel blocks forever, and in gort_select is never ready.
 *
 * Ownership: channels are reference counted.  gort_chan_new returns one
 * reference; gort_chan_retain adds one; gort_chan_release drops one and
 * frees the channel at zero.  Releasing the last reference while
 * goroutines are blocked on the channel is a fatal error.
 *
 * Blocking operations must be called from a goroutine (a fatal error
 * elsewhere).
 */
#ifndef GORT_CHAN_H
#define GORT_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gort_chan gort_chan;

/* Largest element size a channel accepts. */
#define GORT_CHAN_ELEM_MAX (64u * 1024u)

/* A new channel of values elem_size bytes long (0 allowed: pure signals)
 * with room for capacity values (0: unbuffered).  NULL if elem_size is
 * above GORT_CHAN_ELEM_MAX, capacity above 2^31, or memory is short. */
GORT_API gort_chan *gort_chan_new(size_t elem_size, size_t capacity);

/* Add a reference; returns c. */
GORT_API gort_chan *gort_chan_retain(gort_chan *c);

/* Drop a reference; frees c when it was the last.  NULL is ignored. */
GORT_API void gort_chan_release(gort_chan *c);

/* Send *elem (elem_size bytes are copied); blocks until a receiver takes
 * it or buffer space is free. */
GORT_API void gort_chan_send(gort_chan *c, const void *elem);

/* Receive into *elem (may be NULL to discard).  Returns true for a value
 * that was sent, false when c is closed and drained (then *elem is
 * zeroed). */
GORT_API bool gort_chan_recv(gort_chan *c, void *elem);

/* Non-blocking variants: 1 if done, 0 if the operation would block.
 * gort_chan_try_recv sets *ok (if not NULL) like gort_chan_recv's result. */
GORT_API int gort_chan_try_send(gort_chan *c, const void *elem);
GORT_API int gort_chan_try_recv(gort_chan *c, void *elem, bool *ok);

/* Receive, waiting at most timeout_ns: 1 received (*ok set as above),
 * 0 timed out. */
GORT_API int gort_chan_recv_timeout(gort_chan *c, void *elem, bool *ok, int64_t timeout_ns);

/* Close c: blocked receivers wake with "closed", blocked senders die with
 * "send on closed channel". */
GORT_API void gort_chan_close(gort_chan *c);

/* Values buffered now / buffer capacity (0 for NULL). */
GORT_API size_t gort_chan_len(gort_chan *c);
GORT_API size_t gort_chan_cap(gort_chan *c);

/* ---- select ------------------------------------------------------------ */

typedef enum gort_select_dir {
    GORT_SELECT_RECV = 0,
    GORT_SELECT_SEND = 1,
} gort_select_dir;

typedef struct gort_select_case {
    gort_chan *chan;       /* NULL: never ready */
    gort_select_dir dir;
    void *elem;            /* send: value to send; recv: where to store (may be NULL) */
    bool ok;               /* recv: set like gort_chan_recv's result */
} gort_select_case;

/*
 * Wait until one of the cases can proceed, do it, and return its index.
 * When several are ready, one is chosen uniformly at random.  With
 * block == false and none ready, returns -1 at once (Go's default case).
 * With block == true and every channel NULL, blocks forever.  The same
 * channel may appear in several cases.  At most 65536 cases.
 */
GORT_API int gort_select(gort_select_case *cases, size_t ncases, bool block);

#ifdef __cplusplus
}
#endif

#endif /* GORT_CHAN_H */
