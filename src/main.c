/* pprofgate: entry point. Wiring only; each concern lives in its module.
 *
 * Start order: config -> metrics -> audit log -> gRPC -> HTTP -> etcd membership.
 * Stop order is the reverse, so the node leaves the cluster (its lease is
 * revoked) before it stops serving, and in-flight requests finish. */
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/admin/api.h"
#include "src/admin/window.h"
#include "src/audit/audit.h"
#include "src/cluster/membership.h"
#include "src/config/config.h"
#include "src/gate/gate.h"
#include "src/http/server.h"
#include "src/main_check.h"
#include "src/main_routes.h"
#include "src/metrics/metrics.h"
#include "src/metrics/process.h"
#include "src/pprof/cmdline.h"
#include "src/pprof/heap.h"
#include "src/pprof/routes.h"
#include "src/rpc/server.h"
#include "src/util/err.h"
#include "src/util/log.h"

/* tcmalloc reads its settings once, before main() runs, so they must be in
 * the environment at exec time. When the operator did not set them, set the
 * defaults and exec ourselves once:
 * - TCMALLOC_SAMPLE_PARAMETER: the always-on heap sample, one per 512 KiB
 *   allocated on average, as Go's runtime.MemProfileRate.
 * - TCMALLOC_STACKTRACE_METHOD=libgcc: how tcmalloc and the CPU profiler walk
 *   a stack. Their default, libunwind, masks and unmasks all signals with a
 *   system call at every frame (its global cache lock): measured ~46 us per
 *   sampled allocation here, about 6 us of every kept-alive HTTPS request and
 *   130 us of every handshake (GnuTLS allocates 16 KiB per socket read).
 *   libgcc's unwinder makes no system call and finds frames through glibc's
 *   lock-free _dl_find_object, which is also safe in the profiler's signal
 *   handler. The binary names libgcc_s before tcmalloc's libunwind (see
 *   CMakeLists.txt), so its _Unwind_Backtrace is the one that answers.
 * The kernel names a process after the file it executes, so exec the binary's
 * own path with the original argv (not /proc/self/exe, which would name it
 * "exe" for ps -C, pgrep -x and thread dumps), provided that path still is the
 * running file; otherwise (replaced on disk since) /proc/self/exe. */
static void ensure_heap_sampling(char **argv)
{
#ifndef PG_NO_TCMALLOC
	char path[PATH_MAX];
	struct stat running, named;
	bool set_rate = !getenv("TCMALLOC_SAMPLE_PARAMETER");
	bool set_unwinder = !getenv("TCMALLOC_STACKTRACE_METHOD");
	ssize_t n;

	if (!set_rate && !set_unwinder)
		return;
	if ((set_rate && setenv("TCMALLOC_SAMPLE_PARAMETER", "524288", 1) != 0) ||
	    (set_unwinder && setenv("TCMALLOC_STACKTRACE_METHOD", "libgcc", 1) != 0))
		goto fail;
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n > 0 && path[0] == '/' && stat("/proc/self/exe", &running) == 0) {
		path[n] = '\0';
		if (stat(path, &named) == 0 && named.st_dev == running.st_dev &&
		    named.st_ino == running.st_ino)
			execv(path, argv);
	}
	execv("/proc/self/exe", argv);
fail:
	/* exec failed: run on with what tcmalloc read at start. */
	if (set_rate)
		unsetenv("TCMALLOC_SAMPLE_PARAMETER");
	if (set_unwinder)
		unsetenv("TCMALLOC_STACKTRACE_METHOD");
#else
	(void)argv;
#endif
}

/* Thousands of client connections need as many descriptors: raise the soft
 * open-file limit to the hard one, as Go's runtime does at start (1.19+), and
 * fit the per-listener connection limit into it (two HTTP listeners, gRPC,
 * etcd and files need some too). */
