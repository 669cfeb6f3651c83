/* Node configuration: one settings table drives YAML validation, flag
 * parsing, --help and docs/configuration.md.
 *
 * The YAML schema is Goverse's config/config.go (version, cluster.*, nodes[])
 * plus pprofgate extensions (cluster.etcd.tls.*, cluster.etcd.lease_ttl).
 * Flags follow Goverse's node/serverconfig: with --config only --node-id may
 * pick the node; address flags are refused. */
#include "src/config/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "src/util/buf.h"
#include "src/util/file.h"
#include "src/util/log.h"

#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_ERRORS 100
/* The schema nests 4 levels; Goverse-only sections a few more. libyaml's
 * scanner slows down quadratically with flow nesting depth, so deep input is
 * refused while scanning. */
#define MAX_DEPTH 32

enum ctype {
	CT_SECTION,   /* a nested mapping: its rows follow with a longer path */
	CT_IGNORED,   /* Goverse-only: accepted, one notice, not stored */
	CT_INT,       /* long in min..max */
	CT_ENUM,      /* string, one of `choices` ("a|b") */
	CT_ADDR,      /* host:port */
	CT_ADDR_LIST, /* list of host:port, min..max entries */
	CT_PREFIX,    /* etcd key prefix: starts with '/', no trailing '/' */
	CT_PATH,      /* a readable file */
	CT_FILE,      /* the --config path (read later) */
	CT_ID,        /* node id */
	CT_LOGLEVEL,  /* debug|info|warn|error */
	CT_NODES,     /* list of maps validated by node_rows */
	CT_TEXT,      /* printable ASCII text (spaces allowed) */
	CT_TEXT_LIST, /* a list of CT_TEXT (or one scalar), stored one per line; max entries */
	CT_KEYS,      /* diagnostics.jwt.keys: list of maps validated by key_rows */
	CT_ACTION     /* flag without value: --help, --version, ... */
};

#define RF_REQUIRED 0x1u    /* must appear in the file */
#define RF_NOCONFIG 0x2u    /* flag cannot be combined with --config (Goverse) */
#define RF_SENSITIVE 0x4u   /* value is a secret: never printed */
#define RF_ANY_HOST 0x8u    /* empty host allowed (":47000" = all interfaces) */

enum { ACT_NONE, ACT_HELP, ACT_VERSION, ACT_CHECK, ACT_MARKDOWN };

struct setting {
	const char *path;     /* YAML key path ("cluster.etcd.prefix"); NULL = flag only */
	const char *flag;     /* long flag without "--"; NULL = file only */
	enum ctype type;
	long min, max;        /* CT_INT bounds; list length bounds; CT_ACTION id */
	const char *def;      /* default as text, parsed like user input; NULL = none */
	unsigned flags;       /* RF_* */
	size_t off, size;     /* storage in struct pg_config / pg_config_node; size 0 = none */
	size_t count_off;     /* CT_ADDR_LIST: offset of the size_t element count */
	const char *choices;  /* CT_ENUM: "a|b" */
	const char *file_key; /* RF_NOCONFIG flag-only rows: the key to use in the file instead */
	const char *example;  /* value shown in the generated example and in fix hints */
	const char *help;
};

#define CFG(m) .off = offsetof(struct pg_config, m), .size = sizeof(((struct pg_config *)0)->m)
#define NODE(m) .off = offsetof(struct pg_config_node, m), .size = sizeof(((struct pg_config_node *)0)->m)
#define DIAG(m) .off = offsetof(struct pg_config, diag.m), .size = sizeof(((struct pg_config *)0)->diag.m)
#define KEY(m) .off = offsetof(struct pg_config_diag_key, m), .size = sizeof(((struct pg_config_diag_key *)0)->m)
#define GROUP_AUTH "none|mtls|jwt|mtls or jwt|jwt or mtls"
#define GOVERSE_ONLY(p, h) {.path = (p), .type = CT_IGNORED, .help = (h)}

/* Every setting, once, in documentation order. A nested section is a
 * CT_SECTION row followed by the rows of its keys, so a future top-level
 * `diagnostics:` section is one more such block. */
