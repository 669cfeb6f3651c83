/* etcd v3 JSON gateway client; see etcd.h. */
#include "src/cluster/etcd.h"
#include "src/util/base64.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/util/buf.h"
#include "src/util/clock.h"
#include "src/util/json.h"
#include "src/util/log.h"

#define MOD "etcd"
#define BODY_MAX (512u * 1024u)
#define POLL_MS 100

int pg_etcd_prefix_end(const char *prefix, size_t n, char *out, size_t cap, size_t *out_len)
{
	*out_len = 0;
	/* Same rule as clientv3.GetPrefixRangeEnd. */
	while (n > 0 && (unsigned char)prefix[n - 1] == 0xFF)
		n--;
	if (n == 0) {
		if (cap < 2)
			return pg_fail(PG_ENOMEM, "etcd: prefix end buffer too small");
		out[0] = '\0';
		out[1] = '\0';
		*out_len = 1;
		return PG_OK;
	}
	if (n + 1 > cap)
		return pg_fail(PG_ENOMEM, "etcd: prefix end buffer too small");
	memcpy(out, prefix, n);
	out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
	out[n] = '\0';
	*out_len = n;
	return PG_OK;
}

/* --------------------------------------------------------------- parsers */

/* Fails when the reply is an etcd error object. Unary replies carry
 * {"error":"msg","code":N,"message":"msg"}; streams wrap it as
 * {"error":{"grpc_code":N,"http_code":H,"message":"msg",...}}. */
static int check_error(const struct pg_json_value *root)
{
	const struct pg_json_value *e = pg_json_get(root, "error");
	const struct pg_json_value *code_v = pg_json_get(root, "code");
	const char *msg;
	int64_t code = 0;

	if (!pg_json_is(root, PG_JSON_OBJECT))
		return pg_fail(PG_EPROTO, "etcd: reply is not a JSON object");
	if (!e)
		return PG_OK;
	msg = pg_json_str(pg_json_get(root, "message"), NULL);
	if (pg_json_is(e, PG_JSON_OBJECT)) {
		code_v = pg_json_get(e, "grpc_code");
		msg = pg_json_str(pg_json_get(e, "message"), NULL);
	} else if (!msg) {
		msg = pg_json_str(e, NULL);
	}
	if (pg_json_int64(code_v, true, &code) != PG_OK)
		code = -1;
	if (!msg)
		msg = "(no message)";
	/* gRPC status 5 = NOT_FOUND. */
	return pg_fail(code == 5 ? PG_ENOTFOUND : PG_EPROTO, "etcd error %" PRId64 ": %.200s", code, msg);
}

static int parse_doc(const char *body, size_t len, struct pg_json **doc)
{
	/* A whole reply may be parsed (a large range); each kv is ~8 values. */
	static const struct pg_json_limits lim = {.max_bytes = PG_ETCD_MAX_REPLY, .max_nodes = 262144};
	int rc = pg_json_parse(body, len, &lim, doc);

	if (rc != PG_OK)
		return pg_fail(PG_EPROTO, "etcd: malformed reply: %s", pg_errmsg());
	return check_error(pg_json_root(*doc));
}

/* An optional int64 member (absent = 0, as protobuf JSON omits defaults). */
static int opt_i64(const struct pg_json_value *obj, const char *key, int64_t *out)
{
	const struct pg_json_value *v = pg_json_get(obj, key);

	*out = 0;
	if (!v)
		return PG_OK;
	if (pg_json_int64(v, true, out) != PG_OK)
		return pg_fail(PG_EPROTO, "etcd: field %s is not an int64", key);
	return PG_OK;
}

static int opt_bool(const struct pg_json_value *obj, const char *key, bool *out)
{
	const struct pg_json_value *v = pg_json_get(obj, key);

	*out = false;
	if (!v)
		return PG_OK;
	if (pg_json_is(v, PG_JSON_TRUE) || pg_json_is(v, PG_JSON_FALSE)) {
		*out = pg_json_is(v, PG_JSON_TRUE);
		return PG_OK;
	}
	return pg_fail(PG_EPROTO, "etcd: field %s is not a boolean", key);
}

