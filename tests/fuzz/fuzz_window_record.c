/* Fuzz target for the cluster-window record (src/cluster/window_record.c):
 * any bytes from etcd; an accepted record must satisfy the documented bounds
 * and survive an encode/parse round trip unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/cluster/window_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_window_record r, back;
	char *s = NULL;

	if (pg_window_record_parse((const char *)data, size, &r) != PG_OK)
		return 0;
	if (!r.opened_by[0] || !r.reason[0] || r.duration_ms < 1 || r.deadline_unix_ms < 1 ||
	    r.n_profiles > PG_AUTH_WINDOW_MAX_PROFILES)
		abort();
	if (pg_window_record_encode(&r, &s) != PG_OK)
		abort(); /* anything accepted fits when written back */
	if (pg_window_record_parse(s, strlen(s), &back) != PG_OK || memcmp(&r, &back, sizeof(r)) != 0)
		abort();
	free(s);
	(void)pg_window_record_remaining_ms(&r, INT64_MIN / 2, 3600000);
	return 0;
}
