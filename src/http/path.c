#include "src/http/path.h"

#include <string.h>

/* RFC 3986 unreserved characters plus the segment separator. Deliberately
 * narrower than pchar: no route needs sub-delims or percent-encoding. */
static int path_byte_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~' || c == '/';
}

/* Visible ASCII (RFC 5234 VCHAR) except '#'. */
static int query_byte_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '#';
}

/* 1 when the segment [p, p+n) is "." or "..". */
static int dot_segment(const char *p, size_t n)
{
	return (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.');
}

int pg_http_target_parse(const char *s, size_t n, struct pg_http_target *out)
{
	size_t path_len, seg_start;

	memset(out, 0, sizeof(*out));
	if (!s || n == 0 || s[0] != '/')
		return 400;
	for (path_len = 0; path_len < n && s[path_len] != '?'; path_len++)
		;
	if (path_len > PG_HTTP_PATH_MAX)
		return 414;
	seg_start = 1;
	for (size_t i = 1; i <= path_len; i++) {
		if (i < path_len && !path_byte_ok((unsigned char)s[i]))
			return 400;
		if (i == path_len || s[i] == '/') {
			/* An empty segment is allowed only as the final one, so
			 * "/debug/pprof/" (a trailing slash) stays expressible. */
			if (i == seg_start && i < path_len)
				return 400;
			if (dot_segment(s + seg_start, i - seg_start))
				return 400;
			seg_start = i + 1;
		}
	}
	if (path_len < n) {
		size_t qlen = n - path_len - 1;

		if (qlen > PG_HTTP_QUERY_MAX)
			return 414;
		for (size_t i = path_len + 1; i < n; i++)
			if (!query_byte_ok((unsigned char)s[i]))
				return 400;
		out->query = s + path_len + 1;
		out->query_len = qlen;
	}
	out->path = s;
	out->path_len = path_len;
	return 0;
}