/* Decodes an optional base64 member into a new NUL-terminated buffer. */
static int opt_b64(const struct pg_json_value *obj, const char *key, char **out, size_t *out_len)
{
	const struct pg_json_value *v = pg_json_get(obj, key);
	const char *s = "";
	size_t n = 0, cap;
	unsigned char *buf;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (v) {
		s = pg_json_str(v, &n);
		if (!s)
			return pg_fail(PG_EPROTO, "etcd: field %s is not a string", key);
	}
	cap = n / 4 * 3;
	if (cap > PG_ETCD_MAX_KV)
		return pg_fail(PG_EPROTO, "etcd: field %s longer than %u bytes", key, PG_ETCD_MAX_KV);
	buf = malloc(cap + 1);
	if (!buf)
		return pg_fail(PG_ENOMEM, "etcd: out of memory");
	if ((rc = pg_base64_decode(s, n, buf, cap, out_len)) != PG_OK) {
		free(buf);
		return pg_fail(PG_EPROTO, "etcd: field %s: %s", key, pg_errmsg());
	}
	buf[*out_len] = '\0';
	*out = (char *)buf;
	return PG_OK;
}

static void kv_clear(struct pg_etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

static int parse_kv(const struct pg_json_value *v, struct pg_etcd_kv *kv)
{
	int rc;

	memset(kv, 0, sizeof(*kv));
	if (!pg_json_is(v, PG_JSON_OBJECT))
		return pg_fail(PG_EPROTO, "etcd: kv is not an object");
	if (!pg_json_get(v, "key"))
		return pg_fail(PG_EPROTO, "etcd: kv without a key");
	if ((rc = opt_b64(v, "key", &kv->key, &kv->key_len)) != PG_OK ||
	    (rc = opt_b64(v, "value", &kv->value, &kv->value_len)) != PG_OK ||
	    (rc = opt_i64(v, "create_revision", &kv->create_revision)) != PG_OK ||
	    (rc = opt_i64(v, "mod_revision", &kv->mod_revision)) != PG_OK ||
	    (rc = opt_i64(v, "version", &kv->version)) != PG_OK ||
	    (rc = opt_i64(v, "lease", &kv->lease)) != PG_OK) {
		kv_clear(kv);
		return rc;
	}
	return PG_OK;
}

static int header_rev(const struct pg_json_value *obj, int64_t *rev)
{
	const struct pg_json_value *h = pg_json_get(obj, "header");

	*rev = 0;
	if (h && !pg_json_is(h, PG_JSON_OBJECT))
		return pg_fail(PG_EPROTO, "etcd: header is not an object");
	return opt_i64(h, "revision", rev);
}

int pg_etcd_parse_grant(const char *body, size_t len, int64_t *id, int64_t *ttl)
{
	struct pg_json *doc = NULL;
	const struct pg_json_value *r;
	int rc;

	if ((rc = parse_doc(body, len, &doc)) != PG_OK)
		goto out;
	r = pg_json_root(doc);
	if ((rc = opt_i64(r, "ID", id)) != PG_OK || (rc = opt_i64(r, "TTL", ttl)) != PG_OK)
		goto out;
	if (*id == 0 || *ttl <= 0) {
		const char *e = pg_json_str(pg_json_get(r, "error"), NULL);

		rc = pg_fail(PG_EPROTO, "etcd: lease grant without ID or TTL%s%.200s", e ? ": " : "",
			     e ? e : "");
	}
out:
	pg_json_free(&doc);
	return rc;
}

int pg_etcd_parse_keepalive(const char *body, size_t len, int64_t *ttl)
{
	struct pg_json *doc = NULL;
	const struct pg_json_value *res;
	int rc;

	if ((rc = parse_doc(body, len, &doc)) != PG_OK)
		goto out;
	res = pg_json_get(pg_json_root(doc), "result");
	if (!pg_json_is(res, PG_JSON_OBJECT)) {
		rc = pg_fail(PG_EPROTO, "etcd: keepalive reply without a result");
		goto out;
	}
	rc = opt_i64(res, "TTL", ttl);
out:
	pg_json_free(&doc);
	return rc;
}

int pg_etcd_parse_header(const char *body, size_t len, int64_t *revision)
{
	struct pg_json *doc = NULL;
	int64_t rev = 0;
	int rc;

	if ((rc = parse_doc(body, len, &doc)) == PG_OK)
		rc = header_rev(pg_json_root(doc), &rev);
	if (rc == PG_OK && revision)
		*revision = rev;
	pg_json_free(&doc);
	return rc;
}

int pg_etcd_parse_delete(const char *body, size_t len, int64_t *deleted)
{
	struct pg_json *doc = NULL;
	int rc;

	if ((rc = parse_doc(body, len, &doc)) == PG_OK)
		rc = opt_i64(pg_json_root(doc), "deleted", deleted);
	pg_json_free(&doc);
	return rc;
}

void pg_etcd_range_clear(struct pg_etcd_range *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		kv_clear(&r->kvs[i]);
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

int pg_etcd_parse_range(const char *body, size_t len, struct pg_etcd_range *out)
{
	struct pg_json *doc = NULL;
	const struct pg_json_value *r, *kvs;
	struct pg_etcd_range res = {0};
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = parse_doc(body, len, &doc)) != PG_OK)
		goto out;
	r = pg_json_root(doc);
	if ((rc = header_rev(r, &res.revision)) != PG_OK)
		goto out;
	kvs = pg_json_get(r, "kvs");
	if (kvs && !pg_json_is(kvs, PG_JSON_ARRAY)) {
		rc = pg_fail(PG_EPROTO, "etcd: kvs is not an array");
		goto out;
	}
	n = pg_json_count(kvs);
	if (n) {
		res.kvs = calloc(n, sizeof(*res.kvs));
		if (!res.kvs) {
			rc = pg_fail(PG_ENOMEM, "etcd: out of memory");
			goto out;
		}
	}
	for (const struct pg_json_value *kv = pg_json_first(kvs); kv && res.n < n; kv = pg_json_next(kv)) {
		if ((rc = parse_kv(kv, &res.kvs[res.n])) != PG_OK)
			goto out;
		res.n++;
	}
	*out = res;
	memset(&res, 0, sizeof(res));
out:
	pg_etcd_range_clear(&res);
	pg_json_free(&doc);
	return rc;
}

