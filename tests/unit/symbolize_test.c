/* In-process symbolizer: real addresses of this binary and libc, and the
 * DWARF line parser on hand-built v4/v5 sections, including malformed ones. */
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/pprof/symbolize.h"
#include "tests/unit/test.h"

static const int marker_first_line = __LINE__ + 2;
static int __attribute__((noinline)) symbolize_test_static_marker(int x)
{
	volatile int v = x;

	v = v * 7 + 3;
	return v;
}
static const int marker_last_line = __LINE__ - 1;

static void test_static_function(void)
{
	struct pg_sym_info si;
	uintptr_t a = (uintptr_t)&symbolize_test_static_marker;

	CHECK_INT(symbolize_test_static_marker(1), 10);
	for (int off = 0; off < 8; off += 4) {
		CHECK_INT(pg_symbolize(a + (uintptr_t)off, &si), PG_OK);
		CHECK_STR(si.function, "symbolize_test_static_marker");
		CHECK(si.function_start == a);
		CHECK_CONTAINS(si.file, "tests/unit/symbolize_test.c");
		CHECK(si.line >= marker_first_line && si.line <= marker_last_line);
		CHECK(si.start_line >= marker_first_line && si.start_line <= si.line);
		CHECK(si.object != NULL && si.object[0] == '/');
		CHECK(si.build_id != NULL && strlen(si.build_id) >= 16);
		CHECK(si.object_has_lines);
	}
}

