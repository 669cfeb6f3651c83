/* pprofgatectl nodes and fetch --cluster: the cluster as etcd knows it.
 *
 * The CLI reads etcd the way a node does (src/cluster/etcd.c, built by the
 * node's own constructor from a config holding --etcd, --etcd-prefix and the
 * etcd TLS files): Goverse's <prefix>/nodes/ keys, the diagnostics endpoints
 * nodes publish (<prefix>/diagnostics/endpoints/, src/cluster/endpoint.h) and
 * the cluster window record (<prefix>/diagnostics/window). It then talks to
 * every node's diagnostics listener at once with the operator's credentials
 * (src/cli/upstream.c) through one libcurl multi handle: at most --parallel
 * transfers at a time, each bounded by its own timeout, one line per node as
 * it finishes. fetch --cluster writes each node's profile atomically and
 * merges them (src/pprof/merge.c) with a node label on every sample. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/cli/args.h"
#include "src/cli/cmd.h"
#include "src/cluster/endpoint.h"
#include "src/cluster/etcd.h"
#include "src/cluster/window_record.h"
#include "src/pprof/merge.h"
#include "src/util/file.h"

#define MAX_PROFILE (512u * 1024u * 1024u)

struct node {
	char advertise[PG_CONFIG_ADDR_MAX];
	bool has_ep;
	struct pg_endpoint ep;
};

/* One request to one node. */
struct job {
	struct node *n;
	char url[PG_ENDPOINT_URL_MAX + 64];
	char connect_to[2 * PG_ENDPOINT_NAME_MAX + 32];
	struct curl_slist *ct;
	long timeout_s;
	FILE *f;            /* the body goes here; NULL: the first bytes into body[] */
	char tmp[4200];     /* f's temporary path */
	char body[512];
	size_t body_len;
	long written;
	bool too_big;
	CURL *h;
	CURLcode cc;
	long status;
	char err[CURL_ERROR_SIZE];
	double secs;
	char capture[128];  /* X-Pprofgate-Capture, if sent */
	bool ok;            /* fetch --cluster: written to DIR/<node>.pb.gz */
};

/* ---- etcd ---- */

int pg_cli_etcd_open(const struct pg_cli_conn *c, const char *pfx, struct pg_etcd **out, char *prefix, size_t cap)
{
	struct pg_config *cfg = calloc(1, sizeof(*cfg));
	const char *p = c->etcd;
	size_t plen = strlen(c->etcd_prefix);
	int rc = PG_CLI_USAGE;

	*out = NULL;
	if (!cfg) {
		fprintf(stderr, "%s: out of memory\n", pfx);
		return PG_CLI_FAILED;
	}
	while (*p) {
		size_t l = strcspn(p, ",");

		if (cfg->n_etcd_endpoints == PG_CONFIG_MAX_ENDPOINTS || l == 0 || l >= PG_CONFIG_ADDR_MAX)
			goto bad;
		memcpy(cfg->etcd_endpoints[cfg->n_etcd_endpoints], p, l);
		cfg->etcd_endpoints[cfg->n_etcd_endpoints][l] = '\0';
		if (!pg_cli_endpoint_ok(cfg->etcd_endpoints[cfg->n_etcd_endpoints++]))
			goto bad;
		p += l + (p[l] == ',');
	}
	if (cfg->n_etcd_endpoints == 0)
		goto bad;
	if (plen == 0 || plen >= sizeof(cfg->etcd_prefix) || c->etcd_prefix[0] != '/' ||
	    (plen > 1 && c->etcd_prefix[plen - 1] == '/')) {
		fprintf(stderr, "%s: --etcd-prefix is a key prefix starting with '/' without a trailing '/', "
				"e.g. /goverse\n", pfx);
		goto out;
	}
	if ((c->etcd_cert && !c->etcd_key) || (!c->etcd_cert && c->etcd_key)) {
		fprintf(stderr, "%s: --etcd-cert and --etcd-key go together\n", pfx);
		goto out;
	}
	snprintf(cfg->etcd_prefix, sizeof(cfg->etcd_prefix), "%s", c->etcd_prefix);
	snprintf(cfg->etcd_ca_file, sizeof(cfg->etcd_ca_file), "%s", c->etcd_cacert ? c->etcd_cacert : "");
	snprintf(cfg->etcd_cert_file, sizeof(cfg->etcd_cert_file), "%s", c->etcd_cert ? c->etcd_cert : "");
	snprintf(cfg->etcd_key_file, sizeof(cfg->etcd_key_file), "%s", c->etcd_key ? c->etcd_key : "");
	if (pg_etcd_new_from_config(cfg, out) != PG_OK) {
		fprintf(stderr, "%s: etcd: %s\n", pfx, pg_errmsg());
		rc = PG_CLI_FAILED;
		goto out;
	}
	snprintf(prefix, cap, "%s", pg_etcd_config_prefix(cfg));
	rc = PG_CLI_OK;
	goto out;
bad:
	fprintf(stderr, "%s: --etcd takes HOST:PORT[,HOST:PORT...] (at most %d)\n", pfx, PG_CONFIG_MAX_ENDPOINTS);
out:
	free(cfg);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	const struct node *x = a, *y = b;
	return strcmp(x->has_ep ? x->ep.node : x->advertise, y->has_ep ? y->ep.node : y->advertise);
}

