/* slow_clients: idle and slowloris connections against an HTTP server while
 * a scraper measures how /metrics keeps answering. Bounded: it stops by
 * itself after --seconds, and opens at most --idle + --slow connections at a
 * time (a connection the server closes is opened again, as an attacker
 * would). Loopback only: attackers bind to 127.0.0.2 .. 127.0.0.(1+K) so a
 * per-address connection limit can tell them from the scraper on 127.0.0.1.
 *
 *   slow_clients --port P [--scrape-port Q] [--idle N] [--slow N] [--sources K]
 *                [--seconds S] [--slow-every-ms MS] [--scrape-every-ms MS]
 *
 * The scraper runs on its own thread with blocking sockets, so the attackers'
 * event loop never delays its timing.
 *
 * idle: connects and sends nothing (on an HTTPS port: never starts the
 * handshake). slow: sends "GET / HTTP/1.1" and one more header line every
 * --slow-every-ms, never ending the headers. The scraper opens a new
 * connection from 127.0.0.1 to --scrape-port (default --port) every
 * --scrape-every-ms, sends GET /metrics with Connection: close, and times
 * connect-to-last-byte; no answer within 2 s or a status other than 200 is
 * a failure.
 *
 * Output: a progress line every 5 s, then one summary line:
 * scrapes=N failures=N p50_ms=X p99_ms=X max_ms=X open_idle=N open_slow=N
 * reopened=N refused=N */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ATTACK 20000
#define MAX_SAMPLES 100000
#define SCRAPE_TIMEOUT_S 2.0

enum kind { IDLE, SLOW };

struct conn {
	enum kind kind;
	int fd;
	bool connected;
	double t0;      /* slow: last line sent */
	unsigned lines; /* slow: header lines sent */
	double retry_at; /* attacker: when to open again after a close */
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long num(const char *flag, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max) {
		fprintf(stderr, "slow_clients: %s %s: want a number in %ld..%ld\n", flag, s, min, max);
		exit(2);
	}
	return v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int epfd;
static double t_end;
static int scrape_ms_g;
static double lat[MAX_SAMPLES];
static size_t n_lat;
static unsigned long scrapes, failures;

/* One scrape on a new blocking connection from 127.0.0.1; the latency in ms,
 * or < 0 on failure. */
static double scrape_once(int port_)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = (time_t)SCRAPE_TIMEOUT_S};
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
	char head[16] = "", buf[16384];
	size_t got = 0;
	double t0 = now_s();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t r;

	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	a.sin_port = htons((uint16_t)port_);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) < 0) {
		close(fd);
		return -1;
	}
	while ((r = recv(fd, buf, sizeof(buf), 0)) > 0 && now_s() - t0 < SCRAPE_TIMEOUT_S) {
		if (got < sizeof(head) - 1) {
			size_t take = (size_t)r < sizeof(head) - 1 - got ? (size_t)r : sizeof(head) - 1 - got;

			memcpy(head + got, buf, take);
			got += take;
		}
	}
	close(fd);
	if (r != 0 || strncmp(head, "HTTP/1.1 200", 12) != 0)
		return -1;
	return (now_s() - t0) * 1000.0;
}

static void *scraper_main(void *arg)
{
	int p = *(int *)arg;

	while (now_s() < t_end) {
		double t0 = now_s(), ms = scrape_once(p);

		scrapes++;
		if (ms < 0)
			failures++;
		else if (n_lat < MAX_SAMPLES)
			lat[n_lat++] = ms;
		double left = (double)scrape_ms_g / 1000.0 - (now_s() - t0);
		if (left > 0)
			usleep((useconds_t)(left * 1e6));
	}
	return NULL;
}
static int port, scrape_port, sources = 8;
static unsigned long reopened, refused;

/* Opens c's socket from 127.0.0.src (non-blocking connect). */
static int open_conn(struct conn *c, unsigned src)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(0x7f000000u | src);
	if (bind(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto fail;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS)
		goto fail;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		goto fail;
	c->connected = false;
	c->lines = 0;
	c->t0 = now_s();
	return 0;
fail:
	close(c->fd);
	c->fd = -1;
	return -1;
}

static void close_conn(struct conn *c)
{
	c->retry_at = now_s() + 1.0; /* attackers come back after a second */
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
}

static void send_str(struct conn *c, const char *s)
{
	if (send(c->fd, s, strlen(s), MSG_NOSIGNAL) < 0 && errno != EAGAIN)
		close_conn(c);
}