/* The build ID read from memory is the one binutils reads from the file. */
static void test_build_id(void)
{
	struct pg_sym_info si;
	char cmd[4200], out[4096] = "";
	FILE *f;
	size_t n;

	CHECK_INT(pg_symbolize_object((uintptr_t)&symbolize_test_static_marker, &si), PG_OK);
	CHECK(si.object != NULL);
	CHECK(si.build_id != NULL);
	/* binutils comes with build-essential (scripts/deps.sh). */
	CHECK(system("command -v readelf >/dev/null 2>&1") == 0);
	if (!si.object || !si.build_id || test_failed_checks)
		return;
	snprintf(cmd, sizeof(cmd), "readelf -n '%s' 2>/dev/null", si.object);
	f = popen(cmd, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	pclose(f);
	CHECK_CONTAINS(out, si.build_id);
}

static void test_libc(void)
{
	struct pg_sym_info si;
	char buf[64];

	/* a glibc-only function: sanitizers do not intercept it */
	uintptr_t a = (uintptr_t)&gnu_get_libc_version + 1;

	CHECK_INT(pg_symbolize(a, &si), PG_OK);
	CHECK_STR(si.function, "gnu_get_libc_version");
	CHECK_CONTAINS(si.object, "libc.so");
	CHECK(si.build_id != NULL);
	CHECK_INT(pg_symbolize_name(a, buf, sizeof(buf)), PG_OK);
	CHECK_STR(buf, "gnu_get_libc_version");
	/* aliases (__getpid GLOBAL, getpid WEAK): the public name wins */
	CHECK_INT(pg_symbolize_name((uintptr_t)&getpid + 1, buf, sizeof(buf)), PG_OK);
	CHECK_STR(buf, "getpid");
	/* truncation keeps a terminated prefix */
	CHECK_INT(pg_symbolize_name((uintptr_t)&symbolize_test_static_marker, buf, 6), PG_OK);
	CHECK_STR(buf, "symbo");
}

static void test_garbage(void)
{
	struct pg_sym_info si;
	char buf[32] = "x";
	int dummy_on_stack = 0;

	CHECK_INT(pg_symbolize(0, &si), PG_ENOTFOUND);
	CHECK(si.function == NULL);
	CHECK_INT(pg_symbolize(0x10, &si), PG_ENOTFOUND);
	CHECK_INT(pg_symbolize(UINTPTR_MAX, &si), PG_ENOTFOUND);
	CHECK_INT(pg_symbolize((uintptr_t)&dummy_on_stack, &si), PG_ENOTFOUND);
	CHECK(si.function == NULL);
	CHECK_INT(pg_symbolize_name(0x10, buf, sizeof(buf)), PG_ENOTFOUND);
	CHECK_STR(buf, "");
	CHECK_INT(pg_symbolize_name(0x10, buf, 0), PG_EINVAL);
}

/* The vDSO has no file on disk: its symbols come from memory. */
static void test_vdso(void)
{
	uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	struct pg_sym_info si;
	int found = 0;

	/* Every Linux x86-64 process has a vDSO. */
	CHECK(base != 0);
	if (!base)
		return;
	for (uintptr_t a = base; a < base + 16384 && !found; a += 8)
		if (pg_symbolize(a, &si) == PG_OK && strstr(si.function, "clock_gettime"))
			found = 1;
	CHECK(found);
	CHECK_CONTAINS(si.object, "vdso");
}

static void test_object_only(void)
{
	struct pg_sym_info si;

	CHECK_INT(pg_symbolize_object((uintptr_t)&symbolize_test_static_marker, &si), PG_OK);
	CHECK(si.object != NULL && si.object[0] == '/');
	CHECK(si.build_id != NULL);
	CHECK(si.function == NULL);
	CHECK_INT(pg_symbolize_object(0x10, &si), PG_ENOTFOUND);
	CHECK(si.object == NULL);
}

/* A stripped shared library whose static function is named (and given its
 * file:line) only by its separate debug file under <root>/.build-id/, with
 * zlib-compressed debug sections as distributions ship them. */
static void test_debug_file(void)
{
	char dir[] = "/tmp/pg_symdbg.XXXXXX", cmd[4096], lib[256], buf[64];
	const char *src = "static int __attribute__((noinline)) dbg_hidden_fn(int x)\n"
			  "{\n\tvolatile int v = x;\n\treturn v * 5;\n}\n"
			  "void *dbg_addr(void) { return (void *)&dbg_hidden_fn; }\n"
			  "int dbg_call(int x) { return dbg_hidden_fn(x); }\n";
	void *h = NULL, *(*get)(void);
	struct pg_sym_info si;
	FILE *f;

	/* gcc and binutils come with build-essential (scripts/deps.sh). */
	if (system("command -v gcc objcopy strip >/dev/null 2>&1") != 0) {
		CHECK(!"gcc, objcopy and strip are installed (build-essential)");
		return;
	}
	CHECK(mkdtemp(dir) != NULL);
	snprintf(cmd, sizeof(cmd), "%s/libdbg.c", dir);
	f = fopen(cmd, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(src, f);
	/* enough line rows that objcopy finds compressing .debug_line worth it */
	for (int i = 0; i < 300; i++)
		fprintf(f, "int dbg_fill%d(int x) { return dbg_hidden_fn(x) + %d; }\n", i, i);
	fclose(f);
	snprintf(lib, sizeof(lib), "%s/libdbg.so", dir);
	/* build, split off the debug info into root/.build-id/xx/yyyy.debug,
	 * strip the library */
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd %s; gcc -shared -fPIC -g -O1 -Wl,--build-id -o libdbg.so libdbg.c; "
		 "id=$(readelf -n libdbg.so | sed -n 's/.*Build ID: *//p'); "
		 "mkdir -p root/.build-id/$(echo $id | cut -c1-2); "
		 "objcopy --only-keep-debug --compress-debug-sections=zlib libdbg.so root/.build-id/$(echo $id | cut -c1-2)/$(echo $id "
		 "| cut -c3-).debug; strip libdbg.so; "
		 "readelf -SW root/.build-id/*/*.debug | grep ' .debug_line ' | grep -q ' C '",
		 dir);
	CHECK_INT(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/root", dir);
	pg_symbolize_set_debug_root(cmd);
	h = dlopen(lib, RTLD_NOW);
	CHECK(h != NULL);
	if (!h)
		goto out;
	*(void **)&get = dlsym(h, "dbg_addr");
	CHECK(get != NULL);
	if (get) {
		uintptr_t a = (uintptr_t)get();

		CHECK_INT(pg_symbolize(a, &si), PG_OK);
		CHECK_STR(si.function, "dbg_hidden_fn");
		CHECK_CONTAINS(si.file, "libdbg.c");
		CHECK(si.line >= 1 && si.line <= 5);
		CHECK_CONTAINS(si.object, "libdbg.so");
		CHECK_INT(pg_symbolize_name(a, buf, sizeof(buf)), PG_OK);
		CHECK_STR(buf, "dbg_hidden_fn");
	}
out:
	pg_symbolize_set_debug_root("/usr/lib/debug");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void *sym_thread(void *arg)
{
	struct pg_sym_info si;
	int *bad = arg;

	for (int i = 0; i < 200; i++)
		if (pg_symbolize((uintptr_t)&symbolize_test_static_marker + 1, &si) != PG_OK ||
		    strcmp(si.function, "symbolize_test_static_marker") != 0)
			(*bad)++;
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[4];
	int bad[4] = {0};

	for (int i = 0; i < 4; i++)
		CHECK_INT(pthread_create(&t[i], NULL, sym_thread, &bad[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(bad[i], 0);
	}
}

/* --- hand-built .debug_line sections --- */

struct bytes {
	uint8_t b[1024];
	size_t n;
};

static void u8(struct bytes *s, unsigned v)
{
	s->b[s->n++] = (uint8_t)v;
}

static void uN(struct bytes *s, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		u8(s, (unsigned)(v >> (8 * i)) & 0xff);
}

static void cstr(struct bytes *s, const char *str)
{
	size_t l = strlen(str) + 1;

	memcpy(s->b + s->n, str, l);
	s->n += l;
}

static void set_address(struct bytes *s, uint64_t a)
{
	u8(s, 0);
	u8(s, 9);
	u8(s, 2);
	uN(s, a, 8);
}

static void end_sequence(struct bytes *s)
{
	u8(s, 0);
	u8(s, 1);
	u8(s, 1);
}

static const uint8_t std_lens[12] = {0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1};

/* Header fields common to v4/v5 after header_length. */
static void common(struct bytes *s)
{
	u8(s, 1);  /* minimum_instruction_length */
	u8(s, 1);  /* maximum_operations_per_instruction */
	u8(s, 1);  /* default_is_stmt */
	u8(s, 0xfb); /* line_base -5 */
	u8(s, 14); /* line_range */
	u8(s, 13); /* opcode_base */
	for (int i = 0; i < 12; i++)
		u8(s, std_lens[i]);
}

/* Patches unit_length and header_length once the unit is complete. */
static void finish_unit(struct bytes *s, size_t start, size_t hdr_len_at, size_t prog_at)
{
	uint32_t ul = (uint32_t)(s->n - start - 4), hl = (uint32_t)(prog_at - hdr_len_at - 4);

	memcpy(s->b + start, &ul, 4);
	memcpy(s->b + hdr_len_at, &hl, 4);
}

/* DWARF 5: dirs {"/src"}, files {"a.c" (line_strp) dir 0, "/abs/b.c" dir 0}. */
static void build_v5(struct bytes *s, struct bytes *line_str)
{
	size_t start = s->n, hl, prog;

	line_str->n = 0;
	cstr(line_str, "a.c");
	cstr(line_str, "/abs/b.c");
	uN(s, 0, 4);
	uN(s, 5, 2);
	u8(s, 8); /* address_size */
	u8(s, 0); /* segment_selector_size */
	hl = s->n;
	uN(s, 0, 4);
	common(s);
	u8(s, 1); /* directory format: path/string */
	u8(s, 1);
	u8(s, 0x08);
	u8(s, 1);
	cstr(s, "/src");
	u8(s, 2); /* file format: path/line_strp, directory_index/data1 */
	u8(s, 1);
	u8(s, 0x1f);
	u8(s, 2);
	u8(s, 0x0b);
	u8(s, 2);
	uN(s, 0, 4);
	u8(s, 0);
	uN(s, 4, 4);
	u8(s, 0);
	prog = s->n;
	set_address(s, 0x1000);
	u8(s, 3); /* advance_line 9 -> 10 */
	u8(s, 9);
	u8(s, 1); /* copy: 0x1000 file 1 (/abs/b.c) line 10 */
	u8(s, 4); /* set_file 0 */
	u8(s, 0);
	u8(s, 13 + (1 + 5) + 14 * 2); /* special: addr += 2, line += 1 */
	u8(s, 2); /* advance_pc 6 -> 0x1008 */
	u8(s, 6);
	end_sequence(s);
	/* a sequence the linker discarded, relocated to 0: must be ignored */
	set_address(s, 0);
	u8(s, 1);
	u8(s, 2);
	u8(s, 0x7f);
	end_sequence(s);
	finish_unit(s, start, hl, prog);
}

/* DWARF 4: include dir "/inc", file "c.c" in dir 1. */
static void build_v4(struct bytes *s)
{
	size_t start = s->n, hl, prog;

	uN(s, 0, 4);
	uN(s, 4, 2);
	hl = s->n;
	uN(s, 0, 4);
	common(s);
	cstr(s, "/inc");
	u8(s, 0);
	cstr(s, "c.c");
	u8(s, 1);
	u8(s, 0);
	u8(s, 0);
	u8(s, 0);
	prog = s->n;
	set_address(s, 0x2000);
	u8(s, 3);
	u8(s, 4); /* line 5 */
	u8(s, 1);
	u8(s, 9); /* fixed_advance_pc 4 */
	uN(s, 4, 2);
	end_sequence(s);
	finish_unit(s, start, hl, prog);
}

static void test_line_table(void)
{
	struct bytes s = {.n = 0}, ls = {.n = 0};
	struct pg_dwarf_sections ds;
	struct pg_line_table *t = NULL;
	const char *file;
	int line;

	build_v5(&s, &ls);
	build_v4(&s);
	memset(&ds, 0, sizeof(ds));
	ds.debug_line = s.b;
	ds.debug_line_len = s.n;
	ds.debug_line_str = ls.b;
	ds.debug_line_str_len = ls.n;
	CHECK_INT(pg_line_table_parse(&ds, &t), PG_OK);
	if (!t)
		return;
	CHECK_INT(pg_line_table_rows(t), 5);
	CHECK_INT(pg_line_table_lookup(t, 0x1000, &file, &line), PG_OK);
	CHECK_STR(file, "/abs/b.c");
	CHECK_INT(line, 10);
	CHECK_INT(pg_line_table_lookup(t, 0x1001, &file, &line), PG_OK);
	CHECK_INT(line, 10);
	CHECK_INT(pg_line_table_lookup(t, 0x1002, &file, &line), PG_OK);
	CHECK_STR(file, "/src/a.c");
	CHECK_INT(line, 11);
	CHECK_INT(pg_line_table_lookup(t, 0x1007, &file, &line), PG_OK);
	CHECK_INT(line, 11);
	CHECK_INT(pg_line_table_lookup(t, 0x1008, &file, &line), PG_ENOTFOUND);
	CHECK_INT(pg_line_table_lookup(t, 0xfff, &file, &line), PG_ENOTFOUND);
	CHECK_INT(pg_line_table_lookup(t, 0x10, &file, &line), PG_ENOTFOUND);
	CHECK_INT(pg_line_table_lookup(t, 0x2003, &file, &line), PG_OK);
	CHECK_STR(file, "/inc/c.c");
	CHECK_INT(line, 5);
	CHECK_INT(pg_line_table_lookup(t, 0x2004, &file, &line), PG_ENOTFOUND);
	pg_line_table_free(&t);
	CHECK(t == NULL);
	pg_line_table_free(&t);
}

/* Without .debug_line_str the v5 file names are unknown, the rows stay. */
static void test_line_table_missing_strings(void)
{
	struct bytes s = {.n = 0}, ls = {.n = 0};
	struct pg_dwarf_sections ds;
	struct pg_line_table *t = NULL;
	const char *file;
	int line;

	build_v5(&s, &ls);
	memset(&ds, 0, sizeof(ds));
	ds.debug_line = s.b;
	ds.debug_line_len = s.n;
	CHECK_INT(pg_line_table_parse(&ds, &t), PG_OK);
	CHECK_INT(pg_line_table_lookup(t, 0x1000, &file, &line), PG_OK);
	CHECK(file == NULL);
	CHECK_INT(line, 10);
	pg_line_table_free(&t);
}

static void test_line_table_malformed(void)
{
	struct bytes s = {.n = 0}, ls = {.n = 0}, bad;
	struct pg_dwarf_sections ds;
	struct pg_line_table *t = NULL;
	const char *file;
	int line;

	CHECK_INT(pg_line_table_parse(NULL, &t), PG_EINVAL);
	memset(&ds, 0, sizeof(ds));
	CHECK_INT(pg_line_table_parse(&ds, &t), PG_EINVAL);
	build_v5(&s, &ls);
	ds.debug_line_str = ls.b;
	ds.debug_line_str_len = ls.n;
	/* every truncation parses to nothing or a consistent table: rows from a
	 * truncated unit never appear, and lookups stay in bounds */
	for (size_t n = 0; n < s.n; n++) {
		int rc;

		ds.debug_line = s.b;
		ds.debug_line_len = n;
		rc = pg_line_table_parse(&ds, &t);
		CHECK(rc == PG_OK || rc == PG_EPROTO || rc == PG_EINVAL);
		if (rc == PG_OK) {
			CHECK_INT(pg_line_table_rows(t), 0);
			CHECK_INT(pg_line_table_lookup(t, 0x1000, &file, &line), PG_ENOTFOUND);
		}
		pg_line_table_free(&t);
	}
	/* version 6 and line_range 0 are rejected */
	bad = s;
	bad.b[4] = 6;
	ds.debug_line = bad.b;
	ds.debug_line_len = bad.n;
	CHECK_INT(pg_line_table_parse(&ds, &t), PG_EPROTO);
	bad = s;
	bad.b[4 + 2 + 2 + 4 + 4] = 0; /* line_range */
	CHECK_INT(pg_line_table_parse(&ds, &t), PG_EPROTO);
	/* a line_strp offset outside .debug_line_str gives no file name */
	bad = s;
	for (size_t i = 0; i + 4 < bad.n; i++)
		if (memcmp(bad.b + i, "/src", 5) == 0) {
			bad.b[i + 5 + 9] = 0xff; /* high byte of the first file's line_strp */
			break;
		}
	CHECK_INT(pg_line_table_parse(&ds, &t), PG_OK);
	if (t) {
		CHECK_INT(pg_line_table_lookup(t, 0x1002, &file, &line), PG_OK);
		CHECK(file == NULL);
	}
	pg_line_table_free(&t);
	/* every single-byte corruption is survived */
	for (size_t i = 0; i < s.n; i++) {
		bad = s;
		bad.b[i] ^= 0xa5;
		if (pg_line_table_parse(&ds, &t) == PG_OK) {
			if (pg_line_table_lookup(t, 0x1004, &file, &line) == PG_OK && file)
				CHECK(strlen(file) < 1024);
		}
		pg_line_table_free(&t);
	}
}

int main(void)
{
	RUN(test_static_function);
	RUN(test_build_id);
	RUN(test_libc);
	RUN(test_garbage);
	RUN(test_threads);
	RUN(test_vdso);
	RUN(test_object_only);
	RUN(test_debug_file);
	RUN(test_line_table);
	RUN(test_line_table_missing_strings);
	RUN(test_line_table_malformed);
	TEST_END();
}
