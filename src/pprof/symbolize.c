/* In-process symbolizer: ELF symbol tables and DWARF line tables of every
 * loaded object, read from disk once and cached. See symbolize.h. */
/* dl_iterate_phdr is a GNU extension. */
#define _GNU_SOURCE 1
#include "src/pprof/symbolize.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "src/util/log.h"
#include "src/util/mutex.h"

#define MAX_OBJECTS 1024
#define MAX_FILE_SIZE ((size_t)2 << 30)
#define MAX_SYMBOLS (1u << 24)
#define MAX_BUILD_ID 64
#define MAX_UNSIZED (64u << 10)
#define MAX_DEBUG_SECTION ((size_t)256 << 20)

struct sym {
	uint64_t start, size; /* link-time */
	uint32_t name;        /* offset into the object's name pool */
	uint8_t rank;         /* which alias at one address to show */
};

struct object {
	char *path;      /* dl_iterate_phdr name, or the resolved executable */
	uintptr_t bias;  /* dlpi_addr */
	uintptr_t lo, hi; /* runtime range of the PT_LOAD segments */
	char build_id[2 * MAX_BUILD_ID + 1];
	int loaded;      /* symbol tables read (or tried) */
	struct sym *syms;
	size_t n_syms, syms_cap;
	char *names;     /* pool of NUL-terminated names */
	size_t names_len, names_cap;
	int has_symtab;  /* a full .symtab was read (not just .dynsym) */
	struct pg_line_table *lines;
};

static struct pg_mutex g_mu = PG_MUTEX_INITIALIZER;
static struct object *g_objs;
static size_t g_n_objs;
static unsigned long long g_adds; /* dlpi_adds at the last scan */

/* --- build IDs from the in-memory PT_NOTE segments --- */

static void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Finds NT_GNU_BUILD_ID in a note area of n bytes; writes hex into out.
 * Name and descriptor start on `align` boundaries (4, or 8 in segments such
 * as .note.gnu.property), counted from the area's start, as glibc reads
 * them. */
static int find_build_id(const uint8_t *p, size_t n, size_t align, char *out)
{
	size_t off = 0, pad = align == 8 ? 7 : 3;

	while (off <= n && n - off >= sizeof(ElfW(Nhdr))) {
		ElfW(Nhdr) nh;
		size_t name_off, desc_off;

		memcpy(&nh, p + off, sizeof(nh));
		name_off = off + sizeof(nh);
		if (nh.n_namesz > n - name_off)
			return 0;
		desc_off = (name_off + nh.n_namesz + pad) & ~pad;
		if (desc_off > n || nh.n_descsz > n - desc_off)
			return 0;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    memcmp(p + name_off, "GNU", 4) == 0 && nh.n_descsz > 0 &&
		    nh.n_descsz <= MAX_BUILD_ID) {
			hex_encode(p + desc_off, nh.n_descsz, out);
			return 1;
		}
		off = (desc_off + nh.n_descsz + pad) & ~pad;
	}
	return 0;
}

/* --- the object list --- */

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct object o;
	int have_load = 0;

	(void)size;
	(void)arg;
	if (g_n_objs >= MAX_OBJECTS)
		return 1;
	memset(&o, 0, sizeof(o));
	o.bias = info->dlpi_addr;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD) {
			if (!have_load || a < o.lo)
				o.lo = a;
			if (!have_load || a + ph->p_memsz > o.hi)
				o.hi = a + ph->p_memsz;
			have_load = 1;
		} else if (ph->p_type == PT_NOTE && !o.build_id[0]) {
			find_build_id((const uint8_t *)a, ph->p_filesz, ph->p_align, o.build_id);
		}
	}
	if (!have_load)
		return 0;
	/* Already known (same image at the same place)? */
	for (size_t i = 0; i < g_n_objs; i++)
		if (g_objs[i].bias == o.bias && g_objs[i].lo == o.lo && g_objs[i].hi == o.hi)
			return 0;
	if (info->dlpi_name && info->dlpi_name[0]) {
		o.path = strdup(info->dlpi_name);
	} else {
		char exe[4096];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		exe[n > 0 ? n : 0] = '\0';
		o.path = strdup(n > 0 ? exe : "/proc/self/exe");
	}
	if (!o.path)
		return 1;
	g_objs[g_n_objs++] = o;
	return 0;
}

static int adds_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	/* dlpi_adds counts every dlopen; it exists when size covers it. */
	if (size >= offsetof(struct dl_phdr_info, dlpi_adds) + sizeof(info->dlpi_adds))
		*(unsigned long long *)arg = info->dlpi_adds;
	return 1; /* the first object is enough */
}

/* Rescans the loaded objects, but only when something was loaded since the
 * last scan, so lookups of garbage addresses stay cheap. */