void pg_etcd_watch_resp_clear(struct pg_etcd_watch_resp *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_events; i++)
		kv_clear(&w->events[i].kv);
	free(w->events);
	memset(w, 0, sizeof(*w));
}

int pg_etcd_parse_watch(const char *body, size_t len, struct pg_etcd_watch_resp *out)
{
	struct pg_json *doc = NULL;
	const struct pg_json_value *res, *evs;
	struct pg_etcd_watch_resp w = {0};
	const char *reason;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = parse_doc(body, len, &doc)) != PG_OK)
		goto out;
	res = pg_json_get(pg_json_root(doc), "result");
	if (!pg_json_is(res, PG_JSON_OBJECT)) {
		rc = pg_fail(PG_EPROTO, "etcd: watch message without a result");
		goto out;
	}
	if ((rc = header_rev(res, &w.revision)) != PG_OK ||
	    (rc = opt_i64(res, "watch_id", &w.watch_id)) != PG_OK ||
	    (rc = opt_i64(res, "compact_revision", &w.compact_revision)) != PG_OK ||
	    (rc = opt_bool(res, "created", &w.created)) != PG_OK ||
	    (rc = opt_bool(res, "canceled", &w.canceled)) != PG_OK)
		goto out;
	reason = pg_json_str(pg_json_get(res, "cancel_reason"), NULL);
	if (reason)
		snprintf(w.cancel_reason, sizeof(w.cancel_reason), "%s", reason);
	evs = pg_json_get(res, "events");
	if (evs && !pg_json_is(evs, PG_JSON_ARRAY)) {
		rc = pg_fail(PG_EPROTO, "etcd: events is not an array");
		goto out;
	}
	n = pg_json_count(evs);
	if (n) {
		w.events = calloc(n, sizeof(*w.events));
		if (!w.events) {
			rc = pg_fail(PG_ENOMEM, "etcd: out of memory");
			goto out;
		}
	}
	for (const struct pg_json_value *ev = pg_json_first(evs); ev && w.n_events < n; ev = pg_json_next(ev)) {
		size_t i = w.n_events;
		const struct pg_json_value *t = pg_json_get(ev, "type");
		const char *ts;

		if (!pg_json_is(ev, PG_JSON_OBJECT)) {
			rc = pg_fail(PG_EPROTO, "etcd: event is not an object");
			goto out;
		}
		/* mvccpb.Event.EventType: PUT = 0 (omitted), DELETE = 1; the
		 * gateway writes enum names, accept numbers too. */
		if (!t) {
			w.events[i].type = PG_ETCD_PUT;
		} else if ((ts = pg_json_str(t, NULL)) != NULL) {
			if (strcmp(ts, "PUT") == 0)
				w.events[i].type = PG_ETCD_PUT;
			else if (strcmp(ts, "DELETE") == 0)
				w.events[i].type = PG_ETCD_DELETE;
			else {
				rc = pg_fail(PG_EPROTO, "etcd: unknown event type");
				goto out;
			}
		} else {
			int64_t tn = -1;

			if (pg_json_int64(t, false, &tn) != PG_OK || (tn != 0 && tn != 1)) {
				rc = pg_fail(PG_EPROTO, "etcd: unknown event type");
				goto out;
			}
			w.events[i].type = tn ? PG_ETCD_DELETE : PG_ETCD_PUT;
		}
		if ((rc = parse_kv(pg_json_get(ev, "kv"), &w.events[i].kv)) != PG_OK)
			goto out;
		w.n_events++;
	}
	*out = w;
	memset(&w, 0, sizeof(w));
