/* Fuzzes the admin API's request decoding: the first byte picks the method
 * path (the seven methods and an unknown one), the rest is the protobuf body
 * handed to pg_admin_request_decode. Every outcome must be PG_OK with a
 * request inside its bounds, or an error with a sentence; never a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/admin/request.h"
#include "src/util/rand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {
		PG_ADMIN_METHOD_PREFIX "OpenWindow",    PG_ADMIN_METHOD_PREFIX "CloseWindow",
		PG_ADMIN_METHOD_PREFIX "GetWindow",     PG_ADMIN_METHOD_PREFIX "RequestWindow",
		PG_ADMIN_METHOD_PREFIX "ApproveWindow", PG_ADMIN_METHOD_PREFIX "DenyWindow",
		PG_ADMIN_METHOD_PREFIX "ListWindowRequests", PG_ADMIN_METHOD_PREFIX "OpenWindowX"};
	const int64_t max_ms = 3600 * 1000;
	struct pg_admin_request q;
	const char *m;

	if (size < 1)
		return 0;
	m = methods[data[0] % 8];
	if (pg_admin_request_decode(m, strlen(m), data + 1, size - 1, max_ms, &q) != PG_OK)
		return 0;
	if ((q.method == PG_ADMIN_APPROVE || q.method == PG_ADMIN_DENY) && !pg_rand_id_ok(q.id, strlen(q.id)))
		abort(); /* the id becomes an etcd key: never "../" or empty */
	for (const char *c = q.reason; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			abort();
	if ((q.method == PG_ADMIN_OPEN || q.method == PG_ADMIN_REQUEST) &&
	    (q.duration_ms < 1000 || q.duration_ms > max_ms || !q.reason[0] ||
	     q.n_profiles > PG_AUTH_WINDOW_MAX_PROFILES))
		abort();
	for (size_t i = 0; i < q.n_profiles; i++)
		if (!pg_auth_window_profile_name_ok(q.profiles[i], strlen(q.profiles[i])))
			abort();
	return 0;
}