static int refresh_objects(void)
{
	unsigned long long adds = 0;

	if (!g_objs) {
		g_objs = calloc(MAX_OBJECTS, sizeof(*g_objs));
		if (!g_objs)
			return pg_fail(PG_ENOMEM, "out of memory for the symbolizer object list");
	} else {
		dl_iterate_phdr(adds_cb, &adds);
		if (adds && adds == g_adds)
			return PG_OK;
	}
	dl_iterate_phdr(adds_cb, &g_adds);
	dl_iterate_phdr(phdr_cb, NULL);
	return PG_OK;
}

static struct object *find_object(uintptr_t addr)
{
	for (size_t i = 0; i < g_n_objs; i++)
		if (addr >= g_objs[i].lo && addr < g_objs[i].hi)
			return &g_objs[i];
	return NULL;
}

/* --- reading an ELF file --- */

struct elf_file {
	const uint8_t *p;
	size_t n;
	const ElfW(Shdr) *sh;
	size_t shnum;
	const char *shstr;
	size_t shstr_len;
};

static int elf_open(const uint8_t *p, size_t n, struct elf_file *ef)
{
	const ElfW(Ehdr) *eh = (const void *)p;
	const ElfW(Shdr) *ss;

	memset(ef, 0, sizeof(*ef));
	if (n < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
	    eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shoff == 0 || eh->e_shoff > n ||
	    eh->e_shnum == 0 || eh->e_shnum > (n - eh->e_shoff) / sizeof(ElfW(Shdr)) ||
	    eh->e_shoff % sizeof(void *) != 0 || eh->e_shstrndx >= eh->e_shnum)
		return -1;
	ef->p = p;
	ef->n = n;
	ef->sh = (const void *)(p + eh->e_shoff);
	ef->shnum = eh->e_shnum;
	ss = &ef->sh[eh->e_shstrndx];
	if (ss->sh_type == SHT_NOBITS || ss->sh_offset > n || ss->sh_size > n - ss->sh_offset)
		return -1;
	ef->shstr = (const char *)p + ss->sh_offset;
	ef->shstr_len = ss->sh_size;
	return 0;
}

/* Returns section bytes (NULL if absent, NOBITS, compressed or out of range). */
static const uint8_t *elf_section(const struct elf_file *ef, size_t i, size_t *len)
{
	const ElfW(Shdr) *s = &ef->sh[i];

	*len = 0;
	if (s->sh_type == SHT_NOBITS || (s->sh_flags & SHF_COMPRESSED) || s->sh_offset > ef->n ||
	    s->sh_size > ef->n - s->sh_offset)
		return NULL;
	*len = s->sh_size;
	return ef->p + s->sh_offset;
}

/* A debug section by name. Compressed sections (SHF_COMPRESSED with
 * ELFCOMPRESS_ZLIB, as distributions ship debug files) are inflated into
 * *owned, which the caller frees. */
static const uint8_t *elf_debug_section(const struct elf_file *ef, const char *name, size_t *len,
					uint8_t **owned)
{
	size_t nl = strlen(name);

	*len = 0;
	*owned = NULL;
	for (size_t i = 0; i < ef->shnum; i++) {
		const ElfW(Shdr) *sh = &ef->sh[i];
		size_t o = sh->sh_name;
		ElfW(Chdr) ch;
		uLongf out_len;
		uint8_t *buf;

		if (o >= ef->shstr_len || ef->shstr_len - o <= nl ||
		    memcmp(ef->shstr + o, name, nl + 1) != 0)
			continue;
		if (!(sh->sh_flags & SHF_COMPRESSED))
			return elf_section(ef, i, len);
		if (sh->sh_type == SHT_NOBITS || sh->sh_offset > ef->n ||
		    sh->sh_size > ef->n - sh->sh_offset || sh->sh_size < sizeof(ch))
			return NULL;
		memcpy(&ch, ef->p + sh->sh_offset, sizeof(ch));
		if (ch.ch_type != ELFCOMPRESS_ZLIB || ch.ch_size == 0 || ch.ch_size > MAX_DEBUG_SECTION)
			return NULL;
		buf = malloc((size_t)ch.ch_size);
		if (!buf)
			return NULL;
		out_len = (uLongf)ch.ch_size;
		if (uncompress(buf, &out_len, ef->p + sh->sh_offset + sizeof(ch),
			       (uLong)(sh->sh_size - sizeof(ch))) != Z_OK ||
		    out_len != ch.ch_size) {
			free(buf);
			return NULL;
		}
		*owned = buf;
		*len = (size_t)out_len;
		return buf;
	}
	return NULL;
}

static int elf_build_id(const struct elf_file *ef, char *out)
{
	for (size_t i = 0; i < ef->shnum; i++) {
		size_t len;
		const uint8_t *p;

		if (ef->sh[i].sh_type != SHT_NOTE)
			continue;
		p = elf_section(ef, i, &len);
		if (p && find_build_id(p, len, ef->sh[i].sh_addralign, out))
			return 1;
	}
	return 0;
}

/* Among aliases at one address, show the public spelling over a reserved
 * one (getpid, not __getpid; printf, not _IO_printf), then a global name
 * over a weak or local one, then a sized symbol over an unsized one. */
