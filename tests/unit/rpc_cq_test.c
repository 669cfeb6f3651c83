/* The gRPC server core (src/rpc/cq.c) driven by a real gRPC client on
 * loopback: the handler sees the exact message, replies carry body, status,
 * sentence and trailer, unread methods get no message, the size limit holds,
 * and stop bounds a handler still running. */
#define _GNU_SOURCE /* pthread_getname_np */
#include "src/rpc/cq.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/status.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/test.h"

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static int seen_calls, seen_null_msg;
static size_t seen_len;
static char seen_thread[16];

static bool wants(void *arg, const char *m, size_t ml)
{
	(void)arg;
	return !(ml == 7 && memcmp(m, "/t/Skip", 7) == 0);
}

/* /t/Echo: body back; /t/Fail: NOT_FOUND with a sentence and a trailer;
 * /t/Slow: sleeps 5 s (stop must not wait for it beyond the grace). */
static void handler(void *arg, struct pg_cq_call *call, const char *m, size_t ml, const uint8_t *msg,
		    size_t len, struct pg_cq_reply *r)
{
	char peer[128];

	(void)arg;
	pg_cq_call_peer(call, peer, sizeof(peer));
	pthread_mutex_lock(&seen_mu);
	seen_calls++;
	seen_null_msg += msg == NULL;
	seen_len = len;
	pthread_getname_np(pthread_self(), seen_thread, sizeof(seen_thread));
	pthread_mutex_unlock(&seen_mu);
	if (strncmp(peer, "ipv4:127.0.0.1:", 15) != 0) {
		r->code = GRPC_STATUS_INTERNAL;
		snprintf(r->message, sizeof(r->message), "peer %s", peer);
		return;
	}
	if (ml == 7 && memcmp(m, "/t/Echo", 7) == 0) {
		r->body = malloc(len ? len : 1);
		if (len)
			memcpy(r->body, msg, len);
		r->len = len;
		r->code = GRPC_STATUS_OK;
	} else if (ml == 7 && memcmp(m, "/t/Slow", 7) == 0) {
		sleep(5);
		r->code = GRPC_STATUS_OK;
	} else {
		r->code = GRPC_STATUS_NOT_FOUND;
		snprintf(r->message, sizeof(r->message), "no such thing");
		r->trailer_key = "pprofgate-component";
		r->trailer_value = "test";
	}
}

struct result {
	grpc_status_code status;
	char details[128], trailer[64];
	size_t len;
	int body_ok;
};

/* One unary call of `len` bytes (byte i is i % 251). */
static void call(int port, const char *method, size_t len, struct result *res)
{
	char target[64];
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch;
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_call *gc;
	grpc_metadata_array md_init, md_trail;
	grpc_byte_buffer *send, *recv = NULL;
	grpc_slice details = grpc_empty_slice(), body;
	grpc_op ops[6];
	uint8_t *req = malloc(len ? len : 1);
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(20, GPR_TIMESPAN));

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < len; i++)
		req[i] = (uint8_t)(i % 251);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	ch = grpc_channel_create(target, creds, NULL);
	gc = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, grpc_slice_from_static_string(method),
				      NULL, deadline, NULL);
	grpc_metadata_array_init(&md_init);
	grpc_metadata_array_init(&md_trail);
	body = grpc_slice_from_copied_buffer((const char *)req, len);
	send = grpc_raw_byte_buffer_create(&body, 1);
	grpc_slice_unref(body);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &md_init;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &md_trail;
	ops[5].data.recv_status_on_client.status = &res->status;
	ops[5].data.recv_status_on_client.status_details = &details;
	CHECK_INT(grpc_call_start_batch(gc, ops, 6, gc, NULL), GRPC_CALL_OK);
	CHECK_INT(grpc_completion_queue_pluck(cq, gc, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type,
		  GRPC_OP_COMPLETE);
	snprintf(res->details, sizeof(res->details), "%.*s", (int)GRPC_SLICE_LENGTH(details),
		 (const char *)GRPC_SLICE_START_PTR(details));
	for (size_t i = 0; i < md_trail.count; i++)
		if (grpc_slice_str_cmp(md_trail.metadata[i].key, "pprofgate-component") == 0)
			snprintf(res->trailer, sizeof(res->trailer), "%.*s",
				 (int)GRPC_SLICE_LENGTH(md_trail.metadata[i].value),
				 (const char *)GRPC_SLICE_START_PTR(md_trail.metadata[i].value));
	if (recv) {
		grpc_byte_buffer_reader rd;

		if (grpc_byte_buffer_reader_init(&rd, recv)) {
			grpc_slice s = grpc_byte_buffer_reader_readall(&rd);

			res->len = GRPC_SLICE_LENGTH(s);
			res->body_ok = res->len == len && (len == 0 || memcmp(GRPC_SLICE_START_PTR(s), req, len) == 0);
			grpc_slice_unref(s);
			grpc_byte_buffer_reader_destroy(&rd);
		}
		grpc_byte_buffer_destroy(recv);
	}
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&md_init);
	grpc_metadata_array_destroy(&md_trail);
	grpc_byte_buffer_destroy(send);
	grpc_call_unref(gc);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_channel_destroy(ch);
	grpc_channel_credentials_release(creds);
	free(req);
}

