#include "auth/identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/scope.h"

#define MAX_ENTRIES 256

enum kind { K_CN, K_DNS, K_URI, K_EMAIL };

struct entry {
	enum kind kind;
	char value[PG_AUTH_ID_LEN];
	char text[PG_AUTH_ID_LEN + 8];
	unsigned scopes;
};

struct pg_auth_idlist {
	struct entry *e;
	size_t n;
};

int pg_auth_idlist_new(struct pg_auth_idlist **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? PG_OK : pg_fail(PG_ENOMEM, "out of memory for an identity list");
}

void pg_auth_idlist_free(struct pg_auth_idlist **pp)
{
	if (!pp || !*pp)
		return;
	free((*pp)->e);
	free(*pp);
	*pp = NULL;
}

size_t pg_auth_idlist_count(const struct pg_auth_idlist *l)
{
	return l ? l->n : 0;
}

static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int pg_auth_idlist_add(struct pg_auth_idlist *l, const char *entry, unsigned scopes)
{
	static const struct {
		const char *prefix;
		enum kind kind;
	} kinds[] = {{"cn:", K_CN}, {"dns:", K_DNS}, {"uri:", K_URI}, {"email:", K_EMAIL},
		     {"spiffe://", K_URI}};
	struct entry e;
	const char *v = NULL;
	struct entry *ne;

	if (!l || !entry)
		return pg_fail(PG_EINVAL, "empty identity entry");
	if (l->n >= MAX_ENTRIES)
		return pg_fail(PG_ENOMEM, "more than %d identity entries", MAX_ENTRIES);
	memset(&e, 0, sizeof(e));
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t pl = strlen(kinds[i].prefix);

		if (strncasecmp(entry, kinds[i].prefix, pl) == 0) {
			e.kind = kinds[i].kind;
			v = kinds[i].kind == K_URI && kinds[i].prefix[0] == 's' ? entry : entry + pl;
			break;
		}
	}
	if (!v)
		return pg_fail(PG_EINVAL, "\"%.64s\": identity must start with cn:, dns:, uri:, email: "
					  "or spiffe://", entry);
	if (!v[0] || strlen(v) >= sizeof(e.value) || !printable(v))
		return pg_fail(PG_EINVAL, "\"%.64s\": identity value is empty, too long or has "
					  "control characters", entry);
	if (e.kind == K_URI && strncmp(v, "spiffe://", 9) == 0 && !v[9])
		return pg_fail(PG_EINVAL, "\"%.64s\": SPIFFE ID has no trust domain", entry);
	if (e.kind == K_EMAIL && !strchr(v, '@'))
		return pg_fail(PG_EINVAL, "\"%.64s\": email identity has no '@'", entry);
	memcpy(e.value, v, strlen(v) + 1);
	snprintf(e.text, sizeof(e.text), "%s:%s",
		 e.kind == K_CN ? "cn" : e.kind == K_DNS ? "dns" : e.kind == K_URI ? "uri" : "email",
		 e.value);
	e.scopes = scopes ? scopes : PG_AUTH_SCOPE_READ;
	ne = realloc(l->e, (l->n + 1) * sizeof(*ne));
	if (!ne)
		return pg_fail(PG_ENOMEM, "out of memory for an identity list");
	l->e = ne;
	l->e[l->n++] = e;
	return PG_OK;
}

static bool email_eq(const char *a, const char *b)
{
	const char *at_a = strrchr(a, '@'), *at_b = strrchr(b, '@');

	if (!at_a || !at_b || at_a - a != at_b - b)
		return false;
	/* RFC 5321 §2.4: the local part is case-sensitive, the domain is not. */
	return strncmp(a, b, (size_t)(at_a - a)) == 0 && strcasecmp(at_a, at_b) == 0;
}

static bool entry_matches(const struct entry *e, const struct pg_auth_cert_id *id)
{
	switch (e->kind) {
	case K_CN:
		return id->cn[0] && strcmp(id->cn, e->value) == 0;
	case K_DNS:
		for (size_t i = 0; i < id->n_dns && i < PG_AUTH_ID_SANS; i++)
			if (strcasecmp(id->dns[i], e->value) == 0)
				return true;
		return false;
	case K_URI:
		for (size_t i = 0; i < id->n_uri && i < PG_AUTH_ID_SANS; i++)
			if (strcmp(id->uri[i], e->value) == 0)
				return true;
		return false;
	case K_EMAIL:
		for (size_t i = 0; i < id->n_email && i < PG_AUTH_ID_SANS; i++)
			if (email_eq(id->email[i], e->value))
				return true;
		return false;
	}
	return false;
}

bool pg_auth_idlist_match(const struct pg_auth_idlist *l, const struct pg_auth_cert_id *id,
			  unsigned *scopes, char *matched, size_t matched_cap)
{
	bool any = false;

	if (scopes)
		*scopes = 0;
	if (matched && matched_cap)
		matched[0] = '\0';
	if (!l || !id)
		return false;
	for (size_t i = 0; i < l->n; i++) {
		if (!entry_matches(&l->e[i], id))
			continue;
		if (!any && matched && matched_cap)
			snprintf(matched, matched_cap, "%s", l->e[i].text);
		any = true;
		if (scopes)
			*scopes |= l->e[i].scopes;
	}
	return any;
}

void pg_auth_cert_id_describe(const struct pg_auth_cert_id *id, char *out, size_t cap)
{
	if (id && id->n_uri)
		snprintf(out, cap, "uri:%s", id->uri[0]);
	else if (id && id->n_dns)
		snprintf(out, cap, "dns:%s", id->dns[0]);
	else if (id && id->n_email)
		snprintf(out, cap, "email:%s", id->email[0]);
	else if (id && id->cn[0])
		snprintf(out, cap, "cn:%s", id->cn);
	else
		snprintf(out, cap, "-");
}
