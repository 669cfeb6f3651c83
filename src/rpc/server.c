/* gRPC transport around src/rpc/dispatch.c; see server.h.
 *
 * Each thread owns one completion queue and keeps SLOTS calls requested on
 * it. A call moves through three steps, each a completion on that queue:
 *   REQUESTED  a call arrived: post another slot, then receive the message
 *              (unimplemented methods skip straight to the reply);
 *   RECEIVED   dispatch, then send metadata + message + status in one batch;
 *   SENT       the call is over: destroy it. */
#include "src/rpc/server.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/rpc/dispatch.h"
#include "src/util/log.h"
#include "src/util/thread.h"

#define MAX_THREADS 16
#define SLOTS 64               /* outstanding request_call per thread */
#define STOP_GRACE_MS 3000     /* in-flight calls get this long on stop */

enum step { REQUESTED, RECEIVED, SENT };

struct worker;

struct call {
	enum step step;
	enum pg_rpc_method method;
	struct worker *w;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array request_md;
	grpc_byte_buffer *recv;
	grpc_byte_buffer *send;
	int cancelled;
	struct pg_rpc_reply reply;
	grpc_slice status_details;
};

struct worker {
	struct pg_rpc *r;
	grpc_completion_queue *cq;
	pthread_t thread;
	int started;
};

struct pg_rpc {
	grpc_server *server;
	struct pg_rpc_service *svc;
	struct worker workers[MAX_THREADS];
	unsigned n_workers;
	int port;
	int grpc_inited;
	/* Workers post new slots under the read lock; stop sets `stopping` under
	 * the write lock before destroying the server, so no slot is posted on a
	 * destroyed server. */
	pthread_rwlock_t slot_lock;
	int stopping;
};

static void call_free(struct call *c)
{
	if (!c)
		return;
	if (c->call)
		grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->request_md);
	if (c->recv)
		grpc_byte_buffer_destroy(c->recv);
	if (c->send)
		grpc_byte_buffer_destroy(c->send);
	pg_rpc_reply_clear(&c->reply);
	grpc_slice_unref(c->status_details);
	free(c);
}

/* Posts one request slot on w's queue. */
static int post_slot(struct worker *w)
{
	struct call *c = calloc(1, sizeof(*c));
	grpc_call_error e;

	if (!c)
		return pg_fail(PG_ENOMEM, "out of memory for a call slot");
	c->w = w;
	c->step = REQUESTED;
	c->status_details = grpc_empty_slice();
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->request_md);
	e = grpc_server_request_call(w->r->server, &c->call, &c->details, &c->request_md, w->cq,
				     w->cq, c);
	if (e != GRPC_CALL_OK) {
		call_free(c);
		return pg_fail(PG_EINTERNAL, "grpc_server_request_call failed (%d)", (int)e);
	}
	return PG_OK;
}

static int start_receive(struct call *c)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->recv;
	c->step = RECEIVED;
	return grpc_call_start_batch(c->call, &op, 1, c, NULL) == GRPC_CALL_OK ? PG_OK : PG_EINTERNAL;
}

/* Copies the received message into one contiguous buffer (NULL, 0 when the
 * client sent none). */
static uint8_t *read_message(grpc_byte_buffer *bb, size_t *len)
{
	grpc_byte_buffer_reader rd;
	grpc_slice s;
	uint8_t *p;

	*len = 0;
	if (!bb || !grpc_byte_buffer_reader_init(&rd, bb))
		return NULL;
	s = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	*len = GRPC_SLICE_LENGTH(s);
	p = malloc(*len ? *len : 1);
	if (p && *len)
		memcpy(p, GRPC_SLICE_START_PTR(s), *len);
	grpc_slice_unref(s);
	return p;
}

/* Methods answered UNIMPLEMENTED without reading the request. */
static int unimplemented(enum pg_rpc_method m)
{
	return m == PG_RPC_REGISTER_GATE || m == PG_RPC_TRIGGER_PENDING_CALLS || m == PG_RPC_UNKNOWN;
}

