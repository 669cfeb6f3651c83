#include "src/pprof/stacktext.h"

#include <string.h>

#include "src/pprof/symbolize.h"

struct frame {
	const char *func; /* never NULL */
	const char *file; /* never NULL: source file, else the object */
	int line;         /* 0 when unknown */
	uintptr_t off;    /* pc - function start (or object load bias) */
};

static void describe(uintptr_t pc, struct pg_sym_info *si, struct frame *f)
{
	memset(si, 0, sizeof(*si));
	if (pg_symbolize(pc, si) != PG_OK) /* fields stay NULL/0 when unknown */
		pg_err_clear();
	f->func = si->function ? si->function : "?";
	f->file = si->file ? si->file : si->object ? si->object : "?";
	f->line = si->file ? si->line : 0;
	f->off = si->function && si->function_start ? pc - si->function_start : pc - si->bias;
}

/* The PC inside the call instruction, for looking up a return address. */
static uintptr_t lookup_pc(const uintptr_t *pcs, size_t i, int leaf_is_pc)
{
	return (i == 0 && leaf_is_pc) || pcs[i] == 0 ? pcs[i] : pcs[i] - 1;
}

int pg_stacktext_at(struct pg_buf *out, const uintptr_t *pcs, size_t n)
{
	int rc = pg_buf_puts(out, " @");

	for (size_t i = 0; rc == PG_OK && i < n; i++)
		rc = pg_buf_printf(out, " %#llx", (unsigned long long)pcs[i]);
	if (rc == PG_OK)
		rc = pg_buf_puts(out, "\n");
	return rc;
}

int pg_stacktext_hash_lines(struct pg_buf *out, const uintptr_t *pcs, size_t n, int leaf_is_pc)
{
	int rc = PG_OK;

	for (size_t i = 0; rc == PG_OK && i < n; i++) {
		struct pg_sym_info si;
		struct frame f;

		describe(lookup_pc(pcs, i, leaf_is_pc), &si, &f);
		if (f.line > 0)
			rc = pg_buf_printf(out, "#\t%#llx\t%s+%#llx\t%s:%d\n", (unsigned long long)pcs[i],
					   f.func, (unsigned long long)f.off, f.file, f.line);
		else
			rc = pg_buf_printf(out, "#\t%#llx\t%s+%#llx\t%s\n", (unsigned long long)pcs[i],
					   f.func, (unsigned long long)f.off, f.file);
	}
	return rc;
}

int pg_stacktext_frames(struct pg_buf *out, const uintptr_t *pcs, size_t n, int leaf_is_pc)
{
	int rc = PG_OK;

	for (size_t i = 0; rc == PG_OK && i < n; i++) {
		struct pg_sym_info si;
		struct frame f;

		describe(lookup_pc(pcs, i, leaf_is_pc), &si, &f);
		if (f.line > 0)
			rc = pg_buf_printf(out, "%s(...)\n\t%s:%d +%#llx\n", f.func, f.file, f.line,
					   (unsigned long long)f.off);
		else
			rc = pg_buf_printf(out, "%s(...)\n\t%s +%#llx\n", f.func, f.file,
					   (unsigned long long)f.off);
	}
	return rc;
}
