/* Fuzzes goverse.Goverse request handling: the first byte picks the method,
 * the rest is the protobuf body handed to pg_rpc_dispatch. Every outcome must
 * be a status, never a crash, a leak or undefined behaviour. */
#include <stddef.h>
#include <stdint.h>

#include "src/rpc/dispatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One service for the whole run, so calls meet objects made earlier; the
	 * bound keeps memory flat however long the fuzzer runs. */
	static struct pg_rpc_service *svc;
	struct pg_rpc_service_opts o = {.advertise = "127.0.0.1:47000", .max_objects = 1000};
	struct pg_rpc_reply r;

	if (!svc && pg_rpc_service_new(&o, &svc) != PG_OK)
		return 0;
	if (size < 1)
		return 0;
	pg_rpc_dispatch(svc, (enum pg_rpc_method)(data[0] % PG_RPC_N_METHODS), data + 1, size - 1, &r);
	pg_rpc_reply_clear(&r);
	return 0;
}
