#include "auth/window.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pg_auth_window {
	pthread_mutex_t mu;
	int64_t max_ms, min_capture_ms;
	struct pg_auth_window_status st; /* open, opened_ms, deadline_ms, texts, profiles */
};

bool pg_auth_window_profile_name_ok(const char *s, size_t n)
{
	if (!s || n == 0 || n >= PG_AUTH_WINDOW_PROFILE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

int pg_auth_window_new(int64_t max_ms, int64_t min_capture_ms, struct pg_auth_window **out)
{
	struct pg_auth_window *w;

	*out = NULL;
	if (max_ms <= 0 || min_capture_ms < 0 || min_capture_ms > max_ms)
		return pg_fail(PG_EINVAL, "diagnostics window: max (%lld ms) must be > 0 and the minimum "
					  "capture (%lld ms) between 0 and max",
			       (long long)max_ms, (long long)min_capture_ms);
	w = calloc(1, sizeof(*w));
	if (!w)
		return pg_fail(PG_ENOMEM, "out of memory for the diagnostics window");
	pthread_mutex_init(&w->mu, NULL);
	w->max_ms = max_ms;
	w->min_capture_ms = min_capture_ms;
	*out = w;
	return PG_OK;
}

void pg_auth_window_free(struct pg_auth_window **pp)
{
	if (!pp || !*pp)
		return;
	pthread_mutex_destroy(&(*pp)->mu);
	free(*pp);
	*pp = NULL;
}

static int text_ok(const char *s)
{
	size_t n;

	if (!s || !s[0])
		return 0;
	n = strnlen(s, PG_AUTH_WINDOW_TEXT_MAX);
	if (n >= PG_AUTH_WINDOW_TEXT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int pg_auth_window_open(struct pg_auth_window *w, int64_t now_ms, int64_t duration_ms,
			const char *reason, const char *opener, const char *const *profiles,
			size_t n_profiles)
{
	return pg_auth_window_open_id(w, now_ms, duration_ms, reason, opener, NULL, profiles, n_profiles);
}

static bool id_ok(const char *s)
{
	size_t n = strnlen(s, PG_AUTH_WINDOW_ID_MAX);

	if (n == 0 || n >= PG_AUTH_WINDOW_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

int pg_auth_window_open_id(struct pg_auth_window *w, int64_t now_ms, int64_t duration_ms,
			   const char *reason, const char *opener, const char *id,
			   const char *const *profiles, size_t n_profiles)
{
	struct pg_auth_window_status st;

	if (!w)
		return pg_fail(PG_EINVAL, "no diagnostics window");
	if (duration_ms <= 0 || duration_ms > w->max_ms)
		return pg_fail(PG_EINVAL, "window duration %lld ms must be 1..%lld ms",
			       (long long)duration_ms, (long long)w->max_ms);
	if (!text_ok(reason))
		return pg_fail(PG_EINVAL, "a window needs a reason (1..%d printable bytes)",
			       PG_AUTH_WINDOW_TEXT_MAX - 1);
	if (!text_ok(opener))
		return pg_fail(PG_EINVAL, "a window needs the opener's identity");
	if (n_profiles > PG_AUTH_WINDOW_MAX_PROFILES)
		return pg_fail(PG_EINVAL, "a window covers at most %d profiles",
			       PG_AUTH_WINDOW_MAX_PROFILES);
	if (id && !id_ok(id))
		return pg_fail(PG_EINVAL, "a window id is 1..%d of [A-Za-z0-9_-]", PG_AUTH_WINDOW_ID_MAX - 1);
	memset(&st, 0, sizeof(st));
	if (id)
		memcpy(st.id, id, strlen(id) + 1);
	for (size_t i = 0; i < n_profiles; i++) {
		if (!profiles || !profiles[i] || !profiles[i][0] ||
		    strlen(profiles[i]) >= sizeof(st.profiles[0]))
			return pg_fail(PG_EINVAL, "window profile %zu is empty or too long", i);
		memcpy(st.profiles[i], profiles[i], strlen(profiles[i]) + 1);
	}
	st.n_profiles = n_profiles;
	st.open = true;
	st.opened_ms = now_ms;
	st.deadline_ms = now_ms + duration_ms;
	memcpy(st.reason, reason, strlen(reason) + 1);
	memcpy(st.opener, opener, strlen(opener) + 1);
	pthread_mutex_lock(&w->mu);
	w->st = st;
	pthread_mutex_unlock(&w->mu);
	return PG_OK;
}

void pg_auth_window_close(struct pg_auth_window *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	memset(&w->st, 0, sizeof(w->st));
	pthread_mutex_unlock(&w->mu);
}

/* Caller holds mu. */
static bool covers(const struct pg_auth_window *w, const char *profile, int64_t now_ms)
{
	if (!w->st.open || now_ms >= w->st.deadline_ms || now_ms < w->st.opened_ms)
		return false;
	if (w->st.n_profiles == 0)
		return true;
	if (!profile)
		return false;
	for (size_t i = 0; i < w->st.n_profiles; i++)
		if (strcmp(w->st.profiles[i], profile) == 0)
			return true;
	return false;
}

bool pg_auth_window_is_open_for(struct pg_auth_window *w, const char *profile, int64_t now_ms)
{
	bool r;

	if (!w)
		return false;
	pthread_mutex_lock(&w->mu);
	r = covers(w, profile, now_ms);
	pthread_mutex_unlock(&w->mu);
	return r;
}

bool pg_auth_window_id_is_open(struct pg_auth_window *w, const char *id, int64_t now_ms)
{
	bool r;

	if (!w || !id || !id[0])
		return false;
	pthread_mutex_lock(&w->mu);
	r = w->st.open && now_ms >= w->st.opened_ms && now_ms < w->st.deadline_ms && w->st.id[0] &&
	    strcmp(w->st.id, id) == 0;
	pthread_mutex_unlock(&w->mu);
	return r;
}

int64_t pg_auth_window_time_left_ms(struct pg_auth_window *w, int64_t now_ms)
{
	int64_t left = 0;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->mu);
	if (w->st.open && now_ms < w->st.deadline_ms)
		left = w->st.deadline_ms - now_ms;
	pthread_mutex_unlock(&w->mu);
	return left;
}

enum pg_auth_capture_fit pg_auth_window_fit_capture(struct pg_auth_window *w, const char *profile,
						    int64_t now_ms, int64_t want_ms,
						    int64_t *granted_ms)
{
	enum pg_auth_capture_fit fit = PG_AUTH_CAPTURE_REFUSED;
	int64_t left;

	*granted_ms = 0;
	if (!w || want_ms <= 0)
		return PG_AUTH_CAPTURE_REFUSED;
	pthread_mutex_lock(&w->mu);
	if (!covers(w, profile, now_ms))
		goto out;
	left = w->st.deadline_ms - now_ms;
	if (want_ms <= left) {
		*granted_ms = want_ms;
		fit = PG_AUTH_CAPTURE_OK;
	} else if (left >= w->min_capture_ms) {
		*granted_ms = left;
		fit = PG_AUTH_CAPTURE_SHORTENED;
	}
out:
	pthread_mutex_unlock(&w->mu);
	return fit;
}

void pg_auth_window_status(struct pg_auth_window *w, int64_t now_ms, struct pg_auth_window_status *st)
{
	memset(st, 0, sizeof(*st));
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	*st = w->st;
	pthread_mutex_unlock(&w->mu);
	if (st->open && now_ms >= st->deadline_ms)
		st->open = false;
	st->left_ms = st->open ? st->deadline_ms - now_ms : 0;
}
