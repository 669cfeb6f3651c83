/* Fuzz target for the pending window request record
 * (src/cluster/request_record.c): any bytes from etcd; an accepted record
 * must satisfy the documented bounds and survive an encode/parse round trip
 * unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/cluster/request_record.h"
#include "src/util/rand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_request_record r, back;
	char *s = NULL;

	if (pg_request_record_parse((const char *)data, size, &r) != PG_OK)
		return 0;
	if (!pg_rand_id_ok(r.id, strlen(r.id)) || !r.requested_by[0] || !r.requester_cert[0] || !r.reason[0] ||
	    r.duration_ms < 1 || r.created_unix_ms < 1 || r.expires_unix_ms <= r.created_unix_ms ||
	    r.n_profiles > PG_AUTH_WINDOW_MAX_PROFILES)
		abort();
	for (const char *c = r.reason; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			abort(); /* texts reach audit lines and the CLI's table */
	if (pg_request_record_encode(&r, &s) != PG_OK)
		abort(); /* anything accepted fits when written back */
	if (pg_request_record_parse(s, strlen(s), &back) != PG_OK || memcmp(&r, &back, sizeof(r)) != 0)
		abort();
	free(s);
	return 0;
}
