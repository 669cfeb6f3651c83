/* The /debug/pprof/ HTTP routes, after Go's net/http/pprof.
 *
 * src/main_routes.c lists one route per handler below (group
 * PG_HTTP_GROUP_PPROF); their arg must be a struct pg_pprof_routes (NULL
 * answers 503). Every route answers itself;
 * see docs/pprof-profiles.md "HTTP endpoints" for parameters and codes.
 *
 * Timed captures (profile?seconds=N, trace?seconds=N, heap/allocs
 * ?seconds=N) never hold an HTTP worker: the handler starts the capture,
 * suspends the request and hands it to the routes' timer thread, which
 * finishes it at its deadline, or cancels it as soon as the client has
 * closed its connection (polled every PG_PPROF_POLL_MS). profile and trace
 * run one at a time (the producers are process-global): a second request is
 * answered 429 with Retry-After.
 *
 * Lifetime: pg_pprof_routes_new before pg_http_start; pg_pprof_routes_stop
 * before pg_http_stop (answers running captures 503 and refuses new ones);
 * pg_pprof_routes_free after pg_http_stop. */
#ifndef PG_PPROF_ROUTES_H
#define PG_PPROF_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/http/server.h"
#include "src/util/err.h"

/* Largest seconds=N accepted by default (profile, trace, heap deltas). */
#define PG_PPROF_MAX_SECONDS 300
#define PG_PPROF_DEFAULT_SECONDS 30
/* How often the timer thread checks suspended captures for a closed peer. */
#define PG_PPROF_POLL_MS 100
/* Timed captures running at once (profile + trace + heap deltas). */
#define PG_PPROF_MAX_JOBS 8
/* Addresses answered per symbol request (pprof sends one request per profile). */
#define PG_PPROF_SYMBOL_MAX 16384

struct pg_pprof_routes_opts {
	unsigned max_seconds; /* 0: PG_PPROF_MAX_SECONDS; at most PG_PPROF_CPU_MAX_SECONDS */
	const char *tmpdir;   /* CPU profile scratch dir; NULL: $TMPDIR or /tmp (copied) */
	/* A timed capture longer than the diagnostics window has left (the
	 * request's pg_http_req_limit_ms, set by the gate) is shortened to end
	 * with it, but not below this: then it is refused (403
	 * window_too_short). admin.window.min_capture_seconds. */
	unsigned min_capture_seconds;
};

struct pg_pprof_routes;

/* Starts the timer thread. opts may be NULL (defaults). */
PG_WUR int pg_pprof_routes_new(const struct pg_pprof_routes_opts *opts, struct pg_pprof_routes **out);

/* Cancels running captures (answered 503) and refuses new ones. Idempotent. */
void pg_pprof_routes_stop(struct pg_pprof_routes *pr);
/* Stops (if needed) and frees; call after pg_http_stop. Takes NULL. */
void pg_pprof_routes_free(struct pg_pprof_routes **pp);

/* Route handlers (arg: struct pg_pprof_routes *). */
pg_http_handler_fn pg_pprof_handle_index, pg_pprof_handle_profile, pg_pprof_handle_heap,
	pg_pprof_handle_allocs, pg_pprof_handle_goroutine, pg_pprof_handle_threadcreate,
	pg_pprof_handle_mutex, pg_pprof_handle_block, pg_pprof_handle_cmdline,
	pg_pprof_handle_symbol, pg_pprof_handle_trace;

/* ---- pure parameter parsers (unit tests, fuzz_pprof_params) ----
 * Each writes a sentence for the client into msg (n bytes) on failure. */

/* seconds=: NULL -> def; else decimal digits only, 1..max. PG_EINVAL. */
PG_WUR int pg_pprof_parse_seconds(const char *v, unsigned def, unsigned max, unsigned *out,
				  char *msg, size_t n);
/* debug=: NULL -> 0; else one of 0..max. PG_EINVAL. */
PG_WUR int pg_pprof_parse_debug(const char *v, int max, int *out, char *msg, size_t n);
/* A symbol request: `+`-separated addresses as Go's strconv.ParseUint(s, 0,
 * 64) reads them ("0x1f", "31", "037"); invalid words and 0 are skipped, as
 * net/http/pprof does. Stops after max addresses. Returns the count. */
size_t pg_pprof_parse_symbol_addrs(const char *s, size_t len, uint64_t *addrs, size_t max);

#endif
