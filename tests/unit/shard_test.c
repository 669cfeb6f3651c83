/* Tests for Goverse's shard rule. The vectors were produced by Go itself:
 *   GOCACHE=$(mktemp -d) HOME=$(mktemp -d) GO111MODULE=off \
 *     go run tests/unit/data/shard_vectors.go
 * which runs a transcription of Goverse's sharding.GetShardID (Go 1.19). */
#include <stdlib.h>
#include <string.h>

#include "src/node/shard.h"
#include "tests/unit/test.h"

struct vec {
	const char *id;
	size_t len;
	unsigned shards, want;
};

#define V(s, n, w) {s, sizeof(s) - 1, n, w}

static const struct vec vectors[] = {
	V("", 8192, 7621),
	V("a", 8192, 2348),
	V("foobar", 8192, 6504),
	V("Counter-1", 8192, 257),
	V("object-123", 8192, 3531),
	V("shard#5/x", 8192, 5),
	V("shard#+5/x", 8192, 5),
	V("shard#-1/x", 8192, 2485),
	V("shard#8192/x", 8192, 7067),
	V("shard#8191/x", 8192, 8191),
	V("shard#0/x", 8192, 0),
	V("shard#/x", 8192, 6455),
	V("shard#5", 8192, 4215),
	V("shard#05/x", 8192, 5),
	V("shard# 5/x", 8192, 4160),
	V("shard#5a/x", 8192, 2589),
	V("shard#99999999999999999999/x", 8192, 6315),
	V("shard#-0/x", 8192, 0),
	V("shard#5/y/z", 8192, 5),
	V("xshard#5/x", 8192, 2542),
	V("Shard#5/x", 8192, 6000),
	V("shard#+/x", 8192, 5118),
	V("shard#-/x", 8192, 200),
	V("héllo-wörld", 8192, 1861),
	V("日本語オブジェクト", 8192, 3355),
	V("emoji-😀", 8192, 7325),
	V("shard#5\x00/x", 8192, 7362),
	V("", 1, 0),
	V("a", 1, 0),
	V("foobar", 1, 0),
	V("Counter-1", 1, 0),
	V("object-123", 1, 0),
	V("shard#5/x", 1, 0),
	V("shard#+5/x", 1, 0),
	V("shard#-1/x", 1, 0),
	V("shard#8192/x", 1, 0),
	V("shard#8191/x", 1, 0),
	V("shard#0/x", 1, 0),
	V("shard#/x", 1, 0),
	V("shard#5", 1, 0),
	V("shard#05/x", 1, 0),
	V("shard# 5/x", 1, 0),
	V("shard#5a/x", 1, 0),
	V("shard#99999999999999999999/x", 1, 0),
	V("shard#-0/x", 1, 0),
	V("shard#5/y/z", 1, 0),
	V("xshard#5/x", 1, 0),
	V("Shard#5/x", 1, 0),
	V("shard#+/x", 1, 0),
	V("shard#-/x", 1, 0),
	V("héllo-wörld", 1, 0),
	V("日本語オブジェクト", 1, 0),
	V("emoji-😀", 1, 0),
	V("shard#5\x00/x", 1, 0),
	V("", 7, 2),
	V("a", 7, 5),
	V("foobar", 7, 0),
	V("Counter-1", 7, 4),
	V("object-123", 7, 5),
	V("shard#5/x", 7, 5),
	V("shard#+5/x", 7, 5),
	V("shard#-1/x", 7, 4),
	V("shard#8192/x", 7, 2),
	V("shard#8191/x", 7, 0),
	V("shard#0/x", 7, 0),
	V("shard#/x", 7, 6),
	V("shard#5", 7, 6),
	V("shard#05/x", 7, 5),
	V("shard# 5/x", 7, 6),
	V("shard#5a/x", 7, 6),
	V("shard#99999999999999999999/x", 7, 4),
	V("shard#-0/x", 7, 0),
	V("shard#5/y/z", 7, 5),
	V("xshard#5/x", 7, 6),
	V("Shard#5/x", 7, 6),
	V("shard#+/x", 7, 0),
	V("shard#-/x", 7, 1),
	V("héllo-wörld", 7, 3),
	V("日本語オブジェクト", 7, 2),
	V("emoji-😀", 7, 5),
	V("shard#5\x00/x", 7, 3),
	V("", 64, 5),
	V("a", 64, 44),
	V("foobar", 64, 40),
	V("Counter-1", 64, 1),
	V("object-123", 64, 11),
	V("shard#5/x", 64, 5),
	V("shard#+5/x", 64, 5),
	V("shard#-1/x", 64, 53),
	V("shard#8192/x", 64, 27),
	V("shard#8191/x", 64, 26),
	V("shard#0/x", 64, 0),
	V("shard#/x", 64, 55),
	V("shard#5", 64, 55),
	V("shard#05/x", 64, 5),
	V("shard# 5/x", 64, 0),
	V("shard#5a/x", 64, 29),
	V("shard#99999999999999999999/x", 64, 43),
	V("shard#-0/x", 64, 0),
	V("shard#5/y/z", 64, 5),
	V("xshard#5/x", 64, 46),
	V("Shard#5/x", 64, 48),
	V("shard#+/x", 64, 62),
	V("shard#-/x", 64, 8),
	V("héllo-wörld", 64, 5),
	V("日本語オブジェクト", 64, 27),
	V("emoji-😀", 64, 29),
	V("shard#5\x00/x", 64, 2),
};

