/* In-process symbolizer: code address -> function name, source file:line and
 * the loaded object (path, load bias, ELF build ID).
 *
 * Function names come from the ELF .symtab and .dynsym of every object the
 * dynamic linker has loaded (dl_iterate_phdr), read from the file on disk, so
 * static functions resolve too. File:line comes from the DWARF .debug_line
 * section (line-program versions 2..5) of objects that carry one. The on-disk
 * file is only trusted when its GNU build ID matches the loaded image.
 *
 * Per-object tables are built once, on first use, under a process-wide
 * mutex, and kept for the life of the process: every string handed out here
 * is owned by that cache and stays valid until exit. Thread-safe. The vDSO,
 * which has no file, is read from memory.
 *
 * Limits: objects unloaded with dlclose() are not forgotten (pprofgate never
 * unloads); no inline frames (.debug_info is not read); a DWARF 4 file name
 * relative to the compilation directory stays relative; stripped objects
 * (Debian's libc) give only their .dynsym names unless their separate debug
 * file is installed (<root>/.build-id/xx/yyyy.debug, root /usr/lib/debug,
 * e.g. from libc6-dbg), which is then read for .symtab and .debug_line. */
#ifndef PG_PPROF_SYMBOLIZE_H
#define PG_PPROF_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "src/util/err.h"

struct pg_sym_info {
	const char *function; /* NULL when no symbol covers the address */
	uintptr_t function_start; /* runtime address of the symbol, 0 if unknown */
	const char *file; /* NULL when there is no line information */
	int line; /* 0 when unknown */
	int start_line; /* line of the function's first instruction, 0 if unknown */
	const char *object; /* path of the loaded object ("" never; NULL if none) */
	const char *build_id; /* lowercase hex, NULL if the object has none */
	uintptr_t bias; /* load bias: runtime address - link-time address */
	int object_has_lines; /* the object has a usable .debug_line */
};

/* Looks addr up. Returns PG_OK when a function name was found (file/line may
 * still be missing), PG_ENOTFOUND when the address is in no loaded object or
 * no symbol covers it (out->object may still be set). Never crashes on
 * garbage addresses: only our own copies of the tables are read. */
PG_WUR int pg_symbolize(uintptr_t addr, struct pg_sym_info *out);

/* Like pg_symbolize() but only names the object (path, build ID, bias)
 * without loading its symbol tables; object_has_lines is 1 only if they were
 * loaded before. PG_OK or PG_ENOTFOUND. */
PG_WUR int pg_symbolize_object(uintptr_t addr, struct pg_sym_info *out);

/* Writes the function name covering addr into buf (NUL-terminated,
 * truncated to n-1 bytes). Returns PG_OK or PG_ENOTFOUND (buf = ""). For
 * /debug/pprof/symbol. */
PG_WUR int pg_symbolize_name(uintptr_t addr, char *buf, size_t n);

/* Where separate debug files are looked for ("" turns the lookup off).
 * Only objects first looked up afterwards see the change. */
void pg_symbolize_set_debug_root(const char *dir);

/* --- the DWARF line-table parser, exposed for tests and the fuzzer --- */

struct pg_line_table;

/* Sections the line program reads from; any may be NULL/0 except
 * debug_line. Bytes are untrusted: parsing is bounded and rejects (skips)
 * malformed units without reading outside the given ranges. */
struct pg_dwarf_sections {
	const uint8_t *debug_line;
	size_t debug_line_len;
	const uint8_t *debug_line_str;
	size_t debug_line_str_len;
	const uint8_t *debug_str;
	size_t debug_str_len;
};

/* Parses every line program in s->debug_line into a sorted address table
 * (link-time addresses). Returns PG_OK (possibly with zero rows),
 * PG_EPROTO when no unit could be parsed at all, PG_ENOMEM on a bound. The
 * caller frees *out with pg_line_table_free(). */
PG_WUR int pg_line_table_parse(const struct pg_dwarf_sections *s, struct pg_line_table **out);
void pg_line_table_free(struct pg_line_table **pt);
/* Number of address rows (for tests and bounds). */
size_t pg_line_table_rows(const struct pg_line_table *t);
/* Finds the row covering a link-time address. Returns PG_OK with *file
 * (owned by the table) and *line, or PG_ENOTFOUND. */
PG_WUR int pg_line_table_lookup(const struct pg_line_table *t, uint64_t addr, const char **file,
				int *line);

#endif
