/* Fuzz target for the etcd reply parsers (src/cluster/etcd.c): every parser
 * gets the same bytes; results must be self-consistent and leak-free. The
 * first byte also drives the base64 decoder and the prefix-end helper. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/cluster/etcd.h"
#include "src/util/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct pg_etcd_range r;
	struct pg_etcd_watch_resp w;
	int64_t a = 0, b = 0;
	unsigned char dec[256];
	char end[300];
	size_t n = 0;

	if (pg_etcd_parse_grant(p, size, &a, &b) == PG_OK && (a == 0 || b <= 0))
		abort();
	(void)!pg_etcd_parse_keepalive(p, size, &a);
	(void)!pg_etcd_parse_header(p, size, &a);
	(void)!pg_etcd_parse_delete(p, size, &a);
	if (pg_etcd_parse_range(p, size, &r) == PG_OK) {
		for (size_t i = 0; i < r.n; i++)
			if (!r.kvs[i].key || !r.kvs[i].value || strlen(r.kvs[i].value) > r.kvs[i].value_len)
				abort();
		pg_etcd_range_clear(&r);
	} else if (r.kvs || r.n) {
		abort();
	}
	if (pg_etcd_parse_watch(p, size, &w) == PG_OK) {
		for (size_t i = 0; i < w.n_events; i++)
			if (!w.events[i].kv.key || w.events[i].kv.key[w.events[i].kv.key_len] != '\0')
				abort();
		pg_etcd_watch_resp_clear(&w);
	} else if (w.events || w.n_events) {
		abort();
	}
	if (size <= 256) {
		if (pg_base64_decode(p, size, dec, sizeof(dec), &n) == PG_OK) {
			char enc[400];

			/* Canonical base64 round-trips exactly. */
			if (pg_base64_encode(dec, n, enc, sizeof(enc)) != PG_OK || strlen(enc) != size ||
			    memcmp(enc, p, size) != 0)
				abort();
		}
		/* Either a non-empty end no longer than the prefix, or "\0" (to the end). */
		if (pg_etcd_prefix_end(p, size, end, sizeof(end), &n) == PG_OK &&
		    (n == 0 || (n > size && !(n == 1 && end[0] == '\0'))))
			abort();
	}
	return 0;
}
