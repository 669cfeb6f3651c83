/* pprofgatectl window open|close|status|request|approve|deny|requests: calls
 * the admin API (proto/admin.proto) over mutual TLS with the gRPC core C API. */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/admin.pb-c.h"
#include "src/cli/args.h"
#include "src/cli/cmd.h"

#define PFX "pprofgatectl window"

static void window_usage(FILE *f)
{
	fputs("usage:\n"
	      "  pprofgatectl window open --for DURATION --reason TEXT [--profiles a,b] [--cluster]\n"
	      "  pprofgatectl window close [--cluster]\n"
	      "  pprofgatectl window status\n"
	      "  pprofgatectl window request --for DURATION --reason TEXT [--profiles a,b] [--cluster]\n"
	      "  pprofgatectl window approve ID\n"
	      "  pprofgatectl window deny ID [--reason TEXT]\n"
	      "  pprofgatectl window requests\n"
	      "Opens, closes or shows the diagnostics window of the node at --admin (PPROFGATE_ADMIN).\n"
	      "--cluster opens/closes it on every node of the cluster through etcd. Needs --cert,\n"
	      "--key and --cacert (PPROFGATE_CERT, PPROFGATE_KEY, PPROFGATE_CACERT): a client\n"
	      "certificate listed in the node's admin.allowed_identities.\n"
	      "close always closes the window on the node asked, at once; with --cluster and etcd\n"
	      "unreachable it says so and exits 6 (other nodes close within their grace).\n"
	      "status and open print the window's id, which `token mint --bind-window ID` names.\n"
	      "\n"
	      "Four-eyes windows (admin.require_approval: true on the node; open is then refused):\n"
	      "request creates a pending request and prints its id; another allowed admin identity\n"
	      "runs approve ID (through any node, for --cluster requests) to open it for its\n"
	      "duration. Approving your own request is refused (exit 3); one that expired\n"
	      "(admin.request_ttl_seconds), or was approved or denied already, exits 2. deny\n"
	      "drops a request; requests lists the pending ones.\n",
	      f);
}

static int code_exit(grpc_status_code s)
{
	switch (s) {
	case GRPC_STATUS_OK:
		return PG_CLI_OK;
	case GRPC_STATUS_PERMISSION_DENIED:
	case GRPC_STATUS_UNAUTHENTICATED:
		return PG_CLI_DENIED;
	case GRPC_STATUS_UNAVAILABLE:
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		return PG_CLI_UNREACHABLE;
	case GRPC_STATUS_INVALID_ARGUMENT:
	case GRPC_STATUS_NOT_FOUND:
	case GRPC_STATUS_FAILED_PRECONDITION:
		return PG_CLI_USAGE;
	default:
		return PG_CLI_SERVER;
	}
}

static bool trailer_is(const grpc_metadata_array *md, const char *key, const char *value)
{
	for (size_t i = 0; i < md->count; i++) {
		const grpc_metadata *m = &md->metadata[i];

		if (GRPC_SLICE_LENGTH(m->key) == strlen(key) &&
		    memcmp(GRPC_SLICE_START_PTR(m->key), key, strlen(key)) == 0 &&
		    GRPC_SLICE_LENGTH(m->value) == strlen(value) &&
		    memcmp(GRPC_SLICE_START_PTR(m->value), value, strlen(value)) == 0)
			return true;
	}
	return false;
}

