/* pprofgatectl: argument helpers (pure, unit-tested by tests/unit/cli_test.c). */
#ifndef PG_CLI_ARGS_H
#define PG_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes, documented in `pprofgatectl --help` and docs/operations.md. */
enum {
	PG_CLI_OK = 0,
	PG_CLI_FAILED = 1,      /* a local problem (file I/O, out of memory) */
	PG_CLI_USAGE = 2,       /* bad command line, or arguments the node rejected */
	PG_CLI_DENIED = 3,      /* authentication or authorisation refused */
	PG_CLI_UNREACHABLE = 4, /* cannot connect, TLS handshake failed, timed out */
	PG_CLI_SERVER = 5,      /* the node answered with an error */
	PG_CLI_ETCD = 6,        /* etcd did not answer (behind a node for cluster windows, or to the CLI) */
	PG_CLI_PARTIAL = 7,     /* fetch --cluster: some nodes failed (or the merge was refused); the rest written */
	PG_CLI_BROKEN = 8       /* audit verify: the hash chain is broken */
};

/* Parses a duration: one or more <number><unit> with units h, m, s, ms
 * ("15m", "1h30m", "90s", "500ms"), or a bare number of seconds ("90").
 * Result in milliseconds, 1 ms .. 366 days. Returns 0, or -1 for anything
 * else (empty, no digits, unknown unit, overflow, zero). */
int pg_cli_parse_duration(const char *s, int64_t *ms);

/* Splits a comma-separated list of profile names (1..31 of [A-Za-z0-9_.-])
 * into out[]; empty items are refused. Returns 0, or -1. */
int pg_cli_split_profiles(const char *s, char out[][32], size_t max, size_t *n);

/* Matches argv[*i] against a flag taking a value: "--name VALUE" or
 * "--name=VALUE". Returns 1 with *val set (and *i advanced past the value),
 * 0 when argv[*i] is another argument, -1 when the value is missing. */
int pg_cli_flag(int argc, char **argv, int *i, const char *name, const char **val);

/* Whether s is a "host:port" or an http(s):// URL without spaces. */
bool pg_cli_endpoint_ok(const char *s);

/* "1m05s" / "42s" for a countdown. */
void pg_cli_format_secs(int64_t secs, char *out, size_t cap);

#endif
