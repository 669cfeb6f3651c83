/* Tests for the object table: every error, Counter/Echo semantics, int32
 * wrap, the size bound, listing, and a concurrency smoke test. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proto/counter.pb-c.h"
#include "src/metrics/metrics.h"
#include "src/node/objects.h"
#include "src/node/shard.h"
#include "tests/unit/test.h"

/* Packs msg into an Any borrowed by the call (value in buf). */
static struct pg_any any_of(const char *type_url, const ProtobufCMessage *msg, uint8_t *buf)
{
	struct pg_any a = {1, (char *)type_url, buf, 0};

	a.len = protobuf_c_message_pack(msg, buf);
	return a;
}

/* Calls a Counter method with an amount; returns rc, *value the result. */
static int counter(struct pg_objects *t, const char *type, const char *id, const char *method,
		   int32_t amount, int32_t *value)
{
	Counter__IncrementRequest inc = COUNTER__INCREMENT_REQUEST__INIT;
	uint8_t buf[16];
	struct pg_any req, resp;
	Counter__CounterResponse *cr;
	int rc;

	inc.amount = amount;
	req = any_of(strcmp(method, "Decrement") == 0 ? "type.googleapis.com/counter.DecrementRequest"
		     : strcmp(method, "Get") == 0        ? "type.googleapis.com/counter.GetRequest"
		     : strcmp(method, "Reset") == 0      ? "type.googleapis.com/counter.ResetRequest"
							 : "type.googleapis.com/counter.IncrementRequest",
		     &inc.base, buf);
	if (strcmp(method, "Get") == 0 || strcmp(method, "Reset") == 0)
		req.len = 0;
	rc = pg_objects_call(t, type, id, method, &req, &resp, NULL);
	if (rc != PG_OK)
		return rc;
	CHECK(resp.present);
	CHECK_STR(resp.type_url, "type.googleapis.com/counter.CounterResponse");
	cr = counter__counter_response__unpack(NULL, resp.len, resp.value);
	CHECK(cr != NULL);
	if (cr) {
		CHECK_STR(cr->name, id);
		*value = cr->value;
		counter__counter_response__free_unpacked(cr, NULL);
	}
	pg_any_clear(&resp);
	return rc;
}

static void test_create_errors(void)
{
	struct pg_objects *t = NULL;
	uint32_t shard = 99;
	char long_id[PG_OBJECTS_MAX_ID + 2];

	CHECK_INT(pg_objects_new(0, 0, &t), PG_EINVAL);
	CHECK(t == NULL);
	CHECK_INT(pg_objects_new(100, 0, &t), PG_OK);
	CHECK_INT(pg_objects_create(t, "Counter", "", NULL), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "object ID must be specified");
	CHECK_INT(pg_objects_create(t, "Counter", NULL, NULL), PG_EINVAL);
	CHECK_INT(pg_objects_create(t, "Nope", "x", NULL), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "unknown object type: Nope (known types: Counter, Echo)");
	CHECK_INT(pg_objects_create(t, "", "x", NULL), PG_EINVAL);
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = 0;
	CHECK_INT(pg_objects_create(t, "Counter", long_id, NULL), PG_EINVAL);
	CHECK_INT(pg_objects_create(t, "Counter", "shard#5/x", &shard), PG_OK);
	CHECK_INT(shard, 5);
	/* Goverse: the same id with the same type is success (and the shard is
	 * still reported), with another type an error. */
	shard = 99;
	CHECK_INT(pg_objects_create(t, "Counter", "shard#5/x", &shard), PG_OK);
	CHECK_INT(shard, 5);
	CHECK_INT(pg_objects_create(t, "Echo", "shard#5/x", NULL), PG_EEXIST);
	CHECK_STR(pg_errmsg(), "object with id shard#5/x already exists but with different type: "
			       "expected Echo, got Counter");
	/* The id is looked up before the type, as in Goverse. */
	CHECK_INT(pg_objects_create(t, "Nope", "shard#5/x", NULL), PG_EEXIST);
	CHECK_CONTAINS(pg_errmsg(), "expected Nope, got Counter");
	CHECK_INT(pg_objects_create(t, NULL, "shard#5/x", NULL), PG_EEXIST);
	CHECK_INT(pg_objects_count(t), 1);
	pg_objects_free(&t);
	CHECK(t == NULL);
	pg_objects_free(&t); /* NULL is fine */
}

