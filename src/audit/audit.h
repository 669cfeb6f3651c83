/* The audit log: one sink for every access decision of the node (the
 * diagnostics gateway, the HTTP server's refusals, diagnostics-window events,
 * admin API refusals), one writer thread off the request path, and a hash
 * chain that makes edits, deletions and reordering visible
 * (src/audit/chain.h, docs/audit.md).
 *
 * Callers hand over JSON object members without braces (`"peer":"...",...`);
 * the time is taken at submit. The writer thread `audit-writer` adds seq, time
 * and hash, appends whole lines to the file (O_APPEND, created 0600) or
 * stderr, and syncs by one rule:
 *
 *   - a line is written within PG_AUDIT_GATHER_MS of its submit: an idle
 *     writer writes the first line at once, then gathers what comes in the
 *     next PG_AUDIT_GATHER_MS into one write() (no wake-up per line);
 *   - the file is fdatasync()ed within opts.sync_ms of the first line written
 *     since the last sync (0: after every batch);
 *   - the queue holds at most opts.queue_lines lines, counting lines reserved
 *     by requests in flight. When it is full, when writing fails, or when the
 *     oldest queued line has waited more than PG_AUDIT_STALL_MS (slow disk),
 *     pg_audit_reserve and pg_audit_submit fail: the caller refuses the request
 *     (503 audit_unavailable) instead of serving it unaudited.
 *
 * So a process crash loses at most the lines still queued (normally those of
 * the last PG_AUDIT_GATHER_MS; at most queue_lines, and none older than
 * PG_AUDIT_STALL_MS while requests are served), a machine crash at most the
 * last sync_ms of written lines too.
 *
 * The chain resumes from the file's last line at start; SIGHUP
 * (pg_audit_reopen) continues it into a rotated file with a chain-start line
 * naming the previous file's last seq and hash.
 *
 * Thread-safe. */
#ifndef PG_AUDIT_AUDIT_H
#define PG_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/metrics/metrics.h"
#include "src/util/err.h"

#define PG_AUDIT_QUEUE_LINES 4096
#define PG_AUDIT_SYNC_MS 100
/* Lines coming in after a write wait at most this long for the next one. */
#define PG_AUDIT_GATHER_MS 2
/* The oldest queued line may wait this long before new requests are refused. */
#define PG_AUDIT_STALL_MS 1000
/* Largest fields text one line may carry (the writer adds < 200 bytes). */
#define PG_AUDIT_FIELDS_MAX (200u * 1024u)

struct pg_audit;

struct pg_audit_opts {
	const char *path;      /* audit file; NULL or "": stderr (no sync, no resume) */
	const char *key_file;  /* HMAC-SHA256 key (32..1024 bytes, mode 600); NULL or "": SHA-256 */
	unsigned queue_lines;  /* 0: PG_AUDIT_QUEUE_LINES */
	int sync_ms;           /* < 0: PG_AUDIT_SYNC_MS; 0: after every batch */
	struct pg_metrics *metrics; /* may be NULL */
};

/* Opens the file (O_APPEND|O_NOFOLLOW, created 0600), reads its last line to
 * continue the chain, writes a chain-start line and starts the writer. Errors
 * name the file or key and the fix. */
PG_WUR int pg_audit_new(const struct pg_audit_opts *o, struct pg_audit **out);

/* Checks that o could be opened (key readable, private and long enough; the
 * file's directory exists) without touching the live sink. */
PG_WUR int pg_audit_check(const struct pg_audit_opts *o);

/* SIGHUP: reopens o->path (log rotation) and reloads the key. Lines submitted
 * before the call go to the old file, later ones to the new. A new file, or a
 * new key, gets a chain-start line linking the previous line. The old state
 * stays on failure. Waits (up to 2 s) until the writer has switched. */
PG_WUR int pg_audit_reopen(struct pg_audit *a, const struct pg_audit_opts *o);

/* Writes what is queued (up to 5 s), syncs, stops the writer, frees. Takes
 * NULL; sets *pp = NULL. */
void pg_audit_free(struct pg_audit **pp);

/* Holds one queue slot for a line to be submitted later (a request that will
 * be audited when it completes). PG_EBUSY (queue full) or PG_EIO (writer
 * failing or stalled), with a sentence: refuse the request. */
PG_WUR int pg_audit_reserve(struct pg_audit *a);

/* Queues one line of `fields` (JSON object members, no braces, no newline).
 * reserved: uses a slot taken by pg_audit_reserve (never refused for lack of
 * room). Errors as pg_audit_reserve; PG_EINVAL for fields over
 * PG_AUDIT_FIELDS_MAX. Refused lines are counted
 * (pprofgate_audit_refused_total) and logged at debug level. */
PG_WUR int pg_audit_submit(struct pg_audit *a, bool reserved, const char *fields, size_t len);

/* pg_audit_submit for callers that cannot refuse anything (window events):
 * arg is the struct pg_audit; a failure is logged as a warning. */
void pg_audit_event(void *arg, const char *fields);

/* Waits until every line submitted before the call is written (and synced
 * when the sink is a file), up to timeout_ms. PG_EBUSY on timeout. */
PG_WUR int pg_audit_flush(struct pg_audit *a, int timeout_ms);

/* Reads an HMAC key file as the node does: mode 600 (else PG_EDENIED), one
 * trailing newline dropped, 32..1024 bytes. The caller wipes and frees *key. */
PG_WUR int pg_audit_key_load(const char *path, unsigned char **key, size_t *len);

/* The last seq written (what the file's last line must carry). */
uint64_t pg_audit_last_seq(struct pg_audit *a);

#endif
