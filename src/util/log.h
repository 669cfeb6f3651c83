/* Leveled logging: one line per event, to stderr (or a file descriptor set by
 * pg_log_init). Lines look like
 *     2026-11-25T20:30:00.123Z INFO  http: listening on 127.0.0.1:9090
 * Never pass secrets (keys, tokens, passwords) to these functions. */
#ifndef PG_UTIL_LOG_H
#define PG_UTIL_LOG_H

enum pg_log_level { PG_LOG_DEBUG = 0, PG_LOG_INFO = 1, PG_LOG_WARN = 2, PG_LOG_ERROR = 3 };

/* Sets the minimum level written. Thread-safe to call at any time. */
void pg_log_set_level(enum pg_log_level level);
enum pg_log_level pg_log_get_level(void);

/* Parses "debug|info|warn|error"; returns -1 for anything else. */
int pg_log_level_parse(const char *s);

/* Writes one line; newlines inside the message are replaced so that one event
 * stays one line. `module` is a short tag such as "http" or "rpc". */
void pg_log(enum pg_log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define pg_debug(mod, ...) pg_log(PG_LOG_DEBUG, mod, __VA_ARGS__)
#define pg_info(mod, ...) pg_log(PG_LOG_INFO, mod, __VA_ARGS__)
#define pg_warn(mod, ...) pg_log(PG_LOG_WARN, mod, __VA_ARGS__)
#define pg_error(mod, ...) pg_log(PG_LOG_ERROR, mod, __VA_ARGS__)

#endif
