/* CPU profile capture over gperftools' CPU profiler. See cpu.h. */
#include "src/pprof/cpu.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef PG_NO_TCMALLOC
#include <gperftools/profiler.h>
#endif

#include "src/util/clock.h"
#include "src/util/file.h"
#include "src/util/log.h"
#include "src/util/mutex.h"

/* gperftools writes at most 64 frames; anything far beyond is corruption. */
#define LEGACY_MAX_DEPTH 1024
/* 100 Hz x 64 threads x 3600 s of distinct stacks stays far below this. */
#define MAX_RAW_BYTES ((size_t)512 << 20)

struct pg_pprof_cpu {
	char dir[4096];
	char file[4096 + 16];
	int64_t start_unix_ns;
	int64_t start_mono_ns;
	int64_t deadline_mono_ns;
	int64_t end_unix_ns;
};

/* --- the legacy format parser (pure) --- */

static uint64_t word_at(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w)); /* native byte order: same process wrote it */
	return w;
}

int pg_pprof_cpu_parse_legacy(const uint8_t *data, size_t n, struct pg_profile *p)
{
	const size_t W = sizeof(uint64_t);
	size_t nw, i;
	uint64_t period_us;
	int64_t period_ns;
	int rc;

	if (!data || !p)
		return pg_fail(PG_EINVAL, "cpu profile parser: NULL argument");
	nw = n / W;
	/* header: count 0, 3 header words, version 0, period, padding 0 */
	if (nw < 5 || word_at(data) != 0 || word_at(data + W) != 3 || word_at(data + 2 * W) != 0)
		return pg_fail(PG_EPROTO, "cpu profile: bad legacy header");
	period_us = word_at(data + 3 * W);
	if (period_us == 0 || period_us > 60ull * 1000000)
		return pg_fail(PG_EPROTO, "cpu profile: sampling period %llu us out of range",
			       (unsigned long long)period_us);
	period_ns = (int64_t)period_us * 1000;
	if ((rc = pg_profile_add_sample_type(p, "samples", "count")) ||
	    (rc = pg_profile_add_sample_type(p, "cpu", "nanoseconds")) ||
	    (rc = pg_profile_set_period(p, "cpu", "nanoseconds", period_ns)))
		return rc;
	i = 5;
	for (;;) {
		uint64_t count, depth;
		uintptr_t pcs[LEGACY_MAX_DEPTH];
		int64_t values[2];

		if (nw - i < 2)
			return pg_fail(PG_EPROTO, "cpu profile: truncated (no trailer)");
		count = word_at(data + i * W);
		depth = word_at(data + (i + 1) * W);
		i += 2;
		if (depth == 0 || depth > LEGACY_MAX_DEPTH || depth > nw - i)
			return pg_fail(PG_EPROTO, "cpu profile: bad record depth %llu",
				       (unsigned long long)depth);
		if (count == 0) {
			/* trailer {0, 1, 0}; the maps text follows */
			if (depth != 1 || word_at(data + i * W) != 0)
				return pg_fail(PG_EPROTO, "cpu profile: bad trailer");
			return PG_OK;
		}
		if (count > ((uint64_t)1 << 40) / period_us)
			return pg_fail(PG_EPROTO, "cpu profile: implausible count %llu",
				       (unsigned long long)count);
		for (size_t k = 0; k < depth; k++)
			pcs[k] = (uintptr_t)word_at(data + (i + k) * W);
		i += (size_t)depth;
		values[0] = (int64_t)count;
		values[1] = (int64_t)count * period_ns;
		/* pcs[0] is the interrupted PC, the rest return addresses. */
		if ((rc = pg_profile_add_sample(p, pcs, (size_t)depth, 1, values, 2, NULL, 0)))
			return rc;
	}
}

/* --- capture --- */

#ifdef PG_NO_TCMALLOC

int pg_pprof_cpu_start(unsigned seconds, unsigned hz, const char *tmpdir,
		       struct pg_pprof_cpu **out, int64_t *busy_until_unix_ns)
{
	(void)seconds;
	(void)hz;
	(void)tmpdir;
	if (out)
		*out = NULL;
	if (busy_until_unix_ns)
		*busy_until_unix_ns = 0;
	return pg_fail(PG_EUNSUP, "CPU profiling is not built in (sanitizer build without "
				  "gperftools)");
}

int64_t pg_pprof_cpu_deadline_ns(const struct pg_pprof_cpu *c)
{
	return c ? c->deadline_mono_ns : 0;
}

int pg_pprof_cpu_finish(struct pg_pprof_cpu **pc, struct pg_buf *out)
{
	(void)out;
	if (pc && *pc) {
		free(*pc);
		*pc = NULL;
	}
	return pg_fail(PG_EUNSUP, "CPU profiling is not built in");
}

void pg_pprof_cpu_cancel(struct pg_pprof_cpu **pc)
{
	if (pc && *pc) {
		free(*pc);
		*pc = NULL;
	}
}

#else

static struct pg_mutex g_mu = PG_MUTEX_INITIALIZER;
static struct pg_pprof_cpu *g_active;

static unsigned profiler_hz(void)
{
	const char *s = getenv("CPUPROFILE_FREQUENCY");
	char *end;
	long v;

	if (!s || !*s)
		return 100; /* gperftools' default */
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0 || v > 4000)
		return 100;
	return (unsigned)v;
}

