/* The node's object table: Goverse-style distributed objects living on this
 * node, keyed by id, with the built-in object types
 *
 *   Counter  Goverse's samples/counter object: methods Increment (alias Add),
 *            Decrement, Get, Reset; requests counter.IncrementRequest,
 *            DecrementRequest, GetRequest, ResetRequest; every method answers
 *            counter.CounterResponse{name = object id, value}. Values wrap
 *            like Go's int32.
 *   Echo     method Echo answers the request Any unchanged.
 *
 * Payloads are google.protobuf.Any. The type URL is matched on the part after
 * its last '/', as Go's anypb does ("type.googleapis.com/counter.GetRequest").
 *
 * Semantics and error sentences follow Goverse's node/node.go (Node.createObject,
 * CallObject, DeleteObject) and object/object.go (InvokeMethod):
 *  - create of an existing id succeeds when the type matches and fails with
 *    PG_EEXIST ("already exists but with different type") otherwise; only
 *    then is an unknown type refused (PG_EINVAL "unknown object type: T");
 *  - call creates the object first exactly as create does (so the type is
 *    required and must match an existing object's), then runs the method;
 *  - delete requires a non-empty type ("DeleteObject requires a non-empty
 *    type") that matches the object's; deleting a missing object succeeds;
 *  - a call without a request Any is refused, as Goverse's InvokeMethod
 *    refuses a nil request;
 *  - differences from Goverse: ids are bounded (PG_OBJECTS_MAX_ID bytes) and
 *    the types and methods are the fixed built-in set above.
 *
 * Errors: PG_EINVAL (empty or oversized id, unknown type or method, type
 * mismatch, bad payload), PG_EEXIST (create: the id has another type),
 * PG_ENOTFOUND (call: the object was deleted during the call), PG_ENOMEM
 * (the table is full or allocation failed). Every error sets a sentence in
 * pg_errmsg().
 *
 * Thread safety: every function may be called from any thread at once. The
 * table is split in 64 lock stripes (one struct pg_mutex each, so waits show
 * in the mutex profile); calls on objects of different stripes run in
 * parallel, calls within one stripe one after another (a short section). */
#ifndef PG_NODE_OBJECTS_H
#define PG_NODE_OBJECTS_H

#include <stddef.h>
#include <stdint.h>

#include "src/util/err.h"

struct pg_objects;
struct pg_metrics;

/* Longest accepted object id, in bytes. */
#define PG_OBJECTS_MAX_ID 4096
/* The type names, comma separated, for messages and --help. */
#define PG_OBJECTS_TYPES "Counter, Echo"

/* A google.protobuf.Any: an absent one has present == 0. In requests the
 * pointers are borrowed; in replies they are owned (see pg_any_clear). */
struct pg_any {
	int present;
	char *type_url;
	uint8_t *value;
	size_t len;
};

/* One listed object; id is owned by the list, type is a static string. */
struct pg_object_info {
	char *id;
	const char *type;
	int64_t creation_time; /* Unix seconds */
	uint32_t shard;
};

/* max_objects bounds the table (1..100,000,000); shards is the shard count of
 * pg_shard_of (0 means Goverse's 8192). */
PG_WUR int pg_objects_new(size_t max_objects, uint32_t shards, struct pg_objects **out);
void pg_objects_free(struct pg_objects **pp);

/* Keeps goverse_objects_total{node,type,shard} in m up to date: +1 on every
 * create (explicit or automatic), -1 on delete. node_label is copied. Call
 * once, before the table is shared. */
PG_WUR int pg_objects_set_metrics(struct pg_objects *t, struct pg_metrics *m, const char *node_label);

/* Creates an object, or finds it with the same type. *shard_out (may be
 * NULL) receives its shard. */
PG_WUR int pg_objects_create(struct pg_objects *t, const char *type, const char *id,
			     uint32_t *shard_out);

/* Deletes an object; type must be non-empty and match. A missing id is
 * PG_OK. */
PG_WUR int pg_objects_delete(struct pg_objects *t, const char *type, const char *id);

/* Calls method on the object, auto-creating it as described above. On success
 * *resp is filled (free its contents with pg_any_clear); on failure *resp is
 * left empty. *type_out (may be NULL) receives the object's static type name
 * when its method was invoked, else NULL. */
PG_WUR int pg_objects_call(struct pg_objects *t, const char *type, const char *id,
			   const char *method, const struct pg_any *req, struct pg_any *resp,
			   const char **type_out);

/* The number of objects (a snapshot). */
size_t pg_objects_count(struct pg_objects *t);

/* Copies at most max objects' info into a new array (*out, *n). Free with
 * pg_objects_list_free. */
PG_WUR int pg_objects_list(struct pg_objects *t, size_t max, struct pg_object_info **out, size_t *n);
void pg_objects_list_free(struct pg_object_info **pp, size_t n);

/* The static name of a known type ("Counter"), or NULL. */
const char *pg_objects_type_name(const char *type);

/* Frees an owned Any's contents and zeroes it. */
void pg_any_clear(struct pg_any *a);

#endif
