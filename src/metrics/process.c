#include "src/metrics/process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/util/file.h"

struct proc_state {
	struct pg_series *cpu, *rss, *vsz, *open_fds, *max_fds, *start;
	int statm_fd;     /* /proc/self/statm, opened once, re-read with pread */
	int fd_dir;       /* /proc/self/fd, opened once */
	double ticks;     /* sysconf(_SC_CLK_TCK) */
	double page_size; /* sysconf(_SC_PAGESIZE) */
};

/* /proc/self/stat fields (proc(5), 1-based): 14 utime, 15 stime,
 * 22 starttime, 23 vsize, 24 rss. Field 2 (comm) may contain spaces and
 * parentheses, so counting starts after the last ')'. */
struct stat_fields {
	unsigned long long utime, stime, starttime, vsize;
	long long rss;
};

static int parse_self_stat(struct stat_fields *sf)
{
	char *buf = NULL, *p, *end;
	int field = 3, rc;

	rc = pg_file_read("/proc/self/stat", 4096, 0, &buf, NULL);
	if (rc != PG_OK)
		return rc;
	p = strrchr(buf, ')');
	if (!p) {
		rc = pg_fail(PG_EIO, "/proc/self/stat: no ')' after comm");
		goto out;
	}
	p++;
	memset(sf, 0, sizeof(*sf));
	for (; field <= 24; field++) {
		while (*p == ' ')
			p++;
		if (!*p) {
			rc = pg_fail(PG_EIO, "/proc/self/stat: only %d fields", field - 1);
			goto out;
		}
		errno = 0;
		unsigned long long v = strtoull(p, &end, 10);
		if (field >= 14 && (end == p || errno)) {
			rc = pg_fail(PG_EIO, "/proc/self/stat: field %d is not a number", field);
			goto out;
		}
		if (field == 14)
			sf->utime = v;
		else if (field == 15)
			sf->stime = v;
		else if (field == 22)
			sf->starttime = v;
		else if (field == 23)
			sf->vsize = v;
		else if (field == 24)
			sf->rss = (long long)v;
		p = strchr(p, ' ');
		if (!p)
			p = end + strlen(end);
	}
out:
	free(buf);
	return rc;
}

/* Boot time in seconds since the epoch: the "btime" line of /proc/stat. */
static int read_btime(unsigned long long *out)
{
	char *buf = NULL, *p, *end;
	/* The "intr" line before btime grows with the interrupt count: tens of
	 * KiB on large hosts. */
	int rc = pg_file_read("/proc/stat", 1u << 20, 0, &buf, NULL);

	if (rc != PG_OK)
		return rc;
	p = strstr(buf, "\nbtime ");
	if (!p) {
		rc = pg_fail(PG_EIO, "/proc/stat has no btime line");
		goto out;
	}
	p += strlen("\nbtime ");
	errno = 0;
	*out = strtoull(p, &end, 10);
	if (end == p || errno)
		rc = pg_fail(PG_EIO, "/proc/stat: btime is not a number");
out:
	free(buf);
	return rc;
}

/* Linux 6.2 and later give the number of open descriptors as the size of
 * /proc/self/fd: one fstat() of the directory, held open, instead of a scan
 * per scrape. Older kernels report 0 there and get the scan (less the held
 * descriptor, which the scan's own replaces). Either way the count includes
 * one descriptor for the reading itself, as the Go client's scan does. */
static double count_open_fds(int fd_dir)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	double n = -1;

	if (fstat(fd_dir, &st) == 0 && st.st_size > 0)
		return (double)st.st_size;
	d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* /proc/self/statm (proc(5)): size and resident, in pages. The same counters
 * as vsize and rss of /proc/self/stat, without the per-thread sums and text
 * of that file. Opened once and re-read from offset 0 (one system call per
 * scrape instead of three: they are what a scrape costs, not the parsing). */
static int read_statm(int fd, double *vsize_pages, double *rss_pages)
{
	char buf[128], *end;
	unsigned long long size, rss;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return pg_fail(PG_EIO, "/proc/self/statm: %s", n < 0 ? strerror(errno) : "empty");
	buf[n] = '\0';
	errno = 0;
	size = strtoull(buf, &end, 10);
	if (end == buf || *end != ' ' || errno)
		return pg_fail(PG_EIO, "/proc/self/statm: size is not a number");
	rss = strtoull(end + 1, &end, 10);
	if (*end != ' ' || errno)
		return pg_fail(PG_EIO, "/proc/self/statm: resident is not a number");
	*vsize_pages = (double)size;
	*rss_pages = (double)rss;
	return PG_OK;
}

static void proc_state_free(void *arg)
{
	struct proc_state *st = arg;

	if (st->statm_fd >= 0)
		close(st->statm_fd);
	if (st->fd_dir >= 0)
		close(st->fd_dir);
	free(st);
}

