/* Event trace: a time-boxed capture of the node's own spans, written as Chrome
 * Trace Event JSON ("traceEvents" array; opens in Perfetto and
 * chrome://tracing). This stands in for Go's /debug/pprof/trace, whose
 * runtime execution trace has no C equivalent.
 *
 * Recording is always compiled in and costs one atomic load when no capture
 * runs. One capture at a time; its events go to a bounded buffer (events past
 * the bound are dropped and counted). `cat` and `name` are stored as
 * pointers: pass string literals (or strings that outlive the capture).
 * All functions are thread-safe. */
#ifndef PG_PPROF_TRACE_H
#define PG_PPROF_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "src/util/buf.h"
#include "src/util/err.h"

#define PG_TRACE_DEFAULT_EVENTS (1u << 17)
#define PG_TRACE_MAX_EVENTS (1u << 22)
#define PG_TRACE_MAX_SECONDS 3600

/* CLOCK_MONOTONIC in nanoseconds: the time base of all trace timestamps. */
int64_t pg_trace_now_ns(void);
/* Non-zero while a capture runs (callers may skip building event data). */
int pg_trace_active(void);

/* A complete span ("ph":"X") that started at start_ns and lasted dur_ns. */
void pg_trace_event(const char *cat, const char *name, int64_t start_ns, int64_t dur_ns);
/* A span opened and closed on the calling thread ("ph":"B" / "ph":"E"). */
void pg_trace_begin(const char *cat, const char *name);
void pg_trace_end(const char *cat, const char *name);
/* A point in time ("ph":"i", thread scope). */
void pg_trace_instant(const char *cat, const char *name);

/* Starts a capture of `seconds` (1..PG_TRACE_MAX_SECONDS) holding at most
 * max_events (0: PG_TRACE_DEFAULT_EVENTS; at most PG_TRACE_MAX_EVENTS).
 * PG_EBUSY when a capture is already running. Events after the deadline are
 * not recorded even if collect comes later. */
PG_WUR int pg_trace_start(int seconds, size_t max_events);
/* Ends the running capture and appends its JSON to out (content type
 * "application/json"). PG_ENOTFOUND when no capture runs. The capture is
 * over even when appending fails. */
PG_WUR int pg_trace_collect(struct pg_buf *out);
/* Ends the running capture, discarding it; no-op when none runs. */
void pg_trace_cancel(void);
/* Convenience for a dedicated thread: start, sleep `seconds`, collect. */
PG_WUR int pg_trace_capture(int seconds, size_t max_events, struct pg_buf *out);

/* Events dropped by the last capture because its buffer was full. */
uint64_t pg_trace_last_dropped(void);

#endif
