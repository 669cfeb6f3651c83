/* Cluster membership in etcd; see membership.h and docs/membership.md. */
#include "src/cluster/membership.h"

#include "src/cluster/endpoint.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/cluster/endpoint.h"
#include "src/cluster/etcd.h"
#include "src/metrics/metrics.h"
#include "src/util/clock.h"
#include "src/util/log.h"
#include "src/util/mutex.h"
#include "src/util/thread.h"

#define MOD "cluster"
/* How long pg_membership_stop waits for etcd to revoke the lease. */
#define REVOKE_TIMEOUT_MS 1000

enum err_op { OP_GRANT, OP_PUT, OP_KEEPALIVE, OP_REVOKE, OP_RANGE, OP_WATCH, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"grant", "put", "keepalive", "revoke", "range", "watch"};

struct member {
	char *key;
	char addr[PG_CONFIG_ADDR_MAX];
};

/* The member list, sorted by key. */
struct members {
	struct member *v;
	size_t n;
};

struct pg_membership {
	struct pg_etcd *etcd;
	char key[PG_CONFIG_ADDR_MAX * 2 + 16];
	char nodes_prefix[PG_CONFIG_ADDR_MAX + 8];
	char value[PG_CONFIG_ADDR_MAX];
	char ep_key[PG_CONFIG_ADDR_MAX * 2 + 64]; /* the diagnostics endpoint; "" = none */
	char ep_value[PG_ENDPOINT_VALUE_MAX];
	long ttl;
	char prefix[PG_CONFIG_ADDR_MAX];
	bool unsafe_goverse;  /* cluster.etcd.unsafe_share_goverse_prefix */
	bool goverse_checked; /* lease thread only: the prefix holds no Goverse keys */

	pthread_t lease_thr, watch_thr;
	bool lease_started, watch_started;
	bool left; /* pg_membership_leave ran (owner's thread only) */
	atomic_bool watch_restart; /* set by the lease thread when etcd looks down */

	/* mu guards everything below; held only for memory copies. */
	struct pg_mutex mu;
	pthread_cond_t cv; /* signalled on stop; CLOCK_MONOTONIC */
	bool stopping;
	bool registered;
	int64_t lease_id; /* granted lease (0 = none), revoked on stop */
	int64_t expires_ms; /* when the lease expires unless renewed (monotonic) */
	char reason[256];
	char last_err[200]; /* last keepalive failure, for the reason */
	char (*snap)[PG_CONFIG_ADDR_MAX]; /* published member addresses */
	size_t n_snap;

	/* Watch thread only. */
	struct members live;

	/* Metrics (NULL without a registry). */
	struct pg_series *m_nodes, *m_registered, *m_reconnects, *m_ttl;
	struct pg_series *m_errors[OP_COUNT];
	/* goverse_watch_reconnections_total{outcome="reconnected"|"reload_failed"} */
	struct pg_series *m_watch_reconnected, *m_watch_reload_failed;
};

static void metric_set(struct pg_series *s, double v)
{
	if (s)
		pg_series_set(s, v);
}

static void metric_inc(struct pg_series *s)
{
	if (s)
		pg_series_add(s, 1);
}

/* Sleeps up to ms unless stopping; returns false when stopping. */
static bool wait_ms(struct pg_membership *m, int64_t ms)
{
	struct timespec dl;
	bool stop;

	dl = pg_clock_deadline(CLOCK_MONOTONIC, ms); /* m->cv runs on CLOCK_MONOTONIC */
	pg_mutex_lock(&m->mu);
	while (!m->stopping && pthread_cond_timedwait(&m->cv, pg_mutex_raw(&m->mu), &dl) == 0)
		;
	stop = m->stopping;
	pg_mutex_unlock(&m->mu);
	return !stop;
}

static bool stopping(struct pg_membership *m)
{
	bool s;

	pg_mutex_lock(&m->mu);
	s = m->stopping;
	pg_mutex_unlock(&m->mu);
	return s;
}