static const struct setting rows[] = {
	/* Flags only (Goverse node/serverconfig). */
	{.flag = "config", .type = CT_FILE, CFG(config_path),
	 .help = "Read the YAML config FILE (Goverse's schema). Address flags are then refused; the node "
		 "comes from the file's nodes: list."},
	{.flag = "node-id", .type = CT_ID, CFG(node_id),
	 .help = "With --config: pick this entry of nodes:. May be left out when nodes: has exactly one "
		 "entry."},
	{.flag = "listen", .type = CT_ADDR, .def = "localhost:47000", .flags = RF_NOCONFIG | RF_ANY_HOST,
	 CFG(listen), .file_key = "nodes[].grpc_addr",
	 .help = "gRPC listen address (nodes[].grpc_addr in the file)."},
	{.flag = "advertise", .type = CT_ADDR, .flags = RF_NOCONFIG, CFG(advertise),
	 .file_key = "nodes[].advertise_addr",
	 .help = "Address other nodes use to reach this one (nodes[].advertise_addr in the file)."},
	{.flag = "http-listen", .type = CT_ADDR, .def = "localhost:9090", .flags = RF_NOCONFIG | RF_ANY_HOST,
	 CFG(http_listen), .file_key = "nodes[].http_addr",
	 .help = "HTTP listen address for /metrics and /debug/pprof (nodes[].http_addr in the file)."},
	{.flag = "log-level", .type = CT_LOGLEVEL, .def = "info", CFG(log_level),
	 .help = "Minimum log level: debug, info, warn or error."},
	{.flag = "check-config", .type = CT_ACTION, .min = ACT_CHECK,
	 .help = "Run every check a start runs (flags, the --config file, TLS and key files, the listeners' "
		 "exposure, admin settings, Go Goverse nodes under the etcd prefix) without starting: print "
		 "one OK line and exit 0, or every error and exit 2. Exit 0 means the node will start unless "
		 "a listen address is in use or cannot be bound."},
	{.flag = "version", .type = CT_ACTION, .min = ACT_VERSION, .help = "Print the version and exit."},
	{.flag = "help", .type = CT_ACTION, .min = ACT_HELP, .help = "Print this help and exit."},
	{.flag = "help-config-markdown", .type = CT_ACTION, .min = ACT_MARKDOWN,
	 .help = "Print the configuration reference (docs/configuration.md) and exit."},

	/* The YAML file (Goverse config/config.go, plus marked extensions). */
	{.path = "version", .type = CT_INT, .min = 1, .max = 1, .def = "1", .flags = RF_REQUIRED,
	 CFG(version), .example = "1", .help = "Config schema version; must be 1."},
	{.path = "cluster", .type = CT_SECTION, .flags = RF_REQUIRED,
	 .help = "Cluster-wide settings, shared by every node."},
	{.path = "cluster.shards", .type = CT_INT, .min = 1, .max = 1048576, .def = "8192", CFG(shards),
	 .example = "8192", .help = "Number of shards; every node of a cluster must agree."},
	{.path = "cluster.provider", .type = CT_ENUM, .def = "etcd", .flags = RF_REQUIRED, CFG(provider),
	 .choices = "etcd", .example = "etcd",
	 .help = "Cluster membership provider; only etcd is supported (as in Goverse)."},
	{.path = "cluster.etcd", .type = CT_SECTION, .help = "etcd connection."},
	{.path = "cluster.etcd.endpoints", .flag = "etcd", .type = CT_ADDR_LIST, .min = 1,
	 .max = PG_CONFIG_MAX_ENDPOINTS, .def = "localhost:2379", .flags = RF_NOCONFIG, CFG(etcd_endpoints),
	 .count_off = offsetof(struct pg_config, n_etcd_endpoints), .example = "[localhost:2379]",
	 .help = "etcd endpoints as host:port (no scheme; TLS is set by cluster.etcd.tls). The flag takes "
		 "a comma-separated list."},
	{.path = "cluster.etcd.prefix", .flag = "etcd-prefix", .type = CT_PREFIX, .def = "/goverse",
	 .flags = RF_NOCONFIG, CFG(etcd_prefix), .example = "/goverse",
	 .help = "Key prefix of the cluster in etcd: starts with '/', no trailing '/'."},
	{.path = "cluster.etcd.lease_ttl", .type = CT_INT, .min = 5, .max = 300, .def = "15",
	 CFG(etcd_lease_ttl), .example = "15",
	 .help = "Seconds the node's etcd lease lives without a keepalive (pprofgate extension)."},
	{.path = "cluster.etcd.unsafe_share_goverse_prefix", .flag = "unsafe-share-goverse-prefix", .type = CT_ENUM,
	 .choices = "false|true", .def = "false", .flags = RF_NOCONFIG, CFG(etcd_unsafe_share_goverse_prefix),
	 .help = "UNSAFE. true: register even when the prefix holds a Go Goverse cluster's keys "
		 "(<prefix>/leader, /shard/, /gates/); its leader would then assign shards to this node, which "
		 "never claims them (docs/membership.md). Without it such a start is refused."},
	{.path = "cluster.etcd.tls", .type = CT_SECTION,
	 .help = "TLS to etcd (pprofgate extension); without it etcd is reached over plain HTTP."},
	{.path = "cluster.etcd.tls.ca_file", .type = CT_PATH, CFG(etcd_ca_file),
	 .help = "PEM CA bundle that signs the etcd server certificate."},
	{.path = "cluster.etcd.tls.cert_file", .type = CT_PATH, CFG(etcd_cert_file),
	 .help = "PEM client certificate for etcd (set together with key_file)."},
	/* A path, not a secret: RF_SENSITIVE is for values that are secrets (tokens). */
	{.path = "cluster.etcd.tls.key_file", .type = CT_PATH, CFG(etcd_key_file),
	 .help = "PEM client private key for etcd (the path is not secret; the file is)."},
	/* admin: the admin gRPC API (proto/admin.proto) and diagnostics windows. */
	{.path = "admin", .type = CT_SECTION,
	 .help = "Admin API for diagnostics windows (pprofgate extension); served only over mutual TLS."},
	{.path = "admin.listen", .flag = "admin-listen", .type = CT_ADDR, .def = "localhost:47001",
	 .flags = RF_NOCONFIG | RF_ANY_HOST, CFG(admin_listen), .example = "localhost:47001",
	 .help = "Listen address of the admin gRPC API (pprofgate.admin.v1.Diagnostics)."},
	{.path = "admin.allowed_identities", .flag = "admin-allow", .type = CT_ID, .flags = RF_NOCONFIG,
	 CFG(admin_allowed_identities), .example = "cn:admin,uri:spiffe://pprofgate.local/admin",
	 .help = "Client identities allowed to open and close windows, comma-separated: cn:NAME, "
		 "uri:URI, dns:NAME, email:ADDR (see docs/auth.md)."},
	{.path = "admin.tls", .type = CT_SECTION,
	 .help = "Admin TLS; without cert_file, key_file and client_ca_file the admin API is not served."},
	{.path = "admin.tls.cert_file", .flag = "admin-cert", .type = CT_PATH, .flags = RF_NOCONFIG,
	 CFG(admin_cert_file), .help = "PEM server certificate of the admin API."},
	{.path = "admin.tls.key_file", .flag = "admin-key", .type = CT_PATH, .flags = RF_NOCONFIG,
	 CFG(admin_key_file), .help = "PEM private key of the admin API (the path is not secret)."},
	{.path = "admin.tls.client_ca_file", .flag = "admin-client-ca", .type = CT_PATH, .flags = RF_NOCONFIG,
	 CFG(admin_client_ca_file),
	 .help = "PEM CA bundle for admin client certificates; a client certificate is required."},
	{.path = "admin.window", .type = CT_SECTION, .help = "Diagnostics window bounds."},
	{.path = "admin.window.max_seconds", .flag = "admin-window-max", .type = CT_INT, .min = 1,
	 .max = 86400, .def = "3600", .flags = RF_NOCONFIG, CFG(admin_window_max_seconds), .example = "3600",
	 .help = "Longest window OpenWindow accepts, in seconds."},
	{.path = "admin.window.min_capture_seconds", .type = CT_INT, .min = 0, .max = 3600, .def = "1",
	 CFG(admin_window_min_capture_seconds), .example = "1",
	 .help = "A capture is refused when less than this many seconds of the window are left."},
	{.path = "admin.window.cluster_grace_seconds", .type = CT_INT, .min = 0, .max = 300, .def = "0",
	 CFG(admin_window_cluster_grace_seconds), .example = "0",
	 .help = "A node that cannot confirm a cluster window's etcd record for this many seconds closes "
		 "its cluster window (audited); 0 = cluster.etcd.lease_ttl."},
	{.path = "admin.require_approval", .type = CT_ENUM, .choices = "false|true", .def = "false",
	 CFG(admin_require_approval), .example = "false",
	 .help = "true: four-eyes windows. OpenWindow is refused; `pprofgatectl window request` creates a "
		 "pending request that another allowed identity opens with `window approve ID`."},
	{.path = "admin.request_ttl_seconds", .type = CT_INT, .min = 5, .max = 86400, .def = "600",
	 CFG(admin_request_ttl_seconds), .example = "600",
	 .help = "A pending window request nobody approved or denied expires after this many seconds "
		 "(cluster requests: the TTL of their etcd lease)."},
	{.path = "nodes", .type = CT_NODES, .max = PG_CONFIG_MAX_NODES,
	 .help = "The cluster's nodes; --node-id picks this process's entry."},

	/* diagnostics: the gateway in front of /debug/pprof (pprofgate extension;
	 * TLS names as in Prometheus' web-config). See SECURITY.md, docs/auth.md. */
	{.path = "diagnostics", .type = CT_SECTION,
	 .help = "The diagnostics gateway (pprofgate extension). Without it /debug/pprof answers loopback "
		 "peers only, /metrics and /healthz are open. SIGHUP reloads this section."},
	{.path = "diagnostics.tls_server_config", .type = CT_SECTION,
	 .help = "HTTPS for the HTTP listener (as Prometheus web-config). TLS 1.2+, ECDHE, AEAD ciphers "
		 "only."},
	{.path = "diagnostics.tls_server_config.cert_file", .type = CT_PATH, DIAG(cert_file),
	 .help = "PEM server certificate chain, leaf first; set with key_file to serve HTTPS."},
	{.path = "diagnostics.tls_server_config.key_file", .type = CT_PATH, DIAG(key_file),
	 .help = "PEM private key of cert_file; must be mode 600 (refused when group or others can read "
		 "it)."},
	{.path = "diagnostics.tls_server_config.client_ca_file", .type = CT_PATH, DIAG(client_ca_file),
	 .help = "PEM CA bundle for client certificates (mtls). Each request's chain is verified by the "
		 "gateway: trust, dates, clientAuth usage."},
	{.path = "diagnostics.tls_server_config.client_auth_type", .type = CT_ENUM,
	 .choices = "NoClientCert|RequestClientCert|RequireAndVerifyClientCert", DIAG(client_auth_type),
	 .help = "Whether the TLS handshake asks for a client certificate. Default: RequestClientCert when "
		 "client_ca_file is set. RequireAndVerifyClientCert also makes mtls the pprof default. "
		 "Which routes need one is set by groups.*.auth."},
	{.path = "diagnostics.tls_server_config.min_version", .type = CT_ENUM, .choices = "TLS12|TLS13",
	 .def = "TLS12", DIAG(min_version), .help = "Lowest TLS version accepted."},
	{.path = "diagnostics.client_identities", .type = CT_TEXT_LIST, .max = 256, DIAG(client_identities),
	 .help = "Client certificates allowed (mtls): \"IDENTITY [SCOPE...]\" per entry, IDENTITY one of "
		 "cn:NAME, dns:NAME, uri:URI, email:ADDR, spiffe://...; SCOPE pprof:read (default), "
		 "pprof:sensitive (heap, allocs, goroutine, cmdline) or pprof:admin."},
	{.path = "diagnostics.jwt", .type = CT_SECTION,
	 .help = "Bearer JWTs (RFC 6750, RFC 7519), algorithm pinned per key; exp required."},
	{.path = "diagnostics.jwt.keys", .type = CT_KEYS, .max = PG_CONFIG_DIAG_KEYS,
	 .help = "Verification keys: a list of {alg, kid, file} (see below)."},
	{.path = "diagnostics.jwt.issuer", .type = CT_TEXT, DIAG(jwt_issuer),
	 .help = "Required \"iss\"; empty = not checked."},
	{.path = "diagnostics.jwt.audience", .type = CT_TEXT, DIAG(jwt_audience),
	 .help = "Required in \"aud\" (string or array); empty = not checked."},
	{.path = "diagnostics.jwt.clock_skew", .type = CT_INT, .min = 0, .max = 600, .def = "60",
	 DIAG(jwt_clock_skew), .help = "Seconds of clock skew allowed for exp, nbf and iat."},
	{.path = "diagnostics.trusted_proxies", .type = CT_TEXT_LIST, .max = 64, DIAG(trusted_proxies),
	 .help = "CIDRs of proxies whose X-Forwarded-For is believed (walked from the right); others' is "
		 "ignored."},
	{.path = "diagnostics.groups", .type = CT_SECTION, .help = "Policy per route group."},
	{.path = "diagnostics.groups.pprof", .type = CT_SECTION, .help = "/debug/pprof/*."},
	{.path = "diagnostics.groups.pprof.auth", .type = CT_ENUM, .choices = GROUP_AUTH, DIAG(pprof.auth),
	 .help = "Methods, OR-combined. Empty: loopback peers only (unless an allowlist is set)."},
	{.path = "diagnostics.groups.pprof.allowlist", .type = CT_TEXT_LIST, .max = 256, DIAG(pprof.allowlist),
	 .help = "Client CIDRs allowed (IPv4/IPv6); checked before authentication; empty = any."},
	{.path = "diagnostics.groups.pprof.require_window", .type = CT_ENUM, .choices = "auto|false|true",
	 .def = "auto", DIAG(pprof.require_window),
	 .help = "true: profiles only while the diagnostics window is open (admin API), checked after "
		 "authentication (403 window_closed). auto: true whenever pprof needs authentication "
		 "(mtls or jwt), false in the loopback-only default."},
	{.path = "diagnostics.groups.metrics", .type = CT_SECTION,
	 .help = "/metrics (open by default; guarding it for the first time needs a restart)."},
	{.path = "diagnostics.groups.metrics.auth", .type = CT_ENUM, .choices = GROUP_AUTH, DIAG(metrics.auth),
	 .help = "Methods, OR-combined; empty = none."},
	{.path = "diagnostics.groups.metrics.allowlist", .type = CT_TEXT_LIST, .max = 256,
	 DIAG(metrics.allowlist), .help = "Client CIDRs allowed; empty = any."},
	{.path = "diagnostics.groups.health", .type = CT_SECTION,
	 .help = "/healthz and /ready (open by default; guarding them for the first time needs a restart)."},
	{.path = "diagnostics.groups.health.auth", .type = CT_ENUM, .choices = GROUP_AUTH, DIAG(health.auth),
	 .help = "Methods, OR-combined; empty = none."},
	{.path = "diagnostics.groups.health.allowlist", .type = CT_TEXT_LIST, .max = 256,
	 DIAG(health.allowlist), .help = "Client CIDRs allowed; empty = any."},
	{.path = "diagnostics.plain_listen", .type = CT_ADDR, .flags = RF_ANY_HOST, DIAG(plain_listen),
	 .help = "With tls_server_config: also serve /metrics, /healthz and /ready over plain HTTP on "
		 "this address (for scrapers); /debug/pprof is never served there."},
	{.path = "diagnostics.advertise_url", .type = CT_TEXT, DIAG(advertise_url),
	 .help = "URL clients use to reach this HTTP listener, published with the node's etcd lease under "
		 "<prefix>/diagnostics/endpoints/<advertise> (pprofgatectl nodes, fetch --cluster). Empty: "
		 "derived from http_addr (https with tls_server_config; a wildcard or empty host becomes the "
		 "advertise host). Read at start."},
	{.path = "diagnostics.advertise_server_name", .type = CT_TEXT, DIAG(advertise_server_name),
	 .help = "TLS server name clients verify for advertise_url (published with it); empty = the URL's "
		 "host."},
	{.path = "diagnostics.metrics_share_ms", .type = CT_INT, .min = 0, .max = 10000, .def = "5",
	 DIAG(metrics_share_ms), .example = "5",
	 .help = "Scrapes of /metrics that arrive within this many milliseconds of a rendering get that "
		 "rendering (bounds the CPU a flood of scrapers costs to one rendering per window); 0 = render "
		 "every scrape. Read at start."},
	{.path = "diagnostics.audit_file", .type = CT_FILE, DIAG(audit_file),
	 .help = "Audit log: one JSON line per diagnostics request and per refused request on any route or "
		 "listener (opened O_APPEND, created 0600; reopened on SIGHUP), each chained to the one before by seq "
		 "and hash (docs/audit.md; check with pprofgatectl audit verify). Empty = stderr."},
	{.path = "diagnostics.audit_public_success", .type = CT_ENUM, .choices = "false|true", .def = "false",
	 DIAG(audit_public_success),
	 .help = "true: also audit successful /metrics, /healthz and /ready requests (one line per scrape; "
		 "read at start, a change needs a restart). Refusals on every route are always audited."},
	{.path = "diagnostics.audit_hmac_key_file", .type = CT_PATH, DIAG(audit_hmac_key_file),
	 .help = "Key (32..1024 bytes, mode 600; e.g. openssl rand -hex 32) that makes each audit line's chain "
		 "hash an HMAC-SHA256: then only the key holder can forge the chain (docs/audit.md). Empty = "
		 "SHA-256. Reloaded on SIGHUP (a new key starts a new chain segment)."},
	{.path = "diagnostics.audit_queue_lines", .type = CT_INT, .min = 16, .max = 1048576, .def = "4096",
	 DIAG(audit_queue_lines), .example = "4096",
	 .help = "Audit lines queued for the writer, counting one per diagnostics request in flight; when "
		 "full, diagnostics requests are refused (503 audit_unavailable). Read at start."},
	{.path = "diagnostics.audit_sync_ms", .type = CT_INT, .min = 0, .max = 10000, .def = "100",
	 DIAG(audit_sync_ms), .example = "100",
	 .help = "The audit file is fdatasync()ed within this many ms of a line being written: what a "
		 "machine crash may lose. 0 = after every write. Read at start."},
	{.path = "diagnostics.cmdline_redact", .type = CT_ENUM, .choices = "true|false", .def = "true",
	 DIAG(cmdline_redact),
	 .help = "Replace secret-looking values in /debug/pprof/cmdline with <redacted> (see "
		 "cmdline_redact_patterns)."},
	{.path = "diagnostics.cmdline_redact_patterns", .type = CT_TEXT_LIST, .max = 64,
	 DIAG(cmdline_redact_patterns),
	 .help = "Argument names whose values are redacted: case-insensitive substrings of NAME in "
		 "--NAME=V, --NAME V, -NAME=V and NAME=V. Empty = password, passwd, secret, token, key, "
		 "credential, auth."},
	{.path = "diagnostics.limits", .type = CT_SECTION,
	 .help = "Connection limits of the HTTP listeners (each listener; changes need a restart). They keep "
		 "/metrics answering under idle, slow or many clients (docs/performance.md)."},
	{.path = "diagnostics.limits.max_connections", .type = CT_INT, .min = 16, .max = 65536, .def = "8192",
	 DIAG(max_connections), .example = "8192",
	 .help = "Open connections; more wait in the kernel's accept queue. Lowered to fit the process's "
		 "open-file limit."},
	{.path = "diagnostics.limits.max_connections_per_ip", .type = CT_INT, .min = 0, .max = 65536,
	 .def = "64", DIAG(max_connections_per_ip), .example = "64",
	 .help = "Open connections from one client address; further ones are closed at once. 0 = no limit."},
	{.path = "diagnostics.limits.header_timeout", .type = CT_INT, .min = 1, .max = 300, .def = "10",
	 DIAG(header_timeout), .example = "10",
	 .help = "Seconds a connection has to send its request headers (TLS handshake included), counted "
		 "from the connection or the request line of a later request."},
	{.path = "diagnostics.limits.body_timeout", .type = CT_INT, .min = 1, .max = 600, .def = "30",
	 DIAG(body_timeout), .example = "30", .help = "Seconds a request body has to arrive after the headers."},
	{.path = "diagnostics.limits.idle_timeout", .type = CT_INT, .min = 1, .max = 3600, .def = "60",
	 DIAG(idle_timeout), .example = "60",
	 .help = "Seconds of silence after which a connection (a kept-alive one between requests, too) is "
		 "closed."},

	/* Goverse settings pprofgate does not use (Goverse config/config.go). */
	GOVERSE_ONLY("cluster.imbalance_threshold", "Shard rebalancing threshold."),
	GOVERSE_ONLY("cluster.cluster_state_stability_duration", "Wait before acting on membership changes."),
	GOVERSE_ONLY("cluster.stuck_shard_reallocation_timeout", "Shard reassignment timeout."),
	GOVERSE_ONLY("cluster.default_call_timeout", "CallObject timeout."),
	GOVERSE_ONLY("cluster.default_create_timeout", "CreateObject timeout."),
	GOVERSE_ONLY("cluster.default_delete_timeout", "DeleteObject timeout."),
	GOVERSE_ONLY("cluster.auto_load_objects", "Objects created at start-up."),
	GOVERSE_ONLY("postgres", "Persistence database."),
	GOVERSE_ONLY("inspector", "Inspector service."),
	GOVERSE_ONLY("gates", "Client gates."),
	GOVERSE_ONLY("object_access_rules", "Object access control."),
	GOVERSE_ONLY("object_lifecycle_rules", "Object lifecycle control."),
};

