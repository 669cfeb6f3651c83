/* pprofgatectl commands. Each takes the arguments after its name and returns
 * the process exit code (src/cli/args.h); errors are one line on stderr. */
#ifndef PG_CLI_CMD_H
#define PG_CLI_CMD_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

/* Connection settings shared by the commands: flags, else environment. */
struct pg_cli_conn {
	const char *admin;  /* --admin / PPROFGATE_ADMIN, default localhost:47001 */
	const char *node;   /* --node / PPROFGATE_NODE, default localhost:9090 */
	const char *cert, *key, *cacert; /* --cert/--key/--cacert, PPROFGATE_CERT/_KEY/_CACERT */
	const char *token;  /* --token / PPROFGATE_TOKEN (bearer, fetch only) */
	long timeout_s;     /* --timeout, default 10 (fetch adds the capture time) */
	/* etcd, found as the node finds it (nodes, fetch --cluster) */
	const char *etcd;        /* --etcd / PPROFGATE_ETCD: HOST:PORT[,...], default localhost:2379 */
	const char *etcd_prefix; /* --etcd-prefix / PPROFGATE_ETCD_PREFIX, default /goverse */
	const char *etcd_cacert, *etcd_cert, *etcd_key; /* --etcd-cacert/-cert/-key, PPROFGATE_ETCD_CACERT/_CERT/_KEY */
};

struct pg_etcd;

int pg_cli_cmd_window(struct pg_cli_conn *c, int argc, char **argv);
int pg_cli_cmd_token(int argc, char **argv);
int pg_cli_cmd_fetch(struct pg_cli_conn *c, int argc, char **argv);
int pg_cli_cmd_proxy(struct pg_cli_conn *c, int argc, char **argv);
int pg_cli_cmd_nodes(struct pg_cli_conn *c, int argc, char **argv);
/* fetch --cluster (src/cli/cluster.c); seconds < 0: none given. */
int pg_cli_fetch_cluster(struct pg_cli_conn *c, const char *profile, long seconds, const char *dir, long parallel);

/* An etcd client from c's etcd settings, built by the node's own constructor
 * (pg_etcd_new_from_config), and the key prefix. Returns PG_CLI_OK or an
 * exit code after one line on stderr. */
int pg_cli_etcd_open(const struct pg_cli_conn *c, const char *pfx, struct pg_etcd **out, char *prefix, size_t cap);
/* audit verify: works on a file, needs no connection. */
int pg_cli_cmd_audit(int argc, char **argv);

/* Checks c->cert (if any) as the node would, before connecting: validity
 * dates, not a CA, clientAuth usage, and the signature when --cacert names its
 * issuer. Prints what is wrong, prefixed by pfx; returns PG_CLI_OK,
 * PG_CLI_DENIED or PG_CLI_FAILED (unreadable). */
int pg_cli_check_own_cert(const struct pg_cli_conn *c, const char *pfx);

/* Who the node will see: "cn:NAME" (or the first SAN) of --cert, "token
 * sub=SUBJECT" (read, not verified) of --token, else "anonymous". */
void pg_cli_own_identity(const struct pg_cli_conn *c, char *out, size_t cap);

/* ---- HTTP(S) to a node's diagnostics listener (src/cli/upstream.c) ---- */

/* "https://host:port" for --node (HOST:PORT is https when a CA is given, as
 * fetch has always done), without a trailing '/'. */
void pg_cli_node_base(const char *node, bool cacert, char *out, size_t cap, bool *https);

/* The operator's credentials, checked once, for any number of requests. */
struct pg_cli_upstream {
	const struct pg_cli_conn *c;
	char base[600];          /* pg_cli_node_base of c->node */
	bool https;
	struct curl_slist *hdr;  /* "Authorization: Bearer ..." when --token */
	char identity[300];      /* pg_cli_own_identity */
};

/* Checks the credentials as fetch does (cert and key together, the own
 * certificate, no bearer token over plain HTTP) and prepares them. Returns
 * PG_CLI_OK, or an exit code after one line on stderr prefixed by pfx. */
int pg_cli_upstream_open(const struct pg_cli_conn *c, const char *pfx, struct pg_cli_upstream *u);
/* The options every request to a node shares: URL, protocols, timeouts,
 * CA, client certificate, Authorization. errbuf: CURL_ERROR_SIZE bytes. */
void pg_cli_upstream_setup(CURL *h, const struct pg_cli_upstream *u, const char *url, long timeout_s,
			   char *errbuf);
/* Wipes and frees the token header. */
void pg_cli_upstream_close(struct pg_cli_upstream *u);

/* The "reason" of a pprofgate refusal body {"error":..,"reason":"window_closed"},
 * "" when there is none. */
void pg_cli_reason_of(const char *body, char *out, size_t cap);

/* Reads a whole file (<= 1 MiB) into a malloc'd NUL-terminated buffer. */
int pg_cli_read_file(const char *path, char **out, size_t *len);

#endif