static void set_state(struct pg_membership *m, bool registered, const char *reason)
{
	pg_mutex_lock(&m->mu);
	m->registered = registered;
	snprintf(m->reason, sizeof(m->reason), "%s", reason ? reason : "");
	pg_mutex_unlock(&m->mu);
	metric_set(m->m_registered, registered ? 1 : 0);
}

/* Records a successful grant or keepalive: the lease lives until now + ttl. */
static void lease_renewed(struct pg_membership *m, int64_t ttl)
{
	pg_mutex_lock(&m->mu);
	m->expires_ms = pg_clock_mono_ms() + ttl * 1000;
	m->last_err[0] = '\0';
	pg_mutex_unlock(&m->mu);
}

static int64_t next_backoff(int64_t b)
{
	b *= 2;
	return b > PG_MEMBERSHIP_BACKOFF_MAX_MS ? PG_MEMBERSHIP_BACKOFF_MAX_MS : b;
}

/* ------------------------------------------------------- registration */

/* The diagnostics endpoint (src/cluster/endpoint.h) under the same lease,
 * so it goes when the node's key goes. */
static int put_endpoint(struct pg_membership *m, int64_t lease)
{
	int rc;

	if (!m->ep_key[0])
		return PG_OK;
	if ((rc = pg_etcd_put(m->etcd, m->ep_key, m->ep_value, lease)) != PG_OK)
		metric_inc(m->m_errors[OP_PUT]);
	return rc;
}

/* This node's endpoint record from cfg; none without an HTTP listener. */
static int endpoint_init(struct pg_membership *m, const struct pg_config *cfg)
{
	int rc = pg_endpoint_build(cfg, m->ep_key, sizeof(m->ep_key), m->ep_value, sizeof(m->ep_value));

	if (rc == PG_ENOTFOUND) {
		m->ep_key[0] = '\0';
		pg_err_clear();
		return PG_OK;
	}
	return rc;
}


static int check_goverse(struct pg_etcd *etcd, const char *prefix, bool unsafe);

/* Grants a lease and puts the key under it; first makes sure no Goverse
 * cluster uses the prefix (main checked at start unless etcd was down). */
static int register_once(struct pg_membership *m, int64_t *granted_ttl)
{
	int64_t id = 0;
	int rc;

	if (!m->goverse_checked) {
		if ((rc = check_goverse(m->etcd, m->prefix, m->unsafe_goverse)) != PG_OK) {
			metric_inc(m->m_errors[OP_RANGE]);
			return rc;
		}
		m->goverse_checked = true;
	}
	if ((rc = pg_etcd_lease_grant(m->etcd, m->ttl, &id, granted_ttl)) != PG_OK) {
		metric_inc(m->m_errors[OP_GRANT]);
		return rc;
	}
	pg_mutex_lock(&m->mu);
	m->lease_id = id; /* from now on stop() revokes it */
	pg_mutex_unlock(&m->mu);
	if ((rc = pg_etcd_put(m->etcd, m->key, m->value, id)) != PG_OK) {
		metric_inc(m->m_errors[OP_PUT]);
		return rc;
	}
	return put_endpoint(m, id);
}

