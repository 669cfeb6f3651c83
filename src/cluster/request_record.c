/* Pending window requests: the record and cluster requests in etcd; see
 * request_record.h. */
#include "src/cluster/request_record.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cluster/etcd.h"
#include "src/cluster/window_record.h"
#include "src/config/config.h"
#include "src/util/buf.h"
#include "src/util/json.h"
#include "src/util/log.h"
#include "src/util/rand.h"

#define MOD "cluster"
#define WHAT "request record"
#define MAX_DURATION_MS (7LL * 24 * 3600 * 1000)
#define MAX_TTL_MS (24LL * 3600 * 1000)

/* ---- the record ---- */

/* Texts go into audit lines and the CLI's table: no control bytes. */
static int text(const struct pg_json_value *root, const char *name, char *dst, size_t cap)
{
	int rc = pg_record_text(WHAT, pg_json_get(root, name), name, dst, cap);

	if (rc != PG_OK)
		return rc;
	for (const char *c = dst; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return pg_fail(PG_EPROTO, WHAT ": \"%s\" holds a control character", name);
	return PG_OK;
}

static int number(const struct pg_json_value *root, const char *name, int64_t min, int64_t max, int64_t *out)
{
	if (pg_json_int64(pg_json_get(root, name), true, out) != PG_OK || *out < min || *out > max)
		return pg_fail(PG_EPROTO, WHAT ": \"%s\" must be an integer in %lld..%lld", name, (long long)min,
			       (long long)max);
	return PG_OK;
}

int pg_request_record_parse(const char *text_in, size_t len, struct pg_request_record *out)
{
	struct pg_json_limits lim = {.max_bytes = PG_REQUEST_RECORD_MAX, .max_depth = 4, .max_nodes = 64,
				     .max_number_len = 24};
	struct pg_json *doc = NULL;
	const struct pg_json_value *root;
	int64_t ver;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > PG_REQUEST_RECORD_MAX)
		return pg_fail(PG_EPROTO, WHAT ": %zu bytes, more than %u", len, (unsigned)PG_REQUEST_RECORD_MAX);
	if (pg_json_parse(text_in, len, &lim, &doc) != PG_OK)
		return pg_fail(PG_EPROTO, WHAT ": not JSON (%s)", pg_errmsg());
	root = pg_json_root(doc);
	if (!pg_json_is(root, PG_JSON_OBJECT)) {
		rc = pg_fail(PG_EPROTO, WHAT ": not a JSON object");
		goto out;
	}
	if (pg_json_int64(pg_json_get(root, "v"), false, &ver) != PG_OK || ver != 1) {
		rc = pg_fail(PG_EPROTO, WHAT ": version \"v\" must be 1");
		goto out;
	}
	if ((rc = text(root, "id", out->id, sizeof(out->id))) != PG_OK)
		goto out;
	if (!pg_rand_id_ok(out->id, strlen(out->id))) {
		rc = pg_fail(PG_EPROTO, WHAT ": \"id\" must be 1..64 of [A-Za-z0-9_-]");
		goto out;
	}
	if ((rc = text(root, "requested_by", out->requested_by, sizeof(out->requested_by))) != PG_OK ||
	    (rc = text(root, "requester_cert", out->requester_cert, sizeof(out->requester_cert))) != PG_OK ||
	    (rc = text(root, "reason", out->reason, sizeof(out->reason))) != PG_OK ||
	    (rc = pg_record_profiles(WHAT, pg_json_get(root, "profiles"), out->profiles, &out->n_profiles)) !=
		    PG_OK ||
	    (rc = number(root, "duration_ms", 1, MAX_DURATION_MS, &out->duration_ms)) != PG_OK ||
	    (rc = number(root, "created_unix_ms", 1, INT64_MAX / 2, &out->created_unix_ms)) != PG_OK ||
	    (rc = number(root, "expires_unix_ms", out->created_unix_ms + 1, out->created_unix_ms + MAX_TTL_MS,
			 &out->expires_unix_ms)) != PG_OK)
		goto out;
	rc = PG_OK;
out:
	pg_json_free(&doc);
	return pg_record_end(rc, out, sizeof(*out));
}

int pg_request_record_encode(const struct pg_request_record *rec, char **out)
{
	struct pg_buf b;
	int rc;

	*out = NULL;
	pg_buf_init(&b, PG_REQUEST_RECORD_MAX);
	rc = pg_record_put(&b, PG_OK, "{\"v\":1,\"id\":", rec->id);
	rc = pg_record_put(&b, rc, ",\"requested_by\":", rec->requested_by);
	rc = pg_record_put(&b, rc, ",\"requester_cert\":", rec->requester_cert);
	rc = pg_record_put(&b, rc, ",\"reason\":", rec->reason);
	if (rc == PG_OK)
		rc = pg_record_write_profiles(&b, rec->profiles, rec->n_profiles);
	if (rc == PG_OK)
		rc = pg_buf_printf(&b, ",\"duration_ms\":%lld,\"created_unix_ms\":%lld,\"expires_unix_ms\":%lld}",
				   (long long)rec->duration_ms, (long long)rec->created_unix_ms,
				   (long long)rec->expires_unix_ms);
	if (rc != PG_OK) {
		pg_buf_free(&b);
		return pg_fail(PG_ENOMEM, WHAT ": does not fit in %u bytes", (unsigned)PG_REQUEST_RECORD_MAX);
	}
	*out = pg_buf_steal(&b, NULL);
	return *out ? PG_OK : pg_fail(PG_ENOMEM, WHAT ": out of memory");
}