static void test_delete(void)
{
	struct pg_objects *t = NULL;

	CHECK_INT(pg_objects_new(100, 0, &t), PG_OK);
	/* Goverse: a type is required, whether the object exists or not. */
	CHECK_INT(pg_objects_delete(t, NULL, "missing"), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "DeleteObject requires a non-empty type");
	CHECK_INT(pg_objects_delete(t, "", "missing"), PG_EINVAL);
	CHECK_INT(pg_objects_delete(t, "Counter", ""), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "object ID must be specified");
	/* Deleting a missing object is done already. */
	CHECK_INT(pg_objects_delete(t, "Counter", "missing"), PG_OK);
	CHECK_INT(pg_objects_create(t, "Counter", "c", NULL), PG_OK);
	CHECK_INT(pg_objects_delete(t, "", "c"), PG_EINVAL);
	CHECK_INT(pg_objects_delete(t, "Echo", "c"), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "delete rejected: type mismatch for c (claimed Echo, real Counter)");
	CHECK_INT(pg_objects_count(t), 1);
	CHECK_INT(pg_objects_delete(t, "Counter", "c"), PG_OK);
	CHECK_INT(pg_objects_count(t), 0);
	CHECK_INT(pg_objects_delete(t, "Counter", "c"), PG_OK);
	CHECK_INT(pg_objects_count(t), 0);
	/* Re-create after delete works. */
	CHECK_INT(pg_objects_create(t, "Echo", "c", NULL), PG_OK);
	CHECK_INT(pg_objects_delete(t, "Echo", "c"), PG_OK);
	pg_objects_free(&t);
}

static void test_counter(void)
{
	struct pg_objects *t = NULL;
	int32_t v = 0;

	CHECK_INT(pg_objects_new(100, 0, &t), PG_OK);
	CHECK_INT(pg_objects_create(t, "Counter", "c", NULL), PG_OK);
	CHECK_INT(counter(t, "Counter", "c", "Increment", 5, &v), PG_OK);
	CHECK_INT(v, 5);
	CHECK_INT(counter(t, "Counter", "c", "Add", 3, &v), PG_OK);
	CHECK_INT(v, 8);
	CHECK_INT(counter(t, "Counter", "c", "Decrement", 10, &v), PG_OK);
	CHECK_INT(v, -2);
	CHECK_INT(counter(t, "Counter", "c", "Get", 0, &v), PG_OK);
	CHECK_INT(v, -2);
	/* Go int32 wrap: MaxInt32 + 1 == MinInt32, and back. */
	CHECK_INT(counter(t, "Counter", "c", "Reset", 0, &v), PG_OK);
	CHECK_INT(v, 0);
	CHECK_INT(counter(t, "Counter", "c", "Increment", INT32_MAX, &v), PG_OK);
	CHECK_INT(counter(t, "Counter", "c", "Increment", 1, &v), PG_OK);
	CHECK_INT(v, INT32_MIN);
	CHECK_INT(counter(t, "Counter", "c", "Decrement", 1, &v), PG_OK);
	CHECK_INT(v, INT32_MAX);
	CHECK_INT(counter(t, "Counter", "c", "Decrement", INT32_MIN, &v), PG_OK);
	CHECK_INT(v, -1); /* MaxInt32 - MinInt32 wraps to -1 in Go */
	pg_objects_free(&t);
}

