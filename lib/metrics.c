/* metrics.c - histograms, the last minute, outputs being made, last errors. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "sniff.h"
#include "stats.h"
#include "url.h"

#define N_IN (SNIFF_WEBP + 1) /* the input labels: enum sniff_format */
#define N_OUT URL_FMT_COUNT   /* the output labels: enum url_format */
#define RELAXED memory_order_relaxed

/* --- histograms ------------------------------------------------------- */

#define DUR_BUCKETS 12
#define SIZE_BUCKETS 8
#define MAX_BUCKETS DUR_BUCKETS

/* Upper bounds (le), as values and as Prometheus prints them. */
static const double dur_bounds[DUR_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
};
static const char *const dur_le[DUR_BUCKETS] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
	"5", "10", "30"
};
static const double size_bounds[SIZE_BUCKETS] = {
	1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216
};
static const char *const size_le[SIZE_BUCKETS] = {
	"1024", "4096", "16384", "65536", "262144", "1048576", "4194304",
	"16777216"
};

/* One histogram: per-bucket (not cumulative) counts, the last one +Inf,
 * and the sum in micro-units (µs for durations, bytes for sizes). */
struct hist {
	atomic_ulong n[MAX_BUCKETS + 1];
	atomic_ulong sum;
};

struct family {
	const double *bounds;
	const char *const *le;
	int buckets;
	double unit; /* sum's units per one of the value */
};

static const struct family durations = { dur_bounds, dur_le, DUR_BUCKETS, 1e6 };
static const struct family sizes = { size_bounds, size_le, SIZE_BUCKETS, 1 };

static struct hist requests[METRICS_OUTCOMES];
static struct hist stages[METRICS_STAGES][N_IN + 1][N_OUT + 1];
static struct hist output_sizes[N_OUT];
static atomic_ulong by_status[600];
static atomic_ulong by_output[N_OUT];
static atomic_long budget = -1;

static void hist_add(struct hist *h, const struct family *f, double v)
{
	int i = 0;

	while (i < f->buckets && v > f->bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->n[i], 1, RELAXED);
	atomic_fetch_add_explicit(&h->sum, (unsigned long)(v * f->unit + 0.5),
				  RELAXED);
}

/* The count of h: the sum of its buckets, read once each into n. */
static unsigned long hist_read(struct hist *h, const struct family *f,
			       unsigned long n[MAX_BUCKETS + 1])
{
	unsigned long total = 0;

	for (int i = 0; i <= f->buckets; i++) {
		n[i] = atomic_load_explicit(&h->n[i], RELAXED);
		total += n[i];
	}
	return total;
}

/* --- names -------------------------------------------------------------- */

static const char *const outcome_names[METRICS_OUTCOMES] = {
	"made", "waited", "store", "refused", "failed"
};
static const char *const stage_names[METRICS_STAGES] = {
	"fetch", "check", "decode", "resize", "encode", "write", "lock_wait"
};
static const char *const input_names[N_IN] = {
	[SNIFF_UNKNOWN] = "unknown", [SNIFF_JPEG] = "jpeg", [SNIFF_PNG] = "png",
	[SNIFF_GIF] = "gif", [SNIFF_WEBP] = "webp"
};
/* The statsd timers, beside the names operators rely on (stats.h). */
static const char *const outcome_timers[METRICS_OUTCOMES] = {
	"request_time.made", "request_time.waited", "request_time.store",
	"request_time.refused", "request_time.failed"
};
static const char *const stage_timers[METRICS_STAGES] = {
	"stage_time.fetch", "stage_time.check", "stage_time.decode",
	"stage_time.resize", "stage_time.encode", "stage_time.write",
	"stage_time.lock_wait"
};

const char *metrics_outcome_name(enum metrics_outcome o)
{
	return (unsigned)o < METRICS_OUTCOMES ? outcome_names[o] : "?";
}

const char *metrics_stage_name(enum metrics_stage s)
{
	return (unsigned)s < METRICS_STAGES ? stage_names[s] : "?";
}

/* --- the last minute ---------------------------------------------------- */

#define WINDOW 60      /* seconds */
#define FINE 168       /* fine buckets: 8 per doubling from 0.1 ms (~190 s) */
#define FINE_BASE 0.1  /* ms: the top of fine bucket 0 */

struct slot {
	long sec; /* the monotonic second it counts; 0: none yet */
	unsigned outcomes[METRICS_OUTCOMES];
	unsigned fine[FINE]; /* the misses' durations */
};

