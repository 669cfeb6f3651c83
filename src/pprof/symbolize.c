/* In-process symbolizer on elfutils' libdwfl/libdw. See symbolize.h. */
/* dl_iterate_phdr is a GNU extension. */
#define _GNU_SOURCE 1
#include "src/pprof/symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/util/mutex.h"

#define MAX_BUILD_ID 64

/* What we keep per libdwfl module (its userdata slot). */
struct modinfo {
	char build_id[2 * MAX_BUILD_ID + 1];
	int has_lines; /* -1: DWARF not looked for yet */
};

/* Results by address, direct-mapped: profiles of a running node see the same
 * code addresses capture after capture, and a DWARF scope walk costs ~25 us
 * where a hit costs a copy. Allocated on first use. */
#define CACHE_SLOTS 4096

struct cached {
	uintptr_t addr;
	int rc;
	struct pg_sym_info info;
};

static struct pg_mutex g_mu = PG_MUTEX_INITIALIZER;
static struct cached *g_cache;
static Dwfl *g_dwfl;
static unsigned long long g_adds; /* dlpi_adds at the last report */
static char g_debug_root[1024] = "/usr/lib/debug";
static char *g_debug_path = g_debug_root;

/* The standard lookup (build-ID tree and .gnu_debuglink under the root),
 * unless the root was set to "". */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			  const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			  char **debuginfo_file_name)
{
	if (!g_debug_root[0])
		return -1;
	return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
					    debuglink_crc, debuginfo_file_name);
}

static const Dwfl_Callbacks g_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = find_debuginfo,
	.debuginfo_path = &g_debug_path,
};

void pg_symbolize_set_debug_root(const char *dir)
{
	pg_mutex_lock(&g_mu);
	snprintf(g_debug_root, sizeof(g_debug_root), "%s", dir ? dir : "");
	pg_mutex_unlock(&g_mu);
}

static int adds_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	/* dlpi_adds counts every dlopen; it exists when size covers it. */
	if (size >= offsetof(struct dl_phdr_info, dlpi_adds) + sizeof(info->dlpi_adds))
		*(unsigned long long *)arg = info->dlpi_adds;
	return 1;
}

/* (Re)reports this process's objects from /proc/self/maps when the dynamic
 * linker has loaded something since the last time. Modules reported before
 * keep their tables. Called with g_mu held. */
static Dwfl *session(void)
{
	unsigned long long adds = 0;

	dl_iterate_phdr(adds_cb, &adds);
	if (g_dwfl && adds == g_adds)
		return g_dwfl;
	if (!g_dwfl && !(g_dwfl = dwfl_begin(&g_callbacks)))
		return NULL;
	dwfl_report_begin_add(g_dwfl);
	if (dwfl_linux_proc_report(g_dwfl, getpid()) != 0) {
		dwfl_report_end(g_dwfl, NULL, NULL);
		return g_dwfl;
	}
	dwfl_report_end(g_dwfl, NULL, NULL);
	g_adds = adds;
	return g_dwfl;
}

/* The module covering addr, reporting anew once when none does. */
static Dwfl_Module *module_for(uintptr_t addr)
{
	Dwfl_Module *mod = g_dwfl ? dwfl_addrmodule(g_dwfl, (Dwarf_Addr)addr) : NULL;

	if (!mod && session())
		mod = dwfl_addrmodule(g_dwfl, (Dwarf_Addr)addr);
	return mod;
}

static struct modinfo *modinfo(Dwfl_Module *mod)
{
	void **ud = NULL;

	(void)dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	if (!ud)
		return NULL;
	if (!*ud) {
		struct modinfo *mi = calloc(1, sizeof(*mi));

		if (!mi)
			return NULL;
		mi->has_lines = -1;
		*ud = mi;
	}
	return *ud;
}

/* Object path, load bias and build ID: the ELF headers only. */
static void describe_object(Dwfl_Module *mod, struct pg_sym_info *out)
{
	struct modinfo *mi = modinfo(mod);
	Dwarf_Addr bias = 0;

	out->object = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	if (dwfl_module_getelf(mod, &bias))
		out->bias = (uintptr_t)bias;
	if (!mi)
		return;
	if (!mi->build_id[0]) {
		const unsigned char *bits = NULL;
		GElf_Addr vaddr;
		int n = dwfl_module_build_id(mod, &bits, &vaddr);
		static const char hx[] = "0123456789abcdef";

		for (int i = 0; bits && i < n && i < MAX_BUILD_ID; i++) {
			mi->build_id[2 * i] = hx[bits[i] >> 4];
			mi->build_id[2 * i + 1] = hx[bits[i] & 15];
		}
	}
	out->build_id = mi->build_id[0] ? mi->build_id : NULL;
	out->object_has_lines = mi->has_lines == 1;
}

static int decl_line(Dwarf_Die *die)
{
	int line = 0;

	return dwarf_decl_line(die, &line) == 0 ? line : 0;
}

/* The attribute's unsigned value, or 0. */
static Dwarf_Word udata(Dwarf_Die *die, unsigned name)
{
	Dwarf_Attribute a;
	Dwarf_Word v = 0;

	return dwarf_formudata(dwarf_attr(die, name, &a), &v) == 0 ? v : 0;
}

/* File:line of addr, and the inlined frames around it, innermost first:
 * each DW_TAG_inlined_subroutine scope is a frame whose position is the
 * previous one's call site (DW_AT_call_file/line); the enclosing
 * DW_TAG_subprogram is `function` itself. */
