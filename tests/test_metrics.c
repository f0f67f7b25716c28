/* test_metrics.c - histograms, the last minute, outputs being made, last
 * errors, under concurrent recorders; the Prometheus text through promtool
 * when it is installed; and what recording costs. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "metrics.h"
#include "sniff.h"
#include "stats.h"
#include "test.h"
#include "url.h"

/* The value of the first line of text that starts with series and a
 * space; -1 when there is none. */
static double value_of(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	return -1;
}

static char *render(struct buf *b)
{
	buf_release(b);
	CHECK(metrics_prometheus(b) == 0);
	return (char *)b->data;
}

#define REQ "image_server_request_duration_seconds"
#define STAGE "image_server_stage_duration_seconds"

static void test_histograms(void)
{
	struct buf b;
	char *t;

	buf_init(&b);
	t = render(&b);
	CHECK(value_of(t, REQ "_count{outcome=\"made\"}") == 0, "empty made");
	CHECK(strstr(t, "# HELP " REQ " ") != NULL);
	CHECK(strstr(t, "# TYPE " REQ " histogram\n") != NULL);
	CHECK(strstr(t, "# TYPE " STAGE " histogram\n") != NULL);
	CHECK(strstr(t, "# TYPE image_server_output_bytes histogram\n") != NULL);
	CHECK(strstr(t, STAGE "_count") == NULL, "no stage series before one is recorded");
	/* An empty histogram family still has its HELP and TYPE (above). */

	/* 3 ms, 5 ms (exactly on a bound: le is <=), 40 ms, 2 s, 45 s */
	metrics_request(METRICS_MADE, 200, URL_FMT_WEBP, 3);
	metrics_request(METRICS_MADE, 200, URL_FMT_WEBP, 5);
	metrics_request(METRICS_MADE, 200, URL_FMT_JPEG, 40);
	metrics_request(METRICS_MADE, 200, URL_FMT_JPEG, 2000);
	metrics_request(METRICS_MADE, 200, URL_FMT_JPEG, 45000);
	metrics_request(METRICS_REFUSED, 404, METRICS_NONE, 1);
	metrics_request(METRICS_FAILED, 502, URL_FMT_JPEG, 10);
	metrics_response(202);
	t = render(&b);
	CHECK(value_of(t, REQ "_bucket{outcome=\"made\",le=\"0.005\"}") == 2);
	CHECK(value_of(t, REQ "_bucket{outcome=\"made\",le=\"0.01\"}") == 2);
	CHECK(value_of(t, REQ "_bucket{outcome=\"made\",le=\"0.05\"}") == 3);
	CHECK(value_of(t, REQ "_bucket{outcome=\"made\",le=\"2.5\"}") == 4);
	CHECK(value_of(t, REQ "_bucket{outcome=\"made\",le=\"30\"}") == 4);
	CHECK(value_of(t, REQ "_bucket{outcome=\"made\",le=\"+Inf\"}") == 5);
	CHECK(value_of(t, REQ "_count{outcome=\"made\"}") == 5);
	CHECK(fabs(value_of(t, REQ "_sum{outcome=\"made\"}") - 47.048) < 1e-6,
	      "sum %f", value_of(t, REQ "_sum{outcome=\"made\"}"));
	CHECK(value_of(t, REQ "_count{outcome=\"refused\"}") == 1);
	CHECK(value_of(t, REQ "_count{outcome=\"failed\"}") == 1);
	CHECK(value_of(t, REQ "_count{outcome=\"waited\"}") == 0);
	CHECK(value_of(t, "image_server_responses_total{code=\"200\"}") == 5);
	CHECK(value_of(t, "image_server_responses_total{code=\"404\"}") == 1);
	CHECK(value_of(t, "image_server_responses_total{code=\"502\"}") == 1);
	CHECK(value_of(t, "image_server_responses_total{code=\"202\"}") == 1);
	CHECK(value_of(t, "image_server_outputs_total{output=\"jpg\"}") == 3,
	      "a 502 is not an output answered");
	CHECK(value_of(t, "image_server_outputs_total{output=\"webp\"}") == 2);

	metrics_stage(METRICS_DECODE, SNIFF_JPEG, URL_FMT_WEBP, 12);
	metrics_stage(METRICS_DECODE, SNIFF_JPEG, URL_FMT_WEBP, 30);
	metrics_stage(METRICS_FETCH, SNIFF_PNG, METRICS_NONE, 100);
	metrics_stage(METRICS_LOCK_WAIT, METRICS_NONE, METRICS_NONE, 250);
	metrics_stage(METRICS_WRITE, 99, 99, 1); /* out of range: no label */
	metrics_output(URL_FMT_PNG, 5000);
	metrics_output(URL_FMT_PNG, 1024);
	t = render(&b);
	CHECK(value_of(t, STAGE "_count{stage=\"decode\",input=\"jpeg\",output=\"webp\"}") == 2);
	CHECK(value_of(t, STAGE "_bucket{stage=\"decode\",input=\"jpeg\",output=\"webp\",le=\"0.025\"}") == 1);
	CHECK(value_of(t, STAGE "_count{stage=\"fetch\",input=\"png\"}") == 1);
	CHECK(value_of(t, STAGE "_count{stage=\"lock_wait\"}") == 1);
	CHECK(value_of(t, STAGE "_count{stage=\"write\"}") == 1);
	CHECK(value_of(t, "image_server_output_bytes_bucket{output=\"png\",le=\"1024\"}") == 1);
	CHECK(value_of(t, "image_server_output_bytes_bucket{output=\"png\",le=\"16384\"}") == 2);
	CHECK(value_of(t, "image_server_output_bytes_sum{output=\"png\"}") == 6024);
	CHECK(strstr(t, "image_server_output_bytes_count{output=\"jpg\"}") == NULL);

	struct metrics_stage_total st;
	metrics_stage_total(METRICS_DECODE, &st);
	CHECK(st.count == 2 && fabs(st.seconds - 0.042) < 1e-9, "%lu %f", st.count, st.seconds);

	/* Memory: RSS always; the budget only once its keeper sets it. */
	CHECK(value_of(t, "process_resident_memory_bytes") > 100000);
	CHECK(strstr(t, "image_server_memory_budget_in_use_bytes") == NULL);
	metrics_set_budget_in_use(123456);
	t = render(&b);
	CHECK(value_of(t, "image_server_memory_budget_in_use_bytes") == 123456);
	CHECK(strstr(t, "# HELP image_server_memory_budget_in_use_bytes ") != NULL);
	buf_release(&b);
}