static uint8_t sym_rank(int bind, const char *name, uint64_t size)
{
	uint8_t r = 0;

	if (name[0] != '_')
		r += 8;
	if (bind == STB_GLOBAL)
		r += 4;
	else if (bind == STB_WEAK)
		r += 2;
	if (size)
		r += 1;
	return r;
}

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return (int)y->rank - (int)x->rank;
}

/* Appends the function symbols of one SHT_SYMTAB/SHT_DYNSYM section. */
static int load_symtab(struct object *o, const struct elf_file *ef, size_t i)
{
	size_t *pool_len = &o->names_len, *pool_cap = &o->names_cap, *cap = &o->syms_cap;
	const ElfW(Shdr) *s = &ef->sh[i];
	const uint8_t *sp, *strp;
	size_t slen, strl, n;

	if (s->sh_link >= ef->shnum || s->sh_entsize != sizeof(ElfW(Sym)))
		return PG_OK;
	sp = elf_section(ef, i, &slen);
	strp = elf_section(ef, s->sh_link, &strl);
	if (!sp || !strp || ((uintptr_t)sp % sizeof(void *)) != 0)
		return PG_OK;
	n = slen / sizeof(ElfW(Sym));
	for (size_t k = 0; k < n; k++) {
		const ElfW(Sym) *y = (const void *)(sp + k * sizeof(ElfW(Sym)));
		int type = ELF64_ST_TYPE(y->st_info);
		const char *nm;
		size_t nlen;

		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || y->st_shndx == SHN_UNDEF ||
		    y->st_value == 0 || y->st_name == 0 || y->st_name >= strl)
			continue;
		nm = (const char *)strp + y->st_name;
		nlen = strnlen(nm, strl - y->st_name);
		if (nlen == strl - y->st_name || nlen == 0)
			continue;
		if (o->n_syms >= MAX_SYMBOLS)
			return pg_fail(PG_ENOMEM, "%s: more than %u symbols", o->path, MAX_SYMBOLS);
		if (o->n_syms == *cap) {
			size_t nc = *cap ? *cap * 2 : 1024;
			struct sym *ns = realloc(o->syms, nc * sizeof(*ns));

			if (!ns)
				return pg_fail(PG_ENOMEM, "out of memory loading symbols");
			o->syms = ns;
			*cap = nc;
		}
		if (*pool_len + nlen + 1 > *pool_cap) {
			size_t nc = *pool_cap ? *pool_cap : 4096;
			char *np;

			while (nc < *pool_len + nlen + 1)
				nc *= 2;
			if (nc > UINT32_MAX)
				return pg_fail(PG_ENOMEM, "%s: symbol names too large", o->path);
			np = realloc(o->names, nc);
			if (!np)
				return pg_fail(PG_ENOMEM, "out of memory loading symbols");
			o->names = np;
			*pool_cap = nc;
		}
		memcpy(o->names + *pool_len, nm, nlen + 1);
		o->syms[o->n_syms].start = y->st_value;
		o->syms[o->n_syms].size = y->st_size;
		o->syms[o->n_syms].name = (uint32_t)*pool_len;
		o->syms[o->n_syms].rank = sym_rank(ELF64_ST_BIND(y->st_info), nm, y->st_size);
		o->n_syms++;
		*pool_len += nlen + 1;
	}
	return PG_OK;
}

/* Reads symbols and line tables from an ELF image (bytes of a file, or the
 * vDSO in memory). */
static void load_image(struct object *o, const uint8_t *img, size_t n)
{
	struct elf_file ef;
	struct pg_dwarf_sections ds;
	uint8_t *own[3] = {NULL, NULL, NULL};
	char file_id[2 * MAX_BUILD_ID + 1] = "";

	if (elf_open(img, n, &ef) != 0)
		return;
	/* A file replaced on disk since it was loaded would give wrong names. */
	elf_build_id(&ef, file_id);
	if (o->build_id[0] && strcmp(file_id, o->build_id) != 0) {
		pg_warn("pprof", "%s: build ID on disk differs from the loaded image; not symbolizing",
			o->path);
		return;
	}
	for (size_t i = 0; i < ef.shnum; i++) {
		if (ef.sh[i].sh_type != SHT_SYMTAB && ef.sh[i].sh_type != SHT_DYNSYM)
			continue;
		if (ef.sh[i].sh_type == SHT_SYMTAB)
			o->has_symtab = 1;
		if (load_symtab(o, &ef, i))
			break;
	}
	if (o->n_syms) {
		struct sym *fit;
		size_t w = 1;

		qsort(o->syms, o->n_syms, sizeof(*o->syms), sym_cmp);
		for (size_t r = 1; r < o->n_syms; r++)
			if (o->syms[r].start != o->syms[w - 1].start)
				o->syms[w++] = o->syms[r];
		o->n_syms = w;
		/* Kept for the life of the process: drop the growth slack. The
		 * name pool keeps its slack, since aliases dropped here still
		 * own their bytes and a debug file may append more. */
		fit = realloc(o->syms, w * sizeof(*o->syms));
		if (fit) {
			o->syms = fit;
			o->syms_cap = w;
		}
	}
	if (o->lines)
		return;
	memset(&ds, 0, sizeof(ds));
	ds.debug_line = elf_debug_section(&ef, ".debug_line", &ds.debug_line_len, &own[0]);
	if (ds.debug_line) {
		ds.debug_line_str = elf_debug_section(&ef, ".debug_line_str",
						      &ds.debug_line_str_len, &own[1]);
		ds.debug_str = elf_debug_section(&ef, ".debug_str", &ds.debug_str_len, &own[2]);
		if (pg_line_table_parse(&ds, &o->lines) != PG_OK)
			o->lines = NULL;
	}
	for (int i = 0; i < 3; i++)
		free(own[i]);
}

