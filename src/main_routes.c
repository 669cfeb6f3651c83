/* Separate from main.c: the http module knows no pprof, the pprof module
 * no route table; this file joins them (see main_routes.h). */
#include "src/main_routes.h"

static const struct pg_http_route pprof_routes[] = {
	{"/debug/pprof/", PG_HTTP_GET, pg_pprof_handle_index, NULL, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/profile", PG_HTTP_GET, pg_pprof_handle_profile, NULL, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/heap", PG_HTTP_GET, pg_pprof_handle_heap, NULL, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/allocs", PG_HTTP_GET, pg_pprof_handle_allocs, NULL, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/goroutine", PG_HTTP_GET, pg_pprof_handle_goroutine, NULL, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/threadcreate", PG_HTTP_GET, pg_pprof_handle_threadcreate, NULL, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/mutex", PG_HTTP_GET, pg_pprof_handle_mutex, NULL, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/block", PG_HTTP_GET, pg_pprof_handle_block, NULL, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/cmdline", PG_HTTP_GET, pg_pprof_handle_cmdline, NULL, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/symbol", PG_HTTP_GET | PG_HTTP_POST, pg_pprof_handle_symbol, NULL, PG_HTTP_GROUP_PPROF},
	{"/debug/pprof/trace", PG_HTTP_GET, pg_pprof_handle_trace, NULL, PG_HTTP_GROUP_PPROF},
};

size_t pg_main_routes(struct pg_pprof_routes *pr, struct pg_http_route *out, size_t max)
{
	size_t n = sizeof(pprof_routes) / sizeof(pprof_routes[0]);

	for (size_t i = 0; i < n && i < max; i++) {
		out[i] = pprof_routes[i];
		out[i].arg = pr;
	}
	return n < max ? n : max;
}
