/* The gRPC server core; see cq.h.
 *
 * Each thread owns one completion queue and keeps `slots` calls requested on
 * it. A call moves through three steps, each a completion on that queue:
 *   REQUESTED  a call arrived: post another slot, then receive the message
 *              (methods the service answers unread skip to the reply);
 *   RECEIVED   run the handler, then send metadata + message + status in
 *              one batch;
 *   SENT       the call is over: destroy it. */
#include "src/rpc/cq.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/util/log.h"
#include "src/util/thread.h"

#define DEFAULT_SLOTS 8

enum step { REQUESTED, RECEIVED, SENT };

struct worker;

struct pg_cq_call {
	enum step step;
	struct worker *w;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array request_md;
	grpc_byte_buffer *recv, *send;
	int cancelled;
	grpc_slice status_details;
	grpc_metadata trailer; /* static key and value */
};

struct worker {
	struct pg_cq *s;
	grpc_completion_queue *cq;
	pthread_t thread;
	int started;
};

struct pg_cq {
	struct pg_cq_opts o;
	char thread_name[16];
	grpc_server *server;
	struct worker workers[PG_CQ_MAX_THREADS];
	unsigned n_workers;
	int port;
	int grpc_inited;
	/* Workers post new slots and start batches under the read lock. Stop
	 * sets `stopping` under the write lock before destroying the server, so
	 * no slot is posted on a destroyed server, and `queues_down` before
	 * shutting the queues down, so a handler that outlived the grace never
	 * starts a batch on a queue that is shut down (gRPC aborts on that). */
	pthread_rwlock_t slot_lock;
	int stopping, queues_down;
};

static void call_free(struct pg_cq_call *c)
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
	grpc_slice_unref(c->status_details);
	free(c);
}

/* Posts one request slot on w's queue. */
static int post_slot(struct worker *w)
{
	struct pg_cq_call *c = calloc(1, sizeof(*c));

	if (!c)
		return pg_fail(PG_ENOMEM, "%s: out of memory for a call slot", w->s->o.name);
	c->w = w;
	c->step = REQUESTED;
	c->status_details = grpc_empty_slice();
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->request_md);
	if (grpc_server_request_call(w->s->server, &c->call, &c->details, &c->request_md, w->cq, w->cq, c) !=
	    GRPC_CALL_OK) {
		call_free(c);
		return pg_fail(PG_EINTERNAL, "%s: grpc_server_request_call failed", w->s->o.name);
	}
	return PG_OK;
}

/* Starts ops on the call; the call's next completion comes to its queue.
 * Refused once the queues are going down: the caller frees the call. */
static int start_batch(struct pg_cq_call *c, const grpc_op *ops, size_t n)
{
	struct pg_cq *s = c->w->s;
	int rc = PG_EINTERNAL;

	pthread_rwlock_rdlock(&s->slot_lock);
	if (!s->queues_down && grpc_call_start_batch(c->call, ops, n, c, NULL) == GRPC_CALL_OK)
		rc = PG_OK;
	pthread_rwlock_unlock(&s->slot_lock);
	return rc;
}

static int start_receive(struct pg_cq_call *c)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->recv;
	c->step = RECEIVED;
	return start_batch(c, &op, 1);
}

/* Runs the handler on the whole message (gRPC already refused one above
 * PG_CQ_MAX_MESSAGE) and sends its reply. */