static char g_debug_root[1024] = "/usr/lib/debug";

void pg_symbolize_set_debug_root(const char *dir)
{
	pg_mutex_lock(&g_mu);
	snprintf(g_debug_root, sizeof(g_debug_root), "%s", dir ? dir : "");
	pg_mutex_unlock(&g_mu);
}

static void load_file(struct object *o, const char *path)
{
	struct stat st;
	uint8_t *map = MAP_FAILED;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (size_t)st.st_size <= MAX_FILE_SIZE)
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map != MAP_FAILED) {
		load_image(o, map, (size_t)st.st_size);
		munmap(map, (size_t)st.st_size);
	}
	close(fd);
}

/* Loads an object's tables once. Failures leave it without tables; they are
 * never fatal. */
static void load_object(struct object *o)
{
	char dbg[sizeof(g_debug_root) + 2 * MAX_BUILD_ID + 32];

	o->loaded = 1;
	if (strncmp(o->path, "linux-vdso", 10) == 0 || strncmp(o->path, "linux-gate", 10) == 0) {
		/* The vDSO has no file; its whole image is mapped at its load
		 * address. The section headers sit past p_memsz but inside
		 * the last page of the mapping. */
		size_t pg = (size_t)sysconf(_SC_PAGESIZE);

		if (o->lo == o->bias && o->hi > o->lo && pg && (pg & (pg - 1)) == 0)
			load_image(o, (const uint8_t *)o->lo,
				   ((o->hi - o->lo) + pg - 1) & ~(uintptr_t)(pg - 1));
		return;
	}
	if (o->path[0] != '/')
		return;
	load_file(o, o->path);
	/* Stripped objects: the separate debug file that distributions ship
	 * (Debian's *-dbg / *-dbgsym packages) under the GDB build-ID layout,
	 * <root>/.build-id/<first 2 hex>/<rest>.debug. */
	if ((!o->has_symtab || !o->lines) && g_debug_root[0] && strlen(o->build_id) > 2) {
		snprintf(dbg, sizeof(dbg), "%s/.build-id/%.2s/%s.debug", g_debug_root, o->build_id,
			 o->build_id + 2);
		load_file(o, dbg);
	}
}

