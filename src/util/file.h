/* Reading a whole file with a size bound: configs, keys, certificates, CA
 * bundles and the CPU profiler's output. */
#ifndef PG_UTIL_FILE_H
#define PG_UTIL_FILE_H

#include <stddef.h>

#include "src/util/err.h"

/* Refuse a symbolic link as the last path component (files we wrote
 * ourselves in a private directory). */
#define PG_FILE_NOFOLLOW 1u
/* A secret: refuse (PG_EDENIED, naming the fix) a file that group or others
 * may access, checked on the descriptor that is read. */
#define PG_FILE_PRIVATE 2u

/* Reads all of `path` (a regular file, or a pipe such as /dev/stdin) into a
 * new buffer that the caller frees with free(). The buffer holds *len bytes
 * and a NUL after them, so text can be used as a C string (len may be NULL).
 * More than `max` bytes is an error, checked from the file size before any
 * read and again while reading, so /dev/zero cannot exhaust memory. On error
 * *out is NULL, whatever was read has been wiped (keys pass through here), and
 * pg_errmsg() names the file and the reason: PG_EIO (cannot open or read),
 * PG_EINVAL (a directory, or over `max`), PG_ENOMEM. */
PG_WUR int pg_file_read(const char *path, size_t max, unsigned flags, char **out, size_t *len);

#endif