/* The nodes under <prefix>/nodes/ and the endpoints they publish, sorted by
 * name. Endpoint records that do not parse are reported and left out. */
static int discover(struct pg_etcd *e, const char *prefix, const char *pfx, struct node **out, size_t *n_out)
{
	char key[PG_CONFIG_ADDR_MAX + 64];
	struct pg_etcd_range nr = {0}, er = {0};
	struct node *v = NULL;
	size_t n = 0, plen;
	int rc = PG_CLI_ETCD;

	*out = NULL;
	*n_out = 0;
	snprintf(key, sizeof(key), "%s/nodes/", prefix);
	if (pg_etcd_get(e, key, true, &nr) != PG_OK) {
		fprintf(stderr, "%s: cannot read %s from etcd %s: %s\n", pfx, key, pg_etcd_endpoint(e), pg_errmsg());
		goto out;
	}
	if (pg_endpoint_prefix(prefix, key, sizeof(key)) != PG_OK ||
	    pg_etcd_get(e, key, true, &er) != PG_OK) {
		fprintf(stderr, "%s: cannot read %s from etcd: %s\n", pfx, key, pg_errmsg());
		goto out;
	}
	plen = strlen(key);
	v = calloc(nr.n + er.n + 1, sizeof(*v));
	if (!v) {
		rc = PG_CLI_FAILED;
		goto out;
	}
	for (size_t i = 0; i < nr.n; i++)
		snprintf(v[n++].advertise, sizeof(v->advertise), "%s", nr.kvs[i].value);
	for (size_t i = 0; i < er.n; i++) {
		const char *adv = er.kvs[i].key + plen;
		struct node *t = NULL;
		struct pg_endpoint ep;

		if (er.kvs[i].key_len <= plen)
			continue;
		if (pg_endpoint_parse(er.kvs[i].value, er.kvs[i].value_len, &ep) != PG_OK) {
			fprintf(stderr, "%s: ignoring %.200s: %s\n", pfx, er.kvs[i].key, pg_errmsg());
			continue;
		}
		for (size_t k = 0; k < n && !t; k++)
			if (strcmp(v[k].advertise, adv) == 0)
				t = &v[k];
		if (!t) {
			t = &v[n++];
			snprintf(t->advertise, sizeof(t->advertise), "%s", adv);
		}
		t->has_ep = true;
		t->ep = ep;
	}
	qsort(v, n, sizeof(*v), by_name);
	*out = v;
	*n_out = n;
	v = NULL;
	rc = PG_CLI_OK;
out:
	free(v);
	pg_etcd_range_clear(&nr);
	pg_etcd_range_clear(&er);
	return rc;
}

/* The cluster window as etcd holds it: 1 open (rec filled, *left_ms), 0
 * none, -1 etcd did not answer. */
static int cluster_window(struct pg_etcd *e, const char *prefix, struct pg_window_record *rec, int64_t *left_ms)
{
	char key[PG_CONFIG_ADDR_MAX + 32];
	struct pg_etcd_range r = {0};
	struct timespec now;
	int open = 0;

	snprintf(key, sizeof(key), "%s/diagnostics/window", prefix);
	if (pg_etcd_get(e, key, false, &r) != PG_OK)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	if (r.n == 1 && pg_window_record_parse(r.kvs[0].value, r.kvs[0].value_len, rec) == PG_OK) {
		*left_ms = pg_window_record_remaining_ms(rec, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
							 INT64_MAX / 4);
		open = *left_ms > 0;
	}
	pg_etcd_range_clear(&r);
	pg_err_clear();
	return open;
}

