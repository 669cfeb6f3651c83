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

/* The largest key, certificate or CA file the CLI reads (pg_file_read). */
#define PG_CLI_FILE_MAX (1024u * 1024u)

#endif