static void *lease_main(void *arg)
{
	struct pg_membership *m = arg;
	int64_t backoff = PG_MEMBERSHIP_BACKOFF_MIN_MS, last_ok = 0, start = pg_clock_mono_ms();
	int64_t lease = 0, stale = 0;
	bool ever = false;

	while (!stopping(m)) {
		int64_t wait, ttl = 0;
		char why[256];
		int rc;

		if (lease == 0) {
			rc = register_once(m, &ttl);
			if (rc == PG_EEXIST) {
				/* Never join a Goverse cluster: stay out until stopped. */
				pg_error(MOD, "not registering %s: %s", m->key, pg_errmsg());
				set_state(m, false, "not registered: the etcd prefix belongs to a Goverse cluster");
				while (wait_ms(m, 60000))
					;
				break;
			}
			if (rc != PG_OK) {
				if (stopping(m))
					break;
				snprintf(why, sizeof(why), "etcd unreachable: %.200s", pg_errmsg());
				pg_warn(MOD, "registering %s failed (%s); retrying in %" PRId64 " ms", m->key,
					pg_errmsg(), backoff);
				set_state(m, false, why);
				atomic_store(&m->watch_restart, true);
				wait = backoff;
				backoff = next_backoff(backoff);
				if (!wait_ms(m, wait))
					break;
				continue;
			}
			pg_mutex_lock(&m->mu);
			lease = m->lease_id;
			pg_mutex_unlock(&m->mu);
			lease_renewed(m, ttl);
			set_state(m, true, NULL);
			metric_set(m->m_ttl, (double)ttl);
			if (ever) {
				metric_inc(m->m_reconnects);
				pg_info(MOD, "re-registered %s with lease %" PRIx64 " (TTL %" PRId64 " s) via %s",
					m->key, (uint64_t)lease, ttl, pg_etcd_endpoint(m->etcd));
			} else {
				pg_info(MOD, "registered %s with lease %" PRIx64 " (TTL %" PRId64
					" s) via %s in %" PRId64 " ms",
					m->key, (uint64_t)lease, ttl, pg_etcd_endpoint(m->etcd), pg_clock_mono_ms() - start);
			}
			ever = true;
			last_ok = pg_clock_mono_ms();
			backoff = PG_MEMBERSHIP_BACKOFF_MIN_MS;
			/* Like Goverse, drop the lease we lost track of. */
			if (stale) {
				/* NOT_FOUND is the usual outcome: it already expired. */
				int rrc = pg_etcd_lease_revoke(m->etcd, stale, REVOKE_TIMEOUT_MS);

				if (rrc != PG_OK && rrc != PG_ENOTFOUND)
					metric_inc(m->m_errors[OP_REVOKE]);
			}
			stale = 0;
			wait = m->ttl * 1000 / 3;
		} else {
			rc = pg_etcd_lease_keepalive(m->etcd, lease, &ttl);
			if (rc == PG_OK) {
				lease_renewed(m, ttl);
				metric_set(m->m_ttl, (double)ttl);
				last_ok = pg_clock_mono_ms();
				backoff = PG_MEMBERSHIP_BACKOFF_MIN_MS;
				wait = m->ttl * 1000 / 3;
			} else if (stopping(m)) {
				break;
			} else if (rc == PG_ENOTFOUND) {
				/* etcd forgot the lease (expired while we were cut off,
				 * or revoked): register again right away. */
				metric_inc(m->m_errors[OP_KEEPALIVE]);
				pg_warn(MOD, "lease %" PRIx64 " lost (%s); re-registering %s", (uint64_t)lease,
					pg_errmsg(), m->key);
				set_state(m, false, "lease lost, re-registering");
				pg_mutex_lock(&m->mu);
				m->lease_id = 0;
				pg_mutex_unlock(&m->mu);
				lease = 0;
				wait = 0;
			} else {
				metric_inc(m->m_errors[OP_KEEPALIVE]);
				atomic_store(&m->watch_restart, true);
				snprintf(why, sizeof(why), "etcd unreachable: %.200s", pg_errmsg());
				pg_mutex_lock(&m->mu);
				snprintf(m->last_err, sizeof(m->last_err), "%s", pg_errmsg());
				pg_mutex_unlock(&m->mu);
				if (pg_clock_mono_ms() - last_ok >= m->ttl * 1000) {
					/* The lease has surely expired by now. */
					pg_warn(MOD, "keepalive failed for longer than the %ld s TTL (%s); "
						     "%s is no longer registered", m->ttl, pg_errmsg(), m->key);
					set_state(m, false, why);
					stale = lease;
					pg_mutex_lock(&m->mu);
					m->lease_id = 0;
					pg_mutex_unlock(&m->mu);
					lease = 0;
				} else {
					pg_warn(MOD, "keepalive failed (%s); retrying", pg_errmsg());
				}
				wait = backoff;
				backoff = next_backoff(backoff);
			}
		}
		if (wait > 0 && !wait_ms(m, wait))
			break;
	}
	return NULL;
}

