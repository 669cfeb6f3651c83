/* pprofgatectl commands. Each takes the arguments after its name and returns
 * the process exit code (src/cli/args.h); errors are one line on stderr. */
#ifndef PG_CLI_CMD_H
#define PG_CLI_CMD_H

/* Connection settings shared by the commands: flags, else environment. */
struct pg_cli_conn {
	const char *admin;  /* --admin / PPROFGATE_ADMIN, default localhost:47001 */
	const char *node;   /* --node / PPROFGATE_NODE, default localhost:9090 */
	const char *cert, *key, *cacert; /* --cert/--key/--cacert, PPROFGATE_CERT/_KEY/_CACERT */
	const char *token;  /* --token / PPROFGATE_TOKEN (bearer, fetch only) */
	long timeout_s;     /* --timeout, default 10 (fetch adds the capture time) */
};

int pg_cli_cmd_window(struct pg_cli_conn *c, int argc, char **argv);
int pg_cli_cmd_token(int argc, char **argv);
int pg_cli_cmd_fetch(struct pg_cli_conn *c, int argc, char **argv);
/* audit verify: works on a file, needs no connection. */
int pg_cli_cmd_audit(int argc, char **argv);

/* Checks c->cert (if any) as the node would, before connecting: validity
 * dates, not a CA, clientAuth usage, and the signature when --cacert names its
 * issuer. Prints what is wrong, prefixed by pfx; returns PG_CLI_OK,
 * PG_CLI_DENIED or PG_CLI_FAILED (unreadable). */
int pg_cli_check_own_cert(const struct pg_cli_conn *c, const char *pfx);

/* Reads a whole file (<= 1 MiB) into a malloc'd NUL-terminated buffer. */
int pg_cli_read_file(const char *path, char **out, size_t *len);

#endif