static const struct sym *find_sym(const struct object *o, uint64_t a)
{
	size_t lo = 0, hi = o->n_syms;
	const struct sym *s;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (o->syms[mid].start <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	s = &o->syms[lo - 1];
	/* An unsized symbol (hand-written assembly) covers up to the next
	 * one, within reason. */
	if (a - s->start >= (s->size ? s->size : MAX_UNSIZED))
		return NULL;
	return s;
}

/* The object covering addr, rescanning once for newly loaded libraries.
 * Called with g_mu held. */
static struct object *object_for(uintptr_t addr)
{
	struct object *o = g_objs ? find_object(addr) : NULL;

	if (!o && refresh_objects() == PG_OK)
		o = find_object(addr);
	return o;
}

int pg_symbolize_object(uintptr_t addr, struct pg_sym_info *out)
{
	struct object *o;

	memset(out, 0, sizeof(*out));
	pg_mutex_lock(&g_mu);
	o = object_for(addr);
	if (o) {
		out->object = o->path;
		out->build_id = o->build_id[0] ? o->build_id : NULL;
		out->bias = o->bias;
		out->object_has_lines = o->lines != NULL;
	}
	pg_mutex_unlock(&g_mu);
	return o ? PG_OK : PG_ENOTFOUND;
}

int pg_symbolize(uintptr_t addr, struct pg_sym_info *out)
{
	struct object *o;
	const struct sym *s;
	const char *file;
	int line, rc = PG_ENOTFOUND;

	memset(out, 0, sizeof(*out));
	pg_mutex_lock(&g_mu);
	o = object_for(addr);
	if (!o)
		goto out;
	if (!o->loaded)
		load_object(o);
	out->object = o->path;
	out->build_id = o->build_id[0] ? o->build_id : NULL;
	out->bias = o->bias;
	out->object_has_lines = o->lines != NULL;
	s = find_sym(o, (uint64_t)(addr - o->bias));
	if (!s)
		goto out;
	out->function = o->names + s->name;
	out->function_start = (uintptr_t)s->start + o->bias;
	if (o->lines) {
		if (pg_line_table_lookup(o->lines, (uint64_t)(addr - o->bias), &file, &line) ==
		    PG_OK) {
			out->file = file;
			out->line = line;
		}
		if (pg_line_table_lookup(o->lines, s->start, &file, &line) == PG_OK)
			out->start_line = line;
	}
	rc = PG_OK;
out:
	pg_mutex_unlock(&g_mu);
	return rc;
}

int pg_symbolize_name(uintptr_t addr, char *buf, size_t n)
{
	struct pg_sym_info si;
	int rc;

	if (!buf || n == 0)
		return pg_fail(PG_EINVAL, "pg_symbolize_name: empty buffer");
	buf[0] = '\0';
	rc = pg_symbolize(addr, &si);
	if (rc != PG_OK || !si.function)
		return PG_ENOTFOUND;
	snprintf(buf, n, "%s", si.function);
	return PG_OK;
}

/* --- DWARF .debug_line (DWARF 4 section 6.2 and DWARF 5 section 6.2) --- */

#define MAX_ROWS (1u << 22)
#define MAX_FILES (1u << 20)
#define MAX_POOL ((size_t)64 << 20)
#define FILE_NONE UINT32_MAX

struct row {
	uint64_t addr;
	uint32_t file;       /* index into files, FILE_NONE if unknown */
	unsigned line : 31;
	unsigned end : 1;    /* this address ends a sequence */
};

struct pg_line_table {
	struct row *rows;
	size_t n_rows, cap_rows;
	uint32_t *files; /* offsets into pool */
	size_t n_files, cap_files;
	char *pool;
	size_t pool_len, pool_cap;
};

/* A bounded reader: every read checks the remaining length and sets err. */
struct rd {
	const uint8_t *p;
	size_t n, off;
	int err;
};

static uint64_t rd_uint(struct rd *r, size_t w)
{
	uint64_t v = 0;

	if (r->err || w > 8 || r->n - r->off < w) {
		r->err = 1;
		return 0;
	}
	for (size_t i = 0; i < w; i++) /* little-endian targets only (x86-64, aarch64) */
		v |= (uint64_t)r->p[r->off + i] << (8 * i);
	r->off += w;
	return v;
}

static uint64_t rd_uleb(struct rd *r)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (!r->err) {
		uint8_t b;

		if (r->off >= r->n) {
			r->err = 1;
			break;
		}
		b = r->p[r->off++];
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
		if (shift > 70) {
			r->err = 1;
			break;
		}
	}
	return r->err ? 0 : v;
}

static int64_t rd_sleb(struct rd *r)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b = 0;

	while (!r->err) {
		if (r->off >= r->n) {
			r->err = 1;
			return 0;
		}
		b = r->p[r->off++];
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
		if (shift > 70) {
			r->err = 1;
			return 0;
		}
	}
	if (shift < 64 && (b & 0x40))
		v |= ~(uint64_t)0 << shift;
	return (int64_t)v;
}

static const char *rd_cstr(struct rd *r)
{
	const char *s;
	size_t len;

	if (r->err || r->off >= r->n) {
		r->err = 1;
		return NULL;
	}
	s = (const char *)r->p + r->off;
	len = strnlen(s, r->n - r->off);
	if (len == r->n - r->off) {
		r->err = 1;
		return NULL;
	}
	r->off += len + 1;
	return s;
}

static const char *str_at(const uint8_t *sec, size_t len, uint64_t off)
{
	const char *s;

	if (!sec || off >= len)
		return NULL;
	s = (const char *)sec + off;
	return strnlen(s, len - off) == len - off ? NULL : s;
}

static int lt_add_file(struct pg_line_table *t, const char *dir, const char *name, uint32_t *ix)
{
	size_t dl = 0, nl = strlen(name), need;

	if (name[0] != '/' && dir && dir[0])
		dl = strlen(dir) + 1;
	need = dl + nl + 1;
	if (t->n_files >= MAX_FILES || t->pool_len + need > MAX_POOL)
		return pg_fail(PG_ENOMEM, "DWARF line table: too many file names");
	if (t->n_files == t->cap_files) {
		size_t nc = t->cap_files ? t->cap_files * 2 : 64;
		uint32_t *nf = realloc(t->files, nc * sizeof(*nf));

		if (!nf)
			return pg_fail(PG_ENOMEM, "out of memory reading DWARF file names");
		t->files = nf;
		t->cap_files = nc;
	}
	if (t->pool_len + need > t->pool_cap) {
		size_t nc = t->pool_cap ? t->pool_cap : 4096;
		char *np;

		while (nc < t->pool_len + need)
			nc *= 2;
		np = realloc(t->pool, nc);
		if (!np)
			return pg_fail(PG_ENOMEM, "out of memory reading DWARF file names");
		t->pool = np;
		t->pool_cap = nc;
	}
	if (dl) {
		memcpy(t->pool + t->pool_len, dir, dl - 1);
		t->pool[t->pool_len + dl - 1] = '/';
	}
	memcpy(t->pool + t->pool_len + dl, name, nl + 1);
	*ix = (uint32_t)t->n_files;
	t->files[t->n_files++] = (uint32_t)t->pool_len;
	t->pool_len += need;
	return PG_OK;
}