/* What both commands start from: credentials, etcd, the nodes and the
 * cluster window. */
struct cluster {
	struct pg_cli_upstream u;
	struct pg_etcd *e;
	char prefix[PG_CONFIG_ADDR_MAX];
	struct node *nodes;
	size_t n;
	struct pg_window_record rec;
	int64_t left_ms;
	int open; /* cluster_window() */
};

static int cluster_open(const struct pg_cli_conn *c, const char *pfx, struct cluster *cl)
{
	int rc;

	memset(cl, 0, sizeof(*cl));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((rc = pg_cli_etcd_open(c, pfx, &cl->e, cl->prefix, sizeof(cl->prefix))) != PG_CLI_OK)
		return rc;
	if ((rc = pg_cli_upstream_open(c, pfx, &cl->u)) != PG_CLI_OK)
		return rc;
	if ((rc = discover(cl->e, cl->prefix, pfx, &cl->nodes, &cl->n)) != PG_CLI_OK)
		return rc;
	cl->open = cluster_window(cl->e, cl->prefix, &cl->rec, &cl->left_ms);
	return PG_CLI_OK;
}

static void cluster_close(struct cluster *cl)
{
	free(cl->nodes);
	cl->nodes = NULL;
	pg_cli_upstream_close(&cl->u);
	pg_etcd_free(&cl->e);
	curl_global_cleanup();
}

/* ---- requests to every node at once ---- */

/* The URL to ask, and a CURLOPT_CONNECT_TO entry when the published TLS
 * server name is not the URL's host: curl then verifies the certificate for
 * that name while connecting to the URL's address. */
static void job_url(struct job *j, const char *path)
{
	const struct pg_endpoint *ep = &j->n->ep;
	const char *a = strstr(ep->url, "://") + 3, *rest;
	char host[PG_ENDPOINT_NAME_MAX + 2], port[8] = "";
	size_t hl;
	bool https = strncmp(ep->url, "https", 5) == 0;

	rest = a + strcspn(a, "/");
	if (*a == '[') {
		const char *e = memchr(a, ']', (size_t)(rest - a));
		hl = e ? (size_t)(e - a + 1) : (size_t)(rest - a);
	} else {
		hl = strcspn(a, ":/");
	}
	snprintf(host, sizeof(host), "%.*s", (int)(hl < sizeof(host) - 1 ? hl : 0), a);
	if (a[hl] == ':')
		snprintf(port, sizeof(port), "%.*s", (int)strcspn(a + hl + 1, "/"), a + hl + 1);
	if (!port[0])
		snprintf(port, sizeof(port), "%s", https ? "443" : "80");
	j->connect_to[0] = '\0';
	if (https && ep->tls_server_name[0] && strcmp(ep->tls_server_name, host) != 0 &&
	    !(host[0] == '[' && strncmp(host + 1, ep->tls_server_name, strlen(ep->tls_server_name)) == 0)) {
		bool v6 = strchr(ep->tls_server_name, ':') != NULL;

		snprintf(j->url, sizeof(j->url), "https://%s%s%s:%s%s%s", v6 ? "[" : "", ep->tls_server_name,
			 v6 ? "]" : "", port, rest, path);
		snprintf(j->connect_to, sizeof(j->connect_to), "%s:%s:%s:%s", ep->tls_server_name, port, host, port);
	} else {
		snprintf(j->url, sizeof(j->url), "%s%s", ep->url, path);
	}
}

/* A bearer token goes only where a published record cannot send it
 * astray: over HTTPS verified against --cacert (the CA of your nodes, not
 * the system's bundle). Anyone who can write to etcd chooses these URLs. */
static const char *token_refusal(const struct pg_cli_conn *c, const struct pg_endpoint *ep)
{
	if (!c->token || getenv("PPROFGATE_ALLOW_PLAINTEXT_TOKEN"))
		return NULL;
	if (strncmp(ep->url, "https://", 8) != 0)
		return "refusing to send a bearer token over plain HTTP (RFC 6750 §5.3)";
	if (!c->cacert)
		return "a bearer token goes to published URLs only with --cacert (the CA of your nodes)";
	return NULL;
}

