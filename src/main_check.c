/* Wiring: the checks a start runs; see main_check.h. */
#include "src/main_check.h"

#include <string.h>

#include "src/admin/api.h"
#include "src/cluster/etcd.h"
#include "src/cluster/membership.h"
#include "src/gate/gate.h"
#include "src/http/server.h"
#include "src/util/log.h"

/* The HTTP listener as main starts it: the gate's checks of cfg->diag
 * (nothing is created, not even the audit file), then the server's own checks
 * of addresses and TLS files. */
static int check_http(const struct pg_config *cfg)
{
	struct pg_http_opts ho = {.listen = cfg->http_listen};
	int rc;

	if (!cfg->http_listen[0])
		return PG_OK; /* no HTTP listener: diagnostics: is not used */
	if ((rc = pg_gate_check_exposure(cfg->http_listen, &cfg->diag)) != PG_OK ||
	    (rc = pg_gate_check_config(&cfg->diag, &ho)) != PG_OK)
		return rc;
	return pg_http_check_opts(&ho);
}

int pg_main_check(const struct pg_config *cfg, void *arg)
{
	struct pg_main_check *st = arg;
	struct pg_etcd *etcd = NULL;
	int rc;

	if ((rc = check_http(cfg)) != PG_OK || (rc = pg_admin_api_check(cfg)) != PG_OK)
		return rc;
	if ((rc = pg_etcd_new_from_config(cfg, &etcd)) != PG_OK)
		return rc;
	pg_etcd_free(&etcd);
	if (st && st->cluster_done)
		return PG_OK;
	if (st)
		st->cluster_done = true;
	rc = pg_membership_check_goverse(cfg);
	if (rc == PG_ENET) {
		pg_warn("main", "%s; the node checks again before it registers", pg_errmsg());
		pg_err_clear();
		rc = PG_OK;
	}
	return rc;
}
