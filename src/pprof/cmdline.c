#include "src/pprof/cmdline.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* /proc/self/cmdline is bounded by the kernel's argument limit; this cap
 * only guards the read loop. */
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
	struct pg_buf raw;
	char chunk[4096];
	int fd, rc = PG_OK;

	*content_type = "text/plain; charset=utf-8";
	pg_buf_init(&raw, CMDLINE_MAX);
	fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pg_fail(PG_EIO, "cannot open /proc/self/cmdline: %s", strerror(errno));
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = pg_fail(PG_EIO, "cannot read /proc/self/cmdline: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		rc = pg_buf_append(&raw, chunk, (size_t)n);
		if (rc != PG_OK)
			goto out;
	}
	rc = pg_pprof_cmdline_from(raw.data ? raw.data : "", raw.len, out);
out:
	close(fd);
	pg_buf_free(&raw);
	return rc;
}