/* ------------------------------------------- Goverse nodes under the prefix */

/* Keys only Go Goverse nodes write under the cluster prefix (Goverse
 * cluster/consensusmanager: the leader's address, set without a lease, and
 * the shard mapping the leader stores, one key per shard; cluster.go: gates).
 * pprofgate writes none of them. */
static int goverse_keys(struct pg_etcd *etcd, const char *prefix, char *found, size_t n, bool *leader_live)
{
	static const char *const exact[] = {"/leader", "/shard/0"};
	char key[PG_CONFIG_ADDR_MAX + 16], leader[PG_CONFIG_ADDR_MAX] = "";
	size_t used = 0;
	int rc = PG_OK;

	found[0] = '\0';
	*leader_live = false;
	for (size_t i = 0; rc == PG_OK && i < 3; i++) {
		struct pg_etcd_range r = {0};
		bool pfx = i == 2;

		snprintf(key, sizeof(key), "%s%s", prefix, pfx ? "/gates/" : exact[i]);
		rc = pg_etcd_get(etcd, key, pfx, &r);
		if (rc == PG_OK && r.n > 0) {
			if (i == 0) {
				snprintf(leader, sizeof(leader), "%.*s", (int)r.kvs[0].value_len, r.kvs[0].value);
				/* Shown in logs and errors: no control bytes from etcd. */
				for (char *p = leader; *p; p++)
					if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
						*p = '?';
			}
			if (used < n)
				used += (size_t)snprintf(found + used, n - used, "%s%s%s%s", used ? ", " : "", key,
							 i == 0 ? " = " : pfx ? "..." : "", i == 0 ? leader : "");
		}
		pg_etcd_range_clear(&r);
	}
	if (rc == PG_OK && leader[0]) {
		/* Is that leader a live member (its lease-bound key under nodes/)? */
		struct pg_etcd_range r = {0};

		snprintf(key, sizeof(key), "%s/nodes/%s", prefix, leader);
		rc = pg_etcd_get(etcd, key, false, &r);
		*leader_live = rc == PG_OK && r.n > 0;
		pg_etcd_range_clear(&r);
	}
	return rc;
}

static int check_goverse(struct pg_etcd *etcd, const char *prefix, bool unsafe)
{
	char found[4 * PG_CONFIG_ADDR_MAX];
	bool live = false;

	if (goverse_keys(etcd, prefix, found, sizeof(found), &live) != PG_OK)
		return pg_fail(PG_ENET, "cannot check etcd prefix %s for Goverse nodes: %s", prefix, pg_errmsg());
	if (!found[0])
		return PG_OK;
	if (unsafe) {
		pg_warn(MOD, "etcd prefix %s holds Goverse keys (%s); joining anyway "
			     "(cluster.etcd.unsafe_share_goverse_prefix: true)", prefix, found);
		return PG_OK;
	}
	return pg_fail(PG_EEXIST,
		       "etcd prefix %s belongs to a Go Goverse cluster (%s%s): its leader would assign shards to "
		       "this node, which never claims them, so calls to objects on those shards would fail. "
		       "Give pprofgate nodes a prefix of their own (cluster.etcd.prefix in the config file, "
		       "--etcd-prefix without one, e.g. %s-pprofgate), or set "
		       "cluster.etcd.unsafe_share_goverse_prefix: true to join anyway (unsafe)",
		       prefix, found, live ? "; the leader is live" : "", prefix);
}

int pg_membership_check_goverse(const struct pg_config *cfg)
{
	struct pg_etcd *etcd = NULL;
	int rc;

	if ((rc = pg_etcd_new_from_config(cfg, &etcd)) != PG_OK)
		return rc;
	rc = check_goverse(etcd, pg_etcd_config_prefix(cfg),
			   strcmp(cfg->etcd_unsafe_share_goverse_prefix, "true") == 0);
	pg_etcd_free(&etcd);
	return rc;
}

