/* The node's object table; see objects.h. */
#include "src/node/objects.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/counter.pb-c.h"
#include "src/metrics/metrics.h"
#include "src/node/shard.h"
#include "src/util/mutex.h"

#define STRIPES 64u              /* lock stripes; a power of two */
#define STRIPE_MIN_BUCKETS 16u   /* initial buckets per stripe */
#define TYPE_URL_PREFIX "type.googleapis.com/"

enum obj_type { T_COUNTER, T_ECHO, T_COUNT };

static const char *const type_names[T_COUNT] = {"Counter", "Echo"};

struct obj {
	struct obj *next;
	uint32_t hash;
	uint32_t shard;
	enum obj_type type;
	int64_t created;        /* Unix seconds */
	_Atomic uint32_t value; /* Counter: the int32 value's bits, so wrap is defined */
	size_t id_len;
	char id[];
};

struct stripe {
	struct pg_mutex lock; /* a mutex, not a rwlock: waits show in the mutex profile */
	struct obj **buckets;
	size_t n_buckets; /* a power of two */
	size_t n;
};

struct pg_objects {
	struct stripe stripes[STRIPES];
	_Atomic size_t count;
	size_t max;
	uint32_t shards;
	uint32_t seed;
	struct pg_family *gauge; /* goverse_objects_total, or NULL */
	char *node_label;
};

/* Hash for the table (not the shard): FNV-1a from a per-table random basis,
 * then a final avalanche, so peers cannot aim ids at one bucket as easily. */
