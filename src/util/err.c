#include "src/util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char detail[512];
static _Thread_local int detail_rc;

/* Callers wrap the previous failure ("%s: %s", what, pg_errmsg()), so the
 * arguments may point into detail itself: format into a copy first
 * (vsnprintf with overlapping source and destination is undefined). */
int pg_fail(int rc, const char *fmt, ...)
{
	char out[sizeof(detail)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, sizeof(out), fmt, ap);
	va_end(ap);
	memcpy(detail, out, sizeof(detail));
	detail_rc = rc;
	return rc;
}

const char *pg_strerror(int rc)
{
	switch (rc) {
	case PG_OK: return "success";
	case PG_EINVAL: return "invalid argument";
	case PG_ENOMEM: return "out of memory or limit reached";
	case PG_EIO: return "input/output error";
	case PG_ENOTFOUND: return "not found";
	case PG_EEXIST: return "already exists";
	case PG_EBUSY: return "resource busy";
	case PG_EPROTO: return "protocol error";
	case PG_ENET: return "network error";
	case PG_EDENIED: return "access denied";
	case PG_EUNSUP: return "not supported";
	case PG_EINTERNAL: return "internal error";
	default: return "unknown error";
	}
}

const char *pg_errmsg(void)
{
	if (detail_rc == 0 || detail[0] == '\0')
		return pg_strerror(detail_rc);
	return detail;
}

void pg_err_clear(void)
{
	detail[0] = '\0';
	detail_rc = 0;
}