/* ------------------------------------------------------------- watch */

static void members_clear(struct members *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].key);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Index of key in l, or where it would go (*found = false). */
static size_t members_find(const struct members *l, const char *key, bool *found)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->v[mid].key, key);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static void log_change(struct pg_membership *m, const char *what, const char *addr, size_t n)
{
	bool self = strcmp(addr, m->value) == 0;

	pg_info(MOD, "node %s %s%s (%zu member%s)", addr, what, self ? " (this node)" : "", n,
		n == 1 ? "" : "s");
}

/* Adds or updates key -> value; logs a join. */
static int members_put(struct pg_membership *m, const char *key, const char *value, size_t vlen)
{
	struct members *l = &m->live;
	bool found;
	size_t i = members_find(l, key, &found);
	struct member *nv;

	if (vlen >= PG_CONFIG_ADDR_MAX)
		vlen = PG_CONFIG_ADDR_MAX - 1;
	if (!found) {
		char *k = strdup(key);

		nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
		if (!k || !nv) {
			free(k);
			if (nv)
				l->v = nv;
			return pg_fail(PG_ENOMEM, "cluster: out of memory");
		}
		l->v = nv;
		memmove(&l->v[i + 1], &l->v[i], (l->n - i) * sizeof(*nv));
		l->v[i].key = k;
		l->n++;
	}
	memcpy(l->v[i].addr, value, vlen);
	l->v[i].addr[vlen] = '\0';
	if (!found)
		log_change(m, "joined", l->v[i].addr, l->n);
	return PG_OK;
}

static void members_del(struct pg_membership *m, const char *key)
{
	struct members *l = &m->live;
	bool found;
	size_t i = members_find(l, key, &found);
	char addr[PG_CONFIG_ADDR_MAX];

	if (!found)
		return;
	memcpy(addr, l->v[i].addr, sizeof(addr));
	free(l->v[i].key);
	memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(l->v[0]));
	l->n--;
	log_change(m, "left", addr, l->n);
}

/* Copies the live list into the snapshot readers see. */
static void publish(struct pg_membership *m)
{
	char(*snap)[PG_CONFIG_ADDR_MAX] = NULL, (*old)[PG_CONFIG_ADDR_MAX];
	size_t n = m->live.n;

	if (n) {
		snap = calloc(n, sizeof(*snap));
		if (!snap) {
			pg_warn(MOD, "out of memory publishing the member list");
			return;
		}
		for (size_t i = 0; i < n; i++)
			memcpy(snap[i], m->live.v[i].addr, sizeof(snap[i]));
	}
	pg_mutex_lock(&m->mu);
	old = m->snap;
	m->snap = snap;
	m->n_snap = n;
	pg_mutex_unlock(&m->mu);
	free(old);
	metric_set(m->m_nodes, (double)n);
}

/* Replaces the live list with a range read, logging differences. */
static void members_reset(struct pg_membership *m, const struct pg_etcd_range *r)
{
	struct members *l = &m->live;

	/* Leaves first: every key not in the new read. */
	for (size_t i = l->n; i-- > 0;) {
		bool keep = false;

		for (size_t j = 0; j < r->n && !keep; j++)
			keep = strcmp(r->kvs[j].key, l->v[i].key) == 0;
		if (!keep)
			members_del(m, l->v[i].key);
	}
	for (size_t j = 0; j < r->n; j++)
		if (members_put(m, r->kvs[j].key, r->kvs[j].value, r->kvs[j].value_len) != PG_OK)
			pg_warn(MOD, "%s", pg_errmsg());
	publish(m);
}