static size_t job_data(char *p, size_t sz, size_t n, void *arg)
{
	struct job *j = arg;
	size_t len = sz * n;

	if (j->written + (long)len > (long)MAX_PROFILE) {
		j->too_big = true;
		return 0;
	}
	if (j->body_len < sizeof(j->body) - 1) {
		size_t k = len < sizeof(j->body) - 1 - j->body_len ? len : sizeof(j->body) - 1 - j->body_len;
		memcpy(j->body + j->body_len, p, k);
		j->body_len += k;
		j->body[j->body_len] = '\0';
	}
	if (j->f && fwrite(p, 1, len, j->f) != len)
		return 0;
	j->written += (long)len;
	return len;
}

static size_t job_header(char *p, size_t sz, size_t n, void *arg)
{
	static const char cap[] = "x-pprofgate-capture:";
	struct job *j = arg;
	size_t len = sz * n, i = sizeof(cap) - 1, vl = 0;

	if (len > i && strncasecmp(p, cap, i) == 0) {
		while (i < len && p[i] == ' ')
			i++;
		while (i < len && vl + 1 < sizeof(j->capture) && (unsigned char)p[i] >= 0x20 && p[i] != 0x7f)
			j->capture[vl++] = p[i++];
		j->capture[vl] = '\0';
	}
	return len;
}

typedef void job_done_fn(struct job *j, void *arg);

/* Runs jobs[0..n) with at most `parallel` at once, calling done(j) as each
 * ends. */
static int run_jobs(const struct pg_cli_upstream *u, struct job *jobs, size_t n, size_t parallel,
		    job_done_fn *done, void *arg)
{
	CURLM *m = curl_multi_init();
	size_t next = 0, running = 0;
	struct timespec t0;

	if (!m)
		return PG_CLI_FAILED;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (next < n || running > 0) {
		CURLMsg *msg;
		int still = 0, left = 0;

		while (next < n && running < parallel) {
			struct job *j = &jobs[next++];

			j->h = curl_easy_init();
			if (!j->h) {
				j->cc = CURLE_OUT_OF_MEMORY;
				done(j, arg);
				continue;
			}
			pg_cli_upstream_setup(j->h, u, j->url, j->timeout_s, j->err);
			curl_easy_setopt(j->h, CURLOPT_WRITEFUNCTION, job_data);
			curl_easy_setopt(j->h, CURLOPT_WRITEDATA, j);
			curl_easy_setopt(j->h, CURLOPT_HEADERFUNCTION, job_header);
			curl_easy_setopt(j->h, CURLOPT_HEADERDATA, j);
			curl_easy_setopt(j->h, CURLOPT_PRIVATE, j);
			if (j->connect_to[0]) {
				j->ct = curl_slist_append(NULL, j->connect_to);
				curl_easy_setopt(j->h, CURLOPT_CONNECT_TO, j->ct);
			}
			curl_multi_add_handle(m, j->h);
			running++;
		}
		curl_multi_perform(m, &still);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct job *j = NULL;
			struct timespec t1;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			j->cc = msg->data.result;
			curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &j->status);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			j->secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
			curl_multi_remove_handle(m, j->h);
			curl_easy_cleanup(j->h);
			j->h = NULL;
			curl_slist_free_all(j->ct);
			j->ct = NULL;
			running--;
			done(j, arg);
		}
		if (running > 0)
			curl_multi_poll(m, NULL, 0, 200, NULL);
	}
	curl_multi_cleanup(m);
	return PG_CLI_OK;
}

/* What went wrong with a finished job, as a sentence and an exit code;
 * PG_CLI_OK for a 200. */
static int job_outcome(const struct job *j, char *why, size_t cap)
{
	char reason[64];

	if (j->cc != CURLE_OK) {
		if (j->too_big) {
			snprintf(why, cap, "the profile is larger than %u bytes", MAX_PROFILE);
			return PG_CLI_SERVER;
		}
		snprintf(why, cap, "cannot reach %s: %s", j->url, j->err[0] ? j->err : curl_easy_strerror(j->cc));
		return PG_CLI_UNREACHABLE;
	}
	if (j->status == 200)
		return PG_CLI_OK;
	pg_cli_reason_of(j->body, reason, sizeof(reason));
	snprintf(why, cap, "HTTP %ld%s%s", j->status, reason[0] ? " " : "", reason);
	return j->status == 401 || j->status == 403 ? PG_CLI_DENIED
	       : j->status == 400 || j->status == 404 ? PG_CLI_USAGE
						      : PG_CLI_SERVER;
}

