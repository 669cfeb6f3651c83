/* One error type for the whole project.
 *
 * Every fallible function returns an int: PG_OK (0) or a negative PG_E* code.
 * The code says what kind of failure it was; the thread-local detail sentence
 * (pg_errmsg) says what happened and how to fix it, for the operator.
 *
 *     if (bad) return pg_fail(PG_EINVAL, "%s:%d: shards must be 1..65536", f, line);
 *
 * The detail buffer is per thread and overwritten by the next pg_fail(). */
#ifndef PG_UTIL_ERR_H
#define PG_UTIL_ERR_H

#define PG_WUR __attribute__((warn_unused_result))

enum {
	PG_OK = 0,
	PG_EINVAL = -1,    /* invalid argument, config or request */
	PG_ENOMEM = -2,    /* allocation failed or a bound was reached */
	PG_EIO = -3,       /* file or socket I/O failed */
	PG_ENOTFOUND = -4, /* the named thing does not exist */
	PG_EEXIST = -5,    /* the named thing already exists */
	PG_EBUSY = -6,     /* a single-instance resource is in use */
	PG_EPROTO = -7,    /* a peer sent something malformed */
	PG_ENET = -8,      /* network failure: connect, bind, timeout */
	PG_EDENIED = -9,   /* authentication or authorisation refused */
	PG_EUNSUP = -10,   /* not supported in this build or mode */
	PG_EINTERNAL = -11 /* a bug or an unexpected library failure */
};

/* Records a detail sentence for this thread and returns rc, so callers can
 * write `return pg_fail(...)`. rc must be negative. */
PG_WUR int pg_fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short generic name for rc ("invalid argument"); never NULL. */
const char *pg_strerror(int rc);

/* The last detail sentence recorded on this thread, or pg_strerror's text when
 * none was recorded. Valid until the next pg_fail() on this thread. */
const char *pg_errmsg(void);

/* Clears the detail sentence of this thread. */
void pg_err_clear(void);

#endif
