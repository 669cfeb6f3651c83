/* The gRPC server for goverse.Goverse (gRPC core C API, plaintext HTTP/2).
 *
 * Serves the unary methods of src/rpc/dispatch.h on several completion-queue
 * threads, each keeping many request slots outstanding. Stopping is graceful:
 * in-flight calls finish, for at most ~3 s, then the rest are cancelled.
 *
 * Ownership: pg_rpc_start returns a server that owns its threads, its gRPC
 * server and its object table; pg_rpc_stop releases everything. The metrics
 * registry is borrowed and must outlive the server. */
#ifndef PG_RPC_SERVER_H
#define PG_RPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "src/util/err.h"

struct pg_metrics;
struct pg_rpc;

struct pg_rpc_opts {
	const char *listen;      /* "127.0.0.1:47000"; port 0 picks a free port */
	const char *advertise;   /* StatusResponse.advertise_addr; NULL: listen */
	uint32_t shards;         /* 0: 8192 */
	const char *node_label;  /* metric `node` label; NULL: advertise */
	struct pg_metrics *metrics; /* may be NULL */
	unsigned threads;        /* completion-queue threads, 0: 2; at most 16 */
	size_t max_objects;      /* object table bound, 0: 1,000,000 */
};

/* Binds and starts serving. On failure nothing is left running and
 * pg_errmsg() names the address. */
PG_WUR int pg_rpc_start(const struct pg_rpc_opts *o, struct pg_rpc **out);

/* The bound port (useful with port 0). */
int pg_rpc_port(const struct pg_rpc *r);

/* Objects currently in the table. */
size_t pg_rpc_num_objects(struct pg_rpc *r);

/* Stops gracefully and frees; takes NULL, sets *pp = NULL. */
void pg_rpc_stop(struct pg_rpc **pp);

#endif
