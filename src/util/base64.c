#include "src/util/base64.h"

#include <stdbool.h>
#include <stdint.h>

static const char std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* RFC 4648 sections 4 and 5: `pad` writes '=' to a multiple of 4. */
static int encode(const void *in, size_t n, const char *alphabet, bool pad, char *out, size_t cap)
{
	const unsigned char *p = in;
	size_t o = 0, need;

	if (n > (SIZE_MAX - 8) / 4)
		return pg_fail(PG_ENOMEM, "base64: output buffer too small");
	need = (pad ? (n + 2) / 3 * 4 : (n * 4 + 2) / 3) + 1;
	if (need > cap)
		return pg_fail(PG_ENOMEM, "base64: output buffer too small");
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		if (left > 1 || pad)
			out[o++] = left > 1 ? alphabet[(v >> 6) & 63] : '=';
		if (left > 2 || pad)
			out[o++] = left > 2 ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return PG_OK;
}

int pg_base64_encode(const void *in, size_t n, char *out, size_t cap)
{
	return encode(in, n, std_alphabet, true, out, cap);
}

int pg_base64url_encode(const void *in, size_t n, char *out, size_t cap)
{
	static const char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

	return encode(in, n, url_alphabet, false, out, cap);
}

static int value_of(unsigned char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Decodes quads; unpadded input (url) is read as if padded with '='. */
static int decode(const char *in, size_t n, bool url, unsigned char *out, size_t cap, size_t *out_len)
{
	size_t total = url ? (n + 3) / 4 * 4 : n, o = 0;

	if (url ? n % 4 == 1 : n % 4 != 0)
		return pg_fail(PG_EPROTO, "base64: length %zu is not valid", n);
	for (size_t i = 0; i < total; i += 4) {
		size_t pad = 0;
		uint32_t x = 0;

		for (size_t k = 0; k < 4; k++) {
			size_t at = i + k;
			unsigned char c = at < n ? (unsigned char)in[at] : '=';
			int v;

			if (c == '=' && (url ? at >= n : i + 4 == n && k >= 2)) {
				pad++;
				x <<= 6;
				continue;
			}
			if (pad) /* data after '=' */
				return pg_fail(PG_EPROTO, "base64: bad padding");
			if ((v = value_of(c, url)) < 0)
				return pg_fail(PG_EPROTO, "base64: bad character at %zu", at);
			x = (x << 6) | (uint32_t)v;
		}
		/* RFC 4648 section 3.5: the unused bits of the last symbol are zero. */
		if ((pad == 1 && (x & 0xFF)) || (pad == 2 && (x & 0xFFFF)))
			return pg_fail(PG_EPROTO, "base64: non-zero trailing bits");
		if (o + 3 - pad > cap)
			return pg_fail(PG_ENOMEM, "base64: decoded data too large");
		out[o++] = (unsigned char)(x >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(x >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)x;
	}
	*out_len = o;
	return PG_OK;
}

int pg_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *out_len)
{
	return decode(in, n, false, out, cap, out_len);
}

int pg_base64url_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *out_len)
{
	return decode(in, n, true, out, cap, out_len);
}
