/* goverse.Goverse request decoding and dispatch; see dispatch.h. */
#include "src/rpc/dispatch.h"

#include <grpc/status.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/goverse.pb-c.h"
#include "src/metrics/metrics.h"
#include "src/node/objects.h"
#include "src/node/shard.h"
#include "src/util/clock.h"
#include "src/util/span.h"

#define N_CODES 17 /* gRPC status codes 0..16 */
#define SERVICE_PREFIX "/goverse.Goverse/"

/* Label slots for the CallObject metrics, so peers cannot mint series. */
enum { OT_COUNTER, OT_ECHO, OT_OTHER, N_OT };
static const char *const ot_names[N_OT] = {"Counter", "Echo", "other"};
static const char *const mt_names[] = {"Increment", "Add", "Decrement", "Get", "Reset", "Echo", "other"};
#define N_MT (sizeof(mt_names) / sizeof(mt_names[0]))

static const char *const method_names[PG_RPC_N_METHODS] = {
	"Status", "ListObjects", "CreateObject", "CallObject", "DeleteObject",
	"RegisterGate", "ReliableCallObject", "PushMessageToClient", "unknown"};

/* Shards whose goverse_shard_method_calls_total series is cached; the rest
 * are looked up in the registry on each call. */
#define SHARD_SLOTS 16384u

static const char *const code_names[N_CODES] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED"};

struct pg_rpc_service {
	struct pg_objects *objects;
	char *advertise;
	char *node_label;
	struct timespec started;
	uint32_t shards;
	struct pg_family *f_requests, *f_calls, *f_duration, *f_shard_calls;
	/* Series caches: filled on first use, then read without locks. */
	_Atomic(struct pg_series *) requests[PG_RPC_N_METHODS][N_CODES];
	_Atomic(struct pg_series *) calls[N_OT][N_MT][2];
	_Atomic(struct pg_series *) durations[N_OT][N_MT][2];
	_Atomic(struct pg_series *) *shard_calls; /* min(shards, SHARD_SLOTS) */
};

const char *pg_rpc_method_name(enum pg_rpc_method m)
{
	return (unsigned)m < PG_RPC_N_METHODS ? method_names[m] : "unknown";
}

const char *pg_rpc_code_name(int code)
{
	return code >= 0 && code < N_CODES ? code_names[code] : "UNKNOWN";
}

bool pg_rpc_method_reads_message(enum pg_rpc_method m)
{
	return (unsigned)m < PG_RPC_PUSH_MESSAGE_TO_CLIENT;
}

enum pg_rpc_method pg_rpc_method_of(const char *path, size_t len)
{
	const size_t plen = sizeof(SERVICE_PREFIX) - 1;

	if (!path || len <= plen || memcmp(path, SERVICE_PREFIX, plen) != 0)
		return PG_RPC_UNKNOWN;
	for (int m = 0; m < PG_RPC_UNKNOWN; m++) {
		size_t n = strlen(method_names[m]);

		if (len - plen == n && memcmp(path + plen, method_names[m], n) == 0)
			return (enum pg_rpc_method)m;
	}
	return PG_RPC_UNKNOWN;
}