static pthread_mutex_t window_mu = PTHREAD_MUTEX_INITIALIZER;
static struct slot window[WINDOW];

/* Fine bucket i > 0 holds (FINE_BASE * 2^((i-1)/8), FINE_BASE * 2^(i/8)]
 * ms; bucket 0 everything up to FINE_BASE. */
static int fine_bucket(double ms)
{
	double i;

	if (!(ms > FINE_BASE)) /* NaN too */
		return 0;
	i = ceil(8 * log2(ms / FINE_BASE));
	return i >= FINE - 1 ? FINE - 1 : i < 1 ? 1 : (int)i;
}

/* The middle of fine bucket i (geometric: the error is relative). */
static double fine_middle(int i)
{
	return i == 0 ? FINE_BASE / 2 : FINE_BASE * exp2((i - 0.5) / 8);
}

static long now_sec(void)
{
	return (long)(clock_now_ms() / 1e3) + 1; /* never 0: 0 marks unused */
}

static void window_add(enum metrics_outcome o, double ms)
{
	long sec = now_sec();
	struct slot *s = &window[sec % WINDOW];

	pthread_mutex_lock(&window_mu);
	if (s->sec != sec) {
		memset(s, 0, sizeof(*s));
		s->sec = sec;
	}
	s->outcomes[o]++;
	if (o == METRICS_MADE || o == METRICS_WAITED)
		s->fine[fine_bucket(ms)]++;
	pthread_mutex_unlock(&window_mu);
}

/* The nearest-rank q-quantile of the n values counted in fine. */
static double fine_quantile(const unsigned long fine[FINE], long n, double q)
{
	long rank = (long)ceil(q * (double)n), seen = 0;

	if (rank < 1)
		rank = 1;
	for (int i = 0; i < FINE; i++) {
		seen += (long)fine[i];
		if (seen >= rank)
			return fine_middle(i);
	}
	return 0;
}

void metrics_minute(struct metrics_minute *m)
{
	unsigned long fine[FINE] = { 0 };
	long sec = now_sec();

	memset(m, 0, sizeof(*m));
	pthread_mutex_lock(&window_mu);
	for (int i = 0; i < WINDOW; i++) {
		const struct slot *s = &window[i];

		if (s->sec == 0 || s->sec > sec || sec - s->sec >= WINDOW)
			continue;
		for (int o = 0; o < METRICS_OUTCOMES; o++)
			m->outcomes[o] += s->outcomes[o];
		for (int f = 0; f < FINE; f++)
			fine[f] += s->fine[f];
	}
	pthread_mutex_unlock(&window_mu);
	for (int o = 0; o < METRICS_OUTCOMES; o++)
		m->requests += m->outcomes[o];
	m->misses = m->outcomes[METRICS_MADE] + m->outcomes[METRICS_WAITED];
	m->per_second = (double)m->requests / WINDOW;
	if (m->misses > 0) {
		m->p50_ms = fine_quantile(fine, m->misses, 0.50);
		m->p99_ms = fine_quantile(fine, m->misses, 0.99);
	}
}

/* --- recording ------------------------------------------------------------ */

static void count_status(int status)
{
	if (status >= 100 && status < 600)
		atomic_fetch_add_explicit(&by_status[status], 1, RELAXED);
}

void metrics_request(enum metrics_outcome o, int status, int output, double ms)
{
	if ((unsigned)o >= METRICS_OUTCOMES)
		return;
	hist_add(&requests[o], &durations, ms / 1e3);
	window_add(o, ms);
	count_status(status);
	if (status == 200 && output >= 0 && output < N_OUT)
		atomic_fetch_add_explicit(&by_output[output], 1, RELAXED);
	stats_timing_later(outcome_timers[o], ms);
	stats_flush(); /* the request's timers, in one datagram */
}

void metrics_response(int status)
{
	count_status(status);
	stats_flush(); /* a POST's fetch timer */
}

void metrics_stage(enum metrics_stage s, int input, int output, double ms)
{
	if ((unsigned)s >= METRICS_STAGES)
		return;
	if (input < 0 || input >= N_IN)
		input = METRICS_NONE;
	if (output < 0 || output >= N_OUT)
		output = METRICS_NONE;
	hist_add(&stages[s][input + 1][output + 1], &durations, ms / 1e3);
	stats_timing_later(stage_timers[s], ms);
}

void metrics_output(int output, size_t bytes)
{
	if (output >= 0 && output < N_OUT)
		hist_add(&output_sizes[output], &sizes, (double)bytes);
}

