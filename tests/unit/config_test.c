/* Unit tests for src/config: the YAML schema, flags, --node-id selection,
 * error messages (file:line:column, key, expectation) and the generated
 * docs/configuration.md. Runs with the repo root as working directory. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/config/config.h"
#include "src/util/log.h"
#include "tests/unit/test.h"

/* Parses YAML text; returns the rc. *errs holds the error text ("" if none). */
static int parse(const char *yaml, struct pg_config **cfg, char **errs)
{
	int rc = pg_config_parse_yaml("t.yaml", yaml, strlen(yaml), cfg, errs);
	if (!*errs)
		*errs = strdup("");
	return rc;
}

/* Expects `yaml` to be rejected with an error line containing `want`. */
static void expect_error(const char *yaml, const char *want)
{
	struct pg_config *cfg = (struct pg_config *)1;
	char *errs = NULL;

	CHECK_INT(parse(yaml, &cfg, &errs), PG_EINVAL);
	CHECK(cfg == NULL);
	CHECK_CONTAINS(errs, want);
	free(errs);
}

/* Expects `yaml` to be accepted without an error. */
static void expect_ok(const char *yaml)
{
	struct pg_config *cfg = NULL;
	char *errs = NULL;

	CHECK_INT(parse(yaml, &cfg, &errs), PG_OK);
	CHECK_STR(errs, "");
	pg_config_free(&cfg);
	free(errs);
}

struct run {
	int rc, exit_code;
	struct pg_config *cfg;
	char *out, *err;
};

static void run_args(struct run *r, int argc, char **argv)
{
	size_t ol = 0, el = 0;
	FILE *out, *err;

	r->out = r->err = NULL;
	out = open_memstream(&r->out, &ol);
	err = open_memstream(&r->err, &el);
	r->rc = pg_config_parse_argv(argc, argv, out, err, &r->cfg, &r->exit_code);
	fclose(out);
	fclose(err);
}

static void run_free(struct run *r)
{
	pg_config_free(&r->cfg);
	free(r->out);
	free(r->err);
}

#define RUN_ARGS(r, ...)                                                     \
	do {                                                                 \
		char *_argv[] = {"pprofgate", __VA_ARGS__};                  \
		run_args((r), (int)(sizeof(_argv) / sizeof(_argv[0])), _argv); \
	} while (0)

static const char *good =
	"version: 1\n"
	"cluster:\n"
	"  shards: 16\n"
	"  provider: etcd\n"
	"  etcd:\n"
	"    endpoints: [127.0.0.1:2379, \"[::1]:2380\"]\n"
	"    prefix: /my/app\n"
	"    lease_ttl: 30\n"
	"nodes:\n"
	"  - id: n1\n"
	"    grpc_addr: :0\n"
	"    advertise_addr: 127.0.0.1:47000\n"
	"    http_addr: 127.0.0.1:0\n";

static void test_valid_yaml(void)
{
	struct pg_config *cfg = NULL;
	char *errs = NULL;

	CHECK_INT(parse(good, &cfg, &errs), PG_OK);
	CHECK_STR(errs, "");
	CHECK(cfg != NULL);
	if (cfg) {
		CHECK_INT(cfg->version, 1);
		CHECK_INT(cfg->shards, 16);
		CHECK_STR(cfg->provider, "etcd");
		CHECK_INT(cfg->n_etcd_endpoints, 2);
		CHECK_STR(cfg->etcd_endpoints[0], "127.0.0.1:2379");
		CHECK_STR(cfg->etcd_endpoints[1], "[::1]:2380");
		CHECK_STR(cfg->etcd_prefix, "/my/app");
		CHECK_INT(cfg->etcd_lease_ttl, 30);
		CHECK_INT(cfg->n_nodes, 1);
		CHECK_STR(cfg->nodes[0].id, "n1");
		CHECK_STR(cfg->nodes[0].grpc_addr, ":0");
		CHECK_STR(cfg->nodes[0].http_addr, "127.0.0.1:0");
	}
	pg_config_free(&cfg);
	CHECK(cfg == NULL);
	pg_config_free(&cfg); /* NULL is fine */
	pg_config_free(NULL);
	free(errs);
}

static void test_yaml_defaults(void)
{
	struct pg_config *cfg = NULL;
	char *errs = NULL;

	CHECK_INT(parse("version: 1\ncluster:\n  provider: etcd\n", &cfg, &errs), PG_OK);
	if (cfg) {
		CHECK_INT(cfg->shards, 8192);
		CHECK_INT(cfg->etcd_lease_ttl, 15);
		CHECK_INT(cfg->n_etcd_endpoints, 1);
		CHECK_STR(cfg->etcd_endpoints[0], "localhost:2379");
		CHECK_STR(cfg->etcd_prefix, "/goverse");
		CHECK_STR(cfg->etcd_ca_file, "");
		CHECK_INT(cfg->n_nodes, 0);
	}
	pg_config_free(&cfg);
	free(errs);
}

static void test_goverse_keys_ignored(void)
{
	struct pg_config *cfg = NULL;
	char *errs = NULL;
	const char *y = "version: 1\n"
			"cluster:\n"
			"  provider: etcd\n"
			"  imbalance_threshold: 0.2\n"
			"  cluster_state_stability_duration: 10s\n"
			"  stuck_shard_reallocation_timeout: 1m\n"
			"  default_call_timeout: 5s\n"
			"  default_create_timeout: 5s\n"
			"  default_delete_timeout: 5s\n"
			"  auto_load_objects:\n    - {type: T, id: x}\n"
			"postgres: {host: localhost, port: 5432}\n"
			"inspector: {grpc_addr: localhost:8081}\n"
			"gates:\n  - id: g1\n    grpc_addr: localhost:49000\n"
			"object_access_rules: []\n"
			"object_lifecycle_rules: []\n";

	pg_log_set_level(PG_LOG_WARN); /* the notices are expected here */
	CHECK_INT(parse(y, &cfg, &errs), PG_OK);
	pg_log_set_level(PG_LOG_INFO);
	CHECK_STR(errs, "");
	pg_config_free(&cfg);
	free(errs);
}

