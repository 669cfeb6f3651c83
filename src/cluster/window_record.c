/* Cluster-wide windows through etcd; see window_record.h. */
#include "src/cluster/window_record.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/cluster/etcd.h"
#include "src/config/config.h"
#include "src/util/clock.h"
#include "src/util/buf.h"
#include "src/util/json.h"
#include "src/util/log.h"
#include "src/util/rand.h"
#include "src/util/thread.h"

#define MOD "cluster"
#define MAX_DURATION_MS (7LL * 24 * 3600 * 1000)
#define RETRY_MS 1000

/* ---- the record ---- */

int pg_record_text(const char *what, const struct pg_json_value *v, const char *name, char *dst, size_t cap)
{
	size_t n;
	const char *s = pg_json_str(v, &n);

	if (!s || n == 0)
		return pg_fail(PG_EPROTO, "%s: \"%s\" must be a non-empty string", what, name);
	if (n >= cap || memchr(s, '\0', n))
		return pg_fail(PG_EPROTO, "%s: \"%s\" is too long or holds a NUL", what, name);
	memcpy(dst, s, n + 1);
	return PG_OK;
}

int pg_record_profiles(const char *what, const struct pg_json_value *v,
		       char out[][PG_AUTH_WINDOW_PROFILE_MAX], size_t *n)
{
	*n = 0;
	if (!v || pg_json_is(v, PG_JSON_NULL))
		return PG_OK;
	if (!pg_json_is(v, PG_JSON_ARRAY) || pg_json_count(v) > PG_AUTH_WINDOW_MAX_PROFILES)
		return pg_fail(PG_EPROTO, "%s: \"profiles\" must be a list of at most %d names", what,
			       PG_AUTH_WINDOW_MAX_PROFILES);
	for (const struct pg_json_value *e = pg_json_first(v); e; e = pg_json_next(e)) {
		size_t len;
		const char *s = pg_json_str(e, &len);

		if (!s || !pg_auth_window_profile_name_ok(s, len))
			return pg_fail(PG_EPROTO, "%s: bad profile name in \"profiles\"", what);
		memcpy(out[(*n)++], s, len + 1);
	}
	return PG_OK;
}

int pg_record_write_profiles(struct pg_buf *b, const char (*profiles)[PG_AUTH_WINDOW_PROFILE_MAX], size_t n)
{
	int rc = pg_buf_puts(b, ",\"profiles\":[");

	for (size_t i = 0; rc == PG_OK && i < n && i < PG_AUTH_WINDOW_MAX_PROFILES; i++) {
		if (i)
			rc = pg_buf_puts(b, ",");
		if (rc == PG_OK)
			rc = pg_json_write_cstr(b, profiles[i]);
	}
	return rc == PG_OK ? pg_buf_puts(b, "]") : rc;
}

int pg_record_end(int rc, void *out, size_t size)
{
	char msg[256];

	if (rc == PG_OK)
		return PG_OK;
	snprintf(msg, sizeof(msg), "%s", pg_errmsg());
	memset(out, 0, size);
	return pg_fail(rc, "%s", msg);
}

int pg_record_put(struct pg_buf *b, int rc, const char *member, const char *value)
{
	if (rc == PG_OK)
		rc = pg_buf_puts(b, member);
	return rc == PG_OK ? pg_json_write_cstr(b, value) : rc;
}

#define WHAT "window record"

