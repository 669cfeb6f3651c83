/* The goverse.Goverse service as a pure function over bytes: method path +
 * request body in, gRPC status code + message + response body out. No network
 * and no gRPC runtime here, so unit tests and the fuzzer drive it directly;
 * src/rpc/server.c is the transport around it.
 *
 * Ownership: a service owns its object table; replies own their body
 * (pg_rpc_reply_clear). Every function is thread-safe. */
#ifndef PG_RPC_DISPATCH_H
#define PG_RPC_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/util/err.h"

struct pg_metrics;
struct pg_rpc_service;

/* gRPC's largest default receive message, 4 MiB: requests above it are
 * refused and ListObjects replies are truncated to fit it. */
#define PG_RPC_MAX_MESSAGE (4u * 1024u * 1024u)

enum pg_rpc_method {
	PG_RPC_STATUS,
	PG_RPC_LIST_OBJECTS,
	PG_RPC_CREATE_OBJECT,
	PG_RPC_CALL_OBJECT,
	PG_RPC_DELETE_OBJECT,
	PG_RPC_REGISTER_GATE,
	PG_RPC_RELIABLE_CALL_OBJECT,
	/* Not a method of goverse.Goverse (Goverse has only its messages), named
	 * so that a caller gets a sentence instead of "unknown method". */
	PG_RPC_PUSH_MESSAGE_TO_CLIENT,
	PG_RPC_UNKNOWN,
	PG_RPC_N_METHODS
};

struct pg_rpc_service_opts {
	const char *advertise;  /* StatusResponse.advertise_addr; copied */
	const char *node_label; /* the `node` metric label; copied; NULL: advertise */
	uint32_t shards;        /* 0: Goverse's 8192 */
	size_t max_objects;     /* 0: 1,000,000 */
	struct pg_metrics *metrics; /* may be NULL; borrowed, must outlive the service */
};

/* The reply to one call. code is a gRPC status code (grpc/status.h values). */
struct pg_rpc_reply {
	int code;
	char message[512]; /* status message, "" when code is 0 */
	uint8_t *body;     /* serialized response message when code is 0 */
	size_t len;
};

PG_WUR int pg_rpc_service_new(const struct pg_rpc_service_opts *o, struct pg_rpc_service **out);
void pg_rpc_service_free(struct pg_rpc_service **pp);

/* The method of a path such as "/goverse.Goverse/Status" (len bytes). */
enum pg_rpc_method pg_rpc_method_of(const char *path, size_t len);
/* "Status", ... or "unknown". */
const char *pg_rpc_method_name(enum pg_rpc_method m);
/* Whether the method's request message is read (not for PushMessageToClient
 * and unknown methods, which are refused whatever they carry). */
bool pg_rpc_method_reads_message(enum pg_rpc_method m);
/* "OK", "INVALID_ARGUMENT", ... for a gRPC status code. */
const char *pg_rpc_code_name(int code);

/* Serves one call (RegisterGate, a server stream in the proto, is answered
 * with a status and no message). Never fails as a function: every outcome is
 * a status in *out (which the caller clears with pg_rpc_reply_clear). What
 * each method answers, and why: docs/goverse.md. */
void pg_rpc_dispatch(struct pg_rpc_service *svc, enum pg_rpc_method m, const uint8_t *req,
		     size_t len, struct pg_rpc_reply *out);
void pg_rpc_reply_clear(struct pg_rpc_reply *r);

size_t pg_rpc_service_num_objects(struct pg_rpc_service *svc);

#endif
