/* Large zero-filled tables (hash tables, caches) that cost memory only where
 * they are written: anonymous mappings, whose pages the kernel supplies
 * zeroed on first touch. calloc() would zero, and so make resident, every
 * page at once (tcmalloc's does), for tables that an idle node barely uses.
 * Not seen by the heap profile or by ASan's bounds checks; for tables of at
 * least a few pages only. */
#ifndef PG_UTIL_ZMEM_H
#define PG_UTIL_ZMEM_H

#include <stddef.h>

/* n elements of size bytes, all zero; NULL when n * size overflows or the
 * mapping fails. */
void *pg_zmem_new(size_t n, size_t size);
/* All zero again, its pages handed back to the kernel. */
void pg_zmem_clear(void *p, size_t n, size_t size);
/* Takes NULL. */
void pg_zmem_free(void *p, size_t n, size_t size);

#endif
