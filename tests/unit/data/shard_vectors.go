// Prints test vectors for tests/unit/shard_test.c from Go itself.
// The function below transcribes Goverse's cluster/sharding GetShardID.
// Run: GOCACHE=$(mktemp -d) HOME=$(mktemp -d) go run tests/unit/data/shard_vectors.go
package main

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

func GetShardID(objectID string, numShards int) int {
	if strings.HasPrefix(objectID, "shard#") {
		slashIdx := strings.Index(objectID, "/")
		if slashIdx > 6 {
			shardIDStr := objectID[6:slashIdx]
			if shardID, err := strconv.Atoi(shardIDStr); err == nil {
				if shardID >= 0 && shardID < numShards {
					return shardID
				}
			}
		}
	}
	hasher := fnv.New32a()
	hasher.Write([]byte(objectID))
	hashValue := hasher.Sum32()
	return int(hashValue) % numShards
}

func main() {
	ids := []string{
		"", "a", "foobar", "Counter-1", "object-123", "shard#5/x", "shard#+5/x",
		"shard#-1/x", "shard#8192/x", "shard#8191/x", "shard#0/x", "shard#/x", "shard#5",
		"shard#05/x", "shard# 5/x", "shard#5a/x", "shard#99999999999999999999/x",
		"shard#-0/x", "shard#5/y/z", "xshard#5/x", "Shard#5/x", "shard#+/x", "shard#-/x",
		"héllo-wörld", "日本語オブジェクト", "emoji-\U0001F600", "shard#5\x00/x",
	}
	// Long ids are rebuilt in C (same construction), so only their results print here.
	long1 := strings.Repeat("a", 1000)
	long2 := strings.Repeat("object-", 300) + "end"
	for _, n := range []int{8192, 1, 7, 64} {
		for _, id := range ids {
			fmt.Printf("\t{%q, %d, %d},\n", id, n, GetShardID(id, n))
		}
	}
	for _, n := range []int{8192, 1, 7, 64} {
		fmt.Printf("\t{LONG_A1000, %d, %d},\n", n, GetShardID(long1, n))
		fmt.Printf("\t{LONG_OBJECT300, %d, %d},\n", n, GetShardID(long2, n))
	}
	h := fnv.New32a()
	h.Write([]byte("foobar"))
	fmt.Printf("// fnv1a32(\"foobar\") = 0x%08x\n", h.Sum32())
}