/* The entries of nodes: (Goverse NodeConfig); paths are relative. */
static const struct setting node_rows[] = {
	{.path = "id", .type = CT_ID, .flags = RF_REQUIRED, NODE(id), .example = "node1",
	 .help = "Unique node id; --node-id selects the entry."},
	{.path = "grpc_addr", .type = CT_ADDR, .flags = RF_REQUIRED | RF_ANY_HOST, NODE(grpc_addr),
	 .example = "localhost:47000", .help = "gRPC listen address (what --listen sets without a file)."},
	{.path = "advertise_addr", .type = CT_ADDR, .flags = RF_REQUIRED, NODE(advertise_addr),
	 .example = "localhost:47000", .help = "Address other nodes use for this node (--advertise)."},
	{.path = "http_addr", .type = CT_ADDR, .flags = RF_ANY_HOST, NODE(http_addr),
	 .example = "localhost:9090",
	 .help = "HTTP listen address for /metrics and /debug/pprof (--http-listen); left out = no HTTP "
		 "listener, as in Goverse."},
};

/* The entries of diagnostics.jwt.keys; paths are relative. */
static const struct setting key_rows[] = {
	{.path = "alg", .type = CT_ENUM, .choices = "RS256|ES256|HS256", .flags = RF_REQUIRED, KEY(alg),
	 .example = "RS256", .help = "The only algorithm this key verifies (no alg=none, no HS/RS confusion)."},
	{.path = "kid", .type = CT_ID, KEY(kid), .example = "2026-11",
	 .help = "Key id the token's header must name; empty = serves tokens with any or no kid."},
	{.path = "file", .type = CT_PATH, .flags = RF_REQUIRED, KEY(file), .example = "/etc/pprofgate/jwt.pub",
	 .help = "PEM public key (RSA >= 2048 / P-256), or for HS256 the secret (>= 32 bytes, mode 600)."},
};
#define NKEY_ROWS (sizeof(key_rows) / sizeof(key_rows[0]))

static const char *metavar(const struct setting *r);

#define NROWS (sizeof(rows) / sizeof(rows[0]))
#define NNODE_ROWS (sizeof(node_rows) / sizeof(node_rows[0]))

/* ---- error collection ---- */

struct errs {
	struct pg_buf b;
	int n;
};

static void errs_add(struct errs *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void errs_add(struct errs *e, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	e->n++;
	if (e->n > MAX_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (e->n == MAX_ERRORS)
		snprintf(line, sizeof(line), "too many errors; stopped after %d", MAX_ERRORS - 1);
	if (pg_buf_puts(&e->b, line) != PG_OK || pg_buf_puts(&e->b, "\n") != PG_OK)
		return; /* bounded buffer full: the count still says there were errors */
}

/* Copies `s` for an error message: at most 60 characters, control and
 * non-ASCII bytes escaped so a hostile file cannot forge log lines. */
static const char *quote(const char *s, char *out, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; s[i] && o + 8 < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (i >= 60) {
			o += (size_t)snprintf(out + o, n - o, "...");
			break;
		}
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, n - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
	return out;
}

/* ---- value parsing (shared by flags, YAML and defaults) ---- */

static int parse_long(const char *s, long *v)
{
	char *end;

	if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+'))
		return -1;
	errno = 0;
	*v = strtol(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	return 0;
}

static bool host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_';
}

/* host:port, [v6]:port; port 0..65535 (0 = any free port, for tests). */
static int check_addr(const char *s, bool any_host, const char **why)
{
	const char *colon, *p;
	long port = 0;

	if (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) {
		*why = "host:port without a scheme";
		return -1;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close == s + 1) {
			*why = "[IPv6]:port with a closing ']'";
			return -1;
		}
		/* RFC 3986 IP-literal with an optional RFC 6874 zone ("%eth0"). */
		bool zone = false, colons = false;
		for (p = s + 1; p < close; p++) {
			bool hex = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F');
			if (!zone && *p == '%' && p > s + 1) {
				zone = true;
				continue;
			}
			colons |= !zone && *p == ':';
			if (zone ? !host_char(*p) : !(hex || *p == ':' || *p == '.')) {
				*why = "an IPv6 address in brackets, e.g. [::1]:47000";
				return -1;
			}
		}
		if (!colons || p[-1] == '%') {
			*why = "an IPv6 address in brackets, e.g. [::1]:47000";
			return -1;
		}
		colon = close + 1;
		if (*colon != ':') {
			*why = "[IPv6]:port, e.g. [::1]:47000";
			return -1;
		}
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			*why = "host:port, e.g. localhost:47000";
			return -1;
		}
		for (p = s; p < colon; p++) {
			if (*p == ':') {
				*why = "host:port; put IPv6 addresses in brackets, e.g. [::1]:47000";
				return -1;
			}
			if (!host_char(*p)) {
				*why = "host:port with a host name or IP address";
				return -1;
			}
		}
		if (colon == s && !any_host) {
			*why = "host:port with a host (an empty host only makes sense for listen addresses)";
			return -1;
		}
	}
	p = colon + 1;
	if (!*p || strlen(p) > 5) {
		*why = "host:port with a port in 0..65535";
		return -1;
	}
	for (; *p; p++) {
		if (*p < '0' || *p > '9') {
			*why = "host:port with a port in 0..65535";
			return -1;
		}
		port = port * 10 + (*p - '0');
	}
	if (port > 65535) {
		*why = "host:port with a port in 0..65535";
		return -1;
	}
	return 0;
}

static int put_str(void *dst, size_t size, const char *s, const char **why, char *tmp, size_t tmpn)
{
	size_t n = strlen(s);

	if (n >= size) {
		snprintf(tmp, tmpn, "at most %zu bytes", size - 1);
		*why = tmp;
		return -1;
	}
	memcpy(dst, s, n + 1);
	return 0;
}

/* Parses one scalar `s` for row `r` into `base`. On failure *why says what
 * was expected (static text or `tmp`). */
static int set_scalar(const struct setting *r, void *base, const char *s, const char **why, char *tmp,
		      size_t tmpn)
{
	char *dst = (char *)base + r->off;
	long v;

	switch (r->type) {
	case CT_INT:
		if (parse_long(s, &v) != 0 || v < r->min || v > r->max) {
			if (r->min == r->max)
				snprintf(tmp, tmpn, "%ld", r->min);
			else
				snprintf(tmp, tmpn, "an integer in %ld..%ld", r->min, r->max);
			*why = tmp;
			return -1;
		}
		if (r->size == sizeof(int))
			*(int *)(void *)dst = (int)v;
		else
			*(long *)(void *)dst = v;
		return 0;
	case CT_LOGLEVEL:
		v = pg_log_level_parse(s);
		if (v < 0) {
			*why = "one of debug, info, warn, error";
			return -1;
		}
		*(int *)(void *)dst = (int)v;
		return 0;
	case CT_ENUM: {
		size_t n = strlen(s);
		const char *c = r->choices;
		while (*c) {
			size_t cl = strcspn(c, "|");
			if (cl == n && strncmp(c, s, n) == 0)
				return put_str(dst, r->size, s, why, tmp, tmpn);
			c += cl + (c[cl] == '|');
		}
		snprintf(tmp, tmpn, "one of: %s", r->choices);
		*why = tmp;
		return -1;
	}
	case CT_ADDR:
		if (check_addr(s, (r->flags & RF_ANY_HOST) != 0, why) != 0)
			return -1;
		return put_str(dst, r->size, s, why, tmp, tmpn);
	case CT_PREFIX:
		if (s[0] != '/' || s[1] == '\0' || s[strlen(s) - 1] == '/') {
			*why = "a key prefix starting with '/' and without a trailing '/', e.g. /goverse";
			return -1;
		}
		return put_str(dst, r->size, s, why, tmp, tmpn);
	case CT_ID:
		for (const char *p = s; *p; p++)
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
				*why = "an id of printable ASCII without spaces";
				return -1;
			}
		if (!*s) {
			*why = "a non-empty id";
			return -1;
		}
		return put_str(dst, r->size, s, why, tmp, tmpn);
	case CT_PATH:
		if (!*s) {
			*why = "a file path";
			return -1;
		}
		if (access(s, R_OK) != 0) {
			snprintf(tmp, tmpn, "a readable file (%s)", strerror(errno));
			*why = tmp;
			return -1;
		}
		return put_str(dst, r->size, s, why, tmp, tmpn);
	case CT_FILE:
		if (!*s) {
			*why = "a file path";
			return -1;
		}
		return put_str(dst, r->size, s, why, tmp, tmpn);
	case CT_TEXT:
	case CT_TEXT_LIST: /* one entry */
		for (const char *p = s; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
				*why = "printable ASCII text";
				return -1;
			}
		return put_str(dst, r->size, s, why, tmp, tmpn);
	case CT_ADDR_LIST: {
		/* Flags and defaults: comma-separated. */
		size_t *count = (size_t *)(void *)((char *)base + r->count_off);
		size_t elem = r->size / PG_CONFIG_MAX_ENDPOINTS;
		size_t n = 0;
		const char *p = s;
		char one[PG_CONFIG_ADDR_MAX];
		for (;;) {
			size_t l = strcspn(p, ",");
			if (l >= sizeof(one) || n >= (size_t)r->max) {
				snprintf(tmp, tmpn, "1..%ld comma-separated host:port", r->max);
				*why = tmp;
				return -1;
			}
			memcpy(one, p, l);
			one[l] = '\0';
			if (check_addr(one, false, why) != 0)
				return -1;
			memcpy(dst + n * elem, one, l + 1);
			n++;
			if (!p[l])
				break;
			p += l + 1;
		}
		*count = n;
		return 0;
	}
	default:
		*why = "no value";
		return -1;
	}
}

