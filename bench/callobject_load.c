/* callobject_load: a closed-loop CallObject load generator for a pprofgate
 * (or Goverse) node, over loopback only.
 *
 *   callobject_load [-t 127.0.0.1:47000] [-c CONNS] [-m INFLIGHT] [-d SECONDS]
 *                   [-n MAXCALLS] [-o OBJECTS]
 *
 * Opens CONNS channels (separate HTTP/2 connections) and keeps INFLIGHT
 * Counter.Increment calls outstanding on each, for SECONDS or MAXCALLS calls,
 * whichever comes first, spread over OBJECTS counters ("bench-<k>", created on
 * first call). Prints throughput and p50/p90/p99/max latency. One thread
 * drives everything through one completion queue. */
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/counter.pb-c.h"
#include "proto/goverse.pb-c.h"

#define MAX_CONNS 256
#define MAX_INFLIGHT 1024
#define MAX_OBJECTS 100000
#define MAX_SECONDS 600
#define MAX_CALLS 20000000L

struct slot {
	grpc_channel *ch;
	grpc_call *call;
	grpc_byte_buffer *send, *recv;
	grpc_metadata_array md, trailing;
	grpc_status_code status;
	grpc_slice details;
	double started;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long parse_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "callobject_load: %s must be %ld..%ld, got \"%s\"\n", what, lo, hi, s);
		exit(2);
	}
	return v;
}

static int loopback(const char *t)
{
	return strncmp(t, "127.", 4) == 0 || strncmp(t, "localhost:", 10) == 0 ||
	       strncmp(t, "[::1]:", 6) == 0;
}

static grpc_byte_buffer *request_for(long k, long objects)
{
	Goverse__CallObjectRequest q = GOVERSE__CALL_OBJECT_REQUEST__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	Counter__IncrementRequest inc = COUNTER__INCREMENT_REQUEST__INIT;
	uint8_t ibuf[16], qbuf[256];
	char id[32];
	grpc_slice s;
	grpc_byte_buffer *bb;

	inc.amount = 1;
	any.type_url = "type.googleapis.com/counter.IncrementRequest";
	any.value.data = ibuf;
	any.value.len = counter__increment_request__pack(&inc, ibuf);
	snprintf(id, sizeof(id), "bench-%ld", k % objects);
	q.id = id;
	q.type = "Counter";
	q.method = "Increment";
	q.request = &any;
	s = grpc_slice_from_copied_buffer((const char *)qbuf, goverse__call_object_request__pack(&q, qbuf));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

static int start_call(struct slot *sl, grpc_completion_queue *cq, grpc_slice method, long k,
		      long objects)
{
	grpc_op ops[6];
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					     gpr_time_from_seconds(10, GPR_TIMESPAN));

	memset(ops, 0, sizeof(ops));
	sl->call = grpc_channel_create_call(sl->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
					    deadline, NULL);
	sl->send = request_for(k, objects);
	sl->recv = NULL;
	grpc_metadata_array_init(&sl->md);
	grpc_metadata_array_init(&sl->trailing);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = sl->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &sl->md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &sl->recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &sl->trailing;
	ops[5].data.recv_status_on_client.status = &sl->status;
	ops[5].data.recv_status_on_client.status_details = &sl->details;
	sl->started = now_s();
	return grpc_call_start_batch(sl->call, ops, 6, sl, NULL) == GRPC_CALL_OK ? 0 : -1;
}

