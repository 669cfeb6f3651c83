#include "src/util/zmem.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

static size_t bytes(size_t n, size_t size)
{
	return size && n > SIZE_MAX / size ? 0 : n * size;
}

void *pg_zmem_new(size_t n, size_t size)
{
	size_t len = bytes(n, size);
	void *p;

	if (!len)
		return NULL;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void pg_zmem_clear(void *p, size_t n, size_t size)
{
	size_t len = bytes(n, size);

	/* On a private anonymous mapping MADV_DONTNEED drops the pages: the
	 * next read sees zeros. Should it fail, zero by hand. */
	if (p && len && madvise(p, len, MADV_DONTNEED) != 0)
		memset(p, 0, len);
}

void pg_zmem_free(void *p, size_t n, size_t size)
{
	if (p)
		(void)munmap(p, bytes(n, size));
}