static int start_reply(struct call *c)
{
	struct pg_rpc *r = c->w->r;
	enum pg_rpc_method m = c->method;
	grpc_op ops[4];
	size_t n = 0, len = 0;
	uint8_t *body = NULL;

	if (!unimplemented(m) && !c->recv) {
		/* A unary call without a message: the client half-closed early. */
		memset(&c->reply, 0, sizeof(c->reply));
		c->reply.code = GRPC_STATUS_INVALID_ARGUMENT;
		snprintf(c->reply.message, sizeof(c->reply.message), "request message missing");
	} else {
		body = read_message(c->recv, &len);
		if (c->recv && !body) {
			memset(&c->reply, 0, sizeof(c->reply));
			c->reply.code = GRPC_STATUS_RESOURCE_EXHAUSTED;
			snprintf(c->reply.message, sizeof(c->reply.message), "out of memory");
		} else {
			pg_rpc_dispatch(r->svc, m, body, len, &c->reply);
		}
		free(body);
	}
	memset(ops, 0, sizeof(ops));
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (c->reply.code == GRPC_STATUS_OK) {
		grpc_slice s;

		if (c->reply.len) {
			/* The slice takes the body: no copy, gRPC frees it. */
			s = grpc_slice_new(c->reply.body, c->reply.len, free);
			c->reply.body = NULL;
		} else {
			s = grpc_empty_slice();
		}

		c->send = grpc_raw_byte_buffer_create(&s, 1);
		grpc_slice_unref(s);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->send;
	}
	c->status_details = grpc_slice_from_copied_string(c->reply.message);
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = (grpc_status_code)c->reply.code;
	ops[n++].data.send_status_from_server.status_details =
		c->reply.code == GRPC_STATUS_OK ? NULL : &c->status_details;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	c->step = SENT;
	return grpc_call_start_batch(c->call, ops, n, c, NULL) == GRPC_CALL_OK ? PG_OK : PG_EINTERNAL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		struct call *c = ev.tag;

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE || !c)
			continue;
		if (!ev.success) {
			/* A slot cancelled by shutdown, or a call the client dropped. */
			call_free(c);
			continue;
		}
		switch (c->step) {
		case REQUESTED:
			/* Keep the slot count up; no new slots once stopping. */
			pthread_rwlock_rdlock(&w->r->slot_lock);
			if (!w->r->stopping && post_slot(w) != PG_OK)
				pg_warn("rpc", "no new call slot: %s", pg_errmsg());
			pthread_rwlock_unlock(&w->r->slot_lock);
			c->method = pg_rpc_method_of(
				(const char *)GRPC_SLICE_START_PTR(c->details.method),
				GRPC_SLICE_LENGTH(c->details.method));
			if ((unimplemented(c->method) ? start_reply(c) : start_receive(c)) != PG_OK)
				call_free(c);
			break;
		case RECEIVED:
			if (start_reply(c) != PG_OK)
				call_free(c);
			break;
		case SENT:
			call_free(c);
			break;
		}
	}
	return NULL;
}

int pg_rpc_port(const struct pg_rpc *r)
{
	return r ? r->port : 0;
}

size_t pg_rpc_num_objects(struct pg_rpc *r)
{
	return r && r->svc ? pg_rpc_service_num_objects(r->svc) : 0;
}

