/*
 * trace.c - GORT_TRACE=path: the run as Chrome Trace Event JSON.
 *
 * Perfetto (ui.perfetto.dev) and chrome://tracing open the file; so does
 * tools/gort-trace-html, which turns it into a self-contained HTML
 * timeline for offline use.  What it shows: one track per P with a slice
 * for each stretch a goroutine ran (why it stopped in the slice's
 * arguments), foreign calls nested in those slices, a track per thread
 * that called back from C, flow arrows from the goroutine that readied
 * another to where that one next ran, and thread creations.
 *
 * Recording is cheap and local: an event is 32 bytes appended to the
 * buffer of the P the thread holds (threads without a P share one locked
 * buffer).  A full buffer is swapped for its spare and queued; sysmon
 * turns queued buffers into JSON and writes them, so the goroutine that
 * filled one does not wait for the file.  If the spare is still queued
 * the events are dropped and counted (the count is in the file).  Slices
 * are built by the writer, which keeps each track's open slice between
 * buffers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "trace.h"

#define BUF_EVENTS 8192
#define EXT_TRACK 1000   /* tracks for threads without a P: EXT_TRACK + M id */

struct ev {
    int64_t ts;
    uint32_t type;
    int32_t track;
    int64_t g;
    int64_t arg;
};

struct tbuf {
    struct ev ev[BUF_EVENTS];
    uint32_t n;
    struct tbuf *next;    /* in the full list */
};

struct track {
    int64_t g;            /* the goroutine of the open slice, 0 if none */
    int64_t since;
    int64_t ccall_since;  /* open foreign call, 0 if none */
};

bool gort_trace_on;
static FILE *out;
static gort_rtlock buf_lock;      /* the full list, the shared buffer, the file */
static struct tbuf *full_head, *full_tail;
static struct tbuf *shared;       /* threads without a P */
static struct tbuf **active, **spare;   /* per P */
static _Atomic uint64_t dropped;
static _Atomic int64_t next_flow;
static struct track *tracks;      /* per P */
static int64_t t0;
static bool first_event;
static uint8_t ext_named[512];   /* tracks of threads without a P, named yet */

static struct tbuf *buf_new(void)
{
    return calloc(1, sizeof(struct tbuf));
}

void gort_trace_init(void)
{
    const char *path = getenv("GORT_TRACE");
    gort_trace_on = false;
    if (!path || !*path)
        return;
    out = fopen(path, "w");
    if (!out) {
        gort_printf("gort: GORT_TRACE=%s: cannot open the file; tracing is off\n", path);
        return;
    }
    int32_t n = gort_sched.nprocs;
    active = calloc((size_t)n, sizeof *active);
    spare = calloc((size_t)n, sizeof *spare);
    tracks = calloc((size_t)n, sizeof *tracks);
    shared = buf_new();
    if (!active || !spare || !tracks || !shared)
        gort_throw("GORT_TRACE: out of memory for trace buffers");
    for (int32_t i = 0; i < n; i++) {
        active[i] = buf_new();
        spare[i] = buf_new();
        if (!active[i] || !spare[i])
            gort_throw("GORT_TRACE: out of memory for trace buffers");
    }
    full_head = full_tail = NULL;
    dropped = 0;
    next_flow = 0;
    t0 = gort_nanotime();
    first_event = true;
    memset(ext_named, 0, sizeof ext_named);
    fprintf(out, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"runtime\":\"gort\",\"procs\":%d},"
                 "\"traceEvents\":[\n", n);
    for (int32_t i = 0; i < n; i++)
        fprintf(out, "%s{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_name\","
                     "\"args\":{\"name\":\"P%d\"}}", i ? ",\n" : "", i, i);
    fprintf(out, ",\n{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{\"name\":\"gort\"}}");
    first_event = false;
    gort_trace_on = true;
}

static void queue_full_locked(struct tbuf *b)
{
    b->next = NULL;
    if (full_tail)
        full_tail->next = b;
    else
        full_head = b;
    full_tail = b;
}

