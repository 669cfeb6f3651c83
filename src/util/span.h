/* Span hook: how modules below pprof (http, rpc) report timed spans to the
 * event trace (src/pprof/trace.h) without including it. The trace sets the
 * hook when its first capture starts (pg_trace_start); until then, and
 * between captures, pg_span_active() is false and nothing is recorded.
 * Thread-safe; costs one atomic load and a call when no capture runs.
 *
 *     int64_t t0 = pg_span_active() ? pg_clock_mono_ns() : 0;
 *     ... the work ...
 *     if (t0)
 *             pg_span_event("grpc", "CallObject", t0, pg_clock_mono_ns() - t0);
 *
 * `cat` and `name` are kept by pointer: pass string literals (or strings
 * that outlive the capture). */
#ifndef PG_UTIL_SPAN_H
#define PG_UTIL_SPAN_H

#include <stdint.h>

/* The recorder's side: whether a capture runs, and record one span. */
struct pg_span_hook {
	int (*active)(void);
	void (*event)(const char *cat, const char *name, int64_t start_ns, int64_t dur_ns);
};

/* Installs the recorder (static storage; NULL removes it). */
void pg_span_set_hook(const struct pg_span_hook *hook);

/* Timestamps are CLOCK_MONOTONIC nanoseconds (pg_clock_mono_ns, src/util/clock.h). */
/* Non-zero while a recorder is installed and capturing. */
int pg_span_active(void);
/* A complete span that started at start_ns and lasted dur_ns. */
void pg_span_event(const char *cat, const char *name, int64_t start_ns, int64_t dur_ns);

#endif
