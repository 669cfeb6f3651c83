/* Single-use tokens: the set of token ids ("jti", RFC 7519 §4.1.7) this node
 * has seen, so a token minted with `pprofgatectl token mint --single-use` is
 * honoured once.
 *
 * Bounded: at most `max` ids at a time (PG_AUTH_REPLAY_DEFAULT_MAX = 16384,
 * 24 bytes a slot, 3 slots per id: about 1.2 MiB). An id is remembered until
 * its token can no longer verify anyway (exp + the verifier's clock skew), then
 * its slot is reused. When every slot holds an id that is still valid, a new
 * single-use token is REFUSED (single_use_full) rather than an old id
 * forgotten: forgetting would let a captured token be replayed, refusing
 * only delays a fresh one. Only someone holding a signing key can fill the
 * set, each id for at most its token's lifetime.
 *
 * Per process: a node knows nothing of the ids other nodes saw, so a
 * single-use token is honoured once per node it is presented to (see
 * SECURITY.md). The set lives outside the reloadable gate state: a SIGHUP
 * does not forget it. A restart does: tokens are short-lived, and a
 * window-bound token also dies with its window.
 *
 * Keys are the first 16 bytes of SHA-256(jti), so the memory per id is fixed
 * whatever the jti's length. Thread-safe. */
#ifndef PG_AUTH_REPLAY_H
#define PG_AUTH_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/reason.h"
#include "src/util/err.h"

#define PG_AUTH_REPLAY_DEFAULT_MAX 16384
#define PG_AUTH_REPLAY_MAX_MAX (1u << 20)

struct pg_auth_replay;

/* max: ids remembered at a time, 1..PG_AUTH_REPLAY_MAX_MAX. */
PG_WUR int pg_auth_replay_new(size_t max, struct pg_auth_replay **out);
void pg_auth_replay_free(struct pg_auth_replay **pp);

/* One presentation of the token with id jti (jti_len bytes) that verifies
 * until wall time until_s (exp + skew), at wall time now_s.
 *   PG_AUTH_R_OK: not seen (or seen, but that entry is over); when `consume`,
 *     it is now recorded as used.
 *   PG_AUTH_R_TOKEN_REPLAYED: used before, within its lifetime.
 *   PG_AUTH_R_SINGLE_USE_FULL: not seen, and no room to record it (only when
 *     `consume`).
 * consume = false checks without spending (a HEAD probe). */
enum pg_auth_reason pg_auth_replay_use(struct pg_auth_replay *r, const char *jti, size_t jti_len,
				       int64_t until_s, int64_t now_s, bool consume);

/* Ids remembered now (expired ones included until their slot is reused). */
size_t pg_auth_replay_count(struct pg_auth_replay *r);

#endif
