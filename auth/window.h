/* The diagnostics window: profiling is possible only while an operator has
 * opened it, for a bounded time, with a reason on record.
 *
 * Pure state: every call takes the monotonic time in milliseconds (`now_ms`,
 * e.g. from clock_gettime(CLOCK_MONOTONIC)) so tests control time. Closed by
 * default. All functions are thread-safe. */
#ifndef PG_AUTH_WINDOW_H
#define PG_AUTH_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/util/err.h"

#define PG_AUTH_WINDOW_TEXT_MAX 256
#define PG_AUTH_WINDOW_MAX_PROFILES 16
#define PG_AUTH_WINDOW_PROFILE_MAX 32 /* a profile name's bytes, with its NUL */
#define PG_AUTH_WINDOW_ID_MAX 65      /* a window id's bytes (1..64 of [A-Za-z0-9_-]), with its NUL */

/* Whether s (n bytes) is a profile name a window may list: 1..31 of
 * [A-Za-z0-9_.-]. */
bool pg_auth_window_profile_name_ok(const char *s, size_t n);

struct pg_auth_window;

/* max_ms: the longest window open() accepts (> 0). min_capture_ms: a capture
 * is refused when less than this remains (>= 0). */
PG_WUR int pg_auth_window_new(int64_t max_ms, int64_t min_capture_ms, struct pg_auth_window **out);
void pg_auth_window_free(struct pg_auth_window **pp);

/* Opens (or re-opens, replacing) the window until now_ms + duration_ms.
 * duration_ms must be 1..max_ms; reason and opener are required (audit).
 * `profiles` lists the profile names it covers (NULL/0 = every profile).
 * PG_EINVAL with a sentence when arguments are out of bounds. */
PG_WUR int pg_auth_window_open(struct pg_auth_window *w, int64_t now_ms, int64_t duration_ms,
			       const char *reason, const char *opener, const char *const *profiles,
			       size_t n_profiles);

/* Same, giving the window an id (1..64 of [A-Za-z0-9_-], NULL = none) that
 * window-bound tokens name: each open gets a fresh one, so a token bound to
 * one window never serves the next. */
PG_WUR int pg_auth_window_open_id(struct pg_auth_window *w, int64_t now_ms, int64_t duration_ms,
				  const char *reason, const char *opener, const char *id,
				  const char *const *profiles, size_t n_profiles);

void pg_auth_window_close(struct pg_auth_window *w);

/* Whether the window open at now_ms carries the id `id` (a window-bound
 * token's claim). False when closed, over, without id, or another window. */
bool pg_auth_window_id_is_open(struct pg_auth_window *w, const char *id, int64_t now_ms);

/* Whether a request for `profile` is inside an open window at now_ms. */
bool pg_auth_window_is_open_for(struct pg_auth_window *w, const char *profile, int64_t now_ms);

/* Milliseconds left (0 when closed or over). */
int64_t pg_auth_window_time_left_ms(struct pg_auth_window *w, int64_t now_ms);

enum pg_auth_capture_fit {
	PG_AUTH_CAPTURE_OK = 0,      /* fits: runs as asked */
	PG_AUTH_CAPTURE_SHORTENED,   /* shortened to end at the deadline */
	PG_AUTH_CAPTURE_REFUSED,     /* window closed, not covering, or < min left */
};

/* Fits a capture of want_ms (e.g. a 30 s CPU profile) starting now into the
 * window; *granted_ms receives the duration to run (0 when refused). */
enum pg_auth_capture_fit pg_auth_window_fit_capture(struct pg_auth_window *w, const char *profile,
						    int64_t now_ms, int64_t want_ms,
						    int64_t *granted_ms);

/* A snapshot for the admin API and metrics. */
struct pg_auth_window_status {
	bool open;
	int64_t opened_ms, deadline_ms, left_ms;
	char reason[PG_AUTH_WINDOW_TEXT_MAX];
	char opener[PG_AUTH_WINDOW_TEXT_MAX];
	char id[PG_AUTH_WINDOW_ID_MAX]; /* "" = none */
	size_t n_profiles; /* 0 = all */
	char profiles[PG_AUTH_WINDOW_MAX_PROFILES][PG_AUTH_WINDOW_PROFILE_MAX];
};
void pg_auth_window_status(struct pg_auth_window *w, int64_t now_ms, struct pg_auth_window_status *st);

#endif
