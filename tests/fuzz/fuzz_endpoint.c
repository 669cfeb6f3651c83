/* Fuzz target for published diagnostics endpoint records
 * (src/cluster/endpoint.c), which anyone who can write to etcd controls: an
 * accepted record names a node usable as a file name and an http(s) URL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/cluster/endpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_endpoint ep;

	if (pg_endpoint_parse((const char *)data, size, &ep) != PG_OK)
		return 0;
	if (!ep.node[0] || ep.node[0] == '.' || strchr(ep.node, '/') ||
	    (strncmp(ep.url, "http://", 7) != 0 && strncmp(ep.url, "https://", 8) != 0) ||
	    strpbrk(ep.url, " \t\r\n") || strlen(ep.node) >= PG_ENDPOINT_NODE_MAX)
		abort();
	return 0;
}
