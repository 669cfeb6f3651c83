/* The access decision for one HTTP request: pure, no HTTP types.
 *
 * Route groups and what applies to each, in this order:
 *   1. client address: the direct peer, or X-Forwarded-For behind a trusted
 *      proxy (see pg_auth_client_addr);
 *   2. the route's IP allowlist, if one is configured (403 ip_not_allowed);
 *   3. authentication by the route's methods, combined with OR ("mtls or
 *      jwt"): a presented credential that fails is refused even if another
 *      method could have succeeded (no silent fallback); nothing presented is
 *      401 credentials_missing / token_missing. Token problems are 401 with
 *      `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1);
 *      certificate problems are 403 (there is no HTTP challenge for TLS);
 *   4. authorisation: pprof scopes by profile (403 scope_missing, with
 *      error="insufficient_scope" for tokens);
 *   5. for pprof, the diagnostics window the caller hands over in the
 *      request (403 window_closed; NULL is closed). It comes after
 *      authentication so anonymous callers learn nothing about it. An
 *      allowed request gets the time left in it: the longest a timed capture
 *      may run (window_left_ms). A window-bound token (claim
 *      PG_AUTH_CLAIM_WINDOW) is valid only while the window with that id is
 *      open, on every route, whether or not the route requires the window
 *      (401 window_mismatch, invalid_token: the token can never pass again);
 *   6. last, a single-use token ("jti") is spent: the first allowed
 *      presentation is recorded in the replay set (auth/replay.h), a later
 *      one is 401 token_replayed, invalid_token, served from the verifier's
 *      cache or not. A request refused by an earlier step does not spend it,
 *      nor does a probe (HEAD: headers only, no profile). No room to record
 *      it, or no replay set at all: 403 single_use_full, never honoured
 *      twice.
 * A route with no methods and no allowlist is open, except pprof: with no
 * security configured at all pprof is served to loopback peers only.
 *
 * A struct pg_auth_policy is built single-threaded, then pg_auth_decide() is
 * thread-safe. The policy borrows the verifier and lists passed to its
 * setters: they must outlive it (the caller frees them). */
#ifndef PG_AUTH_POLICY_H
#define PG_AUTH_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "auth/cidr.h"
#include "auth/identity.h"
#include "auth/jwt.h"
#include "auth/reason.h"
#include "auth/window.h"
#include "src/util/err.h"

enum pg_auth_route { PG_AUTH_ROUTE_HEALTH = 0, PG_AUTH_ROUTE_METRICS, PG_AUTH_ROUTE_PPROF,
		     PG_AUTH_ROUTE__COUNT };

enum {
	PG_AUTH_METHOD_NONE = 0,
	PG_AUTH_METHOD_MTLS = 1u << 0,
	PG_AUTH_METHOD_JWT = 1u << 1,
};

/* Per-route rule; plain value copied by pg_auth_policy_set_route. */
struct pg_auth_route_rule {
	unsigned methods;          /* PG_AUTH_METHOD_* bits, OR-combined; 0 = no authentication */
	bool require_window;       /* pprof: the diagnostics window must be open */
	bool allow_plaintext_jwt;  /* accept bearer tokens on non-TLS connections (RFC 6750 §5.3
				      says never; for loopback development only) */
	const struct pg_auth_cidr_list *allowlist; /* NULL = any address */
};

struct pg_auth_policy;

PG_WUR int pg_auth_policy_new(struct pg_auth_policy **out);
void pg_auth_policy_free(struct pg_auth_policy **pp);

PG_WUR int pg_auth_policy_set_route(struct pg_auth_policy *p, enum pg_auth_route route,
				    const struct pg_auth_route_rule *rule);
void pg_auth_policy_set_jwt(struct pg_auth_policy *p, struct pg_auth_jwt *jwt);
void pg_auth_policy_set_client_ids(struct pg_auth_policy *p, const struct pg_auth_idlist *ids);
void pg_auth_policy_set_trusted_proxies(struct pg_auth_policy *p, const struct pg_auth_cidr_list *l);
/* The node's seen single-use token ids (borrowed; outlives the policy, and
 * is shared by the policies a reload builds). */
struct pg_auth_replay;
void pg_auth_policy_set_replay(struct pg_auth_policy *p, struct pg_auth_replay *r);

/* Checks that the configured pieces fit together (a route using JWT has a
 * verifier, mTLS has an identity list, only pprof requires the window).
 * PG_EINVAL with a sentence naming the route. */
PG_WUR int pg_auth_policy_check(const struct pg_auth_policy *p);

/* One request, as the HTTP layer saw it. All pointers are borrowed. */
struct pg_auth_request {
	enum pg_auth_route route;
	const char *profile;          /* pprof: name after /debug/pprof/ ("" = index) */
	const struct sockaddr *peer;  /* MHD_CONNECTION_INFO_CLIENT_ADDRESS */
	socklen_t peer_len;
	const char *forwarded_for;    /* X-Forwarded-For (lines joined by ","), or NULL */
	bool tls;                     /* the connection is TLS */
	const char *authorization;    /* Authorization header value, or NULL */
	const struct pg_auth_cert_result *cert; /* NULL when no client certificate was sent */
	int64_t now_wall_s;           /* time(NULL): token exp/nbf */
	int64_t now_mono_ms;          /* CLOCK_MONOTONIC ms: the window */
	struct pg_auth_window *window; /* the node's diagnostics window; NULL = closed */
	bool probe;                   /* HEAD: checks a single-use token without spending it */
};

enum pg_auth_method_used { PG_AUTH_USED_NONE = 0, PG_AUTH_USED_MTLS, PG_AUTH_USED_JWT,
			   PG_AUTH_USED_LOOPBACK };

struct pg_auth_decision {
	bool allow;
	int http_status;                 /* 200, 400, 401, 403 */
	enum pg_auth_reason reason;
	enum pg_auth_method_used method;
	char identity[PG_AUTH_ID_LEN + 16]; /* "jwt:alice", "uri:spiffe://...", "-" */
	char client[PG_AUTH_ADDR_TEXT_MAX];  /* effective client address */
	unsigned scopes;                 /* granted PG_AUTH_SCOPE_* bits */
	char www_authenticate[160];      /* header value to send, "" for none */
	char jti[PG_AUTH_JTI_MAX];       /* a single-use token's id (not secret), "" for none */
	char window_id[PG_AUTH_WINDOW_ID_MAX]; /* the window a bound token names, "" for none */
	int64_t window_left_ms;          /* allowed through a required window: the time left in
					    it, which bounds timed captures; -1 otherwise (no bound) */
};

/* Decides; never fails (internal problems deny with PG_AUTH_R_INTERNAL). */
void pg_auth_decide(const struct pg_auth_policy *p, const struct pg_auth_request *req,
		    struct pg_auth_decision *d);

/* Renders {"error":"<status text>","reason":"<reason>"} into out (NUL
 * terminated). Returns the length, or PG_ENOMEM if it does not fit. No
 * identity, token or key material is included. */
PG_WUR int pg_auth_decision_json(const struct pg_auth_decision *d, char *out, size_t cap);

const char *pg_auth_route_name(enum pg_auth_route r);

#endif