static void remove_files(struct pg_pprof_cpu *c)
{
	if (c->file[0] && unlink(c->file) != 0 && errno != ENOENT)
		pg_warn("pprof", "cannot remove %s: %s", c->file, strerror(errno));
	if (c->dir[0] && rmdir(c->dir) != 0 && errno != ENOENT)
		pg_warn("pprof", "cannot remove %s: %s", c->dir, strerror(errno));
	c->file[0] = '\0';
	c->dir[0] = '\0';
}

int pg_pprof_cpu_start(unsigned seconds, unsigned hz, const char *tmpdir,
		       struct pg_pprof_cpu **out, int64_t *busy_until_unix_ns)
{
	struct pg_pprof_cpu *c = NULL;
	struct ProfilerOptions opts;
	unsigned rate = profiler_hz();
	int rc = PG_OK, n;

	if (busy_until_unix_ns)
		*busy_until_unix_ns = 0;
	if (!out)
		return pg_fail(PG_EINVAL, "pg_pprof_cpu_start: NULL handle pointer");
	*out = NULL;
	if (seconds < 1 || seconds > PG_PPROF_CPU_MAX_SECONDS)
		return pg_fail(PG_EINVAL, "CPU profile seconds must be 1..%d, got %u",
			       PG_PPROF_CPU_MAX_SECONDS, seconds);
	if (hz && hz != rate)
		return pg_fail(PG_EUNSUP, "CPU profile rate is fixed at %u Hz (set "
					  "CPUPROFILE_FREQUENCY before start-up), %u Hz asked",
			       rate, hz);
	if (!tmpdir || !*tmpdir)
		tmpdir = getenv("TMPDIR");
	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	c = calloc(1, sizeof(*c));
	if (!c)
		return pg_fail(PG_ENOMEM, "out of memory starting a CPU profile");
	n = snprintf(c->dir, sizeof(c->dir), "%s/pprofgate-cpu.XXXXXX", tmpdir);
	if (n < 0 || (size_t)n >= sizeof(c->dir)) {
		free(c);
		return pg_fail(PG_EINVAL, "temporary directory path too long");
	}
	pg_mutex_lock(&g_mu);
	if (g_active || ProfilingIsEnabledForAllThreads()) {
		if (busy_until_unix_ns)
			*busy_until_unix_ns = g_active ? g_active->end_unix_ns : 0;
		rc = pg_fail(PG_EBUSY, "cpu profiling already in use");
		c->dir[0] = '\0';
		goto out;
	}
	/* A private 0700 directory: nobody else can create, swap or read the
	 * file the profiler opens by name. */
	if (!mkdtemp(c->dir)) {
		rc = pg_fail(PG_EIO, "cannot create a temporary directory in %s: %s", tmpdir,
			     strerror(errno));
		c->dir[0] = '\0';
		goto out;
	}
	snprintf(c->file, sizeof(c->file), "%s/cpu.prof", c->dir);
	memset(&opts, 0, sizeof(opts));
	c->start_unix_ns = pg_clock_wall_ns();
	c->start_mono_ns = pg_clock_mono_ns();
	c->deadline_mono_ns = c->start_mono_ns + (int64_t)seconds * 1000000000LL;
	c->end_unix_ns = c->start_unix_ns + (int64_t)seconds * 1000000000LL;
	if (!ProfilerStartWithOptions(c->file, &opts)) {
		rc = pg_fail(PG_EIO, "gperftools could not start the CPU profiler (writing %s)",
			     c->file);
		goto out;
	}
	g_active = c;
out:
	pg_mutex_unlock(&g_mu);
	if (rc) {
		remove_files(c);
		free(c);
		return rc;
	}
	*out = c;
	return PG_OK;
}

int64_t pg_pprof_cpu_deadline_ns(const struct pg_pprof_cpu *c)
{
	return c ? c->deadline_mono_ns : 0;
}

/* Stops the profiler if c is the running capture. */
static int stop(struct pg_pprof_cpu *c)
{
	int rc = PG_OK;

	pg_mutex_lock(&g_mu);
	if (g_active == c) {
		ProfilerStop(); /* flushes and closes the file */
		g_active = NULL;
	} else {
		rc = pg_fail(PG_EINVAL, "not the running CPU capture");
	}
	pg_mutex_unlock(&g_mu);
	return rc;
}

int pg_pprof_cpu_finish(struct pg_pprof_cpu **pc, struct pg_buf *out)
{
	struct pg_pprof_cpu *c;
	struct pg_profile *p = NULL;
	char *raw = NULL;
	size_t n = 0;
	int64_t dur;
	int rc;

	if (!pc || !*pc || !out)
		return pg_fail(PG_EINVAL, "pg_pprof_cpu_finish: NULL argument");
	c = *pc;
	*pc = NULL;
	if ((rc = stop(c)))
		goto out;
	dur = pg_clock_mono_ns() - c->start_mono_ns;
	/* The profiler wrote it in our private directory: no symlinks. */
	if ((rc = pg_file_read(c->file, MAX_RAW_BYTES, PG_FILE_NOFOLLOW, &raw, &n)))
		goto out;
	remove_files(c);
	if ((rc = pg_profile_new(&p)) || (rc = pg_pprof_cpu_parse_legacy((const uint8_t *)raw, n, p)))
		goto out;
	pg_profile_set_time(p, c->start_unix_ns, dur);
	rc = pg_profile_write(p, out);
out:
	remove_files(c);
	pg_profile_free(&p);
	free(raw);
	free(c);
	return rc;
}

void pg_pprof_cpu_cancel(struct pg_pprof_cpu **pc)
{
	if (!pc || !*pc)
		return;
	if (stop(*pc) != PG_OK)
		pg_err_clear();
	remove_files(*pc);
	free(*pc);
	*pc = NULL;
}

#endif
