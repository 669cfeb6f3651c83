/* https_load: a bounded HTTPS load generator with client certificates.
 *
 * wrk cannot present a client certificate; this drives N clients with
 * libcurl's multi interface (one easy handle each) for a fixed time and
 * prints throughput and latency percentiles. --conn says what each request
 * costs the server besides itself:
 *   keep    (default) the connection is kept alive between requests;
 *   new     a new connection and a full TLS handshake per request (no
 *           session re-use: what a client that keeps nothing costs);
 *   resume  a new connection per request resuming the client's last TLS
 *           session (tickets): an abbreviated handshake.
 *
 *   https_load -u URL [-c CONNS] [-d SECONDS] [--conn keep|new|resume]
 *              [--cacert F] [--cert F --key F] [-H "Header: value"]...
 *
 * Output (one line): requests=N errors=N rps=X p50_ms=X p99_ms=X */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONNS 256
#define MAX_HDRS 8
#define MAX_SAMPLES (4u << 20)

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return sz * n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static long parse_pos(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > max) {
		fprintf(stderr, "https_load: %s is not a number in 1..%ld\n", s, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *url = NULL, *cacert = NULL, *cert = NULL, *key = NULL, *mode = "keep";
	long conns = 8, secs = 5;
	struct curl_slist *hdrs = NULL;
	CURL *easy[MAX_CONNS];
	double started[MAX_CONNS];
	static size_t idx[MAX_CONNS];
	double *lat;
	size_t n_lat = 0;
	unsigned long errors = 0;
	CURLM *multi;
	double t0, deadline;
	int running = 0;

	/* Every option takes a value: arguments come in pairs. */
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "https_load: %s needs a value\n", a);
			return 2;
		}
		if (strcmp(a, "-u") == 0)
			url = v;
		else if (strcmp(a, "-c") == 0)
			conns = parse_pos(v, MAX_CONNS);
		else if (strcmp(a, "-d") == 0)
			secs = parse_pos(v, 600);
		else if (strcmp(a, "--conn") == 0)
			mode = v;
		else if (strcmp(a, "--cacert") == 0)
			cacert = v;
		else if (strcmp(a, "--cert") == 0)
			cert = v;
		else if (strcmp(a, "--key") == 0)
			key = v;
		else if (strcmp(a, "-H") == 0)
			hdrs = curl_slist_append(hdrs, v);
		else {
			fprintf(stderr, "https_load: unknown argument %s\n", a);
			return 2;
		}
	}
	if (!url || (strcmp(mode, "keep") != 0 && strcmp(mode, "new") != 0 && strcmp(mode, "resume") != 0)) {
		fprintf(stderr, "usage: https_load -u URL [-c CONNS] [-d SECONDS] [--conn keep|new|resume] "
				"[--cacert F] [--cert F --key F] [-H HEADER]...\n");
		return 2;
	}
	lat = malloc(MAX_SAMPLES * sizeof(*lat));
	if (!lat || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	multi = curl_multi_init();
	for (long i = 0; i < conns; i++) {
		CURL *e = curl_easy_init();

		curl_easy_setopt(e, CURLOPT_URL, url);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
		if (cacert)
			curl_easy_setopt(e, CURLOPT_CAINFO, cacert);
		if (cert)
			curl_easy_setopt(e, CURLOPT_SSLCERT, cert);
		if (key)
			curl_easy_setopt(e, CURLOPT_SSLKEY, key);
		if (hdrs)
			curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
		if (strcmp(mode, "keep") != 0) {
			curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
			curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
			curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, strcmp(mode, "resume") == 0 ? 1L : 0L);
		}
		idx[i] = (size_t)i;
		curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)&idx[i]);
		easy[i] = e;
		started[i] = now_s();
		curl_multi_add_handle(multi, e);
	}
	t0 = now_s();
	deadline = t0 + (double)secs;
	do {
		CURLMsg *m;
		int left;

		curl_multi_perform(multi, &running);
		while ((m = curl_multi_info_read(multi, &left))) {
			char *priv = NULL;
			long code = 0;
			size_t i;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
			i = *(size_t *)(void *)priv;
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			if (m->data.result != CURLE_OK || code != 200)
				errors++;
			else if (n_lat < MAX_SAMPLES)
				lat[n_lat++] = now_s() - started[i];
			curl_multi_remove_handle(multi, m->easy_handle);
			if (now_s() < deadline) {
				/* Re-adding the same handle re-uses its connection
				 * (keep) or its TLS session (resume). */
				started[i] = now_s();
				curl_multi_add_handle(multi, m->easy_handle);
			}
		}
		if (running)
			curl_multi_poll(multi, NULL, 0, 100, NULL);
	} while (running || now_s() < deadline);
	{
		double el = now_s() - t0;

		qsort(lat, n_lat, sizeof(*lat), cmp_double);
		printf("requests=%zu errors=%lu rps=%.0f p50_ms=%.3f p99_ms=%.3f\n", n_lat, errors,
		       (double)n_lat / el, n_lat ? lat[n_lat / 2] * 1e3 : 0.0,
		       n_lat ? lat[(size_t)((double)n_lat * 0.99)] * 1e3 : 0.0);
	}
	for (long i = 0; i < conns; i++)
		curl_easy_cleanup(easy[i]);
	curl_multi_cleanup(multi);
	curl_slist_free_all(hdrs);
	curl_global_cleanup();
	free(lat);
	return errors && !n_lat ? 1 : 0;
}
