/* Seen single-use token ids; see replay.h.
 *
 * An open-addressing hash table (linear probing) with twice as many slots as
 * ids, so probes stay short. Nothing is deleted one by one (that would break
 * probe chains); when the table holds `max` ids and the earliest of them is
 * over, the live ones are re-inserted into a cleared table (O(slots), at most
 * once per expiry of the earliest id). */
#include "auth/replay.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "src/util/zmem.h"

#define KEY_LEN 16

struct slot {
	unsigned char key[KEY_LEN];
	int64_t until; /* 0 = empty */
};

struct pg_auth_replay {
	pthread_mutex_t mu;
	struct slot *slots, *scratch; /* scratch: max entries, for the purge */
	size_t n_slots, max, count;
	int64_t earliest; /* the smallest `until` in the table (INT64_MAX when empty) */
};

int pg_auth_replay_new(size_t max, struct pg_auth_replay **out)
{
	struct pg_auth_replay *r;
	size_t n = 1;

	*out = NULL;
	if (max == 0 || max > PG_AUTH_REPLAY_MAX_MAX)
		return pg_fail(PG_EINVAL, "single-use token set: size %zu must be 1..%u", max,
			       PG_AUTH_REPLAY_MAX_MAX);
	while (n < 2 * max)
		n <<= 1;
	r = calloc(1, sizeof(*r));
	if (!r)
		return pg_fail(PG_ENOMEM, "out of memory for the single-use token set");
	pthread_mutex_init(&r->mu, NULL);
	r->n_slots = n;
	r->max = max;
	/* Pages are used as ids arrive: an idle node holds none. */
	r->slots = pg_zmem_new(n, sizeof(*r->slots));
	r->scratch = pg_zmem_new(max, sizeof(*r->scratch));
	if (!r->slots || !r->scratch) {
		pg_auth_replay_free(&r);
		return pg_fail(PG_ENOMEM, "out of memory for the single-use token set");
	}
	r->earliest = INT64_MAX;
	*out = r;
	return PG_OK;
}

void pg_auth_replay_free(struct pg_auth_replay **pp)
{
	struct pg_auth_replay *r = pp ? *pp : NULL;

	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	pg_zmem_free(r->slots, r->n_slots, sizeof(*r->slots));
	pg_zmem_free(r->scratch, r->max, sizeof(*r->scratch));
	free(r);
	*pp = NULL;
}

/* The slot holding key, or the empty slot where it would go. */
static struct slot *probe(struct pg_auth_replay *r, const unsigned char *key)
{
	size_t h = ((size_t)key[0] | (size_t)key[1] << 8 | (size_t)key[2] << 16 | (size_t)key[3] << 24) &
		   (r->n_slots - 1);

	/* At most max < n_slots / 2 slots are used: an empty one is always found. */
	for (;;) {
		struct slot *s = &r->slots[h];

		if (s->until == 0 || memcmp(s->key, key, KEY_LEN) == 0)
			return s;
		h = (h + 1) & (r->n_slots - 1);
	}
}

/* Drops every id that is over at now. Caller holds mu. */
static void purge_locked(struct pg_auth_replay *r, int64_t now)
{
	size_t live = 0;

	for (size_t i = 0; i < r->n_slots; i++)
		if (r->slots[i].until != 0 && r->slots[i].until >= now)
			r->scratch[live++] = r->slots[i];
	pg_zmem_clear(r->slots, r->n_slots, sizeof(*r->slots));
	r->earliest = INT64_MAX;
	for (size_t i = 0; i < live; i++) {
		*probe(r, r->scratch[i].key) = r->scratch[i];
		if (r->scratch[i].until < r->earliest)
			r->earliest = r->scratch[i].until;
	}
	r->count = live;
}

enum pg_auth_reason pg_auth_replay_use(struct pg_auth_replay *r, const char *jti, size_t jti_len,
				       int64_t until_s, int64_t now_s, bool consume)
{
	unsigned char digest[32];
	enum pg_auth_reason why = PG_AUTH_R_OK;
	struct slot *s;

	if (!r || !jti || jti_len == 0)
		return PG_AUTH_R_INTERNAL;
	if (!EVP_Digest(jti, jti_len, digest, NULL, EVP_sha256(), NULL))
		return PG_AUTH_R_INTERNAL;
	/* until 0 marks an empty slot; a token valid until 0 is long over. */
	if (until_s < 1)
		until_s = 1;
	pthread_mutex_lock(&r->mu);
	s = probe(r, digest);
	if (s->until != 0) {
		if (s->until >= now_s)
			why = PG_AUTH_R_TOKEN_REPLAYED;
		else if (consume)
			s->until = until_s; /* an id whose entry is over: reuse its slot */
		goto out;
	}
	if (!consume)
		goto out;
	if (r->count >= r->max && r->earliest < now_s) {
		purge_locked(r, now_s);
		s = probe(r, digest);
	}
	if (r->count >= r->max) {
		why = PG_AUTH_R_SINGLE_USE_FULL;
		goto out;
	}
	memcpy(s->key, digest, KEY_LEN);
	s->until = until_s;
	r->count++;
	if (until_s < r->earliest)
		r->earliest = until_s;
out:
	pthread_mutex_unlock(&r->mu);
	return why;
}

size_t pg_auth_replay_count(struct pg_auth_replay *r)
{
	size_t n;

	pthread_mutex_lock(&r->mu);
	n = r->count;
	pthread_mutex_unlock(&r->mu);
	return n;
}