void pg_rpc_stop(struct pg_rpc **pp)
{
	struct pg_rpc *r;

	if (!pp || !*pp)
		return;
	r = *pp;
	pthread_rwlock_wrlock(&r->slot_lock);
	r->stopping = 1;
	pthread_rwlock_unlock(&r->slot_lock);
	if (r->server) {
		grpc_completion_queue *sq = grpc_completion_queue_create_for_pluck(NULL);
		gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
						     gpr_time_from_millis(STOP_GRACE_MS, GPR_TIMESPAN));
		grpc_event ev;

		grpc_server_shutdown_and_notify(r->server, sq, r);
		ev = grpc_completion_queue_pluck(sq, r, deadline, NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT) {
			pg_warn("rpc", "calls still running after %d ms; cancelling them", STOP_GRACE_MS);
			grpc_server_cancel_all_calls(r->server);
			grpc_completion_queue_pluck(sq, r, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		}
		grpc_server_destroy(r->server);
		r->server = NULL;
		grpc_completion_queue_shutdown(sq);
		/* A pluck queue is drained with pluck; next() is for next-queues only. */
		while (grpc_completion_queue_pluck(sq, r, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		       GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(sq);
	}
	for (unsigned i = 0; i < r->n_workers; i++)
		if (r->workers[i].cq)
			grpc_completion_queue_shutdown(r->workers[i].cq);
	for (unsigned i = 0; i < r->n_workers; i++) {
		struct worker *w = &r->workers[i];

		if (w->started) {
			pthread_join(w->thread, NULL);
		} else if (w->cq) {
			/* Start failed before this queue had a thread: drain it here. */
			grpc_event ev;

			while ((ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
							       NULL)).type != GRPC_QUEUE_SHUTDOWN)
				if (ev.type == GRPC_OP_COMPLETE)
					call_free(ev.tag);
		}
		if (w->cq)
			grpc_completion_queue_destroy(w->cq);
	}
	pg_rpc_service_free(&r->svc);
	pthread_rwlock_destroy(&r->slot_lock);
	if (r->grpc_inited)
		grpc_shutdown();
	free(r);
	*pp = NULL;
}

int pg_rpc_start(const struct pg_rpc_opts *o, struct pg_rpc **out)
{
	struct pg_rpc_service_opts so = {0};
	grpc_arg args[3];
	grpc_channel_args chargs = {3, args};
	grpc_server_credentials *creds;
	struct pg_rpc *r;
	int rc;

	*out = NULL;
	if (!o->listen || !o->listen[0])
		return pg_fail(PG_EINVAL, "rpc: no listen address");
	if (o->threads > MAX_THREADS)
		return pg_fail(PG_EINVAL, "rpc: threads must be 1..%d, got %u", MAX_THREADS, o->threads);
	r = calloc(1, sizeof(*r));
	if (!r)
		return pg_fail(PG_ENOMEM, "rpc: out of memory");
	if (pthread_rwlock_init(&r->slot_lock, NULL) != 0) {
		free(r);
		return pg_fail(PG_ENOMEM, "rpc: cannot create a lock");
	}
	so.advertise = o->advertise ? o->advertise : o->listen;
	so.node_label = o->node_label;
	so.shards = o->shards;
	so.max_objects = o->max_objects;
	so.metrics = o->metrics;
	rc = pg_rpc_service_new(&so, &r->svc);
	if (rc != PG_OK)
		goto fail;
	grpc_init();
	r->grpc_inited = 1;

	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = (int)PG_RPC_MAX_MESSAGE;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
	args[1].value.integer = (int)PG_RPC_MAX_MESSAGE;
	/* gRPC sets SO_REUSEPORT by default: a second node on the same port would
	 * then share its traffic silently instead of failing to start. */
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = GRPC_ARG_ALLOW_REUSEPORT;
	args[2].value.integer = 0;
	r->server = grpc_server_create(&chargs, NULL);
	r->n_workers = o->threads ? o->threads : 2;
	for (unsigned i = 0; i < r->n_workers; i++) {
		r->workers[i].r = r;
		r->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
		grpc_server_register_completion_queue(r->server, r->workers[i].cq, NULL);
	}
	creds = grpc_insecure_server_credentials_create();
	r->port = grpc_server_add_http2_port(r->server, o->listen, creds);
	grpc_server_credentials_release(creds);
	if (r->port == 0) {
		rc = pg_fail(PG_ENET, "rpc: cannot listen on %s (address in use, bad address or "
				      "no permission)", o->listen);
		goto fail;
	}
	grpc_server_start(r->server);
	for (unsigned i = 0; i < r->n_workers; i++) {
		for (int k = 0; k < SLOTS; k++)
			if ((rc = post_slot(&r->workers[i])) != PG_OK)
				goto fail;
		if (pg_thread_create(&r->workers[i].thread, "rpc-cq", worker_main, &r->workers[i]) != PG_OK) {
			rc = pg_fail(PG_EINTERNAL, "rpc: cannot start a server thread");
			goto fail;
		}
		r->workers[i].started = 1;
	}
	pg_info("rpc", "serving goverse.Goverse on %s (port %d, %u threads)", o->listen, r->port,
		r->n_workers);
	*out = r;
	return PG_OK;
fail:
	{
		/* Keep the detail sentence across the cleanup's own calls. */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", pg_errmsg());
		if (r->server && r->port == 0) {
			/* A server never started is destroyed without shutdown. */
			grpc_server_destroy(r->server);
			r->server = NULL;
		}
		pg_rpc_stop(&r);
		return pg_fail(rc, "%s", msg);
	}
}