out:
	pg_etcd_watch_resp_clear(&w);
	pg_json_free(&doc);
	return rc;
}

/* ---------------------------------------------------------------- client */

struct pg_etcd {
	char **urls; /* "http(s)://host:port", no trailing slash */
	size_t n;
	char *ca_file, *cert_file, *key_file;
	long connect_ms, request_ms;
	atomic_size_t current; /* endpoint that answered last */
	atomic_bool cancelled;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_opt(const char *s)
{
	return (s && *s) ? strdup(s) : NULL;
}

void pg_etcd_free(struct pg_etcd **pp)
{
	struct pg_etcd *c;

	if (!pp || !*pp)
		return;
	c = *pp;
	for (size_t i = 0; i < c->n; i++)
		free(c->urls[i]);
	free(c->urls);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c);
	*pp = NULL;
}

int pg_etcd_new(const struct pg_etcd_opts *o, struct pg_etcd **out)
{
	struct pg_etcd *c = NULL;
	bool tls;
	int rc;

	*out = NULL;
	if (!o || !o->endpoints || o->n_endpoints == 0)
		return pg_fail(PG_EINVAL, "etcd: no endpoints configured");
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return pg_fail(PG_EINTERNAL, "etcd: curl_global_init failed");
	c = calloc(1, sizeof(*c));
	if (!c)
		return pg_fail(PG_ENOMEM, "etcd: out of memory");
	c->urls = calloc(o->n_endpoints, sizeof(*c->urls));
	c->ca_file = dup_opt(o->ca_file);
	c->cert_file = dup_opt(o->cert_file);
	c->key_file = dup_opt(o->key_file);
	if (!c->urls || (o->ca_file && *o->ca_file && !c->ca_file) ||
	    (o->cert_file && *o->cert_file && !c->cert_file) ||
	    (o->key_file && *o->key_file && !c->key_file)) {
		rc = pg_fail(PG_ENOMEM, "etcd: out of memory");
		goto out;
	}
	if (!!c->cert_file != !!c->key_file) {
		rc = pg_fail(PG_EINVAL, "etcd: a client certificate needs both cert_file and key_file");
		goto out;
	}
	tls = c->ca_file || c->cert_file;
	c->connect_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 1000;
	c->request_ms = o->request_timeout_ms > 0 ? o->request_timeout_ms : 3000;
	for (size_t i = 0; i < o->n_endpoints; i++) {
		const char *e = o->endpoints[i];
		struct pg_buf b;
		size_t l;

		if (!e || !*e) {
			rc = pg_fail(PG_EINVAL, "etcd: endpoint %zu is empty", i + 1);
			goto out;
		}
		pg_buf_init(&b, 1024);
		if (strstr(e, "://")) {
			if (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0) {
				rc = pg_fail(PG_EINVAL, "etcd: endpoint %s: only http:// and https:// are supported", e);
				goto out;
			}
			rc = pg_buf_puts(&b, e);
		} else {
			rc = pg_buf_printf(&b, "%s://%s", tls ? "https" : "http", e);
		}
		if (rc != PG_OK) {
			pg_buf_free(&b);
			rc = pg_fail(PG_EINVAL, "etcd: endpoint %zu is too long", i + 1);
			goto out;
		}
		l = b.len;
		while (l > 0 && b.data[l - 1] == '/')
			b.data[--l] = '\0';
		c->urls[c->n++] = pg_buf_steal(&b, NULL);
	}
	*out = c;
	c = NULL;
	rc = PG_OK;
out:
	pg_etcd_free(&c);
	return rc;
}

