#include "auth/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XFF_MAX 4096
#define XFF_MAX_HOPS 64

struct entry {
	struct pg_auth_addr net;
	unsigned prefix;
};

struct pg_auth_cidr_list {
	struct entry *e;
	size_t n, cap;
};

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int pg_auth_cidr_list_new(struct pg_auth_cidr_list **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? PG_OK : pg_fail(PG_ENOMEM, "out of memory for an address list");
}

void pg_auth_cidr_list_free(struct pg_auth_cidr_list **pp)
{
	if (!pp || !*pp)
		return;
	free((*pp)->e);
	free(*pp);
	*pp = NULL;
}

size_t pg_auth_cidr_list_count(const struct pg_auth_cidr_list *l)
{
	return l ? l->n : 0;
}

static void fold_mapped(struct pg_auth_addr *a)
{
	if (a->family == AF_INET6 && memcmp(a->bytes, v4mapped, 12) == 0) {
		memmove(a->bytes, a->bytes + 12, 4);
		memset(a->bytes + 4, 0, 12);
		a->family = AF_INET;
	}
}

int pg_auth_addr_parse(const char *s, size_t n, struct pg_auth_addr *out)
{
	char buf[64];

	memset(out, 0, sizeof(*out));
	if (!s || n == 0 || n >= sizeof(buf))
		return PG_EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	/* inet_pton accepts only dotted quads with 4 decimal parts: no octal,
	 * hex or short forms that inet_aton would read differently. */
	if (inet_pton(AF_INET, buf, out->bytes) == 1) {
		out->family = AF_INET;
		return PG_OK;
	}
	if (inet_pton(AF_INET6, buf, out->bytes) == 1) {
		out->family = AF_INET6;
		fold_mapped(out);
		return PG_OK;
	}
	return PG_EINVAL;
}

int pg_auth_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct pg_auth_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (!sa)
		return pg_fail(PG_EINVAL, "no peer address");
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		out->family = AF_INET;
		memcpy(out->bytes, &in->sin_addr, 4);
		return PG_OK;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		out->family = AF_INET6;
		memcpy(out->bytes, &in6->sin6_addr, 16);
		fold_mapped(out);
		return PG_OK;
	}
	return pg_fail(PG_EINVAL, "peer address family %d is not IPv4 or IPv6", sa->sa_family);
}

void pg_auth_addr_format(const struct pg_auth_addr *a, char *out, size_t cap)
{
	char buf[INET6_ADDRSTRLEN] = "-";

	if (a && (a->family == AF_INET || a->family == AF_INET6))
		inet_ntop(a->family, a->bytes, buf, sizeof(buf));
	snprintf(out, cap, "%s", buf);
}

bool pg_auth_addr_is_loopback(const struct pg_auth_addr *a)
{
	static const uint8_t v6lo[16] = {[15] = 1};

	if (a->family == AF_INET)
		return a->bytes[0] == 127;
	if (a->family == AF_INET6)
		return memcmp(a->bytes, v6lo, 16) == 0;
	return false;
}

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		if ((a[full] & mask) != (net[full] & mask))
			return false;
	}
	return true;
}