static uint32_t table_hash(const struct pg_objects *t, const char *id, size_t len)
{
	uint32_t h = 2166136261u ^ t->seed;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)id[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static struct stripe *stripe_of(struct pg_objects *t, uint32_t h)
{
	return &t->stripes[h & (STRIPES - 1)];
}

static size_t bucket_of(const struct stripe *s, uint32_t h)
{
	return (h / STRIPES) & (s->n_buckets - 1);
}

/* Caller holds the stripe lock (either mode). */
static struct obj *find(struct stripe *s, uint32_t h, const char *id, size_t len)
{
	for (struct obj *o = s->buckets[bucket_of(s, h)]; o; o = o->next)
		if (o->hash == h && o->id_len == len && memcmp(o->id, id, len) == 0)
			return o;
	return NULL;
}

/* Doubles the buckets; on allocation failure the table just stays denser. */
static void grow(struct stripe *s)
{
	size_t nb = s->n_buckets * 2;
	struct obj **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct obj *o = s->buckets[i], *next;

		for (; o; o = next) {
			size_t j = (o->hash / STRIPES) & (nb - 1);

			next = o->next;
			o->next = b[j];
			b[j] = o;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->n_buckets = nb;
}

static int lookup_type(const char *type, enum obj_type *out)
{
	for (int i = 0; i < T_COUNT; i++)
		if (strcmp(type, type_names[i]) == 0) {
			*out = (enum obj_type)i;
			return 1;
		}
	return 0;
}

const char *pg_objects_type_name(const char *type)
{
	enum obj_type ty;

	return type && lookup_type(type, &ty) ? type_names[ty] : NULL;
}

static int check_id(const char *id, size_t *len)
{
	*len = 0;
	if (!id || !id[0])
		return pg_fail(PG_EINVAL, "object ID must be specified");
	*len = strnlen(id, PG_OBJECTS_MAX_ID + 1);
	if (*len > PG_OBJECTS_MAX_ID)
		return pg_fail(PG_EINVAL, "object id is longer than %d bytes", PG_OBJECTS_MAX_ID);
	return PG_OK;
}

static uint32_t random_seed(void)
{
	struct timespec ts;
	uint32_t s;
	FILE *f = fopen("/dev/urandom", "rb");

	if (f && fread(&s, sizeof(s), 1, f) == 1) {
		fclose(f);
		return s;
	}
	if (f)
		fclose(f);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec;
}

int pg_objects_new(size_t max_objects, uint32_t shards, struct pg_objects **out)
{
	struct pg_objects *t;
	size_t i = 0;

	*out = NULL;
	if (max_objects < 1 || max_objects > 100000000)
		return pg_fail(PG_EINVAL, "max objects must be 1..100000000, got %zu", max_objects);
	t = calloc(1, sizeof(*t));
	if (!t)
		return pg_fail(PG_ENOMEM, "out of memory for the object table");
	t->max = max_objects;
	t->shards = shards ? shards : PG_SHARD_DEFAULT_COUNT;
	t->seed = random_seed();
	for (i = 0; i < STRIPES; i++) {
		struct stripe *s = &t->stripes[i];

		s->buckets = calloc(STRIPE_MIN_BUCKETS, sizeof(*s->buckets));
		if (!s->buckets || pg_mutex_init(&s->lock) != PG_OK) {
			free(s->buckets);
			goto fail;
		}
		s->n_buckets = STRIPE_MIN_BUCKETS;
	}
	*out = t;
	return PG_OK;
fail:
	while (i-- > 0) {
		pg_mutex_destroy(&t->stripes[i].lock);
		free(t->stripes[i].buckets);
	}
	free(t);
	return pg_fail(PG_ENOMEM, "out of memory for the object table");
}

void pg_objects_free(struct pg_objects **pp)
{
	struct pg_objects *t;

	if (!pp || !*pp)
		return;
	t = *pp;
	for (size_t i = 0; i < STRIPES; i++) {
		struct stripe *s = &t->stripes[i];

		for (size_t j = 0; j < s->n_buckets; j++) {
			struct obj *o = s->buckets[j], *next;

			for (; o; o = next) {
				next = o->next;
				free(o);
			}
		}
		free(s->buckets);
		pg_mutex_destroy(&s->lock);
	}
	free(t->node_label);
	free(t);
	*pp = NULL;
}

int pg_objects_set_metrics(struct pg_objects *t, struct pg_metrics *m, const char *node_label)
{
	static const char *const labels[] = {"node", "type", "shard"};
	int rc;

	if (!m)
		return PG_OK;
	free(t->node_label);
	t->node_label = strdup(node_label ? node_label : "");
	if (!t->node_label)
		return pg_fail(PG_ENOMEM, "out of memory");
	rc = pg_metrics_family(m, PG_METRIC_GAUGE, "goverse_objects_total",
			       "Total number of distributed objects in the cluster", labels, 3, NULL, 0,
			       &t->gauge);
	return rc;
}

static void gauge_add(struct pg_objects *t, enum obj_type ty, uint32_t shard, double d)
{
	char sh[16];
	const char *values[3];
	struct pg_series *s;

	if (!t->gauge)
		return;
	snprintf(sh, sizeof(sh), "%u", shard);
	values[0] = t->node_label;
	values[1] = type_names[ty];
	values[2] = sh;
	s = pg_family_series(t->gauge, values);
	if (s) /* NULL past the family's series bound: the count is skipped, not wrong */
		pg_series_add(s, d);
}

/* Inserts id with type ty. Returns PG_EEXIST with *existing set when the id is
 * present. */
static int insert(struct pg_objects *t, enum obj_type ty, const char *id, size_t len,
		  enum obj_type *existing, uint32_t *shard_out)
{
	uint32_t h = table_hash(t, id, len);
	struct stripe *s = stripe_of(t, h);
	struct obj *o, *old;
	int rc = PG_OK;

	if (atomic_fetch_add(&t->count, 1) >= t->max) {
		atomic_fetch_sub(&t->count, 1);
		return pg_fail(PG_ENOMEM, "the object table is full (%zu objects)", t->max);
	}
	o = calloc(1, sizeof(*o) + len + 1);
	if (!o) {
		atomic_fetch_sub(&t->count, 1);
		return pg_fail(PG_ENOMEM, "out of memory for object %.64s", id);
	}
	o->hash = h;
	o->type = ty;
	o->shard = pg_shard_of(id, len, t->shards);
	o->created = (int64_t)time(NULL);
	o->id_len = len;
	memcpy(o->id, id, len);
	atomic_init(&o->value, 0);

	pg_mutex_lock(&s->lock);
	old = find(s, h, id, len);
	if (old) {
		*existing = old->type;
		rc = PG_EEXIST;
	} else {
		size_t b = bucket_of(s, h);

		o->next = s->buckets[b];
		s->buckets[b] = o;
		s->n++;
		if (s->n > 2 * s->n_buckets)
			grow(s);
	}
	pg_mutex_unlock(&s->lock);
	if (rc == PG_EEXIST) {
		free(o);
		atomic_fetch_sub(&t->count, 1);
		return rc;
	}
	if (shard_out)
		*shard_out = o->shard;
	gauge_add(t, ty, o->shard, 1);
	return PG_OK;
}

/* Goverse's createObject wording, for create and for the auto-create of a call. */
static int type_mismatch(int rc, const char *id, const char *type, enum obj_type real)
{
	return pg_fail(rc, "object with id %.200s already exists but with different type: expected %.64s, got %s",
		       id, type ? type : "", type_names[real]);
}

static int unknown_type(const char *type)
{
	return pg_fail(PG_EINVAL, "unknown object type: %.64s (known types: %s)", type ? type : "",
		       PG_OBJECTS_TYPES);
}

/* The type of the object id, if it exists. */
static int existing_type(struct pg_objects *t, const char *id, size_t len, enum obj_type *out)
{
	uint32_t h = table_hash(t, id, len);
	struct stripe *s = stripe_of(t, h);
	struct obj *o;

	pg_mutex_lock(&s->lock);
	o = find(s, h, id, len);
	if (o)
		*out = o->type;
	pg_mutex_unlock(&s->lock);
	return o != NULL;
}

/* Goverse's Node.createObject: an existing object of the same type is
 * success, of another type an error; only then is the type looked up. The
 * lookup comes before the insert so that a full table still finds it. */
static int create_or_get(struct pg_objects *t, const char *type, const char *id, size_t len,
			 uint32_t *shard_out)
{
	enum obj_type ty = T_COUNT, existing = T_COUNTER;
	int known = type && lookup_type(type, &ty);
	int rc = PG_EEXIST;

	if (!existing_type(t, id, len, &existing)) {
		if (!known)
			return unknown_type(type);
		rc = insert(t, ty, id, len, &existing, shard_out);
	}
	if (rc != PG_EEXIST) /* created, or a failure */
		return rc;
	if (!known || existing != ty)
		return type_mismatch(PG_EEXIST, id, type, existing);
	if (shard_out)
		*shard_out = pg_shard_of(id, len, t->shards);
	return PG_OK;
}

int pg_objects_create(struct pg_objects *t, const char *type, const char *id, uint32_t *shard_out)
{
	size_t len;
	int rc;

	if ((rc = check_id(id, &len)) != PG_OK)
		return rc;
	return create_or_get(t, type, id, len, shard_out);
}

int pg_objects_delete(struct pg_objects *t, const char *type, const char *id)
{
	struct obj **pp, *o = NULL;
	struct stripe *s;
	uint32_t h;
	size_t len;
	int rc;

	if ((rc = check_id(id, &len)) != PG_OK)
		return rc;
	/* Goverse requires the caller to assert the type, so an id cannot be
	 * deleted under a type the caller is allowed to touch. */
	if (!type || !type[0])
		return pg_fail(PG_EINVAL, "DeleteObject requires a non-empty type");
	h = table_hash(t, id, len);
	s = stripe_of(t, h);
	pg_mutex_lock(&s->lock);
	for (pp = &s->buckets[bucket_of(s, h)]; *pp; pp = &(*pp)->next) {
		o = *pp;
		if (o->hash == h && o->id_len == len && memcmp(o->id, id, len) == 0)
			break;
	}
	o = *pp;
	if (o && strcmp(type, type_names[o->type]) != 0) {
		rc = pg_fail(PG_EINVAL, "delete rejected: type mismatch for %.200s (claimed %.64s, real %s)", id,
			     type, type_names[o->type]);
		o = NULL;
	} else if (o) {
		*pp = o->next;
		s->n--;
	}
	pg_mutex_unlock(&s->lock);
	if (o) {
		atomic_fetch_sub(&t->count, 1);
		gauge_add(t, o->type, o->shard, -1);
		free(o);
	}
	return rc; /* a missing object is already deleted, as in Goverse */
}

size_t pg_objects_count(struct pg_objects *t)
{
	return atomic_load(&t->count);
}

void pg_any_clear(struct pg_any *a)
{
	if (!a)
		return;
	free(a->type_url);
	free(a->value);
	memset(a, 0, sizeof(*a));
}

/* Go's anypb matches the full message name after the last '/'. */
static int any_is(const struct pg_any *a, const char *full_name)
{
	const char *slash;

	if (!a->type_url)
		return 0;
	slash = strrchr(a->type_url, '/');
	return strcmp(slash ? slash + 1 : a->type_url, full_name) == 0;
}

/* Int32 from its two's complement bits, without implementation-defined casts. */
static int32_t bits_to_i32(uint32_t u)
{
	return u <= INT32_MAX ? (int32_t)u : (int32_t)(u - 0x80000000u) + INT32_MIN;
}

static int set_any(struct pg_any *out, const char *type_url, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	out->type_url = strdup(type_url);
	out->value = malloc(n ? n : 1);
	if (!out->type_url || !out->value) {
		pg_any_clear(out);
		return pg_fail(PG_ENOMEM, "out of memory for a reply");
	}
	out->len = protobuf_c_message_pack(m, out->value);
	out->present = 1;
	return PG_OK;
}

enum counter_method { M_INCREMENT, M_DECREMENT, M_GET, M_RESET };

/* Reads the request Any for a counter method. An absent Any is refused:
 * Goverse hands the method a nil request, which InvokeMethod refuses. */
static int counter_amount(enum counter_method m, const struct pg_any *req, int32_t *amount)
{
	static const char *const names[] = {"counter.IncrementRequest", "counter.DecrementRequest",
					    "counter.GetRequest", "counter.ResetRequest"};
	static const ProtobufCMessageDescriptor *const descs[] = {
		&counter__increment_request__descriptor, &counter__decrement_request__descriptor,
		&counter__get_request__descriptor, &counter__reset_request__descriptor};
	ProtobufCMessage *msg;

	*amount = 0;
	if (!req || !req->present)
		return pg_fail(PG_EINVAL, "request type mismatch: expected %s, got <nil>", names[m]);
	if (!any_is(req, names[m]))
		return pg_fail(PG_EINVAL, "request type mismatch: expected %s, got %.128s", names[m],
			       req->type_url ? req->type_url : "");
	msg = protobuf_c_message_unpack(descs[m], NULL, req->len, req->value);
	if (!msg)
		return pg_fail(PG_EINVAL, "request %s does not decode", names[m]);
	if (m == M_INCREMENT)
		*amount = ((Counter__IncrementRequest *)msg)->amount;
	else if (m == M_DECREMENT)
		*amount = ((Counter__DecrementRequest *)msg)->amount;
	protobuf_c_message_free_unpacked(msg, NULL);
	return PG_OK;
}

/* Runs a method on o; the caller holds o's stripe lock (read mode). */
static int invoke(struct obj *o, const char *method, const struct pg_any *req, struct pg_any *resp)
{
	Counter__CounterResponse cr = COUNTER__COUNTER_RESPONSE__INIT;
	enum counter_method m;
	uint32_t v;
	int32_t amount;
	int rc;

	if (o->type == T_ECHO) {
		if (strcmp(method, "Echo") != 0)
			return pg_fail(PG_EINVAL, "method not found in class Echo: %.64s (methods: Echo)", method);
		if (!req || !req->present)
			return pg_fail(PG_EINVAL, "request type mismatch: expected a message to echo, got <nil>");
		resp->type_url = strdup(req->type_url ? req->type_url : "");
		resp->value = malloc(req->len ? req->len : 1);
		if (!resp->type_url || !resp->value) {
			pg_any_clear(resp);
			return pg_fail(PG_ENOMEM, "out of memory for a reply");
		}
		if (req->len)
			memcpy(resp->value, req->value, req->len);
		resp->len = req->len;
		resp->present = 1;
		return PG_OK;
	}
	if (strcmp(method, "Increment") == 0 || strcmp(method, "Add") == 0)
		m = M_INCREMENT;
	else if (strcmp(method, "Decrement") == 0)
		m = M_DECREMENT;
	else if (strcmp(method, "Get") == 0)
		m = M_GET;
	else if (strcmp(method, "Reset") == 0)
		m = M_RESET;
	else
		return pg_fail(PG_EINVAL,
			       "method not found in class Counter: %.64s (methods: Increment, Add, Decrement, Get, Reset)",
			       method);
	if ((rc = counter_amount(m, req, &amount)) != PG_OK)
		return rc;
	/* Unsigned arithmetic wraps like Go's int32 does, without UB. */
	switch (m) {
	case M_INCREMENT:
		v = atomic_fetch_add(&o->value, (uint32_t)amount) + (uint32_t)amount;
		break;
	case M_DECREMENT:
		v = atomic_fetch_sub(&o->value, (uint32_t)amount) - (uint32_t)amount;
		break;
	case M_RESET:
		atomic_store(&o->value, 0);
		v = 0;
		break;
	default:
		v = atomic_load(&o->value);
		break;
	}
	cr.name = o->id;
	cr.value = bits_to_i32(v);
	return set_any(resp, TYPE_URL_PREFIX "counter.CounterResponse", &cr.base);
}

/* Prefixes the sentence pg_fail recorded last, as Goverse wraps the error of
 * the auto-create in a call. */
static int auto_create_failed(int rc, const char *id)
{
	char why[400];

	snprintf(why, sizeof(why), "%s", pg_errmsg());
	return pg_fail(rc, "failed to auto-create object %.64s: %s", id ? id : "", why);
}

int pg_objects_call(struct pg_objects *t, const char *type, const char *id, const char *method,
		    const struct pg_any *req, struct pg_any *resp, const char **type_out)
{
	struct stripe *s;
	struct obj *o;
	uint32_t h;
	size_t len;
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (type_out)
		*type_out = NULL;
	if ((rc = check_id(id, &len)) != PG_OK)
		return auto_create_failed(rc, id);
	h = table_hash(t, id, len);
	s = stripe_of(t, h);
	for (int attempt = 0;; attempt++) {
		/* Goverse's Node.CallObject: the auto-create (which, for an
		 * existing object, checks its type), then the method. */
		pg_mutex_lock(&s->lock);
		o = find(s, h, id, len);
		if (o) {
			if (!type || strcmp(type, type_names[o->type]) != 0) {
				(void)type_mismatch(PG_EEXIST, id, type, o->type);
				rc = auto_create_failed(PG_EINVAL, id);
			} else {
				if (type_out)
					*type_out = type_names[o->type];
				rc = invoke(o, method ? method : "", req, resp);
			}
		}
		pg_mutex_unlock(&s->lock);
		if (o)
			return rc;
		if (attempt > 0) /* created, then deleted before we got to it */
			return pg_fail(PG_ENOTFOUND, "object %.200s was not found [RETRY]", id);
		rc = create_or_get(t, type, id, len, NULL);
		if (rc != PG_OK)
			return auto_create_failed(rc == PG_EEXIST ? PG_EINVAL : rc, id);
	}
}

int pg_objects_list(struct pg_objects *t, size_t max, struct pg_object_info **out, size_t *n)
{
	size_t cap = pg_objects_count(t), k = 0;
	struct pg_object_info *v;

	*out = NULL;
	*n = 0;
	if (cap > max)
		cap = max;
	v = calloc(cap ? cap : 1, sizeof(*v));
	if (!v)
		return pg_fail(PG_ENOMEM, "out of memory listing %zu objects", cap);
	for (size_t i = 0; i < STRIPES && k < cap; i++) {
		struct stripe *s = &t->stripes[i];
		int oom = 0;

		pg_mutex_lock(&s->lock);
		for (size_t j = 0; j < s->n_buckets && k < cap && !oom; j++)
			for (struct obj *o = s->buckets[j]; o && k < cap; o = o->next) {
				v[k].id = malloc(o->id_len + 1);
				if (!v[k].id) {
					oom = 1;
					break;
				}
				memcpy(v[k].id, o->id, o->id_len + 1);
				v[k].type = type_names[o->type];
				v[k].creation_time = o->created;
				v[k].shard = o->shard;
				k++;
			}
		pg_mutex_unlock(&s->lock);
		if (oom) {
			pg_objects_list_free(&v, k);
			return pg_fail(PG_ENOMEM, "out of memory listing objects");
		}
	}
	*out = v;
	*n = k;
	return PG_OK;
}

void pg_objects_list_free(struct pg_object_info **pp, size_t n)
{
	if (!pp || !*pp)
		return;
	for (size_t i = 0; i < n; i++)
		free((*pp)[i].id);
	free(*pp);
	*pp = NULL;
}
