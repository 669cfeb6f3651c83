/* In-process symbolizer: code address -> function name, source file:line,
 * the functions the compiler inlined there, and the loaded object (path, load
 * bias, ELF build ID).
 *
 * Built on elfutils' libdwfl/libdw (the library `eu-addr2line` and `perf`
 * use): the running process's objects come from /proc/self/maps
 * (dwfl_linux_proc_report); function names from each object's ELF .symtab or
 * .dynsym (static functions too); file:line from its DWARF line table;
 * inlined frames from the DW_TAG_inlined_subroutine scopes around the address
 * (dwarf_getscopes), each with its call site. Stripped objects (Debian's libc)
 * give their .dynsym names unless their separate debug file is installed
 * under <root>/.build-id/xx/yyyy.debug (root /usr/lib/debug, e.g. from
 * libc6-dbg), which is then read for .symtab, lines and inline frames;
 * compressed debug sections are read too. The vDSO is read from memory.
 *
 * One libdwfl session for the process, built on first use and refreshed when
 * the dynamic linker loads a new object, under a process-wide mutex: every
 * string handed out here is owned by it and stays valid until exit (pprofgate
 * never unloads objects). Thread-safe. */
#ifndef PG_PPROF_SYMBOLIZE_H
#define PG_PPROF_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "src/util/err.h"

/* Inline frames kept per address; deeper nests keep the innermost ones. */
#define PG_SYM_MAX_INLINE 8

/* A function the compiler inlined at the address: file:line is where the
 * address is in it (innermost frame) or where it calls the next frame in. */
struct pg_sym_frame {
	const char *function;
	const char *file; /* NULL when unknown */
	int line;         /* 0 when unknown */
	int start_line;   /* its declaration line, 0 if unknown */
};

struct pg_sym_info {
	/* The function the address is in (ELF symbol), with file:line of the
	 * address, or, when code was inlined there, of the call to the
	 * outermost inlined function. */
	const char *function; /* NULL when no symbol covers the address */
	uintptr_t function_start; /* runtime address of the symbol, 0 if unknown */
	const char *file; /* NULL when there is no line information */
	int line; /* 0 when unknown */
	int start_line; /* the function's declaration line, 0 if unknown */
	/* Functions inlined at the address, innermost first; the last one was
	 * inlined into `function`. profile.proto lists the same order in a
	 * Location's lines. */
	size_t n_inlined;
	struct pg_sym_frame inlined[PG_SYM_MAX_INLINE];
	const char *object; /* path of the loaded object ("" never; NULL if none) */
	const char *build_id; /* lowercase hex, NULL if the object has none */
	uintptr_t bias; /* load bias: runtime address - link-time address */
	int object_has_lines; /* the object has usable DWARF line information */
};

/* Looks addr up. Returns PG_OK when a function name was found (file/line may
 * still be missing), PG_ENOTFOUND when the address is in no loaded object or
 * no symbol covers it (out->object may still be set). Never crashes on
 * garbage addresses: only the objects' files and tables are read. */
PG_WUR int pg_symbolize(uintptr_t addr, struct pg_sym_info *out);

/* Like pg_symbolize() but only names the object (path, build ID, bias)
 * without reading its symbol tables or DWARF; object_has_lines is 1 only if
 * they were read before. PG_OK or PG_ENOTFOUND. */
PG_WUR int pg_symbolize_object(uintptr_t addr, struct pg_sym_info *out);

/* Writes the function name covering addr into buf (NUL-terminated,
 * truncated to n-1 bytes). Returns PG_OK or PG_ENOTFOUND (buf = ""). For
 * /debug/pprof/symbol. */
PG_WUR int pg_symbolize_name(uintptr_t addr, char *buf, size_t n);

/* Where separate debug files are looked for ("" turns the lookup off).
 * Only objects first looked up afterwards see the change. */
void pg_symbolize_set_debug_root(const char *dir);

#endif
