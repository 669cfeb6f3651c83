/* pprofgatectl fetch: downloads a profile over HTTP(S) with libcurl, with a
 * client certificate (mTLS) or a bearer token (RFC 6750 §2.1), showing a
 * countdown while a timed capture (?seconds=N) runs. The file is written
 * atomically: a temporary file in the same directory, fsync, rename.
 *
 * The node answers a timed capture only when it ends, and shortens it to its
 * diagnostics window; so a timed fetch first sends HEAD for the same URL,
 * which the node answers at once with the granted length
 * (X-Pprofgate-Capture-Seconds, X-Pprofgate-Capture when shortened) without
 * capturing. The countdown runs from that length, and only once the capture
 * has run for a second: a refusal comes sooner and is printed alone. */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "src/cli/args.h"
#include "src/cli/cmd.h"

#define PFX "pprofgatectl fetch"
#define MAX_PROFILE (512L * 1024 * 1024)

static void fetch_usage(FILE *f)
{
	fputs("usage: pprofgatectl fetch PROFILE [--seconds N] -o FILE\n"
	      "       pprofgatectl fetch --cluster PROFILE [--seconds N] [--parallel 8] -o DIR\n"
	      "Downloads /debug/pprof/PROFILE from the node at --node (PPROFGATE_NODE) and writes\n"
	      "FILE atomically. PROFILE: profile, heap, allocs, goroutine, threadcreate, block,\n"
	      "mutex, trace (Chrome Trace Event JSON: open it in https://ui.perfetto.dev or\n"
	      "chrome://tracing, not go tool trace), cmdline, ... Authentication: --cert/--key (mTLS, with --cacert) or\n"
	      "a bearer token from PPROFGATE_TOKEN (or --token). HTTPS is used when --cacert is\n"
	      "given or --node is an https:// URL. A diagnostics window must be open.\n"
	      "--cluster: every node that publishes a diagnostics endpoint in etcd (--etcd,\n"
	      "--etcd-prefix), at the same time (at most --parallel at once, each within --timeout\n"
	      "plus the capture), while a cluster window is open: one line per node, DIR/<node>.pb.gz\n"
	      "each, and DIR/merged.pb.gz with a label node=<name> on every sample (go tool pprof\n"
	      "-tagfocus node=NAME, -tagroot node). A node that fails is named with its reason; the\n"
	      "others are still written, and the exit code is 7 (partial).\n",
	      f);
}

struct xfer {
	FILE *f;
	long written;
	bool too_big;
	int64_t seconds; /* to count down; <= 0: no countdown */
	struct timespec start;
	long last_shown;
	bool tty, shown;
	char capture[128];  /* X-Pprofgate-Capture, if sent */
	long granted;       /* X-Pprofgate-Capture-Seconds, -1 if not sent */
};

/* Keeps the capture headers of the answer (a header line is not
 * NUL-terminated; control bytes end the value). */
static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	static const char cap[] = "x-pprofgate-capture:", secs[] = "x-pprofgate-capture-seconds:";
	struct xfer *x = arg;
	size_t len = sz * n, i, k, vl;
	char val[128];

	for (k = 0; k < 2; k++) {
		const char *name = k ? secs : cap;
		size_t nl = strlen(name);

		if (len <= nl || strncasecmp(p, name, nl) != 0)
			continue;
		for (i = nl; i < len && p[i] == ' '; i++)
			;
		for (vl = 0; i < len && vl + 1 < sizeof(val) && (unsigned char)p[i] >= 0x20 && p[i] != 0x7f; i++)
			val[vl++] = p[i];
		val[vl] = '\0';
		if (k == 0) {
			snprintf(x->capture, sizeof(x->capture), "%s", val);
		} else {
			char *end;
			long v = strtol(val, &end, 10);

			if (end != val && *end == '\0' && v >= 0 && v <= 3600)
				x->granted = v;
		}
	}
	return len;
}

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = sz * n;

	if (x->written + (long)len > MAX_PROFILE) {
		x->too_big = true;
		return 0;
	}
	if (fwrite(p, 1, len, x->f) != len)
		return 0;
	x->written += (long)len;
	return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = arg;
	struct timespec now;
	long el;
	char left[32];

	(void)dltotal;
	(void)ultotal;
	(void)ulnow;
	if (x->seconds <= 0 || dlnow > 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	el = (long)(now.tv_sec - x->start.tv_sec);
	/* Nothing in the first second: refusals (window_too_short, 401/403)
	 * come sooner and are shown without a countdown in front. */
	if (el == x->last_shown || el < 1 || el > x->seconds)
		return 0;
	x->last_shown = el;
	pg_cli_format_secs(x->seconds - el, left, sizeof(left));
	/* A countdown: overwritten in place on a terminal; in logs the first
	 * line, then one per 5 s. */
	if (x->tty)
		fprintf(stderr, "\rcapturing: %s left   ", left);
	else if (el == 1 || el % 5 == 0)
		fprintf(stderr, "capturing: %s left\n", left);
	x->shown = true;
	return 0;
}