/* ---- pprofgatectl nodes ---- */

static void nodes_usage(FILE *f)
{
	fputs("usage: pprofgatectl nodes\n"
	      "Lists the cluster's nodes from etcd (--etcd, --etcd-prefix): each node's diagnostics URL\n"
	      "as it publishes it, and whether a diagnostics window is open on it for you (asked with\n"
	      "your credentials: --cert/--key or PPROFGATE_TOKEN, --cacert), after the cluster window\n"
	      "record.\n",
	      f);
}

static void node_done(struct job *j, void *arg)
{
	(void)j;
	(void)arg;
}

static void node_line(const struct job *j)
{
	char why[CURL_ERROR_SIZE + 600];
	int rc = job_outcome(j, why, sizeof(why));
	bool closed = rc != PG_CLI_OK && strstr(why, "window_closed") != NULL;

	printf("%-20s %-40s %s%s\n", j->n->ep.node, j->n->ep.url,
	       rc == PG_CLI_OK ? "open" : closed ? "closed" : "unknown: ", rc == PG_CLI_OK || closed ? "" : why);
}

static void print_cluster_window(int open, const struct pg_window_record *rec, int64_t left_ms)
{
	char left[32];

	if (open < 0) {
		printf("cluster window: unknown (etcd: %s)\n", pg_errmsg());
	} else if (open == 0) {
		printf("cluster window: none\n");
	} else {
		pg_cli_format_secs(left_ms / 1000, left, sizeof(left));
		printf("cluster window: open by %s (\"%s\"), %s left\n", rec->opened_by, rec->reason, left);
	}
}

int pg_cli_cmd_nodes(struct pg_cli_conn *c, int argc, char **argv)
{
	static const char pfx[] = "pprofgatectl nodes";
	struct cluster cl;
	struct job *jobs = NULL;
	size_t nj = 0;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			nodes_usage(stdout);
			return PG_CLI_OK;
		}
		fprintf(stderr, "%s: %s is not expected here\n", pfx, argv[i]);
		return PG_CLI_USAGE;
	}
	if ((rc = cluster_open(c, pfx, &cl)) != PG_CLI_OK)
		goto out;
	print_cluster_window(cl.open, &cl.rec, cl.left_ms);
	if (cl.n == 0) {
		printf("no nodes under %s/nodes/ in etcd %s\n", cl.prefix, c->etcd);
		goto out;
	}
	printf("%-20s %-40s %s\n", "NODE", "DIAGNOSTICS URL", "WINDOW");
	jobs = calloc(cl.n, sizeof(*jobs));
	if (!jobs) {
		rc = PG_CLI_FAILED;
		goto out;
	}
	for (size_t i = 0; i < cl.n; i++) {
		if (!cl.nodes[i].has_ep || token_refusal(c, &cl.nodes[i].ep))
			continue;
		jobs[nj].n = &cl.nodes[i];
		jobs[nj].timeout_s = c->timeout_s;
		job_url(&jobs[nj++], "/debug/pprof/");
	}
	rc = run_jobs(&cl.u, jobs, nj, 16, node_done, NULL);
	for (size_t i = 0, k = 0; i < cl.n; i++) {
		if (cl.nodes[i].has_ep && token_refusal(c, &cl.nodes[i].ep))
			printf("%-20s %-40s unknown: %s\n", cl.nodes[i].ep.node, cl.nodes[i].ep.url, token_refusal(c, &cl.nodes[i].ep));
		else if (cl.nodes[i].has_ep)
			node_line(&jobs[k++]);
		else
			printf("%-20s %-40s %s\n", cl.nodes[i].advertise, "-", "(publishes no diagnostics endpoint)");
	}
out:
	free(jobs);
	cluster_close(&cl);
	return rc;
}

/* ---- pprofgatectl fetch --cluster ---- */

struct cluster_fetch {
	const char *dir, *profile;
	size_t ok, failed;
	int worst; /* exit code of a failure */
};