int pg_auth_cidr_list_add(struct pg_auth_cidr_list *l, const char *entry)
{
	const char *slash;
	struct entry e;
	size_t alen, maxp;
	unsigned long prefix;

	if (!l || !entry || !entry[0])
		return pg_fail(PG_EINVAL, "empty address entry");
	if (l->n >= PG_AUTH_CIDR_MAX_ENTRIES)
		return pg_fail(PG_ENOMEM, "more than %d address entries", PG_AUTH_CIDR_MAX_ENTRIES);
	memset(&e, 0, sizeof(e));
	slash = strchr(entry, '/');
	alen = slash ? (size_t)(slash - entry) : strlen(entry);
	if (pg_auth_addr_parse(entry, alen, &e.net) != PG_OK)
		return pg_fail(PG_EINVAL, "\"%.64s\": not an IPv4 or IPv6 address", entry);
	/* Recompute the width from the text: a mapped "::ffff:a.b.c.d/104" is
	 * an IPv6 prefix over the folded IPv4 address. */
	{
		struct pg_auth_addr raw;
		char buf[64];

		memcpy(buf, entry, alen);
		buf[alen] = '\0';
		raw.family = strchr(buf, ':') ? AF_INET6 : AF_INET;
		maxp = raw.family == AF_INET6 ? 128 : 32;
		if (slash) {
			char *end = NULL;
			const char *p = slash + 1;

			if (*p < '0' || *p > '9' || strlen(p) > 3)
				return pg_fail(PG_EINVAL, "\"%.64s\": prefix length must be 0..%zu", entry,
					       maxp);
			prefix = strtoul(p, &end, 10);
			if (*end != '\0' || prefix > maxp)
				return pg_fail(PG_EINVAL, "\"%.64s\": prefix length must be 0..%zu", entry,
					       maxp);
		} else {
			prefix = maxp;
		}
		if (raw.family == AF_INET6 && e.net.family == AF_INET) {
			if (prefix < 96)
				return pg_fail(PG_EINVAL, "\"%.64s\": an IPv4-mapped prefix must be >= 96",
					       entry);
			prefix -= 96;
		}
	}
	e.prefix = (unsigned)prefix;
	{
		/* Host bits set ("10.1.2.3/8") usually means a typo: refuse. */
		size_t bytes = e.net.family == AF_INET ? 4 : 16;
		struct pg_auth_addr masked = e.net;

		for (size_t i = 0; i < bytes; i++) {
			unsigned bit0 = (unsigned)i * 8;

			if (bit0 >= e.prefix)
				masked.bytes[i] = 0;
			else if (bit0 + 8 > e.prefix)
				masked.bytes[i] &= (uint8_t)(0xff << (8 - (e.prefix - bit0)));
		}
		if (memcmp(masked.bytes, e.net.bytes, bytes) != 0)
			return pg_fail(PG_EINVAL, "\"%.64s\": address has bits set beyond the /%u prefix",
				       entry, e.prefix);
	}
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 8;
		struct entry *ne = realloc(l->e, nc * sizeof(*ne));

		if (!ne)
			return pg_fail(PG_ENOMEM, "out of memory for an address list");
		l->e = ne;
		l->cap = nc;
	}
	l->e[l->n++] = e;
	return PG_OK;
}

int pg_auth_cidr_list_add_many(struct pg_auth_cidr_list *l, const char *entries)
{
	const char *p = entries;

	if (!entries)
		return PG_OK;
	while (*p) {
		char buf[80];
		size_t n = 0;

		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		while (p[n] && p[n] != ',' && p[n] != ' ' && p[n] != '\t')
			n++;
		if (n >= sizeof(buf))
			return pg_fail(PG_EINVAL, "\"%.40s...\": address entry too long", p);
		memcpy(buf, p, n);
		buf[n] = '\0';
		{
			int rc = pg_auth_cidr_list_add(l, buf);

			if (rc != PG_OK)
				return rc;
		}
		p += n;
	}
	return PG_OK;
}

bool pg_auth_cidr_list_match(const struct pg_auth_cidr_list *l, const struct pg_auth_addr *a)
{
	if (!l || !a)
		return false;
	for (size_t i = 0; i < l->n; i++)
		if (l->e[i].net.family == a->family &&
		    prefix_match(a->bytes, l->e[i].net.bytes, l->e[i].prefix))
			return true;
	return false;
}

int pg_auth_client_addr(const struct pg_auth_cidr_list *trusted, const struct pg_auth_addr *peer,
			const char *xff, struct pg_auth_addr *client)
{
	size_t end, hops = 0;

	*client = *peer;
	if (!xff || !pg_auth_cidr_list_match(trusted, peer))
		return PG_OK;
	end = strnlen(xff, XFF_MAX + 1);
	if (end > XFF_MAX)
		return PG_EPROTO;
	/* Walk right to left. */
	while (end > 0) {
		size_t start = end, s, e;
		struct pg_auth_addr a;

		while (start > 0 && xff[start - 1] != ',')
			start--;
		s = start;
		e = end;
		while (s < e && (xff[s] == ' ' || xff[s] == '\t'))
			s++;
		while (e > s && (xff[e - 1] == ' ' || xff[e - 1] == '\t'))
			e--;
		if (++hops > XFF_MAX_HOPS)
			return PG_EPROTO;
		/* Empty elements (",,") are allowed by the list syntax (RFC 9110
		 * §5.6.1) and skipped. */
		if (e > s) {
			if (pg_auth_addr_parse(xff + s, e - s, &a) != PG_OK)
				return PG_EPROTO;
			*client = a;
			if (!pg_auth_cidr_list_match(trusted, &a))
				return PG_OK;
		}
		end = start > 0 ? start - 1 : 0;
	}
	return PG_OK;
}
