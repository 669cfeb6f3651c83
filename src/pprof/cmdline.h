/* Go's /debug/pprof/cmdline: the command line with arguments separated by
 * NUL bytes (net/http/pprof writes strings.Join(os.Args, "\x00"), with no
 * trailing NUL), read from /proc/self/cmdline. */
#ifndef PG_PPROF_CMDLINE_H
#define PG_PPROF_CMDLINE_H

#include "src/util/buf.h"
#include "src/util/err.h"

/* Appends the command line to out; *content_type receives a static string. */
PG_WUR int pg_pprof_cmdline(struct pg_buf *out, const char **content_type);

/* The same from a raw /proc/<pid>/cmdline image (each argument followed by
 * a NUL), for tests. */
PG_WUR int pg_pprof_cmdline_from(const char *raw, size_t len, struct pg_buf *out);

#endif
