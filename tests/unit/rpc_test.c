/* Tests for the goverse.Goverse dispatch function: each method, malformed
 * input, unimplemented methods, the size cap and the metrics it keeps. */
#include <grpc/status.h>
#include <stdlib.h>
#include <string.h>

#include "proto/counter.pb-c.h"
#include "proto/goverse.pb-c.h"
#include "src/metrics/metrics.h"
#include "src/node/shard.h"
#include "src/rpc/dispatch.h"
#include "src/rpc/server.h"
#include "tests/unit/test.h"

static struct pg_rpc_service *svc;
static struct pg_metrics *metrics;

/* Packs m and dispatches it to method; the caller clears *out. */
static int call(enum pg_rpc_method method, const ProtobufCMessage *m, struct pg_rpc_reply *out)
{
	uint8_t buf[4096];
	size_t n = m ? protobuf_c_message_pack(m, buf) : 0;

	pg_rpc_dispatch(svc, method, buf, n, out);
	return out->code;
}

/* The status message of the last create(). */
static char create_msg[512];

static int create(const char *type, const char *id)
{
	Goverse__CreateObjectRequest q = GOVERSE__CREATE_OBJECT_REQUEST__INIT;
	struct pg_rpc_reply r;
	int code;

	q.type = (char *)type;
	q.id = (char *)id;
	code = call(PG_RPC_CREATE_OBJECT, &q.base, &r);
	snprintf(create_msg, sizeof(create_msg), "%s", r.message);
	if (code == GRPC_STATUS_OK) {
		Goverse__CreateObjectResponse *p =
			goverse__create_object_response__unpack(NULL, r.len, r.body);

		CHECK(p && strcmp(p->id, id) == 0);
		if (p)
			goverse__create_object_response__free_unpacked(p, NULL);
	}
	pg_rpc_reply_clear(&r);
	return code;
}

/* CallObject on a Counter with an IncrementRequest; *value gets the result. */
static int increment(const char *type, const char *id, const char *method, int32_t amount,
		     int32_t *value, char *msg, size_t msg_len)
{
	Goverse__CallObjectRequest q = GOVERSE__CALL_OBJECT_REQUEST__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	Counter__IncrementRequest inc = COUNTER__INCREMENT_REQUEST__INIT;
	uint8_t ibuf[16];
	struct pg_rpc_reply r;
	int code;

	inc.amount = amount;
	any.type_url = "type.googleapis.com/counter.IncrementRequest";
	any.value.data = ibuf;
	any.value.len = counter__increment_request__pack(&inc, ibuf);
	q.id = (char *)id;
	q.type = (char *)type;
	q.method = (char *)method;
	q.request = &any;
	code = call(PG_RPC_CALL_OBJECT, &q.base, &r);
	if (msg)
		snprintf(msg, msg_len, "%s", r.message);
	if (code == GRPC_STATUS_OK) {
		Goverse__CallObjectResponse *p = goverse__call_object_response__unpack(NULL, r.len, r.body);
		Counter__CounterResponse *cr = NULL;

		CHECK(p && p->response);
		if (p && p->response) {
			CHECK_STR(p->response->type_url, "type.googleapis.com/counter.CounterResponse");
			cr = counter__counter_response__unpack(NULL, p->response->value.len,
							       p->response->value.data);
		}
		CHECK(cr != NULL);
		if (cr) {
			*value = cr->value;
			counter__counter_response__free_unpacked(cr, NULL);
		}
		if (p)
			goverse__call_object_response__free_unpacked(p, NULL);
	}
	pg_rpc_reply_clear(&r);
	return code;
}