static void apply_defaults(struct pg_config *cfg)
{
	for (size_t i = 0; i < NROWS; i++) {
		const char *why;
		char tmp[128];
		if (rows[i].def && rows[i].size &&
		    set_scalar(&rows[i], cfg, rows[i].def, &why, tmp, sizeof(tmp)) != 0)
			pg_error("config", "bad built-in default for %s", rows[i].flag ? rows[i].flag : rows[i].path);
	}
}

/* ---- "did you mean" ---- */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		d[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = d[0];
		d[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = d[j];
			size_t best = prev + (a[i - 1] != b[j - 1]);
			if (d[j] + 1 < best)
				best = d[j] + 1;
			if (d[j - 1] + 1 < best)
				best = d[j - 1] + 1;
			d[j] = best;
			prev = cur;
		}
	}
	return d[lb];
}

/* The last path component of a row, and whether its parent is `parent`. */
static const char *child_of(const struct setting *r, const char *parent)
{
	size_t pl = strlen(parent);

	if (!r->path)
		return NULL;
	if (pl == 0)
		return strchr(r->path, '.') ? NULL : r->path;
	if (strncmp(r->path, parent, pl) != 0 || r->path[pl] != '.' || strchr(r->path + pl + 1, '.'))
		return NULL;
	return r->path + pl + 1;
}

/* ---- YAML ---- */

struct yctx {
	const char *name;
	yaml_document_t *doc;
	struct errs *e;
	struct pg_config *cfg;
	yaml_mark_t marks[NROWS]; /* where each main-table key was set */
	bool seen_main[NROWS];
};

#define AT(c, m) (c)->name, (unsigned long)(m).line + 1, (unsigned long)(m).column + 1

static const char *kind(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	return "a scalar";
}

static bool is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0);
}

static const char *type_text(const struct setting *r, char *tmp, size_t n)
{
	switch (r->type) {
	case CT_INT:
		if (r->min == r->max)
			snprintf(tmp, n, "%ld", r->min);
		else
			snprintf(tmp, n, "an integer in %ld..%ld", r->min, r->max);
		return tmp;
	case CT_ENUM:
		snprintf(tmp, n, "one of: %s", r->choices);
		return tmp;
	case CT_ADDR:
		return "host:port";
	case CT_PREFIX:
		return "a key prefix such as /goverse";
	case CT_PATH:
		return "a file path";
	case CT_ID:
		return "an id";
	case CT_ADDR_LIST:
		return "a list of host:port, e.g. [localhost:2379]";
	case CT_NODES:
		return "a list of node mappings (- id: ...)";
	case CT_TEXT:
		return "text";
	case CT_TEXT_LIST:
		return "a list of strings";
	case CT_KEYS:
		return "a list of key mappings (- {alg: RS256, file: ...})";
	case CT_SECTION:
		return "a mapping of keys";
	default:
		return "a value";
	}
}

static void walk_map(struct yctx *c, yaml_node_t *map, const struct setting *tab, size_t ntab,
		     const char *lookup, const char *disp, void *base, bool *seen, yaml_mark_t *marks);

static void set_from_scalar(struct yctx *c, const struct setting *r, void *base, yaml_node_t *v,
			    const char *disp)
{
	char tmp[160], q[256];
	const char *why = NULL;
	const char *s = (const char *)v->data.scalar.value;

	if (v->type != YAML_SCALAR_NODE) {
		errs_add(c->e, "%s:%lu:%lu: %s: expected %s, got %s", AT(c, v->start_mark), disp,
			 type_text(r, tmp, sizeof(tmp)), kind(v));
		return;
	}
	if (is_null(v)) {
		errs_add(c->e, "%s:%lu:%lu: %s: expected %s, got an empty value", AT(c, v->start_mark), disp,
			 type_text(r, tmp, sizeof(tmp)));
		return;
	}
	if (strlen(s) != v->data.scalar.length) {
		errs_add(c->e, "%s:%lu:%lu: %s: value contains a NUL character", AT(c, v->start_mark), disp);
		return;
	}
	/* YAML 1.1 would read a quoted "8192" as a string; Goverse's yaml.v3 rejects it. */
	if (r->type == CT_INT && v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		errs_add(c->e, "%s:%lu:%lu: %s: expected %s, got the quoted string \"%s\"; remove the quotes",
			 AT(c, v->start_mark), disp, type_text(r, tmp, sizeof(tmp)), quote(s, q, sizeof(q)));
		return;
	}
	if (set_scalar(r, base, s, &why, tmp, sizeof(tmp)) != 0)
		errs_add(c->e, "%s:%lu:%lu: %s: expected %s, got \"%s\"", AT(c, v->start_mark), disp, why,
			 (r->flags & RF_SENSITIVE) ? "(hidden)" : quote(s, q, sizeof(q)));
}

static void set_addr_list(struct yctx *c, const struct setting *r, void *base, yaml_node_t *v,
			  const char *disp)
{
	size_t *count = (size_t *)(void *)((char *)base + r->count_off);
	size_t elem = r->size / PG_CONFIG_MAX_ENDPOINTS, n;
	char tmp[160], q[256];

	if (v->type != YAML_SEQUENCE_NODE) {
		errs_add(c->e, "%s:%lu:%lu: %s: expected %s, got %s", AT(c, v->start_mark), disp,
			 type_text(r, tmp, sizeof(tmp)), is_null(v) ? "an empty value" : kind(v));
		return;
	}
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n < (size_t)r->min || n > (size_t)r->max) {
		errs_add(c->e, "%s:%lu:%lu: %s: expected %ld..%ld entries, got %zu", AT(c, v->start_mark), disp,
			 r->min, r->max, n);
		return;
	}
	*count = 0;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = yaml_document_get_node(c->doc, v->data.sequence.items.start[i]);
		const char *why, *s;
		if (!it || it->type != YAML_SCALAR_NODE || is_null(it)) {
			errs_add(c->e, "%s:%lu:%lu: %s[%zu]: expected host:port, got %s", AT(c, it->start_mark),
				 disp, i, it && is_null(it) ? "an empty value" : kind(it));
			continue;
		}
		s = (const char *)it->data.scalar.value;
		if (check_addr(s, false, &why) != 0 || strlen(s) >= elem) {
			if (strlen(s) >= elem)
				why = "a shorter host:port";
			errs_add(c->e, "%s:%lu:%lu: %s[%zu]: expected %s, got \"%s\"", AT(c, it->start_mark), disp,
				 i, why, quote(s, q, sizeof(q)));
			continue;
		}
		memcpy((char *)base + r->off + (*count) * elem, s, strlen(s) + 1);
		(*count)++;
	}
}

static void set_nodes(struct yctx *c, yaml_node_t *v)
{
	size_t n;
	yaml_mark_t id_marks[PG_CONFIG_MAX_NODES];

	if (is_null(v))
		return; /* `nodes:` with nothing under it: an empty list */
	if (v->type != YAML_SEQUENCE_NODE) {
		errs_add(c->e, "%s:%lu:%lu: nodes: expected a list of node mappings (- id: ...), got %s",
			 AT(c, v->start_mark), kind(v));
		return;
	}
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n > PG_CONFIG_MAX_NODES) {
		errs_add(c->e, "%s:%lu:%lu: nodes: expected at most %d entries, got %zu", AT(c, v->start_mark),
			 PG_CONFIG_MAX_NODES, n);
		return;
	}
	if (n == 0)
		return;
	c->cfg->nodes = calloc(n, sizeof(*c->cfg->nodes));
	if (!c->cfg->nodes) {
		errs_add(c->e, "%s: out of memory", c->name);
		return;
	}
	c->cfg->n_nodes = n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = yaml_document_get_node(c->doc, v->data.sequence.items.start[i]);
		char disp[32];
		bool seen[NNODE_ROWS] = {false};
		yaml_mark_t marks[NNODE_ROWS];

		snprintf(disp, sizeof(disp), "nodes[%zu]", i);
		id_marks[i] = it->start_mark;
		if (it->type != YAML_MAPPING_NODE) {
			errs_add(c->e, "%s:%lu:%lu: %s: expected a mapping with id, grpc_addr, advertise_addr, "
				       "http_addr, got %s", AT(c, it->start_mark), disp, kind(it));
			continue;
		}
		walk_map(c, it, node_rows, NNODE_ROWS, "", disp, &c->cfg->nodes[i], seen, marks);
		if (seen[0])
			id_marks[i] = marks[0];
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (c->cfg->nodes[i].id[0] && strcmp(c->cfg->nodes[i].id, c->cfg->nodes[j].id) == 0) {
				char q[256];
				errs_add(c->e, "%s:%lu:%lu: nodes[%zu].id: duplicate node id \"%s\" (also nodes[%zu] "
					       "at line %lu); ids must be unique", AT(c, id_marks[i]), i,
					 quote(c->cfg->nodes[i].id, q, sizeof(q)), j,
					 (unsigned long)id_marks[j].line + 1);
				break;
			}
}