static struct pg_cq *start(void)
{
	struct pg_cq_opts o = {.name = "t", .listen = "127.0.0.1:0", .threads = 2, .slots = 2,
			       .handler = handler, .wants_message = wants};
	struct pg_cq *s = NULL;

	CHECK_INT(pg_cq_start(&o, &s), PG_OK);
	CHECK(s != NULL && pg_cq_port(s) > 0);
	return s;
}

static void test_calls(void)
{
	struct pg_cq *s = start();
	struct result r;

	/* More calls than slots: slots are re-posted. */
	for (int i = 0; i < 6; i++) {
		call(pg_cq_port(s), "/t/Echo", 1000 + (size_t)i, &r);
		CHECK_INT(r.status, GRPC_STATUS_OK);
		CHECK(r.body_ok);
	}
	CHECK_STR(seen_thread, "t-cq");
	call(pg_cq_port(s), "/t/Echo", 0, &r);
	CHECK_INT(r.status, GRPC_STATUS_OK);
	CHECK_INT(r.len, 0);
	CHECK_INT(seen_null_msg, 0); /* an empty message is not a missing one */

	call(pg_cq_port(s), "/t/Fail", 3, &r);
	CHECK_INT(r.status, GRPC_STATUS_NOT_FOUND);
	CHECK_STR(r.details, "no such thing");
	CHECK_STR(r.trailer, "test");

	call(pg_cq_port(s), "/t/Skip", 3, &r);
	CHECK_INT(r.status, GRPC_STATUS_NOT_FOUND);
	CHECK_INT(seen_null_msg, 1);

	/* Above the limit: gRPC refuses it before the handler runs. */
	pthread_mutex_lock(&seen_mu);
	seen_calls = 0;
	pthread_mutex_unlock(&seen_mu);
	call(pg_cq_port(s), "/t/Echo", PG_CQ_MAX_MESSAGE + 1, &r);
	CHECK_INT(r.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
	CHECK_INT(seen_calls, 0);
	call(pg_cq_port(s), "/t/Echo", PG_CQ_MAX_MESSAGE - 64, &r);
	CHECK_INT(r.status, GRPC_STATUS_OK);
	CHECK(r.body_ok);
	pg_cq_stop(&s);
	CHECK(s == NULL);
}

static void *slow_client(void *arg)
{
	struct result r;

	call(*(int *)arg, "/t/Slow", 1, &r);
	return NULL;
}

/* A handler still running at stop: stop returns once it ends or the grace
 * runs out, never hangs. */
static void test_stop_in_flight(void)
{
	struct pg_cq *s = start();
	struct timespec t0, t1;
	pthread_t th;
	int port = pg_cq_port(s);

	CHECK_INT(pthread_create(&th, NULL, slow_client, &port), 0);
	usleep(500 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pg_cq_stop(&s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(th, NULL);
	CHECK(s == NULL);
	CHECK((t1.tv_sec - t0.tv_sec) <= 6);
}

static void test_start_errors(void)
{
	struct pg_cq_opts o = {.name = "t", .listen = "127.0.0.1:0", .handler = handler};
	struct pg_cq *a = start(), *b = NULL;
	char addr[64];

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", pg_cq_port(a));
	o.listen = addr;
	CHECK_INT(pg_cq_start(&o, &b), PG_ENET);
	CHECK(b == NULL);
	CHECK_CONTAINS(pg_errmsg(), addr);
	o.listen = "";
	CHECK_INT(pg_cq_start(&o, &b), PG_EINVAL);
	o.listen = "127.0.0.1:0";
	o.threads = PG_CQ_MAX_THREADS + 1;
	CHECK_INT(pg_cq_start(&o, &b), PG_EINVAL);
	o.threads = 1;
	o.cert_pem = "x"; /* TLS needs all three */
	CHECK_INT(pg_cq_start(&o, &b), PG_EINVAL);
	o.key_pem = "not a key";
	o.client_ca_pem = "not a CA";
	CHECK(pg_cq_start(&o, &b) != PG_OK);
	CHECK(b == NULL);
	pg_cq_stop(&a);
	pg_cq_stop(&a);
	pg_cq_stop(NULL);
}

int main(void)
{
	grpc_init();
	RUN(test_calls);
	RUN(test_start_errors);
	RUN(test_stop_in_flight);
	grpc_shutdown();
	TEST_END();
}