static void test_method_of(void)
{
	const char *p = "/goverse.Goverse/CallObject";

	CHECK_INT(pg_rpc_method_of(p, strlen(p)), PG_RPC_CALL_OBJECT);
	CHECK_INT(pg_rpc_method_of("/goverse.Goverse/Status", 23), PG_RPC_STATUS);
	CHECK_INT(pg_rpc_method_of("/goverse.Goverse/RegisterGate", 29), PG_RPC_REGISTER_GATE);
	p = "/goverse.Goverse/ReliableCallObject";
	CHECK_INT(pg_rpc_method_of(p, strlen(p)), PG_RPC_RELIABLE_CALL_OBJECT);
	p = "/goverse.Goverse/PushMessageToClient";
	CHECK_INT(pg_rpc_method_of(p, strlen(p)), PG_RPC_PUSH_MESSAGE_TO_CLIENT);
	CHECK_INT(pg_rpc_method_of("/goverse.Goverse/Statu", 22), PG_RPC_UNKNOWN);
	CHECK_INT(pg_rpc_method_of("/goverse.Goverse/StatusX", 24), PG_RPC_UNKNOWN);
	CHECK_INT(pg_rpc_method_of("/goverse.Goverse/", 17), PG_RPC_UNKNOWN);
	CHECK_INT(pg_rpc_method_of("/other.Svc/Status", 17), PG_RPC_UNKNOWN);
	CHECK_INT(pg_rpc_method_of(NULL, 0), PG_RPC_UNKNOWN);
	/* Length, not NUL, bounds the path (gRPC slices are not terminated). */
	CHECK_INT(pg_rpc_method_of("/goverse.Goverse/Status", 20), PG_RPC_UNKNOWN);
	CHECK_STR(pg_rpc_code_name(GRPC_STATUS_NOT_FOUND), "NOT_FOUND");
	CHECK_STR(pg_rpc_code_name(99), "UNKNOWN");
	CHECK_STR(pg_rpc_method_name(PG_RPC_N_METHODS), "unknown");
}

static void test_status_and_list(void)
{
	struct pg_rpc_reply r;
	Goverse__StatusResponse *s;
	Goverse__ListObjectsResponse *l;

	CHECK_INT(create("Counter", "s1"), GRPC_STATUS_OK);
	CHECK_INT(create("Echo", "shard#2/e"), GRPC_STATUS_OK);
	CHECK_INT(call(PG_RPC_STATUS, NULL, &r), GRPC_STATUS_OK);
	s = goverse__status_response__unpack(NULL, r.len, r.body);
	CHECK(s != NULL);
	if (s) {
		CHECK_STR(s->advertise_addr, "127.0.0.1:47000");
		CHECK_INT(s->num_objects, 2);
		CHECK(s->uptime_seconds >= 0 && s->uptime_seconds < 60);
		goverse__status_response__free_unpacked(s, NULL);
	}
	pg_rpc_reply_clear(&r);
	CHECK_INT(call(PG_RPC_LIST_OBJECTS, NULL, &r), GRPC_STATUS_OK);
	l = goverse__list_objects_response__unpack(NULL, r.len, r.body);
	CHECK(l && l->n_objects == 2);
	if (l) {
		for (size_t i = 0; i < l->n_objects; i++) {
			CHECK(strcmp(l->objects[i]->type, "Counter") == 0 ||
			      strcmp(l->objects[i]->type, "Echo") == 0);
			CHECK(l->objects[i]->creation_time > 1600000000);
		}
		goverse__list_objects_response__free_unpacked(l, NULL);
	}
	pg_rpc_reply_clear(&r);
	CHECK_INT(pg_rpc_service_num_objects(svc), 2);
}

/* DeleteObject{id, type}; *msg (may be NULL) gets the status message. */
static int delete_object(const char *type, const char *id, char *msg, size_t msg_len)
{
	Goverse__DeleteObjectRequest d = GOVERSE__DELETE_OBJECT_REQUEST__INIT;
	struct pg_rpc_reply r;
	int code;

	d.id = (char *)id;
	d.type = (char *)type;
	code = call(PG_RPC_DELETE_OBJECT, &d.base, &r);
	if (msg)
		snprintf(msg, msg_len, "%s", r.message);
	if (code == GRPC_STATUS_OK)
		CHECK_INT(r.len, 0); /* DeleteObjectResponse is empty */
	pg_rpc_reply_clear(&r);
	return code;
}