/* A list of printable strings (or one scalar), stored one per line. */
static void set_text_list(struct yctx *c, const struct setting *r, void *base, yaml_node_t *v, const char *disp)
{
	char *dst = (char *)base + r->off;
	char tmp[160], q[256];
	size_t n, used = 0;

	if (is_null(v))
		return;
	if (v->type == YAML_SCALAR_NODE) {
		set_from_scalar(c, r, base, v, disp);
		return;
	}
	if (v->type != YAML_SEQUENCE_NODE) {
		errs_add(c->e, "%s:%lu:%lu: %s: expected %s, got %s", AT(c, v->start_mark), disp,
			 type_text(r, tmp, sizeof(tmp)), kind(v));
		return;
	}
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n > (size_t)r->max) {
		errs_add(c->e, "%s:%lu:%lu: %s: expected at most %ld entries, got %zu", AT(c, v->start_mark), disp,
			 r->max, n);
		return;
	}
	dst[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = yaml_document_get_node(c->doc, v->data.sequence.items.start[i]);
		const char *s;
		size_t l;
		bool ok = true;

		if (!it || it->type != YAML_SCALAR_NODE || is_null(it)) {
			errs_add(c->e, "%s:%lu:%lu: %s[%zu]: expected a string, got %s", AT(c, v->start_mark), disp, i,
				 it && is_null(it) ? "an empty value" : it ? kind(it) : "nothing");
			continue;
		}
		s = (const char *)it->data.scalar.value;
		l = strlen(s);
		for (size_t k = 0; k < l; k++)
			if ((unsigned char)s[k] < 0x20 || (unsigned char)s[k] >= 0x7f)
				ok = false;
		if (!ok || l != it->data.scalar.length) {
			errs_add(c->e, "%s:%lu:%lu: %s[%zu]: expected printable ASCII text, got \"%s\"",
				 AT(c, it->start_mark), disp, i, quote(s, q, sizeof(q)));
			continue;
		}
		if (used + l + 2 > r->size) {
			errs_add(c->e, "%s:%lu:%lu: %s: the list is longer than %zu bytes", AT(c, it->start_mark), disp,
				 r->size - 1);
			return;
		}
		if (used)
			dst[used++] = '\n';
		memcpy(dst + used, s, l + 1);
		used += l;
	}
}

static void set_keys(struct yctx *c, yaml_node_t *v, const char *disp)
{
	struct pg_config_diag *d = &c->cfg->diag;
	size_t n;

	if (is_null(v))
		return;
	if (v->type != YAML_SEQUENCE_NODE) {
		errs_add(c->e, "%s:%lu:%lu: %s: expected a list of key mappings (- {alg: RS256, file: ...}), got %s",
			 AT(c, v->start_mark), disp, kind(v));
		return;
	}
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n > PG_CONFIG_DIAG_KEYS) {
		errs_add(c->e, "%s:%lu:%lu: %s: expected at most %d keys, got %zu", AT(c, v->start_mark), disp,
			 PG_CONFIG_DIAG_KEYS, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = yaml_document_get_node(c->doc, v->data.sequence.items.start[i]);
		char kd[300];
		bool seen[NKEY_ROWS] = {false};
		yaml_mark_t marks[NKEY_ROWS];

		snprintf(kd, sizeof(kd), "%s[%zu]", disp, i);
		if (!it || it->type != YAML_MAPPING_NODE) {
			errs_add(c->e, "%s:%lu:%lu: %s: expected a mapping with alg, kid, file, got %s",
				 AT(c, v->start_mark), kd, it ? kind(it) : "nothing");
			continue;
		}
		walk_map(c, it, key_rows, NKEY_ROWS, "", kd, &d->jwt_keys[i], seen, marks);
	}
	d->n_jwt_keys = n;
}

/* Reports the required keys of one mapping level that were not seen. */
static void check_required(struct yctx *c, yaml_mark_t at, const struct setting *tab, size_t ntab,
			   const char *lookup, const char *disp, const bool *seen)
{
	for (size_t i = 0; i < ntab; i++) {
		const char *ch = child_of(&tab[i], lookup);
		if (!ch || !(tab[i].flags & RF_REQUIRED) || seen[i])
			continue;
		if (tab[i].type == CT_SECTION)
			errs_add(c->e, "%s:%lu:%lu: %s%s%s: required section is missing; add \"%s:\" (see "
				       "docs/configuration.md)", AT(c, at), disp, disp[0] ? "." : "", ch, ch);
		else
			errs_add(c->e, "%s:%lu:%lu: %s%s%s: required key is missing; add \"%s: %s\"", AT(c, at),
				 disp, disp[0] ? "." : "", ch, ch, tab[i].example ? tab[i].example : "...");
	}
}

/* Appends s to list (n bytes) at *ll, truncating. */
static void append(char *list, size_t n, size_t *ll, const char *s)
{
	size_t l = strlen(s);

	if (*ll + 1 >= n)
		return;
	if (l > n - *ll - 1)
		l = n - *ll - 1;
	memcpy(list + *ll, s, l);
	*ll += l;
	list[*ll] = '\0';
}

/* Writes every key accepted at level `lookup` of `tab` into `list` (the
 * keys pprofgate uses, then the Goverse keys it accepts and ignores) and
 * returns the one closest to `key` when it is a likely typo, else NULL. */
static const char *accepted_keys(const struct setting *tab, size_t ntab, const char *lookup, const char *key,
				 char *list, size_t n)
{
	const char *best = NULL;
	size_t bestd = 3, ll = 0;
	bool ignored_seen = false;

	list[0] = '\0';
	for (int pass = 0; pass < 2; pass++)
		for (size_t j = 0; j < ntab; j++) {
			const char *ch = child_of(&tab[j], lookup);
			size_t d;
			if (!ch || (tab[j].type == CT_IGNORED) != (pass == 1))
				continue;
			d = edit_distance(key, ch);
			if (d < bestd) {
				bestd = d;
				best = ch;
			}
			if (pass == 1 && !ignored_seen) {
				ignored_seen = true;
				append(list, n, &ll, ll ? "; or a Goverse key pprofgate accepts and ignores: "
							: "a Goverse key pprofgate accepts and ignores: ");
			} else if (ll) {
				append(list, n, &ll, ", ");
			}
			append(list, n, &ll, ch);
		}
	return best;
}

/* ---- YAML merge keys ("<<: *base"), as gopkg.in/yaml.v3 reads them ---- */

#define MAX_MERGED_KEYS 1024

struct kv {
	yaml_node_t *k, *v;
};

struct kvs {
	struct kv *v;
	size_t n, cap;
};

static bool is_merge_key(const yaml_node_t *k)
{
	return k && k->type == YAML_SCALAR_NODE && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       strcmp((const char *)k->data.scalar.value, "<<") == 0;
}

static bool kvs_has(const struct kvs *a, const yaml_node_t *k)
{
	if (k->type != YAML_SCALAR_NODE)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)a->v[i].k->data.scalar.value, (const char *)k->data.scalar.value) == 0)
			return true;
	return false;
}

static int kvs_push(struct kvs *a, yaml_node_t *k, yaml_node_t *v)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct kv *nv = realloc(a->v, cap * sizeof(*nv));
		if (!nv)
			return -1;
		a->v = nv;
		a->cap = cap;
	}
	a->v[a->n++] = (struct kv){k, v};
	return 0;
}

static void effective_pairs(struct yctx *c, yaml_node_t *map, const char *disp, struct kvs *out, int depth);

/* Adds the pairs of merged mapping `m` whose keys `out` does not have yet. */
static void merge_from(struct yctx *c, yaml_node_t *m, const char *disp, struct kvs *out, int depth)
{
	struct kvs sub = {0};

	effective_pairs(c, m, disp, &sub, depth + 1);
	/* Bounds the key comparisons below; no section has this many keys. */
	if (sub.n + out->n > MAX_MERGED_KEYS) {
		errs_add(c->e, "%s:%lu:%lu: %s: more than %d keys once merge keys (<<) are applied", AT(c, m->start_mark),
			 disp[0] ? disp : "(top level)", MAX_MERGED_KEYS);
		sub.n = 0;
	}
	for (size_t i = 0; i < sub.n; i++)
		if (!kvs_has(out, sub.v[i].k) && kvs_push(out, sub.v[i].k, sub.v[i].v) != 0)
			errs_add(c->e, "%s: out of memory", c->name);
	free(sub.v);
}

/* The pairs of a mapping after YAML merge keys: its own keys first (they
 * win, duplicates kept so walk_map reports them), then those of each merged
 * mapping not set yet, earlier merges over later ones ("<<: [*a, *b]"). A
 * merge value is a mapping or a list of mappings, as in yaml.v3. Cycles and
 * size were bounded by expand_check(). */
static void effective_pairs(struct yctx *c, yaml_node_t *map, const char *disp, struct kvs *out, int depth)
{
	yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		if (k && v && !is_merge_key(k) && kvs_push(out, k, v) != 0)
			errs_add(c->e, "%s: out of memory", c->name);
	}
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		bool ok = v && (v->type == YAML_MAPPING_NODE || v->type == YAML_SEQUENCE_NODE);

		if (!is_merge_key(k) || !v)
			continue;
		if (depth > MAX_DEPTH) {
			errs_add(c->e, "%s:%lu:%lu: %s: merge keys nest deeper than %d levels", AT(c, k->start_mark),
				 disp[0] ? disp : "(top level)", MAX_DEPTH);
			return;
		}
		if (v->type == YAML_SEQUENCE_NODE)
			for (yaml_node_item_t *it = v->data.sequence.items.start; ok && it < v->data.sequence.items.top;
			     it++) {
				yaml_node_t *m = yaml_document_get_node(c->doc, *it);
				ok = m && m->type == YAML_MAPPING_NODE;
			}
		if (!ok) {
			errs_add(c->e, "%s:%lu:%lu: %s.<<: a merge key takes a mapping or a list of mappings "
				       "(e.g. \"<<: *defaults\"), got %s", AT(c, v->start_mark),
				 disp[0] ? disp : "(top level)", is_null(v) ? "an empty value" : kind(v));
			continue;
		}
		if (v->type == YAML_MAPPING_NODE)
			merge_from(c, v, disp, out, depth);
		else
			for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
				merge_from(c, yaml_document_get_node(c->doc, *it), disp, out, depth);
	}
}

static void walk_map(struct yctx *c, yaml_node_t *map, const struct setting *tab, size_t ntab,
		     const char *lookup, const char *disp, void *base, bool *seen, yaml_mark_t *marks)
{
	struct kvs pairs = {0};

	effective_pairs(c, map, disp, &pairs, 0);
	for (size_t pi = 0; pi < pairs.n; pi++) {
		yaml_node_t *k = pairs.v[pi].k;
		yaml_node_t *v = pairs.v[pi].v;
		char full[256], shown[256], q[256];
		const char *key;
		size_t i;

		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			errs_add(c->e, "%s:%lu:%lu: %s: keys must be plain strings, got %s", AT(c, k->start_mark),
				 disp[0] ? disp : "(top level)", kind(k));
			continue;
		}
		key = (const char *)k->data.scalar.value;
		if (strlen(key) != k->data.scalar.length) {
			errs_add(c->e, "%s:%lu:%lu: %s: a key contains a NUL character", AT(c, k->start_mark),
				 disp[0] ? disp : "(top level)");
			continue;
		}
		snprintf(full, sizeof(full), "%s%s%s", lookup, lookup[0] ? "." : "", key);
		snprintf(shown, sizeof(shown), "%s%s%s", disp, disp[0] ? "." : "", quote(key, q, sizeof(q)));
		i = ntab;
		/* A dotted key ("etcd.prefix") must not reach a nested row. */
		if (!strchr(key, '.'))
			for (i = 0; i < ntab; i++)
				if (tab[i].path && strcmp(tab[i].path, full) == 0)
					break;
		if (i == ntab) {
			char list[700];
			const char *best = accepted_keys(tab, ntab, lookup, key, list, sizeof(list));
			if (best)
				errs_add(c->e, "%s:%lu:%lu: %s: unknown key; did you mean \"%s\"? Expected one of: %s",
					 AT(c, k->start_mark), shown, best, list);
			else
				errs_add(c->e, "%s:%lu:%lu: %s: unknown key; expected one of: %s", AT(c, k->start_mark),
					 shown, list);
			continue;
		}
		if (seen[i]) {
			errs_add(c->e, "%s:%lu:%lu: %s: duplicate key (first set at line %lu); keep one",
				 AT(c, k->start_mark), shown, (unsigned long)marks[i].line + 1);
			continue;
		}
		seen[i] = true;
		marks[i] = v->start_mark;
		switch (tab[i].type) {
		case CT_SECTION:
			if (is_null(v)) {
				check_required(c, v->start_mark, tab, ntab, full, shown, seen);
				break;
			}
			if (v->type != YAML_MAPPING_NODE) {
				errs_add(c->e, "%s:%lu:%lu: %s: expected a mapping of keys, got %s",
					 AT(c, v->start_mark), shown, kind(v));
				break;
			}
			walk_map(c, v, tab, ntab, full, shown, base, seen, marks);
			break;
		case CT_IGNORED:
			pg_info("config", "%s:%lu:%lu: %s: Goverse-only setting, ignored by pprofgate",
				AT(c, k->start_mark), shown);
			break;
		case CT_NODES:
			set_nodes(c, v);
			break;
		case CT_ADDR_LIST:
			set_addr_list(c, &tab[i], base, v, shown);
			break;
		case CT_TEXT_LIST:
			set_text_list(c, &tab[i], base, v, shown);
			break;
		case CT_KEYS:
			set_keys(c, v, shown);
			break;
		default:
			set_from_scalar(c, &tab[i], base, v, shown);
			break;
		}
	}
	free(pairs.v);
	check_required(c, map->start_mark, tab, ntab, lookup, disp, seen);
}

