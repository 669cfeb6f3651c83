/* pprofgatectl audit verify: checks an audit file's hash chain
 * (src/audit/chain.h, docs/audit.md) and names the first line that breaks it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/audit/audit.h"
#include "src/audit/chain.h"
#include "src/cli/args.h"
#include "src/cli/cmd.h"

#define PFX "pprofgatectl audit verify"

static void audit_usage(FILE *f)
{
	fputs("usage: pprofgatectl audit verify FILE [--key FILE] [--prev-hash HEX]\n"
	      "Checks the hash chain of an audit file and reports the first line that was edited,\n"
	      "deleted (a seq gap), moved or swapped, or cut short, with its line number.\n"
	      "  --key FILE       the node's diagnostics.audit_hmac_key_file (hmac-sha256 chains)\n"
	      "  --prev-hash HEX  the last hash of the previous file (rotation): the first line\n"
	      "                   must continue it\n"
	      "On success prints the line count, seq range and last hash (pass it as --prev-hash\n"
	      "when verifying the next file). Lines deleted at the very end leave no gap: compare\n"
	      "the last seq with the node's pprofgate_audit_seq metric.\n"
	      "Exit codes: 0 chain intact, 1 file or key unreadable, 2 usage (or an hmac-sha256\n"
	      "            chain without --key), 8 chain broken.\n",
	      f);
}

static const char *verdict_name(enum pg_audit_verdict v)
{
	switch (v) {
	case PG_AUDIT_OK:
		return "ok";
	case PG_AUDIT_EDITED:
		return "edited";
	case PG_AUDIT_MISSING:
		return "missing";
	case PG_AUDIT_REORDERED:
		return "reordered";
	case PG_AUDIT_MALFORMED:
		return "malformed";
	case PG_AUDIT_TRUNCATED:
		return "truncated";
	case PG_AUDIT_BAD_LINK:
		return "bad_link";
	case PG_AUDIT_NEEDS_KEY:
		return "needs_key";
	}
	return "?";
}

/* Maps the file read-only (an empty file maps to nothing). */
static int map_file(const char *path, void **data, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*data = NULL;
	*len = 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, PFX ": %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, PFX ": %s: not a regular file\n", path);
		close(fd);
		return -1;
	}
	if (st.st_size > 0) {
		*data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (*data == MAP_FAILED) {
			fprintf(stderr, PFX ": %s: %s\n", path, strerror(errno));
			*data = NULL;
			close(fd);
			return -1;
		}
		*len = (size_t)st.st_size;
	}
	close(fd);
	return 0;
}

static int verify(int argc, char **argv)
{
	const char *file = NULL, *keyf = NULL, *prevs = NULL, *v;
	unsigned char prev[PG_AUDIT_HASH_LEN], *key = NULL;
	size_t key_len = 0, len = 0;
	struct pg_audit_verify_result res;
	char hex[PG_AUDIT_HEX_LEN + 1];
	void *data = NULL;
	int rc = PG_CLI_FAILED;

	for (int i = 1; i < argc; i++) {
		int m;

		if ((m = pg_cli_flag(argc, argv, &i, "--key", &v)) == 1)
			keyf = v;
		else if (m == 0 && (m = pg_cli_flag(argc, argv, &i, "--prev-hash", &v)) == 1)
			prevs = v;
		else if (m == 0 && argv[i][0] != '-' && !file) {
			file = argv[i];
			continue;
		}
		if (m != 1) {
			fprintf(stderr, PFX ": %s %s\n", argv[i], m == -1 ? "needs a value" : "is not an argument of this command");
			return PG_CLI_USAGE;
		}
	}
	if (!file) {
		audit_usage(stderr);
		return PG_CLI_USAGE;
	}
	if (prevs && pg_audit_unhex(prevs, strlen(prevs), prev) != PG_OK) {
		fprintf(stderr, PFX ": --prev-hash takes the 64 hex digits verify printed for the previous file\n");
		return PG_CLI_USAGE;
	}
	if (keyf && pg_audit_key_load(keyf, &key, &key_len) != PG_OK) {
		fprintf(stderr, PFX ": %s\n", pg_errmsg());
		return PG_CLI_FAILED;
	}
	if (map_file(file, &data, &len) != 0)
		goto out;
	if (pg_audit_verify(data, len, key, key_len, prevs ? prev : NULL, &res) != PG_OK) {
		fprintf(stderr, PFX ": %s\n", pg_errmsg());
		goto out;
	}
	if (res.verdict != PG_AUDIT_OK) {
		printf("%s:%zu: %s: %s\n", file, res.line_no, verdict_name(res.verdict), res.msg);
		rc = res.verdict == PG_AUDIT_NEEDS_KEY ? PG_CLI_USAGE : PG_CLI_BROKEN;
		goto out;
	}
	pg_audit_hex(res.last_hash, hex);
	printf("%s: ok: %zu line(s), seq %llu..%llu\nlast hash: %s\n", file, res.lines,
	       (unsigned long long)res.first_seq, (unsigned long long)res.last_seq, hex);
	if (res.first_unchecked)
		printf("note: the first line starts no chain and no --prev-hash was given: it is taken as is\n");
	if (res.partial_skipped)
		printf("note: %zu incomplete line(s) left by a crash, each followed by the node's restart\n",
		       res.partial_skipped);
	rc = PG_CLI_OK;
out:
	if (data)
		munmap(data, len);
	if (key) {
		explicit_bzero(key, key_len);
		free(key);
	}
	return rc;
}

int pg_cli_cmd_audit(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		audit_usage(argc < 1 ? stderr : stdout);
		return argc < 1 ? PG_CLI_USAGE : PG_CLI_OK;
	}
	if (strcmp(argv[0], "verify") == 0) {
		if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			audit_usage(stdout);
			return PG_CLI_OK;
		}
		return verify(argc, argv);
	}
	fprintf(stderr, "pprofgatectl audit: unknown subcommand \"%.40s\" (want verify)\n", argv[0]);
	return PG_CLI_USAGE;
}