/* promtool's lint on the text, when it is installed. */
static void test_promtool(void)
{
	struct buf b;
	FILE *f;
	int rc;

	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		SKIP("promtool check metrics on the text", "promtool not installed");
		return;
	}
	buf_init(&b);
	render(&b);
	f = popen("promtool check metrics 1>&2", "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	fwrite(b.data, 1, b.len, f);
	rc = pclose(f);
	CHECK(rc == 0, "promtool check metrics: its complaints are above");
	buf_release(&b);
}

static void test_minute(void)
{
	struct metrics_minute m0, m;

	/* From test_histograms: made 3, 5, 40, 2000, 45000 ms; 1 refused, 1
	 * failed.  (All within this second or the last few.) */
	metrics_minute(&m0);
	CHECK(m0.outcomes[METRICS_MADE] == 5 && m0.outcomes[METRICS_REFUSED] == 1 &&
	      m0.outcomes[METRICS_FAILED] == 1, "%ld %ld %ld", m0.outcomes[0],
	      m0.outcomes[3], m0.outcomes[4]);
	CHECK_INT(m0.requests, 7);
	CHECK_INT(m0.misses, 5);
	CHECK(fabs(m0.per_second - 7 / 60.0) < 1e-9);
	CHECK(fabs(m0.p50_ms - 40) / 40 < 0.045, "p50 %f", m0.p50_ms);
	CHECK(fabs(m0.p99_ms - 45000) / 45000 < 0.045, "p99 %f", m0.p99_ms);

	/* 100 waited misses of 1..100 ms: p50 ~50, p99 ~99 of the 105. */
	for (int i = 1; i <= 100; i++)
		metrics_request(METRICS_WAITED, 200, URL_FMT_PNG, i);
	metrics_request(METRICS_STORE, 200, URL_FMT_PNG, 0.2); /* not a miss */
	metrics_minute(&m);
	CHECK_INT(m.requests, 108);
	CHECK_INT(m.misses, 105);
	CHECK_INT(m.outcomes[METRICS_STORE], 1);
	/* nearest rank: the 53rd of 1..100,3,5,40,2000,45000 sorted is 50 */
	CHECK(fabs(m.p50_ms - 50) / 50 < 0.045, "p50 %f", m.p50_ms);
	/* the 104th: 2000 */
	CHECK(fabs(m.p99_ms - 2000) / 2000 < 0.045, "p99 %f", m.p99_ms);
}