void pg_etcd_cancel(struct pg_etcd *c)
{
	if (c)
		atomic_store(&c->cancelled, true);
}

const char *pg_etcd_endpoint(struct pg_etcd *c)
{
	return c->urls[atomic_load(&c->current) % c->n];
}

/* One transfer's state, shared with the curl callbacks. */
struct xfer {
	struct pg_buf reply;  /* unary: the whole body; watch: the partial line */
	pg_etcd_watch_fn *fn; /* watch only */
	void *arg;
	int watch_rc;         /* why the watch callback stopped the transfer */
	bool got_data;
};

static size_t on_watch_data(struct xfer *x, const char *p, size_t n)
{
	if (pg_buf_append(&x->reply, p, n) != PG_OK) {
		x->watch_rc = pg_fail(PG_EPROTO, "etcd: watch message longer than %u bytes", PG_ETCD_MAX_REPLY);
		return 0;
	}
	/* The gateway writes one JSON object per line. */
	for (;;) {
		char *nl = memchr(x->reply.data, '\n', x->reply.len);
		struct pg_etcd_watch_resp w;
		size_t line = nl ? (size_t)(nl - x->reply.data) : 0;
		bool more;
		int rc;

		if (!nl)
			break;
		if (line > 0) {
			rc = pg_etcd_parse_watch(x->reply.data, line, &w);
			if (rc != PG_OK) {
				x->watch_rc = rc;
				return 0;
			}
			if (w.canceled) {
				x->watch_rc = w.compact_revision
						      ? pg_fail(PG_ENOTFOUND, "etcd: watch canceled, revision compacted at %" PRId64,
								w.compact_revision)
						      : pg_fail(PG_EPROTO, "etcd: watch canceled: %s", w.cancel_reason);
				pg_etcd_watch_resp_clear(&w);
				return 0;
			}
			more = x->fn(&w, x->arg);
			pg_etcd_watch_resp_clear(&w);
			if (!more) {
				x->watch_rc = PG_OK;
				return 0;
			}
		}
		memmove(x->reply.data, nl + 1, x->reply.len - line - 1);
		x->reply.len -= line + 1;
		x->reply.data[x->reply.len] = '\0';
	}
	return n;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	x->got_data = true;
	if (x->fn)
		return on_watch_data(x, p, n);
	if (pg_buf_append(&x->reply, p, n) != PG_OK)
		return 0;
	return n;
}

/* True for failures where another endpoint may do better. */
static bool retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* Runs one POST on endpoint `url`; *cc gets curl's result. */
static int perform(struct pg_etcd *c, const char *url, const char *path, const char *body,
		   bool honour_cancel, long timeout_ms, struct xfer *x, CURLcode *cc, long *status)
{
	CURL *h = NULL;
	CURLM *m = NULL;
	struct curl_slist *hdr = NULL;
	char full[1200];
	int running = 1, rc = PG_OK;

	*cc = CURLE_OK;
	*status = 0;
	if ((size_t)snprintf(full, sizeof(full), "%s%s", url, path) >= sizeof(full))
		return pg_fail(PG_EINVAL, "etcd: URL too long");
	h = curl_easy_init();
	m = curl_multi_init();
	hdr = curl_slist_append(NULL, "Content-Type: application/json");
	if (!h || !m || !hdr) {
		rc = pg_fail(PG_ENOMEM, "etcd: curl allocation failed");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, full);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->cert_file) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
	}
	if (curl_multi_add_handle(m, h) != CURLM_OK) {
		rc = pg_fail(PG_EINTERNAL, "etcd: curl_multi_add_handle failed");
		goto out;
	}
	/* A multi loop rather than curl_easy_perform so that cancellation and
	 * the watch tick run at least every POLL_MS. */
	while (running) {
		CURLMcode mc = curl_multi_perform(m, &running);

		if (mc == CURLM_OK && running)
			mc = curl_multi_poll(m, NULL, 0, POLL_MS, NULL);
		if (mc != CURLM_OK) {
			rc = pg_fail(PG_EINTERNAL, "etcd: curl multi: %s", curl_multi_strerror(mc));
			goto out_rm;
		}
		if (honour_cancel && atomic_load(&c->cancelled)) {
			rc = pg_fail(PG_ENET, "etcd: cancelled");
			goto out_rm;
		}
		if (running && x->fn && !x->fn(NULL, x->arg)) {
			x->watch_rc = PG_OK;
			*cc = CURLE_WRITE_ERROR; /* treat like a callback stop */
			goto out_rm;
		}
	}
	{
		CURLMsg *msg;
		int left;

		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE)
				*cc = msg->data.result;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