static void fetched(struct job *j, void *arg)
{
	struct cluster_fetch *cf = arg;
	char why[CURL_ERROR_SIZE + 8800], dst[4200];
	int rc = job_outcome(j, why, sizeof(why));

	if (j->f) {
		if (fflush(j->f) != 0 || fsync(fileno(j->f)) != 0) {
			if (rc == PG_CLI_OK)
				snprintf(why, sizeof(why), "writing %s failed: %s", j->tmp, strerror(errno));
			rc = rc == PG_CLI_OK ? PG_CLI_FAILED : rc;
		}
		if (fclose(j->f) != 0 && rc == PG_CLI_OK) {
			snprintf(why, sizeof(why), "writing %s failed", j->tmp);
			rc = PG_CLI_FAILED;
		}
		j->f = NULL;
	}
	snprintf(dst, sizeof(dst), "%s/%s.pb.gz", cf->dir, j->n->ep.node);
	if (rc == PG_CLI_OK && rename(j->tmp, dst) != 0) {
		snprintf(why, sizeof(why), "cannot rename to %s: %s", dst, strerror(errno));
		rc = PG_CLI_FAILED;
	}
	if (rc != PG_CLI_OK) {
		unlink(j->tmp);
		j->tmp[0] = '\0';
		cf->failed++;
		if (cf->worst == PG_CLI_OK || cf->worst == PG_CLI_UNREACHABLE)
			cf->worst = rc;
		fprintf(stderr, "%s: failed: %s\n", j->n->ep.node, why);
		return;
	}
	j->tmp[0] = '\0';
	j->ok = true;
	cf->ok++;
	fprintf(stderr, "%s: %ld bytes in %.1f s%s%s -> %s\n", j->n->ep.node, j->written, j->secs,
		j->capture[0] ? ", " : "", j->capture, dst);
}

/* Reads the nodes' files back and writes DIR/merged.pb.gz atomically. */
static int merge_files(const char *pfx, const char *dir, struct job *jobs, size_t n)
{
	struct pg_pprof_merge_in *in = calloc(n ? n : 1, sizeof(*in));
	char **data = calloc(n ? n : 1, sizeof(*data));
	char path[4200], tmp[4300];
	struct pg_buf out;
	size_t k = 0;
	int rc = PG_CLI_FAILED, fd = -1;

	pg_buf_init(&out, 1u << 30);
	if (!in || !data)
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t len = 0;

		if (!jobs[i].ok)
			continue;
		snprintf(path, sizeof(path), "%s/%s.pb.gz", dir, jobs[i].n->ep.node);
		if (pg_file_read(path, MAX_PROFILE, 0, &data[k], &len) != PG_OK) {
			fprintf(stderr, "%s: %s\n", pfx, pg_errmsg());
			continue;
		}
		in[k] = (struct pg_pprof_merge_in){data[k], len, jobs[i].n->ep.node};
		k++;
	}
	if (k == 0)
		goto out;
	if (pg_pprof_merge(in, k, "node", &out) != PG_OK) {
		fprintf(stderr, "%s: not merged: %s\n", pfx, pg_errmsg());
		rc = PG_CLI_PARTIAL;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/merged.pb.gz", dir);
	snprintf(tmp, sizeof(tmp), "%s/.merged.pb.gz.tmp.XXXXXX", dir);
	fd = mkstemp(tmp);
	if (fd < 0 || write(fd, out.data, out.len) != (ssize_t)out.len || fsync(fd) != 0 || close(fd) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "%s: cannot write %s: %s\n", pfx, path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
		goto out;
	}
	fprintf(stderr, "merged %zu profile%s -> %s (%zu bytes; label node=<name> on every sample)\n", k,
		k == 1 ? "" : "s", path, out.len);
	rc = PG_CLI_OK;
out:
	for (size_t i = 0; data && i < n; i++)
		free(data[i]);
	free(data);
	free(in);
	pg_buf_free(&out);
	return rc;
}