static bool on_watch(const struct pg_etcd_watch_resp *w, void *arg)
{
	struct pg_membership *m = arg;

	if (stopping(m) || atomic_exchange(&m->watch_restart, false))
		return false;
	if (!w || w->n_events == 0)
		return true;
	for (size_t i = 0; i < w->n_events; i++) {
		const struct pg_etcd_kv *kv = &w->events[i].kv;

		if (w->events[i].type == PG_ETCD_DELETE)
			members_del(m, kv->key);
		else if (members_put(m, kv->key, kv->value, kv->value_len) != PG_OK)
			pg_warn(MOD, "%s", pg_errmsg());
	}
	publish(m);
	return true;
}

static void *watch_main(void *arg)
{
	struct pg_membership *m = arg;
	int64_t backoff = PG_MEMBERSHIP_BACKOFF_MIN_MS;
	bool failed = false, watched = false;

	while (!stopping(m)) {
		struct pg_etcd_range r;
		int64_t started;
		int rc;

		atomic_store(&m->watch_restart, false);
		rc = pg_etcd_get(m->etcd, m->nodes_prefix, true, &r);
		if (rc == PG_OK) {
			if (failed)
				metric_inc(m->m_reconnects);
			/* Goverse's watch reconnection: the member list reloaded after
			 * a watch ended (the first read at start is not one). */
			if (watched)
				metric_inc(m->m_watch_reconnected);
			failed = false;
			members_reset(m, &r);
			started = pg_clock_mono_ms();
			/* Watch from just after the read so no event is missed. */
			rc = pg_etcd_watch(m->etcd, m->nodes_prefix, true, r.revision + 1, on_watch, m);
			pg_etcd_range_clear(&r);
			watched = true;
			if (stopping(m))
				break;
			if (rc != PG_OK) {
				metric_inc(m->m_errors[OP_WATCH]);
				pg_debug(MOD, "watch on %s ended: %s", m->nodes_prefix, pg_errmsg());
			}
			failed = true;
			if (pg_clock_mono_ms() - started > PG_MEMBERSHIP_BACKOFF_MAX_MS)
				backoff = PG_MEMBERSHIP_BACKOFF_MIN_MS;
			/* A restart requested by the lease thread retries at once. */
			if (rc == PG_OK || rc == PG_ENOTFOUND)
				continue;
		} else {
			if (stopping(m))
				break;
			metric_inc(m->m_errors[OP_RANGE]);
			if (watched)
				metric_inc(m->m_watch_reload_failed);
			pg_debug(MOD, "reading %s failed: %s", m->nodes_prefix, pg_errmsg());
			failed = true;
		}
		if (!wait_ms(m, backoff))
			break;
		backoff = next_backoff(backoff);
	}
	return NULL;
}

/* ------------------------------------------------------------ public */

static void declare_metrics(struct pg_membership *m, struct pg_metrics *reg)
{
	static const char *const op_label[] = {"op"};
	static const char *const watch_labels[] = {"node_addr", "outcome"};
	struct pg_family *f;

	if (!reg)
		return;
	if (pg_metrics_family(reg, PG_METRIC_GAUGE, "pprofgate_cluster_nodes",
			      "Live cluster members seen in etcd.", NULL, 0, NULL, 0, &f) == PG_OK)
		m->m_nodes = pg_family_series(f, NULL);
	if (pg_metrics_family(reg, PG_METRIC_GAUGE, "pprofgate_etcd_registered",
			      "1 while this node's key is registered in etcd under a live lease.", NULL, 0,
			      NULL, 0, &f) == PG_OK)
		m->m_registered = pg_family_series(f, NULL);
	if (pg_metrics_family(reg, PG_METRIC_COUNTER, "pprofgate_etcd_errors_total",
			      "Failed etcd calls by operation.", op_label, 1, NULL, 0, &f) == PG_OK)
		for (int i = 0; i < OP_COUNT; i++)
			m->m_errors[i] = pg_family_series(f, &op_names[i]);
	if (pg_metrics_family(reg, PG_METRIC_COUNTER, "pprofgate_etcd_reconnects_total",
			      "Times the registration or the member watch was re-established after a failure.",
			      NULL, 0, NULL, 0, &f) == PG_OK)
		m->m_reconnects = pg_family_series(f, NULL);
	/* Goverse's name, help and labels (util/metrics); node_addr is the
	 * advertise address. */
	if (pg_metrics_family(reg, PG_METRIC_COUNTER, "goverse_watch_reconnections_total",
			      "Total number of etcd watch reconnection attempts by node and outcome (reconnected, reload_failed)",
			      watch_labels, 2, NULL, 0, &f) == PG_OK) {
		m->m_watch_reconnected = pg_family_series(f, (const char *const[]){m->value, "reconnected"});
		m->m_watch_reload_failed = pg_family_series(f, (const char *const[]){m->value, "reload_failed"});
	}
	if (pg_metrics_family(reg, PG_METRIC_GAUGE, "pprofgate_etcd_lease_ttl_seconds",
			      "Remaining TTL of this node's lease at the last grant or keepalive.", NULL, 0,
			      NULL, 0, &f) == PG_OK)
		m->m_ttl = pg_family_series(f, NULL);
	if (!m->m_nodes || !m->m_registered || !m->m_reconnects || !m->m_ttl || !m->m_errors[0])
		pg_warn(MOD, "some cluster metrics could not be declared: %s", pg_errmsg());
	metric_set(m->m_registered, 0);
	metric_set(m->m_nodes, 0);
}