/* One unary call. On success *resp (malloc'd) holds the reply message. */
static int call(const struct pg_cli_conn *c, const char *method, const uint8_t *req, size_t req_len,
		uint8_t **resp, size_t *resp_len)
{
	char *cert = NULL, *key = NULL, *ca = NULL;
	grpc_ssl_pem_key_cert_pair pair;
	grpc_channel_credentials *creds = NULL;
	grpc_channel *ch = NULL;
	grpc_completion_queue *cq = NULL;
	grpc_call *gc = NULL;
	grpc_metadata_array md_init, md_trail;
	grpc_byte_buffer *send = NULL, *recv = NULL;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice(), ms, body;
	grpc_op ops[6];
	int rc = PG_CLI_FAILED;

	*resp = NULL;
	*resp_len = 0;
	if (!c->cert || !c->key || !c->cacert) {
		fprintf(stderr, "%s: needs --cert, --key and --cacert (or PPROFGATE_CERT, PPROFGATE_KEY, "
				"PPROFGATE_CACERT): the admin API requires mutual TLS\n", PFX);
		return PG_CLI_USAGE;
	}
	if ((rc = pg_cli_check_own_cert(c, PFX)) != PG_CLI_OK)
		return rc;
	rc = PG_CLI_FAILED;
	if (pg_cli_read_file(c->cert, &cert, NULL) || pg_cli_read_file(c->key, &key, NULL) ||
	    pg_cli_read_file(c->cacert, &ca, NULL)) {
		fprintf(stderr, "%s: cannot read the certificate, key or CA file\n", PFX);
		goto out_files;
	}
	/* gRPC's own log lines would repeat, less clearly, what is printed below. */
	setenv("GRPC_VERBOSITY", "NONE", 0);
	grpc_init();
	pair.private_key = key;
	pair.cert_chain = cert;
	creds = grpc_ssl_credentials_create(ca, &pair, NULL, NULL);
	ch = grpc_channel_create(c->admin, creds, NULL);
	cq = grpc_completion_queue_create_for_pluck(NULL);
	ms = grpc_slice_from_static_string(method);
	gc = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, ms, NULL,
				      gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
						   gpr_time_from_seconds(c->timeout_s, GPR_TIMESPAN)),
				      NULL);
	grpc_metadata_array_init(&md_init);
	grpc_metadata_array_init(&md_trail);
	body = grpc_slice_from_copied_buffer((const char *)req, req_len);
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
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	if (grpc_call_start_batch(gc, ops, 6, gc, NULL) != GRPC_CALL_OK) {
		fprintf(stderr, "%s: internal error starting the call\n", PFX);
	} else {
		grpc_completion_queue_pluck(cq, gc, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		rc = code_exit(status);
		if (status != GRPC_STATUS_OK) {
			char *d = grpc_slice_to_c_string(details);
			bool etcd = trailer_is(&md_trail, "pprofgate-component", "etcd");

			if (etcd) {
				rc = PG_CLI_ETCD;
				fprintf(stderr, "%s: the admin API at %s answered, but etcd did not: %s\n", PFX,
					c->admin, d);
			} else if (rc == PG_CLI_UNREACHABLE) {
				/* Client certificates are judged per call, not in the
				 * handshake: this is the network, the address or the
				 * node's server certificate. */
				fprintf(stderr, "%s: cannot reach the admin API at %s (%s); check --admin and that "
						"--cacert is the CA of the node's admin server certificate\n",
					PFX, c->admin, d && *d ? d : "unavailable");
			} else if (rc == PG_CLI_DENIED) {
				fprintf(stderr, "%s: the admin API at %s refused the call: %s\n", PFX, c->admin, d);
			} else {
				fprintf(stderr, "%s: the admin API at %s: %s\n", PFX, c->admin, d);
			}
			gpr_free(d);
		} else if (recv) {
			grpc_byte_buffer_reader rd;
			if (grpc_byte_buffer_reader_init(&rd, recv)) {
				grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
				*resp_len = GRPC_SLICE_LENGTH(s);
				*resp = malloc(*resp_len ? *resp_len : 1);
				if (*resp)
					memcpy(*resp, GRPC_SLICE_START_PTR(s), *resp_len);
				else
					rc = PG_CLI_FAILED;
				grpc_slice_unref(s);
				grpc_byte_buffer_reader_destroy(&rd);
			}
		}
	}
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&md_init);
	grpc_metadata_array_destroy(&md_trail);
	if (send)
		grpc_byte_buffer_destroy(send);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_call_unref(gc);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_channel_destroy(ch);
	grpc_channel_credentials_release(creds);
	grpc_shutdown();
