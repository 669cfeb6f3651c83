/* The audit log's hash chain: pure functions, no I/O (fuzzed by
 * tests/fuzz/fuzz_audit_chain.c). docs/audit.md is the specification.
 *
 * An audit line is
 *
 *     {"seq":N,"time":"T",<fields>,"hash":"H"}\n
 *
 * Its canonical bytes C are the line up to, not including, the final
 * `,"hash":"`; H is 64 lowercase hex digits of
 *
 *     SHA-256(P || C)                  (alg "sha256")
 *     HMAC-SHA256(key, P || C)         (alg "hmac-sha256")
 *
 * where P is the 32 raw bytes of the previous line's hash (32 zero bytes
 * before the first line of a chain). A chain-start line, written whenever the
 * node opens the file (start, restart, rotation), names the algorithm and the
 * link to the previous line, with fields in this order:
 *
 *     {"seq":N,"time":"T","event":"audit_chain_start","alg":"A",
 *      "prev_seq":S,"prev_hash":"P","reason":"R",...,"hash":"H"}
 *
 * and is itself chained (its P is prev_hash). */
#ifndef PG_AUDIT_CHAIN_H
#define PG_AUDIT_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/util/err.h"

#define PG_AUDIT_HASH_LEN 32
#define PG_AUDIT_HEX_LEN 64
/* `,"hash":"` + 64 hex + `"}`: what follows the canonical bytes. */
#define PG_AUDIT_TAIL_LEN (9 + PG_AUDIT_HEX_LEN + 2)
/* Longest line the writer produces and the verifier accepts. */
#define PG_AUDIT_LINE_MAX (256u * 1024u)
/* HMAC keys: 32..1024 bytes. */
#define PG_AUDIT_KEY_MIN 32
#define PG_AUDIT_KEY_MAX 1024

/* ---- hashing ---- */

/* A hasher: SHA-256, or HMAC-SHA256 with a key (copied, wiped on free). The
 * digest and MAC are fetched once here. One thread at a time. */
struct pg_audit_hasher;

PG_WUR int pg_audit_hasher_new(const unsigned char *key, size_t key_len, struct pg_audit_hasher **out);
void pg_audit_hasher_free(struct pg_audit_hasher **pp);
/* "sha256" or "hmac-sha256". */
const char *pg_audit_hasher_alg(const struct pg_audit_hasher *h);
/* out = hash(prev || canon). */
PG_WUR int pg_audit_hash(struct pg_audit_hasher *h, const unsigned char prev[PG_AUDIT_HASH_LEN], const char *canon,
			 size_t len, unsigned char out[PG_AUDIT_HASH_LEN]);

/* Lowercase hex of a hash into out (65 bytes, NUL-terminated). */
void pg_audit_hex(const unsigned char h[PG_AUDIT_HASH_LEN], char out[PG_AUDIT_HEX_LEN + 1]);

/* ---- lines ---- */

struct pg_audit_line {
	uint64_t seq;
	size_t canon_len;                        /* bytes covered by the hash */
	unsigned char hash[PG_AUDIT_HASH_LEN];
	bool start;                              /* an audit_chain_start line */
	char alg[16];                            /* start lines: "sha256" or "hmac-sha256" */
	uint64_t prev_seq;                       /* start lines */
	unsigned char prev_hash[PG_AUDIT_HASH_LEN]; /* start lines */
	char reason[32];                         /* start lines */
};

/* Parses one line (len bytes, without its '\n'). PG_EINVAL when it is not an
 * audit line of the shape above (no sentence recorded: the verifier says
 * which line). */
PG_WUR int pg_audit_line_parse(const char *line, size_t len, struct pg_audit_line *out);

/* ---- verification ---- */

enum pg_audit_verdict {
	PG_AUDIT_OK = 0,
	PG_AUDIT_EDITED,    /* a line's hash does not match its bytes and the previous hash */
	PG_AUDIT_MISSING,   /* a seq gap: lines deleted */
	PG_AUDIT_REORDERED, /* a seq out of order (moved, swapped or duplicated lines) */
	PG_AUDIT_MALFORMED, /* not an audit line */
	PG_AUDIT_TRUNCATED, /* the last line is incomplete (no newline) */
	PG_AUDIT_BAD_LINK,  /* a chain-start line does not name the line before it (or --prev-hash) */
	PG_AUDIT_NEEDS_KEY  /* an hmac-sha256 chain and no key given */
};

struct pg_audit_verify_result {
	enum pg_audit_verdict verdict;
	size_t line_no;          /* 1-based line of the verdict (0 when OK) */
	size_t lines;            /* lines verified */
	size_t partial_skipped;  /* incomplete lines left by a crash, each followed by a restart */
	bool first_unchecked;    /* the first line's predecessor was unknown (no chain start, no prev) */
	uint64_t first_seq, last_seq;
	unsigned char last_hash[PG_AUDIT_HASH_LEN];
	char msg[256];           /* one sentence about the verdict */
};

/* Verifies a whole audit file image. key: the HMAC key (NULL: sha256 lines
 * only). prev: the expected hash before the first line (the last hash of the
 * previous file), NULL if unknown. Returns PG_OK (the verdict is in *res) or
 * PG_ENOMEM. */
PG_WUR int pg_audit_verify(const char *data, size_t len, const unsigned char *key, size_t key_len,
			   const unsigned char *prev, struct pg_audit_verify_result *res);

/* Parses 64 hex digits (either case) into h. PG_EINVAL otherwise. */
PG_WUR int pg_audit_unhex(const char *s, size_t len, unsigned char h[PG_AUDIT_HASH_LEN]);

#endif
