/* pages.c - the status page (JSON and HTML) and /metrics: the figures of
 * stats.h and metrics.h, rendered. */
#include "pages.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "jobs.h"
#include "metrics.h"
#include "respond.h"
#include "stats.h"
#include "version.h"

/* The figures the pages show, read once. */
struct figures {
	double uptime;
	long processing, downloading;
	long counters[STAT_COUNTERS];
	const char *redis;
	long queued, in_progress, dead; /* -1: unknown (Redis off or down) */
	struct metrics_minute minute;
	struct metrics_making making[METRICS_MAKING_MAX];
	size_t n_making;
	long making_more;
	struct metrics_error errors[METRICS_ERRORS_MAX];
	size_t n_errors;
	long rss, budget; /* bytes; -1: unknown, none */
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

static const char *const counter_help[STAT_COUNTERS] = {
	[STAT_REQUESTS] = "Requests that reached the responder, of any kind.",
	[STAT_MADE] = "Images answered 200, made for the request.",
	[STAT_FROM_STORE] = "Images answered 200 from the store.",
	[STAT_WAITED] = "Images answered 200 after waiting for another maker.",
	[STAT_REFUSED] = "Answers with a 4xx status.",
	[STAT_FAILED] = "Answers with a 5xx status.",
	[STAT_DOWNLOADED] = "Originals fetched from the source.",
	[STAT_UNAVAILABLE] = "Fetches of an original that failed.",
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
	metrics_minute(&f->minute);
	f->n_making = metrics_making(f->making, METRICS_MAKING_MAX, &f->making_more);
	f->n_errors = metrics_errors(f->errors, METRICS_ERRORS_MAX);
	f->rss = metrics_rss_bytes();
	f->budget = metrics_budget_in_use();
}

/* s as a JSON string, quotes included; bytes outside printable ASCII as
 * \u00XX, so that the page stays valid JSON whatever a path held. */
static void json_str(struct buf *b, const char *s)
{
	buf_append(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			buf_printf(b, "\\u%04x", c);
		else
			buf_append(b, s, 1);
	}
	buf_append(b, "\"", 1);
}

/* s as HTML text; control characters as '?'. */
static void html_str(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': buf_printf(b, "&amp;"); break;
		case '<': buf_printf(b, "&lt;"); break;
		case '>': buf_printf(b, "&gt;"); break;
		case '"': buf_printf(b, "&quot;"); break;
		case '\'': buf_printf(b, "&#39;"); break;
		default:
			buf_append(b, (unsigned char)*s < 0x20 ? "?" : s, 1);
		}
	}
}