int pg_rpc_service_new(const struct pg_rpc_service_opts *o, struct pg_rpc_service **out)
{
	static const char *const req_labels[] = {"method", "code"};
	static const char *const call_labels[] = {"node", "object_type", "method_name", "status"};
	static const char *const shard_labels[] = {"shard"};
	static const char *const node_labels[] = {"node"};
	static const double buckets[] = {0.001, 0.01, 0.1, 1, 10}; /* Goverse's */
	struct pg_family *f_gates = NULL;
	struct pg_series *gates;
	struct pg_rpc_service *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return pg_fail(PG_ENOMEM, "out of memory for the rpc service");
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	s->advertise = strdup(o->advertise ? o->advertise : "");
	s->node_label = strdup(o->node_label ? o->node_label : s->advertise ? s->advertise : "");
	if (!s->advertise || !s->node_label) {
		rc = pg_fail(PG_ENOMEM, "out of memory for the rpc service");
		goto fail;
	}
	s->shards = o->shards ? o->shards : PG_SHARD_DEFAULT_COUNT;
	s->shard_calls = calloc(s->shards < SHARD_SLOTS ? s->shards : SHARD_SLOTS, sizeof(*s->shard_calls));
	if (!s->shard_calls) {
		rc = pg_fail(PG_ENOMEM, "out of memory for the rpc service");
		goto fail;
	}
	rc = pg_objects_new(o->max_objects ? o->max_objects : 1000000, o->shards, &s->objects);
	if (rc != PG_OK)
		goto fail;
	if (o->metrics) {
		rc = pg_objects_set_metrics(s->objects, o->metrics, s->node_label);
		if (rc == PG_OK)
			rc = pg_metrics_family(o->metrics, PG_METRIC_COUNTER, "pprofgate_grpc_requests_total",
					       "gRPC requests served, by method and status code",
					       req_labels, 2, NULL, 0, &s->f_requests);
		if (rc == PG_OK)
			rc = pg_metrics_family(o->metrics, PG_METRIC_COUNTER, "goverse_method_calls_total",
					       "Total number of method calls on distributed objects",
					       call_labels, 4, NULL, 0, &s->f_calls);
		if (rc == PG_OK)
			rc = pg_metrics_family(o->metrics, PG_METRIC_HISTOGRAM,
					       "goverse_method_call_duration",
					       "Duration of method calls on distributed objects in seconds",
					       call_labels, 4, buckets, 5, &s->f_duration);
		if (rc == PG_OK)
			rc = pg_metrics_family(o->metrics, PG_METRIC_COUNTER, "goverse_shard_method_calls_total",
					       "Total number of method calls per shard", shard_labels, 1, NULL, 0,
					       &s->f_shard_calls);
		/* Goverse's gauge of gates streaming from this node: it serves none
		 * (RegisterGate is refused), so the true value is a constant 0. */
		if (rc == PG_OK)
			rc = pg_metrics_family(o->metrics, PG_METRIC_GAUGE, "goverse_node_connected_gates",
					       "Number of gates connected to the node", node_labels, 1, NULL, 0,
					       &f_gates);
		if (rc != PG_OK)
			goto fail;
		gates = pg_family_series(f_gates, (const char *const[]){s->node_label});
		if (gates)
			pg_series_set(gates, 0);
	}
	*out = s;
	return PG_OK;
fail:
	pg_rpc_service_free(&s);
	return rc;
}

void pg_rpc_service_free(struct pg_rpc_service **pp)
{
	if (!pp || !*pp)
		return;
	pg_objects_free(&(*pp)->objects);
	free((*pp)->shard_calls);
	free((*pp)->advertise);
	free((*pp)->node_label);
	free(*pp);
	*pp = NULL;
}

size_t pg_rpc_service_num_objects(struct pg_rpc_service *svc)
{
	return pg_objects_count(svc->objects);
}

void pg_rpc_reply_clear(struct pg_rpc_reply *r)
{
	if (!r)
		return;
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static void fail_reply(struct pg_rpc_reply *out, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_reply(struct pg_rpc_reply *out, int code, const char *fmt, ...)
{
	va_list ap;

	free(out->body);
	out->body = NULL;
	out->len = 0;
	out->code = code;
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
}

static int code_of(int rc)
{
	switch (rc) {
	case PG_EINVAL:
	case PG_EPROTO:
		return GRPC_STATUS_INVALID_ARGUMENT;
	case PG_ENOTFOUND:
		return GRPC_STATUS_NOT_FOUND;
	case PG_EEXIST:
		return GRPC_STATUS_ALREADY_EXISTS;
	case PG_ENOMEM:
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case PG_EUNSUP:
		return GRPC_STATUS_UNIMPLEMENTED;
	default:
		return GRPC_STATUS_INTERNAL;
	}
}

static void error_reply(struct pg_rpc_reply *out, int rc)
{
	fail_reply(out, code_of(rc), "%s", pg_errmsg());
}

static void pack_reply(struct pg_rpc_reply *out, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	if (n > PG_RPC_MAX_MESSAGE) {
		fail_reply(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "response of %zu bytes is too large", n);
		return;
	}
	out->body = malloc(n ? n : 1);
	if (!out->body) {
		fail_reply(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for a response");
		return;
	}
	out->len = protobuf_c_message_pack(m, out->body);
	out->code = GRPC_STATUS_OK;
}

static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, const uint8_t *req, size_t len,
				struct pg_rpc_reply *out)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, req);

	if (!m)
		fail_reply(out, GRPC_STATUS_INVALID_ARGUMENT, "request is not a valid %s message",
			   d->name);
	return m;
}

