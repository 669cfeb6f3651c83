/* pprofgatectl: the admin CLI of pprofgate.
 *
 *   pprofgatectl [connection flags] COMMAND ...
 *
 * Commands: window open|close|status|request|approve|deny|requests, token
 * mint|verify, fetch, nodes, proxy, audit verify. See usage() and
 * docs/operations.md. Connection flags may come before or after the command;
 * each also has an environment variable so secrets stay out of `ps`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli/args.h"
#include "src/cli/cmd.h"
#include "src/util/file.h"

static void usage(FILE *f)
{
	fputs("usage: pprofgatectl [connection flags] COMMAND [args]\n"
	      "\n"
	      "Commands:\n"
	      "  window open --for DURATION --reason TEXT [--profiles heap,profile] [--cluster]\n"
	      "  window close [--cluster]\n"
	      "  window status\n"
	      "  window request --for DURATION --reason TEXT [--profiles heap,profile] [--cluster]\n"
	      "  window approve ID | window deny ID [--reason TEXT] | window requests\n"
	      "  token mint --key FILE --alg RS256|ES256|HS256 --sub S [--scope \"pprof:read\"]\n"
	      "             [--aud A] [--iss I] [--ttl 10m] [--kid K] [--single-use]\n"
	      "             [--bind-window WINDOW_ID]\n"
	      "  fetch PROFILE [--seconds N] -o FILE\n"
	      "  fetch --cluster PROFILE [--seconds N] [--parallel 8] -o DIR   every node, and merged\n"
	      "  nodes                             the cluster's nodes, diagnostics URLs, windows\n"
	      "  proxy [--listen 127.0.0.1:6060]   forward local pprof tools to --node as you\n"
	      "  audit verify FILE [--key FILE] [--prev-hash HEX]\n"
	      "Run `pprofgatectl COMMAND --help` for details.\n"
	      "\n"
	      "Connection flags (environment variable in brackets):\n"
	      "  --admin HOST:PORT   admin API of a node, for `window` [PPROFGATE_ADMIN] (localhost:47001)\n"
	      "  --node HOST:PORT|URL  HTTP(S) endpoint of a node, for `fetch` and `proxy` [PPROFGATE_NODE]\n"
	      "                      (localhost:9090; https when --cacert is given)\n"
	      "  --cert FILE --key FILE  client certificate and key (mTLS) [PPROFGATE_CERT, PPROFGATE_KEY]\n"
	      "  --cacert FILE       CA that signs the node's certificate [PPROFGATE_CACERT]\n"
	      "  --token JWT         bearer token for `fetch` and `proxy` [PPROFGATE_TOKEN; prefer the variable]\n"
	      "  --timeout SECONDS   per request (default 10; fetch adds the capture time)\n"
	      "  --etcd HOST:PORT[,...]  the cluster's etcd, for `nodes` and `fetch --cluster`\n"
	      "                      [PPROFGATE_ETCD] (localhost:2379, as the node)\n"
	      "  --etcd-prefix PREFIX  [PPROFGATE_ETCD_PREFIX] (/goverse, as the node)\n"
	      "  --etcd-cacert FILE --etcd-cert FILE --etcd-key FILE  TLS to etcd, as the node's\n"
	      "                      cluster.etcd.tls [PPROFGATE_ETCD_CACERT, _CERT, _KEY]\n"
	      "\n"
	      "Durations: 15m, 1h30m, 90s, 500ms, or plain seconds.\n"
	      "Exit codes: 0 ok, 1 local failure, 2 usage (or arguments the node rejected),\n"
	      "            3 authentication/authorisation refused (or your certificate is unusable),\n"
	      "            4 node unreachable, 5 node error, 6 etcd did not answer (behind the node for\n"
	      "            cluster windows, where a close still closed the node asked; or to the CLI),\n"
	      "            7 partial: fetch --cluster got some nodes' profiles, not all (or no merge),\n"
	      "            8 audit verify: the audit file's hash chain is broken.\n",
	      f);
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

int main(int argc, char **argv)
{
	struct pg_cli_conn c = {0};
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	int n = 0, rc;
	const char *v = NULL;

	if (!rest) {
		fputs("pprofgatectl: out of memory\n", stderr);
		return PG_CLI_FAILED;
	}
	c.admin = env_or("PPROFGATE_ADMIN", "localhost:47001");
	c.node = env_or("PPROFGATE_NODE", "localhost:9090");
	c.cert = env_or("PPROFGATE_CERT", NULL);
	c.key = env_or("PPROFGATE_KEY", NULL);
	c.cacert = env_or("PPROFGATE_CACERT", NULL);
	c.token = env_or("PPROFGATE_TOKEN", NULL);
	c.etcd = env_or("PPROFGATE_ETCD", "localhost:2379");
	c.etcd_prefix = env_or("PPROFGATE_ETCD_PREFIX", "/goverse");
	c.etcd_cacert = env_or("PPROFGATE_ETCD_CACERT", NULL);
	c.etcd_cert = env_or("PPROFGATE_ETCD_CERT", NULL);
	c.etcd_key = env_or("PPROFGATE_ETCD_KEY", NULL);
	c.timeout_s = 10;
	/* Pull the connection flags out wherever they are; the rest goes to the
	 * command. "token mint --key" is the signing key and "audit verify
	 * --key" the audit HMAC key, so stop at `token` and `audit`. */
	for (int i = 1; i < argc; i++) {
		int m = 0;
		if (n > 0 && (strcmp(rest[0], "token") == 0 || strcmp(rest[0], "audit") == 0)) {
			rest[n++] = argv[i];
			continue;
		}
		if ((m = pg_cli_flag(argc, argv, &i, "--admin", &v)) == 1)
			c.admin = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--node", &v)) == 1)
			c.node = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--cert", &v)) == 1)
			c.cert = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--key", &v)) == 1)
			c.key = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--cacert", &v)) == 1)
			c.cacert = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--token", &v)) == 1)
			c.token = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--etcd", &v)) == 1)
			c.etcd = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--etcd-prefix", &v)) == 1)
			c.etcd_prefix = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--etcd-cacert", &v)) == 1)
			c.etcd_cacert = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--etcd-cert", &v)) == 1)
			c.etcd_cert = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--etcd-key", &v)) == 1)
			c.etcd_key = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--timeout", &v)) == 1) {
			char *end;
			c.timeout_s = strtol(v, &end, 10);
			if (*end || end == v || c.timeout_s < 1 || c.timeout_s > 3600) {
				fprintf(stderr, "pprofgatectl: --timeout must be 1..3600 seconds\n");
				free(rest);
				return PG_CLI_USAGE;
			}
		}
		if (m == -1) {
			fprintf(stderr, "pprofgatectl: %s needs a value\n", argv[i]);
			free(rest);
			return PG_CLI_USAGE;
		}
		if (m == 0)
			rest[n++] = argv[i];
	}
	if (n == 0 || strcmp(rest[0], "--help") == 0 || strcmp(rest[0], "-h") == 0 ||
	    strcmp(rest[0], "help") == 0) {
		usage(n == 0 ? stderr : stdout);
		free(rest);
		return n == 0 ? PG_CLI_USAGE : PG_CLI_OK;
	}
	if (!pg_cli_endpoint_ok(c.admin) || !pg_cli_endpoint_ok(c.node)) {
		fprintf(stderr, "pprofgatectl: --admin and --node take HOST:PORT (or a URL for --node)\n");
		free(rest);
		return PG_CLI_USAGE;
	}
	if (strcmp(rest[0], "window") == 0) {
		rc = pg_cli_cmd_window(&c, n - 1, rest + 1);
	} else if (strcmp(rest[0], "token") == 0) {
		rc = pg_cli_cmd_token(n - 1, rest + 1);
	} else if (strcmp(rest[0], "fetch") == 0) {
		rc = pg_cli_cmd_fetch(&c, n - 1, rest + 1);
	} else if (strcmp(rest[0], "proxy") == 0) {
		rc = pg_cli_cmd_proxy(&c, n - 1, rest + 1);
	} else if (strcmp(rest[0], "nodes") == 0) {
		rc = pg_cli_cmd_nodes(&c, n - 1, rest + 1);
	} else if (strcmp(rest[0], "audit") == 0) {
		rc = pg_cli_cmd_audit(n - 1, rest + 1);
	} else if (strcmp(rest[0], "--version") == 0 || strcmp(rest[0], "version") == 0) {
		printf("pprofgatectl %s\n", PG_VERSION);
		rc = PG_CLI_OK;
	} else {
		fprintf(stderr, "pprofgatectl: unknown command \"%.40s\"; see pprofgatectl --help\n", rest[0]);
		rc = PG_CLI_USAGE;
	}
	free(rest);
	return rc;
}

/* Key, certificate and CA files: at most 1 MiB. On failure pg_errmsg() names
 * the file and the reason. */
int pg_cli_read_file(const char *path, char **out, size_t *len)
{
	return pg_file_read(path, 1024u * 1024u, 0, out, len) == PG_OK ? 0 : -1;
}