/* "2026-11-27T16:24:38Z" */
static void utc(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void status_json(struct buf *b, const struct figures *f)
{
	char when[32];

	buf_printf(b, "{\"version\":\"%s\",\"uptime_seconds\":%.0f,"
		      "\"processing\":%ld,\"downloading\":%ld",
		   IMGSRV_VERSION, f->uptime, f->processing, f->downloading);
	for (int i = 0; i < STAT_COUNTERS; i++)
		buf_printf(b, ",\"%s\":%ld", counter_names[i], f->counters[i]);
	buf_printf(b, ",\"per_second\":%.3f,\"p50_ms\":%.1f,\"p99_ms\":%.1f",
		   f->minute.per_second, f->minute.p50_ms, f->minute.p99_ms);
	buf_printf(b, ",\"last_minute\":{\"requests\":%ld,\"misses\":%ld",
		   f->minute.requests, f->minute.misses);
	for (int o = 0; o < METRICS_OUTCOMES; o++)
		buf_printf(b, ",\"%s\":%ld", metrics_outcome_name((enum metrics_outcome)o),
			   f->minute.outcomes[o]);
	buf_printf(b, "},\"making\":[");
	for (size_t i = 0; i < f->n_making; i++) {
		buf_printf(b, "%s{\"path\":", i ? "," : "");
		json_str(b, f->making[i].name);
		buf_printf(b, ",\"seconds\":%.1f}", f->making[i].seconds);
	}
	buf_printf(b, "],\"making_untracked\":%ld,\"errors\":[", f->making_more);
	for (size_t i = 0; i < f->n_errors; i++) {
		utc(f->errors[i].when, when);
		buf_printf(b, "%s{\"time\":\"%s\",\"path\":", i ? "," : "", when);
		json_str(b, f->errors[i].path);
		buf_printf(b, ",\"status\":%d,\"message\":", f->errors[i].status);
		json_str(b, f->errors[i].msg);
		buf_printf(b, "}");
	}
	buf_printf(b, "],\"rss_bytes\":%ld", f->rss);
	if (f->budget >= 0)
		buf_printf(b, ",\"memory_budget_in_use_bytes\":%ld", f->budget);
	buf_printf(b, ",\"redis\":\"%s\",\"queue\":{\"waiting\":%ld,"
		      "\"in_progress\":%ld,\"dead\":%ld}}\n",
		   f->redis, f->queued, f->in_progress, f->dead);
}

/* The page refreshes itself every REFRESH seconds. */
#define REFRESH 5

static const char html_head[] =
	"<!doctype html><html lang=en><meta charset=utf-8>"
	"<meta name=viewport content=\"width=device-width\">"
	"<title>image-server status</title><style>"
	"body{font:14px/1.45 system-ui,sans-serif;color:#222;background:#f6f7f9;"
	"max-width:62em;margin:1.5em auto;padding:0 1em}"
	"h1{font-size:1.5em;margin:0}h2{font-size:1.05em;margin:1.4em 0 .4em}"
	".sub{color:#667;margin:.2em 0 1em}a{color:#2a5db0}"
	".tiles{display:flex;flex-wrap:wrap;gap:.6em}"
	".tile{background:#fff;border:1px solid #dde;border-radius:6px;"
	"padding:.5em .9em;min-width:7.5em}"
	".tile b{display:block;font-size:1.6em;font-variant-numeric:tabular-nums}"
	".tile span{color:#667;font-size:.85em}.bad b,.bad{color:#b3261e}"
	"table{border-collapse:collapse;background:#fff;border:1px solid #dde;"
	"width:100%}th,td{text-align:left;padding:.3em .7em;"
	"border-bottom:1px solid #eef;vertical-align:top}th{background:#f0f2f6}"
	".n{text-align:right;font-variant-numeric:tabular-nums}"
	"td.p{font-family:ui-monospace,monospace;word-break:break-all}"
	".none{color:#889;font-style:italic}"
	"</style>";

static void tile(struct buf *b, int bad, const char *value, const char *what)
{
	buf_printf(b, "<div class=\"tile%s\"><b>%s</b><span>%s</span></div>",
		   bad ? " bad" : "", value, what);
}

static void html_tiles(struct buf *b, const struct figures *f)
{
	char v[64];

	buf_printf(b, "<div class=tiles>");
	snprintf(v, sizeof(v), "%.2f", f->minute.per_second);
	tile(b, 0, v, "requests/s, last minute");
	snprintf(v, sizeof(v), f->minute.misses ? "%.0f ms" : "&ndash;", f->minute.p50_ms);
	tile(b, 0, v, "p50 of misses");
	snprintf(v, sizeof(v), f->minute.misses ? "%.0f ms" : "&ndash;", f->minute.p99_ms);
	tile(b, 0, v, "p99 of misses");
	snprintf(v, sizeof(v), "%zu", f->n_making + (size_t)f->making_more);
	tile(b, 0, v, "being made now");
	snprintf(v, sizeof(v), "%ld", f->minute.outcomes[METRICS_FAILED]);
	tile(b, f->minute.outcomes[METRICS_FAILED] > 0, v, "5xx, last minute");
	if (f->queued >= 0)
		snprintf(v, sizeof(v), "%ld", f->queued);
	else
		snprintf(v, sizeof(v), "&ndash;");
	tile(b, 0, v, "jobs queued");
	if (f->dead > 0) {
		snprintf(v, sizeof(v), "%ld", f->dead);
		tile(b, 1, v, "dead jobs");
	}
	tile(b, strcmp(f->redis, "down") == 0, f->redis, "redis");
	snprintf(v, sizeof(v), f->rss >= 0 ? "%.0f MiB" : "&ndash;", f->rss / 1048576.0);
	tile(b, 0, v, "resident memory");
	buf_printf(b, "</div>\n");
}

static void html_outcomes(struct buf *b, const struct figures *f)
{
	static const enum stats_counter since[METRICS_OUTCOMES] = {
		STAT_MADE, STAT_WAITED, STAT_FROM_STORE, STAT_REFUSED, STAT_FAILED
	};

	buf_printf(b, "<h2>Answers</h2><table><tr><th>outcome<th class=n>last minute"
		      "<th class=n>since start\n");
	for (int o = 0; o < METRICS_OUTCOMES; o++)
		buf_printf(b, "<tr><td>%s<td class=n>%ld<td class=n>%ld\n",
			   metrics_outcome_name((enum metrics_outcome)o),
			   f->minute.outcomes[o], f->counters[since[o]]);
	buf_printf(b, "</table>\n");
}

static void html_making(struct buf *b, const struct figures *f)
{
	buf_printf(b, "<h2>Being made now</h2><table><tr><th>file<th class=n>for\n");
	for (size_t i = 0; i < f->n_making; i++) {
		buf_printf(b, "<tr><td class=p>");
		html_str(b, f->making[i].name);
		buf_printf(b, "<td class=n>%.1f s\n", f->making[i].seconds);
	}
	if (f->making_more > 0)
		buf_printf(b, "<tr><td class=none>and %ld more<td>\n", f->making_more);
	if (f->n_making == 0 && f->making_more == 0)
		buf_printf(b, "<tr><td class=none colspan=2>nothing\n");
	buf_printf(b, "</table>\n");
}

static void html_errors(struct buf *b, const struct figures *f)
{
	char when[32];

	buf_printf(b, "<h2>Last errors</h2><table><tr><th>time (UTC)<th>status"
		      "<th>path<th>message\n");
	for (size_t i = 0; i < f->n_errors; i++) {
		utc(f->errors[i].when, when);
		buf_printf(b, "<tr><td>%s<td%s>%d<td class=p>", when,
			   f->errors[i].status >= 500 ? " class=bad" : "",
			   f->errors[i].status);
		html_str(b, f->errors[i].path);
		buf_printf(b, "<td>");
		html_str(b, f->errors[i].msg);
		buf_printf(b, "\n");
	}
	if (f->n_errors == 0)
		buf_printf(b, "<tr><td class=none colspan=4>none since start\n");
	buf_printf(b, "</table>\n");
}

static void html_stages(struct buf *b)
{
	buf_printf(b, "<h2>Where the time goes, since start</h2><table><tr><th>stage"
		      "<th class=n>times<th class=n>mean<th class=n>total\n");
	for (int s = 0; s < METRICS_STAGES; s++) {
		struct metrics_stage_total t;

		metrics_stage_total((enum metrics_stage)s, &t);
		buf_printf(b, "<tr><td>%s<td class=n>%lu<td class=n>", metrics_stage_name(s),
			   t.count);
		if (t.count > 0)
			buf_printf(b, "%.1f ms<td class=n>%.1f s\n",
				   t.seconds * 1e3 / (double)t.count, t.seconds);
		else
			buf_printf(b, "&ndash;<td class=n>&ndash;\n");
	}
	buf_printf(b, "</table>\n");
}

static void html_totals(struct buf *b, const struct figures *f)
{
	buf_printf(b, "<h2>Since start</h2><table>");
	buf_printf(b, "<tr><th>requests<td class=n>%ld\n", f->counters[STAT_REQUESTS]);
	buf_printf(b, "<tr><th>originals downloaded<td class=n>%ld\n",
		   f->counters[STAT_DOWNLOADED]);
	buf_printf(b, "<tr><th>originals unavailable<td class=n>%ld\n",
		   f->counters[STAT_UNAVAILABLE]);
	buf_printf(b, "<tr><th>images being made now<td class=n>%ld\n", f->processing);
	buf_printf(b, "<tr><th>originals being downloaded now<td class=n>%ld\n",
		   f->downloading);
	buf_printf(b, "<tr><th>jobs queued<td class=n>%ld\n<tr><th>jobs in progress"
		      "<td class=n>%ld\n<tr><th>dead jobs<td class=n%s>%ld\n",
		   f->queued, f->in_progress, f->dead > 0 ? " bad" : "", f->dead);
	if (f->budget >= 0)
		buf_printf(b, "<tr><th>memory budget in use<td class=n>%.1f MiB\n",
			   f->budget / 1048576.0);
	buf_printf(b, "</table>\n");
}

static void status_html(struct buf *b, const struct figures *f)
{
	long up = (long)f->uptime;

	buf_printf(b, "%s<meta http-equiv=refresh content=%d>", html_head, REFRESH);
	buf_printf(b, "<h1>image-server %s</h1><p class=sub>up ", IMGSRV_VERSION);
	if (up >= 86400)
		buf_printf(b, "%ld d %ld h", up / 86400, up % 86400 / 3600);
	else if (up >= 3600)
		buf_printf(b, "%ld h %ld min", up / 3600, up % 3600 / 60);
	else
		buf_printf(b, "%ld min %ld s", up / 60, up % 60);
	buf_printf(b, " &middot; %ld requests since start &middot; refreshes every %d s"
		      " &middot; <a href=\"status\">JSON</a> &middot; "
		      "<a href=\"metrics\">metrics</a>\n",
		   f->counters[STAT_REQUESTS], REFRESH);
	html_tiles(b, f);
	html_outcomes(b, f);
	html_making(b, f);
	html_errors(b, f);
	html_stages(b);
	html_totals(b, f);
}

void pages_status(FCGX_Request *req, struct output_env *env,
		  struct output_worker *w, const char *query, int head)
{
	struct figures f;
	struct buf b;

	read_figures(env, w, &f);
	buf_init(&b);
	if (strstr(query, "format=html") != NULL) {
		status_html(&b, &f);
		respond_page(req, 200, "text/html; charset=utf-8", b.data, b.len, head);
	} else {
		status_json(&b, &f);
		respond_page(req, 200, "application/json", b.data, b.len, head);
	}
	buf_release(&b);
}

/* # HELP and # TYPE of one family. */
static void family(struct buf *b, const char *name, const char *type,
		   const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void pages_metrics(FCGX_Request *req, struct output_env *env,
		   struct output_worker *w, int head)
{
	struct figures f;
	struct buf b;
	char name[64];

	read_figures(env, w, &f);
	buf_init(&b);
	family(&b, "image_server_uptime_seconds", "gauge", "Seconds since the process started.");
	buf_printf(&b, "image_server_uptime_seconds %.0f\n", f.uptime);
	family(&b, "image_server_processing", "gauge",
	       "Images being made now, for requests and queue jobs.");
	buf_printf(&b, "image_server_processing %ld\n", f.processing);
	family(&b, "image_server_downloading", "gauge", "Originals being fetched now.");
	buf_printf(&b, "image_server_downloading %ld\n", f.downloading);
	for (int i = 0; i < STAT_COUNTERS; i++) {
		snprintf(name, sizeof(name), "image_server_%s_total", counter_names[i]);
		family(&b, name, "counter", counter_help[i]);
		buf_printf(&b, "%s %ld\n", name, f.counters[i]);
	}
	family(&b, "image_server_redis_up", "gauge",
	       "1 when Redis answered the last time it was asked, else 0.");
	buf_printf(&b, "image_server_redis_up %d\n", strcmp(f.redis, "up") == 0);
	family(&b, "image_server_queue_jobs", "gauge",
	       "Jobs in the queue by state, as Redis answered now.");
	if (f.queued >= 0)
		buf_printf(&b, "image_server_queue_jobs{state=\"waiting\"} %ld\n"
			       "image_server_queue_jobs{state=\"in_progress\"} %ld\n"
			       "image_server_queue_jobs{state=\"dead\"} %ld\n",
			   f.queued, f.in_progress, f.dead);
	family(&b, "image_server_making", "gauge", "Files being made now (outputs and originals).");
	buf_printf(&b, "image_server_making %ld\n", (long)f.n_making + f.making_more);
	family(&b, "image_server_info", "gauge", "The responder's version, as a label.");
	buf_printf(&b, "image_server_info{version=\"%s\"} 1\n", IMGSRV_VERSION);
	metrics_prometheus(&b);
	respond_page(req, 200, "text/plain; version=0.0.4", b.data, b.len, head);
	buf_release(&b);
}
