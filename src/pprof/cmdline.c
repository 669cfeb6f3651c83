#include "src/pprof/cmdline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/util/file.h"

/* /proc/self/cmdline is bounded by the kernel's argument limit; this cap
 * only guards the read. */
#define CMDLINE_MAX (4u << 20)
#define TEXT_PLAIN "text/plain; charset=utf-8"
#define PATTERNS_MAX 64
#define PATTERN_LEN 64

/* ---- the redaction (pure) ------------------------------------------------- */

struct patterns {
	char p[PATTERNS_MAX][PATTERN_LEN];
	size_t len[PATTERNS_MAX];
	size_t n;
};

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* One pattern per line (spaces and commas also separate); lowercased. */
static int patterns_parse(const char *text, struct patterns *ps)
{
	const char *p = text && *text ? text : PG_PPROF_REDACT_DEFAULT;

	ps->n = 0;
	while (*p) {
		size_t l = strcspn(p, "\n ,");

		if (l >= PATTERN_LEN)
			return pg_fail(PG_EINVAL, "cmdline redaction pattern \"%.*s...\" is over %d bytes", 16, p,
				       PATTERN_LEN - 1);
		if (l > 0) {
			if (ps->n == PATTERNS_MAX)
				return pg_fail(PG_EINVAL, "at most %d cmdline redaction patterns", PATTERNS_MAX);
			for (size_t i = 0; i < l; i++)
				ps->p[ps->n][i] = lower(p[i]);
			ps->len[ps->n++] = l;
		}
		p += l;
		if (*p)
			p++;
	}
	return PG_OK;
}

static bool looks_secret(const struct patterns *ps, const char *name, size_t n)
{
	for (size_t k = 0; k < ps->n; k++)
		for (size_t i = 0; i + ps->len[k] <= n; i++) {
			size_t j = 0;

			while (j < ps->len[k] && lower(name[i + j]) == ps->p[k][j])
				j++;
			if (j == ps->len[k])
				return true;
		}
	return false;
}

/* NAME of an environment-style NAME=VALUE argument. */
static bool env_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

/* A flag that only switches something off takes no value. */
static bool boolean_name(const char *s, size_t n)
{
	return n > 3 && lower(s[0]) == 'n' && lower(s[1]) == 'o' && (s[2] == '-' || s[2] == '_');
}

struct arg {
	const char *s;
	size_t n;
};

static int put_arg(struct pg_buf *out, bool first, const char *s, size_t n)
{
	int rc = first ? PG_OK : pg_buf_append(out, "", 1);

	return rc == PG_OK ? pg_buf_append(out, s, n) : rc;
}

/* `keep` bytes of the argument, then <redacted>. */
static int put_redacted(struct pg_buf *out, bool first, const char *s, size_t keep, unsigned *count)
{
	int rc = put_arg(out, first, s, keep);

	(*count)++;
	return rc == PG_OK ? pg_buf_puts(out, PG_PPROF_REDACTED) : rc;
}

static int redact_args(const struct arg *a, size_t n, const struct patterns *ps, struct pg_buf *out, unsigned *count)
{
	bool flags_done = false, value_next = false;
	int rc = PG_OK;

	for (size_t i = 0; i < n && rc == PG_OK; i++) {
		const char *s = a[i].s;
		size_t len = a[i].n;
		const char *eq = memchr(s, '=', len);
		size_t dashes = len > 1 && s[0] == '-' ? (s[1] == '-' ? 2 : 1) : 0;

		if (value_next) {
			value_next = false;
			rc = put_redacted(out, i == 0, s, 0, count);
			continue;
		}
		if (i == 0) {
			rc = put_arg(out, true, s, len);
			continue;
		}
		if (!flags_done && len == 2 && dashes == 2) {
			flags_done = true; /* "--": what follows is not a flag */
			rc = put_arg(out, false, s, len);
		} else if (!flags_done && dashes && len > dashes) {
			const char *name = s + dashes;
			size_t nlen = eq ? (size_t)(eq - name) : len - dashes;

			if (eq && (size_t)(eq - s) + 1 < len && looks_secret(ps, name, nlen))
				rc = put_redacted(out, false, s, (size_t)(eq - s) + 1, count);
			else {
				rc = put_arg(out, false, s, len);
				/* --NAME VALUE: the next argument is the value. */
				value_next = !eq && i + 1 < n && a[i + 1].n > 0 && a[i + 1].s[0] != '-' &&
					     !boolean_name(name, nlen) && looks_secret(ps, name, nlen);
			}
		} else if (!dashes && eq && (size_t)(eq - s) + 1 < len && env_name(s, (size_t)(eq - s)) &&
			   looks_secret(ps, s, (size_t)(eq - s))) {
			rc = put_redacted(out, false, s, (size_t)(eq - s) + 1, count);
		} else {
			rc = put_arg(out, false, s, len);
		}
	}
	return rc;
}

/* Splits a /proc/<pid>/cmdline image (each argument followed by a NUL; the
 * last NUL may be missing in a truncated image) and redacts or joins it. */
