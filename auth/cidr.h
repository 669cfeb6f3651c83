/* IP allowlists (CIDR, IPv4 and IPv6) and the client address behind trusted
 * proxies.
 *
 * Entries: "10.0.0.0/8", "::1/128", "127.0.0.1" (= /32), "fe80::/10".
 * IPv4-mapped IPv6 peers (::ffff:a.b.c.d, what a dual-stack socket reports
 * for IPv4 clients) match IPv4 entries, and an entry written as
 * "::ffff:10.0.0.0/104" is stored as the IPv4 entry 10.0.0.0/8.
 *
 * A list is built single-threaded, then read-only and safe to share. */
#ifndef PG_AUTH_CIDR_H
#define PG_AUTH_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "src/util/err.h"

#define PG_AUTH_CIDR_MAX_ENTRIES 1024
#define PG_AUTH_ADDR_TEXT_MAX 46 /* INET6_ADDRSTRLEN */

/* One address, IPv4-mapped IPv6 folded to IPv4. Plain value. */
struct pg_auth_addr {
	int family;         /* AF_INET or AF_INET6; 0 = none */
	uint8_t bytes[16];  /* 4 used for AF_INET */
};

struct pg_auth_cidr_list;

PG_WUR int pg_auth_cidr_list_new(struct pg_auth_cidr_list **out);
void pg_auth_cidr_list_free(struct pg_auth_cidr_list **pp);

/* Adds one entry. PG_EINVAL with a sentence naming the entry and the problem
 * (bad address, prefix out of range, host bits set). */
PG_WUR int pg_auth_cidr_list_add(struct pg_auth_cidr_list *l, const char *entry);

/* Adds a comma- or space-separated list of entries. */
PG_WUR int pg_auth_cidr_list_add_many(struct pg_auth_cidr_list *l, const char *entries);

size_t pg_auth_cidr_list_count(const struct pg_auth_cidr_list *l);

bool pg_auth_cidr_list_match(const struct pg_auth_cidr_list *l, const struct pg_auth_addr *a);

/* Converts a socket address (AF_INET/AF_INET6). PG_EINVAL otherwise. */
PG_WUR int pg_auth_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len,
				      struct pg_auth_addr *out);
/* Parses a literal address of n bytes (no brackets, no port, no zone). */
PG_WUR int pg_auth_addr_parse(const char *s, size_t n, struct pg_auth_addr *out);
void pg_auth_addr_format(const struct pg_auth_addr *a, char *out, size_t cap);
bool pg_auth_addr_is_loopback(const struct pg_auth_addr *a);

/* The address of the client a request is from.
 *
 * X-Forwarded-For is used only when the direct peer is a trusted proxy; then
 * the list is walked from the right and the first address that is not a
 * trusted proxy is the client. The right-most entries were appended by our
 * own proxies and can be believed; everything to their left was supplied by
 * the client and can be forged, so taking the left-most entry would let any
 * client pick its own address. If every entry is a trusted proxy the
 * left-most one is used.
 *
 * `xff` may be NULL (no header); several header lines must be joined with
 * ",". Returns PG_OK, or PG_EPROTO when the header from a trusted proxy is
 * malformed or longer than 64 hops / 4 KiB (the caller denies: guessing would
 * hand the proxy's own address, often loopback, to the client). */
PG_WUR int pg_auth_client_addr(const struct pg_auth_cidr_list *trusted_proxies,
			       const struct pg_auth_addr *peer, const char *xff,
			       struct pg_auth_addr *client);

#endif