int pg_window_record_parse(const char *text, size_t len, struct pg_window_record *out)
{
	struct pg_json_limits lim = {.max_bytes = PG_WINDOW_RECORD_MAX, .max_depth = 4, .max_nodes = 64,
				     .max_number_len = 24};
	struct pg_json *doc = NULL;
	const struct pg_json_value *root, *v;
	int64_t ver;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > PG_WINDOW_RECORD_MAX)
		return pg_fail(PG_EPROTO, "window record: %zu bytes, more than %u", len,
			       (unsigned)PG_WINDOW_RECORD_MAX);
	if (pg_json_parse(text, len, &lim, &doc) != PG_OK)
		return pg_fail(PG_EPROTO, "window record: not JSON (%s)", pg_errmsg());
	root = pg_json_root(doc);
	if (!pg_json_is(root, PG_JSON_OBJECT)) {
		rc = pg_fail(PG_EPROTO, "window record: not a JSON object");
		goto out;
	}
	if (pg_json_int64(pg_json_get(root, "v"), false, &ver) != PG_OK || ver != 1) {
		rc = pg_fail(PG_EPROTO, "window record: version \"v\" must be 1");
		goto out;
	}
	if ((rc = pg_record_text(WHAT, pg_json_get(root, "opened_by"), "opened_by", out->opened_by,
				 sizeof(out->opened_by))) != PG_OK ||
	    (rc = pg_record_text(WHAT, pg_json_get(root, "reason"), "reason", out->reason, sizeof(out->reason))) !=
		    PG_OK)
		goto out;
	/* Optional: the window's id (window-bound tokens) and, for an approved
	 * request, who approved it. */
	if ((v = pg_json_get(root, "id")) &&
	    ((rc = pg_record_text(WHAT, v, "id", out->id, sizeof(out->id))) != PG_OK ||
	     !pg_rand_id_ok(out->id, strlen(out->id)))) {
		rc = pg_fail(PG_EPROTO, "window record: \"id\" must be 1..64 of [A-Za-z0-9_-]");
		goto out;
	}
	if ((v = pg_json_get(root, "approved_by")) &&
	    (rc = pg_record_text(WHAT, v, "approved_by", out->approved_by, sizeof(out->approved_by))) != PG_OK)
		goto out;
	if (pg_json_int64(pg_json_get(root, "duration_ms"), true, &out->duration_ms) != PG_OK ||
	    out->duration_ms < 1 || out->duration_ms > MAX_DURATION_MS) {
		rc = pg_fail(PG_EPROTO, "window record: \"duration_ms\" must be 1..%lld",
			     (long long)MAX_DURATION_MS);
		goto out;
	}
	if (pg_json_int64(pg_json_get(root, "deadline_unix_ms"), true, &out->deadline_unix_ms) != PG_OK ||
	    out->deadline_unix_ms < 1) {
		rc = pg_fail(PG_EPROTO, "window record: \"deadline_unix_ms\" must be a positive integer");
		goto out;
	}
	rc = pg_record_profiles(WHAT, pg_json_get(root, "profiles"), out->profiles, &out->n_profiles);
out:
	pg_json_free(&doc);
	return pg_record_end(rc, out, sizeof(*out));
}

int pg_window_record_encode(const struct pg_window_record *rec, char **out)
{
	struct pg_buf b;
	int rc;

	*out = NULL;
	pg_buf_init(&b, PG_WINDOW_RECORD_MAX);
	rc = pg_record_put(&b, PG_OK, "{\"v\":1,\"opened_by\":", rec->opened_by);
	rc = pg_record_put(&b, rc, ",\"reason\":", rec->reason);
	if (rec->id[0])
		rc = pg_record_put(&b, rc, ",\"id\":", rec->id);
	if (rec->approved_by[0])
		rc = pg_record_put(&b, rc, ",\"approved_by\":", rec->approved_by);
	if (rc == PG_OK)
		rc = pg_record_write_profiles(&b, rec->profiles, rec->n_profiles);
	if (rc == PG_OK)
		rc = pg_buf_printf(&b, ",\"duration_ms\":%lld,\"deadline_unix_ms\":%lld}",
				   (long long)rec->duration_ms, (long long)rec->deadline_unix_ms);
	if (rc != PG_OK) {
		pg_buf_free(&b);
		return pg_fail(PG_ENOMEM, "window record: does not fit in %u bytes",
			       (unsigned)PG_WINDOW_RECORD_MAX);
	}
	*out = pg_buf_steal(&b, NULL);
	return *out ? PG_OK : pg_fail(PG_ENOMEM, "window record: out of memory");
}

