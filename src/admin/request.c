/* Admin API request decoding; see request.h. */
#include "src/admin/request.h"

#include <stdio.h>
#include <string.h>

#include "proto/admin.pb-c.h"
#include "src/util/rand.h"

static bool method_is(const char *m, size_t ml, const char *name)
{
	size_t pl = strlen(PG_ADMIN_METHOD_PREFIX), nl = strlen(name);

	return ml == pl + nl && memcmp(m, PG_ADMIN_METHOD_PREFIX, pl) == 0 && memcmp(m + pl, name, nl) == 0;
}

/* A printable text of 0..cap-1 bytes (`required`: 1..) into dst. */
static int copy_reason(const char *s, bool required, char *dst, size_t cap)
{
	size_t rl = s ? strlen(s) : 0;

	if ((required && rl == 0) || rl >= cap)
		return pg_fail(PG_EINVAL, "a reason of %d..%zu bytes is required", required ? 1 : 0, cap - 1);
	for (size_t i = 0; i < rl; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return pg_fail(PG_EINVAL, "the reason must not contain control characters");
	if (rl)
		memcpy(dst, s, rl + 1);
	return PG_OK;
}

static int decode_decide(const uint8_t *body, size_t len, struct pg_admin_request *out)
{
	Pprofgate__Admin__V1__DecideWindowRequest *q =
		pprofgate__admin__v1__decide_window_request__unpack(NULL, len, body);
	size_t il;
	int rc = PG_OK;

	if (!q)
		return pg_fail(PG_EINVAL, "malformed DecideWindowRequest");
	il = q->id ? strlen(q->id) : 0;
	if (!pg_rand_id_ok(q->id, il))
		rc = pg_fail(PG_EINVAL, "a request id is 1..64 of [A-Za-z0-9_-] (see `pprofgatectl window requests`)");
	else
		memcpy(out->id, q->id, il + 1);
	if (rc == PG_OK)
		rc = copy_reason(q->reason, false, out->reason, sizeof(out->reason));
	pprofgate__admin__v1__decide_window_request__free_unpacked(q, NULL);
	return rc;
}

enum pg_admin_approval pg_admin_approval_check(const struct pg_request_record *rec, const char *approver,
					       const char *approver_cert, int64_t now_unix_ms)
{
	if (!approver || !approver_cert || strcmp(approver, rec->requested_by) == 0 ||
	    strcmp(approver_cert, rec->requester_cert) == 0 || strcmp(approver, rec->requester_cert) == 0 ||
	    strcmp(approver_cert, rec->requested_by) == 0)
		return PG_ADMIN_APPROVAL_SELF;
	if (now_unix_ms >= rec->expires_unix_ms)
		return PG_ADMIN_APPROVAL_EXPIRED;
	return PG_ADMIN_APPROVAL_OK;
}

static int decode_open(const uint8_t *body, size_t len, int64_t max_ms, struct pg_admin_request *out)
{
	Pprofgate__Admin__V1__OpenWindowRequest *q =
		pprofgate__admin__v1__open_window_request__unpack(NULL, len, body);
	int rc = PG_OK;

	if (!q)
		return pg_fail(PG_EINVAL, "malformed OpenWindowRequest");
	out->duration_ms = (int64_t)q->duration_seconds * 1000;
	out->cluster = q->cluster;
	if (q->duration_seconds == 0 || out->duration_ms > max_ms) {
		rc = pg_fail(PG_EINVAL, "duration must be 1..%lld seconds (admin.window.max_seconds)",
			     (long long)(max_ms / 1000));
		goto out;
	}
	if ((rc = copy_reason(q->reason, true, out->reason, sizeof(out->reason))) != PG_OK)
		goto out;
	if (q->n_profiles > PG_AUTH_WINDOW_MAX_PROFILES) {
		rc = pg_fail(PG_EINVAL, "at most %d profiles", PG_AUTH_WINDOW_MAX_PROFILES);
		goto out;
	}
	for (size_t i = 0; i < q->n_profiles; i++) {
		size_t n = q->profiles[i] ? strlen(q->profiles[i]) : 0;

		if (!pg_auth_window_profile_name_ok(q->profiles[i], n)) {
			rc = pg_fail(PG_EINVAL, "profile names are 1..%d letters, digits, '_', '-' or '.'",
				     PG_ADMIN_PROFILE_NAME_MAX - 1);
			goto out;
		}
		memcpy(out->profiles[i], q->profiles[i], n + 1);
	}
	out->n_profiles = q->n_profiles;
out:
	pprofgate__admin__v1__open_window_request__free_unpacked(q, NULL);
	return rc;
}

int pg_admin_request_decode(const char *method, size_t method_len, const uint8_t *body, size_t len,
			    int64_t max_ms, struct pg_admin_request *out)
{
	memset(out, 0, sizeof(*out));
	if (!method)
		return pg_fail(PG_ENOTFOUND, "unknown method");
	if (!body && len)
		return pg_fail(PG_EINVAL, "request message missing");
	if (method_is(method, method_len, "OpenWindow") || method_is(method, method_len, "RequestWindow")) {
		out->method = method_is(method, method_len, "OpenWindow") ? PG_ADMIN_OPEN : PG_ADMIN_REQUEST;
		return decode_open(body, len, max_ms, out);
	}
	if (method_is(method, method_len, "ApproveWindow") || method_is(method, method_len, "DenyWindow")) {
		out->method = method_is(method, method_len, "ApproveWindow") ? PG_ADMIN_APPROVE : PG_ADMIN_DENY;
		return decode_decide(body, len, out);
	}
	if (method_is(method, method_len, "ListWindowRequests")) {
		Pprofgate__Admin__V1__ListWindowRequestsRequest *q =
			pprofgate__admin__v1__list_window_requests_request__unpack(NULL, len, body);

		if (!q)
			return pg_fail(PG_EINVAL, "malformed ListWindowRequestsRequest");
		out->method = PG_ADMIN_LIST;
		pprofgate__admin__v1__list_window_requests_request__free_unpacked(q, NULL);
		return PG_OK;
	}
	if (method_is(method, method_len, "CloseWindow")) {
		Pprofgate__Admin__V1__CloseWindowRequest *q =
			pprofgate__admin__v1__close_window_request__unpack(NULL, len, body);

		if (!q)
			return pg_fail(PG_EINVAL, "malformed CloseWindowRequest");
		out->method = PG_ADMIN_CLOSE;
		out->cluster = q->cluster;
		pprofgate__admin__v1__close_window_request__free_unpacked(q, NULL);
		return PG_OK;
	}
	if (method_is(method, method_len, "GetWindow")) {
		Pprofgate__Admin__V1__GetWindowRequest *q =
			pprofgate__admin__v1__get_window_request__unpack(NULL, len, body);

		if (!q)
			return pg_fail(PG_EINVAL, "malformed GetWindowRequest");
		out->method = PG_ADMIN_GET;
		pprofgate__admin__v1__get_window_request__free_unpacked(q, NULL);
		return PG_OK;
	}
	return pg_fail(PG_ENOTFOUND, "unknown method");
}