static void membership_free(struct pg_membership *m)
{
	pg_etcd_free(&m->etcd);
	members_clear(&m->live);
	free(m->snap);
	pthread_cond_destroy(&m->cv);
	pg_mutex_destroy(&m->mu);
	free(m);
}

int pg_membership_start(const struct pg_config *cfg, struct pg_metrics *metrics,
			struct pg_membership **out)
{
	struct pg_membership *m = NULL;
	pthread_condattr_t ca;
	const char *adv;
	int rc;

	*out = NULL;
	if (!cfg)
		return pg_fail(PG_EINVAL, "cluster: no config");
	adv = cfg->advertise[0] ? cfg->advertise : cfg->listen;
	if (!adv[0])
		return pg_fail(PG_EINVAL, "cluster: no advertise address to register");
	if (cfg->etcd_lease_ttl < 2 || cfg->etcd_lease_ttl > 3600)
		return pg_fail(PG_EINVAL, "cluster: etcd lease TTL must be 2..3600 s, not %ld",
			       cfg->etcd_lease_ttl);
	m = calloc(1, sizeof(*m));
	if (!m)
		return pg_fail(PG_ENOMEM, "cluster: out of memory");
	if ((rc = pg_mutex_init(&m->mu)) != PG_OK) {
		free(m);
		return rc;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(m->reason, sizeof(m->reason), "registering");
	m->ttl = cfg->etcd_lease_ttl;
	/* Goverse: key = prefix + "/nodes/" + advertise, value = advertise. */
	snprintf(m->value, sizeof(m->value), "%s", adv);
	snprintf(m->nodes_prefix, sizeof(m->nodes_prefix), "%s/nodes/", pg_etcd_config_prefix(cfg));
	snprintf(m->key, sizeof(m->key), "%s%s", m->nodes_prefix, m->value);
	snprintf(m->prefix, sizeof(m->prefix), "%s", pg_etcd_config_prefix(cfg));
	m->unsafe_goverse = strcmp(cfg->etcd_unsafe_share_goverse_prefix, "true") == 0;
	if ((rc = endpoint_init(m, cfg)) != PG_OK)
		goto out;
	if ((rc = pg_etcd_new_from_config(cfg, &m->etcd)) != PG_OK)
		goto out;
	declare_metrics(m, metrics);
	if (pg_thread_create(&m->lease_thr, "etcd-lease", lease_main, m) != PG_OK) {
		rc = pg_fail(PG_EINTERNAL, "cluster: cannot start the lease thread");
		goto out;
	}
	m->lease_started = true;
	if (pg_thread_create(&m->watch_thr, "etcd-watch", watch_main, m) != PG_OK) {
		rc = pg_fail(PG_EINTERNAL, "cluster: cannot start the watch thread");
		goto out;
	}
	m->watch_started = true;
	pg_info(MOD, "registering %s in etcd %s%s (lease TTL %ld s)", m->key, cfg->etcd_endpoints[0],
		cfg->n_etcd_endpoints > 1 ? " and others" : "", m->ttl);
	*out = m;
	m = NULL;
	rc = PG_OK;
out:
	if (m)
		pg_membership_stop(&m);
	return rc;
}

void pg_membership_leave(struct pg_membership *m)
{
	int64_t lease, t0 = pg_clock_mono_ms();

	if (!m || m->left)
		return;
	m->left = true;
	pg_mutex_lock(&m->mu);
	m->stopping = true;
	m->registered = false;
	snprintf(m->reason, sizeof(m->reason), "stopping");
	pthread_cond_broadcast(&m->cv);
	pg_mutex_unlock(&m->mu);
	/* Calls in flight give up within ~100 ms; revoke is exempt. */
	pg_etcd_cancel(m->etcd);
	if (m->lease_started)
		pthread_join(m->lease_thr, NULL);
	if (m->watch_started)
		pthread_join(m->watch_thr, NULL);
	m->lease_started = m->watch_started = false;
	pg_mutex_lock(&m->mu);
	lease = m->lease_id;
	m->lease_id = 0;
	pg_mutex_unlock(&m->mu);
	if (lease) {
		if (pg_etcd_lease_revoke(m->etcd, lease, REVOKE_TIMEOUT_MS) == PG_OK)
			pg_info(MOD, "revoked lease %" PRIx64 ": %s removed (%" PRId64 " ms)", (uint64_t)lease,
				m->key, pg_clock_mono_ms() - t0);
		else {
			metric_inc(m->m_errors[OP_REVOKE]);
			pg_warn(MOD, "revoking lease %" PRIx64 " failed (%s); %s expires within %ld s",
				(uint64_t)lease, pg_errmsg(), m->key, m->ttl);
		}
	}
	metric_set(m->m_registered, 0);
}

void pg_membership_stop(struct pg_membership **pp)
{
	if (!pp || !*pp)
		return;
	pg_membership_leave(*pp);
	membership_free(*pp);
	*pp = NULL;
}

bool pg_membership_ready(struct pg_membership *m, char *reason, size_t n)
{
	bool ok;

	if (!m) {
		if (reason && n)
			snprintf(reason, n, "cluster membership not started");
		return false;
	}
	pg_mutex_lock(&m->mu);
	ok = m->registered;
	if (ok && pg_clock_mono_ms() >= m->expires_ms) {
		/* Keepalives are overdue: the lease has expired in etcd even if
		 * the lease thread is still waiting for a reply. */
		ok = false;
		if (reason && n && m->last_err[0])
			snprintf(reason, n, "etcd unreachable: lease expired without keepalive (%s)",
				 m->last_err);
		else if (reason && n)
			snprintf(reason, n, "etcd unreachable: lease expired without keepalive");
	} else if (reason && n) {
		snprintf(reason, n, "%s", ok ? "" : m->reason);
	}
	pg_mutex_unlock(&m->mu);
	return ok;
}

bool pg_membership_ready_cb(void *arg, char *reason, size_t n)
{
	return pg_membership_ready(arg, reason, n);
}

size_t pg_membership_members(struct pg_membership *m, char (*out)[PG_CONFIG_ADDR_MAX], size_t max)
{
	size_t n;

	if (!m)
		return 0;
	pg_mutex_lock(&m->mu);
	n = m->n_snap;
	for (size_t i = 0; i < n && i < max && out; i++)
		memcpy(out[i], m->snap[i], sizeof(out[i]));
	pg_mutex_unlock(&m->mu);
	return n;
}

const char *pg_membership_key(const struct pg_membership *m)
{
	return m ? m->key : "";
}