static void test_yaml_value_errors(void)
{
	expect_error("version: 1\ncluster:\n  provider: etcd\n  shards: abc\n",
		     "t.yaml:4:11: cluster.shards: expected an integer in 1..1048576, got \"abc\"");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  shards: 0\n",
		     "t.yaml:4:11: cluster.shards: expected an integer in 1..1048576, got \"0\"");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  shards: 1048577\n",
		     "t.yaml:4:11: cluster.shards: expected an integer in 1..1048576");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  shards: \"16\"\n",
		     "t.yaml:4:11: cluster.shards: expected an integer in 1..1048576, got the quoted string");
	expect_error("version: 2\ncluster:\n  provider: etcd\n", "t.yaml:1:10: version: expected 1, got \"2\"");
	expect_error("version: 1\ncluster:\n  provider: consul\n",
		     "t.yaml:3:13: cluster.provider: expected one of: etcd, got \"consul\"");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  etcd:\n    prefix: goverse\n",
		     "t.yaml:5:13: cluster.etcd.prefix: expected a key prefix starting with '/'");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  etcd:\n    prefix: /goverse/\n",
		     "t.yaml:5:13: cluster.etcd.prefix: expected a key prefix");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  etcd:\n    lease_ttl: 4\n",
		     "t.yaml:5:16: cluster.etcd.lease_ttl: expected an integer in 5..300, got \"4\"");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  etcd:\n    lease_ttl: 301\n",
		     "cluster.etcd.lease_ttl: expected an integer in 5..300");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  shards:\n",
		     "t.yaml:4:10: cluster.shards: expected an integer in 1..1048576, got an empty value");
}

static void test_yaml_address_errors(void)
{
	const char *pre = "version: 1\ncluster:\n  provider: etcd\n  etcd:\n    endpoints: ";
	char y[512];

	snprintf(y, sizeof(y), "%s[localhost]\n", pre);
	expect_error(y, "t.yaml:5:17: cluster.etcd.endpoints[0]: expected host:port, e.g. localhost:47000, got "
			"\"localhost\"");
	snprintf(y, sizeof(y), "%s[\"localhost:65536\"]\n", pre);
	expect_error(y, "cluster.etcd.endpoints[0]: expected host:port with a port in 0..65535");
	snprintf(y, sizeof(y), "%s[\"http://localhost:2379\"]\n", pre);
	expect_error(y, "cluster.etcd.endpoints[0]: expected host:port without a scheme");
	snprintf(y, sizeof(y), "%s[\"::1:2379\"]\n", pre);
	expect_error(y, "put IPv6 addresses in brackets, e.g. [::1]:47000");
	snprintf(y, sizeof(y), "%s[\"[::1]\"]\n", pre);
	expect_error(y, "expected [IPv6]:port");
	snprintf(y, sizeof(y), "%s[\"[fe80::1%%eth0]:2379\", \"[::ffff:127.0.0.1]:1\"]\n", pre);
	expect_ok(y);
	snprintf(y, sizeof(y), "%s[\"[zz::1]:2379\"]\n", pre);
	expect_error(y, "expected an IPv6 address in brackets, e.g. [::1]:47000, got \"[zz::1]:2379\"");
	snprintf(y, sizeof(y), "%s[\"[127.0.0.1]:2379\"]\n", pre);
	expect_error(y, "expected an IPv6 address in brackets");
	snprintf(y, sizeof(y), "%s[\"[::1]2379\"]\n", pre);
	expect_error(y, "expected [IPv6]:port");
	snprintf(y, sizeof(y), "%s[\"local host:1\"]\n", pre);
	expect_error(y, "expected host:port with a host name or IP address");
	snprintf(y, sizeof(y), "%s[\":2379\"]\n", pre);
	expect_error(y, "cluster.etcd.endpoints[0]: expected host:port with a host");
	snprintf(y, sizeof(y), "%s[]\n", pre);
	expect_error(y, "t.yaml:5:16: cluster.etcd.endpoints: expected 1..16 entries, got 0");
	snprintf(y, sizeof(y), "%s[a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1]\n", pre);
	expect_error(y, "cluster.etcd.endpoints: expected 1..16 entries, got 17");
	snprintf(y, sizeof(y), "%slocalhost:2379\n", pre);
	expect_error(y, "t.yaml:5:16: cluster.etcd.endpoints: expected a list of host:port, e.g. [localhost:2379], "
			"got a scalar");
}

