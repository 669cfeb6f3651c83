#include "src/pprof/cmdline.h"

#include <stdlib.h>

#include "src/util/file.h"

/* /proc/self/cmdline is bounded by the kernel's argument limit; this cap
 * only guards the read. */
#define CMDLINE_MAX (4u << 20)

int pg_pprof_cmdline_from(const char *raw, size_t len, struct pg_buf *out)
{
	/* Each argument ends in NUL: dropping the last one joins them with NULs. */
	if (len > 0 && raw[len - 1] == '\0')
		len--;
	return len ? pg_buf_append(out, raw, len) : PG_OK;
}

int pg_pprof_cmdline(struct pg_buf *out, const char **content_type)
{
	char *raw = NULL;
	size_t n = 0;
	int rc;

	*content_type = "text/plain; charset=utf-8";
	if ((rc = pg_file_read("/proc/self/cmdline", CMDLINE_MAX, 0, &raw, &n)) != PG_OK)
		return rc;
	rc = pg_pprof_cmdline_from(raw, n, out);
	free(raw);
	return rc;
}
