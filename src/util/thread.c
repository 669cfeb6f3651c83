#define _GNU_SOURCE
#include "src/util/thread.h"

#include <errno.h>
#include <execinfo.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct boot {
	void *(*fn)(void *);
	void *arg;
	char name[PG_THREAD_NAME_MAX];
};

static pthread_mutex_t creations_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pg_thread_creation creations[PG_THREAD_CREATE_MAX];
static size_t n_creations;
static uint64_t creations_dropped;

static void copy_name(char dst[PG_THREAD_NAME_MAX], const char *src)
{
	size_t n = src ? strnlen(src, PG_THREAD_NAME_MAX - 1) : 0;

	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void pg_thread_set_name(const char *name)
{
	char n[PG_THREAD_NAME_MAX];

	copy_name(n, name);
	(void)pthread_setname_np(pthread_self(), n);
}

static void *boot_main(void *p)
{
	struct boot b = *(struct boot *)p;

	free(p);
	if (b.name[0])
		pg_thread_set_name(b.name);
	return b.fn(b.arg);
}

static void record_creation(const char *name, void *const *frames, int n)
{
	size_t depth = n > 0 ? (size_t)n : 0;
	char nm[PG_THREAD_NAME_MAX];

	copy_name(nm, name);
	pthread_mutex_lock(&creations_mu);
	for (size_t i = 0; i < n_creations; i++) {
		struct pg_thread_creation *c = &creations[i];
		size_t k;

		if (c->depth != depth || strcmp(c->name, nm) != 0)
			continue;
		for (k = 0; k < depth && c->pcs[k] == (uintptr_t)frames[k]; k++)
			;
		if (k == depth) {
			c->count++;
			goto out;
		}
	}
	if (n_creations == PG_THREAD_CREATE_MAX) {
		creations_dropped++;
		goto out;
	}
	struct pg_thread_creation *c = &creations[n_creations++];
	for (size_t k = 0; k < depth; k++)
		c->pcs[k] = (uintptr_t)frames[k];
	c->depth = depth;
	c->count = 1;
	memcpy(c->name, nm, sizeof(nm));
out:
	pthread_mutex_unlock(&creations_mu);
}

__attribute__((noinline)) int pg_thread_create(pthread_t *t, const char *name,
					       void *(*fn)(void *), void *arg)
{
	void *frames[PG_THREAD_CREATE_DEPTH + 1];
	struct boot *b;
	int n, rc;

	if (!t || !fn)
		return pg_fail(PG_EINVAL, "pg_thread_create: thread and function are required");
	b = calloc(1, sizeof(*b));
	if (!b)
		return pg_fail(PG_ENOMEM, "pg_thread_create: out of memory");
	b->fn = fn;
	b->arg = arg;
	copy_name(b->name, name);
	rc = pthread_create(t, NULL, boot_main, b);
	if (rc != 0) {
		free(b);
		return pg_fail(PG_ENOMEM, "cannot create thread %s: %s", name ? name : "", strerror(rc));
	}
	/* Frame 0 is this function; the profile starts at its caller. */
	n = backtrace(frames, PG_THREAD_CREATE_DEPTH + 1);
	if (n > 1)
		record_creation(name, frames + 1, n - 1);
	else
		record_creation(name, frames, 0);
	return PG_OK;
}

size_t pg_thread_creations(struct pg_thread_creation *out, size_t max, uint64_t *dropped)
{
	size_t n;

	pthread_mutex_lock(&creations_mu);
	n = n_creations;
	if (out && max)
		memcpy(out, creations, (n < max ? n : max) * sizeof(*out));
	if (dropped)
		*dropped = creations_dropped;
	pthread_mutex_unlock(&creations_mu);
	return n;
}

void pg_thread_name_of(pid_t tid, char name[PG_THREAD_NAME_MAX])
{
	char path[64];
	ssize_t n;
	int fd;

	name[0] = '\0';
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, name, PG_THREAD_NAME_MAX - 1);
	close(fd);
	if (n <= 0)
		return;
	name[n] = '\0';
	name[strcspn(name, "\n")] = '\0';
}
