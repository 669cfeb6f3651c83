/* Wiring: the checks a start runs before it starts anything, in one function
 * that `pprofgate --check-config` runs too (through pg_config_parse_checked),
 * so exit 0 there means the node gets past every check of a start. */
#ifndef PG_MAIN_CHECK_H
#define PG_MAIN_CHECK_H

#include <stdbool.h>

#include "src/config/config.h"
#include "src/util/err.h"

struct pg_main_check {
	bool cluster_done; /* the etcd prefix was checked (once per run, not per node) */
};

/* pg_config_validate_fn (arg = struct pg_main_check): the HTTP listen
 * addresses and their exposure (pg_gate_check_exposure), the diagnostics
 * gate (keys, lists, audit file: pg_gate_check_config, which creates nothing), the HTTPS
 * certificate, key and client CA (pg_http_check_opts), the admin settings
 * (pg_admin_api_check), the etcd client settings, and whether Go Goverse
 * nodes use the etcd prefix (pg_membership_check_goverse; an unreachable etcd
 * is not a refusal, as at start: a warning, and the membership thread checks
 * again before it registers). Not checked: whether the ports are free and the
 * gRPC and admin addresses can be bound. */
PG_WUR int pg_main_check(const struct pg_config *cfg, void *arg);

#endif