static int start_reply(struct pg_cq_call *c)
{
	static const uint8_t empty[1];
	struct pg_cq *s = c->w->s;
	const char *m = (const char *)GRPC_SLICE_START_PTR(c->details.method);
	size_t ml = GRPC_SLICE_LENGTH(c->details.method);
	struct pg_cq_reply r;
	grpc_op ops[4];
	size_t n = 0;

	memset(&r, 0, sizeof(r));
	if (c->recv) {
		grpc_byte_buffer_reader rd;
		grpc_slice all;

		if (!grpc_byte_buffer_reader_init(&rd, c->recv)) {
			r.code = GRPC_STATUS_INTERNAL;
			snprintf(r.message, sizeof(r.message), "unreadable request message");
		} else {
			all = grpc_byte_buffer_reader_readall(&rd);
			grpc_byte_buffer_reader_destroy(&rd);
			s->o.handler(s->o.arg, c, m, ml,
				     GRPC_SLICE_LENGTH(all) ? GRPC_SLICE_START_PTR(all) : empty,
				     GRPC_SLICE_LENGTH(all), &r);
			grpc_slice_unref(all);
		}
	} else {
		s->o.handler(s->o.arg, c, m, ml, NULL, 0, &r);
	}
	memset(ops, 0, sizeof(ops));
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (r.code == GRPC_STATUS_OK) {
		/* The slice takes the body: no copy, gRPC frees it. */
		grpc_slice b = r.len ? grpc_slice_new(r.body, r.len, free) : grpc_empty_slice();

		if (!r.len)
			free(r.body);
		r.body = NULL;
		c->send = grpc_raw_byte_buffer_create(&b, 1);
		grpc_slice_unref(b);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->send;
	}
	free(r.body);
	grpc_slice_unref(c->status_details);
	c->status_details = grpc_slice_from_copied_string(r.message);
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	if (r.trailer_key && r.trailer_value) {
		c->trailer.key = grpc_slice_from_static_string(r.trailer_key);
		c->trailer.value = grpc_slice_from_static_string(r.trailer_value);
		ops[n].data.send_status_from_server.trailing_metadata_count = 1;
		ops[n].data.send_status_from_server.trailing_metadata = &c->trailer;
	}
	ops[n].data.send_status_from_server.status = (grpc_status_code)r.code;
	ops[n++].data.send_status_from_server.status_details =
		r.code == GRPC_STATUS_OK ? NULL : &c->status_details;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	c->step = SENT;
	return start_batch(c, ops, n);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pg_cq *s = w->s;

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		struct pg_cq_call *c = ev.tag;

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
			pthread_rwlock_rdlock(&s->slot_lock);
			if (!s->stopping && post_slot(w) != PG_OK)
				pg_warn(s->o.name, "no new call slot: %s", pg_errmsg());
			pthread_rwlock_unlock(&s->slot_lock);
			if (s->o.wants_message &&
			    !s->o.wants_message(s->o.arg, (const char *)GRPC_SLICE_START_PTR(c->details.method),
						GRPC_SLICE_LENGTH(c->details.method))) {
				if (start_reply(c) != PG_OK)
					call_free(c);
			} else if (start_receive(c) != PG_OK) {
				call_free(c);
			}
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

int pg_cq_port(const struct pg_cq *s)
{
	return s ? s->port : 0;
}

void pg_cq_call_peer(struct pg_cq_call *call, char *out, size_t cap)
{
	char *p = grpc_call_get_peer(call->call);

	snprintf(out, cap, "%s", p ? p : "-");
	gpr_free(p);
}

/* gRPC gives the leaf (x509_pem_cert) apart from the rest of the chain
 * (x509_pem_cert_chain, which on a server holds only what follows the leaf;
 * with OpenSSL it may be empty on a resumed session). */
char *pg_cq_call_peer_chain(struct pg_cq_call *call, size_t max_pem, size_t *len)
{
	grpc_auth_context *ctx = grpc_call_auth_context(call->call);
	const grpc_auth_property *leaf = NULL, *rest = NULL;
	grpc_auth_property_iterator it;
	char *out = NULL;
	size_t ll, rl;

	*len = 0;
	if (!ctx)
		return NULL;
	it = grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_PEM_CERT_PROPERTY_NAME);
	leaf = grpc_auth_property_iterator_next(&it);
	it = grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME);
	rest = grpc_auth_property_iterator_next(&it);
	if (!leaf || leaf->value_length == 0 || leaf->value_length > max_pem)
		goto out;
	ll = leaf->value_length;
	rl = rest && rest->value_length <= max_pem ? rest->value_length : 0;
	/* A chain that starts with the leaf (the client-side shape) adds nothing. */
	if (rl >= ll && memcmp(rest->value, leaf->value, ll) == 0)
		rl = 0;
	out = malloc(ll + rl + 2);
	if (!out)
		goto out;
	memcpy(out, leaf->value, ll);
	out[ll] = '\n';
	if (rl)
		memcpy(out + ll + 1, rest->value, rl);
	*len = ll + 1 + rl;
	out[*len] = '\0';
out:
	grpc_auth_context_release(ctx);
	return out;
}

