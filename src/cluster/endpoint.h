/* The diagnostics endpoint a node publishes in etcd, so that operators'
 * tools find every node's HTTPS listener (pprofgatectl nodes, fetch
 * --cluster) without a list of their own.
 *
 *   key   <etcd_prefix>/diagnostics/endpoints/<advertise address>
 *   value {"node":"<node id, or the advertise address>",
 *          "url":"https://host:port",
 *          "tls_server_name":"host"}
 *
 * The membership loop (src/cluster/membership.c) puts it under the node's
 * lease next to Goverse's <prefix>/nodes/ key, so it disappears with the
 * node. The URL is diagnostics.advertise_url, or derived from the HTTP
 * listen address (https when the listener has a certificate; a wildcard or
 * empty host is replaced by the advertise host).
 *
 * Building and parsing are pure (parse reads etcd values, which anyone with
 * write access to etcd controls: fuzzed). */
#ifndef PG_CLUSTER_ENDPOINT_H
#define PG_CLUSTER_ENDPOINT_H

#include <stddef.h>

#include "src/config/config.h"
#include "src/util/err.h"

#define PG_ENDPOINT_NODE_MAX 128
#define PG_ENDPOINT_URL_MAX 512
#define PG_ENDPOINT_NAME_MAX 256
/* The largest value parse accepts. */
#define PG_ENDPOINT_VALUE_MAX 2048

struct pg_endpoint {
	char node[PG_ENDPOINT_NODE_MAX];            /* [A-Za-z0-9._:-], also a file name */
	char url[PG_ENDPOINT_URL_MAX];              /* http(s)://..., visible ASCII */
	char tls_server_name[PG_ENDPOINT_NAME_MAX]; /* DNS name or IP literal; may be "" */
};

/* "<prefix>/diagnostics/endpoints/" (prefix without its trailing '/'). */
PG_WUR int pg_endpoint_prefix(const char *etcd_prefix, char *out, size_t cap);

/* This node's key and record from its config. PG_ENOTFOUND when the node
 * has no HTTP listener (nothing to publish); PG_EINVAL, with a sentence,
 * for an unusable diagnostics.advertise_url or advertise_server_name. */
PG_WUR int pg_endpoint_build(const struct pg_config *cfg, char *key, size_t kcap, char *value, size_t vcap);

/* Reads a record. PG_EPROTO (with a sentence) for anything but a JSON object
 * with the three string members valid as above (unknown members ignored). */
PG_WUR int pg_endpoint_parse(const char *value, size_t len, struct pg_endpoint *out);

#endif
