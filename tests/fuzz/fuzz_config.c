/* Fuzz target: config YAML from untrusted bytes (pg_config_parse_yaml). */
#include <stdint.h>
#include <stdlib.h>

#include "src/config/config.h"
#include "src/util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_config *cfg = NULL;
	char *errs = NULL;

	pg_log_set_level(PG_LOG_ERROR); /* ignored-key notices would flood the output */
	if (pg_config_parse_yaml("fuzz.yaml", data, size, &cfg, &errs) == PG_OK && !cfg)
		abort();
	pg_config_free(&cfg);
	free(errs);
	return 0;
}