int64_t pg_window_record_remaining_ms(const struct pg_window_record *rec, int64_t now_unix_ms,
					    int64_t max_ms)
{
	int64_t left = rec->deadline_unix_ms - now_unix_ms;

	if (left > rec->duration_ms)
		left = rec->duration_ms;
	if (left > max_ms)
		left = max_ms;
	return left;
}

/* ---- the watcher ---- */

struct pg_cluster_window {
	struct pg_etcd *etcd;
	char key[PG_CONFIG_ADDR_MAX + 32];
	pg_cluster_window_apply_fn *apply;
	void *arg;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	/* Under mu: when etcd last answered for the key (monotonic ms), how often
	 * the watch is ended to re-read it, and the last failure. */
	int64_t confirmed_ms, confirm_every_ms;
	char why[200];
};

static void set_confirmed(struct pg_cluster_window *c)
{
	pthread_mutex_lock(&c->mu);
	c->confirmed_ms = pg_clock_mono_ms();
	c->why[0] = '\0';
	pthread_mutex_unlock(&c->mu);
}

static void set_failed(struct pg_cluster_window *c, const char *why)
{
	pthread_mutex_lock(&c->mu);
	snprintf(c->why, sizeof(c->why), "%s", why);
	pthread_mutex_unlock(&c->mu);
}

static bool stopping(struct pg_cluster_window *c)
{
	bool s;

	pthread_mutex_lock(&c->mu);
	s = c->stopping;
	pthread_mutex_unlock(&c->mu);
	return s;
}

static void apply_kv(struct pg_cluster_window *c, const struct pg_etcd_kv *kv)
{
	struct pg_window_record rec;

	if (!kv) {
		c->apply(NULL, c->arg);
		return;
	}
	if (pg_window_record_parse(kv->value, kv->value_len, &rec) != PG_OK) {
		/* A record we cannot read opens nothing (fail closed). */
		pg_warn(MOD, "ignoring the cluster window record at %s: %s", c->key, pg_errmsg());
		c->apply(NULL, c->arg);
		return;
	}
	c->apply(&rec, c->arg);
}

static bool on_watch(const struct pg_etcd_watch_resp *resp, void *arg)
{
	struct pg_cluster_window *c = arg;
	bool due;

	if (!resp) {
		/* Idle: an open stream does not prove etcd is alive (a hung etcd
		 * keeps it open), so end the watch now and then to re-read the key. */
		pthread_mutex_lock(&c->mu);
		due = pg_clock_mono_ms() - c->confirmed_ms >= c->confirm_every_ms;
		pthread_mutex_unlock(&c->mu);
		return !due && !stopping(c);
	}
	set_confirmed(c);
	for (size_t i = 0; i < resp->n_events; i++)
		apply_kv(c, resp->events[i].type == PG_ETCD_PUT ? &resp->events[i].kv : NULL);
	return !stopping(c);
}

