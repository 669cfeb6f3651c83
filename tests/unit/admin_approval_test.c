/* Four-eyes windows on one node (src/admin/approval.h), without etcd: the
 * requester never approves, an approval opens the requested window once,
 * deny drops, expiry refuses, the pending table is bounded, and every step
 * is an audit line naming both identities. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/admin/approval.h"
#include "src/admin/window.h"
#include "src/config/config.h"
#include "tests/unit/test.h"

static char audit_log[1 << 16];

static void capture(void *arg, const char *fields)
{
	size_t n = strlen(audit_log);

	(void)arg;
	snprintf(audit_log + n, sizeof(audit_log) - n, "{%s}\n", fields);
}

struct fixture {
	struct pg_config cfg;
	struct pg_admin_window *win;
	struct pg_admin_approvals *ap;
};

static void setup(struct fixture *f, long ttl_s)
{
	struct pg_admin_window_opts o = {.cfg = &f->cfg, .node = "n1", .audit = capture};

	memset(f, 0, sizeof(*f));
	audit_log[0] = '\0';
	f->cfg.admin_window_max_seconds = 600;
	f->cfg.admin_request_ttl_seconds = ttl_s;
	snprintf(f->cfg.admin_require_approval, sizeof(f->cfg.admin_require_approval), "true");
	CHECK_INT(pg_admin_window_start(&o, &f->win), PG_OK);
	CHECK_INT(pg_admin_approvals_new(&f->cfg, f->win, false, &f->ap), PG_OK);
}

static void teardown(struct fixture *f)
{
	pg_admin_approvals_free(&f->ap);
	pg_admin_window_stop(&f->win);
}

static const struct pg_admin_caller alice = {.who = "cn:alice", .cert = "uri:spiffe://x/alice", .peer = "p1"};
static const struct pg_admin_caller bob = {.who = "cn:bob", .cert = "uri:spiffe://x/bob", .peer = "p2"};

static void test_request_approve(void)
{
	struct fixture f;
	struct pg_request_record rec, list[4];
	struct pg_auth_window_status ws;
	const char *profs[] = {"heap"};
	const struct pg_admin_caller alice2 = {.who = "cn:alice", .cert = "uri:spiffe://x/alice-laptop", .peer = "p3"};
	bool cl[4], cluster;
	char approver[256], err[128];
	size_t n = 0;

	setup(&f, 600);
	CHECK(pg_admin_approvals_required(f.ap));
	CHECK_INT(pg_admin_approvals_request(f.ap, &alice, "INC-1", 90000, profs, 1, false, &rec), PG_OK);
	CHECK_INT(strlen(rec.id), 22);
	CHECK_CONTAINS(audit_log, "\"event\":\"window_request\",\"identity\":\"cn:alice\",\"reason\":\"INC-1\"");
	/* Cluster requests need etcd. */
	CHECK_INT(pg_admin_approvals_request(f.ap, &alice, "INC-1", 90000, NULL, 0, true, &list[0]), PG_EINVAL);
	pg_admin_approvals_list(f.ap, list, cl, 4, &n, err, sizeof(err));
	CHECK_INT(n, 1);
	CHECK_STR(list[0].id, rec.id);
	CHECK(!cl[0]);
	CHECK_STR(err, "");
	/* The requester, or another certificate of the same name: refused, kept. */
	CHECK_INT(pg_admin_approvals_approve(f.ap, &alice, rec.id), PG_EDENIED);
	CHECK_CONTAINS(pg_errmsg(), "must be approved by another allowed identity");
	CHECK_INT(pg_admin_approvals_approve(f.ap, &alice2, rec.id), PG_EDENIED);
	CHECK_CONTAINS(audit_log, "\"reason\":\"self_approval\"");
	CHECK_CONTAINS(audit_log, "\"requester\":\"cn:alice\",\"approver\":\"cn:alice\",\"request_reason\":\"INC-1\"");
	pg_admin_window_status(f.win, &ws, &cluster, approver, sizeof(approver));
	CHECK(!ws.open);
	/* Another identity: opened for alice, approved by bob, with an id. */
	CHECK_INT(pg_admin_approvals_approve(f.ap, &bob, rec.id), PG_OK);
	pg_admin_window_status(f.win, &ws, &cluster, approver, sizeof(approver));
	CHECK(ws.open);
	CHECK_STR(ws.opener, "cn:alice");
	CHECK_STR(approver, "cn:bob");
	CHECK_INT(ws.n_profiles, 1);
	CHECK_INT(strlen(ws.id), 22);
	CHECK(ws.left_ms > 85000 && ws.left_ms <= 90000);
	CHECK_CONTAINS(audit_log, "\"event\":\"window_approve\",\"identity\":\"cn:bob\"");
	CHECK_CONTAINS(audit_log, "\"approved_by\":\"cn:bob\"");
	/* Once: a second approval finds nothing. */
	CHECK_INT(pg_admin_approvals_approve(f.ap, &bob, rec.id), PG_ENOTFOUND);
	CHECK_CONTAINS(audit_log, "\"reason\":\"request_not_found\"");
	CHECK_INT(pg_admin_approvals_approve(f.ap, &bob, "no-such-id"), PG_ENOTFOUND);
	teardown(&f);
}

static void test_deny_bound_expiry(void)
{
	struct fixture f;
	struct pg_request_record rec, one;
	bool cluster;
	struct timespec ts = {.tv_sec = 1, .tv_nsec = 200 * 1000000};

	setup(&f, 600);
	CHECK_INT(pg_admin_approvals_request(f.ap, &alice, "INC-2", 60000, NULL, 0, false, &rec), PG_OK);
	CHECK_INT(pg_admin_approvals_deny(f.ap, &alice, rec.id, "withdrawn", &one, &cluster), PG_OK);
	CHECK_STR(one.id, rec.id);
	CHECK_CONTAINS(audit_log, "\"event\":\"window_deny\",\"identity\":\"cn:alice\"");
	CHECK_CONTAINS(audit_log, "\"detail\":\"withdrawn\"");
	CHECK_INT(pg_admin_approvals_approve(f.ap, &bob, rec.id), PG_ENOTFOUND);
	for (int i = 0; i < PG_ADMIN_PENDING_MAX; i++)
		CHECK_INT(pg_admin_approvals_request(f.ap, &alice, "fill", 60000, NULL, 0, false, &rec), PG_OK);
	CHECK_INT(pg_admin_approvals_request(f.ap, &alice, "one more", 60000, NULL, 0, false, &one), PG_ENOMEM);
	CHECK_CONTAINS(pg_errmsg(), "64 window requests are pending on this node");
	teardown(&f);

	setup(&f, 1);
	CHECK_INT(pg_admin_approvals_request(f.ap, &alice, "INC-3", 60000, NULL, 0, false, &rec), PG_OK);
	nanosleep(&ts, NULL);
	CHECK_INT(pg_admin_approvals_approve(f.ap, &bob, rec.id), PG_EBUSY);
	CHECK_CONTAINS(pg_errmsg(), "expired");
	CHECK_CONTAINS(audit_log, "\"reason\":\"request_expired\"");
	/* Expired and refused: gone. */
	CHECK_INT(pg_admin_approvals_approve(f.ap, &bob, rec.id), PG_ENOTFOUND);
	teardown(&f);
}

int main(void)
{
	RUN(test_request_approve);
	RUN(test_deny_bound_expiry);
	TEST_END();
}