static int lt_add_row(struct pg_line_table *t, uint64_t addr, uint32_t file, uint64_t line, int end)
{
	if (t->n_rows >= MAX_ROWS)
		return pg_fail(PG_ENOMEM, "DWARF line table: more than %u rows", MAX_ROWS);
	if (t->n_rows == t->cap_rows) {
		size_t nc = t->cap_rows ? t->cap_rows * 2 : 1024;
		struct row *nr = realloc(t->rows, nc * sizeof(*nr));

		if (!nr)
			return pg_fail(PG_ENOMEM, "out of memory reading DWARF line rows");
		t->rows = nr;
		t->cap_rows = nc;
	}
	t->rows[t->n_rows].addr = addr;
	t->rows[t->n_rows].file = file;
	t->rows[t->n_rows].line = line > INT32_MAX ? 0 : (unsigned)line;
	t->rows[t->n_rows].end = end ? 1u : 0u;
	t->n_rows++;
	return PG_OK;
}

/* Reads one attribute value of a DWARF 5 entry format. A string result goes
 * to *s, a number to *u. Returns 0, or -1 for an unsupported form. */
static int read_form(struct rd *r, uint64_t form, int offset_size, const struct pg_dwarf_sections *ds,
		     const char **s, uint64_t *u)
{
	*s = NULL;
	*u = 0;
	switch (form) {
	case 0x08: /* DW_FORM_string */
		*s = rd_cstr(r);
		break;
	case 0x0e: /* DW_FORM_strp */
		*s = str_at(ds->debug_str, ds->debug_str_len, rd_uint(r, (size_t)offset_size));
		break;
	case 0x1f: /* DW_FORM_line_strp */
		*s = str_at(ds->debug_line_str, ds->debug_line_str_len,
			    rd_uint(r, (size_t)offset_size));
		break;
	case 0x0b: /* DW_FORM_data1 */
		*u = rd_uint(r, 1);
		break;
	case 0x05: /* DW_FORM_data2 */
		*u = rd_uint(r, 2);
		break;
	case 0x06: /* DW_FORM_data4 */
		*u = rd_uint(r, 4);
		break;
	case 0x07: /* DW_FORM_data8 */
		*u = rd_uint(r, 8);
		break;
	case 0x1e: /* DW_FORM_data16 (MD5) */
		rd_uint(r, 8);
		rd_uint(r, 8);
		break;
	case 0x0f: /* DW_FORM_udata */
		*u = rd_uleb(r);
		break;
	case 0x09: { /* DW_FORM_block */
		uint64_t len = rd_uleb(r);

		if (r->err || len > r->n - r->off)
			r->err = 1;
		else
			r->off += (size_t)len;
		break;
	}
	default:
		return -1;
	}
	return r->err ? -1 : 0;
}

/* DWARF 5 directory or file-name table: a format description, then entries.
 * For directories (dirs == NULL) each path is appended to *names; for files
 * the directory index resolves against dirs. */
static int read_v5_entries(struct rd *r, int offset_size, const struct pg_dwarf_sections *ds,
			   const char **dirs, size_t n_dirs, const char ***names,
			   uint32_t **file_ix, size_t *count, struct pg_line_table *t)
{
	uint64_t fmt[16][2];
	uint8_t n_fmt = (uint8_t)rd_uint(r, 1);
	uint64_t n;

	if (r->err || n_fmt > 16)
		return -1;
	for (unsigned i = 0; i < n_fmt; i++) {
		fmt[i][0] = rd_uleb(r);
		fmt[i][1] = rd_uleb(r);
	}
	n = rd_uleb(r);
	if (r->err || n > MAX_FILES || n > r->n - r->off)
		return -1;
	if (names && !(*names = calloc(n ? n : 1, sizeof(**names))))
		return -1;
	if (file_ix && !(*file_ix = calloc(n ? n : 1, sizeof(**file_ix))))
		return -1;
	for (uint64_t e = 0; e < n; e++) {
		const char *path = NULL;
		uint64_t dir = 0;

		for (unsigned i = 0; i < n_fmt; i++) {
			const char *s;
			uint64_t u;

			if (read_form(r, fmt[i][1], offset_size, ds, &s, &u) != 0)
				return -1;
			if (fmt[i][0] == 1) /* DW_LNCT_path */
				path = s;
			else if (fmt[i][0] == 2) /* DW_LNCT_directory_index */
				dir = u;
		}
		if (names) {
			(*names)[e] = path;
		} else {
			uint32_t ix = FILE_NONE;

			if (path && lt_add_file(t, dir < n_dirs ? dirs[dir] : NULL, path, &ix) != 0)
				return -1;
			(*file_ix)[e] = ix;
		}
	}
	*count = (size_t)n;
	return 0;
}

