/* Bounded read of a whole file; see file.h. */
#include "src/util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Frees a buffer that may hold a key, wiping it first. */
static void wipe_free(char *buf, size_t n)
{
	if (buf)
		explicit_bzero(buf, n);
	free(buf);
}

int pg_file_read(const char *path, size_t max, unsigned flags, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0, cap;
	int fd, rc;

	*out = NULL;
	if (len)
		*len = 0;
	if (!path || max > SIZE_MAX / 2)
		return pg_fail(PG_EINVAL, "pg_file_read: no file name or no sane size bound");
	fd = open(path, O_RDONLY | O_CLOEXEC | ((flags & PG_FILE_NOFOLLOW) ? O_NOFOLLOW : 0));
	if (fd < 0)
		return pg_fail(PG_EIO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = pg_fail(PG_EIO, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = pg_fail(PG_EINVAL, "%s: is a directory, not a file", path);
		goto out;
	}
	if ((flags & PG_FILE_PRIVATE) && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		rc = pg_fail(PG_EDENIED, "%s is accessible by group or others (mode %03o); run: chmod 600 %s", path,
			     (unsigned)(st.st_mode & 0777), path);
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max) {
		rc = pg_fail(PG_EINVAL, "%s: file is %lld bytes; at most %zu are accepted", path,
			     (long long)st.st_size, max);
		goto out;
	}
	/* A regular file is read in one go unless it grows meanwhile; a pipe in
	 * growing steps. Reading one byte past max tells "too big" from "exact". */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : (max < 4096 ? max + 1 : 4096);
	if (!(buf = malloc(cap + 1))) {
		rc = pg_fail(PG_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			size_t ncap = cap > max / 2 ? max + 1 : cap * 2;
			char *nb;

			if (cap > max) {
				rc = pg_fail(PG_EINVAL, "%s: file is over %zu bytes", path, max);
				goto out;
			}
			if (!(nb = malloc(ncap + 1))) {
				rc = pg_fail(PG_ENOMEM, "%s: out of memory", path);
				goto out;
			}
			memcpy(nb, buf, n);
			wipe_free(buf, n);
			buf = nb;
			cap = ncap;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = pg_fail(PG_EIO, "%s: read failed: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	buf = NULL;
	rc = PG_OK;
out:
	wipe_free(buf, n);
	close(fd);
	return rc;
}