/* Options shared by the HEAD probe and the GET. */
static void setup(CURL *h, const struct pg_cli_upstream *u, const char *url, long timeout_s, struct xfer *x,
		  char *errbuf)
{
	pg_cli_upstream_setup(h, u, url, timeout_s, errbuf);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
}

/* Asks the node, with HEAD, how long the capture at url would run. Returns
 * the granted seconds (and the shortening note in note), or -1 when the node
 * does not say (refused, unreachable, an older node): no countdown then. */
static long probe_capture(const struct pg_cli_upstream *u, const char *url, char *note, size_t cap)
{
	struct xfer px = {.granted = -1};
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *h = curl_easy_init();
	long status = 0;

	note[0] = '\0';
	if (!h)
		return -1;
	setup(h, u, url, u->c->timeout_s, &px, errbuf);
	curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (curl_easy_perform(h) != CURLE_OK ||
	    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200)
		px.granted = -1;
	else
		snprintf(note, cap, "%s", px.capture);
	curl_easy_cleanup(h);
	return px.granted;
}

int pg_cli_cmd_fetch(struct pg_cli_conn *c, int argc, char **argv)
{
	const char *profile = NULL, *outf = NULL, *v;
	long seconds = -1, parallel = 8;
	bool cluster = false;
	char url[1024], tmp[4096] = "", errbuf[CURL_ERROR_SIZE] = "";
	struct xfer x = {.granted = -1};
	char note[128] = "";
	struct pg_cli_upstream u = {0};
	CURL *h = NULL;
	CURLcode cc;
	long status = 0;
	int fd = -1, rc = PG_CLI_FAILED;

	for (int i = 0; i < argc; i++) {
		int m;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fetch_usage(stdout);
			return PG_CLI_OK;
		}
		if ((m = pg_cli_flag(argc, argv, &i, "--seconds", &v)) == 1) {
			char *end;
			seconds = strtol(v, &end, 10);
			if (*end || end == v || seconds < 0 || seconds > 3600) {
				fprintf(stderr, "%s: --seconds must be 0..3600\n", PFX);
				return PG_CLI_USAGE;
			}
		} else if (m == 0 && strcmp(argv[i], "--cluster") == 0) {
			cluster = true;
			m = 1;
		} else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--parallel", &v)) == 1) {
			char *end;
			parallel = strtol(v, &end, 10);
			if (*end || end == v || parallel < 1 || parallel > 64) {
				fprintf(stderr, "%s: --parallel must be 1..64\n", PFX);
				return PG_CLI_USAGE;
			}
		} else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "-o", &v)) == 1) {
			outf = v;
		} else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--output", &v)) == 1) {
			outf = v;
		} else if (m == 0 && argv[i][0] != '-' && !profile) {
			profile = argv[i];
			m = 1;
		}
		if (m != 1) {
			fprintf(stderr, "%s: %s %s\n", PFX, argv[i], m == -1 ? "needs a value" : "is not expected here");
			return PG_CLI_USAGE;
		}
	}
	if (!profile || !outf || !*outf) {
		fetch_usage(stderr);
		return PG_CLI_USAGE;
	}
	for (const char *p = profile; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-' || *p == '.')) {
			fprintf(stderr, "%s: PROFILE is a name such as heap or profile\n", PFX);
			return PG_CLI_USAGE;
		}
	if (cluster)
		return pg_cli_fetch_cluster(c, profile, seconds, outf, parallel);
	if ((rc = pg_cli_upstream_open(c, PFX, &u)) != PG_CLI_OK)
		goto out;
	rc = PG_CLI_FAILED;
	snprintf(url, sizeof(url), "%s/debug/pprof/%s", u.base, profile);
	if (seconds >= 0) {
		size_t l = strlen(url);
		snprintf(url + l, sizeof(url) - l, "?seconds=%ld", seconds);
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", outf) >= sizeof(tmp)) {
		fprintf(stderr, "%s: output path too long\n", PFX);
		rc = PG_CLI_USAGE;
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0 || !(x.f = fdopen(fd, "wb"))) {
		fprintf(stderr, "%s: cannot create a file next to %s: %s\n", PFX, outf, strerror(errno));
		if (fd >= 0)
			close(fd);
		tmp[0] = '\0';
		goto out;
	}
	x.tty = isatty(2);
	x.last_shown = -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = curl_easy_init();
	if (!h)
		goto out;
	if (seconds > 0) {
		x.seconds = probe_capture(&u, url, note, sizeof(note));
		if (note[0])
			fprintf(stderr, "%s: the node %s\n", PFX, note);
	}
	setup(h, &u, url, c->timeout_s + (seconds > 0 ? seconds : 30), &x, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
	clock_gettime(CLOCK_MONOTONIC, &x.start);
	cc = curl_easy_perform(h);
	if (x.shown)
		fputs(x.tty ? "\n" : "", stderr);
	if (fflush(x.f) != 0 || fsync(fileno(x.f)) != 0) {
		fprintf(stderr, "%s: writing %s failed: %s\n", PFX, tmp, strerror(errno));
		goto out;
	}
	if (cc != CURLE_OK) {
		if (x.too_big) {
			fprintf(stderr, "%s: the profile is larger than %ld bytes\n", PFX, MAX_PROFILE);
			rc = PG_CLI_SERVER;
		} else {
			fprintf(stderr, "%s: cannot fetch from %s: %s\n", PFX, c->node, errbuf[0] ? errbuf : curl_easy_strerror(cc));
			rc = PG_CLI_UNREACHABLE;
		}
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		char body[512] = "", reason[64];
		FILE *rf;
		size_t n;

		fclose(x.f);
		x.f = NULL;
		rf = fopen(tmp, "rb");
		n = rf ? fread(body, 1, sizeof(body) - 1, rf) : 0;
		if (rf)
			fclose(rf);
		body[n] = '\0';
		pg_cli_reason_of(body, reason, sizeof(reason));
		fprintf(stderr, "%s: %s answered HTTP %ld%s%s\n", PFX, c->node, status, reason[0] ? ": " : "", reason);
		rc = (status == 401 || status == 403) ? PG_CLI_DENIED : status == 404 || status == 400 ? PG_CLI_USAGE
												      : PG_CLI_SERVER;
		goto out;
	}
	if (fclose(x.f) != 0) {
		x.f = NULL;
		fprintf(stderr, "%s: writing %s failed\n", PFX, tmp);
		goto out;
	}
	x.f = NULL;
	if (rename(tmp, outf) != 0) {
		fprintf(stderr, "%s: cannot rename to %s: %s\n", PFX, outf, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	if (x.capture[0])
		fprintf(stderr, "wrote %s (%ld bytes; a %ld s capture, %s)\n", outf, x.written, x.granted, x.capture);
	else
		fprintf(stderr, "wrote %s (%ld bytes)\n", outf, x.written);
	/* The trace is Chrome Trace Event JSON, not Go's execution trace. */
	if (strcmp(profile, "trace") == 0)
		fprintf(stderr, "%s is Chrome Trace Event JSON: open it in https://ui.perfetto.dev or "
				"chrome://tracing; go tool trace cannot read it\n", outf);
	else if (strcmp(profile, "cmdline") != 0) /* the command line is text */
		printf("go tool pprof %s\n", outf);
	rc = PG_CLI_OK;
out:
	if (x.f)
		fclose(x.f);
	if (tmp[0])
		unlink(tmp);
	pg_cli_upstream_close(&u);
	if (h)
		curl_easy_cleanup(h);
	curl_global_cleanup();
	return rc;
}