/* Parses one line-number program unit starting at r->off; on return r->off
 * is past the unit. Rows of a sequence are kept only once its end_sequence
 * is seen, so a truncated unit adds nothing half-done. */
static int parse_unit(struct rd *sec, const struct pg_dwarf_sections *ds, struct pg_line_table *t)
{
	struct rd r;
	uint64_t unit_len, hdr_len;
	int offset_size = 4, rc = -1;
	unsigned version, addr_size = sizeof(void *), min_inst, line_range, opcode_base;
	int line_base, default_is_stmt;
	uint8_t std_len[256];
	const char **dirs = NULL;
	size_t n_dirs = 0, n_files = 0, prog_end, seq_first_row;
	uint32_t *files = NULL;
	uint64_t addr = 0, file = 1, line = 1, seq_start = 0;
	int seq_open = 0;

	unit_len = rd_uint(sec, 4);
	if (unit_len == 0xffffffffu) {
		offset_size = 8;
		unit_len = rd_uint(sec, 8);
	}
	if (sec->err || unit_len > sec->n - sec->off)
		return -1;
	r.p = sec->p + sec->off;
	r.n = (size_t)unit_len;
	r.off = 0;
	r.err = 0;
	sec->off += (size_t)unit_len; /* the next unit, whatever happens here */

	version = (unsigned)rd_uint(&r, 2);
	if (version < 2 || version > 5)
		return -1;
	if (version >= 5) {
		addr_size = (unsigned)rd_uint(&r, 1);
		rd_uint(&r, 1); /* segment_selector_size */
	}
	hdr_len = rd_uint(&r, (size_t)offset_size);
	if (r.err || hdr_len > r.n - r.off)
		return -1;
	prog_end = r.n;
	{
		size_t prog_start = r.off + (size_t)hdr_len;

		min_inst = (unsigned)rd_uint(&r, 1);
		if (version >= 4)
			rd_uint(&r, 1); /* maximum_operations_per_instruction: VLIW only */
		default_is_stmt = (int)rd_uint(&r, 1);
		(void)default_is_stmt;
		line_base = (int8_t)rd_uint(&r, 1);
		line_range = (unsigned)rd_uint(&r, 1);
		opcode_base = (unsigned)rd_uint(&r, 1);
		if (r.err || line_range == 0 || opcode_base == 0 || addr_size == 0 || addr_size > 8)
			return -1;
		memset(std_len, 0, sizeof(std_len));
		for (unsigned i = 1; i < opcode_base; i++)
			std_len[i] = (uint8_t)rd_uint(&r, 1);
		if (version >= 5) {
			if (read_v5_entries(&r, offset_size, ds, NULL, 0, &dirs, NULL, &n_dirs, t) != 0)
				goto out;
			if (read_v5_entries(&r, offset_size, ds, dirs, n_dirs, NULL, &files, &n_files,
					    t) != 0)
				goto out;
		} else {
			/* include_directories, then file_names; index 0 is the
			 * compilation directory, which lives in .debug_info. */
			size_t cap = 16;

			if (!(dirs = malloc(cap * sizeof(*dirs))))
				goto out;
			dirs[n_dirs++] = NULL;
			for (;;) {
				const char *d = rd_cstr(&r);

				if (!d)
					goto out;
				if (!d[0])
					break;
				if (n_dirs >= MAX_FILES)
					goto out;
				if (n_dirs == cap) {
					const char **nd = realloc(dirs, cap * 2 * sizeof(*nd));

					if (!nd)
						goto out;
					dirs = nd;
					cap *= 2;
				}
				dirs[n_dirs++] = d;
			}
			cap = 0;
			/* file index 0 is unused before DWARF 5 */
			if (!(files = malloc(16 * sizeof(*files))))
				goto out;
			cap = 16;
			files[n_files++] = FILE_NONE;
			for (;;) {
				const char *f = rd_cstr(&r);
				uint64_t d;
				uint32_t ix;

				if (!f)
					goto out;
				if (!f[0])
					break;
				d = rd_uleb(&r);
				rd_uleb(&r);
				rd_uleb(&r);
				if (r.err || n_files >= MAX_FILES)
					goto out;
				if (lt_add_file(t, d < n_dirs ? dirs[d] : NULL, f, &ix) != 0)
					goto out;
				if (n_files == cap) {
					uint32_t *nf = realloc(files, cap * 2 * sizeof(*nf));

					if (!nf)
						goto out;
					files = nf;
					cap *= 2;
				}
				files[n_files++] = ix;
			}
		}
		if (r.err || prog_start > r.n)
			goto out;
		r.off = prog_start;
	}

	seq_first_row = t->n_rows;
	while (r.off < prog_end && !r.err) {
		unsigned op = (unsigned)rd_uint(&r, 1);
		int emit = 0, end = 0;

		if (op >= opcode_base) {
			unsigned adj = op - opcode_base;

			addr += (uint64_t)(adj / line_range) * min_inst;
			line += (uint64_t)(int64_t)(line_base + (int)(adj % line_range));
			emit = 1;
		} else if (op == 0) {
			uint64_t len = rd_uleb(&r);
			size_t next;
			unsigned sub;

			if (r.err || len == 0 || len > r.n - r.off)
				goto out;
			next = r.off + (size_t)len;
			sub = (unsigned)rd_uint(&r, 1);
			if (sub == 1) { /* DW_LNE_end_sequence */
				emit = 1;
				end = 1;
			} else if (sub == 2) { /* DW_LNE_set_address */
				addr = rd_uint(&r, len - 1 <= 8 ? (size_t)(len - 1) : 9);
			}
			/* define_file (v2-4) and set_discriminator are skipped */
			r.off = next;
		} else {
			switch (op) {
			case 1: /* DW_LNS_copy */
				emit = 1;
				break;
			case 2: /* DW_LNS_advance_pc */
				addr += rd_uleb(&r) * min_inst;
				break;
			case 3: /* DW_LNS_advance_line */
				line += (uint64_t)rd_sleb(&r);
				break;
			case 4: /* DW_LNS_set_file */
				file = rd_uleb(&r);
				break;
			case 8: /* DW_LNS_const_add_pc */
				addr += (uint64_t)((255 - opcode_base) / line_range) * min_inst;
				break;
			case 9: /* DW_LNS_fixed_advance_pc */
				addr += rd_uint(&r, 2);
				break;
			default: /* set_column, negate_stmt, ...: skip the operands */
				for (unsigned i = 0; i < std_len[op]; i++)
					rd_uleb(&r);
				break;
			}
		}
		if (r.err)
			goto out;
		if (!emit)
			continue;
		if (!seq_open) {
			seq_open = 1;
			seq_start = addr;
			seq_first_row = t->n_rows;
		}
		if (lt_add_row(t, addr, file < n_files ? files[file] : FILE_NONE, line, end) != 0)
			goto out;
		if (end) {
			/* Sequences of functions the linker discarded are
			 * relocated to 0 (or -1): drop them, they overlap. */
			if (seq_start == 0 || seq_start >= UINT64_MAX - 0xffff)
				t->n_rows = seq_first_row;
			seq_open = 0;
			addr = 0;
			file = 1;
			line = 1;
		}
	}
	rc = 0;
out:
	if (seq_open)
		t->n_rows = seq_first_row; /* unterminated sequence */
	free(dirs);
	free(files);
	return rc;
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* End markers first, so a sequence starting where another ends wins. */
	return (int)y->end - (int)x->end;
}