static void lines_and_inlines(Dwfl_Module *mod, uintptr_t addr, struct pg_sym_info *out)
{
	struct modinfo *mi = modinfo(mod);
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = dwfl_module_addrdie(mod, (Dwarf_Addr)addr, &bias);
	Dwfl_Line *dl = dwfl_module_getsrc(mod, (Dwarf_Addr)addr);
	Dwarf_Die *scopes = NULL;
	Dwarf_Files *files = NULL;
	size_t n_files = 0;
	const char *file = NULL;
	int line = 0, n;

	if (mi && mi->has_lines < 0) {
		Dwarf_Addr b;

		mi->has_lines = dwfl_module_getdwarf(mod, &b) != NULL;
		out->object_has_lines = mi->has_lines == 1;
	}
	if (dl)
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
	n = cu ? dwarf_getscopes(cu, (Dwarf_Addr)addr - bias, &scopes) : 0;
	if (n > 0 && dwarf_getsrcfiles(cu, &files, &n_files) != 0)
		files = NULL;
	for (int i = 0; i < n; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag == DW_TAG_subprogram) {
			out->start_line = decl_line(&scopes[i]);
			break;
		}
		if (tag != DW_TAG_inlined_subroutine)
			continue;
		if (out->n_inlined < PG_SYM_MAX_INLINE) {
			const char *name = dwarf_diename(&scopes[i]);

			out->inlined[out->n_inlined++] = (struct pg_sym_frame){
				.function = name ? name : "?",
				.file = file,
				.line = line,
				.start_line = decl_line(&scopes[i]),
			};
		}
		/* From here on we are at the call site in the caller. */
		{
			Dwarf_Word cf = udata(&scopes[i], DW_AT_call_file);

			file = files && cf && cf < n_files ? dwarf_filesrc(files, cf, NULL, NULL) : NULL;
			line = (int)udata(&scopes[i], DW_AT_call_line);
		}
	}
	free(scopes);
	out->file = file;
	out->line = file ? line : 0;
}

/* Among symbols at the same address (glibc's __getpid GLOBAL and getpid
 * WEAK), the public name: the one with the fewest leading underscores. */
static const char *public_alias(Dwfl_Module *mod, const char *name, const GElf_Sym *chosen)
{
	int n = dwfl_module_getsymtab(mod);
	size_t best_us = strspn(name, "_");

	for (int i = 1; best_us > 0 && i < n; i++) {
		GElf_Sym sym;
		GElf_Addr value;
		const char *alias = dwfl_module_getsym_info(mod, i, &sym, &value, NULL, NULL, NULL);
		size_t us;

		if (!alias || !*alias || sym.st_value != chosen->st_value || sym.st_shndx != chosen->st_shndx ||
		    GELF_ST_TYPE(sym.st_info) != GELF_ST_TYPE(chosen->st_info))
			continue;
		if ((us = strspn(alias, "_")) < best_us) {
			name = alias;
			best_us = us;
		}
	}
	return name;
}

int pg_symbolize_object(uintptr_t addr, struct pg_sym_info *out)
{
	Dwfl_Module *mod;

	memset(out, 0, sizeof(*out));
	pg_mutex_lock(&g_mu);
	mod = module_for(addr);
	if (mod)
		describe_object(mod, out);
	pg_mutex_unlock(&g_mu);
	return mod ? PG_OK : PG_ENOTFOUND;
}

int pg_symbolize(uintptr_t addr, struct pg_sym_info *out)
{
	Dwfl_Module *mod;
	GElf_Off off = 0;
	GElf_Sym sym;
	const char *name;
	struct cached *slot = NULL;
	int rc = PG_ENOTFOUND;

	memset(out, 0, sizeof(*out));
	pg_mutex_lock(&g_mu);
	if (!g_cache)
		g_cache = calloc(CACHE_SLOTS, sizeof(*g_cache));
	slot = g_cache ? &g_cache[(addr ^ (addr >> 12)) % CACHE_SLOTS] : NULL;
	if (slot && slot->addr == addr && addr) {
		*out = slot->info;
		rc = slot->rc;
		goto out;
	}
	mod = module_for(addr);
	if (!mod)
		goto out;
	describe_object(mod, out);
	name = dwfl_module_addrinfo(mod, (GElf_Addr)addr, &off, &sym, NULL, NULL, NULL);
	/* Code only: an address in a data object is no function. */
	if (!name || !*name || GELF_ST_TYPE(sym.st_info) == STT_OBJECT || GELF_ST_TYPE(sym.st_info) == STT_TLS)
		goto out;
	/* (Mangled C++ names, _Z..., have no such aliases.) */
	out->function = name[0] == '_' && name[1] != 'Z' ? public_alias(mod, name, &sym) : name;
	out->function_start = addr - (uintptr_t)off;
	lines_and_inlines(mod, addr, out);
	rc = PG_OK;
	/* Cached only with the module's answer: an address in no module yet
	 * may belong to an object loaded later. */
	if (slot) {
		slot->addr = addr;
		slot->rc = rc;
		slot->info = *out;
	}
out:
	pg_mutex_unlock(&g_mu);
	return rc;
}

int pg_symbolize_name(uintptr_t addr, char *buf, size_t n)
{
	struct pg_sym_info si;

	if (!buf || n == 0)
		return pg_fail(PG_EINVAL, "pg_symbolize_name: empty buffer");
	buf[0] = '\0';
	if (pg_symbolize(addr, &si) != PG_OK || !si.function)
		return PG_ENOTFOUND;
	snprintf(buf, n, "%s", si.function);
	return PG_OK;
}
