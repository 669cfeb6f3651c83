/* Node configuration: Goverse's YAML schema and flags, driven by one table.
 *
 * The table in config.c lists every setting once (YAML path, flag, type,
 * bounds, default, sensitive, help); it drives YAML validation, flag parsing,
 * `--help` and docs/configuration.md (`pprofgate --help-config-markdown`).
 *
 * A struct pg_config is plain read-only data after pg_config_parse_args();
 * the caller owns it and releases it with pg_config_free(). */
#ifndef PG_CONFIG_CONFIG_H
#define PG_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "src/util/err.h"

#define PG_CONFIG_ADDR_MAX 256
#define PG_CONFIG_ID_MAX 128
#define PG_CONFIG_PATH_MAX 1024
#define PG_CONFIG_MAX_NODES 256
#define PG_CONFIG_MAX_ENDPOINTS 16

struct pg_config_node {
	char id[PG_CONFIG_ID_MAX];
	char grpc_addr[PG_CONFIG_ADDR_MAX];
	char advertise_addr[PG_CONFIG_ADDR_MAX];
	char http_addr[PG_CONFIG_ADDR_MAX];
};

/* diagnostics: the gateway in front of /debug/pprof (and optionally /metrics,
 * /healthz). Lists are stored as text, one entry per line. */
#define PG_CONFIG_DIAG_KEYS 8
#define PG_CONFIG_LIST_MAX 4096
#define PG_CONFIG_TEXT_MAX 256

struct pg_config_diag_group {
	char auth[32];                      /* "", "none", "mtls", "jwt", "mtls or jwt" */
	char allowlist[PG_CONFIG_LIST_MAX]; /* CIDRs, one per line; "" = any address */
	int allow_plaintext_jwt;            /* 0/1 */
	char require_window[8];             /* pprof: "auto" (default), "true" or "false" */
};

struct pg_config_diag_key {
	char alg[8];                      /* RS256, ES256, HS256 */
	char kid[128];                    /* "" = any */
	char file[PG_CONFIG_PATH_MAX];
};

struct pg_config_diag {
	/* tls_server_config: (names as Prometheus web-config) */
	char cert_file[PG_CONFIG_PATH_MAX];
	char key_file[PG_CONFIG_PATH_MAX];
	char client_ca_file[PG_CONFIG_PATH_MAX];
	char client_auth_type[32]; /* NoClientCert, RequestClientCert, RequireAndVerifyClientCert */
	char min_version[8];       /* TLS12 or TLS13 */
	/* client certificates allowed, "<identity> [scope...]" one per line */
	char client_identities[PG_CONFIG_LIST_MAX];
	/* jwt: */
	struct pg_config_diag_key jwt_keys[PG_CONFIG_DIAG_KEYS];
	size_t n_jwt_keys;
	char jwt_issuer[PG_CONFIG_TEXT_MAX];
	char jwt_audience[PG_CONFIG_TEXT_MAX];
	long jwt_clock_skew; /* seconds; -1 = default 60 */
	char trusted_proxies[PG_CONFIG_LIST_MAX];
	struct pg_config_diag_group health, metrics, pprof;
	char audit_file[PG_CONFIG_PATH_MAX]; /* "" = stderr */
	char audit_public_success[8];        /* "false" (default) or "true" */
	char audit_hmac_key_file[PG_CONFIG_PATH_MAX]; /* "" = SHA-256 chain */
	long audit_queue_lines;              /* default 4096 */
	long audit_sync_ms;                  /* default 100; 0 = every write */
	char cmdline_redact[8];              /* "true" (default) or "false" */
	char cmdline_redact_patterns[PG_CONFIG_LIST_MAX]; /* one per line; "" = built-in list */
	char plain_listen[PG_CONFIG_ADDR_MAX]; /* with TLS: plain /metrics, /healthz, /ready; "" = none */
	/* The endpoint published in etcd (src/cluster/endpoint.h); "" = derived. */
	char advertise_url[PG_CONFIG_TEXT_MAX];
	char advertise_server_name[PG_CONFIG_TEXT_MAX];
	long metrics_share_ms;               /* scrapes within this window share a rendering; 0 = none */
	/* limits: (each listener; change needs a restart) */
	long max_connections;        /* open connections */
	long max_connections_per_ip; /* per client address; 0 = no limit */
	long header_timeout;         /* seconds for the request headers */
	long body_timeout;           /* seconds for a request body */
	long idle_timeout;           /* seconds of silence before a connection is closed */
};

struct pg_config {
	/* The effective settings of this node (flags, or the node picked by
	 * --node-id from the config file's nodes: list). */
	char listen[PG_CONFIG_ADDR_MAX];      /* gRPC host:port, default localhost:47000 */
	char advertise[PG_CONFIG_ADDR_MAX];   /* default = listen */
	char http_listen[PG_CONFIG_ADDR_MAX]; /* default localhost:9090; "" (only from a
					       * nodes: entry without http_addr, as in
					       * Goverse) = no HTTP listener */
	char node_id[PG_CONFIG_ID_MAX];       /* "" when not given */