static int build(const char *raw, size_t len, const struct patterns *ps, struct pg_buf *out, unsigned *count)
{
	struct arg *a;
	size_t n = 0, start = 0;
	int rc;

	*count = 0;
	if (len > 0 && raw[len - 1] == '\0')
		len--;
	if (len == 0)
		return PG_OK;
	if (!ps)
		return pg_buf_append(out, raw, len);
	for (size_t i = 0; i < len; i++)
		n += raw[i] == '\0';
	if (!(a = calloc(n + 1, sizeof(*a))))
		return pg_fail(PG_ENOMEM, "out of memory redacting the command line");
	n = 0;
	for (size_t i = 0; i <= len; i++)
		if (i == len || raw[i] == '\0') {
			a[n++] = (struct arg){raw + start, i - start};
			start = i + 1;
		}
	rc = redact_args(a, n, ps, out, count);
	free(a);
	return rc;
}

int pg_pprof_cmdline_redact(const char *raw, size_t len, const char *patterns, struct pg_buf *out,
			    unsigned *n_redacted)
{
	struct patterns ps;
	int rc = patterns_parse(patterns, &ps);

	*n_redacted = 0;
	return rc == PG_OK ? build(raw, len, &ps, out, n_redacted) : rc;
}

int pg_pprof_cmdline_from(const char *raw, size_t len, struct pg_buf *out)
{
	unsigned n;

	return build(raw, len, NULL, out, &n);
}

/* ---- the shared answer ----------------------------------------------------------- */

struct answer {
	atomic_int refs;
	bool redact;
	unsigned redacted;
	size_t len;
	char data[];
};

static pthread_mutex_t answer_mu = PTHREAD_MUTEX_INITIALIZER;
static struct answer *answer_cur; /* guarded by answer_mu */

static void answer_put(void *arg)
{
	struct answer *a = arg;

	if (a && atomic_fetch_sub(&a->refs, 1) == 1)
		free(a);
}

static int answer_build(bool redact, const char *patterns, struct answer **out)
{
	struct patterns ps;
	struct pg_buf b;
	struct answer *a = NULL;
	char *raw = NULL;
	size_t n = 0;
	unsigned count = 0;
	int rc = PG_OK;

	*out = NULL;
	pg_buf_init(&b, CMDLINE_MAX + CMDLINE_MAX / 2);
	if (redact)
		rc = patterns_parse(patterns, &ps);
	if (rc == PG_OK)
		rc = pg_file_read("/proc/self/cmdline", CMDLINE_MAX, 0, &raw, &n);
	if (rc == PG_OK)
		rc = build(raw, n, redact ? &ps : NULL, &b, &count);
	if (rc == PG_OK && !(a = malloc(sizeof(*a) + b.len + 1)))
		rc = pg_fail(PG_ENOMEM, "out of memory for the command line");
	if (rc == PG_OK) {
		atomic_init(&a->refs, 1);
		a->redact = redact;
		a->redacted = count;
		a->len = b.len;
		if (b.len)
			memcpy(a->data, b.data, b.len);
		a->data[b.len] = '\0';
		*out = a;
	}
	free(raw);
	pg_buf_free(&b);
	return rc;
}

int pg_pprof_cmdline_setup(bool redact, const char *patterns)
{
	struct answer *a = NULL, *old;
	int rc = answer_build(redact, patterns, &a);

	if (rc != PG_OK)
		return rc;
	pthread_mutex_lock(&answer_mu);
	old = answer_cur;
	answer_cur = a;
	pthread_mutex_unlock(&answer_mu);
	answer_put(old);
	return PG_OK;
}

/* A reference to the current answer (built with the defaults on first use). */
static struct answer *answer_get(void)
{
	struct answer *a;

	pthread_mutex_lock(&answer_mu);
	if (!answer_cur && answer_build(true, NULL, &answer_cur) != PG_OK)
		answer_cur = NULL;
	a = answer_cur;
	if (a)
		atomic_fetch_add(&a->refs, 1);
	pthread_mutex_unlock(&answer_mu);
	return a;
}

int pg_pprof_cmdline(struct pg_buf *out, const char **content_type)
{
	struct answer *a = answer_get();
	int rc;

	*content_type = TEXT_PLAIN;
	if (!a)
		return PG_EIO; /* pg_errmsg() says why */
	rc = a->len ? pg_buf_append(out, a->data, a->len) : PG_OK;
	answer_put(a);
	return rc;
}

void pg_pprof_cmdline_reply(struct pg_http_req *r)
{
	struct answer *a = answer_get();
	char n[16];

	if (!a) {
		pg_http_reply_error(r, 500, "cannot read the command line");
		pg_err_clear();
		return;
	}
	if (a->redact)
		snprintf(n, sizeof(n), "%u", a->redacted);
	else
		snprintf(n, sizeof(n), "off");
	if (pg_http_add_header(r, "X-Pprofgate-Redacted", n) != PG_OK ||
	    pg_http_add_header(r, "X-Content-Type-Options", "nosniff") != PG_OK)
		pg_err_clear();
	pg_http_reply_shared(r, 200, TEXT_PLAIN, a->data, a->len, answer_put, a);
}
