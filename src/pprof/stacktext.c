#include "src/pprof/stacktext.h"

#include <string.h>

#include "src/pprof/symbolize.h"

struct frame {
	const char *func; /* never NULL */
	const char *file; /* never NULL: source file, else the object */
	int line;         /* 0 when unknown */
	uintptr_t off;    /* pc - function start (or object load bias) */
};

/* The frames at pc, innermost inlined function first, its own function
 * last (as Go's runtime.CallersFrames lists inlined calls). Returns how many
 * (1 + inlined; at least 1: an unknown pc is one "?" frame). */
static size_t describe(uintptr_t pc, struct frame f[PG_SYM_MAX_INLINE + 1])
{
	struct pg_sym_info si;
	const char *obj;
	uintptr_t off;
	size_t n = 0;

	if (pg_symbolize(pc, &si) != PG_OK) /* fields stay NULL/0 when unknown */
		pg_err_clear();
	obj = si.object ? si.object : "?";
	off = si.function && si.function_start ? pc - si.function_start : pc - si.bias;
	for (size_t k = 0; k < si.n_inlined; k++, n++)
		f[n] = (struct frame){si.inlined[k].function, si.inlined[k].file ? si.inlined[k].file : obj,
				      si.inlined[k].file ? si.inlined[k].line : 0, off};
	f[n++] = (struct frame){si.function ? si.function : "?", si.file ? si.file : obj, si.file ? si.line : 0,
				off};
	return n;
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
		struct frame f[PG_SYM_MAX_INLINE + 1];
		size_t nf = describe(lookup_pc(pcs, i, leaf_is_pc), f);

		for (size_t k = 0; rc == PG_OK && k < nf; k++) {
			if (f[k].line > 0)
				rc = pg_buf_printf(out, "#\t%#llx\t%s+%#llx\t%s:%d\n", (unsigned long long)pcs[i],
						   f[k].func, (unsigned long long)f[k].off, f[k].file, f[k].line);
			else
				rc = pg_buf_printf(out, "#\t%#llx\t%s+%#llx\t%s\n", (unsigned long long)pcs[i],
						   f[k].func, (unsigned long long)f[k].off, f[k].file);
		}
	}
	return rc;
}

int pg_stacktext_frames(struct pg_buf *out, const uintptr_t *pcs, size_t n, int leaf_is_pc)
{
	int rc = PG_OK;

	for (size_t i = 0; rc == PG_OK && i < n; i++) {
		struct frame f[PG_SYM_MAX_INLINE + 1];
		size_t nf = describe(lookup_pc(pcs, i, leaf_is_pc), f);

		for (size_t k = 0; rc == PG_OK && k < nf; k++) {
			if (f[k].line > 0)
				rc = pg_buf_printf(out, "%s(...)\n\t%s:%d +%#llx\n", f[k].func, f[k].file, f[k].line,
						   (unsigned long long)f[k].off);
			else
				rc = pg_buf_printf(out, "%s(...)\n\t%s +%#llx\n", f[k].func, f[k].file,
						   (unsigned long long)f[k].off);
		}
	}
	return rc;
}