out_files:
	free(cert);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(ca);
	return rc;
}

static void print_profiles(char **p, size_t n)
{
	if (n == 0)
		printf("all");
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? "," : "", p[i]);
}

static int print_status(const uint8_t *b, size_t n, const char *verb)
{
	Pprofgate__Admin__V1__WindowStatus *st = pprofgate__admin__v1__window_status__unpack(NULL, n, b);
	char left[32];
	int rc = PG_CLI_OK;

	if (!st) {
		fprintf(stderr, "%s: the node sent a malformed reply\n", PFX);
		return PG_CLI_SERVER;
	}
	if (!st->open) {
		printf("window: closed%s%s\n", verb ? verb : "",
		       st->cluster_error && st->cluster_error[0] ? " (this node)" : "");
	} else {
		pg_cli_format_secs(st->seconds_left, left, sizeof(left));
		printf("window: open%s (%s)\n", verb ? verb : "", st->cluster ? "cluster" : "this node");
		printf("opened by: %s\n", st->opened_by);
		if (st->approved_by && st->approved_by[0])
			printf("approved by: %s\n", st->approved_by);
		if (st->id && st->id[0])
			printf("window id: %s\n", st->id);
		printf("reason: %s\ntime left: %s\nprofiles: ", st->reason, left);
		print_profiles(st->profiles, st->n_profiles);
		printf("\n");
	}
	if (st->cluster_error && st->cluster_error[0]) {
		/* This node did its part; etcd (the other nodes' part) did not. */
		fprintf(stderr, "%s: %s\n", PFX, st->cluster_error);
		rc = PG_CLI_ETCD;
	}
	pprofgate__admin__v1__window_status__free_unpacked(st, NULL);
	return rc;
}

/* RequestWindow and DenyWindow answer one request. */
static int print_request(const uint8_t *b, size_t n, const char *what)
{
	Pprofgate__Admin__V1__WindowRequest *q = pprofgate__admin__v1__window_request__unpack(NULL, n, b);
	char dur[32], exp[32];

	if (!q || !q->id || !q->id[0]) {
		fprintf(stderr, "%s: the node sent a malformed reply\n", PFX);
		if (q)
			pprofgate__admin__v1__window_request__free_unpacked(q, NULL);
		return PG_CLI_SERVER;
	}
	pg_cli_format_secs(q->duration_seconds, dur, sizeof(dur));
	pg_cli_format_secs(q->expires_in_seconds, exp, sizeof(exp));
	printf("request %s: %s\nid: %s\nrequested by: %s\nreason: %s\nduration: %s (%s)\nprofiles: ", q->id, what,
	       q->id, q->requested_by, q->reason, dur, q->cluster ? "cluster" : "this node");
	print_profiles(q->profiles, q->n_profiles);
	printf("\nexpires in: %s\n", exp);
	pprofgate__admin__v1__window_request__free_unpacked(q, NULL);
	return PG_CLI_OK;
}

/* ListWindowRequests: one line per pending request. */
static int print_requests(const uint8_t *b, size_t n)
{
	Pprofgate__Admin__V1__WindowRequests *l = pprofgate__admin__v1__window_requests__unpack(NULL, n, b);
	int rc = PG_CLI_OK;

	if (!l) {
		fprintf(stderr, "%s: the node sent a malformed reply\n", PFX);
		return PG_CLI_SERVER;
	}
	if (l->n_requests == 0) {
		printf("no pending window requests\n");
	} else {
		printf("%-22s  %-7s  %-32s  %-8s  %-7s  %-8s  %s\n", "ID", "SCOPE", "REQUESTER", "DURATION", "AGE",
		       "EXPIRES", "REASON");
	}
	for (size_t i = 0; i < l->n_requests; i++) {
		const Pprofgate__Admin__V1__WindowRequest *q = l->requests[i];
		char dur[32], age[32], exp[32];

		pg_cli_format_secs(q->duration_seconds, dur, sizeof(dur));
		pg_cli_format_secs(q->age_seconds, age, sizeof(age));
		pg_cli_format_secs(q->expires_in_seconds, exp, sizeof(exp));
		printf("%-22s  %-7s  %-32s  %-8s  %-7s  %-8s  %s\n", q->id, q->cluster ? "cluster" : "node",
		       q->requested_by, dur, age, exp, q->reason);
	}
	if (l->cluster_error && l->cluster_error[0]) {
		fprintf(stderr, "%s: %s\n", PFX, l->cluster_error);
		rc = PG_CLI_ETCD;
	}
	pprofgate__admin__v1__window_requests__free_unpacked(l, NULL);
	return rc;
}