static void *watch_main(void *arg)
{
	struct pg_cluster_window *c = arg;
	bool warned = false;

	while (!stopping(c)) {
		struct pg_etcd_range r = {0};
		int rc = pg_etcd_get(c->etcd, c->key, false, &r);

		if (rc == PG_OK) {
			if (warned)
				pg_info(MOD, "watching %s again", c->key);
			warned = false;
			set_confirmed(c);
			apply_kv(c, r.n ? &r.kvs[0] : NULL);
			int64_t rev = r.revision;
			pg_etcd_range_clear(&r);
			rc = pg_etcd_watch(c->etcd, c->key, false, rev + 1, on_watch, c);
			if (rc == PG_OK || stopping(c))
				continue;
		}
		set_failed(c, pg_errmsg());
		if (!warned && !stopping(c))
			pg_warn(MOD, "cluster window watch on %s: %s; retrying (a cluster window held here "
				     "closes when etcd has not confirmed it within the grace)", c->key, pg_errmsg());
		warned = true;
		pthread_mutex_lock(&c->mu);
		if (!c->stopping) {
			struct timespec ts = pg_clock_deadline(CLOCK_MONOTONIC, RETRY_MS);

			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		}
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

int pg_cluster_window_start(const struct pg_config *cfg, int64_t confirm_every_ms,
			   pg_cluster_window_apply_fn *apply, void *arg, struct pg_cluster_window **out)
{
	struct pg_cluster_window *c;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!cfg)
		return pg_fail(PG_EINVAL, "cluster: no config");
	c = calloc(1, sizeof(*c));
	if (!c)
		return pg_fail(PG_ENOMEM, "cluster: out of memory");
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	c->apply = apply;
	c->arg = arg;
	c->confirm_every_ms = confirm_every_ms < 200 ? 200 : confirm_every_ms;
	snprintf(c->key, sizeof(c->key), "%s/diagnostics/window", pg_etcd_config_prefix(cfg));
	if ((rc = pg_etcd_new_from_config(cfg, &c->etcd)) != PG_OK)
		goto fail;
	if (pg_thread_create(&c->thread, "win-watch", watch_main, c) != PG_OK) {
		rc = pg_fail(PG_EINTERNAL, "cluster: cannot start the cluster window watcher");
		goto fail;
	}
	c->started = true;
	*out = c;
	return PG_OK;
fail:
	pg_cluster_window_stop(&c);
	return rc;
}

int pg_cluster_window_open(struct pg_cluster_window *c, const struct pg_window_record *rec)
{
	char *value = NULL;
	int64_t lease = 0, ttl = 0;
	int rc;

	if ((rc = pg_window_record_encode(rec, &value)) != PG_OK)
		return rc;
	/* etcd TTLs are whole seconds: round up, the record deadline is exact. */
	rc = pg_etcd_lease_grant(c->etcd, (rec->duration_ms + 999) / 1000, &lease, &ttl);
	if (rc == PG_OK) {
		rc = pg_etcd_put(c->etcd, c->key, value, lease);
		if (rc != PG_OK && pg_etcd_lease_revoke(c->etcd, lease, 2000) != PG_OK)
			pg_err_clear();
	}
	if (rc == PG_OK)
		set_confirmed(c);
	free(value);
	return rc;
}

int pg_cluster_window_close(struct pg_cluster_window *c)
{
	struct pg_etcd_range r = {0};
	int64_t deleted = 0;
	int rc = pg_etcd_get(c->etcd, c->key, false, &r);

	if (rc != PG_OK)
		return rc;
	if (r.n == 0)
		rc = PG_OK;
	else if (r.kvs[0].lease != 0)
		rc = pg_etcd_lease_revoke(c->etcd, r.kvs[0].lease, 3000);
	else
		rc = pg_etcd_delete(c->etcd, c->key, false, &deleted);
	/* A lease that expired meanwhile: the key is gone, which is what we want. */
	if (rc == PG_ENOTFOUND)
		rc = PG_OK;
	pg_etcd_range_clear(&r);
	return rc;
}

int64_t pg_cluster_window_unconfirmed_ms(struct pg_cluster_window *c, int64_t now_mono_ms, char *why, size_t cap)
{
	int64_t since;

	pthread_mutex_lock(&c->mu);
	since = now_mono_ms - c->confirmed_ms;
	if (why && cap)
		snprintf(why, cap, "%s", c->why[0] ? c->why : "no answer yet");
	pthread_mutex_unlock(&c->mu);
	return since > 0 ? since : 0;
}

const char *pg_cluster_window_key(const struct pg_cluster_window *c)
{
	return c ? c->key : "";
}

void pg_cluster_window_stop(struct pg_cluster_window **pp)
{
	struct pg_cluster_window *c;

	if (!pp || !*pp)
		return;
	c = *pp;
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->etcd)
		pg_etcd_cancel(c->etcd);
	if (c->started)
		pthread_join(c->thread, NULL);
	pg_etcd_free(&c->etcd);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
	*pp = NULL;
}
