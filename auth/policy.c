#include "auth/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/replay.h"
#include "auth/scope.h"

#define REALM "pprofgate"

struct pg_auth_policy {
	struct pg_auth_route_rule rules[PG_AUTH_ROUTE__COUNT];
	struct pg_auth_jwt *jwt;
	const struct pg_auth_idlist *ids;
	const struct pg_auth_cidr_list *proxies;
	struct pg_auth_replay *replay;
};

const char *pg_auth_route_name(enum pg_auth_route r)
{
	switch (r) {
	case PG_AUTH_ROUTE_HEALTH: return "health";
	case PG_AUTH_ROUTE_METRICS: return "metrics";
	case PG_AUTH_ROUTE_PPROF: return "pprof";
	default: return "?";
	}
}

int pg_auth_policy_new(struct pg_auth_policy **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? PG_OK : pg_fail(PG_ENOMEM, "out of memory for the access policy");
}

void pg_auth_policy_free(struct pg_auth_policy **pp)
{
	if (!pp || !*pp)
		return;
	free(*pp);
	*pp = NULL;
}

int pg_auth_policy_set_route(struct pg_auth_policy *p, enum pg_auth_route route,
			     const struct pg_auth_route_rule *rule)
{
	if (!p || !rule || (unsigned)route >= PG_AUTH_ROUTE__COUNT)
		return pg_fail(PG_EINVAL, "unknown route group");
	if (rule->methods & ~(unsigned)(PG_AUTH_METHOD_MTLS | PG_AUTH_METHOD_JWT))
		return pg_fail(PG_EINVAL, "route %s: unknown authentication method",
			       pg_auth_route_name(route));
	p->rules[route] = *rule;
	return PG_OK;
}

void pg_auth_policy_set_jwt(struct pg_auth_policy *p, struct pg_auth_jwt *jwt)
{
	p->jwt = jwt;
}

void pg_auth_policy_set_client_ids(struct pg_auth_policy *p, const struct pg_auth_idlist *ids)
{
	p->ids = ids;
}

void pg_auth_policy_set_trusted_proxies(struct pg_auth_policy *p, const struct pg_auth_cidr_list *l)
{
	p->proxies = l;
}

void pg_auth_policy_set_replay(struct pg_auth_policy *p, struct pg_auth_replay *r)
{
	p->replay = r;
}

int pg_auth_policy_check(const struct pg_auth_policy *p)
{
	for (int r = 0; r < PG_AUTH_ROUTE__COUNT; r++) {
		const struct pg_auth_route_rule *rule = &p->rules[r];
		const char *name = pg_auth_route_name((enum pg_auth_route)r);

		if ((rule->methods & PG_AUTH_METHOD_JWT) && !p->jwt)
			return pg_fail(PG_EINVAL, "route %s uses JWT but no JWT keys are configured",
				       name);
		if ((rule->methods & PG_AUTH_METHOD_MTLS) && pg_auth_idlist_count(p->ids) == 0)
			return pg_fail(PG_EINVAL, "route %s uses mTLS but no client identities are "
						  "allowed", name);
		if (rule->require_window && r != PG_AUTH_ROUTE_PPROF)
			return pg_fail(PG_EINVAL, "route %s: only pprof can require the window", name);
	}
	return PG_OK;
}

static void deny(struct pg_auth_decision *d, int status, enum pg_auth_reason why)
{
	d->allow = false;
	d->http_status = status;
	d->reason = why;
}

static void challenge(struct pg_auth_decision *d, const char *error, const char *scope)
{
	/* RFC 6750 §3: no error code when the request carried no token. */
	if (!error)
		snprintf(d->www_authenticate, sizeof(d->www_authenticate), "Bearer realm=\"" REALM "\"");
	else if (!scope)
		snprintf(d->www_authenticate, sizeof(d->www_authenticate),
			 "Bearer realm=\"" REALM "\", error=\"%s\"", error);
	else
		snprintf(d->www_authenticate, sizeof(d->www_authenticate),
			 "Bearer realm=\"" REALM "\", error=\"%s\", scope=\"%s\"", error, scope);
}

static enum pg_auth_reason cert_reason(int status)
{
	switch (status) {
	case PG_AUTH_R_CERT_EXPIRED:
	case PG_AUTH_R_CERT_NOT_YET_VALID:
	case PG_AUTH_R_CERT_UNTRUSTED:
	case PG_AUTH_R_CERT_BAD_PURPOSE:
	case PG_AUTH_R_CERT_IS_CA:
	case PG_AUTH_R_CERT_INVALID:
	case PG_AUTH_R_CERT_MISSING:
		return (enum pg_auth_reason)status;
	default:
		return PG_AUTH_R_CERT_INVALID;
	}
}