/* ---- cluster requests in etcd ---- */

struct pg_cluster_requests {
	struct pg_etcd *etcd;
	char prefix[PG_CONFIG_ADDR_MAX + 32];
};

int pg_cluster_requests_new(const struct pg_config *cfg, struct pg_cluster_requests **out)
{
	struct pg_cluster_requests *c;
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return pg_fail(PG_ENOMEM, "cluster: out of memory");
	snprintf(c->prefix, sizeof(c->prefix), "%s/diagnostics/requests/", pg_etcd_config_prefix(cfg));
	if ((rc = pg_etcd_new_from_config(cfg, &c->etcd)) != PG_OK) {
		free(c);
		return rc;
	}
	*out = c;
	return PG_OK;
}

void pg_cluster_requests_free(struct pg_cluster_requests **pp)
{
	if (!pp || !*pp)
		return;
	pg_etcd_free(&(*pp)->etcd);
	free(*pp);
	*pp = NULL;
}

static int key_of(const struct pg_cluster_requests *c, const char *id, char *key, size_t cap)
{
	int n;

	if (!pg_rand_id_ok(id, strlen(id)))
		return pg_fail(PG_EINVAL, "a request id is 1..64 of [A-Za-z0-9_-]");
	n = snprintf(key, cap, "%s%s", c->prefix, id);
	return n > 0 && (size_t)n < cap ? PG_OK : pg_fail(PG_EINVAL, "request key too long");
}

int pg_cluster_requests_put(struct pg_cluster_requests *c, const struct pg_request_record *rec)
{
	char key[sizeof(c->prefix) + PG_REQUEST_ID_MAX], *value = NULL;
	int64_t lease = 0, ttl = 0;
	int rc;

	if ((rc = key_of(c, rec->id, key, sizeof(key))) != PG_OK ||
	    (rc = pg_request_record_encode(rec, &value)) != PG_OK)
		return rc;
	rc = pg_etcd_lease_grant(c->etcd, (rec->expires_unix_ms - rec->created_unix_ms + 999) / 1000, &lease, &ttl);
	if (rc == PG_OK) {
		rc = pg_etcd_put(c->etcd, key, value, lease);
		if (rc != PG_OK && pg_etcd_lease_revoke(c->etcd, lease, 2000) != PG_OK)
			pg_err_clear();
	}
	free(value);
	return rc;
}

int pg_cluster_requests_get(struct pg_cluster_requests *c, const char *id, struct pg_request_record *out)
{
	char key[sizeof(c->prefix) + PG_REQUEST_ID_MAX];
	struct pg_etcd_range r = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = key_of(c, id, key, sizeof(key))) != PG_OK || (rc = pg_etcd_get(c->etcd, key, false, &r)) != PG_OK)
		return rc;
	if (r.n == 0)
		rc = pg_fail(PG_ENOTFOUND, "no pending request %s", id);
	else
		rc = pg_request_record_parse(r.kvs[0].value, r.kvs[0].value_len, out);
	/* The key names the request: a record that says otherwise is not it. */
	if (rc == PG_OK && strcmp(out->id, id) != 0)
		rc = pg_fail(PG_EPROTO, "the record at %s names another request", key);
	pg_etcd_range_clear(&r);
	return rc;
}

int pg_cluster_requests_take(struct pg_cluster_requests *c, const char *id)
{
	char key[sizeof(c->prefix) + PG_REQUEST_ID_MAX];
	int64_t deleted = 0;
	int rc;

	if ((rc = key_of(c, id, key, sizeof(key))) != PG_OK || (rc = pg_etcd_delete(c->etcd, key, false, &deleted)) != PG_OK)
		return rc;
	return deleted == 1 ? PG_OK : pg_fail(PG_ENOTFOUND, "no pending request %s", id);
}

int pg_cluster_requests_list(struct pg_cluster_requests *c, struct pg_request_record *out, size_t cap, size_t *n)
{
	struct pg_etcd_range r = {0};
	int rc;

	*n = 0;
	if ((rc = pg_etcd_get(c->etcd, c->prefix, true, &r)) != PG_OK)
		return rc;
	for (size_t i = 0; i < r.n && *n < cap; i++) {
		if (pg_request_record_parse(r.kvs[i].value, r.kvs[i].value_len, &out[*n]) != PG_OK) {
			pg_warn(MOD, "ignoring the request record at %.*s: %s", (int)r.kvs[i].key_len, r.kvs[i].key,
				pg_errmsg());
			continue;
		}
		(*n)++;
	}
	pg_etcd_range_clear(&r);
	return PG_OK;
}

const char *pg_cluster_requests_prefix(const struct pg_cluster_requests *c)
{
	return c ? c->prefix : "";
}
