/* stats.c - in-process counters and statsd over UDP. */
#include "stats.h"

#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

static atomic_long counters[STAT_COUNTERS];
static atomic_long gauges[STAT_GAUGES];

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int sock = -1; /* under mu, with the two below */
static struct sockaddr_storage addr;
static socklen_t addr_len;
static char prefix[64] = "image_server";
static pthread_once_t started_once = PTHREAD_ONCE_INIT;
static double started_ms;

static void start(void)
{
	started_ms = clock_now_ms();
}

double stats_uptime(void)
{
	pthread_once(&started_once, start);
	return (clock_now_ms() - started_ms) / 1e3;
}

void stats_add(enum stats_counter c, long n)
{
	pthread_once(&started_once, start);
	atomic_fetch_add(&counters[c], n);
}

void stats_gauge(enum stats_gauge g, long delta)
{
	atomic_fetch_add(&gauges[g], delta);
}

long stats_get(enum stats_counter c)
{
	return atomic_load(&counters[c]);
}

long stats_gauge_get(enum stats_gauge g)
{
	return atomic_load(&gauges[g]);
}

int stats_configure(const char *hostport, const char *pfx, struct err *e)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai = NULL;
	char host[256];
	const char *colon = strrchr(hostport, ':');
	int fd = -1, rc;

	pthread_once(&started_once, start);
	if (hostport[0] != '\0') {
		if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
			return err_set(e, ERR_BAD_REQUEST,
				       "statsd: expected HOST:PORT, got '%s'", hostport);
		memcpy(host, hostport, (size_t)(colon - hostport));
		host[colon - hostport] = '\0';
		rc = getaddrinfo(host, colon + 1, &hints, &ai);
		if (rc != 0)
			return err_set(e, ERR_BAD_REQUEST, "statsd %s: %s", hostport,
				       gai_strerror(rc));
		fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			freeaddrinfo(ai);
			return err_set(e, ERR_INTERNAL, "statsd: socket failed");
		}
	}
	pthread_mutex_lock(&mu);
	if (sock >= 0)
		close(sock);
	sock = fd;
	if (ai != NULL) {
		memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
		addr_len = ai->ai_addrlen;
	}
	snprintf(prefix, sizeof(prefix), "%s", pfx);
	pthread_mutex_unlock(&mu);
	if (ai != NULL)
		freeaddrinfo(ai);
	return 0;
}

/* Sends one line; a full socket buffer or a dead statsd loses the event. */
static void send_line(const char *name, const char *value)
{
	char line[256];
	int n;

	pthread_mutex_lock(&mu);
	if (sock >= 0) {
		n = snprintf(line, sizeof(line), "%s.%s:%s", prefix, name, value);
		if (n > 0 && (size_t)n < sizeof(line))
			(void)sendto(sock, line, (size_t)n, MSG_DONTWAIT,
				     (struct sockaddr *)&addr, addr_len);
	}
	pthread_mutex_unlock(&mu);
}

void stats_event(const char *name)
{
	send_line(name, "1|c");
}

void stats_timing(const char *name, double ms)
{
	char v[32];

	snprintf(v, sizeof(v), "%.1f|ms", ms);
	send_line(name, v);
}

#define BATCH 1400 /* bytes: a datagram that no network fragments */

/* The calling thread's kept timers: lines "{prefix}.{name}:{ms}|ms\n". */
static _Thread_local struct {
	char text[BATCH + 1];
	size_t len;
	double first_ms; /* when the oldest was kept */
} kept;

void stats_flush(void)
{
	if (kept.len == 0)
		return;
	pthread_mutex_lock(&mu);
	if (sock >= 0) /* (without the last newline) */
		(void)sendto(sock, kept.text, kept.len - 1, MSG_DONTWAIT,
			     (struct sockaddr *)&addr, addr_len);
	pthread_mutex_unlock(&mu);
	kept.len = 0;
}

void stats_timing_later(const char *name, double ms)
{
	char line[256];
	int n = -1;

	pthread_mutex_lock(&mu);
	if (sock >= 0)
		n = snprintf(line, sizeof(line), "%s.%s:%.1f|ms\n", prefix, name, ms);
	pthread_mutex_unlock(&mu);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return; /* statsd off */
	if (kept.len + (size_t)n > BATCH)
		stats_flush();
	if (kept.len == 0)
		kept.first_ms = clock_now_ms();
	memcpy(kept.text + kept.len, line, (size_t)n);
	kept.len += (size_t)n;
	if (clock_now_ms() - kept.first_ms >= 1000)
		stats_flush();
}