void pg_auth_decide(const struct pg_auth_policy *p, const struct pg_auth_request *req,
		    struct pg_auth_decision *d)
{
	const struct pg_auth_route_rule *rule;
	struct pg_auth_addr peer, client;
	unsigned scopes = 0;
	bool authed = false, used_jwt = false;
	struct pg_auth_token t;
	const char *tok = NULL;
	size_t tok_len = 0;
	enum pg_auth_reason br = PG_AUTH_R_TOKEN_MISSING;

	memset(d, 0, sizeof(*d));
	d->window_left_ms = -1;
	snprintf(d->identity, sizeof(d->identity), "-");
	snprintf(d->client, sizeof(d->client), "-");
	deny(d, 403, PG_AUTH_R_INTERNAL);
	if (!p || !req || (unsigned)req->route >= PG_AUTH_ROUTE__COUNT) {
		d->http_status = 500;
		return;
	}
	rule = &p->rules[req->route];

	/* 1. Who is asking, network-wise. */
	if (pg_auth_addr_from_sockaddr(req->peer, req->peer_len, &peer) != PG_OK) {
		deny(d, 403, PG_AUTH_R_IP_NOT_ALLOWED);
		return;
	}
	if (pg_auth_client_addr(p->proxies, &peer, req->forwarded_for, &client) != PG_OK) {
		pg_auth_addr_format(&peer, d->client, sizeof(d->client));
		deny(d, 400, PG_AUTH_R_BAD_FORWARDED_FOR);
		return;
	}
	pg_auth_addr_format(&client, d->client, sizeof(d->client));

	/* 2. The allowlist always applies. */
	if (rule->allowlist && !pg_auth_cidr_list_match(rule->allowlist, &client)) {
		deny(d, 403, PG_AUTH_R_IP_NOT_ALLOWED);
		return;
	}

	/* 3. Authentication. */
	if (rule->methods == PG_AUTH_METHOD_NONE) {
		if (req->route == PG_AUTH_ROUTE_PPROF && !rule->allowlist) {
			/* Nothing configured: profiles stay on this host. Both the
			 * socket peer and the forwarded client must be loopback. */
			if (!pg_auth_addr_is_loopback(&peer) || !pg_auth_addr_is_loopback(&client)) {
				deny(d, 403, PG_AUTH_R_LOOPBACK_ONLY);
				return;
			}
			d->method = PG_AUTH_USED_LOOPBACK;
		}
		scopes = PG_AUTH_SCOPE_ADMIN;
		authed = true;
	}
	if ((rule->methods & PG_AUTH_METHOD_MTLS) && req->cert) {
		char matched[PG_AUTH_ID_LEN + 8];

		if (req->cert->status != PG_AUTH_R_OK) {
			deny(d, 403, cert_reason(req->cert->status));
			return;
		}
		if (!pg_auth_idlist_match(p->ids, &req->cert->id, &scopes, matched, sizeof(matched))) {
			pg_auth_cert_id_describe(&req->cert->id, d->identity, sizeof(d->identity));
			deny(d, 403, PG_AUTH_R_IDENTITY_NOT_ALLOWED);
			return;
		}
		snprintf(d->identity, sizeof(d->identity), "%s", matched);
		d->method = PG_AUTH_USED_MTLS;
		authed = true;
	}
	if (rule->methods & PG_AUTH_METHOD_JWT)
		br = pg_auth_bearer_parse(req->authorization, &tok, &tok_len);
	memset(&t, 0, sizeof(t));
	if ((rule->methods & PG_AUTH_METHOD_JWT) && br != PG_AUTH_R_TOKEN_MISSING) {
		enum pg_auth_reason vr;

		if (!req->tls && !rule->allow_plaintext_jwt) {
			/* RFC 6750 §5.3: bearer tokens only over TLS. */
			deny(d, 403, PG_AUTH_R_TLS_REQUIRED);
			return;
		}
		if (br != PG_AUTH_R_OK) {
			challenge(d, "invalid_request", NULL);
			deny(d, 400, br);
			return;
		}
		vr = pg_auth_jwt_verify(p->jwt, tok, tok_len, req->now_wall_s, &t);
		if (vr != PG_AUTH_R_OK) {
			challenge(d, "invalid_token", NULL);
			deny(d, vr == PG_AUTH_R_INTERNAL ? 500 : 401, vr);
			return;
		}
		if (d->method != PG_AUTH_USED_MTLS) {
			snprintf(d->identity, sizeof(d->identity), "jwt:%s", t.subject[0] ? t.subject : "-");
			d->method = PG_AUTH_USED_JWT;
		}
		scopes |= t.scopes;
		used_jwt = true;
		authed = true;
		snprintf(d->jti, sizeof(d->jti), "%s", t.jti);
		snprintf(d->window_id, sizeof(d->window_id), "%s", t.window_id);
	}
	if (!authed) {
		if ((rule->methods & PG_AUTH_METHOD_JWT) && (rule->methods & PG_AUTH_METHOD_MTLS)) {
			challenge(d, NULL, NULL);
			deny(d, 401, PG_AUTH_R_CREDENTIALS_MISSING);
		} else if (rule->methods & PG_AUTH_METHOD_JWT) {
			challenge(d, NULL, NULL);
			deny(d, 401, PG_AUTH_R_TOKEN_MISSING);
		} else if (!req->tls) {
			deny(d, 403, PG_AUTH_R_TLS_REQUIRED);
		} else {
			/* No HTTP challenge exists for TLS client certificates. */
			deny(d, 403, PG_AUTH_R_CERT_MISSING);
		}
		return;
	}
	d->scopes = scopes;

