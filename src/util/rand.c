/* Random identifiers; see rand.h. */
#include "src/util/rand.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "src/util/base64.h"

int pg_rand_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return pg_fail(PG_EIO, "getrandom: %s", strerror(errno));
		p += got;
		n -= (size_t)got;
	}
	return PG_OK;
}

int pg_rand_id(char *out, size_t cap)
{
	unsigned char raw[16];
	int rc;

	if (cap <= PG_RAND_ID_LEN)
		return pg_fail(PG_ENOMEM, "random id: buffer too small");
	if ((rc = pg_rand_bytes(raw, sizeof(raw))) != PG_OK)
		return rc;
	rc = pg_base64url_encode(raw, sizeof(raw), out, cap);
	explicit_bzero(raw, sizeof(raw));
	return rc;
}

int pg_rand_id_ok(const char *s, size_t n)
{
	if (!s || n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_'))
			return 0;
	}
	return 1;
}