	/* cluster: */
	int version;   /* 1 */
	long shards;   /* default 8192 */
	char provider[16]; /* "etcd" */
	char etcd_endpoints[PG_CONFIG_MAX_ENDPOINTS][PG_CONFIG_ADDR_MAX];
	size_t n_etcd_endpoints;          /* >= 1; default localhost:2379 */
	char etcd_prefix[PG_CONFIG_ADDR_MAX]; /* default /goverse */
	/* cluster.etcd.tls: (pprofgate extension) optional TLS to etcd; "" = plain http. */
	char etcd_ca_file[PG_CONFIG_PATH_MAX];
	char etcd_cert_file[PG_CONFIG_PATH_MAX];
	char etcd_key_file[PG_CONFIG_PATH_MAX];
	long etcd_lease_ttl; /* seconds, default 15 like Goverse */
	char etcd_unsafe_share_goverse_prefix[8]; /* "false" (default) or "true": join a prefix Go
						    * Goverse nodes use (see docs/membership.md) */

	/* admin: (pprofgate extension) the admin gRPC API and diagnostics windows. */
	char admin_listen[PG_CONFIG_ADDR_MAX];          /* default localhost:47001 */
	char admin_cert_file[PG_CONFIG_PATH_MAX];       /* "" = admin API not served */
	char admin_key_file[PG_CONFIG_PATH_MAX];
	char admin_client_ca_file[PG_CONFIG_PATH_MAX];
	char admin_allowed_identities[PG_CONFIG_PATH_MAX]; /* comma-separated auth/identity.h entries */
	long admin_window_max_seconds;                  /* default 3600 */
	long admin_window_min_capture_seconds;          /* default 1 */
	long admin_window_cluster_grace_seconds;        /* 0 = etcd_lease_ttl */
	char admin_require_approval[8];                 /* "false" (default) or "true": four-eyes windows */
	long admin_request_ttl_seconds;                 /* pending window requests expire; default 600 */

	/* nodes: as read from the file (empty without --config). */
	struct pg_config_node *nodes;
	size_t n_nodes;

	char config_path[PG_CONFIG_PATH_MAX]; /* "" without --config */
	int log_level;                        /* enum pg_log_level */

	struct pg_config_diag diag; /* diagnostics: */
};

/* Parses argv (flags, then the --config file if given) into a new config.
 *
 * Returns PG_OK with *out set and *exit_code = -1 when the node should run.
 * For --help, --version and --check-config it prints what was asked, sets
 * *out = NULL and *exit_code to the process exit status (0, or 2 for an
 * invalid config). On invalid flags or config it prints every error, one per
 * line, naming file:line:column, key and what was expected, to stderr, and
 * returns PG_EINVAL with *exit_code = 2. */
PG_WUR int pg_config_parse_args(int argc, char **argv, struct pg_config **out, int *exit_code);

void pg_config_free(struct pg_config **pp);

/* pg_config_parse_args() with explicit output streams (tests use memory
 * streams): `out` gets --help/--version/--check-config output, `err` the
 * error lines. */
PG_WUR int pg_config_parse_argv(int argc, char **argv, FILE *out, FILE *err, struct pg_config **cfg,
				int *exit_code);

/* The checks a start runs beyond the config itself (listeners' exposure,
 * TLS and key files, admin settings, the etcd prefix): PG_OK, or a failure
 * with a sentence for the operator in pg_errmsg(). */
typedef int pg_config_validate_fn(const struct pg_config *cfg, void *arg);

/* pg_config_parse_argv() that also runs `validate` (may be NULL) on the
 * result, for a start and for --check-config alike, so that --check-config
 * exits 0 exactly when a start would get past its checks. A failure is one
 * error line (its sentence) and exit code 2. For --check-config of a file
 * with several nodes and no --node-id it runs once per node, each error line
 * naming the node ("nodes[1] (node2): ..."). */
PG_WUR int pg_config_parse_checked(int argc, char **argv, FILE *out, FILE *err, pg_config_validate_fn *validate,
				   void *validate_arg, struct pg_config **cfg, int *exit_code);

/* Parses config YAML held in memory; `name` (e.g. the file path) prefixes
 * error lines. On PG_OK *out is a new config holding defaults plus the file's
 * settings (no node picked: listen and http_listen keep their flag defaults,
 * advertise is ""). On PG_EINVAL *out is NULL and *errors is a malloc'd text of every
 * error, one per line ("name:line:col: key.path: what was expected"), which
 * the caller frees; *errors is NULL on success. Bytes over 1 MiB, tags,
 * duplicate keys and non-UTF-8 input are rejected; anchors, aliases and
 * merge keys (<<) are read as Goverse's yaml.v3 reads them, bounded to
 * 100000 values once expanded. */
PG_WUR int pg_config_parse_yaml(const char *name, const void *data, size_t len, struct pg_config **out,
				char **errors);

/* Writes the --help text, generated from the settings table. */
void pg_config_write_help(FILE *f, const char *prog);

/* Writes docs/configuration.md, generated from the settings table
 * (`pprofgate --help-config-markdown`). */
void pg_config_write_markdown(FILE *f);

#endif