static void collect(void *arg)
{
	struct proc_state *st = arg;
	struct rusage ru;
	struct rlimit rl;
	double vsz = 0, rss = 0;

	/* User and system time of every thread, in microseconds (the same
	 * clocks as utime and stime of /proc/self/stat, without its ticks). */
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		pg_series_set(st->cpu, (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
					       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	if (read_statm(st->statm_fd, &vsz, &rss) == PG_OK) {
		pg_series_set(st->vsz, vsz * st->page_size);
		pg_series_set(st->rss, rss * st->page_size);
	} else {
		pg_err_clear();
	}
	pg_series_set(st->open_fds, count_open_fds(st->fd_dir));
	/* getrlimit reads the same soft limit as the "Max open files" row of
	 * /proc/self/limits, without parsing a table. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		pg_series_set(st->max_fds, rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
}

static int gauge(struct pg_metrics *m, enum pg_metric_kind kind, const char *name, const char *help,
		 struct pg_series **out)
{
	struct pg_family *f;
	int rc = pg_metrics_family(m, kind, name, help, NULL, 0, NULL, 0, &f);

	if (rc != PG_OK)
		return rc;
	*out = pg_family_series(f, NULL);
	return *out ? PG_OK : pg_fail(PG_ENOMEM, "out of memory creating %s", name);
}

#if defined(__clang__)
#define PG_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define PG_COMPILER "gcc " __VERSION__
#else
#define PG_COMPILER "unknown"
#endif

int pg_metrics_process_register(struct pg_metrics *m)
{
	static const char *const build_labels[] = {"version", "compiler"};
	const char *const build_values[] = {PG_VERSION, PG_COMPILER};
	struct proc_state *st = NULL;
	struct stat_fields sf;
	struct pg_family *bf;
	struct pg_series *bs;
	unsigned long long btime = 0;
	long ticks, page;
	int rc;

	ticks = sysconf(_SC_CLK_TCK);
	page = sysconf(_SC_PAGESIZE);
	if (ticks <= 0 || page <= 0)
		return pg_fail(PG_EINTERNAL, "sysconf(_SC_CLK_TCK/_SC_PAGESIZE) failed");
	rc = parse_self_stat(&sf);
	if (rc == PG_OK)
		rc = read_btime(&btime);
	if (rc != PG_OK)
		return rc;
	st = calloc(1, sizeof(*st));
	if (!st)
		return pg_fail(PG_ENOMEM, "out of memory registering process metrics");
	st->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	st->fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->statm_fd < 0 || st->fd_dir < 0) {
		rc = pg_fail(PG_EIO, "cannot open /proc/self/statm and /proc/self/fd: %s", strerror(errno));
		proc_state_free(st);
		return rc;
	}
	st->ticks = (double)ticks;
	st->page_size = (double)page;
	rc = gauge(m, PG_METRIC_COUNTER, "process_cpu_seconds_total",
		   "Total user and system CPU time spent in seconds.", &st->cpu);
	if (rc == PG_OK)
		rc = gauge(m, PG_METRIC_GAUGE, "process_open_fds", "Number of open file descriptors.",
			   &st->open_fds);
	if (rc == PG_OK)
		rc = gauge(m, PG_METRIC_GAUGE, "process_max_fds", "Maximum number of open file descriptors.",
			   &st->max_fds);
	if (rc == PG_OK)
		rc = gauge(m, PG_METRIC_GAUGE, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
			   &st->vsz);
	if (rc == PG_OK)
		rc = gauge(m, PG_METRIC_GAUGE, "process_resident_memory_bytes", "Resident memory size in bytes.",
			   &st->rss);
	if (rc == PG_OK)
		rc = gauge(m, PG_METRIC_GAUGE, "process_start_time_seconds",
			   "Start time of the process since unix epoch in seconds.", &st->start);
	if (rc == PG_OK)
		rc = pg_metrics_family(m, PG_METRIC_GAUGE, "pprofgate_build_info",
				       "A metric with a constant '1' value labeled by version and compiler.",
				       build_labels, 2, NULL, 0, &bf);
	if (rc == PG_OK) {
		bs = pg_family_series(bf, build_values);
		if (!bs)
			rc = pg_fail(PG_ENOMEM, "out of memory creating pprofgate_build_info");
		else
			pg_series_set(bs, 1);
	}
	if (rc != PG_OK) {
		proc_state_free(st);
		return rc;
	}
	/* The start time never changes: set it once. */
	pg_series_set(st->start, (double)btime + (double)sf.starttime / st->ticks);
	return pg_metrics_add_collector_owned(m, collect, st, proc_state_free);
}