	/* 4. Authorisation by scope (pprof only). */
	if (req->route == PG_AUTH_ROUTE_PPROF) {
		unsigned need = pg_auth_scope_required(req->profile);

		if (!pg_auth_scope_satisfies(scopes, need)) {
			if (used_jwt)
				challenge(d, "insufficient_scope", pg_auth_scope_name(need));
			deny(d, 403, PG_AUTH_R_SCOPE_MISSING);
			return;
		}
	}

	/* 5. The window, only now that the caller is known. A bound token
	 * first: its window must be the one open, whatever the route. */
	if (used_jwt && t.window_id[0] && !pg_auth_window_id_is_open(req->window, t.window_id, req->now_mono_ms)) {
		challenge(d, "invalid_token", NULL);
		deny(d, 401, PG_AUTH_R_WINDOW_MISMATCH);
		return;
	}
	if (req->route == PG_AUTH_ROUTE_PPROF && rule->require_window) {
		if (!req->window || !pg_auth_window_is_open_for(req->window, req->profile, req->now_mono_ms)) {
			deny(d, 403, PG_AUTH_R_WINDOW_CLOSED);
			return;
		}
		d->window_left_ms = pg_auth_window_time_left_ms(req->window, req->now_mono_ms);
	}

	/* 6. Spend a single-use token, last, so a refusal above keeps it. */
	if (used_jwt && t.jti[0]) {
		enum pg_auth_reason rr = p->replay ? pg_auth_replay_use(p->replay, t.jti, strlen(t.jti), t.valid_until,
								      req->now_wall_s, !req->probe)
						   : PG_AUTH_R_SINGLE_USE_FULL;

		if (rr != PG_AUTH_R_OK) {
			/* Full is the node's limit, not the token's fault: 403, no challenge. */
			if (rr == PG_AUTH_R_TOKEN_REPLAYED)
				challenge(d, "invalid_token", NULL);
			deny(d, rr == PG_AUTH_R_TOKEN_REPLAYED ? 401 : rr == PG_AUTH_R_INTERNAL ? 500 : 403, rr);
			return;
		}
	}
	d->allow = true;
	d->http_status = 200;
	d->reason = PG_AUTH_R_OK;
}

int pg_auth_decision_json(const struct pg_auth_decision *d, char *out, size_t cap)
{
	const char *err;
	int n;

	switch (d->http_status) {
	case 200: err = "ok"; break;
	case 400: err = "bad_request"; break;
	case 401: err = "unauthorized"; break;
	case 403: err = "forbidden"; break;
	default: err = "internal_error"; break;
	}
	/* Both strings come from fixed tables: nothing to escape. */
	n = snprintf(out, cap, "{\"error\":\"%s\",\"reason\":\"%s\"}", err,
		     pg_auth_reason_str(d->reason));
	if (n < 0 || (size_t)n >= cap)
		return pg_fail(PG_ENOMEM, "decision body does not fit in %zu bytes", cap);
	return n;
}
