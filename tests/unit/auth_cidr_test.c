/* CIDR allowlists and the client address behind trusted proxies. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "auth/cidr.h"
#include "tests/unit/test.h"

static struct pg_auth_addr A(const char *s)
{
	struct pg_auth_addr a;

	CHECK_INT(pg_auth_addr_parse(s, strlen(s), &a), PG_OK);
	return a;
}

static bool match(const struct pg_auth_cidr_list *l, const char *s)
{
	struct pg_auth_addr a = A(s);

	return pg_auth_cidr_list_match(l, &a);
}

static void test_parse_errors(void)
{
	struct pg_auth_cidr_list *l = NULL;
	static const char *const bad[] = {
		"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0",
		"010.0.0.1", "10.0.0.1/8", "fe80::1%eth0", "[::1]", "::1/ 128", "10.0.0.0/08/1",
		"::ffff:10.0.0.0/64", "host.example", "0x7f.0.0.1", "1.2.3.4/+8"};

	CHECK_INT(pg_auth_cidr_list_new(&l), PG_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = pg_auth_cidr_list_add(l, bad[i]);

		if (rc != PG_EINVAL)
			fprintf(stderr, "accepted bad entry \"%s\"\n", bad[i]);
		CHECK_INT(rc, PG_EINVAL);
	}
	CHECK_INT(pg_auth_cidr_list_count(l), 0);
	CHECK_INT(pg_auth_cidr_list_add(l, "10.1.2.3/8"), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "beyond the /8 prefix");
	CHECK_INT(pg_auth_cidr_list_add(l, "10.0.0.0/33"), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "0..32");
	CHECK_INT(pg_auth_cidr_list_add(l, "nope"), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "\"nope\": not an IPv4 or IPv6 address");
	pg_auth_cidr_list_free(&l);
	CHECK(l == NULL);
	pg_auth_cidr_list_free(&l);
}

static void test_match(void)
{
	struct pg_auth_cidr_list *l = NULL;

	CHECK_INT(pg_auth_cidr_list_new(&l), PG_OK);
	CHECK_INT(pg_auth_cidr_list_add_many(l, "10.0.0.0/8, 127.0.0.1 ::1/128,fd00::/8 192.168.1.128/25"),
		  PG_OK);
	CHECK_INT(pg_auth_cidr_list_count(l), 5);
	CHECK(match(l, "10.0.0.1"));
	CHECK(match(l, "10.255.255.255"));
	CHECK(!match(l, "11.0.0.0"));
	CHECK(!match(l, "9.255.255.255"));
	CHECK(match(l, "127.0.0.1"));
	CHECK(!match(l, "127.0.0.2"));
	CHECK(match(l, "::1"));
	CHECK(!match(l, "::2"));
	CHECK(match(l, "fdab::1"));
	CHECK(!match(l, "fe80::1"));
	CHECK(match(l, "192.168.1.200"));
	CHECK(!match(l, "192.168.1.127"));
	/* IPv4-mapped IPv6 peers match IPv4 entries. */
	CHECK(match(l, "::ffff:10.1.2.3"));
	CHECK(match(l, "::ffff:127.0.0.1"));
	CHECK(!match(l, "::ffff:11.1.2.3"));
	/* IPv4-compatible (deprecated) is not mapped: no match. */
	CHECK(!match(l, "::10.1.2.3"));
	pg_auth_cidr_list_free(&l);

	CHECK_INT(pg_auth_cidr_list_new(&l), PG_OK);
	CHECK_INT(pg_auth_cidr_list_add(l, "::ffff:172.16.0.0/108"), PG_OK); /* = 172.16.0.0/12 */
	CHECK(match(l, "172.31.255.255"));
	CHECK(!match(l, "172.32.0.0"));
	CHECK_INT(pg_auth_cidr_list_add(l, "0.0.0.0/0"), PG_OK);
	CHECK(match(l, "8.8.8.8"));
	CHECK(!match(l, "2001:db8::1")); /* an IPv4 /0 is not all of IPv6 */
	pg_auth_cidr_list_free(&l);
}

