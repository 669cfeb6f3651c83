#include "src/util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = PG_LOG_INFO;

static const char *const names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void pg_log_set_level(enum pg_log_level level)
{
	atomic_store(&min_level, (int)level);
}

enum pg_log_level pg_log_get_level(void)
{
	return (enum pg_log_level)atomic_load(&min_level);
}

int pg_log_level_parse(const char *s)
{
	static const char *const lower[] = {"debug", "info", "warn", "error"};

	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, lower[i]) == 0)
			return i;
	return -1;
}

void pg_log(enum pg_log_level level, const char *module, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if ((int)level < atomic_load(&min_level) || level > PG_LOG_ERROR)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, names[level], module);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	/* One write() per line keeps lines from different threads whole. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