static void test_making(void)
{
	struct metrics_making out[METRICS_MAKING_MAX];
	int slots[METRICS_MAKING_MAX + 2];
	long untracked;
	size_t n;

	n = metrics_making(out, METRICS_MAKING_MAX, &untracked);
	CHECK(n == 0 && untracked == 0);
	slots[0] = metrics_making_begin("user/avatar/1/w500.jpg");
	usleep(20 * 1000);
	slots[1] = metrics_making_begin("user/avatar/2/original");
	n = metrics_making(out, METRICS_MAKING_MAX, &untracked);
	CHECK_INT(n, 2);
	CHECK_STR(out[0].name, "user/avatar/1/w500.jpg"); /* longest first */
	CHECK(out[0].seconds >= 0.019 && out[0].seconds < 5, "%f", out[0].seconds);
	CHECK(out[1].seconds < out[0].seconds);
	n = metrics_making(out, 1, &untracked);
	CHECK(n == 1 && untracked == 1, "%zu %ld", n, untracked);
	metrics_making_end(slots[0]);
	n = metrics_making(out, METRICS_MAKING_MAX, NULL);
	CHECK(n == 1 && strcmp(out[0].name, "user/avatar/2/original") == 0);
	metrics_making_end(slots[1]);

	/* More than the registry holds: counted, and let go of. */
	for (int i = 0; i < METRICS_MAKING_MAX + 2; i++)
		slots[i] = metrics_making_begin("x/y/1/w1.jpg");
	CHECK(slots[METRICS_MAKING_MAX] == -1 && slots[METRICS_MAKING_MAX + 1] == -1);
	n = metrics_making(out, METRICS_MAKING_MAX, &untracked);
	CHECK(n == METRICS_MAKING_MAX && untracked == 2, "%zu %ld", n, untracked);
	for (int i = 0; i < METRICS_MAKING_MAX + 2; i++)
		metrics_making_end(slots[i]);
	n = metrics_making(out, METRICS_MAKING_MAX, &untracked);
	CHECK(n == 0 && untracked == 0, "%zu %ld", n, untracked);
	metrics_making_end(-1); /* never below zero */
	metrics_making(out, METRICS_MAKING_MAX, &untracked);
	CHECK_INT(untracked, 0);
}

static void test_errors(void)
{
	struct metrics_error out[METRICS_ERRORS_MAX + 4];
	char path[64];
	size_t n;

	n = metrics_errors(out, METRICS_ERRORS_MAX);
	CHECK_INT(n, 0);
	metrics_error("/a/b/1/w1.jpg", 404, "original not found at the source");
	metrics_error("/a/b/2/w1.jpg", 502, "source answered 500");
	n = metrics_errors(out, METRICS_ERRORS_MAX);
	CHECK_INT(n, 2);
	CHECK_STR(out[0].path, "/a/b/2/w1.jpg");
	CHECK_INT(out[0].status, 502);
	CHECK_STR(out[1].msg, "original not found at the source");
	CHECK(labs((long)(out[0].when - time(NULL))) <= 2);
	for (int i = 0; i < METRICS_ERRORS_MAX + 3; i++) {
		snprintf(path, sizeof(path), "/a/b/%d/w1.jpg", 100 + i);
		metrics_error(path, 400, "bad");
	}
	n = metrics_errors(out, METRICS_ERRORS_MAX + 4);
	CHECK_INT(n, METRICS_ERRORS_MAX);
	snprintf(path, sizeof(path), "/a/b/%d/w1.jpg", 100 + METRICS_ERRORS_MAX + 2);
	CHECK_STR(out[0].path, path);
	snprintf(path, sizeof(path), "/a/b/%d/w1.jpg", 103);
	CHECK_STR(out[METRICS_ERRORS_MAX - 1].path, path);
	n = metrics_errors(out, 3);
	CHECK_INT(n, 3);
}

