/* Client identity allowlists and scope rules. */
#include <string.h>

#include "auth/identity.h"
#include "auth/scope.h"
#include "tests/unit/test.h"

static struct pg_auth_cert_id admin_id(void)
{
	struct pg_auth_cert_id id;

	memset(&id, 0, sizeof(id));
	snprintf(id.cn, sizeof(id.cn), "admin");
	snprintf(id.uri[0], sizeof(id.uri[0]), "spiffe://pprofgate.local/admin");
	id.n_uri = 1;
	snprintf(id.dns[0], sizeof(id.dns[0]), "Ops.Example.com");
	id.n_dns = 1;
	snprintf(id.email[0], sizeof(id.email[0]), "Ops@EXAMPLE.com");
	id.n_email = 1;
	return id;
}

static void test_idlist_errors(void)
{
	struct pg_auth_idlist *l = NULL;
	static const char *const bad[] = {"", "operator", "cn:", "CN", "dns:", "uri:", "spiffe://",
					  "email:nobody", "cn:a\tb", "x509:foo"};

	CHECK_INT(pg_auth_idlist_new(&l), PG_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(pg_auth_idlist_add(l, bad[i], 0), PG_EINVAL);
	CHECK_INT(pg_auth_idlist_add(l, "operator", 0), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "must start with cn:");
	CHECK_INT(pg_auth_idlist_count(l), 0);
	pg_auth_idlist_free(&l);
	CHECK(l == NULL);
}

static void test_idlist_match(void)
{
	struct pg_auth_idlist *l = NULL;
	struct pg_auth_cert_id id = admin_id(), other;
	unsigned scopes = 99;
	char m[300];

	memset(&other, 0, sizeof(other));
	snprintf(other.cn, sizeof(other.cn), "Admin"); /* CN is case-sensitive */
	CHECK_INT(pg_auth_idlist_new(&l), PG_OK);
	CHECK(!pg_auth_idlist_match(l, &id, &scopes, m, sizeof(m)));
	CHECK_INT(scopes, 0);
	CHECK_INT(pg_auth_idlist_add(l, "cn:operator", 0), PG_OK);
	CHECK(!pg_auth_idlist_match(l, &id, &scopes, m, sizeof(m)));
	CHECK_INT(pg_auth_idlist_add(l, "cn:admin", PG_AUTH_SCOPE_READ), PG_OK);
	CHECK(pg_auth_idlist_match(l, &id, &scopes, m, sizeof(m)));
	CHECK_STR(m, "cn:admin");
	CHECK_INT(scopes, PG_AUTH_SCOPE_READ);
	CHECK(!pg_auth_idlist_match(l, &other, &scopes, m, sizeof(m)));
	/* Scopes are the union of every matching entry. */
	CHECK_INT(pg_auth_idlist_add(l, "spiffe://pprofgate.local/admin", PG_AUTH_SCOPE_ADMIN), PG_OK);
	CHECK(pg_auth_idlist_match(l, &id, &scopes, m, sizeof(m)));
	CHECK_INT(scopes, PG_AUTH_SCOPE_READ | PG_AUTH_SCOPE_ADMIN);
	CHECK_STR(m, "cn:admin");
	pg_auth_idlist_free(&l);

	CHECK_INT(pg_auth_idlist_new(&l), PG_OK);
	CHECK_INT(pg_auth_idlist_add(l, "uri:spiffe://pprofgate.local/admin/", 0), PG_OK);
	CHECK(!pg_auth_idlist_match(l, &id, &scopes, NULL, 0)); /* exact, no prefix */
	CHECK_INT(pg_auth_idlist_add(l, "dns:ops.example.COM", 0), PG_OK);
	CHECK(pg_auth_idlist_match(l, &id, &scopes, m, sizeof(m)));
	CHECK_STR(m, "dns:ops.example.COM");
	CHECK_INT(scopes, PG_AUTH_SCOPE_READ); /* 0 means read */
	pg_auth_idlist_free(&l);

	CHECK_INT(pg_auth_idlist_new(&l), PG_OK);
	CHECK_INT(pg_auth_idlist_add(l, "email:ops@example.com", 0), PG_OK);
	CHECK(!pg_auth_idlist_match(l, &id, &scopes, m, sizeof(m))); /* local part differs */
	CHECK_INT(pg_auth_idlist_add(l, "email:Ops@example.com", 0), PG_OK);
	CHECK(pg_auth_idlist_match(l, &id, &scopes, m, sizeof(m)));
	/* An identity with nothing in it matches nothing. */
	memset(&other, 0, sizeof(other));
	CHECK(!pg_auth_idlist_match(l, &other, &scopes, m, sizeof(m)));
	pg_auth_idlist_free(&l);
}

static void test_describe(void)
{
	struct pg_auth_cert_id id = admin_id();
	char buf[300];

	pg_auth_cert_id_describe(&id, buf, sizeof(buf));
	CHECK_STR(buf, "uri:spiffe://pprofgate.local/admin");
	id.n_uri = 0;
	pg_auth_cert_id_describe(&id, buf, sizeof(buf));
	CHECK_STR(buf, "dns:Ops.Example.com");
	id.n_dns = 0;
	snprintf(id.email[0], sizeof(id.email[0]), "ops@example.com");
	id.n_email = 1;
	pg_auth_cert_id_describe(&id, buf, sizeof(buf));
	CHECK_STR(buf, "email:ops@example.com");
	id.n_email = 0;
	pg_auth_cert_id_describe(&id, buf, sizeof(buf));
	CHECK_STR(buf, "cn:admin");
	id.cn[0] = '\0';
	pg_auth_cert_id_describe(&id, buf, sizeof(buf));
	CHECK_STR(buf, "-");
}

static void test_scopes(void)
{
	CHECK_INT(pg_auth_scope_required("heap"), PG_AUTH_SCOPE_SENSITIVE);
	CHECK_INT(pg_auth_scope_required("goroutine"), PG_AUTH_SCOPE_SENSITIVE);
	CHECK_INT(pg_auth_scope_required("cmdline"), PG_AUTH_SCOPE_SENSITIVE);
	CHECK_INT(pg_auth_scope_required("allocs"), PG_AUTH_SCOPE_SENSITIVE);
	CHECK_INT(pg_auth_scope_required("profile"), PG_AUTH_SCOPE_READ);
	CHECK_INT(pg_auth_scope_required("block"), PG_AUTH_SCOPE_READ);
	CHECK_INT(pg_auth_scope_required(""), PG_AUTH_SCOPE_READ);
	CHECK_INT(pg_auth_scope_required("symbol"), PG_AUTH_SCOPE_READ);
	CHECK_INT(pg_auth_scope_required("Heap"), PG_AUTH_SCOPE_READ);
	CHECK_INT(pg_auth_scope_required(NULL), PG_AUTH_SCOPE_READ);

	CHECK(pg_auth_scope_satisfies(PG_AUTH_SCOPE_READ, PG_AUTH_SCOPE_READ));
	CHECK(!pg_auth_scope_satisfies(PG_AUTH_SCOPE_READ, PG_AUTH_SCOPE_SENSITIVE));
	CHECK(pg_auth_scope_satisfies(PG_AUTH_SCOPE_SENSITIVE, PG_AUTH_SCOPE_READ));
	CHECK(pg_auth_scope_satisfies(PG_AUTH_SCOPE_ADMIN, PG_AUTH_SCOPE_SENSITIVE));
	CHECK(pg_auth_scope_satisfies(PG_AUTH_SCOPE_ADMIN, PG_AUTH_SCOPE_READ));
	CHECK(!pg_auth_scope_satisfies(0, PG_AUTH_SCOPE_READ));
	CHECK(pg_auth_scope_satisfies(0, 0));
	CHECK(!pg_auth_scope_satisfies(PG_AUTH_SCOPE_SENSITIVE, PG_AUTH_SCOPE_ADMIN));

	CHECK_INT(pg_auth_scope_parse("pprof:read", 10), PG_AUTH_SCOPE_READ);
	CHECK_INT(pg_auth_scope_parse("  openid pprof:admin  pprof:read ", 33),
		  PG_AUTH_SCOPE_ADMIN | PG_AUTH_SCOPE_READ);
	CHECK_INT(pg_auth_scope_parse("pprof:read", 9), 0); /* length-bounded */
	CHECK_INT(pg_auth_scope_parse("pprof:readpprof:admin", 21), 0);
	CHECK_INT(pg_auth_scope_parse(NULL, 5), 0);
	CHECK_STR(pg_auth_scope_name(PG_AUTH_SCOPE_READ | PG_AUTH_SCOPE_ADMIN), "pprof:admin");
	CHECK_STR(pg_auth_scope_name(PG_AUTH_SCOPE_SENSITIVE), "pprof:sensitive");
	CHECK_STR(pg_auth_scope_name(0), "");
}

int main(void)
{
	RUN(test_idlist_errors);
	RUN(test_idlist_match);
	RUN(test_describe);
	RUN(test_scopes);
	TEST_END();
}