static void do_status(struct pg_rpc_service *svc, struct pg_rpc_reply *out)
{
	Goverse__StatusResponse r = GOVERSE__STATUS_RESPONSE__INIT;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	r.advertise_addr = svc->advertise;
	r.num_objects = (int64_t)pg_objects_count(svc->objects);
	r.uptime_seconds = (int64_t)(now.tv_sec - svc->started.tv_sec);
	pack_reply(out, &r.base);
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void do_list(struct pg_rpc_service *svc, struct pg_rpc_reply *out)
{
	Goverse__ListObjectsResponse r = GOVERSE__LIST_OBJECTS_RESPONSE__INIT;
	struct pg_object_info *v = NULL;
	Goverse__ObjectInfo *infos = NULL, **ptrs = NULL;
	size_t n = 0, k, total = 0;
	int rc;

	/* No reply can exceed 4 MiB and each entry takes >= 8 bytes. */
	rc = pg_objects_list(svc->objects, PG_RPC_MAX_MESSAGE / 8, &v, &n);
	if (rc != PG_OK) {
		error_reply(out, rc);
		return;
	}
	infos = calloc(n ? n : 1, sizeof(*infos));
	ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (!infos || !ptrs) {
		fail_reply(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory listing objects");
		goto out;
	}
	for (k = 0; k < n; k++) {
		size_t tl = strlen(v[k].type), il = strlen(v[k].id);
		size_t e = 1 + varint_len(tl) + tl + 1 + varint_len(il) + il + 1 +
			   varint_len((uint64_t)v[k].creation_time);

		e += 1 + varint_len(e);
		/* Truncate rather than send a reply no gRPC client would accept. */
		if (total + e > PG_RPC_MAX_MESSAGE - 64)
			break;
		total += e;
		goverse__object_info__init(&infos[k]);
		infos[k].type = (char *)v[k].type;
		infos[k].id = v[k].id;
		infos[k].creation_time = v[k].creation_time;
		ptrs[k] = &infos[k];
	}
	r.n_objects = k;
	r.objects = ptrs;
	pack_reply(out, &r.base);
out:
	free(ptrs);
	free(infos);
	pg_objects_list_free(&v, n);
}

static void do_create(struct pg_rpc_service *svc, const uint8_t *req, size_t len,
		      struct pg_rpc_reply *out)
{
	Goverse__CreateObjectRequest *q;
	Goverse__CreateObjectResponse r = GOVERSE__CREATE_OBJECT_RESPONSE__INIT;
	int rc;

	q = (Goverse__CreateObjectRequest *)unpack(&goverse__create_object_request__descriptor, req,
						    len, out);
	if (!q)
		return;
	/* Goverse's server checks the id before anything else, in these words. */
	if (!q->id[0]) {
		fail_reply(out, GRPC_STATUS_INVALID_ARGUMENT, "object ID must be specified in CreateObject request");
		goto out;
	}
	rc = pg_objects_create(svc->objects, q->type, q->id, NULL);
	if (rc != PG_OK) {
		error_reply(out, rc);
	} else {
		r.id = q->id;
		pack_reply(out, &r.base);
	}
out:
	protobuf_c_message_free_unpacked(&q->base, NULL);
}

static void do_delete(struct pg_rpc_service *svc, const uint8_t *req, size_t len,
		      struct pg_rpc_reply *out)
{
	Goverse__DeleteObjectRequest *q;
	Goverse__DeleteObjectResponse r = GOVERSE__DELETE_OBJECT_RESPONSE__INIT;
	int rc;

	q = (Goverse__DeleteObjectRequest *)unpack(&goverse__delete_object_request__descriptor, req,
						    len, out);
	if (!q)
		return;
	if (!q->id[0])
		fail_reply(out, GRPC_STATUS_INVALID_ARGUMENT, "object ID must be specified in DeleteObject request");
	else if ((rc = pg_objects_delete(svc->objects, q->type, q->id)) != PG_OK)
		error_reply(out, rc);
	else
		pack_reply(out, &r.base);
	protobuf_c_message_free_unpacked(&q->base, NULL);
}

static struct pg_series *cached(_Atomic(struct pg_series *) *slot, struct pg_family *f,
				const char *const *values)
{
	struct pg_series *s = atomic_load_explicit(slot, memory_order_acquire);

	if (!s && f) {
		/* Racing threads get the same series from the registry: storing twice is fine. */
		s = pg_family_series(f, values);
		atomic_store_explicit(slot, s, memory_order_release);
	}
	return s;
}

/* goverse_shard_method_calls_total{shard} for the shard of id (Goverse counts
 * every call, failed ones included). */
static void record_shard_call(struct pg_rpc_service *svc, const char *id)
{
	uint32_t shard = pg_shard_of(id, strlen(id), svc->shards);
	char sh[16];
	const char *values[1] = {sh};
	struct pg_series *s;

	snprintf(sh, sizeof(sh), "%u", shard);
	if (shard < SHARD_SLOTS)
		s = cached(&svc->shard_calls[shard], svc->f_shard_calls, values);
	else
		s = pg_family_series(svc->f_shard_calls, values);
	if (s) /* NULL past the family's series bound: the call is not counted */
		pg_series_add(s, 1);
}

static void record_call(struct pg_rpc_service *svc, const char *type, const char *id,
			const char *method, int ok, double seconds)
{
	size_t ot = OT_OTHER, mt = N_MT - 1;
	const char *values[4];
	struct pg_series *s;

	if (!svc->f_calls)
		return;
	record_shard_call(svc, id);
	for (size_t i = 0; i < OT_OTHER; i++)
		if (type && strcmp(type, ot_names[i]) == 0)
			ot = i;
	for (size_t i = 0; i + 1 < N_MT; i++)
		if (method && strcmp(method, mt_names[i]) == 0)
			mt = i;
	values[0] = svc->node_label;
	values[1] = ot_names[ot];
	values[2] = mt_names[mt];
	values[3] = ok ? "success" : "failure"; /* Goverse's status label values */
	if ((s = cached(&svc->calls[ot][mt][ok], svc->f_calls, values)))
		pg_series_add(s, 1);
	if ((s = cached(&svc->durations[ot][mt][ok], svc->f_duration, values)))
		pg_series_observe(s, seconds);
}

static void do_call(struct pg_rpc_service *svc, const uint8_t *req, size_t len,
		    struct pg_rpc_reply *out)
{
	Goverse__CallObjectRequest *q;
	Goverse__CallObjectResponse r = GOVERSE__CALL_OBJECT_RESPONSE__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	struct pg_any in = {0}, res = {0};
	struct timespec t0, t1;
	const char *otype = NULL;
	int rc;

	q = (Goverse__CallObjectRequest *)unpack(&goverse__call_object_request__descriptor, req, len,
						  out);
	if (!q)
		return;
	if (q->request) {
		in.present = 1;
		in.type_url = q->request->type_url;
		in.value = q->request->value.data;
		in.len = q->request->value.len;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = pg_objects_call(svc->objects, q->type, q->id, q->method, &in, &res, &otype);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (pg_span_active()) {
		/* Trace names must outlive the capture: use the static label. */
		const char *mname = mt_names[N_MT - 1];

		for (size_t i = 0; i + 1 < N_MT; i++)
			if (q->method && strcmp(q->method, mt_names[i]) == 0)
				mname = mt_names[i];
		pg_span_event("object", mname, (int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec,
			       (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec));
	}
	record_call(svc, otype ? otype : q->type, q->id, q->method, rc == PG_OK,
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (rc != PG_OK) {
		error_reply(out, rc);
		goto out;
	}
	if (res.present) {
		any.type_url = res.type_url;
		any.value.data = res.value;
		any.value.len = res.len;
		r.response = &any;
	}
	pack_reply(out, &r.base);
out:
	pg_any_clear(&res);
	protobuf_c_message_free_unpacked(&q->base, NULL);
}

/* Goverse's answer to a reliable call it will not run: gRPC OK carrying
 * status SKIPPED ("never executed") and the reason. A Goverse caller treats
 * a gRPC error as "maybe executed" (status UNKNOWN) and retries it for up to
 * its call timeout, so a gRPC error here would be the less truthful answer. */
static void reliable_skipped(struct pg_rpc_reply *out, const char *error)
{
	Goverse__ReliableCallObjectResponse r = GOVERSE__RELIABLE_CALL_OBJECT_RESPONSE__INIT;

	r.status = GOVERSE__RELIABLE_CALL_STATUS__SKIPPED;
	r.error = (char *)error;
	pack_reply(out, &r.base);
}

static void do_reliable_call(const uint8_t *req, size_t len, struct pg_rpc_reply *out)
{
	Goverse__ReliableCallObjectRequest *q;

	q = (Goverse__ReliableCallObjectRequest *)unpack(
		&goverse__reliable_call_object_request__descriptor, req, len, out);
	if (!q)
		return;
	/* Goverse's server validates in this order, in these words. */
	if (!q->call_id[0])
		reliable_skipped(out, "call_id must be specified in ReliableCallObject request");
	else if (!q->object_type[0])
		reliable_skipped(out, "object_type must be specified in ReliableCallObject request");
	else if (!q->object_id[0])
		reliable_skipped(out, "object_id must be specified in ReliableCallObject request");
	else if (!q->method_name[0])
		reliable_skipped(out, "method_name must be specified in ReliableCallObject request");
	else if (!q->request)
		reliable_skipped(out, "request must be specified in ReliableCallObject request");
	else
		reliable_skipped(out, "no persistence provider configured: this node keeps objects in "
				      "memory only and cannot record reliable calls; the call was not "
				      "executed (use CallObject, or a Goverse node with Postgres persistence)");
	protobuf_c_message_free_unpacked(&q->base, NULL);
}

static void do_register_gate(const uint8_t *req, size_t len, struct pg_rpc_reply *out)
{
	Goverse__RegisterGateRequest *q;

	q = (Goverse__RegisterGateRequest *)unpack(&goverse__register_gate_request__descriptor, req, len,
						    out);
	if (!q)
		return;
	if (!q->gate_addr[0])
		fail_reply(out, GRPC_STATUS_INVALID_ARGUMENT, "gate_addr must be specified in RegisterGate request");
	else
		fail_reply(out, GRPC_STATUS_UNIMPLEMENTED,
			   "this node serves no gates: pprofgate keeps no gate streams, so it cannot push "
			   "client or broadcast messages to gate %.128s; register the gate with a Goverse node",
			   q->gate_addr);
	protobuf_c_message_free_unpacked(&q->base, NULL);
}

void pg_rpc_dispatch(struct pg_rpc_service *svc, enum pg_rpc_method m, const uint8_t *req,
		     size_t len, struct pg_rpc_reply *out)
{
	static const uint8_t empty[1];
	ProtobufCMessage *e;
	int64_t t0 = pg_span_active() ? pg_clock_mono_ns() : 0;

	memset(out, 0, sizeof(*out));
	if (!req)
		req = empty;
	if (len > PG_RPC_MAX_MESSAGE) {
		fail_reply(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "request of %zu bytes exceeds %u",
			   len, PG_RPC_MAX_MESSAGE);
		goto out;
	}
	switch (m) {
	case PG_RPC_STATUS:
	case PG_RPC_LIST_OBJECTS:
		e = unpack(&goverse__empty__descriptor, req, len, out);
		if (!e)
			break;
		protobuf_c_message_free_unpacked(e, NULL);
		if (m == PG_RPC_STATUS)
			do_status(svc, out);
		else
			do_list(svc, out);
		break;
	case PG_RPC_CREATE_OBJECT:
		do_create(svc, req, len, out);
		break;
	case PG_RPC_CALL_OBJECT:
		do_call(svc, req, len, out);
		break;
	case PG_RPC_DELETE_OBJECT:
		do_delete(svc, req, len, out);
		break;
	case PG_RPC_REGISTER_GATE:
		do_register_gate(req, len, out);
		break;
	case PG_RPC_RELIABLE_CALL_OBJECT:
		do_reliable_call(req, len, out);
		break;
	case PG_RPC_PUSH_MESSAGE_TO_CLIENT:
		fail_reply(out, GRPC_STATUS_UNIMPLEMENTED,
			   "goverse.Goverse has no method PushMessageToClient: Goverse nodes push client "
			   "messages through a gate's RegisterGate stream, and this node serves no gates");
		break;
	default:
		fail_reply(out, GRPC_STATUS_UNIMPLEMENTED,
			   "unknown method for service goverse.Goverse; its methods are Status, ListObjects, "
			   "CallObject, CreateObject, DeleteObject, RegisterGate, ReliableCallObject");
		break;
	}
out:
	if (svc->f_requests) {
		int c = out->code >= 0 && out->code < N_CODES ? out->code : GRPC_STATUS_UNKNOWN;
		unsigned mi = (unsigned)m < PG_RPC_N_METHODS ? (unsigned)m : PG_RPC_UNKNOWN;
		const char *values[2] = {method_names[mi], code_names[c]};
		struct pg_series *s = cached(&svc->requests[mi][c], svc->f_requests, values);

		if (s)
			pg_series_add(s, 1);
	}
	if (t0)
		pg_span_event("grpc", method_names[(unsigned)m < PG_RPC_N_METHODS ? (unsigned)m : PG_RPC_UNKNOWN],
			       t0, pg_clock_mono_ns() - t0);
}