/* Returns the byte offset of the first invalid UTF-8 sequence, or len. */
static size_t utf8_valid_prefix(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char b = s[i];
		size_t n;
		uint32_t cp;
		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			n = 1;
			cp = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			n = 2;
			cp = b & 0x0f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			n = 3;
			cp = b & 0x07;
		} else {
			return i;
		}
		if (i + n >= len)
			return i;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and > U+10FFFF (RFC 3629 section 3). */
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return len;
}

/* Rejects what the document loader would silently accept: explicit tags,
 * several documents, deep nesting. Reports libyaml syntax errors. Anchors and
 * aliases are accepted, as Goverse's gopkg.in/yaml.v3 does; expand_check()
 * bounds what they expand to. */
static int prescan(const char *name, const unsigned char *data, size_t len, struct errs *e)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int docs = 0, depth = 0, before = e->n;
	bool done = false;

	if (!yaml_parser_initialize(&p)) {
		errs_add(e, "%s: out of memory", name);
		return -1;
	}
	yaml_parser_set_input_string(&p, data, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	while (!done) {
		const char *tag = NULL;
		if (!yaml_parser_parse(&p, &ev)) {
			errs_add(e, "%s:%lu:%lu: invalid YAML: %s%s%s", name, (unsigned long)p.problem_mark.line + 1,
				 (unsigned long)p.problem_mark.column + 1, p.problem ? p.problem : "syntax error",
				 p.context ? " " : "", p.context ? p.context : "");
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs == 2)
				errs_add(e, "%s:%lu:%lu: only one YAML document is allowed; remove the second \"---\"",
					 name, (unsigned long)ev.start_mark.line + 1,
					 (unsigned long)ev.start_mark.column + 1);
			break;
		case YAML_SCALAR_EVENT:
			tag = (const char *)ev.data.scalar.tag;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_SEQUENCE_START_EVENT:
			depth++;
			tag = (const char *)ev.data.sequence_start.tag;
			break;
		case YAML_MAPPING_START_EVENT:
			depth++;
			tag = (const char *)ev.data.mapping_start.tag;
			break;
		default:
			break;
		}
		if (tag)
			errs_add(e, "%s:%lu:%lu: YAML tags (!tag) are not supported; remove the tag", name,
				 (unsigned long)ev.start_mark.line + 1, (unsigned long)ev.start_mark.column + 1);
		if (depth > MAX_DEPTH) {
			errs_add(e, "%s:%lu:%lu: lists and mappings nest deeper than %d levels", name,
				 (unsigned long)ev.start_mark.line + 1, (unsigned long)ev.start_mark.column + 1,
				 MAX_DEPTH);
			done = true;
		}
		yaml_event_delete(&ev);
		if (e->n >= MAX_ERRORS)
			break;
	}
	yaml_parser_delete(&p);
	if (e->n == before && docs == 0)
		errs_add(e, "%s:1:1: the file is empty; start with \"version: 1\" (see config/single-node.yaml)",
			 name);
	return e->n == before ? 0 : -1;
}

/* Aliases share nodes in the loaded document: bound what they expand to
 * before walking it (a "billion laughs" file is a few lines), and refuse an
 * anchor whose value contains an alias to itself (libyaml loads it as a
 * cycle; yaml.v3 refuses it too). */
#define MAX_EXPANDED 100000

struct expand {
	yaml_document_t *doc;
	unsigned char *state; /* 0 new, 1 being expanded, 2 done */
	size_t *size;         /* expanded node count, saturated at MAX_EXPANDED + 1 */
	int *height;          /* nesting levels below the node */
	bool cycle, deep;
	yaml_mark_t at;
};

static size_t sat_add(size_t a, size_t b)
{
	return a + b > MAX_EXPANDED ? MAX_EXPANDED + 1 : a + b;
}

static void expand(struct expand *x, int id, int depth)
{
	yaml_node_t *n = yaml_document_get_node(x->doc, id);
	size_t i = (size_t)id - 1, size = 1;
	int h = 0;

	if (!n || x->cycle || x->deep || x->state[i] == 2)
		return;
	if (depth > MAX_DEPTH) { /* also bounds this recursion */
		x->deep = true;
		return;
	}
	if (x->state[i] == 1) {
		x->cycle = true;
		x->at = n->start_mark;
		return;
	}
	x->state[i] = 1;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start; !x->cycle && !x->deep && it < n->data.sequence.items.top;
		     it++) {
			expand(x, *it, depth + 1);
			size = sat_add(size, x->size[*it - 1]);
			h = x->height[*it - 1] + 1 > h ? x->height[*it - 1] + 1 : h;
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; !x->cycle && !x->deep && p < n->data.mapping.pairs.top;
		     p++) {
			expand(x, p->key, depth + 1);
			expand(x, p->value, depth + 1);
			size = sat_add(size, sat_add(x->size[p->key - 1], x->size[p->value - 1]));
			h = x->height[p->value - 1] + 1 > h ? x->height[p->value - 1] + 1 : h;
			h = x->height[p->key - 1] + 1 > h ? x->height[p->key - 1] + 1 : h;
		}
	}
	x->size[i] = size;
	x->height[i] = h > MAX_DEPTH + 1 ? MAX_DEPTH + 1 : h;
	x->state[i] = 2;
}

static int expand_check(struct yctx *c, yaml_node_t *root)
{
	size_t nn = (size_t)(c->doc->nodes.top - c->doc->nodes.start);
	struct expand x = {.doc = c->doc};
	int rid = (int)(root - c->doc->nodes.start) + 1, rc = -1;

	x.state = calloc(nn, 1);
	x.size = calloc(nn, sizeof(*x.size));
	x.height = calloc(nn, sizeof(*x.height));
	if (!x.state || !x.size || !x.height) {
		errs_add(c->e, "%s: out of memory", c->name);
		goto out;
	}
	expand(&x, rid, 0);
	if (x.cycle)
		errs_add(c->e, "%s:%lu:%lu: a YAML anchor's value contains an alias to itself", AT(c, x.at));
	else if (x.deep || x.height[rid - 1] > MAX_DEPTH)
		errs_add(c->e, "%s:1:1: lists and mappings nest deeper than %d levels once YAML aliases are "
			       "expanded", c->name, MAX_DEPTH);
	else if (x.size[rid - 1] > MAX_EXPANDED)
		errs_add(c->e, "%s:1:1: YAML aliases expand the document to more than %d values (a bound against "
			       "alias bombs); write the repeated values out or alias less", c->name, MAX_EXPANDED);
	else
		rc = 0;
out:
	free(x.state);
	free(x.size);
	free(x.height);
	return rc;
}

static void check_cross(struct yctx *c)
{
	struct pg_config *cfg = c->cfg;
	size_t cert = 0, key = 0;

	for (size_t i = 0; i < NROWS; i++) {
		if (rows[i].path && strcmp(rows[i].path, "cluster.etcd.tls.cert_file") == 0)
			cert = i;
		if (rows[i].path && strcmp(rows[i].path, "cluster.etcd.tls.key_file") == 0)
			key = i;
	}
	if (!cfg->etcd_cert_file[0] != !cfg->etcd_key_file[0] && c->seen_main[cert] != c->seen_main[key]) {
		size_t at = c->seen_main[cert] ? cert : key;
		errs_add(c->e, "%s:%lu:%lu: cluster.etcd.tls: cert_file and key_file must be set together; "
			       "add %s", AT(c, c->marks[at]), at == cert ? "key_file" : "cert_file");
	}
}

int pg_config_parse_yaml(const char *name, const void *data, size_t len, struct pg_config **out,
			 char **errors)
{
	struct errs e = {.n = 0};
	struct yctx c;
	yaml_parser_t p;
	yaml_document_t doc;
	bool have_parser = false, have_doc = false;
	size_t ok;
	int result = PG_EINVAL;

	*out = NULL;
	*errors = NULL;
	pg_buf_init(&e.b, 128 * 1024);
	memset(&c, 0, sizeof(c));
	c.name = name;
	c.e = &e;
	c.cfg = calloc(1, sizeof(*c.cfg));
	if (!c.cfg) {
		errs_add(&e, "%s: out of memory", name);
		goto out;
	}
	apply_defaults(c.cfg);
	if (len > MAX_FILE_BYTES) {
		errs_add(&e, "%s: file is %zu bytes; a config is at most 1 MiB (%d bytes)", name, len,
			 MAX_FILE_BYTES);
		goto out;
	}
	ok = utf8_valid_prefix(data, len);
	if (ok != len) {
		unsigned long line = 1, col = 1;
		for (size_t i = 0; i < ok; i++) {
			const unsigned char ch = ((const unsigned char *)data)[i];
			if (ch == '\n') {
				line++;
				col = 1;
			} else if ((ch & 0xc0) != 0x80) {
				col++;
			}
		}
		errs_add(&e, "%s:%lu:%lu: the file is not valid UTF-8 (byte 0x%02x); save it as UTF-8", name,
			 line, col, ((const unsigned char *)data)[ok]);
		goto out;
	}
	if (prescan(name, data, len, &e) != 0)
		goto out;
	if (!yaml_parser_initialize(&p)) {
		errs_add(&e, "%s: out of memory", name);
		goto out;
	}
	have_parser = true;
	yaml_parser_set_input_string(&p, data, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	if (!yaml_parser_load(&p, &doc)) {
		errs_add(&e, "%s:%lu:%lu: invalid YAML: %s", name, (unsigned long)p.problem_mark.line + 1,
			 (unsigned long)p.problem_mark.column + 1, p.problem ? p.problem : "syntax error");
		goto out;
	}
	have_doc = true;
	c.doc = &doc;
	{
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (!root || is_null(root)) {
			errs_add(&e, "%s:1:1: the file is empty; start with \"version: 1\" (see "
				     "config/single-node.yaml)", name);
			goto out;
		}
		if (root->type != YAML_MAPPING_NODE) {
			errs_add(&e, "%s:%lu:%lu: expected a mapping at the top level (version:, cluster:, "
				     "nodes:), got %s", AT(&c, root->start_mark), kind(root));
			goto out;
		}
		if (expand_check(&c, root) != 0)
			goto out;
		walk_map(&c, root, rows, NROWS, "", "", c.cfg, c.seen_main, c.marks);
	}
	check_cross(&c);
	if (e.n == 0)
		result = PG_OK;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&p);
	if (result == PG_OK) {
		*out = c.cfg;
		pg_buf_free(&e.b);
	} else {
		pg_config_free(&c.cfg);
		*errors = pg_buf_steal(&e.b, NULL);
		if (!*errors)
			*errors = strdup("config: error\n");
	}
	return result;
}