void metrics_set_budget_in_use(long bytes)
{
	atomic_store(&budget, bytes < 0 ? -1 : bytes);
}

long metrics_budget_in_use(void)
{
	return atomic_load(&budget);
}

long metrics_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	long size, resident;
	int n;

	if (f == NULL)
		return -1;
	n = fscanf(f, "%ld %ld", &size, &resident);
	fclose(f);
	if (n != 2)
		return -1;
	return resident * sysconf(_SC_PAGESIZE);
}

void metrics_stage_total(enum metrics_stage s, struct metrics_stage_total *t)
{
	unsigned long n[MAX_BUCKETS + 1], sum = 0;

	t->count = 0;
	t->seconds = 0;
	if ((unsigned)s >= METRICS_STAGES)
		return;
	for (int i = 0; i <= N_IN; i++)
		for (int o = 0; o <= N_OUT; o++) {
			t->count += hist_read(&stages[s][i][o], &durations, n);
			sum += atomic_load_explicit(&stages[s][i][o].sum, RELAXED);
		}
	t->seconds = (double)sum / durations.unit;
}

/* --- outputs being made now ----------------------------------------------- */

static pthread_mutex_t making_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int used;
	double start_ms;
	char name[METRICS_NAME_MAX];
} making[METRICS_MAKING_MAX];
static long making_untracked; /* under making_mu */

int metrics_making_begin(const char *name)
{
	double start = clock_now_ms();
	int slot = -1;

	pthread_mutex_lock(&making_mu);
	for (int i = 0; i < METRICS_MAKING_MAX; i++)
		if (!making[i].used) {
			slot = i;
			break;
		}
	if (slot < 0) {
		making_untracked++;
	} else {
		making[slot].used = 1;
		making[slot].start_ms = start;
		snprintf(making[slot].name, sizeof(making[slot].name), "%s", name);
	}
	pthread_mutex_unlock(&making_mu);
	return slot;
}

void metrics_making_end(int slot)
{
	if (slot >= METRICS_MAKING_MAX)
		return;
	pthread_mutex_lock(&making_mu);
	if (slot < 0 && making_untracked > 0)
		making_untracked--;
	else if (slot >= 0)
		making[slot].used = 0;
	pthread_mutex_unlock(&making_mu);
}

size_t metrics_making(struct metrics_making *out, size_t max, long *untracked)
{
	double now = clock_now_ms();
	size_t n = 0, more = 0;

	pthread_mutex_lock(&making_mu);
	for (int i = 0; i < METRICS_MAKING_MAX; i++) {
		if (!making[i].used)
			continue;
		if (n == max) {
			more++;
			continue;
		}
		memcpy(out[n].name, making[i].name, sizeof(out[n].name));
		out[n].seconds = (now - making[i].start_ms) / 1e3;
		n++;
	}
	if (untracked != NULL)
		*untracked = making_untracked + (long)more;
	pthread_mutex_unlock(&making_mu);
	/* Longest first (insertion sort: a few entries). */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && out[j].seconds > out[j - 1].seconds; j--) {
			struct metrics_making t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

/* --- last errors ------------------------------------------------------------ */

static pthread_mutex_t errors_mu = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_error errors[METRICS_ERRORS_MAX];
static unsigned long errors_total; /* under errors_mu: errors[total % MAX] is next */

void metrics_error(const char *path, int status, const char *msg)
{
	struct metrics_error e;

	e.when = time(NULL);
	e.status = status;
	snprintf(e.path, sizeof(e.path), "%s", path);
	snprintf(e.msg, sizeof(e.msg), "%s", msg);
	pthread_mutex_lock(&errors_mu);
	errors[errors_total % METRICS_ERRORS_MAX] = e;
	errors_total++;
	pthread_mutex_unlock(&errors_mu);
}

size_t metrics_errors(struct metrics_error *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&errors_mu);
	for (unsigned long i = errors_total; i > 0 && n < max &&
	     errors_total - i < METRICS_ERRORS_MAX; i--)
		out[n++] = errors[(i - 1) % METRICS_ERRORS_MAX];
	pthread_mutex_unlock(&errors_mu);
	return n;
}

/* --- the Prometheus text ------------------------------------------------------ */

/* Appends the _bucket, _sum and _count lines of h under name, with labels
 * ("" or `stage="decode",output="webp"`); nothing when skip_empty and h
 * has counted nothing. */
static int hist_text(struct buf *b, const char *name, const char *labels,
		     struct hist *h, const struct family *f, int skip_empty)
{
	unsigned long n[MAX_BUCKETS + 1], cum = 0, total, sum;
	const char *sep = labels[0] ? "," : "";
	int rc = 0;

