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
		/* Function.start_line: the declaration's line (DW_AT_decl_line),
		 * as Go gives the line of its func keyword. */
		CHECK_INT(si.start_line, marker_first_line - 1);
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

/* A function the compiler must inline (even at -O0): its code sits inside
 * sym_inl_outer with DWARF inlined-subroutine scopes around it. */
static inline __attribute__((always_inline)) int sym_inl_leaf(int x)
{
	volatile int acc = 0;

	for (int i = 0; i < x; i++)
		acc += i * 3;
	return acc;
}

static const int sym_inl_call_line = __LINE__ + 3;
static int __attribute__((noinline)) sym_inl_outer(int x)
{
	return sym_inl_leaf(x) + 1;
}

static void test_inline_frames(void)
{
	uintptr_t a = (uintptr_t)&sym_inl_outer;
	int found = 0;

	CHECK_INT(sym_inl_outer(3), 10);
	/* Some instruction of the outer function belongs to the inlined loop. */
	for (uintptr_t off = 0; off < 512 && !found; off++) {
		struct pg_sym_info si;

		if (pg_symbolize(a + off, &si) != PG_OK || strcmp(si.function, "sym_inl_outer") != 0)
			continue;
		if (si.n_inlined == 0 || strcmp(si.inlined[0].function, "sym_inl_leaf") != 0)
			continue;
		found = 1;
		CHECK_INT(si.n_inlined, 1);
		CHECK_CONTAINS(si.inlined[0].file, "tests/unit/symbolize_test.c");
		CHECK(si.inlined[0].line > sym_inl_call_line - 14 && si.inlined[0].line < sym_inl_call_line);
		CHECK(si.inlined[0].start_line > 0);
		/* The caller's position is the call site. */
		CHECK_CONTAINS(si.file, "tests/unit/symbolize_test.c");
		CHECK_INT(si.line, sym_inl_call_line);
	}
	CHECK(found);
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
	RUN(test_inline_frames);
	TEST_END();
}