static void test_create_call_delete(void)
{
	char msg[512];
	int32_t v = 0;

	CHECK_INT(create("Counter", "c1"), GRPC_STATUS_OK);
	CHECK_INT(increment("Counter", "c1", "Increment", 7, &v, NULL, 0), GRPC_STATUS_OK);
	CHECK_INT(v, 7);
	CHECK_INT(increment("Counter", "c1", "Add", -2, &v, NULL, 0), GRPC_STATUS_OK);
	CHECK_INT(v, 5);
	/* Goverse: creating an existing object with its own type is success and
	 * leaves it as it was. */
	CHECK_INT(create("Counter", "c1"), GRPC_STATUS_OK);
	CHECK_INT(increment("Counter", "c1", "Get", 0, &v, msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_CONTAINS(msg, "request type mismatch: expected counter.GetRequest");
	CHECK_INT(increment("Counter", "c1", "Add", 0, &v, NULL, 0), GRPC_STATUS_OK);
	CHECK_INT(v, 5);
	CHECK_INT(delete_object("Counter", "c1", NULL, 0), GRPC_STATUS_OK);
	CHECK_INT(increment("Counter", "c1", "Add", 0, &v, NULL, 0), GRPC_STATUS_OK);
	CHECK_INT(v, 0); /* re-created by the call */
	CHECK_INT(delete_object("Counter", "c1", NULL, 0), GRPC_STATUS_OK);
}

/* Each of Goverse's request rules, with its status and its wording. */
static void test_validation(void)
{
	char msg[512];
	int32_t v = 0;

	/* CreateObject */
	CHECK_INT(create("Counter", ""), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_STR(create_msg, "object ID must be specified in CreateObject request");
	CHECK_INT(create("Nope", "v1"), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_INT(create("", "v1"), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_INT(create("Echo", "v1"), GRPC_STATUS_OK);
	CHECK_INT(create("Counter", "v1"), GRPC_STATUS_ALREADY_EXISTS);
	CHECK_STR(create_msg, "object with id v1 already exists but with different type: expected Counter, got Echo");
	/* Goverse looks the id up before the type: an unknown type on an
	 * existing id is the same mismatch. */
	CHECK_INT(create("Nope", "v1"), GRPC_STATUS_ALREADY_EXISTS);
	CHECK_CONTAINS(create_msg, "expected Nope, got Echo");
	CHECK_INT(create("Nope", "v2"), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_STR(create_msg, "unknown object type: Nope (known types: Counter, Echo)");

	/* CallObject: the auto-create rules first, then the method. */
	CHECK_INT(increment("", "v3", "Increment", 1, &v, msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_STR(msg, "failed to auto-create object v3: unknown object type:  (known types: Counter, Echo)");
	CHECK_INT(increment("", "v1", "Echo", 1, &v, msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_STR(msg, "failed to auto-create object v1: object with id v1 already exists but with "
		       "different type: expected , got Echo");
	CHECK_INT(increment("Counter", "v1", "Increment", 1, &v, msg, sizeof(msg)),
		  GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_CONTAINS(msg, "expected Counter, got Echo");
	CHECK_INT(increment("Counter", "", "Increment", 1, &v, msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_STR(msg, "failed to auto-create object : object ID must be specified");
	CHECK_INT(increment("Counter", "v4", "Explode", 1, &v, msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_CONTAINS(msg, "method not found in class Counter: Explode (methods: Increment");
	CHECK_INT(increment("Counter", "v4", "", 1, &v, msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_CONTAINS(msg, "method not found in class Counter: ");
	/* As in Goverse, the object exists once the call got past auto-create. */
	CHECK_INT(create("Counter", "v4"), GRPC_STATUS_OK);
	CHECK_INT(increment("Echo", "v4", "Echo", 1, &v, msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_CONTAINS(msg, "expected Echo, got Counter");
	CHECK_INT(increment("Counter", "v4", "Decrement", 1, &v, msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_STR(msg, "request type mismatch: expected counter.DecrementRequest, got "
		       "type.googleapis.com/counter.IncrementRequest");

	/* DeleteObject */
	CHECK_INT(delete_object("Counter", "", msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_STR(msg, "object ID must be specified in DeleteObject request");
	CHECK_INT(delete_object("", "", msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_STR(msg, "object ID must be specified in DeleteObject request");
	CHECK_INT(delete_object("", "v4", msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_STR(msg, "DeleteObject requires a non-empty type");
	CHECK_INT(delete_object("", "missing", msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_STR(msg, "DeleteObject requires a non-empty type");
	CHECK_INT(delete_object("Echo", "v4", msg, sizeof(msg)), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_STR(msg, "delete rejected: type mismatch for v4 (claimed Echo, real Counter)");
	CHECK_INT(delete_object("Nope", "missing", NULL, 0), GRPC_STATUS_OK); /* idempotent */
	CHECK_INT(delete_object("Counter", "v4", NULL, 0), GRPC_STATUS_OK);
	CHECK_INT(delete_object("Counter", "v4", NULL, 0), GRPC_STATUS_OK);
	CHECK_INT(delete_object("Echo", "v1", NULL, 0), GRPC_STATUS_OK);
}

/* ReliableCallObject{...}: gRPC OK with a ReliableCallObjectResponse, whose
 * status and error are checked against want_error. */
static void check_reliable(const char *call_id, const char *type, const char *id, const char *method,
			   int with_request, const char *want_error)
{
	Goverse__ReliableCallObjectRequest q = GOVERSE__RELIABLE_CALL_OBJECT_REQUEST__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	Goverse__ReliableCallObjectResponse *p;
	struct pg_rpc_reply r;

	any.type_url = "type.googleapis.com/counter.GetRequest";
	q.call_id = (char *)call_id;
	q.object_type = (char *)type;
	q.object_id = (char *)id;
	q.method_name = (char *)method;
	q.request = with_request ? &any : NULL;
	CHECK_INT(call(PG_RPC_RELIABLE_CALL_OBJECT, &q.base, &r), GRPC_STATUS_OK);
	p = goverse__reliable_call_object_response__unpack(NULL, r.len, r.body);
	CHECK(p != NULL);
	if (p) {
		CHECK_INT(p->status, GOVERSE__RELIABLE_CALL_STATUS__SKIPPED);
		CHECK(p->result == NULL);
		CHECK_CONTAINS(p->error, want_error);
		goverse__reliable_call_object_response__free_unpacked(p, NULL);
	}
	pg_rpc_reply_clear(&r);
}

static void test_reliable_call(void)
{
	check_reliable("", "Counter", "r1", "Get", 1, "call_id must be specified in ReliableCallObject request");
	check_reliable("k1", "", "r1", "Get", 1, "object_type must be specified in ReliableCallObject request");
	check_reliable("k1", "Counter", "", "Get", 1, "object_id must be specified in ReliableCallObject request");
	check_reliable("k1", "Counter", "r1", "", 1, "method_name must be specified in ReliableCallObject request");
	check_reliable("k1", "Counter", "r1", "Get", 0, "request must be specified in ReliableCallObject request");
	check_reliable("k1", "Counter", "r1", "Get", 1, "no persistence provider configured");
	/* Never executed: no object was created. */
	CHECK_INT(pg_rpc_service_num_objects(svc), 2);
}

static void test_register_gate(void)
{
	Goverse__RegisterGateRequest q = GOVERSE__REGISTER_GATE_REQUEST__INIT;
	struct pg_rpc_reply r;

	CHECK_INT(call(PG_RPC_REGISTER_GATE, &q.base, &r), GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_STR(r.message, "gate_addr must be specified in RegisterGate request");
	pg_rpc_reply_clear(&r);
	q.gate_addr = "127.0.0.1:49000";
	CHECK_INT(call(PG_RPC_REGISTER_GATE, &q.base, &r), GRPC_STATUS_UNIMPLEMENTED);
	CHECK_CONTAINS(r.message, "this node serves no gates");
	CHECK_CONTAINS(r.message, "127.0.0.1:49000");
	CHECK(r.body == NULL);
	pg_rpc_reply_clear(&r);
}

static void test_malformed(void)
{
	static const struct {
		enum pg_rpc_method m;
		const char *bytes;
		size_t len;
	} cases[] = {
		{PG_RPC_CREATE_OBJECT, "\x0a\x05" "abc", 5},     /* truncated string */
		{PG_RPC_CALL_OBJECT, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11}, /* bad varint */
		{PG_RPC_STATUS, "\x0f", 1},                        /* wire type 7 */
		{PG_RPC_LIST_OBJECTS, "\x0a", 1},                  /* tag without length */
		{PG_RPC_DELETE_OBJECT, "\x0a\x80\x80\x80\x80\x10", 6}, /* huge length */
		{PG_RPC_CALL_OBJECT, "\x22\x02\x0a\x05", 4},       /* Any with a truncated field */
		{PG_RPC_CREATE_OBJECT, "\x0a\x02\xc3\x28", 4},     /* invalid UTF-8 in a string */
	};
	struct pg_rpc_reply r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pg_rpc_dispatch(svc, cases[i].m, (const uint8_t *)cases[i].bytes, cases[i].len, &r);
		if (r.code != GRPC_STATUS_INVALID_ARGUMENT)
			fprintf(stderr, "case %zu: code %d\n", i, r.code);
		CHECK_INT(r.code, GRPC_STATUS_INVALID_ARGUMENT);
		CHECK(r.body == NULL);
		CHECK(r.message[0] != 0);
		pg_rpc_reply_clear(&r);
	}
	/* Empty bodies are valid (all defaults): Create then fails on the id. */
	pg_rpc_dispatch(svc, PG_RPC_CREATE_OBJECT, NULL, 0, &r);
	CHECK_INT(r.code, GRPC_STATUS_INVALID_ARGUMENT);
	CHECK_CONTAINS(r.message, "ID must be specified");
	pg_rpc_reply_clear(&r);
	/* Over the 4 MiB cap. */
	pg_rpc_dispatch(svc, PG_RPC_STATUS, (const uint8_t *)"", PG_RPC_MAX_MESSAGE + 1, &r);
	CHECK_INT(r.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
	pg_rpc_reply_clear(&r);
}

static void test_unimplemented(void)
{
	struct pg_rpc_reply r;

	CHECK_INT(pg_rpc_method_of("/goverse.Goverse/TriggerPendingCalls", 36), PG_RPC_UNKNOWN);
	pg_rpc_dispatch(svc, PG_RPC_PUSH_MESSAGE_TO_CLIENT, NULL, 0, &r);
	CHECK_INT(r.code, GRPC_STATUS_UNIMPLEMENTED);
	CHECK_CONTAINS(r.message, "serves no gates");
	pg_rpc_reply_clear(&r);
	pg_rpc_dispatch(svc, PG_RPC_UNKNOWN, (const uint8_t *)"junk", 4, &r);
	CHECK_INT(r.code, GRPC_STATUS_UNIMPLEMENTED);
	CHECK_CONTAINS(r.message, "ReliableCallObject");
	pg_rpc_reply_clear(&r);
	pg_rpc_dispatch(svc, (enum pg_rpc_method)1000, NULL, 0, &r);
	CHECK_INT(r.code, GRPC_STATUS_UNIMPLEMENTED);
	pg_rpc_reply_clear(&r);
	CHECK(pg_rpc_method_reads_message(PG_RPC_REGISTER_GATE));
	CHECK(pg_rpc_method_reads_message(PG_RPC_RELIABLE_CALL_OBJECT));
	CHECK(!pg_rpc_method_reads_message(PG_RPC_PUSH_MESSAGE_TO_CLIENT));
	CHECK(!pg_rpc_method_reads_message(PG_RPC_UNKNOWN));
	CHECK(!pg_rpc_method_reads_message((enum pg_rpc_method)1000));
}

static void test_metrics(void)
{
	struct pg_buf out;
	char want[128];

	pg_buf_init(&out, 1 << 20);
	CHECK_INT(pg_metrics_render(metrics, &out), PG_OK);
	CHECK_CONTAINS(out.data, "pprofgate_grpc_requests_total{method=\"CreateObject\",code=\"ALREADY_EXISTS\"} 2");
	CHECK_CONTAINS(out.data, "pprofgate_grpc_requests_total{method=\"ReliableCallObject\",code=\"OK\"} 6");
	CHECK_CONTAINS(out.data, "pprofgate_grpc_requests_total{method=\"RegisterGate\",code=\"UNIMPLEMENTED\"} 1");
	CHECK_CONTAINS(out.data, "pprofgate_grpc_requests_total{method=\"unknown\",code=\"UNIMPLEMENTED\"} 2");
	CHECK_CONTAINS(out.data, "goverse_method_calls_total{node=\"n1\",object_type=\"Counter\",method_name=\"Increment\",status=\"success\"} 1");
	CHECK_CONTAINS(out.data, "goverse_method_calls_total{node=\"n1\",object_type=\"Counter\",method_name=\"other\",status=\"failure\"} 2");
	CHECK_CONTAINS(out.data, "goverse_method_call_duration_bucket{node=\"n1\",object_type=\"Counter\",method_name=\"Add\",status=\"success\",le=\"0.001\"} 3");
	CHECK_CONTAINS(out.data, "goverse_objects_total{node=\"n1\",type=\"Echo\",shard=\"2\"} 1");
	/* Every call on c1 (Increment, Add x3, a failed Get) counts for its shard. */
	snprintf(want, sizeof(want), "goverse_shard_method_calls_total{shard=\"%u\"} 5",
		 pg_shard_of("c1", 2, PG_SHARD_DEFAULT_COUNT));
	CHECK_CONTAINS(out.data, want);
	CHECK_CONTAINS(out.data, "# TYPE goverse_shard_method_calls_total counter");
	CHECK_CONTAINS(out.data, "goverse_node_connected_gates{node=\"n1\"} 0");
	CHECK_CONTAINS(out.data, "# TYPE goverse_node_connected_gates gauge");
	pg_buf_free(&out);
}

/* The server itself: port 0, a clear bind error, stop with NULL. */
static void test_server_start_stop(void)
{
	struct pg_rpc_opts o = {.listen = "127.0.0.1:0", .threads = 2};
	struct pg_rpc *a = NULL, *b = NULL;
	char addr[64];

	CHECK_INT(pg_rpc_start(&o, &a), PG_OK);
	CHECK(a != NULL);
	CHECK(pg_rpc_port(a) > 0);
	CHECK_INT(pg_rpc_num_objects(a), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", pg_rpc_port(a));
	o.listen = addr;
	CHECK_INT(pg_rpc_start(&o, &b), PG_ENET);
	CHECK(b == NULL);
	CHECK_CONTAINS(pg_errmsg(), addr);
	o.listen = "";
	CHECK_INT(pg_rpc_start(&o, &b), PG_EINVAL);
	o.listen = "127.0.0.1:0";
	o.threads = 99;
	CHECK_INT(pg_rpc_start(&o, &b), PG_EINVAL);
	pg_rpc_stop(&a);
	CHECK(a == NULL);
	pg_rpc_stop(&a);
	pg_rpc_stop(NULL);
}

int main(void)
{
	struct pg_rpc_service_opts o = {.advertise = "127.0.0.1:47000", .node_label = "n1"};

	if (pg_metrics_new(&metrics) != PG_OK)
		return 1;
	o.metrics = metrics;
	if (pg_rpc_service_new(&o, &svc) != PG_OK)
		return 1;
	RUN(test_method_of);
	RUN(test_status_and_list);
	RUN(test_create_call_delete);
	RUN(test_validation);
	RUN(test_reliable_call);
	RUN(test_register_gate);
	RUN(test_malformed);
	RUN(test_unimplemented);
	RUN(test_metrics);
	RUN(test_server_start_stop);
	pg_rpc_service_free(&svc);
	pg_metrics_free(&metrics);
	TEST_END();
}