void pg_config_free(struct pg_config **pp)
{
	if (!pp || !*pp)
		return;
	free((*pp)->nodes);
	free(*pp);
	*pp = NULL;
}

/* ---- files and flags ---- */

static const struct setting *find_flag(const char *name, size_t nl)
{
	for (size_t i = 0; i < NROWS; i++)
		if (rows[i].flag && strlen(rows[i].flag) == nl && strncmp(rows[i].flag, name, nl) == 0)
			return &rows[i];
	return NULL;
}

/* Makes node n this process's node (its addresses become the listeners). */
static void apply_node(struct pg_config *cfg, const struct pg_config_node *n)
{
	memcpy(cfg->node_id, n->id, sizeof(cfg->node_id));
	memcpy(cfg->listen, n->grpc_addr, sizeof(cfg->listen));
	/* Goverse falls back to grpc_addr when advertise_addr is empty. */
	memcpy(cfg->advertise, n->advertise_addr[0] ? n->advertise_addr : n->grpc_addr, sizeof(cfg->advertise));
	memcpy(cfg->http_listen, n->http_addr, sizeof(cfg->http_listen));
}

static void pick_node(struct pg_config *cfg, struct errs *e, bool checking)
{
	const struct pg_config_node *n = NULL;
	char ids[512] = "", q[256];
	size_t il = 0;

	for (size_t i = 0; i < cfg->n_nodes; i++) {
		if (il + strlen(cfg->nodes[i].id) + 3 < sizeof(ids))
			il += (size_t)snprintf(ids + il, sizeof(ids) - il, "%s%s", i ? ", " : "",
					       quote(cfg->nodes[i].id, q, sizeof(q)));
		if (cfg->node_id[0] && strcmp(cfg->nodes[i].id, cfg->node_id) == 0)
			n = &cfg->nodes[i];
	}
	if (cfg->node_id[0] && !n) {
		errs_add(e, "--node-id: no node \"%s\" in %s; its nodes: are %s", quote(cfg->node_id, q, sizeof(q)),
			 cfg->config_path, cfg->n_nodes ? ids : "(none)");
		return;
	}
	if (!n) {
		if (cfg->n_nodes == 1) {
			n = &cfg->nodes[0];
		} else if (cfg->n_nodes == 0) {
			errs_add(e, "%s: nodes: is empty; add this node's entry (id, grpc_addr, advertise_addr, "
				    "http_addr) or run without --config", cfg->config_path);
			return;
		} else if (checking) {
			return; /* checked for each of its nodes */
		} else {
			errs_add(e, "--node-id is required: %s lists several nodes (%s)", cfg->config_path, ids);
			return;
		}
	}
	apply_node(cfg, n);
}

/* Runs the start-up checks (`validate`) on cfg; without a picked node (a
 * --check-config of a file with several nodes and no --node-id) once for
 * each node, naming it. */
static void run_validate(struct pg_config *cfg, pg_config_validate_fn *validate, void *arg, struct errs *e)
{
	if (!validate)
		return;
	if (!cfg->config_path[0] || cfg->node_id[0]) {
		if (validate(cfg, arg) != PG_OK)
			errs_add(e, "%s", pg_errmsg());
		return;
	}
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		struct pg_config *one = malloc(sizeof(*one));
		char q[256];

		if (!one) {
			errs_add(e, "out of memory");
			return;
		}
		*one = *cfg;
		apply_node(one, &cfg->nodes[i]);
		if (validate(one, arg) != PG_OK)
			errs_add(e, "nodes[%zu] (%s): %s", i, quote(cfg->nodes[i].id, q, sizeof(q)), pg_errmsg());
		free(one);
	}
}

int pg_config_parse_argv(int argc, char **argv, FILE *out, FILE *err, struct pg_config **cfgp, int *exit_code)
{
	return pg_config_parse_checked(argc, argv, out, err, NULL, NULL, cfgp, exit_code);
}

int pg_config_parse_checked(int argc, char **argv, FILE *out, FILE *err, pg_config_validate_fn *validate,
			    void *validate_arg, struct pg_config **cfgp, int *exit_code)
{
	struct errs e = {.n = 0};
	struct pg_config *cfg = NULL;
	bool given[NROWS] = {false};
	int action = ACT_NONE;
	bool check = false;
	const char *prog = argc > 0 && argv[0] ? argv[0] : "pprofgate";
	int result = PG_EINVAL;

	*cfgp = NULL;
	*exit_code = 2;
	pg_buf_init(&e.b, 256 * 1024);
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		errs_add(&e, "out of memory");
		goto out;
	}
	apply_defaults(cfg);

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *val;
		const struct setting *r;
		size_t nl;
		char q[256], tmp[160];
		const char *why;

		if (a[0] != '-' || a[1] == '\0' || strcmp(a, "--") == 0) {
			errs_add(&e, "unexpected argument \"%s\"; flags start with --, see %s --help",
				 quote(a, q, sizeof(q)), prog);
			continue;
		}
		/* Go's flag package accepts -flag and --flag alike. */
		name = a + (a[1] == '-' ? 2 : 1);
		eq = strchr(name, '=');
		nl = eq ? (size_t)(eq - name) : strlen(name);
		r = find_flag(name, nl);
		if (!r && nl == 1 && name[0] == 'h')
			r = find_flag("help", 4);
		if (!r) {
			const char *best = NULL;
			size_t bestd = 3;
			char nm[80];
			snprintf(nm, sizeof(nm), "%.*s", (int)(nl < 79 ? nl : 79), name);
			for (size_t j = 0; j < NROWS; j++) {
				size_t d;
				if (!rows[j].flag)
					continue;
				d = edit_distance(nm, rows[j].flag);
				if (d < bestd) {
					bestd = d;
					best = rows[j].flag;
				}
			}
			/* Its value, if any, would only add an "unexpected argument" line. */
			if (!eq && i + 1 < argc && argv[i + 1][0] != '-')
				i++;
			if (best)
				errs_add(&e, "unknown flag --%s; did you mean --%s? (see %s --help)",
					 quote(nm, q, sizeof(q)), best, prog);
			else
				errs_add(&e, "unknown flag --%s; see %s --help", quote(nm, q, sizeof(q)), prog);
			continue;
		}
		if (r->type == CT_ACTION) {
			if (eq) {
				errs_add(&e, "--%s takes no value", r->flag);
				continue;
			}
			if (r->min == ACT_CHECK)
				check = true;
			else if (action == ACT_NONE)
				action = (int)r->min;
			continue;
		}
		if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			errs_add(&e, "--%s needs a value (%s)", r->flag, metavar(r));
			continue;
		}
		if (set_scalar(r, cfg, val, &why, tmp, sizeof(tmp)) != 0) {
			errs_add(&e, "--%s: expected %s, got \"%s\"", r->flag, why,
				 (r->flags & RF_SENSITIVE) ? "(hidden)" : quote(val, q, sizeof(q)));
			continue;
		}
		given[r - rows] = true;
	}

	if (action == ACT_HELP) {
		pg_config_write_help(out, prog);
		*exit_code = 0;
		goto out_action;
	}
	if (action == ACT_MARKDOWN) {
		pg_config_write_markdown(out);
		*exit_code = 0;
		goto out_action;
	}
	if (action == ACT_VERSION) {
		fprintf(out, "pprofgate %s\n", PG_VERSION);
		*exit_code = 0;
		goto out_action;
	}
	if (e.n)
		goto out;

	if (cfg->config_path[0]) {
		char *data = NULL, *yerr = NULL;
		size_t len = 0;
		struct pg_config *fc = NULL;

		for (size_t i = 0; i < NROWS; i++)
			if (given[i] && (rows[i].flags & RF_NOCONFIG))
				errs_add(&e, "--%s cannot be used with --config; set %s in the config file instead",
					 rows[i].flag, rows[i].path ? rows[i].path : rows[i].file_key);
		if (e.n)
			goto out;
		if (pg_file_read(cfg->config_path, MAX_FILE_BYTES, 0, &data, &len) != PG_OK) {
			errs_add(&e, "%s", pg_errmsg());
			goto out;
		}
		if (pg_config_parse_yaml(cfg->config_path, data, len, &fc, &yerr) != PG_OK) {
			free(data);
			fputs(yerr, err);
			e.n++;
			free(yerr);
			goto out;
		}
		free(data);
		memcpy(fc->config_path, cfg->config_path, sizeof(fc->config_path));
		memcpy(fc->node_id, cfg->node_id, sizeof(fc->node_id));
		fc->log_level = cfg->log_level;
		pg_config_free(&cfg);
		cfg = fc;
		pick_node(cfg, &e, check);
		if (e.n)
			goto out;
	} else if (!cfg->advertise[0]) {
		memcpy(cfg->advertise, cfg->listen, sizeof(cfg->advertise));
	}
	run_validate(cfg, validate, validate_arg, &e);
	if (e.n)
		goto out;

	if (check) {
		if (cfg->config_path[0])
			fprintf(out, "%s: OK (%zu node%s, %ld shards, etcd %s prefix %s)\n", cfg->config_path,
				cfg->n_nodes, cfg->n_nodes == 1 ? "" : "s", cfg->shards, cfg->etcd_endpoints[0],
				cfg->etcd_prefix);
		else
			fprintf(out, "flags OK (listen %s, http %s, etcd %s prefix %s)\n", cfg->listen,
				cfg->http_listen, cfg->etcd_endpoints[0], cfg->etcd_prefix);
		*exit_code = 0;
		goto out_action;
	}
	*cfgp = cfg;
	cfg = NULL;
	*exit_code = -1;
	result = PG_OK;
	goto out;

out_action:
	result = PG_OK;
out:
	if (result != PG_OK && e.b.data)
		fputs(e.b.data, err);
	pg_buf_free(&e.b);
	pg_config_free(&cfg);
	if (result != PG_OK)
		return pg_fail(PG_EINVAL, "invalid flags or config");
	return PG_OK;
}

int pg_config_parse_args(int argc, char **argv, struct pg_config **out, int *exit_code)
{
	return pg_config_parse_argv(argc, argv, stdout, stderr, out, exit_code);
}

/* ---- generated help and docs ---- */

static const char *metavar(const struct setting *r)
{
	switch (r->type) {
	case CT_ADDR:
		return "HOST:PORT";
	case CT_ADDR_LIST:
		return "HOST:PORT[,...]";
	case CT_PREFIX:
		return "PREFIX";
	case CT_FILE:
		return "FILE";
	case CT_ID:
		return "ID";
	case CT_LOGLEVEL:
		return "LEVEL";
	case CT_ACTION:
		return "";
	default:
		return "VALUE";
	}
}

static const char *default_text(const struct setting *r)
{
	if (r->flags & RF_SENSITIVE)
		return "(hidden)";
	if (!r->def && r->flag && strcmp(r->flag, "advertise") == 0)
		return "the --listen value";
	return r->def;
}