static void test_yaml_structure_errors(void)
{
	expect_error("version: 1\ncluster:\n  provider: etcd\n  shard: 3\n",
		     "t.yaml:4:3: cluster.shard: unknown key; did you mean \"shards\"?");
	expect_error("version: 1\ncluster:\n  provider: etcd\nobservability: {}\n",
		     "t.yaml:4:1: observability: unknown key; expected one of: version, cluster, admin, nodes, diagnostics");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  etcd:\n    tls:\n      ca: x\n",
		     "t.yaml:6:7: cluster.etcd.tls.ca: unknown key");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  etcd.prefix: /x\n",
		     "t.yaml:4:3: cluster.etcd.prefix: unknown key");
	expect_error("version: 1\ncluster:\n", "t.yaml:2:9: cluster.provider: required key is missing");
	expect_error("version: 1\ncluster:\n  provider: etcd\n\"version\\0x\": 1\n", "t.yaml:4:1: (top level): a key contains a NUL character");
	expect_error("version: 1\nversion: 1\ncluster:\n  provider: etcd\n",
		     "t.yaml:2:1: version: duplicate key (first set at line 1)");
	expect_error("version: 1\ncluster: [1]\n", "t.yaml:2:10: cluster: expected a mapping of keys, got a list");
	expect_error("version: 1\ncluster:\n  provider: etcd\nnodes: {id: x}\n",
		     "t.yaml:4:8: nodes: expected a list of node mappings (- id: ...), got a mapping");
	expect_error("version: 1\ncluster:\n  provider: etcd\nnodes:\n  - x\n",
		     "t.yaml:5:5: nodes[0]: expected a mapping with id");
	expect_error("version: 1\ncluster:\n  provider: [etcd]\n",
		     "t.yaml:3:13: cluster.provider: expected one of: etcd, got a list");
	expect_error("- version: 1\n", "t.yaml:1:1: expected a mapping at the top level");
	expect_error("", "t.yaml:1:1: the file is empty");
	expect_error("# only a comment\n", "t.yaml:1:1: the file is empty");
	expect_error("version: 1\n", "t.yaml:1:1: cluster: required section is missing");
	expect_error("cluster:\n  shards: 8\n", "t.yaml:1:1: version: required key is missing; add \"version: 1\"");
	expect_error("version: 1\ncluster:\n  shards: 8\n",
		     "t.yaml:3:3: cluster.provider: required key is missing; add \"provider: etcd\"");
	expect_error("version: 1\ncluster: {provider: etcd}\n? [a]\n: 1\n", "keys must be plain strings");
	expect_error("version: [1\n", "t.yaml:2:1: invalid YAML:");
	expect_error("version: 1\n---\nversion: 1\n", "t.yaml:2:1: only one YAML document is allowed");
	expect_error("version: !!int 1\n", "t.yaml:1:10: YAML tags (!tag) are not supported");
	expect_error("version: 1\n\xc3\x28\n", "t.yaml:2:1: the file is not valid UTF-8 (byte 0xc3)");
	expect_error("version: 1\nx: \xed\xa0\x80\n", "t.yaml:2:4: the file is not valid UTF-8");
	expect_error("version: 1\nx: \xc0\xaf\n", "not valid UTF-8");
}

/* Every key accepted at the level, the Goverse keys accepted and ignored
 * included, whether or not a near miss is suggested. */
static void test_unknown_key_hints(void)
{
	expect_error("version: 1\ncluster:\n  provider: etcd\n  future_key: 1\n",
		     "t.yaml:4:3: cluster.future_key: unknown key; expected one of: shards, provider, etcd; or a "
		     "Goverse key pprofgate accepts and ignores: imbalance_threshold, cluster_state_stability_duration, "
		     "stuck_shard_reallocation_timeout, default_call_timeout, default_create_timeout, "
		     "default_delete_timeout, auto_load_objects\n");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  shard: 3\n",
		     "cluster.shard: unknown key; did you mean \"shards\"? Expected one of: shards, provider, etcd; "
		     "or a Goverse key");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  etcd:\n    future: 1\n",
		     "cluster.etcd.future: unknown key; expected one of: endpoints, prefix, lease_ttl, "
		     "unsafe_share_goverse_prefix, tls\n");
	expect_error("version: 1\ncluster: {provider: etcd}\nfuture: 1\n",
		     "future: unknown key; expected one of: version, cluster, admin, nodes, diagnostics; or a Goverse "
		     "key pprofgate accepts and ignores: postgres, inspector, gates, object_access_rules, "
		     "object_lifecycle_rules\n");
	expect_error("version: 1\ncluster: {provider: etcd}\nnodes:\n  - {id: a, grpc_addr: h:1, advertise_addr: h:1, "
		     "ops_addr: h:2}\n",
		     "nodes[0].ops_addr: unknown key; expected one of: id, grpc_addr, advertise_addr, http_addr\n");
	/* A near miss of a Goverse key is suggested too. */
	expect_error("version: 1\ncluster: {provider: etcd}\npostgre: {}\n", "postgre: unknown key; did you mean \"postgres\"?");
}

/* Anchors, aliases and merge keys, as Goverse's gopkg.in/yaml.v3 reads them. */
static void test_yaml_anchors(void)
{
	struct pg_config *cfg = NULL;
	char *errs = NULL;
	const char *y =
		"version: 1\n"
		"cluster:\n"
		"  provider: etcd\n"
		"  etcd:\n"
		"    endpoints: &eps [127.0.0.1:2379, 127.0.0.2:2379]\n"
		"    prefix: &p /shared\n"
		"nodes:\n"
		"  - &n1 {id: n1, grpc_addr: \"127.0.0.1:47000\", advertise_addr: \"127.0.0.1:47000\", http_addr: "
		"\"127.0.0.1:9090\"}\n"
		"  - <<: *n1\n"
		"    id: n2\n"
		"    grpc_addr: 127.0.0.1:47001\n"
		"  - <<: [{id: n3, http_addr: \"127.0.0.1:9093\"}, *n1]\n"
		"    advertise_addr: 127.0.0.1:47003\n"
		"diagnostics:\n"
		"  groups:\n"
		"    pprof: &g {allowlist: [10.0.0.0/8]}\n"
		"    metrics: *g\n";

	CHECK_INT(parse(y, &cfg, &errs), PG_OK);
	CHECK_STR(errs, "");
	if (cfg) {
		CHECK_INT(cfg->n_etcd_endpoints, 2);
		CHECK_STR(cfg->etcd_prefix, "/shared");
		CHECK_INT(cfg->n_nodes, 3);
		/* Explicit keys win over merged ones, earlier merges over later. */
		CHECK_STR(cfg->nodes[1].id, "n2");
		CHECK_STR(cfg->nodes[1].grpc_addr, "127.0.0.1:47001");
		CHECK_STR(cfg->nodes[1].advertise_addr, "127.0.0.1:47000");
		CHECK_STR(cfg->nodes[1].http_addr, "127.0.0.1:9090");
		CHECK_STR(cfg->nodes[2].id, "n3");
		CHECK_STR(cfg->nodes[2].http_addr, "127.0.0.1:9093");
		CHECK_STR(cfg->nodes[2].grpc_addr, "127.0.0.1:47000");
		CHECK_STR(cfg->nodes[2].advertise_addr, "127.0.0.1:47003");
		CHECK_STR(cfg->diag.metrics.allowlist, "10.0.0.0/8");
	}
	pg_config_free(&cfg);
	free(errs);

	/* A merged key is checked like a written one, at the anchor's place. */
	expect_error("version: 1\nbase: &b {shards: x}\ncluster:\n  <<: *b\n  provider: etcd\n",
		     "t.yaml:2:1: base: unknown key");
	expect_error("version: 1\nx: &b {shards: x}\ncluster:\n  <<: *b\n  provider: etcd\n",
		     "t.yaml:2:16: cluster.shards: expected an integer in 1..1048576, got \"x\"");
	expect_error("version: 1\ncluster:\n  <<: 3\n  provider: etcd\n",
		     "t.yaml:3:7: cluster.<<: a merge key takes a mapping or a list of mappings");
	expect_error("version: 1\ncluster:\n  <<: [3]\n  provider: etcd\n", "cluster.<<: a merge key takes");
	/* A quoted "<<" is a plain key. */
	expect_error("version: 1\ncluster:\n  \"<<\": {}\n  provider: etcd\n", "cluster.<<: unknown key");
	/* Explicit duplicates are still refused. */
	expect_error("version: 1\ncluster: &c {provider: etcd}\nversion: 1\n", "version: duplicate key");
	/* An alias to an undefined anchor, an anchor containing itself. */
	expect_error("version: *nope\n", "invalid YAML");
	expect_error("version: 1\ncluster: {provider: etcd}\nnodes: &l [*l]\n",
		     "t.yaml:3:8: a YAML anchor's value contains an alias to itself");
	expect_error("version: 1\ncluster: &m {provider: etcd, x: *m}\n", "contains an alias to itself");
	expect_error("version: 1\ncluster: &m {provider: etcd, <<: *m}\n", "contains an alias to itself");
	/* Merging is bounded: a mapping of 1100 keys merged into another. */
	{
		char *big = malloc(32 * 1024);
		size_t n = 0;
		n += (size_t)snprintf(big + n, 32 * 1024 - n, "version: 1\nx: &b {");
		for (int i = 0; i < 1100; i++)
			n += (size_t)snprintf(big + n, 32 * 1024 - n, "%sk%d: 1", i ? ", " : "", i);
		snprintf(big + n, 32 * 1024 - n, "}\ncluster:\n  <<: *b\n  provider: etcd\n");
		expect_error(big, "t.yaml:2:4: cluster: more than 1024 keys once merge keys (<<) are applied");
		free(big);
	}
	/* Tags stay refused. */
	expect_error("version: !!int 1\n", "t.yaml:1:10: YAML tags (!tag) are not supported");
}