static void test_call_errors(void)
{
	struct pg_objects *t = NULL;
	struct pg_any resp, bad = {1, "type.googleapis.com/counter.IncrementRequest", (uint8_t *)"\x08", 1};
	struct pg_any wrong = {1, "type.googleapis.com/counter.GetRequest", NULL, 0};
	struct pg_any get = {1, "type.googleapis.com/counter.GetRequest", (uint8_t *)"", 0};
	const char *ty = "x";
	int32_t v;

	CHECK_INT(pg_objects_new(100, 0, &t), PG_OK);
	/* Goverse's CallObject needs the type: it creates the object first. */
	CHECK_INT(pg_objects_call(t, "", "m", "Get", NULL, &resp, &ty), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "failed to auto-create object m: unknown object type:  (known types: Counter, Echo)");
	CHECK(ty == NULL);
	CHECK(!resp.present);
	CHECK_INT(pg_objects_call(t, NULL, "m", "Get", NULL, &resp, NULL), PG_EINVAL);
	CHECK_INT(pg_objects_call(t, "Counter", "", "Get", NULL, &resp, NULL), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "failed to auto-create object : object ID must be specified");
	CHECK_INT(pg_objects_call(t, "Bogus", "m", "Get", NULL, &resp, NULL), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "Counter, Echo");
	CHECK_INT(pg_objects_count(t), 0);
	/* The object is created before the method is looked up, as in Goverse. */
	CHECK_INT(pg_objects_call(t, "Counter", "m", "", NULL, &resp, NULL), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "method not found in class Counter:  (methods: Increment, Add, Decrement, Get, Reset)");
	CHECK_INT(pg_objects_count(t), 1);
	CHECK_INT(pg_objects_call(t, "", "m", "Get", NULL, &resp, &ty), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "failed to auto-create object m: object with id m already exists but with "
			       "different type: expected , got Counter");
	CHECK_INT(pg_objects_delete(t, "Counter", "m"), PG_OK);
	/* Goverse auto-creates on call when the type is known. */
	CHECK_INT(counter(t, "Counter", "auto", "Increment", 2, &v), PG_OK);
	CHECK_INT(v, 2);
	CHECK_INT(pg_objects_count(t), 1);
	CHECK_INT(pg_objects_call(t, "Echo", "auto", "Echo", NULL, &resp, &ty), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "already exists but with different type: expected Echo, got Counter");
	CHECK(ty == NULL);
	CHECK_INT(pg_objects_call(t, "Counter", "auto", "Get", &get, &resp, &ty), PG_OK);
	CHECK_STR(ty, "Counter");
	pg_any_clear(&resp);
	CHECK_INT(pg_objects_call(t, "Counter", "auto", "Explode", NULL, &resp, NULL), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "methods: Increment, Add, Decrement, Get, Reset");
	CHECK_INT(pg_objects_call(t, "Counter", "auto", "Increment", &bad, &resp, NULL), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "does not decode");
	CHECK_INT(pg_objects_call(t, "Counter", "auto", "Increment", &wrong, &resp, NULL), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "request type mismatch: expected counter.IncrementRequest, got "
			       "type.googleapis.com/counter.GetRequest");
	wrong.type_url = NULL;
	CHECK_INT(pg_objects_call(t, "Counter", "auto", "Get", &wrong, &resp, NULL), PG_EINVAL);
	/* Without a request Any, as Goverse's InvokeMethod with a nil request. */
	CHECK_INT(pg_objects_call(t, "Counter", "auto", "Increment", NULL, &resp, NULL), PG_EINVAL);
	CHECK_STR(pg_errmsg(), "request type mismatch: expected counter.IncrementRequest, got <nil>");
	CHECK(!resp.present);
	pg_objects_free(&t);
}

static void test_echo(void)
{
	struct pg_objects *t = NULL;
	struct pg_any req = {1, "example.com/x.Y", (uint8_t *)"\x01\x02\x00\x03", 4}, resp;

	CHECK_INT(pg_objects_new(100, 0, &t), PG_OK);
	CHECK_INT(pg_objects_call(t, "Echo", "e", "Echo", &req, &resp, NULL), PG_OK);
	CHECK(resp.present);
	CHECK_STR(resp.type_url, "example.com/x.Y");
	CHECK_INT(resp.len, 4);
	CHECK(resp.value && memcmp(resp.value, "\x01\x02\x00\x03", 4) == 0);
	pg_any_clear(&resp);
	CHECK_INT(pg_objects_call(t, "Echo", "e", "Echo", NULL, &resp, NULL), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "got <nil>");
	CHECK(!resp.present);
	CHECK_INT(pg_objects_call(t, "Echo", "e", "Get", &req, &resp, NULL), PG_EINVAL);
	CHECK_CONTAINS(pg_errmsg(), "methods: Echo");
	pg_objects_free(&t);
}

static void test_bound_and_list(void)
{
	struct pg_objects *t = NULL;
	struct pg_object_info *v = NULL;
	struct pg_any resp;
	size_t n = 0;
	int found = 0;
	int32_t value = 0;

	CHECK_INT(pg_objects_new(3, 8192, &t), PG_OK);
	CHECK_INT(pg_objects_create(t, "Counter", "a", NULL), PG_OK);
	CHECK_INT(pg_objects_create(t, "Echo", "shard#7/b", NULL), PG_OK);
	CHECK_INT(pg_objects_create(t, "Counter", "c", NULL), PG_OK);
	CHECK_INT(pg_objects_create(t, "Counter", "d", NULL), PG_ENOMEM);
	CHECK_CONTAINS(pg_errmsg(), "full");
	CHECK_INT(pg_objects_call(t, "Counter", "d", "Get", NULL, &resp, NULL), PG_ENOMEM);
	CHECK_INT(pg_objects_count(t), 3);
	/* A full table still finds what it holds: creating it again and calling it work. */
	CHECK_INT(pg_objects_create(t, "Counter", "a", NULL), PG_OK);
	CHECK_INT(pg_objects_create(t, "Echo", "a", NULL), PG_EEXIST);
	CHECK_INT(counter(t, "Counter", "a", "Increment", 4, &value), PG_OK);
	CHECK_INT(value, 4);
	CHECK_INT(pg_objects_list(t, 100, &v, &n), PG_OK);
	CHECK_INT(n, 3);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].id, "shard#7/b") == 0) {
			found = 1;
			CHECK_STR(v[i].type, "Echo");
			CHECK_INT(v[i].shard, 7);
			CHECK(v[i].creation_time > 1600000000);
		}
	CHECK(found);
	pg_objects_list_free(&v, n);
	CHECK(v == NULL);
	CHECK_INT(pg_objects_list(t, 2, &v, &n), PG_OK);
	CHECK_INT(n, 2);
	pg_objects_list_free(&v, n);
	pg_objects_free(&t);
}