static unsigned fit_connection_limit(long want)
{
	struct rlimit rl;
	rlim_t room;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return (unsigned)want;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	room = rl.rlim_cur > 256 ? (rl.rlim_cur - 128) / 2 : 64;
	if ((rlim_t)want <= room)
		return (unsigned)want;
	pg_warn("main", "diagnostics.limits.max_connections %ld lowered to %lu to fit the open-file limit %lu "
			"(raise LimitNOFILE / ulimit -n)",
		want, (unsigned long)room, (unsigned long)rl.rlim_cur);
	return (unsigned)room;
}

static unsigned http_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 2 ? 2 : n > 4 ? 4 : (unsigned)n;
}

static int wait_for_stop_signal(const sigset_t *set)
{
	int sig = 0;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		return sig;
	}
}

/* The audit log's settings from the diagnostics section (strings borrowed). */
static struct pg_audit_opts audit_opts(const struct pg_config_diag *d, struct pg_metrics *metrics)
{
	return (struct pg_audit_opts){.path = d->audit_file,
				      .key_file = d->audit_hmac_key_file,
				      .queue_lines = (unsigned)d->audit_queue_lines,
				      .sync_ms = (int)d->audit_sync_ms,
				      .metrics = metrics};
}

static int cmdline_setup(const struct pg_config_diag *d)
{
	return pg_pprof_cmdline_setup(strcmp(d->cmdline_redact, "false") != 0, d->cmdline_redact_patterns);
}

/* SIGHUP: asks each module to reload, all or nothing: re-parses argc/argv
 * (and the --config file) as at start, validates the new diagnostics
 * section with a throw-away gate and pg_audit_check, then reloads the HTTPS
 * certificate (pg_http_reload_tls, which reads the file names from
 * cfg->diag), the gate's policy and keys (pg_gate_reload), the audit file and
 * key (pg_audit_reopen: log rotation) and the redacted command line. Nothing
 * changes when a step fails (logged), but the file reopen, which cannot be
 * taken back, comes last. Listen addresses, enabling TLS, guarding /metrics or
 * /healthz for the first time, audit_public_success and the audit queue
 * settings need a restart. */
static int reload(struct pg_gate *g, struct pg_audit *audit, struct pg_http *http, struct pg_config *cfg, int argc,
		  char **argv)
{
	struct pg_config *fresh = NULL;
	struct pg_gate *probe = NULL;
	struct pg_config_diag *old = NULL;
	int exit_code = 0, rc;

	if (!g)
		return pg_fail(PG_EINVAL, "SIGHUP: no HTTP listener, nothing to reload");
	/* Re-read flags and file exactly as at start; addresses are kept
	 * (changing them needs a restart), the diagnostics section is new. */
	rc = pg_config_parse_args(argc, argv, &fresh, &exit_code);
	if (rc == PG_OK && !fresh)
		rc = pg_fail(PG_EINVAL, "the command line no longer starts a node");
	/* A throw-away gate validates keys, lists and the audit file before
	 * anything live changes. */
	if (rc == PG_OK)
		rc = pg_gate_new(&fresh->diag, NULL, &probe);
	pg_gate_free(&probe);
	if (rc == PG_OK) {
		struct pg_audit_opts ao = audit_opts(&fresh->diag, NULL);
		struct pg_buf none;
		unsigned n = 0;

		rc = pg_audit_check(&ao);
		/* The redaction patterns, on an empty command line. */
		pg_buf_init(&none, 16);
		if (rc == PG_OK)
			rc = pg_pprof_cmdline_redact("", 0, fresh->diag.cmdline_redact_patterns, &none, &n);
		pg_buf_free(&none);
	}
	if (rc == PG_OK && !(old = malloc(sizeof(*old))))
		rc = pg_fail(PG_ENOMEM, "out of memory reloading");
	if (rc != PG_OK)
		goto out;
	/* The HTTP server reads the certificate file names from cfg->diag. */
	*old = cfg->diag;
	cfg->diag = fresh->diag;
	rc = pg_http_reload_tls(http);
	if (rc != PG_OK) {
		cfg->diag = *old;
		goto out;
	}
	rc = pg_gate_reload(g, &cfg->diag);
	if (rc == PG_OK)
		rc = cmdline_setup(&cfg->diag);
	if (rc == PG_OK) {
		struct pg_audit_opts ao = audit_opts(&cfg->diag, NULL);

		rc = pg_audit_reopen(audit, &ao);
	}
out:
	if (rc != PG_OK)
		pg_error("main", "reload failed, still serving the previous certificates and policy: %s", pg_errmsg());
	else
		pg_info("main", "reloaded certificates, keys and diagnostics policy");
	free(old);
	pg_config_free(&fresh);
	return rc;
}