/* A "billion laughs" file is a few hundred bytes; aliases expanding past
 * 100000 values or 32 levels are refused before the document is walked. */
static void test_yaml_alias_bombs(void)
{
	char y[4096];
	size_t n = 0;

	n += (size_t)snprintf(y + n, sizeof(y) - n, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 9; i++)
		n += (size_t)snprintf(y + n, sizeof(y) - n, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
				      i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	expect_error(y, "t.yaml:1:1: YAML aliases expand the document to more than 100000 values (a bound against "
			"alias bombs)");
	n = 0;
	n += (size_t)snprintf(y + n, sizeof(y) - n, "a0: &a0 [x]\n");
	for (int i = 1; i < 40; i++)
		n += (size_t)snprintf(y + n, sizeof(y) - n, "a%d: &a%d [*a%d]\n", i, i, i - 1);
	expect_error(y, "t.yaml:1:1: lists and mappings nest deeper than 32 levels once YAML aliases are expanded");
	/* Within the bounds, many aliases are fine (and ignored keys are not walked). */
	n = 0;
	n += (size_t)snprintf(y + n, sizeof(y) - n, "version: 1\ncluster: {provider: etcd}\npostgres:\n  a0: &a0 [x, x, x, x]\n");
	for (int i = 1; i < 6; i++)
		n += (size_t)snprintf(y + n, sizeof(y) - n, "  a%d: &a%d [*a%d, *a%d, *a%d, *a%d]\n", i, i, i - 1, i - 1,
				      i - 1, i - 1);
	expect_ok(y);
}

static void test_yaml_collects_all_errors(void)
{
	struct pg_config *cfg = NULL;
	char *errs = NULL;
	int lines = 0;

	CHECK_INT(parse("version: 3\ncluster:\n  provider: x\n  shards: -1\nfoo: 1\n", &cfg, &errs), PG_EINVAL);
	for (const char *p = errs; *p; p++)
		lines += *p == '\n';
	CHECK_INT(lines, 4);
	CHECK_CONTAINS(errs, "t.yaml:1:10: version:");
	CHECK_CONTAINS(errs, "t.yaml:3:13: cluster.provider:");
	CHECK_CONTAINS(errs, "t.yaml:4:11: cluster.shards:");
	CHECK_CONTAINS(errs, "t.yaml:5:1: foo: unknown key");
	free(errs);
}

static void test_yaml_node_errors(void)
{
	const char *pre = "version: 1\ncluster: {provider: etcd}\nnodes:\n";
	char y[1024];

	snprintf(y, sizeof(y), "%s  - id: a\n    advertise_addr: h:1\n", pre);
	expect_error(y, "t.yaml:4:5: nodes[0].grpc_addr: required key is missing");
	snprintf(y, sizeof(y), "%s  - id: a\n    grpc_addr: h:1\n", pre);
	expect_error(y, "t.yaml:4:5: nodes[0].advertise_addr: required key is missing");
	snprintf(y, sizeof(y), "%s  - grpc_addr: h:1\n    advertise_addr: h:1\n", pre);
	expect_error(y, "t.yaml:4:5: nodes[0].id: required key is missing");
	snprintf(y, sizeof(y),
		 "%s  - {id: a, grpc_addr: h:1, advertise_addr: h:1}\n  - {id: a, grpc_addr: h:2, advertise_addr: h:2}\n",
		 pre);
	expect_error(y, "t.yaml:5:10: nodes[1].id: duplicate node id \"a\" (also nodes[0] at line 4)");
	snprintf(y, sizeof(y), "%s  - {id: \"a b\", grpc_addr: h:1, advertise_addr: h:1}\n", pre);
	expect_error(y, "nodes[0].id: expected an id of printable ASCII without spaces, got \"a b\"");
	snprintf(y, sizeof(y), "%s  - {id: a, grpc_addr: h:1, advertise_addr: h:1, http_adr: h:2}\n", pre);
	expect_error(y, "nodes[0].http_adr: unknown key; did you mean \"http_addr\"?");
	snprintf(y, sizeof(y), "%s  - {id: a, grpc_addr: h:1, advertise_addr: \":1\"}\n", pre);
	expect_error(y, "nodes[0].advertise_addr: expected host:port with a host");
}

static void test_yaml_tls(void)
{
	struct pg_config *cfg = NULL;
	char *errs = NULL;
	const char *ok = "version: 1\ncluster:\n  provider: etcd\n  etcd:\n    tls:\n"
			 "      ca_file: config/single-node.yaml\n      cert_file: config/single-node.yaml\n"
			 "      key_file: config/multi-node.yaml\n";

	CHECK_INT(parse(ok, &cfg, &errs), PG_OK);
	if (cfg) {
		CHECK_STR(cfg->etcd_ca_file, "config/single-node.yaml");
		CHECK_STR(cfg->etcd_key_file, "config/multi-node.yaml");
	}
	pg_config_free(&cfg);
	free(errs);
	expect_error("version: 1\ncluster:\n  provider: etcd\n  etcd:\n    tls:\n      cert_file: config/single-node.yaml\n",
		     "t.yaml:6:18: cluster.etcd.tls: cert_file and key_file must be set together; add key_file");
	expect_error("version: 1\ncluster:\n  provider: etcd\n  etcd:\n    tls:\n      ca_file: /nonexistent/ca.pem\n",
		     "t.yaml:6:16: cluster.etcd.tls.ca_file: expected a readable file (No such file or directory)");
}

static void test_yaml_limits(void)
{
	size_t n = 1024 * 1024 + 1;
	char *big = malloc(n);
	struct pg_config *cfg = NULL;
	char *errs = NULL;

	memset(big, '#', n);
	CHECK_INT(pg_config_parse_yaml("big.yaml", big, n, &cfg, &errs), PG_EINVAL);
	CHECK_CONTAINS(errs, "big.yaml: file is 1048577 bytes; a config is at most 1 MiB");
	free(errs);
	free(big);

	/* Deep nesting is refused while scanning (libyaml slows down
	 * quadratically with flow depth: 300000 levels took minutes). */
	n = 300000;
	big = malloc(2 * n + 4);
	memcpy(big, "x: ", 3);
	memset(big + 3, '[', n);
	memset(big + 3 + n, ']', n);
	CHECK_INT(pg_config_parse_yaml("deep.yaml", big, 2 * n + 3, &cfg, &errs), PG_EINVAL);
	CHECK_CONTAINS(errs, "deep.yaml:1:35: lists and mappings nest deeper than 32 levels");
	free(errs);
	free(big);
	{
		/* 32 levels (the top mapping + 31 lists) pass the scan. */
		char ok[128] = "version: 1\ncluster: {provider: etcd}\ndeep: ";
		size_t l = strlen(ok);
		memset(ok + l, '[', 31);
		memset(ok + l + 31, ']', 31);
		memcpy(ok + l + 62, "\n", 2);
		CHECK_INT(parse(ok, &cfg, &errs), PG_EINVAL);
		CHECK_CONTAINS(errs, "t.yaml:3:1: deep: unknown key");
		CHECK(strstr(errs, "nest deeper") == NULL);
		free(errs);
		errs = NULL;
	}

	/* A quoted control character is escaped in the message, not echoed. */
	expect_error("version: 1\ncluster:\n  provider: \"et\\x1bcd\"\n", "got \"et\\x1bcd\"");
}

static void test_examples_valid(void)
{
	DIR *d = opendir("config");
	struct dirent *ent;
	int n = 0;

	CHECK(d != NULL);
	while (d && (ent = readdir(d))) {
		char path[512];
		size_t l = strlen(ent->d_name);
		struct run r;
		if (l < 5 || strcmp(ent->d_name + l - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "config/%s", ent->d_name);
		RUN_ARGS(&r, "--check-config", "--config", path);
		CHECK_INT(r.rc, PG_OK);
		CHECK_INT(r.exit_code, 0);
		CHECK_CONTAINS(r.out, ": OK (");
		if (r.err[0])
			fprintf(stderr, "%s: %s", path, r.err);
		run_free(&r);
		n++;
	}
	if (d)
		closedir(d);
	CHECK(n >= 2);
}

static void test_flag_defaults(void)
{
	struct run r;

	RUN_ARGS(&r, "--log-level", "info");
	CHECK_INT(r.rc, PG_OK);
	CHECK_INT(r.exit_code, -1);
	CHECK(r.cfg != NULL);
	if (r.cfg) {
		CHECK_STR(r.cfg->listen, "localhost:47000");
		CHECK_STR(r.cfg->advertise, "localhost:47000");
		CHECK_STR(r.cfg->http_listen, "localhost:9090");
		CHECK_STR(r.cfg->node_id, "");
		CHECK_INT(r.cfg->n_etcd_endpoints, 1);
		CHECK_STR(r.cfg->etcd_endpoints[0], "localhost:2379");
		CHECK_STR(r.cfg->etcd_prefix, "/goverse");
		CHECK_INT(r.cfg->shards, 8192);
		CHECK_INT(r.cfg->etcd_lease_ttl, 15);
		CHECK_INT(r.cfg->version, 1);
		CHECK_STR(r.cfg->provider, "etcd");
		CHECK_INT(r.cfg->log_level, PG_LOG_INFO);
		CHECK_STR(r.cfg->config_path, "");
	}
	run_free(&r);
}

static void test_flags_each(void)
{
	struct run r;

	RUN_ARGS(&r, "--listen", "127.0.0.1:1", "--advertise=host.example:2", "--http-listen", "[::1]:0",
		 "--etcd=127.0.0.1:1,127.0.0.1:2", "--etcd-prefix", "/p", "--log-level=debug", "-node-id", "n9");
	CHECK_INT(r.rc, PG_OK);
	CHECK_STR(r.err, "");
	if (r.cfg) {
		CHECK_STR(r.cfg->listen, "127.0.0.1:1");
		CHECK_STR(r.cfg->advertise, "host.example:2");
		CHECK_STR(r.cfg->http_listen, "[::1]:0");
		CHECK_INT(r.cfg->n_etcd_endpoints, 2);
		CHECK_STR(r.cfg->etcd_endpoints[1], "127.0.0.1:2");
		CHECK_STR(r.cfg->etcd_prefix, "/p");
		CHECK_INT(r.cfg->log_level, PG_LOG_DEBUG);
		CHECK_STR(r.cfg->node_id, "n9");
	}
	run_free(&r);

	/* --advertise defaults to --listen (Goverse serverconfig). */
	RUN_ARGS(&r, "--listen=127.0.0.1:5");
	if (r.cfg)
		CHECK_STR(r.cfg->advertise, "127.0.0.1:5");
	CHECK(r.cfg != NULL);
	run_free(&r);
}

static void expect_flag_error(struct run *r, const char *want)
{
	CHECK_INT(r->rc, PG_EINVAL);
	CHECK_INT(r->exit_code, 2);
	CHECK(r->cfg == NULL);
	CHECK_CONTAINS(r->err, want);
	run_free(r);
}

static void test_flag_errors(void)
{
	struct run r;

	RUN_ARGS(&r, "--lisen", "x:1");
	CHECK(strstr(r.err, "unexpected argument") == NULL); /* x:1 was --lisen's value */
	expect_flag_error(&r, "unknown flag --lisen; did you mean --listen? (see pprofgate --help)");
	RUN_ARGS(&r, "--frobnicate");
	expect_flag_error(&r, "unknown flag --frobnicate; see pprofgate --help");
	RUN_ARGS(&r, "--listen");
	expect_flag_error(&r, "--listen needs a value (HOST:PORT)");
	RUN_ARGS(&r, "--listen", "nohost");
	expect_flag_error(&r, "--listen: expected host:port, e.g. localhost:47000, got \"nohost\"");
	RUN_ARGS(&r, "--http-listen=localhost:70000");
	expect_flag_error(&r, "--http-listen: expected host:port with a port in 0..65535");
	RUN_ARGS(&r, "--etcd", "a:1,,b:2");
	expect_flag_error(&r, "--etcd: expected host:port");
	RUN_ARGS(&r, "--etcd-prefix", "/x/");
	expect_flag_error(&r, "--etcd-prefix: expected a key prefix");
	RUN_ARGS(&r, "--log-level", "verbose");
	expect_flag_error(&r, "--log-level: expected one of debug, info, warn, error, got \"verbose\"");
	RUN_ARGS(&r, "--check-config=yes");
	expect_flag_error(&r, "--check-config takes no value");
	RUN_ARGS(&r, "extra");
	expect_flag_error(&r, "unexpected argument \"extra\"");
	RUN_ARGS(&r, "--config", "/nonexistent/x.yaml");
	expect_flag_error(&r, "/nonexistent/x.yaml: cannot open: No such file or directory");
	/* every error, not only the first */
	RUN_ARGS(&r, "--listen", "x", "--advertise", "y");
	CHECK_CONTAINS(r.err, "--advertise: expected");
	expect_flag_error(&r, "--listen: expected");
}

static void test_help_version_check(void)
{
	struct run r;
	char *md = NULL;
	size_t ml = 0;
	FILE *f;

	RUN_ARGS(&r, "--help");
	CHECK_INT(r.rc, PG_OK);
	CHECK_INT(r.exit_code, 0);
	CHECK(r.cfg == NULL);
	CHECK_CONTAINS(r.out, "--listen HOST:PORT");
	CHECK_CONTAINS(r.out, "localhost:47000. Not with --config.");
	CHECK_CONTAINS(r.out, "--etcd-prefix PREFIX");
	CHECK_CONTAINS(r.out, "--check-config");
	run_free(&r);

	RUN_ARGS(&r, "-h");
	CHECK_INT(r.exit_code, 0);
	CHECK_CONTAINS(r.out, "Usage:");
	run_free(&r);

	RUN_ARGS(&r, "--version");
	CHECK_INT(r.exit_code, 0);
	CHECK_CONTAINS(r.out, "pprofgate " PG_VERSION);
	run_free(&r);

	RUN_ARGS(&r, "--help-config-markdown");
	CHECK_INT(r.exit_code, 0);
	f = open_memstream(&md, &ml);
	pg_config_write_markdown(f);
	fclose(f);
	CHECK_STR(r.out, md);
	free(md);
	run_free(&r);

	RUN_ARGS(&r, "--check-config");
	CHECK_INT(r.rc, PG_OK);
	CHECK_INT(r.exit_code, 0);
	CHECK(r.cfg == NULL);
	CHECK_CONTAINS(r.out, "flags OK");
	run_free(&r);

	RUN_ARGS(&r, "--check-config", "--config", "tests/unit/data/config/bad.yaml");
	CHECK_INT(r.exit_code, 2);
	CHECK_CONTAINS(r.err, "tests/unit/data/config/bad.yaml:4:11: cluster.shards: expected an integer in "
			      "1..1048576, got \"abc\"");
	CHECK_CONTAINS(r.err, "tests/unit/data/config/bad.yaml:9:5: nodes[0].advertise_addr: required key is missing");
	CHECK_STR(r.out, "");
	run_free(&r);
}

static void test_flag_config_conflict(void)
{
	static const char *const flags[] = {"--listen", "--advertise", "--http-listen", "--etcd", "--etcd-prefix"};
	static const char *const values[] = {"h:1", "h:1", "h:1", "h:1", "/x"};

	for (size_t i = 0; i < 5; i++) {
		struct run r;
		char want[128];
		RUN_ARGS(&r, "--config", "config/single-node.yaml", (char *)flags[i], (char *)values[i]);
		snprintf(want, sizeof(want), "%s cannot be used with --config; set ", flags[i]);
		expect_flag_error(&r, want);
	}
	{
		struct run r;
		RUN_ARGS(&r, "--config", "config/single-node.yaml", "--listen=h:1", "--etcd=h:2");
		CHECK_CONTAINS(r.err, "--etcd cannot be used with --config; set cluster.etcd.endpoints in the config file");
		expect_flag_error(&r, "--listen cannot be used with --config; set nodes[].grpc_addr in the config file");
	}
	{
		/* --log-level and --node-id are allowed with --config */
		struct run r;
		RUN_ARGS(&r, "--config", "config/single-node.yaml", "--log-level", "warn", "--node-id", "node1");
		CHECK_INT(r.rc, PG_OK);
		if (r.cfg)
			CHECK_INT(r.cfg->log_level, PG_LOG_WARN);
		run_free(&r);
	}
}

static void test_node_selection(void)
{
	struct run r;

	RUN_ARGS(&r, "--config", "config/multi-node.yaml", "--node-id", "node2");
	CHECK_INT(r.rc, PG_OK);
	CHECK_INT(r.exit_code, -1);
	if (r.cfg) {
		CHECK_STR(r.cfg->node_id, "node2");
		CHECK_STR(r.cfg->listen, "localhost:47001");
		CHECK_STR(r.cfg->advertise, "localhost:47001");
		CHECK_STR(r.cfg->http_listen, "localhost:9091");
		CHECK_STR(r.cfg->config_path, "config/multi-node.yaml");
		CHECK_INT(r.cfg->n_nodes, 3);
		CHECK_STR(r.cfg->etcd_endpoints[0], "localhost:2379");
		CHECK_STR(r.cfg->etcd_prefix, "/goverse");
		CHECK_INT(r.cfg->shards, 8192);
	}
	run_free(&r);

	/* One entry in nodes: is picked without --node-id. */
	RUN_ARGS(&r, "--config=config/single-node.yaml");
	CHECK_INT(r.rc, PG_OK);
	if (r.cfg) {
		CHECK_STR(r.cfg->node_id, "node1");
		CHECK_STR(r.cfg->listen, "localhost:47000");
		CHECK_STR(r.cfg->http_listen, "localhost:9090");
	}
	run_free(&r);

	RUN_ARGS(&r, "--config", "config/multi-node.yaml");
	expect_flag_error(&r, "--node-id is required: config/multi-node.yaml lists several nodes (node1, node2, node3)");
	RUN_ARGS(&r, "--config", "config/multi-node.yaml", "--node-id", "node7");
	expect_flag_error(&r, "--node-id: no node \"node7\" in config/multi-node.yaml; its nodes: are node1, node2, node3");
	RUN_ARGS(&r, "--config", "tests/unit/data/config/no-nodes.yaml");
	expect_flag_error(&r, "tests/unit/data/config/no-nodes.yaml: nodes: is empty");

	/* --check-config of a multi-node file needs no --node-id. */
	RUN_ARGS(&r, "--check-config", "--config", "config/multi-node.yaml");
	CHECK_INT(r.exit_code, 0);
	CHECK_STR(r.out, "config/multi-node.yaml: OK (3 nodes, 8192 shards, etcd localhost:2379 prefix /goverse)\n");
	run_free(&r);
	RUN_ARGS(&r, "--check-config", "--config", "config/multi-node.yaml", "--node-id", "nope");
	expect_flag_error(&r, "--node-id: no node \"nope\"");
}

/* A validator that refuses one node by its HTTP address. */
static int refuse_9091(const struct pg_config *cfg, void *arg)
{
	(*(int *)arg)++;
	if (strcmp(cfg->http_listen, "localhost:9091") == 0)
		return pg_fail(PG_EINVAL, "refused %s", cfg->http_listen);
	return PG_OK;
}

/* pg_config_parse_checked: the same validator for a start and for
 * --check-config, per node when no node is picked. */
static void test_checked(void)
{
	struct run r = {0};
	size_t ol = 0, el = 0;
	int calls = 0;
	char *a1[] = {"pprofgate", "--check-config", "--config", "config/multi-node.yaml"};
	char *a2[] = {"pprofgate", "--config", "config/multi-node.yaml", "--node-id", "node2"};
	char *a3[] = {"pprofgate", "--check-config", "--config", "config/multi-node.yaml", "--node-id", "node2"};
	char *a4[] = {"pprofgate", "--check-config", "--config", "config/multi-node.yaml", "--node-id", "node1"};
	char **argvs[] = {a1, a2, a3, a4};
	int argcs[] = {4, 5, 6, 6};
	const char *want[] = {"nodes[1] (node2): refused localhost:9091\n", "refused localhost:9091\n",
			      "refused localhost:9091\n", ""};
	int want_calls[] = {3, 1, 1, 1};

	for (size_t i = 0; i < 4; i++) {
		FILE *out = open_memstream(&r.out, &ol), *err = open_memstream(&r.err, &el);
		calls = 0;
		r.rc = pg_config_parse_checked(argcs[i], argvs[i], out, err, refuse_9091, &calls, &r.cfg, &r.exit_code);
		fclose(out);
		fclose(err);
		CHECK_INT(calls, want_calls[i]);
		CHECK_STR(r.err, want[i]);
		CHECK_INT(r.exit_code, want[i][0] ? 2 : 0);
		CHECK(r.cfg == NULL);
		run_free(&r);
	}
	/* nodes: [] is refused by --check-config as by a start. */
	RUN_ARGS(&r, "--check-config", "--config", "tests/unit/data/config/no-nodes.yaml");
	expect_flag_error(&r, "tests/unit/data/config/no-nodes.yaml: nodes: is empty");
}

static void test_docs_up_to_date(void)
{
	char *md = NULL, *onfile = NULL;
	size_t ml = 0, fl = 0;
	FILE *f = open_memstream(&md, &ml);

	pg_config_write_markdown(f);
	fclose(f);
	if (getenv("PG_CONFIG_UPDATE_DOCS")) {
		FILE *w = fopen("docs/configuration.md", "w");
		CHECK(w != NULL);
		if (w) {
			fputs(md, w);
			fclose(w);
		}
	}
	f = fopen("docs/configuration.md", "r");
	CHECK(f != NULL);
	if (f) {
		FILE *m = open_memstream(&onfile, &fl);
		int ch;
		while ((ch = fgetc(f)) != EOF)
			fputc(ch, m);
		fclose(m);
		fclose(f);
		if (strcmp(onfile, md) != 0)
			fprintf(stderr, "docs/configuration.md is stale: regenerate with "
					"`pprofgate --help-config-markdown > docs/configuration.md` "
					"(or PG_CONFIG_UPDATE_DOCS=1 build/config_test)\n");
		CHECK(strcmp(onfile, md) == 0);
	}
	CHECK_CONTAINS(md, "| `cluster.shards` | integer 1..1048576 | `8192` |");
	CHECK_CONTAINS(md, "| `--etcd-prefix` |");
	CHECK_CONTAINS(md, "- `gates`:");
	{
		/* The generated example is itself a valid config. */
		const char *b = strstr(md, "```yaml\n"), *e = b ? strstr(b + 8, "```\n") : NULL;
		struct pg_config *cfg = NULL;
		char *errs = NULL;
		CHECK(b && e);
		if (b && e) {
			CHECK_INT(pg_config_parse_yaml("example", b + 8, (size_t)(e - b - 8), &cfg, &errs), PG_OK);
			if (errs)
				fprintf(stderr, "%s", errs);
			if (cfg)
				CHECK_INT(cfg->n_nodes, 1);
		}
		pg_config_free(&cfg);
		free(errs);
	}
	free(onfile);
	free(md);
}

/* diagnostics: lists joined one per line, jwt.keys entries, enums. */
static void test_diagnostics_section(void)
{
	struct pg_config *cfg = NULL;
	char *errs = NULL;
	const char *ok = "version: 1\ncluster:\n  provider: etcd\ndiagnostics:\n"
			 "  tls_server_config:\n    cert_file: /etc/hostname\n    key_file: /etc/hostname\n"
			 "    min_version: TLS13\n"
			 "  client_identities: [\"uri:spiffe://x/admin pprof:admin\", \"cn:op\"]\n"
			 "  jwt:\n    issuer: https://iss\n    keys:\n      - {alg: RS256, file: /etc/hostname}\n"
			 "      - {alg: HS256, kid: k2, file: /etc/hostname}\n"
			 "  groups:\n    pprof:\n      auth: mtls or jwt\n      allowlist: 10.0.0.0/8\n"
			 "    metrics:\n      allowlist: [127.0.0.1/32, \"::1/128\"]\n";

	CHECK_INT(parse(ok, &cfg, &errs), PG_OK);
	if (errs)
		fprintf(stderr, "%s", errs);
	free(errs);
	errs = NULL;
	if (cfg) {
		CHECK_STR(cfg->diag.cert_file, "/etc/hostname");
		CHECK_STR(cfg->diag.min_version, "TLS13");
		CHECK_STR(cfg->diag.client_identities, "uri:spiffe://x/admin pprof:admin\ncn:op");
		CHECK_INT(cfg->diag.n_jwt_keys, 2);
		CHECK_STR(cfg->diag.jwt_keys[1].alg, "HS256");
		CHECK_STR(cfg->diag.jwt_keys[1].kid, "k2");
		CHECK_INT(cfg->diag.jwt_clock_skew, 60);
		CHECK_STR(cfg->diag.pprof.auth, "mtls or jwt");
		CHECK_STR(cfg->diag.pprof.allowlist, "10.0.0.0/8");
		CHECK_STR(cfg->diag.metrics.allowlist, "127.0.0.1/32\n::1/128");
	}
	pg_config_free(&cfg);
	expect_error("version: 1\ncluster:\n  provider: etcd\ndiagnostics:\n  groups:\n    pprof:\n      auth: basic\n",
		     "diagnostics.groups.pprof.auth: expected one of: none|mtls|jwt");
	expect_error("version: 1\ncluster:\n  provider: etcd\ndiagnostics:\n  jwt:\n    keys:\n      - {alg: none, file: /etc/hostname}\n",
		     "diagnostics.jwt.keys[0].alg: expected one of: RS256|ES256|HS256");
	expect_error("version: 1\ncluster:\n  provider: etcd\ndiagnostics:\n  jwt:\n    keys:\n      - {alg: RS256}\n",
		     "file: required key is missing");
	expect_error("version: 1\ncluster:\n  provider: etcd\ndiagnostics:\n  trusted_proxies: [[1]]\n",
		     "diagnostics.trusted_proxies[0]: expected a string");
	expect_error("version: 1\ncluster:\n  provider: etcd\ndiagnostics:\n  tls_server_config:\n    key_file: /nonexistent/k\n",
		     "diagnostics.tls_server_config.key_file: expected a readable file");
}

int main(void)
{
	RUN(test_valid_yaml);
	RUN(test_yaml_defaults);
	RUN(test_goverse_keys_ignored);
	RUN(test_yaml_value_errors);
	RUN(test_yaml_address_errors);
	RUN(test_yaml_structure_errors);
	RUN(test_unknown_key_hints);
	RUN(test_yaml_anchors);
	RUN(test_yaml_alias_bombs);
	RUN(test_yaml_collects_all_errors);
	RUN(test_yaml_node_errors);
	RUN(test_yaml_tls);
	RUN(test_yaml_limits);
	RUN(test_examples_valid);
	RUN(test_flag_defaults);
	RUN(test_flags_each);
	RUN(test_flag_errors);
	RUN(test_help_version_check);
	RUN(test_flag_config_conflict);
	RUN(test_node_selection);
	RUN(test_checked);
	RUN(test_docs_up_to_date);
	RUN(test_diagnostics_section);
	TEST_END();
}