static void finish_call(struct slot *sl)
{
	grpc_byte_buffer_destroy(sl->send);
	if (sl->recv)
		grpc_byte_buffer_destroy(sl->recv);
	grpc_metadata_array_destroy(&sl->md);
	grpc_metadata_array_destroy(&sl->trailing);
	grpc_slice_unref(sl->details);
	grpc_call_unref(sl->call);
	sl->call = NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *target = "127.0.0.1:47000";
	long conns = 4, inflight = 16, seconds = 5, max_calls = 5000000, objects = 100;
	long started = 0, done = 0, errors = 0, active = 0, n_lat = 0;
	struct slot *slots;
	uint32_t *lat; /* microseconds */
	grpc_completion_queue *cq;
	grpc_channel_credentials *creds;
	grpc_channel *chans[MAX_CONNS];
	grpc_slice method;
	double t0, t_end, elapsed;
	int opt, last_code = 0;

	while ((opt = getopt(argc, argv, "t:c:m:d:n:o:h")) != -1) {
		switch (opt) {
		case 't': target = optarg; break;
		case 'c': conns = parse_num(optarg, 1, MAX_CONNS, "-c connections"); break;
		case 'm': inflight = parse_num(optarg, 1, MAX_INFLIGHT, "-m in-flight calls per connection"); break;
		case 'd': seconds = parse_num(optarg, 1, MAX_SECONDS, "-d seconds"); break;
		case 'n': max_calls = parse_num(optarg, 1, MAX_CALLS, "-n max calls"); break;
		case 'o': objects = parse_num(optarg, 1, MAX_OBJECTS, "-o objects"); break;
		default:
			fprintf(stderr, "usage: %s [-t 127.0.0.1:47000] [-c CONNS] [-m INFLIGHT] [-d SECONDS] "
					"[-n MAXCALLS] [-o OBJECTS]\n", argv[0]);
			return 2;
		}
	}
	if (!loopback(target)) {
		fprintf(stderr, "callobject_load: target must be a loopback address, got %s\n", target);
		return 2;
	}
	slots = calloc((size_t)(conns * inflight), sizeof(*slots));
	lat = malloc((size_t)max_calls * sizeof(*lat));
	if (!slots || !lat) {
		fprintf(stderr, "callobject_load: out of memory\n");
		return 1;
	}
	grpc_init();
	cq = grpc_completion_queue_create_for_next(NULL);
	creds = grpc_insecure_credentials_create();
	for (long c = 0; c < conns; c++) {
		/* A distinct arg per channel keeps gRPC from sharing one subchannel. */
		grpc_arg a = {GRPC_ARG_INTEGER, "pprofgate.bench_channel", {.integer = (int)c}};
		grpc_channel_args args = {1, &a};

		chans[c] = grpc_channel_create(target, creds, &args);
	}
	method = grpc_slice_from_static_string("/goverse.Goverse/CallObject");
	t0 = now_s();
	t_end = t0 + (double)seconds;
	for (long i = 0; i < conns * inflight && started < max_calls; i++) {
		slots[i].ch = chans[i % conns];
		if (start_call(&slots[i], cq, method, started, objects) == 0) {
			started++;
			active++;
		}
	}
	while (active > 0) {
		grpc_event ev = grpc_completion_queue_next(
			cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(15, GPR_TIMESPAN)),
			NULL);
		struct slot *sl;
		double t;

		if (ev.type != GRPC_OP_COMPLETE) {
			fprintf(stderr, "callobject_load: no completion in 15 s; giving up\n");
			break;
		}
		sl = ev.tag;
		t = now_s();
		active--;
		done++;
		if (!ev.success || sl->status != GRPC_STATUS_OK) {
			errors++;
			last_code = (int)sl->status;
		} else if (n_lat < max_calls) {
			lat[n_lat++] = (uint32_t)((t - sl->started) * 1e6);
		}
		finish_call(sl);
		if (t < t_end && started < max_calls) {
			if (start_call(sl, cq, method, started, objects) == 0) {
				started++;
				active++;
			}
		}
	}
	elapsed = now_s() - t0;
	qsort(lat, (size_t)n_lat, sizeof(*lat), cmp_u32);
	printf("target %s conns %ld inflight/conn %ld objects %ld\n", target, conns, inflight, objects);
	printf("calls %ld ok %ld errors %ld (last code %d) in %.2f s: %.0f calls/s\n", done, n_lat,
	       errors, last_code, elapsed, (double)n_lat / elapsed);
	if (n_lat > 0)
		printf("latency ms p50 %.3f p90 %.3f p99 %.3f max %.3f\n", lat[n_lat * 50 / 100] / 1e3,
		       lat[n_lat * 90 / 100] / 1e3, lat[n_lat * 99 / 100] / 1e3, lat[n_lat - 1] / 1e3);
	for (long c = 0; c < conns; c++)
		grpc_channel_destroy(chans[c]);
	grpc_channel_credentials_release(creds);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_shutdown();
	free(lat);
	free(slots);
	return errors ? 1 : 0;
}
