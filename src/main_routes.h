/* The node's HTTP route table: which handler answers which path, behind
 * which guard. Wiring only, kept out of main.c so that the tests serve the
 * very table the binary serves (tests/unit/routes_test.c). */
#ifndef PG_MAIN_ROUTES_H
#define PG_MAIN_ROUTES_H

#include <stddef.h>

#include "src/http/server.h"
#include "src/pprof/routes.h"

/* Go's net/http/pprof routes, each in PG_HTTP_GROUP_PPROF (behind the
 * gate) with pr as its handler's arg: fills out (max entries) and returns
 * how many there are. */
size_t pg_main_routes(struct pg_pprof_routes *pr, struct pg_http_route *out, size_t max);

#endif
