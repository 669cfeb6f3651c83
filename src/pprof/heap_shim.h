/* The only C++ in pprofgate: tcmalloc's sampled heap is reachable only
 * through MallocExtension::instance()->GetHeapSample(std::string *). The shim
 * finds tcmalloc at run time (dlsym), so it links without it; in builds
 * without tcmalloc (PG_NO_TCMALLOC, the sanitizer build) or when tcmalloc is
 * not the process's allocator, every call returns PG_EUNSUP. */
#ifndef PG_PPROF_HEAP_SHIM_H
#define PG_PPROF_HEAP_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* On PG_OK (0), *text is a malloc'd copy of tcmalloc's heap sample text
 * (free() it) of *len bytes plus a NUL. Negative PG_E* codes otherwise. */
int pg_heap_shim_sample(char **text, size_t *len);
/* MallocExtension_MarkThreadIdle(): lets tcmalloc sample the calling
 * thread's small allocations (needed once on the main thread). */
int pg_heap_shim_mark_thread_idle(void);
/* [*lo, *hi): tcmalloc's loaded image, to drop allocator frames. */
int pg_heap_shim_allocator_range(uintptr_t *lo, uintptr_t *hi);

#ifdef __cplusplus
}
#endif

#endif