void gort_trace_event(uint32_t type, int64_t g, int64_t arg)
{
    gort_g *cur = gort_getg();
    gort_m *m = cur ? cur->m : NULL;
    gort_p *p = (m && cur->in_cgo == GORT_CGO_NONE) ? m->p : NULL;
    if (type == GORT_EV_CCALL_BEGIN || type == GORT_EV_CCALL_END)
        p = m ? m->p : NULL;   /* still on the P's track */
    if (type == GORT_EV_CALLBACK_BEGIN || type == GORT_EV_CALLBACK_END)
        p = NULL;              /* on the calling thread's own track */
    struct ev e = {gort_nanotime() - t0, type, 0, g, arg};
    if (p) {
        e.track = p->id;
        struct tbuf *b = active[p->id];
        if (b->n == BUF_EVENTS) {
            gort_rtlock_lock(&buf_lock);
            struct tbuf *s = spare[p->id];
            if (s) {
                queue_full_locked(b);
                spare[p->id] = NULL;
                active[p->id] = b = s;
                b->n = 0;
            }
            gort_rtlock_unlock(&buf_lock);
            if (b->n == BUF_EVENTS) {
                atomic_fetch_add(&dropped, 1);
                return;
            }
        }
        b->ev[b->n++] = e;
        return;
    }
    e.track = EXT_TRACK + (int32_t)(m ? m->id : 0);
    gort_rtlock_lock(&buf_lock);
    if (shared->n == BUF_EVENTS) {
        struct tbuf *nb = buf_new();
        if (nb) {
            queue_full_locked(shared);
            shared = nb;
        }
    }
    if (shared->n < BUF_EVENTS)
        shared->ev[shared->n++] = e;
    else
        atomic_fetch_add(&dropped, 1);
    gort_rtlock_unlock(&buf_lock);
}

int64_t gort_trace_unblock(int64_t waker, int64_t target)
{
    int64_t id = atomic_fetch_add(&next_flow, 1) + 1;
    gort_trace_event(GORT_EV_UNBLOCK, waker, id);
    (void)target;
    return id;
}

/* ---- the writer ---------------------------------------------------------- */

static const char *stop_reason(int64_t action)
{
    switch (action) {
    case GORT_PREV_READY:
        return "yield";
    case GORT_PREV_RUNNEXT:
        return "spawned a goroutine";
    case GORT_PREV_PARK:
        return "blocked";
    case GORT_PREV_DEAD:
        return "exited";
    case GORT_PREV_GLOBAL:
        return "back from C without a P";
    default:
        return "switched out";
    }
}

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
    va_list ap;
    fputs(first_event ? "" : ",\n", out);
    first_event = false;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
}

static double us(int64_t ns)
{
    return (double)ns / 1000.0;
}

static struct track *track_of(int32_t t)
{
    if (t < gort_sched.nprocs)
        return &tracks[t];
    return NULL;
}

static void close_slice(int32_t tid, struct track *tr, int64_t ts, const char *why)
{
    if (!tr || !tr->g)
        return;
    emit("{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"name\":\"G%lld\",\"cat\":\"goroutine\","
         "\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"goroutine\":%lld,\"stopped\":\"%s\"}}",
         tid, (long long)tr->g, us(tr->since), us(ts - tr->since), (long long)tr->g, why);
    tr->g = 0;
}

/* Threads without a P get a track of their own, named on first sight. */

static void name_ext_track(int32_t tid)
{
    int32_t id = tid - EXT_TRACK;
    if (id < 0 || id >= (int32_t)(8 * sizeof ext_named) || (ext_named[id / 8] & (1u << (id % 8))))
        return;
    ext_named[id / 8] |= (uint8_t)(1u << (id % 8));
    emit("{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_name\","
         "\"args\":{\"name\":\"thread M%d (no P)\"}}", tid, id);
}

