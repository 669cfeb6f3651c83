/* The one gRPC server core (gRPC core C API) under every gRPC service of the
 * node: the Goverse service (src/rpc/server.c, plaintext) and the admin API
 * (src/admin/api.c, TLS).
 *
 * It binds one listener (plaintext, or TLS that requests a client
 * certificate without judging it: the service checks the peer chain per
 * call), runs N completion-queue threads named "<name>-cq" that each keep
 * many request slots outstanding, reads each unary call's whole message
 * (bounded by PG_CQ_MAX_MESSAGE, gRPC refuses larger ones with
 * RESOURCE_EXHAUSTED) and hands it to the service's handler, then sends the
 * handler's reply: message, status, status sentence and at most one trailing
 * metadata entry. Stopping is graceful: calls in flight get PG_CQ_STOP_GRACE_MS,
 * then the rest are cancelled; a handler still running after that is waited
 * for (handlers bound their own work) and its reply dropped.
 *
 * Ownership: pg_cq_start returns a server that owns its threads, gRPC server
 * and queues (and one grpc_init reference); the handler's arg is borrowed and
 * must outlive pg_cq_stop. PEM texts in the options are copied by gRPC. */
#ifndef PG_RPC_CQ_H
#define PG_RPC_CQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/util/err.h"

/* gRPC's default largest receive message, 4 MiB, for requests and replies of
 * every service. */
#define PG_CQ_MAX_MESSAGE (4u * 1024u * 1024u)
/* How long calls in flight may run once stop begins. */
#define PG_CQ_STOP_GRACE_MS 3000
#define PG_CQ_MAX_THREADS 16

struct pg_cq;
struct pg_cq_call;

/* What a handler answers. code is a gRPC status code (grpc/status.h). */
struct pg_cq_reply {
	int code;
	char message[512];  /* status sentence, sent when code is not OK */
	uint8_t *body;      /* malloc'd response message when code is OK; the core takes it */
	size_t len;
	/* One trailing metadata entry (static strings), or NULL. */
	const char *trailer_key, *trailer_value;
};

/* One call: `method` is the path (method_len bytes, not NUL-terminated);
 * `msg` is the whole request message, or NULL when the client sent none or
 * wants_message said no. Runs on a completion-queue thread. */
typedef void pg_cq_handler_fn(void *arg, struct pg_cq_call *call, const char *method, size_t method_len,
			      const uint8_t *msg, size_t len, struct pg_cq_reply *r);

struct pg_cq_opts {
	const char *name;       /* log module and thread name prefix, static ("rpc", "admin") */
	const char *listen;     /* "127.0.0.1:47000"; port 0 picks a free port */
	unsigned threads;       /* 0: 1; at most PG_CQ_MAX_THREADS */
	unsigned slots;         /* request slots per thread, 0: 8 */
	/* TLS: all three set serves TLS, none plaintext. The client certificate
	 * is requested but not verified by gRPC (see pg_cq_call_peer_chain). */
	const char *cert_pem, *key_pem, *client_ca_pem;
	pg_cq_handler_fn *handler;
	/* Methods answered without reading the request (e.g. UNIMPLEMENTED
	 * ones); NULL: every call's message is read. */
	bool (*wants_message)(void *arg, const char *method, size_t method_len);
	void *arg;
};

/* Binds and starts serving. On failure nothing is left running and
 * pg_errmsg() names the address. */
PG_WUR int pg_cq_start(const struct pg_cq_opts *o, struct pg_cq **out);

/* The bound port (useful with port 0). */
int pg_cq_port(const struct pg_cq *s);

/* Stops gracefully (see above) and frees; takes NULL, sets *pp = NULL. */
void pg_cq_stop(struct pg_cq **pp);

/* The peer address as gRPC spells it ("ipv4:127.0.0.1:5555") into out;
 * "-" when unknown. */
void pg_cq_call_peer(struct pg_cq_call *call, char *out, size_t cap);

/* The peer's TLS certificate chain as PEM, leaf first, from the call's auth
 * context; malloc'd (*len bytes, NUL-terminated), NULL when no certificate
 * came. Each PEM part is bounded to max_pem bytes. */
char *pg_cq_call_peer_chain(struct pg_cq_call *call, size_t max_pem, size_t *len);

#endif
