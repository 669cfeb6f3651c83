/* Admin API request decoding; see request.h. */
#include "src/admin/request.h"

#include <stdio.h>
#include <string.h>

#include "proto/admin.pb-c.h"

static bool method_is(const char *m, size_t ml, const char *name)
{
	size_t pl = strlen(PG_ADMIN_METHOD_PREFIX), nl = strlen(name);

	return ml == pl + nl && memcmp(m, PG_ADMIN_METHOD_PREFIX, pl) == 0 && memcmp(m + pl, name, nl) == 0;
}

static int decode_open(const uint8_t *body, size_t len, int64_t max_ms, struct pg_admin_request *out)
{
	Pprofgate__Admin__V1__OpenWindowRequest *q =
		pprofgate__admin__v1__open_window_request__unpack(NULL, len, body);
	size_t rl;
	int rc = PG_OK;

	if (!q)
		return pg_fail(PG_EINVAL, "malformed OpenWindowRequest");
	out->duration_ms = (int64_t)q->duration_seconds * 1000;
	out->cluster = q->cluster;
	rl = q->reason ? strlen(q->reason) : 0;
	if (q->duration_seconds == 0 || out->duration_ms > max_ms) {
		rc = pg_fail(PG_EINVAL, "duration must be 1..%lld seconds (admin.window.max_seconds)",
			     (long long)(max_ms / 1000));
		goto out;
	}
	if (rl == 0 || rl >= sizeof(out->reason)) {
		rc = pg_fail(PG_EINVAL, "a reason of 1..%zu bytes is required", sizeof(out->reason) - 1);
		goto out;
	}
	for (size_t i = 0; i < rl; i++)
		if ((unsigned char)q->reason[i] < 0x20 || q->reason[i] == 0x7f) {
			rc = pg_fail(PG_EINVAL, "the reason must not contain control characters");
			goto out;
		}
	memcpy(out->reason, q->reason, rl + 1);
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
	if (method_is(method, method_len, "OpenWindow")) {
		out->method = PG_ADMIN_OPEN;
		return decode_open(body, len, max_ms, out);
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