out_rm:
	curl_multi_remove_handle(m, h);
out:
	curl_slist_free_all(hdr);
	if (m)
		curl_multi_cleanup(m);
	if (h)
		curl_easy_cleanup(h);
	return rc;
}

/* POSTs body to path, failing over across endpoints. For unary calls the
 * reply body is left in x->reply. */
static int request(struct pg_etcd *c, const char *path, const char *body, bool honour_cancel,
		   long timeout_ms, bool total_budget, struct xfer *x)
{
	size_t start = atomic_load(&c->current);
	char first[256] = "";
	size_t tried = 0;
	int64_t deadline = pg_clock_mono_ms() + timeout_ms;
	int rc = PG_OK;

	for (size_t i = 0; i < c->n; i++) {
		size_t ep = (start + i) % c->n;
		long t = timeout_ms;
		CURLcode cc;
		long status;

		pg_buf_reset(&x->reply);
		x->got_data = false;
		if (honour_cancel && atomic_load(&c->cancelled))
			return pg_fail(PG_ENET, "etcd: cancelled");
		if (total_budget) {
			t = (long)(deadline - pg_clock_mono_ms());
			if (t <= 0)
				break;
		}
		tried++;
		rc = perform(c, c->urls[ep], path, body, honour_cancel, t, x, &cc, &status);
		if (rc != PG_OK)
			return rc;
		if (cc == CURLE_OK) {
			atomic_store(&c->current, ep);
			if (x->fn)
				return pg_fail(PG_ENET, "etcd %s%s: stream ended (HTTP %ld)", c->urls[ep], path,
					       status);
			if (!x->fn && status != 200 && x->reply.len == 0)
				return pg_fail(PG_EPROTO, "etcd %s%s: HTTP status %ld", c->urls[ep], path, status);
			return PG_OK;
		}
		if (x->fn && cc == CURLE_WRITE_ERROR) {
			atomic_store(&c->current, ep);
			return x->watch_rc;
		}
		rc = pg_fail(PG_ENET, "etcd %s%s: %s", c->urls[ep], path, curl_easy_strerror(cc));
		/* A watch that already streamed must not silently move on. */
		if (!retryable(cc) || (x->fn && x->got_data))
			return rc;
		if (i == 0)
			snprintf(first, sizeof(first), "%s", pg_errmsg());
		pg_debug(MOD, "%s; trying the next endpoint", pg_errmsg());
	}
	/* Report the preferred endpoint's failure: it is the telling one. */
	if (tried > 1 && first[0])
		return pg_fail(PG_ENET, "%s (and %zu other endpoint%s failed)", first, tried - 1,
			       tried > 2 ? "s" : "");
	if (tried == 1 && first[0])
		return pg_fail(PG_ENET, "%s", first);
	return rc;
}

/* timeout_ms > 0 is a budget for all endpoints together; 0 means the
 * client's request timeout for each endpoint. */
static int unary(struct pg_etcd *c, const char *path, const char *body, bool honour_cancel,
		 long timeout_ms, struct xfer *x)
{
	memset(x, 0, sizeof(*x));
	pg_buf_init(&x->reply, PG_ETCD_MAX_REPLY);
	return request(c, path, body, honour_cancel, timeout_ms ? timeout_ms : c->request_ms,
		       timeout_ms > 0, x);
}