int main(int argc, char **argv)
{
	struct pg_config *cfg = NULL;
	struct pg_metrics *metrics = NULL;
	struct pg_rpc *rpc = NULL;
	struct pg_http *http = NULL;
	struct pg_gate *gate = NULL;
	struct pg_pprof_routes *pprof = NULL;
	struct pg_membership *membership = NULL;
	struct pg_admin_window *window = NULL;
	struct pg_admin_api *admin = NULL;
	struct pg_audit *audit = NULL;
	sigset_t sigs;
	int exit_code = 1, sig, rc;

	ensure_heap_sampling(argv);
	/* tcmalloc never samples the main thread's small allocations otherwise. */
	if (pg_heap_mark_thread_idle() != PG_OK)
		pg_err_clear();
	/* gRPC core's own logging is noisy; the operator can opt back in. */
	setenv("GRPC_VERBOSITY", "NONE", 0);

	/* Parse, then every check a start makes before it starts anything
	 * (pg_main_check): --check-config runs the same function, so both
	 * refuse with the same sentence and exit code 2. */
	struct pg_main_check checks = {0};
	if (pg_config_parse_checked(argc, argv, stdout, stderr, pg_main_check, &checks, &cfg, &exit_code) != PG_OK ||
	    !cfg)
		return exit_code < 0 ? 2 : exit_code;
	pg_log_set_level((enum pg_log_level)cfg->log_level);

	/* Every thread inherits this mask; only sigwait() below sees these. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	exit_code = 1;
	if (pg_metrics_new(&metrics) != PG_OK || pg_metrics_process_register(metrics) != PG_OK)
		goto fail;
	/* The audit log first: every access decision from here on is audited,
	 * and an audit file or key that cannot be used is a bad config (2). */
	struct pg_audit_opts ao = audit_opts(&cfg->diag, metrics);
	exit_code = 2;
	if (pg_audit_new(&ao, &audit) != PG_OK || cmdline_setup(&cfg->diag) != PG_OK)
		goto fail;
	exit_code = 1;

	struct pg_rpc_opts ro = {
		.listen = cfg->listen,
		.advertise = cfg->advertise,
		.shards = (uint32_t)cfg->shards,
		.node_label = cfg->advertise,
		.metrics = metrics,
		.threads = 2,
	};
	if (pg_rpc_start(&ro, &rpc) != PG_OK)
		goto fail;

	/* A capture never outlives the window that allowed it: the gate hands
	 * each request the time left (pg_http_req_limit_ms). */
	struct pg_pprof_routes_opts po = {.min_capture_seconds = (unsigned)cfg->admin_window_min_capture_seconds};
	if (pg_pprof_routes_new(&po, &pprof) != PG_OK)
		goto fail;
	struct pg_http_route routes[PG_HTTP_MAX_ROUTES];
	struct pg_http_opts ho = {
		.listen = cfg->http_listen,
		.metrics = metrics,
		.routes = routes,
		.n_routes = pg_main_routes(pprof, routes, PG_HTTP_MAX_ROUTES),
		/* One polling thread per CPU (2..4): measured 1.9x the /metrics
		 * throughput of one thread on 2 CPUs (docs/performance.md). */
		.threads = http_threads(),
		.max_connections = fit_connection_limit(cfg->diag.max_connections),
		.max_per_ip = (unsigned)cfg->diag.max_connections_per_ip,
		.timeout_s = (unsigned)cfg->diag.idle_timeout,
		.header_timeout_s = (unsigned)cfg->diag.header_timeout,
		.body_timeout_s = (unsigned)cfg->diag.body_timeout,
		/* 0 in the file means no sharing; 0 in the options the default. */
		.metrics_cache_ms = cfg->diag.metrics_share_ms > 0 ? (int)cfg->diag.metrics_share_ms : -1,
	};
	/* The diagnostics gateway; a misconfiguration exits 2 like a bad config. */
	if (cfg->http_listen[0]) {
		exit_code = 2;
		if (pg_gate_check_exposure(cfg->http_listen, &cfg->diag) != PG_OK ||
		    pg_gate_new(&cfg->diag, metrics, &gate) != PG_OK)
			goto fail;
		pg_gate_set_audit(gate, audit);
		pg_gate_http_opts(gate, &cfg->diag, &ho);
	}
	/* A config node without http_addr has no HTTP listener, as in Goverse.
	 * Certificate and key problems exit 2, a busy address 1. */
	if (cfg->http_listen[0] && (rc = pg_http_start(&ho, &http)) != PG_OK) {
		exit_code = rc == PG_ENET ? 1 : 2;
		goto fail;
	}
	exit_code = 1;
	pg_info("main", "pprofgate %s node %s: gRPC on %s (advertised as %s), HTTP on %s",
		PG_VERSION, cfg->node_id[0] ? cfg->node_id : "-", cfg->listen, cfg->advertise,
		cfg->http_listen[0] ? cfg->http_listen : "(none)");

	/* Advertise the node only once it serves. An unreachable etcd is not
	 * fatal: membership retries in the background and /ready says why. */
	if (pg_membership_start(cfg, metrics, &membership) != PG_OK)
		goto fail;
	if (http)
		pg_http_set_ready_fn(http, pg_membership_ready_cb, membership);

	/* Diagnostics windows: closed at start, with the cluster-window
	 * watcher; then the admin API (mTLS only) that opens them. The window
	 * is the one the pprof gate checks. */
	struct pg_admin_window_opts wo = {.cfg = cfg, .metrics = metrics, .node = cfg->advertise, .cluster = true,
					  /* Window events go to the same audit log as requests. */
					  .audit = pg_audit_event, .audit_arg = audit};
	if (pg_admin_window_start(&wo, &window) != PG_OK ||
	    pg_admin_api_start(cfg, metrics, window, &admin) != PG_OK)
		goto fail;
	pg_gate_set_window(gate, pg_admin_window_auth(window));

	while ((sig = wait_for_stop_signal(&sigs)) == SIGHUP)
		if (reload(gate, audit, http, cfg, argc, argv) != PG_OK)
			pg_err_clear(); /* logged; the old state keeps serving */
	pg_info("main", "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	exit_code = 0;
	goto out;
fail:
	pg_error("main", "%s", pg_errmsg());
out:
	/* Leave the cluster first (the lease is revoked, peers see it at once),
	 * then stop serving; free membership last, as /ready may still read it. */
	pg_membership_leave(membership);
	pg_pprof_routes_stop(pprof);
	pg_http_stop(&http);
	pg_pprof_routes_free(&pprof);
	/* After HTTP: the gate reads the window until then. */
	pg_admin_api_stop(&admin);
	pg_admin_window_stop(&window);
	pg_gate_free(&gate);
	/* After everything that audits: writes what is queued, then syncs. */
	pg_audit_free(&audit);
	pg_rpc_stop(&rpc);
	pg_membership_stop(&membership);
	pg_metrics_free(&metrics);
	pg_config_free(&cfg);
	if (exit_code == 0)
		pg_info("main", "stopped");
	return exit_code;
}