	total = hist_read(h, f, n);
	if (total == 0 && skip_empty)
		return 0;
	for (int i = 0; i < f->buckets; i++) {
		cum += n[i];
		rc |= buf_printf(b, "%s_bucket{%s%sle=\"%s\"} %lu\n", name, labels,
				 sep, f->le[i], cum);
	}
	rc |= buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %lu\n", name, labels,
			 sep, total);
	sum = atomic_load_explicit(&h->sum, RELAXED);
	if (f->unit == 1)
		rc |= buf_printf(b, "%s_sum%s%s%s %lu\n", name, labels[0] ? "{" : "",
				 labels, labels[0] ? "}" : "", sum);
	else
		rc |= buf_printf(b, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "",
				 labels, labels[0] ? "}" : "", (double)sum / f->unit);
	rc |= buf_printf(b, "%s_count%s%s%s %lu\n", name, labels[0] ? "{" : "",
			 labels, labels[0] ? "}" : "", total);
	return rc;
}

static int head(struct buf *b, const char *name, const char *type,
		const char *help)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
			  type);
}

static int stage_text(struct buf *b)
{
	const char *name = "image_server_stage_duration_seconds";
	char labels[96];
	int rc = head(b, name, "histogram",
		      "Time spent in one stage of making a file (fetch, check, "
		      "decode, resize, encode, write, lock_wait), by input and "
		      "output format where they apply.");

	for (int s = 0; s < METRICS_STAGES; s++)
		for (int i = 0; i <= N_IN; i++)
			for (int o = 0; o <= N_OUT; o++) {
				int n = snprintf(labels, sizeof(labels),
						 "stage=\"%s\"", stage_names[s]);
				if (i > 0)
					n += snprintf(labels + n, sizeof(labels) - (size_t)n,
						      ",input=\"%s\"", input_names[i - 1]);
				if (o > 0)
					snprintf(labels + n, sizeof(labels) - (size_t)n,
						 ",output=\"%s\"",
						 url_format_ext((enum url_format)(o - 1)));
				rc |= hist_text(b, name, labels, &stages[s][i][o],
						&durations, 1);
			}
	return rc;
}

int metrics_prometheus(struct buf *b)
{
	const char *name = "image_server_request_duration_seconds";
	char labels[64];
	long rss = metrics_rss_bytes(), used = metrics_budget_in_use();
	int rc = head(b, name, "histogram",
		      "Time to answer a request for an image that reached the "
		      "responder, by outcome.");

	for (int o = 0; o < METRICS_OUTCOMES; o++) {
		snprintf(labels, sizeof(labels), "outcome=\"%s\"", outcome_names[o]);
		rc |= hist_text(b, name, labels, &requests[o], &durations, 0);
	}
	rc |= stage_text(b);
	name = "image_server_output_bytes";
	rc |= head(b, name, "histogram", "Size of the outputs made, by output format.");
	for (int o = 0; o < N_OUT; o++) {
		snprintf(labels, sizeof(labels), "output=\"%s\"",
			 url_format_ext((enum url_format)o));
		rc |= hist_text(b, name, labels, &output_sizes[o], &sizes, 1);
	}
	rc |= head(b, "image_server_responses_total", "counter",
		   "Answers of the responder, by HTTP status code.");
	for (int s = 100; s < 600; s++) {
		unsigned long n = atomic_load_explicit(&by_status[s], RELAXED);
		if (n > 0)
			rc |= buf_printf(b, "image_server_responses_total{code=\"%d\"} %lu\n",
					 s, n);
	}
	rc |= head(b, "image_server_outputs_total", "counter",
		   "Images answered 200 by the responder, by output format.");
	for (int o = 0; o < N_OUT; o++)
		rc |= buf_printf(b, "image_server_outputs_total{output=\"%s\"} %lu\n",
				 url_format_ext((enum url_format)o),
				 atomic_load_explicit(&by_output[o], RELAXED));
	if (rss >= 0)
		rc |= head(b, "process_resident_memory_bytes", "gauge",
			   "Resident memory size in bytes.") |
		      buf_printf(b, "process_resident_memory_bytes %ld\n", rss);
	if (used >= 0)
		rc |= head(b, "image_server_memory_budget_in_use_bytes", "gauge",
			   "Memory reserved by the decodes admitted under the memory "
			   "budget.") |
		      buf_printf(b, "image_server_memory_budget_in_use_bytes %ld\n", used);
	return rc ? -1 : 0;
}