int pg_etcd_lease_grant(struct pg_etcd *c, int64_t ttl, int64_t *id, int64_t *granted_ttl)
{
	char body[64];
	struct xfer x;
	int rc;

	snprintf(body, sizeof(body), "{\"TTL\":%" PRId64 "}", ttl);
	if ((rc = unary(c, "/v3/lease/grant", body, true, 0, &x)) == PG_OK)
		rc = pg_etcd_parse_grant(x.reply.data, x.reply.len, id, granted_ttl);
	pg_buf_free(&x.reply);
	return rc;
}

int pg_etcd_lease_keepalive(struct pg_etcd *c, int64_t id, int64_t *ttl)
{
	char body[64];
	struct xfer x;
	int rc;

	/* The gateway maps this bidi stream to one request, one reply. */
	snprintf(body, sizeof(body), "{\"ID\":\"%" PRId64 "\"}", id);
	if ((rc = unary(c, "/v3/lease/keepalive", body, true, 0, &x)) == PG_OK)
		rc = pg_etcd_parse_keepalive(x.reply.data, x.reply.len, ttl);
	if (rc == PG_OK && *ttl <= 0)
		rc = pg_fail(PG_ENOTFOUND, "etcd: lease %" PRId64 " not found (expired or revoked)", id);
	pg_buf_free(&x.reply);
	return rc;
}

int pg_etcd_lease_revoke(struct pg_etcd *c, int64_t id, long timeout_ms)
{
	char body[64];
	struct xfer x;
	int rc;

	snprintf(body, sizeof(body), "{\"ID\":\"%" PRId64 "\"}", id);
	if ((rc = unary(c, "/v3/lease/revoke", body, false, timeout_ms, &x)) == PG_OK)
		rc = pg_etcd_parse_header(x.reply.data, x.reply.len, NULL);
	pg_buf_free(&x.reply);
	return rc;
}

/* Appends "name":"<base64 of s[0..n)>". */
static int put_b64(struct pg_buf *b, const char *name, const char *s, size_t n)
{
	char *enc;
	size_t cap;
	int rc;

	if (n > PG_ETCD_MAX_KV)
		return pg_fail(PG_EINVAL, "etcd: %s longer than %u bytes", name, PG_ETCD_MAX_KV);
	cap = (n + 2) / 3 * 4 + 1;
	enc = malloc(cap);
	if (!enc)
		return pg_fail(PG_ENOMEM, "etcd: out of memory");
	if ((rc = pg_base64_encode(s, n, enc, cap)) == PG_OK)
		rc = pg_buf_printf(b, "\"%s\":\"%s\"", name, enc);
	free(enc);
	return rc;
}

/* Appends "key":...,"range_end":... for a key or prefix. */
static int put_range(struct pg_buf *b, const char *key, bool prefix)
{
	size_t kl = strlen(key), el;
	char *end;
	int rc;

	if ((rc = put_b64(b, "key", key, kl)) != PG_OK || !prefix)
		return rc;
	end = malloc(kl + 2);
	if (!end)
		return pg_fail(PG_ENOMEM, "etcd: out of memory");
	if ((rc = pg_etcd_prefix_end(key, kl, end, kl + 2, &el)) == PG_OK &&
	    (rc = pg_buf_puts(b, ",")) == PG_OK)
		rc = put_b64(b, "range_end", end, el);
	free(end);
	return rc;
}

int pg_etcd_put(struct pg_etcd *c, const char *key, const char *value, int64_t lease)
{
	struct pg_buf b;
	struct xfer x = {0};
	int rc;

	pg_buf_init(&b, BODY_MAX);
	pg_buf_init(&x.reply, 1);
	if ((rc = pg_buf_puts(&b, "{")) != PG_OK || (rc = put_b64(&b, "key", key, strlen(key))) != PG_OK ||
	    (rc = pg_buf_puts(&b, ",")) != PG_OK ||
	    (rc = put_b64(&b, "value", value, strlen(value))) != PG_OK ||
	    (lease && (rc = pg_buf_printf(&b, ",\"lease\":\"%" PRId64 "\"", lease)) != PG_OK) ||
	    (rc = pg_buf_puts(&b, "}")) != PG_OK)
		goto out;
	if ((rc = unary(c, "/v3/kv/put", b.data, true, 0, &x)) == PG_OK)
		rc = pg_etcd_parse_header(x.reply.data, x.reply.len, NULL);
out:
	pg_buf_free(&x.reply);
	pg_buf_free(&b);
	return rc;
}

