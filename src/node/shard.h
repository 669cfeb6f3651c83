/* Goverse's object-to-shard rule (cluster/sharding/sharding.go, GetShardID),
 * reproduced bit for bit so that a pprofgate node and Goverse nodes agree on
 * where every object lives.
 *
 *   shard = FNV-1a-32(id) mod shards
 *
 * except that an id of the form "shard#N/rest" pins shard N when N parses like
 * Go's strconv.Atoi (optional sign, decimal digits, fits an int) and
 * 0 <= N < shards. */
#ifndef PG_NODE_SHARD_H
#define PG_NODE_SHARD_H

#include <stddef.h>
#include <stdint.h>

/* Goverse's default shard count (sharding.NumShards). */
#define PG_SHARD_DEFAULT_COUNT 8192u

/* FNV-1a 32-bit hash of len bytes (Go's hash/fnv New32a). */
uint32_t pg_shard_fnv1a32(const void *data, size_t len);

/* The shard of the object id (len bytes, may hold any byte). shards must be
 * >= 1; 0 is treated as 1. */
uint32_t pg_shard_of(const char *id, size_t len, uint32_t shards);

#endif