/* A request message's bytes (malloc'd, at least 1 byte), or NULL. */
static uint8_t *pack_msg(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *b;

	*len = protobuf_c_message_get_packed_size(m);
	b = malloc(*len ? *len : 1);
	if (b)
		protobuf_c_message_pack(m, b);
	return b;
}

int pg_cli_cmd_window(struct pg_cli_conn *c, int argc, char **argv)
{
	uint8_t *req = NULL, *resp = NULL;
	size_t req_len = 0, resp_len = 0;
	const char *method, *verb = NULL, *v;
	enum { REPLY_STATUS, REPLY_REQUEST, REPLY_LIST } kind = REPLY_STATUS;
	int rc;

	if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		window_usage(argc < 1 ? stderr : stdout);
		return argc < 1 ? PG_CLI_USAGE : PG_CLI_OK;
	}
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			window_usage(stdout);
			return PG_CLI_OK;
		}
	if (strcmp(argv[0], "open") == 0 || strcmp(argv[0], "request") == 0) {
		Pprofgate__Admin__V1__OpenWindowRequest q = PPROFGATE__ADMIN__V1__OPEN_WINDOW_REQUEST__INIT;
		const char *sub = argv[0];
		char profs[16][32];
		char *pp[16];
		size_t np = 0;
		int64_t ms = 0;
		bool have_for = false;

		for (int i = 1; i < argc; i++) {
			int m;
			if ((m = pg_cli_flag(argc, argv, &i, "--for", &v)) == 1) {
				if (pg_cli_parse_duration(v, &ms) != 0 || ms < 1000 || ms % 1000) {
					fprintf(stderr, "%s %s: --for takes whole seconds, e.g. 15m, 90s, 1h\n", PFX, sub);
					return PG_CLI_USAGE;
				}
				have_for = true;
			} else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--reason", &v)) == 1) {
				q.reason = (char *)v;
			} else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--profiles", &v)) == 1) {
				if (pg_cli_split_profiles(v, profs, 16, &np) != 0) {
					fprintf(stderr, "%s %s: --profiles takes names like heap,profile\n", PFX, sub);
					return PG_CLI_USAGE;
				}
			} else if (m == 0 && strcmp(argv[i], "--cluster") == 0) {
				q.cluster = true;
				continue;
			}
			if (m != 1) {
				fprintf(stderr, "%s %s: %s %s\n", PFX, sub, argv[i],
					m == -1 ? "needs a value" : "is not a flag of this command");
				return PG_CLI_USAGE;
			}
		}
		if (!have_for || !q.reason || !q.reason[0]) {
			fprintf(stderr, "%s %s: --for DURATION and --reason TEXT are required\n", PFX, sub);
			return PG_CLI_USAGE;
		}
		if (ms / 1000 > UINT32_MAX) {
			fprintf(stderr, "%s %s: --for is too long\n", PFX, sub);
			return PG_CLI_USAGE;
		}
		q.duration_seconds = (uint32_t)(ms / 1000);
		for (size_t k = 0; k < np; k++)
			pp[k] = profs[k];
		q.profiles = pp;
		q.n_profiles = np;
		if (!(req = pack_msg(&q.base, &req_len)))
			return PG_CLI_FAILED;
		if (strcmp(sub, "request") == 0) {
			method = "/pprofgate.admin.v1.Diagnostics/RequestWindow";
			kind = REPLY_REQUEST;
			verb = "pending approval";
		} else {
			method = "/pprofgate.admin.v1.Diagnostics/OpenWindow";
			verb = "";
		}
	} else if (strcmp(argv[0], "close") == 0) {
		Pprofgate__Admin__V1__CloseWindowRequest q = PPROFGATE__ADMIN__V1__CLOSE_WINDOW_REQUEST__INIT;
		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--cluster") != 0) {
				fprintf(stderr, "%s close: %s is not a flag of this command\n", PFX, argv[i]);
				return PG_CLI_USAGE;
			}
			q.cluster = true;
		}
		if (!(req = pack_msg(&q.base, &req_len)))
			return PG_CLI_FAILED;
		method = "/pprofgate.admin.v1.Diagnostics/CloseWindow";
	} else if (strcmp(argv[0], "status") == 0) {
		if (argc > 1) {
			fprintf(stderr, "%s status: takes no arguments\n", PFX);
			return PG_CLI_USAGE;
		}
		req = malloc(1);
		if (!req)
			return PG_CLI_FAILED;
		method = "/pprofgate.admin.v1.Diagnostics/GetWindow";
	} else if (strcmp(argv[0], "approve") == 0 || strcmp(argv[0], "deny") == 0) {
		Pprofgate__Admin__V1__DecideWindowRequest q = PPROFGATE__ADMIN__V1__DECIDE_WINDOW_REQUEST__INIT;
		bool approve = strcmp(argv[0], "approve") == 0;
		const char *id = NULL;

		for (int i = 1; i < argc; i++) {
			int m = approve ? 0 : pg_cli_flag(argc, argv, &i, "--reason", &v);

			if (m == 1) {
				q.reason = (char *)v;
			} else if (m == 0 && !id) {
				id = argv[i]; /* ids may start with '-' (base64url) */
			} else {
				fprintf(stderr, "%s %s: %s %s\n", PFX, argv[0], argv[i],
					m == -1 ? "needs a value" : "is not an argument of this command");
				return PG_CLI_USAGE;
			}
		}
		q.id = (char *)id;
		if (!id) {
			fprintf(stderr, "%s %s: the request ID is required (see pprofgatectl window requests)\n", PFX,
				argv[0]);
			return PG_CLI_USAGE;
		}
		if (!(req = pack_msg(&q.base, &req_len)))
			return PG_CLI_FAILED;
		if (approve) {
			method = "/pprofgate.admin.v1.Diagnostics/ApproveWindow";
			verb = " (approved)";
		} else {
			method = "/pprofgate.admin.v1.Diagnostics/DenyWindow";
			kind = REPLY_REQUEST;
			verb = "denied";
		}
	} else if (strcmp(argv[0], "requests") == 0) {
		if (argc > 1) {
			fprintf(stderr, "%s requests: takes no arguments\n", PFX);
			return PG_CLI_USAGE;
		}
		req = malloc(1);
		if (!req)
			return PG_CLI_FAILED;
		method = "/pprofgate.admin.v1.Diagnostics/ListWindowRequests";
		kind = REPLY_LIST;
	} else {
		fprintf(stderr, "%s: unknown subcommand \"%.40s\"; use open, close, status, request, approve, deny "
				"or requests\n",
			PFX, argv[0]);
		return PG_CLI_USAGE;
	}
	rc = call(c, method, req, req_len, &resp, &resp_len);
	if (rc == PG_CLI_OK)
		rc = kind == REPLY_REQUEST ? print_request(resp, resp_len, verb)
		     : kind == REPLY_LIST  ? print_requests(resp, resp_len)
					   : print_status(resp, resp_len, verb);
	free(req);
	free(resp);
	return rc;
}
