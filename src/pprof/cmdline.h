/* Go's /debug/pprof/cmdline: the command line with arguments separated by
 * NUL bytes (net/http/pprof writes strings.Join(os.Args, "\x00"), with no
 * trailing NUL), read from /proc/self/cmdline.
 *
 * Redacted: the value of every argument whose name looks secret is replaced
 * by `<redacted>`, keeping Go's shape (one NUL-separated item per argument),
 * so readers of the format keep working. A name is NAME in --NAME=V, -NAME=V,
 * --NAME V (V the next argument, unless it starts with '-' or NAME starts
 * with "no-"/"no_", a boolean flag), and NAME=V; it looks secret when it
 * contains a pattern, ASCII case-insensitively (default patterns:
 * PG_PPROF_REDACT_DEFAULT). Empty values stay empty. The node passes no
 * environment to any profile, so only arguments are concerned.
 *
 * The answer is built once (pg_pprof_cmdline_setup, at start and on SIGHUP)
 * and shared by every request; it says it is redacted in the header
 * X-Pprofgate-Redacted (the number of values replaced, or "off"). */
#ifndef PG_PPROF_CMDLINE_H
#define PG_PPROF_CMDLINE_H

#include <stdbool.h>

#include "src/http/server.h"
#include "src/util/buf.h"
#include "src/util/err.h"

#define PG_PPROF_REDACT_DEFAULT "password\npasswd\nsecret\ntoken\nkey\ncredential\nauth"
#define PG_PPROF_REDACTED "<redacted>"

/* Builds the process's answer from /proc/self/cmdline: redacted with
 * `patterns` (one per line; NULL or "": PG_PPROF_REDACT_DEFAULT) when
 * `redact`. Replaces the answer requests get; the old one is freed when its
 * last request is done. Thread-safe. */
PG_WUR int pg_pprof_cmdline_setup(bool redact, const char *patterns);

/* Answers r with the current answer (built with the defaults on first use
 * if pg_pprof_cmdline_setup was not called). */
void pg_pprof_cmdline_reply(struct pg_http_req *r);

/* Appends the current answer to out; *content_type receives a static string. */
PG_WUR int pg_pprof_cmdline(struct pg_buf *out, const char **content_type);

/* The same from a raw /proc/<pid>/cmdline image (each argument followed by
 * a NUL), for tests. */
PG_WUR int pg_pprof_cmdline_from(const char *raw, size_t len, struct pg_buf *out);

/* The redaction alone (pure): the Go body of `raw` with secret-looking
 * values replaced; patterns as for pg_pprof_cmdline_setup. *n_redacted
 * receives the number of values replaced. */
PG_WUR int pg_pprof_cmdline_redact(const char *raw, size_t len, const char *patterns, struct pg_buf *out,
				   unsigned *n_redacted);

#endif
