/* The goverse.Goverse service on the gRPC server core (src/rpc/cq.h): the
 * core reads each call's message and this file hands it to
 * src/rpc/dispatch.c. */
#include "src/rpc/server.h"

#include <grpc/status.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/rpc/cq.h"
#include "src/rpc/dispatch.h"
#include "src/util/log.h"

#define SLOTS 64 /* outstanding request_call per thread */

_Static_assert(PG_RPC_MAX_MESSAGE == PG_CQ_MAX_MESSAGE, "dispatch and transport share one message limit");

struct pg_rpc {
	struct pg_cq *cq;
	struct pg_rpc_service *svc;
};

static bool wants_message(void *arg, const char *method, size_t len)
{
	(void)arg;
	return pg_rpc_method_reads_message(pg_rpc_method_of(method, len));
}

static void handle(void *arg, struct pg_cq_call *call, const char *method, size_t method_len,
		   const uint8_t *msg, size_t len, struct pg_cq_reply *r)
{
	struct pg_rpc *rpc = arg;
	enum pg_rpc_method m = pg_rpc_method_of(method, method_len);
	struct pg_rpc_reply rep;

	(void)call;
	memset(&rep, 0, sizeof(rep));
	if (pg_rpc_method_reads_message(m) && !msg) {
		/* A unary call without a message: the client half-closed early. */
		r->code = GRPC_STATUS_INVALID_ARGUMENT;
		snprintf(r->message, sizeof(r->message), "request message missing");
		return;
	}
	pg_rpc_dispatch(rpc->svc, m, msg, len, &rep);
	r->code = rep.code;
	snprintf(r->message, sizeof(r->message), "%s", rep.message);
	r->body = rep.body; /* the core takes it */
	r->len = rep.len;
	rep.body = NULL;
	pg_rpc_reply_clear(&rep);
}

int pg_rpc_port(const struct pg_rpc *r)
{
	return r ? pg_cq_port(r->cq) : 0;
}

size_t pg_rpc_num_objects(struct pg_rpc *r)
{
	return r && r->svc ? pg_rpc_service_num_objects(r->svc) : 0;
}

void pg_rpc_stop(struct pg_rpc **pp)
{
	if (!pp || !*pp)
		return;
	pg_cq_stop(&(*pp)->cq);
	pg_rpc_service_free(&(*pp)->svc);
	free(*pp);
	*pp = NULL;
}

int pg_rpc_start(const struct pg_rpc_opts *o, struct pg_rpc **out)
{
	struct pg_rpc_service_opts so = {0};
	struct pg_cq_opts co = {0};
	struct pg_rpc *r;
	int rc;

	*out = NULL;
	if (!o->listen || !o->listen[0])
		return pg_fail(PG_EINVAL, "rpc: no listen address");
	r = calloc(1, sizeof(*r));
	if (!r)
		return pg_fail(PG_ENOMEM, "rpc: out of memory");
	so.advertise = o->advertise ? o->advertise : o->listen;
	so.node_label = o->node_label;
	so.shards = o->shards;
	so.max_objects = o->max_objects;
	so.metrics = o->metrics;
	if ((rc = pg_rpc_service_new(&so, &r->svc)) != PG_OK)
		goto fail;
	co.name = "rpc";
	co.listen = o->listen;
	co.threads = o->threads ? o->threads : 2;
	co.slots = SLOTS;
	co.handler = handle;
	co.wants_message = wants_message;
	co.arg = r;
	if ((rc = pg_cq_start(&co, &r->cq)) != PG_OK)
		goto fail;
	pg_info("rpc", "serving goverse.Goverse on %s (port %d, %u threads)", o->listen, pg_cq_port(r->cq),
		co.threads);
	*out = r;
	return PG_OK;
fail:
	pg_rpc_service_free(&r->svc);
	free(r);
	return rc;
}