/* Reads the datagrams waiting on fd into out (each followed by '|' then
 * a newline); returns how many. */
static int datagrams(int fd, char *out, size_t size)
{
	int n = 0;
	size_t len = 0;

	out[0] = '\0';
	for (;;) {
		ssize_t r = recv(fd, out + len, size - len - 3, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return n;
		len += (size_t)r;
		out[len++] = '|';
		out[len++] = '\n';
		out[len] = '\0';
		n++;
	}
}

static int count_lines(const char *s, const char *line)
{
	int n = 0;
	size_t l = strlen(line);

	for (const char *p = s; (p = strstr(p, line)) != NULL; p += l)
		if ((p == s || p[-1] == '\n') && (p[l] == '\n' || p[l] == '|'))
			n++;
	return n;
}

/* statsd: a request's timers in one datagram; full ones and old ones
 * sent at once. */
static void test_statsd(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	char hostport[32], got[65536];
	int fd = socket(AF_INET, SOCK_DGRAM, 0), n;
	struct err e;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	      getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ntohs(a.sin_port));
	CHECK(stats_configure(hostport, "t", &e) == 0);

	metrics_stage(METRICS_FETCH, SNIFF_JPEG, METRICS_NONE, 1.5);
	metrics_stage(METRICS_DECODE, SNIFF_JPEG, URL_FMT_JPEG, 20);
	usleep(50 * 1000);
	CHECK_INT(datagrams(fd, got, sizeof(got)), 0); /* kept, not sent */
	metrics_request(METRICS_MADE, 200, URL_FMT_JPEG, 30);
	usleep(50 * 1000);
	n = datagrams(fd, got, sizeof(got));
	CHECK(n == 1, "%d datagrams: %s", n, got);
	CHECK_STR(got, "t.stage_time.fetch:1.5|ms\nt.stage_time.decode:20.0|ms\n"
		       "t.request_time.made:30.0|ms|\n");

	/* 200 kept: sent as they fill datagrams of at most 1400 bytes */
	for (int i = 0; i < 200; i++)
		metrics_stage(METRICS_WRITE, METRICS_NONE, METRICS_NONE, 1);
	stats_flush();
	usleep(50 * 1000);
	n = datagrams(fd, got, sizeof(got));
	CHECK(n == 4, "%d datagrams", n); /* 200 lines of 22 bytes */
	CHECK_INT(count_lines(got, "t.stage_time.write:1.0|ms"), 200);

	/* one kept a second ago goes with the next */
	metrics_stage(METRICS_CHECK, METRICS_NONE, METRICS_NONE, 1);
	usleep(1050 * 1000);
	metrics_stage(METRICS_CHECK, METRICS_NONE, METRICS_NONE, 2);
	usleep(50 * 1000);
	n = datagrams(fd, got, sizeof(got));
	CHECK(n == 1 && count_lines(got, "t.stage_time.check:1.0|ms") == 1 &&
	      count_lines(got, "t.stage_time.check:2.0|ms") == 1, "%d: %s", n, got);

	/* statsd off: nothing kept */
	CHECK(stats_configure("", "t", &e) == 0);
	metrics_stage(METRICS_CHECK, METRICS_NONE, METRICS_NONE, 3);
	stats_flush();
	usleep(50 * 1000);
	CHECK_INT(datagrams(fd, got, sizeof(got)), 0);
	close(fd);
}

/* Concurrent recorders (run under TSan too): every record is counted. */
#define THREADS 8
#define EACH 20000

static void *recorder(void *arg)
{
	int k = *(int *)arg;
	char name[32];

	snprintf(name, sizeof(name), "t/%d/w1.jpg", k);
	for (int i = 0; i < EACH; i++) {
		int slot = metrics_making_begin(name);

		metrics_request(METRICS_STORE, 200, URL_FMT_GIF, 7);
		metrics_stage(METRICS_ENCODE, SNIFF_GIF, URL_FMT_GIF, 7);
		metrics_output(URL_FMT_GIF, 2000);
		if (i % 1000 == 0)
			metrics_error(name, 503, "busy");
		metrics_making_end(slot);
	}
	return NULL;
}