int main(int argc, char **argv)
{
	long n_idle = 1000, n_slow = 1000, secs = 30, slow_ms = 5000, scrape_ms = 100;
	struct conn *att;
	pthread_t scraper;
	double next_report;
	struct rlimit rl;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "slow_clients: %s needs a value\n", a);
			return 2;
		}
		if (strcmp(a, "--port") == 0)
			port = (int)num(a, v, 1, 65535);
		else if (strcmp(a, "--scrape-port") == 0)
			scrape_port = (int)num(a, v, 1, 65535);
		else if (strcmp(a, "--idle") == 0)
			n_idle = num(a, v, 0, MAX_ATTACK);
		else if (strcmp(a, "--slow") == 0)
			n_slow = num(a, v, 0, MAX_ATTACK);
		else if (strcmp(a, "--sources") == 0)
			sources = (int)num(a, v, 1, 250);
		else if (strcmp(a, "--seconds") == 0)
			secs = num(a, v, 1, 600);
		else if (strcmp(a, "--slow-every-ms") == 0)
			slow_ms = num(a, v, 10, 60000);
		else if (strcmp(a, "--scrape-every-ms") == 0)
			scrape_ms = num(a, v, 10, 60000);
		else {
			fprintf(stderr, "slow_clients: unknown argument %s\n", a);
			return 2;
		}
		i++;
	}
	if (!port || n_idle + n_slow > MAX_ATTACK) {
		fprintf(stderr, "usage: slow_clients --port P [--scrape-port Q] [--idle N] [--slow N] [--sources K] "
				"[--seconds S] [--slow-every-ms MS] [--scrape-every-ms MS] (at most %d attackers)\n",
			MAX_ATTACK);
		return 2;
	}
	if (!scrape_port)
		scrape_port = port;
	/* Thousands of sockets: raise the soft descriptor limit to the hard one. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	att = calloc((size_t)(n_idle + n_slow), sizeof(*att));
	if (epfd < 0 || !att)
		return 1;
	for (long i = 0; i < n_idle + n_slow; i++) {
		att[i].kind = i < n_idle ? IDLE : SLOW;
		if (open_conn(&att[i], 2 + (unsigned)(i % sources)) != 0)
			refused++;
	}
	t_end = now_s() + (double)secs;
	scrape_ms_g = (int)scrape_ms;
	if (pthread_create(&scraper, NULL, scraper_main, &scrape_port) != 0)
		return 1;
	next_report = now_s() + 5;
	while (now_s() < t_end) {
		struct epoll_event evs[256];
		double t = now_s();
		int n;

		/* Attackers closed by the server come back; slow ones trickle. */
		for (long i = 0; i < n_idle + n_slow; i++) {
			struct conn *c = &att[i];

			if (c->fd < 0 && t >= c->retry_at) {
				if (open_conn(c, 2 + (unsigned)(i % sources)) == 0)
					reopened++;
				else {
					refused++;
					c->retry_at = t + 1.0;
				}
			} else if (c->fd >= 0 && c->kind == SLOW && c->connected && t - c->t0 >= (double)slow_ms / 1000.0) {
				char line[48];

				snprintf(line, sizeof(line), "X-Slow-%u: %u\r\n", c->lines, c->lines);
				c->lines++;
				c->t0 = t;
				send_str(c, line);
			}
		}
		n = epoll_wait(epfd, evs, 256, 10);
		for (int k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			char buf[4096];
			ssize_t r;

			if (c->fd < 0)
				continue;
			if (!c->connected && (evs[k].events & EPOLLOUT)) {
				int err = 0;
				socklen_t len = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err) {
					close_conn(c);
					continue;
				}
				c->connected = true;
				/* Only readiness for reading from now on. */
				struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
				epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
				if (c->kind == SLOW)
					send_str(c, "GET / HTTP/1.1\r\nHost: localhost\r\n");
				continue;
			}
			if (!(evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
				continue;
			r = recv(c->fd, buf, sizeof(buf), 0);
			if (r > 0 || (r < 0 && errno == EAGAIN))
				continue;
			/* Closed by the server: opened again a second later. */
			close_conn(c);
		}
		if (now_s() >= next_report) {
			unsigned long oi = 0, os = 0;

			for (long i = 0; i < n_idle + n_slow; i++)
				if (att[i].fd >= 0 && att[i].connected)
					*(att[i].kind == IDLE ? &oi : &os) += 1;
			printf("progress: t=%.0fs scrapes=%lu failures=%lu open_idle=%lu open_slow=%lu reopened=%lu\n",
			       (double)secs - (t_end - now_s()), scrapes, failures, oi, os, reopened);
			fflush(stdout);
			next_report += 5;
		}
	}
	{
		unsigned long oi = 0, os = 0;

		for (long i = 0; i < n_idle + n_slow; i++) {
			if (att[i].fd >= 0 && att[i].connected)
				*(att[i].kind == IDLE ? &oi : &os) += 1;
			close_conn(&att[i]);
		}
		pthread_join(scraper, NULL);
		qsort(lat, n_lat, sizeof(lat[0]), cmp_double);
		printf("scrapes=%lu failures=%lu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f open_idle=%lu open_slow=%lu "
		       "reopened=%lu refused=%lu\n",
		       scrapes, failures, n_lat ? lat[n_lat / 2] : 0.0, n_lat ? lat[(size_t)((double)n_lat * 0.99)] : 0.0,
		       n_lat ? lat[n_lat - 1] : 0.0, oi, os, reopened, refused);
	}
	free(att);
	close(epfd);
	return 0;
}
