// See heap_shim.h. Kept tiny: no project headers but the shim's own, no
// exceptions escape.
#include "src/pprof/heap_shim.h"

#include <cstdlib>
#include <cstring>

#include "src/util/err.h"

#ifdef PG_NO_TCMALLOC

extern "C" int pg_heap_shim_sample(char **text, size_t *len)
{
	*text = nullptr;
	*len = 0;
	return PG_EUNSUP;
}

extern "C" int pg_heap_shim_mark_thread_idle(void)
{
	return PG_EUNSUP;
}

extern "C" int pg_heap_shim_allocator_range(uintptr_t *lo, uintptr_t *hi)
{
	*lo = *hi = 0;
	return PG_EUNSUP;
}

#else

#include <dlfcn.h>
#include <link.h>

#include <new>
#include <string>

#include <gperftools/malloc_extension.h>

namespace {

using instance_fn = MallocExtension *(*)();

instance_fn find_instance()
{
	// MallocExtension::instance(); absent unless libtcmalloc is loaded.
	return reinterpret_cast<instance_fn>(dlsym(RTLD_DEFAULT, "_ZN15MallocExtension8instanceEv"));
}

struct range_query {
	uintptr_t addr, lo, hi;
};

int find_object(struct dl_phdr_info *info, size_t, void *data)
{
	auto *q = static_cast<range_query *>(data);
	uintptr_t lo = UINTPTR_MAX, hi = 0;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) &ph = info->dlpi_phdr[i];
		if (ph.p_type != PT_LOAD)
			continue;
		uintptr_t a = info->dlpi_addr + ph.p_vaddr;
		if (a < lo)
			lo = a;
		if (a + ph.p_memsz > hi)
			hi = a + ph.p_memsz;
	}
	if (q->addr >= lo && q->addr < hi) {
		q->lo = lo;
		q->hi = hi;
		return 1;
	}
	return 0;
}

} // namespace

extern "C" int pg_heap_shim_sample(char **text, size_t *len)
{
	*text = nullptr;
	*len = 0;
	instance_fn inst = find_instance();
	if (!inst)
		return PG_EUNSUP;
	try {
		std::string s;
		inst()->GetHeapSample(&s);
		char *copy = static_cast<char *>(std::malloc(s.size() + 1));
		if (!copy)
			return PG_ENOMEM;
		std::memcpy(copy, s.data(), s.size());
		copy[s.size()] = '\0';
		*text = copy;
		*len = s.size();
		return PG_OK;
	} catch (const std::bad_alloc &) {
		return PG_ENOMEM;
	} catch (...) {
		return PG_EINTERNAL;
	}
}

extern "C" int pg_heap_shim_mark_thread_idle(void)
{
	auto fn = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "MallocExtension_MarkThreadIdle"));
	if (!fn)
		return PG_EUNSUP;
	fn();
	return PG_OK;
}

extern "C" int pg_heap_shim_allocator_range(uintptr_t *lo, uintptr_t *hi)
{
	range_query q{reinterpret_cast<uintptr_t>(find_instance()), 0, 0};

	*lo = *hi = 0;
	if (!q.addr || !dl_iterate_phdr(find_object, &q))
		return PG_EUNSUP;
	*lo = q.lo;
	*hi = q.hi;
	return PG_OK;
}

#endif