int pg_cli_fetch_cluster(struct pg_cli_conn *c, const char *profile, long seconds, const char *dir, long parallel)
{
	static const char pfx[] = "pprofgatectl fetch";
	struct cluster cl;
	struct job *jobs = NULL;
	struct cluster_fetch cf = {dir, profile, 0, 0, PG_CLI_OK};
	char path[64], left_s[32];
	size_t nj = 0;
	int rc;

	if ((rc = cluster_open(c, pfx, &cl)) != PG_CLI_OK)
		goto out;
	if (cl.open <= 0) {
		fprintf(stderr, "%s: %s; open one first: pprofgatectl window open --cluster --for 10m --reason TEXT\n",
			pfx, cl.open < 0 ? "cannot read the cluster window from etcd" : "no cluster window is open");
		rc = cl.open < 0 ? PG_CLI_ETCD : PG_CLI_DENIED;
		goto out;
	}
	pg_cli_format_secs(cl.left_ms / 1000, left_s, sizeof(left_s));
	if (seconds > 0 && cl.left_ms / 1000 < seconds)
		fprintf(stderr, "%s: the cluster window ends in %s: nodes shorten the capture to it\n", pfx, left_s);
	if (cl.n == 0) {
		fprintf(stderr, "%s: no nodes under %s/nodes/ in etcd %s\n", pfx, cl.prefix, c->etcd);
		rc = PG_CLI_FAILED;
		goto out;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "%s: cannot create %s: %s\n", pfx, dir, strerror(errno));
		rc = PG_CLI_FAILED;
		goto out;
	}
	jobs = calloc(cl.n, sizeof(*jobs));
	if (!jobs) {
		rc = PG_CLI_FAILED;
		goto out;
	}
	if (seconds >= 0)
		snprintf(path, sizeof(path), "/debug/pprof/%s?seconds=%ld", profile, seconds);
	else
		snprintf(path, sizeof(path), "/debug/pprof/%s", profile);
	for (size_t i = 0; i < cl.n; i++) {
		struct job *j = &jobs[nj];
		int fd;

		if (!cl.nodes[i].has_ep) {
			fprintf(stderr, "%s: failed: publishes no diagnostics endpoint\n", cl.nodes[i].advertise);
			cf.failed++;
			cf.worst = cf.worst == PG_CLI_OK ? PG_CLI_UNREACHABLE : cf.worst;
			continue;
		}
		if (token_refusal(c, &cl.nodes[i].ep)) {
			fprintf(stderr, "%s: failed: %s\n", cl.nodes[i].ep.node, token_refusal(c, &cl.nodes[i].ep));
			cf.failed++;
			cf.worst = cf.worst == PG_CLI_OK ? PG_CLI_USAGE : cf.worst;
			continue;
		}
		j->n = &cl.nodes[i];
		j->timeout_s = c->timeout_s + (seconds > 0 ? seconds : 30);
		job_url(j, path);
		snprintf(j->tmp, sizeof(j->tmp), "%s/.%s.pb.gz.tmp.XXXXXX", dir, cl.nodes[i].ep.node);
		fd = mkstemp(j->tmp);
		if (fd < 0 || !(j->f = fdopen(fd, "wb"))) {
			fprintf(stderr, "%s: cannot create a file in %s: %s\n", pfx, dir, strerror(errno));
			if (fd >= 0) {
				close(fd);
				unlink(j->tmp);
			}
			rc = PG_CLI_FAILED;
			goto out;
		}
		nj++;
	}
	fprintf(stderr, "%s: %s from %zu node%s (cluster window: %s left)%s\n", pfx, profile, nj, nj == 1 ? "" : "s",
		left_s, seconds > 0 ? ", capturing..." : "");
	rc = run_jobs(&cl.u, jobs, nj, (size_t)parallel, fetched, &cf);
	if (rc == PG_CLI_OK && cf.ok > 0)
		rc = merge_files(pfx, dir, jobs, nj);
	if (cf.ok == 0) {
		fprintf(stderr, "%s: no node answered with a profile\n", pfx);
		rc = cf.worst != PG_CLI_OK ? cf.worst : PG_CLI_FAILED;
	} else if (rc == PG_CLI_OK && cf.failed == 0) {
		printf("go tool pprof -tagroot node %s/merged.pb.gz\n", dir);
	} else if (rc == PG_CLI_OK || rc == PG_CLI_PARTIAL) {
		fprintf(stderr, "%s: partial: %zu of %zu node%s failed\n", pfx, cf.failed, cf.ok + cf.failed,
			cf.ok + cf.failed == 1 ? "" : "s");
		rc = PG_CLI_PARTIAL;
	}
out:
	for (size_t i = 0; jobs && i < nj; i++) {
		if (jobs[i].f)
			fclose(jobs[i].f);
		if (jobs[i].tmp[0])
			unlink(jobs[i].tmp);
	}
	free(jobs);
	cluster_close(&cl);
	return rc;
}