int pg_etcd_get(struct pg_etcd *c, const char *key, bool prefix, struct pg_etcd_range *out)
{
	struct pg_buf b;
	struct xfer x = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	pg_buf_init(&b, BODY_MAX);
	pg_buf_init(&x.reply, 1);
	if ((rc = pg_buf_puts(&b, "{")) != PG_OK || (rc = put_range(&b, key, prefix)) != PG_OK ||
	    (rc = pg_buf_puts(&b, "}")) != PG_OK)
		goto out;
	if ((rc = unary(c, "/v3/kv/range", b.data, true, 0, &x)) == PG_OK)
		rc = pg_etcd_parse_range(x.reply.data, x.reply.len, out);
out:
	pg_buf_free(&x.reply);
	pg_buf_free(&b);
	return rc;
}

int pg_etcd_delete(struct pg_etcd *c, const char *key, bool prefix, int64_t *deleted)
{
	struct pg_buf b;
	struct xfer x = {0};
	int64_t d = 0;
	int rc;

	pg_buf_init(&b, BODY_MAX);
	pg_buf_init(&x.reply, 1);
	if ((rc = pg_buf_puts(&b, "{")) != PG_OK || (rc = put_range(&b, key, prefix)) != PG_OK ||
	    (rc = pg_buf_puts(&b, "}")) != PG_OK)
		goto out;
	if ((rc = unary(c, "/v3/kv/deleterange", b.data, true, 0, &x)) == PG_OK)
		rc = pg_etcd_parse_delete(x.reply.data, x.reply.len, &d);
	if (rc == PG_OK && deleted)
		*deleted = d;
out:
	pg_buf_free(&x.reply);
	pg_buf_free(&b);
	return rc;
}

int pg_etcd_watch(struct pg_etcd *c, const char *key, bool prefix, int64_t start_rev,
		  pg_etcd_watch_fn *fn, void *arg)
{
	struct pg_buf b;
	struct xfer x = {0};
	int rc;

	if (!fn)
		return pg_fail(PG_EINVAL, "etcd: watch without a callback");
	pg_buf_init(&b, BODY_MAX);
	pg_buf_init(&x.reply, PG_ETCD_MAX_REPLY);
	x.fn = fn;
	x.arg = arg;
	if ((rc = pg_buf_puts(&b, "{\"create_request\":{")) != PG_OK ||
	    (rc = put_range(&b, key, prefix)) != PG_OK ||
	    (start_rev > 0 && (rc = pg_buf_printf(&b, ",\"start_revision\":\"%" PRId64 "\"", start_rev)) != PG_OK) ||
	    (rc = pg_buf_puts(&b, "}}")) != PG_OK)
		goto out;
	/* No overall timeout: a watch lives until the callback ends it. */
	rc = request(c, "/v3/watch", b.data, true, 0, false, &x);
out:
	pg_buf_free(&x.reply);
	pg_buf_free(&b);
	return rc;
}

const char *pg_etcd_config_prefix(const struct pg_config *cfg)
{
	return cfg->etcd_prefix[0] ? cfg->etcd_prefix : "/goverse";
}

int pg_etcd_new_from_config(const struct pg_config *cfg, struct pg_etcd **out)
{
	const char *eps[PG_CONFIG_MAX_ENDPOINTS];
	struct pg_etcd_opts o = {0};

	*out = NULL;
	if (!cfg || cfg->n_etcd_endpoints == 0 || cfg->n_etcd_endpoints > PG_CONFIG_MAX_ENDPOINTS)
		return pg_fail(PG_EINVAL, "cluster: need 1..%d etcd endpoints", PG_CONFIG_MAX_ENDPOINTS);
	for (size_t i = 0; i < cfg->n_etcd_endpoints; i++)
		eps[i] = cfg->etcd_endpoints[i];
	o.endpoints = eps;
	o.n_endpoints = cfg->n_etcd_endpoints;
	o.ca_file = cfg->etcd_ca_file;
	o.cert_file = cfg->etcd_cert_file;
	o.key_file = cfg->etcd_key_file;
	return pg_etcd_new(&o, out);
}