/* Long ids, built here exactly as shard_vectors.go builds them. */
static const struct {
	int which; /* 1: "a" x 1000; 2: "object-" x 300 + "end" */
	unsigned shards, want;
} long_vectors[] = {
	{1, 8192, 1421},
	{2, 8192, 618},
	{1, 1, 0},
	{2, 1, 0},
	{1, 7, 0},
	{2, 7, 0},
	{1, 64, 13},
	{2, 64, 42},
};

static void test_fnv_reference(void)
{
	/* Reference values of FNV-1a 32 (draft-eastlake-fnv, Go's hash/fnv). */
	CHECK_INT(pg_shard_fnv1a32("", 0), 0x811c9dc5u);
	CHECK_INT(pg_shard_fnv1a32("a", 1), 0xe40c292cu);
	CHECK_INT(pg_shard_fnv1a32("foobar", 6), 0xbf9cf968u);
}

static void test_go_vectors(void)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vec *v = &vectors[i];
		unsigned got = pg_shard_of(v->id, v->len, v->shards);

		if (got != v->want)
			fprintf(stderr, "vector %zu (%u shards): got %u want %u\n", i, v->shards, got,
				v->want);
		CHECK_INT(got, v->want);
	}
}

static void test_long_ids(void)
{
	char *a = malloc(1000), *b = malloc(7 * 300 + 3);

	CHECK(a && b);
	if (!a || !b)
		goto out;
	memset(a, 'a', 1000);
	for (int i = 0; i < 300; i++)
		memcpy(b + 7 * i, "object-", 7);
	memcpy(b + 2100, "end", 3);
	for (size_t i = 0; i < sizeof(long_vectors) / sizeof(long_vectors[0]); i++) {
		const char *id = long_vectors[i].which == 1 ? a : b;
		size_t len = long_vectors[i].which == 1 ? 1000 : 2103;

		CHECK_INT(pg_shard_of(id, len, long_vectors[i].shards), long_vectors[i].want);
	}
out:
	free(a);
	free(b);
}

static void test_edges(void)
{
	/* Pinned ids and the hash fallback, stated directly. */
	CHECK_INT(pg_shard_of("shard#5/x", 9, 8192), 5);
	CHECK_INT(pg_shard_of("shard#+5/x", 10, 8192), 5);
	CHECK_INT(pg_shard_of("shard#8191/x", 12, 8192), 8191);
	CHECK(pg_shard_of("shard#8192/x", 12, 8192) == pg_shard_fnv1a32("shard#8192/x", 12) % 8192);
	CHECK(pg_shard_of("shard#-1/x", 10, 8192) == pg_shard_fnv1a32("shard#-1/x", 10) % 8192);
	CHECK(pg_shard_of("shard#/x", 8, 8192) == pg_shard_fnv1a32("shard#/x", 8) % 8192);
	/* Shards 0 is treated as 1: never divides by zero. */
	CHECK_INT(pg_shard_of("x", 1, 0), 0);
	/* A huge number must not overflow into range. */
	CHECK(pg_shard_of("shard#18446744073709551621/x", 28, 8192) ==
	      pg_shard_fnv1a32("shard#18446744073709551621/x", 28) % 8192);
}

int main(void)
{
	RUN(test_fnv_reference);
	RUN(test_go_vectors);
	RUN(test_long_ids);
	RUN(test_edges);
	TEST_END();
}
