/*
 * metrics.h - durations, sizes and what is happening now: the figures
 * behind /metrics's histograms and /status's last minute.
 *
 * Recording (from request threads and queue workers alike):
 *   - the duration of each answered image request, by outcome, into a
 *     Prometheus histogram and a one-minute window;
 *   - the duration of each stage of a miss (fetch, check, decode, resize,
 *     encode, write, lock_wait), by input and output format where they
 *     apply; the size of each output made; answers by status code and by
 *     output format;
 *   - the outputs being made now (a small registry) and the last error
 *     answers (a small ring).
 * The durations also go to statsd as timers (stats.h), under names of
 * their own beside the statsd names operators rely on: a thread keeps its
 * timers and metrics_request() sends them, the request's in one datagram
 * (stats_timing_later, stats_flush).
 *
 * The histograms are arrays of atomic counters: recording is a few
 * relaxed atomic adds, never a lock.  Bucket bounds suit images: 5 ms to
 * 30 s for durations, 1 KiB to 16 MiB for sizes.  A histogram's _count is
 * the sum of its buckets as read, so _count always equals its +Inf bucket;
 * its _sum may lag a recording in flight by one value.
 *
 * The last minute: a ring of 60 one-second slots on the monotonic clock,
 * each with the requests of that second by outcome and a fine histogram of
 * the misses' durations (8 buckets per doubling from 0.1 ms, so a
 * percentile is the middle of its bucket, within 4.5% of the true value).
 * "The last minute" is the current second and the 59 before it;
 * per_second is its requests divided by 60.  A miss is a request answered
 * made or waited: its output was not in the store.  The ring, the
 * registry and the error ring each take a mutex held for a few copies.
 *
 * Thread-safety: internally locked; every function may be called from
 * any thread.  Nothing here allocates after the first call.
 */
#ifndef IMGSRV_METRICS_H
#define IMGSRV_METRICS_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

/* How a request for an image ended: made, waited and store are 200s. */
enum metrics_outcome {
	METRICS_MADE,
	METRICS_WAITED,
	METRICS_STORE,
	METRICS_REFUSED, /* 4xx */
	METRICS_FAILED,  /* 5xx */
	METRICS_OUTCOMES
};

/* The stages of a miss.  check is the original's decode check before it
 * is kept (gate_original); lock_wait is time spent waiting for another
 * thread, process or host making the same file. */
enum metrics_stage {
	METRICS_FETCH,
	METRICS_CHECK,
	METRICS_DECODE,
	METRICS_RESIZE,
	METRICS_ENCODE,
	METRICS_WRITE,
	METRICS_LOCK_WAIT,
	METRICS_STAGES
};

/* A format label that does not apply (input: enum sniff_format; output:
 * enum url_format). */
#define METRICS_NONE (-1)

/* Sizes of what the readers copy out. */
#define METRICS_MAKING_MAX 64  /* outputs tracked as being made at once */
#define METRICS_ERRORS_MAX 16  /* last errors kept */
#define METRICS_NAME_MAX 160   /* a path kept, with its NUL */
#define METRICS_MSG_MAX 200    /* an error message kept, with its NUL */

/* "made", "waited", "store", "refused", "failed". */
const char *metrics_outcome_name(enum metrics_outcome o);

/* "fetch", "check", "decode", "resize", "encode", "write", "lock_wait". */
const char *metrics_stage_name(enum metrics_stage s);

/*
 * A request for an image was answered with status after ms milliseconds:
 * into the request histogram, the last minute, answers by status, and
 * (a 200) answers by output format (enum url_format, or METRICS_NONE).
 * Sends the statsd timer request_time.OUTCOME with the thread's kept ones.
 */
void metrics_request(enum metrics_outcome o, int status, int output,
		     double ms);

/* Any other answer (a page, a POST): counted by status only; the
 * thread's kept statsd timers are sent. */
void metrics_response(int status);

/*
 * A stage took ms milliseconds; input is an enum sniff_format and output
 * an enum url_format, or METRICS_NONE where they do not apply.  The
 * statsd timer stage_time.STAGE is kept with the thread's others.
 */
void metrics_stage(enum metrics_stage s, int input, int output, double ms);

/* An output of format output (enum url_format) was made, bytes long. */
void metrics_output(int output, size_t bytes);

/*
 * The making of name ("user/avatar/1/w500.jpg") starts now.  Returns the
 * slot to give to metrics_making_end(), or -1 when METRICS_MAKING_MAX are
 * tracked already (then it is only counted, until metrics_making_end(-1)).
 */
int metrics_making_begin(const char *name);
void metrics_making_end(int slot);

/* An error answer: status and its one-line message, for path. */
void metrics_error(const char *path, int status, const char *msg);

/*
 * Sets the gauge of the memory budget in use, in bytes, for the code that
 * keeps one (admission of decodes under a memory cap); a negative value
 * means no budget, and the gauge is then left out of /metrics.
 */
void metrics_set_budget_in_use(long bytes);

/* The budget in use as last set, or -1. */
long metrics_budget_in_use(void);

/* The resident set size of this process in bytes (/proc/self/statm), or
 * -1 when it cannot be read. */
long metrics_rss_bytes(void);

/* The last minute, as /status shows it. */
struct metrics_minute {
	long outcomes[METRICS_OUTCOMES]; /* requests by outcome */
	long requests;                   /* their sum */
	long misses;                     /* made + waited */
	double per_second;               /* requests / 60 */
	double p50_ms, p99_ms;           /* of the misses; 0 when none */
};

void metrics_minute(struct metrics_minute *m);

/* One output being made now. */
struct metrics_making {
	char name[METRICS_NAME_MAX];
	double seconds; /* since it started */
};

/* Copies up to max outputs being made now into out, longest first;
 * returns how many.  *untracked (unless NULL): how many more are being
 * made than the registry holds. */
size_t metrics_making(struct metrics_making *out, size_t max,
		      long *untracked);

/* One error answer. */
struct metrics_error {
	time_t when; /* wall clock */
	int status;
	char path[METRICS_NAME_MAX];
	char msg[METRICS_MSG_MAX];
};

/* Copies up to max of the last errors into out, newest first; returns
 * how many. */
size_t metrics_errors(struct metrics_error *out, size_t max);

/* One stage's totals since start, over all its formats. */
struct metrics_stage_total {
	unsigned long count;
	double seconds;
};

void metrics_stage_total(enum metrics_stage s, struct metrics_stage_total *t);

/*
 * Appends this module's families to b in the Prometheus text format 0.0.4,
 * each with # HELP and # TYPE: image_server_request_duration_seconds,
 * image_server_stage_duration_seconds, image_server_output_bytes,
 * image_server_responses_total, image_server_outputs_total,
 * process_resident_memory_bytes and (when set)
 * image_server_memory_budget_in_use_bytes.  Returns 0, or -1 when memory
 * ran out (b then holds part of the text).
 */
int metrics_prometheus(struct buf *b);

#endif