static void write_buf(struct tbuf *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        struct ev *e = &b->ev[i];
        struct track *tr = track_of(e->track);
        if (e->track >= EXT_TRACK && e->type != GORT_EV_CALLBACK_BEGIN &&
            e->type != GORT_EV_CALLBACK_END)
            name_ext_track(e->track);
        switch (e->type) {
        case GORT_EV_GO_START:
            close_slice(e->track, tr, e->ts, "switched out");
            if (tr) {
                tr->g = e->g;
                tr->since = e->ts;
            }
            if (e->arg)
                emit("{\"ph\":\"f\",\"bp\":\"e\",\"pid\":1,\"tid\":%d,\"name\":\"ready\","
                     "\"cat\":\"flow\",\"id\":%lld,\"ts\":%.3f}",
                     e->track, (long long)e->arg, us(e->ts));
            break;
        case GORT_EV_GO_STOP:
            close_slice(e->track, tr, e->ts, stop_reason(e->arg));
            break;
        case GORT_EV_UNBLOCK:
            emit("{\"ph\":\"s\",\"pid\":1,\"tid\":%d,\"name\":\"ready\",\"cat\":\"flow\","
                 "\"id\":%lld,\"ts\":%.3f}", e->track, (long long)e->arg, us(e->ts));
            break;
        case GORT_EV_GO_CREATE:
            emit("{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d,\"name\":\"go G%lld\","
                 "\"ts\":%.3f}", e->track, (long long)e->arg, us(e->ts));
            break;
        case GORT_EV_CCALL_BEGIN:
            if (tr)
                tr->ccall_since = e->ts;
            break;
        case GORT_EV_CCALL_END:
            if (tr && tr->ccall_since) {
                emit("{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"name\":\"C call\",\"cat\":\"cgo\","
                     "\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"goroutine\":%lld}}",
                     e->track, us(tr->ccall_since), us(e->ts - tr->ccall_since), (long long)e->g);
                tr->ccall_since = 0;
            }
            break;
        case GORT_EV_CALLBACK_BEGIN:
            emit("{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_name\","
                 "\"args\":{\"name\":\"thread M%d (calls from C)\"}}",
                 e->track, e->track - EXT_TRACK);
            emit("{\"ph\":\"B\",\"pid\":1,\"tid\":%d,\"name\":\"callback G%lld\",\"cat\":\"cgo\","
                 "\"ts\":%.3f}", e->track, (long long)e->g, us(e->ts));
            break;
        case GORT_EV_CALLBACK_END:
            emit("{\"ph\":\"E\",\"pid\":1,\"tid\":%d,\"ts\":%.3f}", e->track, us(e->ts));
            break;
        case GORT_EV_THREAD:
            emit("{\"ph\":\"i\",\"s\":\"g\",\"pid\":1,\"tid\":%d,\"name\":\"thread M%lld created\","
                 "\"ts\":%.3f}", e->track, (long long)e->arg, us(e->ts));
            break;
        case GORT_EV_PROC_IDLE:
            close_slice(e->track, tr, e->ts, "idle");
            break;
        }
    }
}

/* sysmon (final: gort_rt0_exit, when every other M has ended). */
void gort_trace_flush(bool final)
{
    if (!gort_trace_on)
        return;
    gort_rtlock_lock(&buf_lock);
    struct tbuf *list = full_head;
    full_head = full_tail = NULL;
    gort_rtlock_unlock(&buf_lock);
    while (list) {
        struct tbuf *next = list->next;
        write_buf(list);
        list->n = 0;
        /* Give it back as a spare to whichever P lacks one. */
        bool used = false;
        gort_rtlock_lock(&buf_lock);
        for (int32_t i = 0; i < gort_sched.nprocs && !used; i++)
            if (!spare[i]) {
                spare[i] = list;
                used = true;
            }
        gort_rtlock_unlock(&buf_lock);
        if (!used)
            free(list);
        list = next;
    }
    if (!final)
        return;
    for (int32_t i = 0; i < gort_sched.nprocs; i++) {
        write_buf(active[i]);
        close_slice(i, &tracks[i], gort_nanotime() - t0, "end of trace");
        free(active[i]);
        free(spare[i]);
    }
    write_buf(shared);
    free(shared);
    free(active);
    free(spare);
    free(tracks);
    fprintf(out, "\n],\"otherData2\":{\"dropped_events\":%llu}}\n",
            (unsigned long long)atomic_load(&dropped));
    fclose(out);
    out = NULL;
    gort_trace_on = false;
}
