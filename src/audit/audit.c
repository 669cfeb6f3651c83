/* The audit log writer; see audit.h and docs/audit.md. */
#include "src/audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/audit/chain.h"
#include "src/util/buf.h"
#include "src/util/clock.h"
#include "src/util/file.h"
#include "src/util/log.h"
#include "src/util/thread.h"

#define MOD "audit"
/* One write() carries the lines queued, up to this many bytes. */
#define BATCH_BYTES (1u << 20)
/* A failed write is retried this often (the lines stay queued meanwhile). */
#define RETRY_MS 100
/* At stop, queued lines get this long to reach the file. */
#define STOP_DRAIN_MS 5000
#define REOPEN_WAIT_MS 2000
/* While lines keep coming, the writer writes at most once per this many ms
 * (one write() for all of them, no wake-up per line). */
#define GATHER_MS PG_AUDIT_GATHER_MS

/* A queued line: the caller's fields and when they were submitted. */
struct entry {
	int64_t wall_ns;
	int64_t mono_ms;
	size_t len;
	char fields[];
};

/* Where lines go, and how they are chained; replaced whole by a reopen. */
struct sink {
	int fd; /* 2: stderr */
	bool is_file;
	dev_t dev;
	ino_t ino;
	struct pg_audit_hasher *hasher;
	unsigned char *key;
	size_t key_len;
};

struct pg_audit {
	pthread_mutex_t mu;
	pthread_cond_t work; /* the writer waits on it (CLOCK_MONOTONIC) */
	pthread_cond_t done; /* flush and reopen wait on it (CLOCK_MONOTONIC) */
	/* Under mu: */
	struct entry **ring;
	unsigned cap, head, count, reserved;
	uint64_t enq, deq, synced; /* lines queued, written, written and synced, ever */
	bool failing, stopping, sync_now;
	bool idle;                 /* the writer waits for a signal (nothing queued) */
	struct sink *pending;      /* a reopen the writer has not applied yet */
	uint64_t pending_after;    /* ... once this many lines are written */
	uint64_t reopen_req, reopen_done;
	int sync_ms;
	/* Writer thread only (and pg_audit_new before it starts): */
	struct sink cur;
	uint64_t seq;
	unsigned char last[PG_AUDIT_HASH_LEN];
	int64_t dirty_since_ms; /* first unsynced write; -1: none */
	bool write_failing;     /* what `failing` was last set to */
	struct pg_buf out;
	pthread_t thread;
	bool started;
	_Atomic uint64_t last_seq;
	struct pg_series *s_lines, *s_refused, *s_seq;
};

/* ---- sinks ----------------------------------------------------------------- */

static void sink_close(struct sink *s)
{
	if (s->is_file || s->fd > 2)
		close(s->fd);
	s->fd = 2;
	pg_audit_hasher_free(&s->hasher);
	if (s->key) {
		explicit_bzero(s->key, s->key_len);
		free(s->key);
		s->key = NULL;
	}
}

int pg_audit_key_load(const char *path, unsigned char **key, size_t *len)
{
	char *k = NULL;
	size_t n = 0;
	int rc;

	*key = NULL;
	*len = 0;
	rc = pg_file_read(path, PG_AUDIT_KEY_MAX + 2, PG_FILE_PRIVATE, &k, &n);
	if (rc != PG_OK)
		return rc;
	/* `openssl rand -hex 32 > key` ends in a newline that is not key. */
	if (n > 0 && k[n - 1] == '\n')
		n--;
	if (n < PG_AUDIT_KEY_MIN || n > PG_AUDIT_KEY_MAX) {
		explicit_bzero(k, n);
		free(k);
		return pg_fail(PG_EINVAL, "%s: the audit HMAC key is %zu bytes; it must be %d..%d (make one with: "
					  "openssl rand -hex 32 > %s; chmod 600 %s)",
			       path, n, PG_AUDIT_KEY_MIN, PG_AUDIT_KEY_MAX, path, path);
	}
	*key = (unsigned char *)k;
	*len = n;
	return PG_OK;
}