void pg_cq_stop(struct pg_cq **pp)
{
	struct pg_cq *s;

	if (!pp || !*pp)
		return;
	s = *pp;
	pthread_rwlock_wrlock(&s->slot_lock);
	s->stopping = 1;
	pthread_rwlock_unlock(&s->slot_lock);
	if (s->server && s->port == 0) {
		/* A server never started is destroyed without shutdown. */
		grpc_server_destroy(s->server);
		s->server = NULL;
	}
	if (s->server) {
		grpc_completion_queue *sq = grpc_completion_queue_create_for_pluck(NULL);
		gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
						     gpr_time_from_millis(PG_CQ_STOP_GRACE_MS, GPR_TIMESPAN));

		grpc_server_shutdown_and_notify(s->server, sq, s);
		if (grpc_completion_queue_pluck(sq, s, deadline, NULL).type == GRPC_QUEUE_TIMEOUT) {
			pg_warn(s->o.name, "calls still running after %d ms; cancelling them", PG_CQ_STOP_GRACE_MS);
			grpc_server_cancel_all_calls(s->server);
			grpc_completion_queue_pluck(sq, s, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		}
		grpc_server_destroy(s->server);
		s->server = NULL;
		grpc_completion_queue_shutdown(sq);
		/* A pluck queue is drained with pluck; next() is for next-queues only. */
		while (grpc_completion_queue_pluck(sq, s, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		       GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(sq);
	}
	pthread_rwlock_wrlock(&s->slot_lock);
	s->queues_down = 1;
	for (unsigned i = 0; i < s->n_workers; i++)
		if (s->workers[i].cq)
			grpc_completion_queue_shutdown(s->workers[i].cq);
	pthread_rwlock_unlock(&s->slot_lock);
	for (unsigned i = 0; i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];

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
	pthread_rwlock_destroy(&s->slot_lock);
	if (s->grpc_inited)
		grpc_shutdown();
	free(s);
	*pp = NULL;
}

static grpc_server_credentials *credentials(const struct pg_cq_opts *o)
{
	grpc_ssl_pem_key_cert_pair pair;

	if (!o->cert_pem)
		return grpc_insecure_server_credentials_create();
	pair.private_key = o->key_pem;
	pair.cert_chain = o->cert_pem;
	/* The handshake asks for a client certificate and TLS proves the client
	 * holds its key, but gRPC does not judge it: the service checks the chain
	 * per call, so a bad certificate is refused with a reason and an audit
	 * line instead of a bare handshake failure. */
	return grpc_ssl_server_credentials_create_ex(o->client_ca_pem, &pair, 1,
						     GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY, NULL);
}

int pg_cq_start(const struct pg_cq_opts *o, struct pg_cq **out)
{
	grpc_arg args[3];
	grpc_channel_args chargs = {3, args};
	grpc_server_credentials *creds;
	struct pg_cq *s;
	unsigned slots;
	int rc;

	*out = NULL;
	if (!o->name || !o->handler || !o->listen || !o->listen[0])
		return pg_fail(PG_EINVAL, "%s: no listen address", o->name ? o->name : "grpc");
	if (o->threads > PG_CQ_MAX_THREADS)
		return pg_fail(PG_EINVAL, "%s: threads must be 1..%d, got %u", o->name, PG_CQ_MAX_THREADS,
			       o->threads);
	if (!o->cert_pem != !o->key_pem || !o->cert_pem != !o->client_ca_pem)
		return pg_fail(PG_EINVAL, "%s: TLS needs a certificate, a key and a client CA", o->name);
	s = calloc(1, sizeof(*s));
	if (!s)
		return pg_fail(PG_ENOMEM, "%s: out of memory", o->name);
	if (pthread_rwlock_init(&s->slot_lock, NULL) != 0) {
		free(s);
		return pg_fail(PG_ENOMEM, "%s: cannot create a lock", o->name);
	}
	s->o = *o;
	s->o.cert_pem = s->o.key_pem = s->o.client_ca_pem = NULL; /* used only here */
	snprintf(s->thread_name, sizeof(s->thread_name), "%s-cq", o->name);
	slots = o->slots ? o->slots : DEFAULT_SLOTS;
	grpc_init();
	s->grpc_inited = 1;

	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = (int)PG_CQ_MAX_MESSAGE;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
	args[1].value.integer = (int)PG_CQ_MAX_MESSAGE;
	/* gRPC sets SO_REUSEPORT by default: a second node on the same port would
	 * then share its traffic silently instead of failing to start. */
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = GRPC_ARG_ALLOW_REUSEPORT;
	args[2].value.integer = 0;
	s->server = grpc_server_create(&chargs, NULL);
	s->n_workers = o->threads ? o->threads : 1;
	for (unsigned i = 0; i < s->n_workers; i++) {
		s->workers[i].s = s;
		s->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
		grpc_server_register_completion_queue(s->server, s->workers[i].cq, NULL);
	}
	creds = credentials(o);
	if (!creds) {
		rc = pg_fail(PG_EINVAL, "%s: gRPC refused the TLS certificate, key or CA", o->name);
		goto fail;
	}
	s->port = grpc_server_add_http2_port(s->server, o->listen, creds);
	grpc_server_credentials_release(creds);
	if (s->port == 0) {
		rc = pg_fail(PG_ENET, "%s: cannot listen on %s (address in use, bad address, no permission%s)",
			     o->name, o->listen, o->cert_pem ? ", or bad TLS files" : "");
		goto fail;
	}
	grpc_server_start(s->server);
	for (unsigned i = 0; i < s->n_workers; i++) {
		for (unsigned k = 0; k < slots; k++)
			if ((rc = post_slot(&s->workers[i])) != PG_OK)
				goto fail;
		if (pg_thread_create(&s->workers[i].thread, s->thread_name, worker_main, &s->workers[i]) != PG_OK) {
			rc = pg_fail(PG_EINTERNAL, "%s: cannot start a server thread", o->name);
			goto fail;
		}
		s->workers[i].started = 1;
	}
	*out = s;
	return PG_OK;
fail: {
	/* Keep the detail sentence across the cleanup's own calls. */
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", pg_errmsg());
	pg_cq_stop(&s);
	return pg_fail(rc, "%s", msg);
}
}