static void test_metrics_gauge(void)
{
	struct pg_metrics *m = NULL;
	struct pg_objects *t = NULL;
	struct pg_buf out;
	struct pg_any resp;
	char want[128];

	pg_buf_init(&out, 1 << 20);
	CHECK_INT(pg_metrics_new(&m), PG_OK);
	CHECK_INT(pg_objects_new(100, 8192, &t), PG_OK);
	CHECK_INT(pg_objects_set_metrics(t, m, "node1"), PG_OK);
	CHECK_INT(pg_objects_create(t, "Counter", "shard#3/a", NULL), PG_OK);
	CHECK_INT(pg_objects_create(t, "Counter", "shard#3/b", NULL), PG_OK);
	/* Auto-created by the call, although the call itself fails. */
	CHECK_INT(pg_objects_call(t, "Echo", "shard#4/e", "Echo", NULL, &resp, NULL), PG_EINVAL);
	CHECK_INT(pg_objects_create(t, "Counter", "shard#3/b", NULL), PG_OK); /* exists: no change */
	CHECK_INT(pg_objects_delete(t, "Counter", "shard#3/a"), PG_OK);
	CHECK_INT(pg_objects_delete(t, "Counter", "shard#3/a"), PG_OK); /* missing: no change */
	CHECK_INT(pg_metrics_render(m, &out), PG_OK);
	snprintf(want, sizeof(want), "goverse_objects_total{node=\"node1\",type=\"Counter\",shard=\"3\"} 1");
	CHECK_CONTAINS(out.data, want);
	CHECK_CONTAINS(out.data, "goverse_objects_total{node=\"node1\",type=\"Echo\",shard=\"4\"} 1");
	pg_buf_free(&out);
	pg_objects_free(&t);
	pg_metrics_free(&m);
}

/* Concurrency: threads increment shared counters, create and delete their
 * own objects, and list, all at once; totals must add up exactly. */
#define THREADS 8
#define ITERS 2000

struct worker_arg {
	struct pg_objects *t;
	int idx;
	int errors;
};

static void *worker(void *p)
{
	struct worker_arg *a = p;
	char id[32];
	int32_t v;

	for (int i = 0; i < ITERS; i++) {
		struct pg_object_info *list = NULL;
		size_t n = 0;

		if (counter(a->t, "Counter", "shared", "Increment", 1, &v) != PG_OK)
			a->errors++;
		snprintf(id, sizeof(id), "w%d-%d", a->idx, i);
		if (pg_objects_create(a->t, "Echo", id, NULL) != PG_OK)
			a->errors++;
		if (i % 2 == 0 && pg_objects_delete(a->t, "Echo", id) != PG_OK)
			a->errors++;
		if (i % 500 == 0) {
			if (pg_objects_list(a->t, 1000000, &list, &n) != PG_OK)
				a->errors++;
			pg_objects_list_free(&list, n);
		}
	}
	return NULL;
}

static void test_concurrency(void)
{
	struct pg_objects *t = NULL;
	pthread_t th[THREADS];
	struct worker_arg args[THREADS];
	int32_t v = 0;
	int errors = 0;

	CHECK_INT(pg_objects_new(1000000, 0, &t), PG_OK);
	for (int i = 0; i < THREADS; i++) {
		args[i] = (struct worker_arg){t, i, 0};
		CHECK_INT(pthread_create(&th[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		errors += args[i].errors;
	}
	CHECK_INT(errors, 0);
	CHECK_INT(counter(t, "Counter", "shared", "Get", 0, &v), PG_OK);
	CHECK_INT(v, THREADS * ITERS);
	CHECK_INT(pg_objects_count(t), 1 + THREADS * ITERS / 2);
	pg_objects_free(&t);
}

int main(void)
{
	RUN(test_create_errors);
	RUN(test_delete);
	RUN(test_counter);
	RUN(test_call_errors);
	RUN(test_echo);
	RUN(test_bound_and_list);
	RUN(test_metrics_gauge);
	RUN(test_concurrency);
	TEST_END();
}