static void *reader(void *arg)
{
	atomic_int *stop = arg;
	struct metrics_making mk[METRICS_MAKING_MAX];
	struct metrics_error er[METRICS_ERRORS_MAX];
	struct metrics_minute m;
	struct buf b;

	buf_init(&b);
	while (!atomic_load(stop)) {
		metrics_minute(&m);
		metrics_making(mk, METRICS_MAKING_MAX, NULL);
		metrics_errors(er, METRICS_ERRORS_MAX);
		metrics_prometheus(&b);
		buf_release(&b);
	}
	return NULL;
}

static void test_concurrent(void)
{
	pthread_t t[THREADS], r;
	int ids[THREADS];
	atomic_int stop = 0;
	struct metrics_making mk[METRICS_MAKING_MAX];
	struct metrics_minute m0, m;
	struct buf b;
	char *text;
	long untracked;

	metrics_minute(&m0);
	pthread_create(&r, NULL, reader, &stop);
	for (int i = 0; i < THREADS; i++) {
		ids[i] = i;
		pthread_create(&t[i], NULL, recorder, &ids[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&stop, 1);
	pthread_join(r, NULL);
	buf_init(&b);
	text = render(&b);
	CHECK(value_of(text, REQ "_count{outcome=\"store\"}") == 1 + THREADS * EACH);
	CHECK(value_of(text, "image_server_outputs_total{output=\"gif\"}") == THREADS * EACH);
	CHECK(value_of(text, STAGE "_count{stage=\"encode\",input=\"gif\",output=\"gif\"}") ==
	      THREADS * EACH);
	CHECK(fabs(value_of(text, STAGE "_sum{stage=\"encode\",input=\"gif\",output=\"gif\"}") -
		   THREADS * EACH * 0.007) < 1e-6);
	CHECK(value_of(text, "image_server_output_bytes_sum{output=\"gif\"}") ==
	      2000.0 * THREADS * EACH);
	metrics_minute(&m);
	/* (the run may cross a minute's edge only on a very slow machine) */
	CHECK(m.outcomes[METRICS_STORE] - m0.outcomes[METRICS_STORE] == THREADS * EACH,
	      "%ld", m.outcomes[METRICS_STORE] - m0.outcomes[METRICS_STORE]);
	CHECK(metrics_making(mk, METRICS_MAKING_MAX, &untracked) == 0 && untracked == 0);
	buf_release(&b);
}

/* What a miss's recording costs: one request, seven stages, one output
 * size, the making registry and a sniff of the original's header, as
 * lib/output.c and fcgi/handler.c do them (statsd off). */
static void cost(void)
{
	static const unsigned char jpeg[] = {
		0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0,
		0, 1, 0, 1, 0, 0, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x07, 0xD0, 0x0B,
		0xB8, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1
	};
	int rounds = 200000;
	double t0 = clock_now_ms();

	for (int i = 0; i < rounds; i++) {
		struct sniff_info si;
		struct err e;
		int slot = metrics_making_begin("user/avatar/3589782/w500.jpg");

		(void)sniff(jpeg, sizeof(jpeg), &si, &e);
		for (int s = 0; s < METRICS_STAGES; s++)
			metrics_stage((enum metrics_stage)s, (int)si.format, URL_FMT_JPEG, 12.5);
		metrics_output(URL_FMT_JPEG, 30000);
		metrics_making_end(slot);
		metrics_request(METRICS_MADE, 200, URL_FMT_JPEG, 40);
	}
	printf("# one miss's recording: %.2f us (%d rounds)\n",
	       (clock_now_ms() - t0) * 1e3 / rounds, rounds);
}

/* The same with statsd on (to a closed port: each datagram is sent). */
static void cost_statsd(void)
{
	struct err e;

	if (stats_configure("127.0.0.1:9", "image_server", &e) == 0)
		cost();
	stats_configure("", "image_server", &e);
}

int main(int argc, char **argv)
{
	test_histograms();
	test_promtool();
	test_minute();
	test_making();
	test_errors();
	test_statsd();
	test_concurrent();
	test_promtool();
	if (argc > 1 && strcmp(argv[1], "cost") == 0) {
		cost();
		cost_statsd();
	}
	return TEST_END("metrics");
}