static int load_key(const char *path, struct sink *s)
{
	int rc = pg_audit_key_load(path, &s->key, &s->key_len);

	if (rc == PG_OK)
		rc = pg_audit_hasher_new(s->key, s->key_len, &s->hasher);
	if (rc != PG_OK)
		return pg_fail(rc, "diagnostics.audit_hmac_key_file: %s", pg_errmsg());
	return PG_OK;
}

static int sink_open(const struct pg_audit_opts *o, struct sink *s)
{
	struct stat st;
	int rc = PG_OK;

	memset(s, 0, sizeof(*s));
	s->fd = 2;
	if (o->key_file && o->key_file[0])
		rc = load_key(o->key_file, s);
	else
		rc = pg_audit_hasher_new(NULL, 0, &s->hasher);
	if (rc == PG_OK && o->path && o->path[0]) {
		/* O_APPEND: each write() lands whole at the end, even with
		 * logrotate's copytruncate. Read too: the chain resumes from the
		 * last line. */
		int fd = open(o->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0)
			rc = pg_fail(PG_EIO, "cannot open audit file diagnostics.audit_file %s: %s", o->path,
				     strerror(errno));
		else if (fstat(fd, &st) != 0) {
			rc = pg_fail(PG_EIO, "audit file %s: %s", o->path, strerror(errno));
			close(fd);
		} else {
			s->fd = fd;
			s->is_file = S_ISREG(st.st_mode);
			s->dev = st.st_dev;
			s->ino = st.st_ino;
		}
	}
	if (rc != PG_OK)
		sink_close(s);
	return rc;
}

static bool same_key(const struct sink *a, const struct sink *b)
{
	if (a->key_len != b->key_len || !a->key != !b->key)
		return false;
	return !a->key || memcmp(a->key, b->key, a->key_len) == 0;
}

/* ---- formatting (writer thread) --------------------------------------------- */

