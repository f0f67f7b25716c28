/* pages.c - the status page and /metrics. */
#include "pages.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "jobs.h"
#include "respond.h"
#include "stats.h"
#include "version.h"

/* The figures the status page and /metrics show, read once. */
struct figures {
	double uptime;
	long processing, downloading;
	long counters[STAT_COUNTERS];
	const char *redis;
	long queued, in_progress, dead; /* -1: unknown (Redis off or down) */
};

static const char *const counter_names[STAT_COUNTERS] = {
	[STAT_REQUESTS] = "requests",
	[STAT_MADE] = "made",
	[STAT_FROM_STORE] = "from_store",
	[STAT_WAITED] = "waited",
	[STAT_REFUSED] = "refused",
	[STAT_FAILED] = "failed",
	[STAT_DOWNLOADED] = "originals_downloaded",
	[STAT_UNAVAILABLE] = "originals_unavailable",
};

static void read_figures(struct output_env *env, struct output_worker *w,
			 struct figures *f)
{
	f->uptime = stats_uptime();
	f->processing = stats_gauge_get(GAUGE_PROCESSING);
	f->downloading = stats_gauge_get(GAUGE_DOWNLOADING);
	for (int i = 0; i < STAT_COUNTERS; i++)
		f->counters[i] = stats_get((enum stats_counter)i);
	f->redis = output_env_redis_state(env);
	f->queued = f->in_progress = f->dead = -1;
	if (strcmp(f->redis, "off") != 0)
		jobs_counts(w, &f->queued, &f->in_progress, &f->dead);
}

/* Appends printf-formatted text to b (the pages are small). */
static void bprintf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n
								   : sizeof(line) - 1);
}

void pages_status(FCGX_Request *req, struct output_env *env,
		  struct output_worker *w, const char *query, int head)
{
	struct figures f;
	struct buf b;

	read_figures(env, w, &f);
	buf_init(&b);
	if (strstr(query, "format=html") != NULL) {
		bprintf(&b, "<!doctype html><meta charset=utf-8>"
			    "<title>image-server status</title>"
			    "<h1>image-server %s</h1><table>\n", IMGSRV_VERSION);
		bprintf(&b, "<tr><th>uptime<td>%.0f s\n", f.uptime);
		bprintf(&b, "<tr><th>images being made now<td>%ld\n", f.processing);
		bprintf(&b, "<tr><th>originals being downloaded now<td>%ld\n",
			f.downloading);
		for (int i = 0; i < STAT_COUNTERS; i++)
			bprintf(&b, "<tr><th>%s<td>%ld\n", counter_names[i],
				f.counters[i]);
		bprintf(&b, "<tr><th>redis<td>%s\n", f.redis);
		bprintf(&b, "<tr><th>jobs queued<td>%ld\n<tr><th>jobs in progress<td>%ld\n"
			    "<tr><th>dead jobs<td>%ld\n</table>\n",
			f.queued, f.in_progress, f.dead);
		respond_page(req, 200, "text/html; charset=utf-8", b.data, b.len, head);
	} else {
		bprintf(&b, "{\"version\":\"%s\",\"uptime_seconds\":%.0f,"
			    "\"processing\":%ld,\"downloading\":%ld",
			IMGSRV_VERSION, f.uptime, f.processing, f.downloading);
		for (int i = 0; i < STAT_COUNTERS; i++)
			bprintf(&b, ",\"%s\":%ld", counter_names[i], f.counters[i]);
		bprintf(&b, ",\"redis\":\"%s\",\"queue\":{\"waiting\":%ld,"
			    "\"in_progress\":%ld,\"dead\":%ld}}\n",
			f.redis, f.queued, f.in_progress, f.dead);
		respond_page(req, 200, "application/json", b.data, b.len, head);
	}
	buf_release(&b);
}

void pages_metrics(FCGX_Request *req, struct output_env *env,
		   struct output_worker *w, int head)
{
	struct figures f;
	struct buf b;

	read_figures(env, w, &f);
	buf_init(&b);
	bprintf(&b, "# TYPE image_server_uptime_seconds gauge\n"
		    "image_server_uptime_seconds %.0f\n", f.uptime);
	bprintf(&b, "# TYPE image_server_processing gauge\n"
		    "image_server_processing %ld\n", f.processing);
	bprintf(&b, "# TYPE image_server_downloading gauge\n"
		    "image_server_downloading %ld\n", f.downloading);
	for (int i = 0; i < STAT_COUNTERS; i++)
		bprintf(&b, "# TYPE image_server_%s_total counter\n"
			    "image_server_%s_total %ld\n",
			counter_names[i], counter_names[i], f.counters[i]);
	bprintf(&b, "# TYPE image_server_redis_up gauge\n"
		    "image_server_redis_up %d\n", strcmp(f.redis, "up") == 0);
	if (f.queued >= 0)
		bprintf(&b, "# TYPE image_server_queue_jobs gauge\n"
			    "image_server_queue_jobs{state=\"waiting\"} %ld\n"
			    "image_server_queue_jobs{state=\"in_progress\"} %ld\n"
			    "image_server_queue_jobs{state=\"dead\"} %ld\n",
			f.queued, f.in_progress, f.dead);
	bprintf(&b, "# TYPE image_server_info gauge\n"
		    "image_server_info{version=\"%s\"} 1\n", IMGSRV_VERSION);
	respond_page(req, 200, "text/plain; version=0.0.4", b.data, b.len, head);
	buf_release(&b);
}