static void test_sockaddr(void)
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	struct sockaddr un = {.sa_family = AF_UNIX};
	struct pg_auth_addr a;
	char txt[PG_AUTH_ADDR_TEXT_MAX];

	inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
	CHECK_INT(pg_auth_addr_from_sockaddr((struct sockaddr *)&in, sizeof(in), &a), PG_OK);
	CHECK(pg_auth_addr_is_loopback(&a));
	pg_auth_addr_format(&a, txt, sizeof(txt));
	CHECK_STR(txt, "127.0.0.1");
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
	CHECK_INT(pg_auth_addr_from_sockaddr((struct sockaddr *)&in6, sizeof(in6), &a), PG_OK);
	CHECK_INT(a.family, AF_INET);
	CHECK(pg_auth_addr_is_loopback(&a));
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	CHECK_INT(pg_auth_addr_from_sockaddr((struct sockaddr *)&in6, sizeof(in6), &a), PG_OK);
	CHECK(pg_auth_addr_is_loopback(&a));
	inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
	CHECK_INT(pg_auth_addr_from_sockaddr((struct sockaddr *)&in6, sizeof(in6), &a), PG_OK);
	CHECK(!pg_auth_addr_is_loopback(&a));
	pg_auth_addr_format(&a, txt, sizeof(txt));
	CHECK_STR(txt, "2001:db8::1");
	CHECK_INT(pg_auth_addr_from_sockaddr(&un, sizeof(un), &a), PG_EINVAL);
	CHECK_INT(pg_auth_addr_from_sockaddr((struct sockaddr *)&in, 4, &a), PG_EINVAL);
	CHECK_INT(pg_auth_addr_from_sockaddr(NULL, 0, &a), PG_EINVAL);
}

static void client(const struct pg_auth_cidr_list *proxies, const char *peer, const char *xff,
		   int want_rc, const char *want)
{
	struct pg_auth_addr p = A(peer), c;
	char txt[PG_AUTH_ADDR_TEXT_MAX];
	int rc = pg_auth_client_addr(proxies, &p, xff, &c);

	CHECK_INT(rc, want_rc);
	if (rc == PG_OK) {
		pg_auth_addr_format(&c, txt, sizeof(txt));
		CHECK_STR(txt, want);
	}
}

static void test_forwarded_for(void)
{
	struct pg_auth_cidr_list *proxies = NULL;
	char big[5000];

	CHECK_INT(pg_auth_cidr_list_new(&proxies), PG_OK);
	CHECK_INT(pg_auth_cidr_list_add_many(proxies, "127.0.0.1 10.0.0.0/24"), PG_OK);
	/* Untrusted peer: its header is ignored. */
	client(proxies, "192.0.2.7", "127.0.0.1", PG_OK, "192.0.2.7");
	client(proxies, "192.0.2.7", "garbage", PG_OK, "192.0.2.7");
	/* Trusted peer, no header: the peer. */
	client(proxies, "127.0.0.1", NULL, PG_OK, "127.0.0.1");
	/* The right-most untrusted address wins; forged left entries are ignored. */
	client(proxies, "127.0.0.1", "127.0.0.1, 198.51.100.9", PG_OK, "198.51.100.9");
	client(proxies, "127.0.0.1", "1.1.1.1, 198.51.100.9, 10.0.0.5", PG_OK, "198.51.100.9");
	client(proxies, "127.0.0.1", " 198.51.100.9 ,, 10.0.0.5 ", PG_OK, "198.51.100.9");
	client(proxies, "127.0.0.1", "2001:db8::2", PG_OK, "2001:db8::2");
	/* All trusted: the left-most. */
	client(proxies, "127.0.0.1", "10.0.0.3, 10.0.0.5", PG_OK, "10.0.0.3");
	client(proxies, "127.0.0.1", "", PG_OK, "127.0.0.1");
	/* Malformed from a trusted proxy: refuse rather than guess. */
	client(proxies, "127.0.0.1", "unknown", PG_EPROTO, NULL);
	client(proxies, "127.0.0.1", "198.51.100.9:1234", PG_EPROTO, NULL);
	client(proxies, "127.0.0.1", "[2001:db8::2]", PG_EPROTO, NULL);
	/* ...but only when it is reached: garbage left of the client is never read. */
	client(proxies, "127.0.0.1", "garbage, 198.51.100.9", PG_OK, "198.51.100.9");
	memset(big, ',', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	client(proxies, "127.0.0.1", big, PG_EPROTO, NULL);
	{
		char hops[2000] = "";
		for (int i = 0; i < 70; i++)
			strcat(hops, "10.0.0.1,");
		strcat(hops, "10.0.0.1");
		client(proxies, "127.0.0.1", hops, PG_EPROTO, NULL);
	}
	/* No trusted proxies at all: never read. */
	client(NULL, "127.0.0.1", "198.51.100.9", PG_OK, "127.0.0.1");
	pg_auth_cidr_list_free(&proxies);
}

int main(void)
{
	RUN(test_parse_errors);
	RUN(test_match);
	RUN(test_sockaddr);
	RUN(test_forwarded_for);
	TEST_END();
}