static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put2(char *p, int v)
{
	*p++ = (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/* RFC 3339 UTC with milliseconds, without printf. */
static size_t format_time(int64_t wall_ns, char out[32])
{
	time_t secs = (time_t)(wall_ns / 1000000000);
	int ms = (int)(wall_ns / 1000000 % 1000);
	struct tm tm;
	char *p = out;

	gmtime_r(&secs, &tm);
	p = put2(put2(p, (tm.tm_year + 1900) / 100), (tm.tm_year + 1900) % 100);
	*p++ = '-';
	p = put2(p, tm.tm_mon + 1);
	*p++ = '-';
	p = put2(p, tm.tm_mday);
	*p++ = 'T';
	p = put2(p, tm.tm_hour);
	*p++ = ':';
	p = put2(p, tm.tm_min);
	*p++ = ':';
	p = put2(p, tm.tm_sec);
	*p++ = '.';
	*p++ = (char)('0' + ms / 100);
	p = put2(p, ms % 100);
	*p++ = 'Z';
	return (size_t)(p - out);
}

/* Appends one chained line to a->out. */
static int format_line(struct pg_audit *a, int64_t wall_ns, const char *fields, size_t len)
{
	char head[96], hex[PG_AUDIT_HEX_LEN + 1];
	unsigned char h[PG_AUDIT_HASH_LEN];
	size_t start = a->out.len;
	char *p = head;
	int rc;

	memcpy(p, "{\"seq\":", 7);
	p = put_u64(p + 7, a->seq + 1);
	memcpy(p, ",\"time\":\"", 9);
	p += 9;
	p += format_time(wall_ns, p);
	*p++ = '"';
	if (len)
		*p++ = ',';
	rc = pg_buf_append(&a->out, head, (size_t)(p - head));
	if (rc == PG_OK)
		rc = pg_buf_append(&a->out, fields, len);
	if (rc == PG_OK)
		rc = pg_audit_hash(a->cur.hasher, a->last, a->out.data + start, a->out.len - start, h);
	if (rc == PG_OK) {
		pg_audit_hex(h, hex);
		rc = pg_buf_append(&a->out, ",\"hash\":\"", 9);
	}
	if (rc == PG_OK)
		rc = pg_buf_append(&a->out, hex, PG_AUDIT_HEX_LEN);
	if (rc == PG_OK)
		rc = pg_buf_append(&a->out, "\"}\n", 3);
	if (rc != PG_OK) {
		a->out.len = start;
		return rc;
	}
	a->seq++;
	memcpy(a->last, h, PG_AUDIT_HASH_LEN);
	return PG_OK;
}

/* The chain-start line: algorithm and the link to the line before. */
static int format_start(struct pg_audit *a, const char *reason)
{
	char fields[256], hex[PG_AUDIT_HEX_LEN + 1];
	int n;

	pg_audit_hex(a->last, hex);
	n = snprintf(fields, sizeof(fields),
		     "\"event\":\"audit_chain_start\",\"alg\":\"%s\",\"prev_seq\":%llu,\"prev_hash\":\"%s\","
		     "\"reason\":\"%s\"",
		     pg_audit_hasher_alg(a->cur.hasher), (unsigned long long)a->seq, hex, reason);
	return format_line(a, pg_clock_wall_ns(), fields, (size_t)n);
}

/* ---- writing (writer thread) ---------------------------------------------------- */

static void set_failing(struct pg_audit *a, bool failing, int err)
{
	if (failing == a->write_failing)
		return; /* the common case costs no lock */
	a->write_failing = failing;
	pthread_mutex_lock(&a->mu);
	if (failing && !a->failing)
		pg_error(MOD, "cannot write the audit log: %s; refusing audited requests until it works again",
			 strerror(err));
	else if (!failing && a->failing)
		pg_info(MOD, "audit log writable again");
	a->failing = failing;
	pthread_mutex_unlock(&a->mu);
}

/* Writes a->out whole; on failure retries every RETRY_MS (requests are
 * refused meanwhile) until it works or `give_up_ms` (monotonic) passes. */
static int write_out(struct pg_audit *a, int64_t give_up_ms)
{
	size_t off = 0;

	while (off < a->out.len) {
		ssize_t r = write(a->cur.fd, a->out.data + off, a->out.len - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;

			set_failing(a, true, err);
			if (pg_clock_mono_ms() >= give_up_ms) {
				pg_error(MOD, "audit lines lost: %s", strerror(err));
				a->out.len = 0;
				return pg_fail(PG_EIO, "audit write: %s", strerror(err));
			}
			usleep(RETRY_MS * 1000);
			continue;
		}
		off += (size_t)r;
	}
	a->out.len = 0;
	if (a->cur.is_file && a->dirty_since_ms < 0)
		a->dirty_since_ms = pg_clock_mono_ms();
	return PG_OK;
}

static void do_sync(struct pg_audit *a)
{
	if (a->cur.is_file && a->dirty_since_ms >= 0 && fdatasync(a->cur.fd) != 0)
		pg_warn(MOD, "audit fdatasync: %s", strerror(errno));
	a->dirty_since_ms = -1;
}

/* Called with mu held, dropped meanwhile: switches to the pending sink. */
static void apply_reopen(struct pg_audit *a)
{
	struct sink *s = a->pending;
	const char *reason = NULL;

	a->pending = NULL;
	pthread_mutex_unlock(&a->mu);
	do_sync(a);
	/* stderr stays stderr; another file (or a file instead of stderr) is a rotation. */
	if (!(s->fd == 2 && a->cur.fd == 2) &&
	    (!s->is_file || !a->cur.is_file || s->dev != a->cur.dev || s->ino != a->cur.ino))
		reason = "rotated";
	else if (!same_key(s, &a->cur))
		reason = "rekeyed";
	sink_close(&a->cur);
	a->cur = *s;
	free(s);
	if (reason && (format_start(a, reason) != PG_OK || write_out(a, pg_clock_mono_ms() + STOP_DRAIN_MS) != PG_OK))
		pg_err_clear(); /* logged by write_out */
	pthread_mutex_lock(&a->mu);
	a->reopen_done = a->reopen_req;
	pthread_cond_broadcast(&a->done);
}

static void *writer(void *arg)
{
	struct pg_audit *a = arg;
	int64_t stop_at = -1;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		unsigned k = 0;
		size_t bytes = 0;
		int64_t now = pg_clock_mono_ms();
		uint64_t limit;

		if (a->pending && a->deq >= a->pending_after) {
			apply_reopen(a);
			continue;
		}
		if (a->stopping && stop_at < 0)
			stop_at = now + STOP_DRAIN_MS;
		if (a->count == 0) {
			if (a->dirty_since_ms >= 0 &&
			    (a->sync_now || a->stopping || now - a->dirty_since_ms >= a->sync_ms)) {
				uint64_t deq = a->deq;

				pthread_mutex_unlock(&a->mu);
				do_sync(a);
				pthread_mutex_lock(&a->mu);
				a->synced = deq;
				a->sync_now = false;
				pthread_cond_broadcast(&a->done);
				continue;
			}
			if (!a->cur.is_file || a->dirty_since_ms < 0) {
				a->synced = a->deq;
				a->sync_now = false;
				pthread_cond_broadcast(&a->done);
			}
			if (a->stopping)
				break;
			a->idle = true;
			if (a->dirty_since_ms >= 0) {
				struct timespec ts =
					pg_clock_deadline(CLOCK_MONOTONIC, a->dirty_since_ms + a->sync_ms - now);
				pthread_cond_timedwait(&a->work, &a->mu, &ts);
			} else {
				pthread_cond_wait(&a->work, &a->mu);
			}
			a->idle = false;
			continue;
		}
		/* Lines before a pending reopen go to the old file. */
		limit = a->pending ? a->pending_after - a->deq : a->count;
		while (k < a->count && k < limit && bytes < BATCH_BYTES) {
			bytes += a->ring[(a->head + k) % a->cap]->len;
			k++;
		}
		pthread_mutex_unlock(&a->mu);
		/* The slots [head, head + k) stay ours: submitters only fill
		 * slots past head + count. */
		for (unsigned i = 0; i < k; i++) {
			struct entry *e = a->ring[(a->head + i) % a->cap];

			if (format_line(a, e->wall_ns, e->fields, e->len) != PG_OK) {
				pg_error(MOD, "audit line dropped: %s", pg_errmsg());
				pg_err_clear();
			}
		}
		if (write_out(a, stop_at >= 0 ? stop_at : INT64_MAX) == PG_OK)
			set_failing(a, false, 0);
		else
			pg_err_clear();
		if (a->cur.is_file && (a->sync_ms == 0 || pg_clock_mono_ms() - a->dirty_since_ms >= a->sync_ms))
			do_sync(a);
		atomic_store(&a->last_seq, a->seq);
		if (a->s_lines)
			pg_series_add(a->s_lines, k);
		if (a->s_seq)
			pg_series_set(a->s_seq, (double)a->seq);
		pthread_mutex_lock(&a->mu);
		for (unsigned i = 0; i < k; i++) {
			free(a->ring[a->head]);
			a->ring[a->head] = NULL;
			a->head = (a->head + 1) % a->cap;
		}
		a->count -= k;
		a->deq += k;
		if (a->dirty_since_ms < 0)
			a->synced = a->deq;
		pthread_cond_broadcast(&a->done);
		/* Let the next lines gather: submitters signal only an idle
		 * writer or a half-full queue; flush, reopen and stop always do. */
		if (!a->stopping && !a->sync_now && !a->pending && a->count < a->cap / 2) {
			struct timespec ts = pg_clock_deadline(CLOCK_MONOTONIC, GATHER_MS);

			pthread_cond_timedwait(&a->work, &a->mu, &ts);
		}
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* ---- the chain's start -------------------------------------------------------- */

/* Reads the file's last complete line (bounded) to continue its chain.
 * Returns the chain-start reason. */
static const char *resume(struct pg_audit *a, bool *partial)
{
	struct stat st;
	size_t n, s, e;
	char *buf;
	off_t off;
	struct pg_audit_line pl;
	const char *reason = "unchained_tail";

	*partial = false;
	if (!a->cur.is_file || fstat(a->cur.fd, &st) != 0 || st.st_size == 0)
		return "new";
	n = (size_t)st.st_size < PG_AUDIT_LINE_MAX + 2 ? (size_t)st.st_size : PG_AUDIT_LINE_MAX + 2;
	off = st.st_size - (off_t)n;
	if (!(buf = malloc(n)))
		return reason;
	if (pread(a->cur.fd, buf, n, off) != (ssize_t)n)
		goto out;
	*partial = buf[n - 1] != '\n';
	/* e: end of the last complete line (its '\n'). */
	e = n;
	while (e > 0 && buf[e - 1] != '\n')
		e--;
	if (e == 0)
		goto out;
	e--;
	for (s = e; s > 0 && buf[s - 1] != '\n'; s--)
		;
	if (s == 0 && off != 0)
		goto out; /* longer than any line the writer makes */
	if (pg_audit_line_parse(buf + s, e - s, &pl) == PG_OK) {
		a->seq = pl.seq;
		memcpy(a->last, pl.hash, PG_AUDIT_HASH_LEN);
		reason = *partial ? "partial_line" : "restart";
	}
out:
	free(buf);
	return reason;
}

/* ---- API -------------------------------------------------------------------------- */

int pg_audit_check(const struct pg_audit_opts *o)
{
	struct sink s;
	int rc = PG_OK;

	if (o->key_file && o->key_file[0]) {
		memset(&s, 0, sizeof(s));
		s.fd = 2;
		rc = load_key(o->key_file, &s);
		sink_close(&s);
	}
	if (rc == PG_OK && o->path && o->path[0]) {
		char dir[PATH_MAX];
		const char *slash = strrchr(o->path, '/');
		size_t n = !slash ? 1 : slash == o->path ? 1 : (size_t)(slash - o->path);

		if (n >= sizeof(dir))
			return pg_fail(PG_EINVAL, "audit file name too long: %s", o->path);
		memcpy(dir, slash ? o->path : ".", n);
		dir[n] = '\0';
		if (access(dir, W_OK | X_OK) != 0)
			rc = pg_fail(PG_EIO, "audit file %s: its directory %s is not writable: %s", o->path, dir,
				     strerror(errno));
	}
	return rc;
}

static void count_refused(struct pg_audit *a)
{
	if (a->s_refused)
		pg_series_add(a->s_refused, 1);
}

/* Whether a new line may be queued; mu held. */
static int admit_locked(struct pg_audit *a, int64_t now)
{
	if (a->stopping)
		return pg_fail(PG_EBUSY, "the audit log is closing");
	if (a->count + a->reserved >= a->cap)
		return pg_fail(PG_EBUSY, "the audit queue is full (%u lines)", a->cap);
	if (a->failing)
		return pg_fail(PG_EIO, "the audit log cannot be written");
	if (a->count && now - a->ring[a->head]->mono_ms > PG_AUDIT_STALL_MS)
		return pg_fail(PG_EIO, "the audit log is %lld ms behind (slow disk)",
			       (long long)(now - a->ring[a->head]->mono_ms));
	return PG_OK;
}

int pg_audit_reserve(struct pg_audit *a)
{
	int rc;

	pthread_mutex_lock(&a->mu);
	rc = admit_locked(a, pg_clock_mono_ms());
	if (rc == PG_OK)
		a->reserved++;
	pthread_mutex_unlock(&a->mu);
	if (rc != PG_OK)
		count_refused(a);
	return rc;
}

int pg_audit_submit(struct pg_audit *a, bool reserved, const char *fields, size_t len)
{
	struct entry *e = NULL;
	int rc = PG_OK;

	if (len > PG_AUDIT_FIELDS_MAX)
		rc = pg_fail(PG_EINVAL, "audit line of %zu bytes (at most %u)", len, PG_AUDIT_FIELDS_MAX);
	else if (!(e = malloc(sizeof(*e) + len + 1)))
		rc = pg_fail(PG_ENOMEM, "out of memory for an audit line");
	if (e) {
		e->wall_ns = pg_clock_wall_ns();
		e->mono_ms = pg_clock_mono_ms();
		e->len = len;
		memcpy(e->fields, fields, len);
		e->fields[len] = '\0';
	}
	pthread_mutex_lock(&a->mu);
	if (reserved && a->reserved > 0)
		a->reserved--;
	else if (rc == PG_OK)
		rc = admit_locked(a, e->mono_ms);
	if (rc == PG_OK) {
		a->ring[(a->head + a->count) % a->cap] = e;
		a->count++;
		a->enq++;
		/* An idle writer is woken by the first line; a gathering one
		 * by a half-full queue, or at the end of its GATHER_MS. */
		if (a->idle || a->count == a->cap / 2) {
			a->idle = false;
			pthread_cond_signal(&a->work);
		}
	}
	pthread_mutex_unlock(&a->mu);
	if (rc != PG_OK) {
		free(e);
		count_refused(a);
		pg_debug(MOD, "audit line refused: %s", pg_errmsg());
	}
	return rc;
}

void pg_audit_event(void *arg, const char *fields)
{
	if (pg_audit_submit(arg, false, fields, strlen(fields)) != PG_OK) {
		pg_warn(MOD, "audit event not recorded (%s): {%s}", pg_errmsg(), fields);
		pg_err_clear();
	}
}

int pg_audit_flush(struct pg_audit *a, int timeout_ms)
{
	struct timespec ts = pg_clock_deadline(CLOCK_MONOTONIC, timeout_ms);
	uint64_t target;
	int rc = PG_OK;

	pthread_mutex_lock(&a->mu);
	target = a->enq;
	a->sync_now = true;
	pthread_cond_signal(&a->work);
	while (a->synced < target && rc == PG_OK)
		if (pthread_cond_timedwait(&a->done, &a->mu, &ts) == ETIMEDOUT)
			rc = pg_fail(PG_EBUSY, "the audit log did not catch up within %d ms", timeout_ms);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

uint64_t pg_audit_last_seq(struct pg_audit *a)
{
	return atomic_load(&a->last_seq);
}

int pg_audit_reopen(struct pg_audit *a, const struct pg_audit_opts *o)
{
	struct sink *s = calloc(1, sizeof(*s));
	struct timespec ts = pg_clock_deadline(CLOCK_MONOTONIC, REOPEN_WAIT_MS);
	uint64_t gen;
	int rc;

	if (!s)
		return pg_fail(PG_ENOMEM, "out of memory reopening the audit log");
	if ((rc = sink_open(o, s)) != PG_OK) {
		free(s);
		return rc;
	}
	pthread_mutex_lock(&a->mu);
	if (a->pending) {
		sink_close(a->pending);
		free(a->pending);
	}
	a->pending = s;
	a->pending_after = a->enq;
	gen = ++a->reopen_req;
	pthread_cond_signal(&a->work);
	while (a->reopen_done < gen)
		if (pthread_cond_timedwait(&a->done, &a->mu, &ts) == ETIMEDOUT)
			break; /* a slow disk: the writer switches when it can */
	pthread_mutex_unlock(&a->mu);
	return PG_OK;
}

static void cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t at;

	pthread_condattr_init(&at);
	pthread_condattr_setclock(&at, CLOCK_MONOTONIC);
	pthread_cond_init(c, &at);
	pthread_condattr_destroy(&at);
}

static int metrics_init(struct pg_audit *a, struct pg_metrics *m)
{
	const struct {
		enum pg_metric_kind kind;
		const char *name, *help;
		struct pg_series **out;
	} fams[] = {
		{PG_METRIC_COUNTER, "pprofgate_audit_lines_total", "Audit lines written.", &a->s_lines},
		{PG_METRIC_COUNTER, "pprofgate_audit_refused_total",
		 "Audit lines, and the requests that needed them, refused because the audit log could not take "
		 "them (queue full, write failing, slow disk).",
		 &a->s_refused},
		{PG_METRIC_GAUGE, "pprofgate_audit_seq",
		 "Sequence number of the last audit line written (compare with the file's last line: a smaller "
		 "one there means its tail was cut).",
		 &a->s_seq},
	};
	int rc = PG_OK;

	for (size_t i = 0; rc == PG_OK && i < sizeof(fams) / sizeof(fams[0]); i++) {
		struct pg_family *f = NULL;

		rc = pg_metrics_family(m, fams[i].kind, fams[i].name, fams[i].help, NULL, 0, NULL, 0, &f);
		if (rc == PG_OK)
			*fams[i].out = pg_family_series(f, NULL);
	}
	return rc;
}

int pg_audit_new(const struct pg_audit_opts *o, struct pg_audit **out)
{
	struct pg_audit *a = calloc(1, sizeof(*a));
	const char *reason;
	bool partial = false;
	int rc;

	*out = NULL;
	if (!a)
		return pg_fail(PG_ENOMEM, "out of memory for the audit log");
	pthread_mutex_init(&a->mu, NULL);
	cond_init_mono(&a->work);
	cond_init_mono(&a->done);
	a->cur.fd = 2;
	a->dirty_since_ms = -1;
	a->cap = o->queue_lines ? o->queue_lines : PG_AUDIT_QUEUE_LINES;
	a->sync_ms = o->sync_ms < 0 ? PG_AUDIT_SYNC_MS : o->sync_ms;
	pg_buf_init(&a->out, BATCH_BYTES + PG_AUDIT_FIELDS_MAX + 1024);
	rc = (a->ring = calloc(a->cap, sizeof(*a->ring))) ? PG_OK : pg_fail(PG_ENOMEM, "out of memory for the audit queue");
	if (rc == PG_OK && o->metrics)
		rc = metrics_init(a, o->metrics);
	if (rc == PG_OK)
		rc = sink_open(o, &a->cur);
	if (rc != PG_OK)
		goto out;
	reason = resume(a, &partial);
	/* A line cut by a crash is closed first, so the next line starts a line. */
	if (partial)
		rc = pg_buf_append(&a->out, "\n", 1);
	if (rc == PG_OK)
		rc = format_start(a, reason);
	if (rc == PG_OK && (rc = write_out(a, 0)) != PG_OK)
		rc = pg_fail(rc, "cannot write audit file %s: %s", o->path, pg_errmsg());
	if (rc == PG_OK) {
		do_sync(a);
		a->last_seq = a->seq;
		if (a->s_seq)
			pg_series_set(a->s_seq, (double)a->seq);
		rc = pg_thread_create(&a->thread, "audit-writer", writer, a);
	}
	if (rc == PG_OK)
		a->started = true;
out:
	if (rc != PG_OK) {
		pg_audit_free(&a);
		return rc;
	}
	*out = a;
	return PG_OK;
}

void pg_audit_free(struct pg_audit **pp)
{
	struct pg_audit *a;

	if (!pp || !*pp)
		return;
	a = *pp;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stopping = true;
		pthread_cond_signal(&a->work);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
	}
	for (unsigned i = 0; a->ring && i < a->count; i++)
		free(a->ring[(a->head + i) % a->cap]);
	if (a->ring && a->count)
		pg_error(MOD, "%u audit line(s) could not be written before stopping", a->count);
	free(a->ring);
	if (a->pending) {
		sink_close(a->pending);
		free(a->pending);
	}
	sink_close(&a->cur);
	pg_buf_free(&a->out);
	pthread_cond_destroy(&a->done);
	pthread_cond_destroy(&a->work);
	pthread_mutex_destroy(&a->mu);
	free(a);
	*pp = NULL;
}