int pg_line_table_parse(const struct pg_dwarf_sections *s, struct pg_line_table **out)
{
	struct pg_line_table *t;
	struct rd sec;
	int parsed = 0, rc = PG_OK;

	*out = NULL;
	if (!s || !s->debug_line)
		return pg_fail(PG_EINVAL, "no .debug_line section");
	t = calloc(1, sizeof(*t));
	if (!t)
		return pg_fail(PG_ENOMEM, "out of memory for a line table");
	sec.p = s->debug_line;
	sec.n = s->debug_line_len;
	sec.off = 0;
	sec.err = 0;
	while (sec.n - sec.off >= 4 && !sec.err) {
		size_t before = sec.off;

		if (parse_unit(&sec, s, t) == 0)
			parsed++;
		if (sec.off <= before)
			break;
		if (t->n_rows >= MAX_ROWS || t->n_files >= MAX_FILES)
			break;
	}
	if (!parsed) {
		rc = pg_fail(PG_EPROTO, ".debug_line: no parsable line program");
		pg_line_table_free(&t);
		return rc;
	}
	if (t->n_rows) {
		struct row *fit;

		qsort(t->rows, t->n_rows, sizeof(*t->rows), row_cmp);
		/* The table lives as long as the process: drop the growth slack. */
		fit = realloc(t->rows, t->n_rows * sizeof(*t->rows));
		if (fit) {
			t->rows = fit;
			t->cap_rows = t->n_rows;
		}
	}
	*out = t;
	return PG_OK;
}

void pg_line_table_free(struct pg_line_table **pt)
{
	if (!pt || !*pt)
		return;
	free((*pt)->rows);
	free((*pt)->files);
	free((*pt)->pool);
	free(*pt);
	*pt = NULL;
}

size_t pg_line_table_rows(const struct pg_line_table *t)
{
	return t ? t->n_rows : 0;
}

int pg_line_table_lookup(const struct pg_line_table *t, uint64_t addr, const char **file, int *line)
{
	size_t lo = 0, hi;
	const struct row *r;

	*file = NULL;
	*line = 0;
	if (!t || !t->n_rows)
		return PG_ENOTFOUND;
	hi = t->n_rows;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->rows[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return PG_ENOTFOUND;
	r = &t->rows[lo - 1];
	if (r->end)
		return PG_ENOTFOUND;
	*file = r->file < t->n_files ? t->pool + t->files[r->file] : NULL;
	*line = (int)r->line;
	return PG_OK;
}