/* Writes `text` from column `col`, wrapped before column 100. */
static void wrap(FILE *f, const char *text, int col)
{
	int at = col;

	while (*text) {
		size_t w = strcspn(text, " ");
		if (at > col && at + 1 + (int)w > 100) {
			fprintf(f, "\n%*s", col, "");
			at = col;
		} else if (at > col) {
			fputc(' ', f);
			at++;
		}
		fprintf(f, "%.*s", (int)w, text);
		at += (int)w;
		text += w;
		while (*text == ' ')
			text++;
	}
	fputc('\n', f);
}

/* Value flags first, then the actions (--help, --version, ...). */
static bool flag_in_pass(const struct setting *r, int pass)
{
	return r->flag && (pass == 0) == (r->type != CT_ACTION);
}

void pg_config_write_help(FILE *f, const char *prog)
{
	fprintf(f, "Usage: %s [flags]\n       %s --config FILE [--node-id ID] [flags]\n\n"
		   "pprofgate: a Goverse cluster node serving gRPC, /metrics and /debug/pprof.\n\n"
		   "Flags (--flag value or --flag=value):\n",
		prog, prog);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < NROWS; i++) {
			const struct setting *r = &rows[i];
			char lhs[64], text[512];
			const char *d = default_text(r);
			if (!flag_in_pass(r, pass))
				continue;
			snprintf(lhs, sizeof(lhs), "--%s%s%s", r->flag, r->type == CT_ACTION ? "" : " ", metavar(r));
			snprintf(text, sizeof(text), "%s%s%s%s%s", r->help, d ? " Default: " : "", d ? d : "",
				 d ? "." : "", (r->flags & RF_NOCONFIG) ? " Not with --config." : "");
			fprintf(f, "  %-28s ", lhs);
			wrap(f, text, 31);
		}
	fprintf(f, "\nThe YAML keys are listed by %s --help-config-markdown (docs/configuration.md).\n"
		   "Exit status: 0 ok, 2 invalid flags or config (or a check of a start failed), 1 a listen\n"
		   "address in use or not bindable, or another failure while running.\n", prog);
}

static const char *md_type(const struct setting *r, char *tmp, size_t n)
{
	switch (r->type) {
	case CT_INT:
		if (r->min == r->max)
			snprintf(tmp, n, "`%ld`", r->min);
		else
			snprintf(tmp, n, "integer %ld..%ld", r->min, r->max);
		return tmp;
	case CT_ENUM:
		snprintf(tmp, n, "one of `%s`", r->choices);
		return tmp;
	case CT_ADDR:
		return (r->flags & RF_ANY_HOST) ? "host:port (empty host = all interfaces)" : "host:port";
	case CT_ADDR_LIST:
		snprintf(tmp, n, "list of host:port (%ld..%ld)", r->min, r->max);
		return tmp;
	case CT_PREFIX:
		return "etcd key prefix";
	case CT_PATH:
	case CT_FILE:
		return "file path";
	case CT_ID:
		return "id (printable ASCII, no spaces)";
	case CT_LOGLEVEL:
		return "`debug`, `info`, `warn`, `error`";
	case CT_NODES:
		snprintf(tmp, n, "list of node entries (at most %ld)", r->max);
		return tmp;
	case CT_TEXT:
		return "text";
	case CT_TEXT_LIST:
		snprintf(tmp, n, "list of strings (at most %ld)", r->max);
		return tmp;
	case CT_KEYS:
		snprintf(tmp, n, "list of key entries (at most %ld)", r->max);
		return tmp;
	case CT_SECTION:
		return "section";
	case CT_ACTION:
		return "no value";
	default:
		return "";
	}
}

static void md_row(FILE *f, const char *name, const struct setting *r, bool as_flag)
{
	char tmp[96], dflt[96], also[64] = "";
	const char *d = default_text(r);

	if (r->flags & RF_REQUIRED)
		snprintf(dflt, sizeof(dflt), "required");
	else if (d && r->def)
		snprintf(dflt, sizeof(dflt), "`%s`", d);
	else
		snprintf(dflt, sizeof(dflt), "%s", d ? d : "");
	if (!as_flag && r->flag)
		snprintf(also, sizeof(also), " Flag: `--%s`.", r->flag);
	else if (as_flag && (r->flags & RF_NOCONFIG))
		snprintf(also, sizeof(also), " Cannot be combined with `--config`.");
	fprintf(f, "| `%s` | %s | %s | %s%s |\n", name, md_type(r, tmp, sizeof(tmp)), dflt, r->help, also);
}

static void md_example(FILE *f)
{
	for (size_t i = 0; i < NROWS; i++) {
		const struct setting *r = &rows[i];
		int depth = 0;
		const char *leaf;
		if (!r->path || r->type == CT_IGNORED || (!r->example && r->type != CT_SECTION &&
							  r->type != CT_NODES))
			continue;
		if (r->type == CT_SECTION && strcmp(r->path, "cluster.etcd.tls") == 0)
			continue; /* optional; documented in the table */
		if (strncmp(r->path, "diagnostics", 11) == 0)
			continue; /* optional; its own example below */
		for (const char *p = r->path; *p; p++)
			depth += *p == '.';
		leaf = strrchr(r->path, '.');
		leaf = leaf ? leaf + 1 : r->path;
		if (r->type == CT_SECTION) {
			fprintf(f, "%*s%s:\n", depth * 2, "", leaf);
		} else if (r->type == CT_NODES) {
			fprintf(f, "%s:\n", leaf);
			for (size_t j = 0; j < NNODE_ROWS; j++)
				fprintf(f, "  %s %s: %s\n", j ? " " : "-", node_rows[j].path, node_rows[j].example);
		} else {
			fprintf(f, "%*s%s: %s\n", depth * 2, "", leaf, r->example);
		}
	}
}

void pg_config_write_markdown(FILE *f)
{
	fputs("# Configuration reference\n\n"
	      "<!-- Generated by `pprofgate --help-config-markdown` from the settings table in\n"
	      "     src/config/config.c. Do not edit by hand; tests/unit/config_test.c checks it. -->\n\n"
	      "pprofgate runs in one of two modes, as a Goverse node does:\n\n"
	      "- **Flags only**: `pprofgate --listen localhost:47000 --http-listen localhost:9090 "
	      "--etcd localhost:2379`.\n"
	      "- **Config file**: `pprofgate --config config/multi-node.yaml --node-id node1`. The file "
	      "uses Goverse's\n  schema; the node's addresses come from its `nodes:` entry "
	      "(`grpc_addr` -> listen, `advertise_addr` -> advertise,\n  `http_addr` -> HTTP listen) "
	      "and the etcd settings from `cluster.etcd`. The address flags\n  (`--listen`, "
	      "`--advertise`, `--http-listen`, `--etcd`, `--etcd-prefix`) are then refused. With one\n"
	      "  entry in `nodes:`, `--node-id` may be left out; with several it is required.\n\n"
	      "`pprofgate --check-config --config FILE [--node-id ID]` runs every check a start runs, with the "
	      "same\nsentences, without starting: the file (each error as `file:line:column: key: what was "
	      "expected`), then\nthe listeners' exposure, the diagnostics gate (keys, lists, audit file), the "
	      "HTTPS and admin TLS files,\nthe etcd settings, and whether Go Goverse nodes use the etcd prefix "
	      "(see docs/membership.md; an\nunreachable etcd is a warning, as at start). It prints one OK line "
	      "and exits 0, or every error and\nexits 2; without `--node-id` each node of the file is checked. "
	      "Exit 0 means the node will start,\nunless a listen address is in use or cannot be bound (that "
	      "exits 1).\n\nFiles are limited to 1 MiB of UTF-8 and 32 levels of nesting; YAML tags, duplicate "
	      "keys and unknown\nkeys are errors (an unknown key's error lists every key accepted there). "
	      "Anchors, aliases and merge\nkeys (`<<: *base`) work as in Goverse's gopkg.in/yaml.v3; aliases may "
	      "expand the document to at most\n100000 values (a bound against alias bombs).\n\n## Command-line flags\n\n"
	      "Flags take `--flag value` or `--flag=value` (`-flag` works too, as in Go).\n\n"
	      "| Flag | Value | Default | Description |\n|---|---|---|---|\n",
	      f);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < NROWS; i++) {
			char nm[64];
			if (!flag_in_pass(&rows[i], pass))
				continue;
			snprintf(nm, sizeof(nm), "--%s", rows[i].flag);
			md_row(f, nm, &rows[i], true);
		}
	fputs("\n## YAML keys\n\n| Key | Type | Default | Description |\n|---|---|---|---|\n", f);
	for (size_t i = 0; i < NROWS; i++) {
		if (!rows[i].path || rows[i].type == CT_IGNORED)
			continue;
		md_row(f, rows[i].path, &rows[i], false);
	}
	fputs("\n### Entries of `nodes:`\n\n| Key | Type | Default | Description |\n|---|---|---|---|\n", f);
	for (size_t i = 0; i < NNODE_ROWS; i++) {
		char nm[64];
		snprintf(nm, sizeof(nm), "nodes[].%s", node_rows[i].path);
		md_row(f, nm, &node_rows[i], false);
	}
	fputs("\n### Entries of `diagnostics.jwt.keys:`\n\n| Key | Type | Default | Description |\n"
	      "|---|---|---|---|\n",
	      f);
	for (size_t i = 0; i < NKEY_ROWS; i++) {
		char nm[64];
		snprintf(nm, sizeof(nm), "diagnostics.jwt.keys[].%s", key_rows[i].path);
		md_row(f, nm, &key_rows[i], false);
	}
	fputs("\n### Example: `diagnostics:`\n\n"
	      "Profiles for holders of an allowed client certificate or a valid token, from one network; "
	      "see\nSECURITY.md for the threat model and docs/auth.md for the order of checks.\n\n"
	      "```yaml title=\"diagnostics\"\ndiagnostics:\n  tls_server_config:\n    cert_file: /etc/pprofgate/tls/server.crt\n"
	      "    key_file: /etc/pprofgate/tls/server.key\n    client_ca_file: /etc/pprofgate/tls/clients-ca.crt\n"
	      "    client_auth_type: RequestClientCert\n    min_version: TLS12\n  client_identities:\n"
	      "    - \"uri:spiffe://example.org/sre pprof:admin\"\n    - \"cn:profiler pprof:read\"\n  jwt:\n"
	      "    issuer: https://sso.example.org\n    audience: pprofgate\n    keys:\n"
	      "      - {alg: RS256, kid: \"2026-11\", file: /etc/pprofgate/jwt/sso.pub}\n  groups:\n    pprof:\n"
	      "      auth: mtls or jwt\n      allowlist: [10.20.0.0/16, \"fd00::/8\"]\n"
	      "  audit_file: /var/log/pprofgate/audit.log\n```\n",
	      f);
	fputs("\n## Goverse settings accepted and ignored\n\n"
	      "These keys of Goverse's config/config.go are accepted so one file serves both; pprofgate "
	      "logs one\nnotice for each and does not use them.\n\n",
	      f);
	for (size_t i = 0; i < NROWS; i++)
		if (rows[i].type == CT_IGNORED)
			fprintf(f, "- `%s`: %s\n", rows[i].path, rows[i].help);
	fputs("\n## Example\n\n```yaml\n", f);
	md_example(f);
	fputs("```\n", f);
}
