/* handler.c - route a request, get the output, write the response. */
#include "handler.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "stats.h"
#include "post.h"
#include "queue.h"
#include "status.h"
#include "version.h"

/* Outputs never change once made: let every cache keep them for a year. */
#define CACHE_FOREVER "public, max-age=31536000, immutable"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *param(FCGX_Request *req, const char *name)
{
	const char *v = FCGX_GetParam(name, req->envp);
	return v ? v : "";
}

/* Copies the request path without its query string into buf. */
static void request_path(FCGX_Request *req, char *buf, size_t size)
{
	const char *uri = param(req, "REQUEST_URI");
	size_t len;

	if (*uri == '\0')
		uri = param(req, "DOCUMENT_URI");
	len = strcspn(uri, "?");
	if (len >= size)
		len = size - 1; /* url_parse refuses it as too long */
	memcpy(buf, uri, len);
	buf[len] = '\0';
}

/* A copy of s safe to log: no control characters to forge log lines. */
static void log_safe(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		buf[i] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	buf[i] = '\0';
}

/*
 * Headers are formatted with snprintf and written with FCGX_PutStr:
 * libfcgi's own printf knows no %zu and would send garbage.
 */
void handler_put_headers(FCGX_Request *req, const char *fmt, ...)
{
	char head[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	if (n > 0)
		FCGX_PutStr(head, n < (int)sizeof(head) ? n : (int)sizeof(head) - 1,
			    req->out);
}

static void respond_error(const struct conf *c, FCGX_Request *req,
			  const struct err *e, int head)
{
	struct http_status st = status_for(e->code);
	const char *msg = e->msg;

	/* In production the details of our own failures (paths, errno) go to
	 * the log, not to strangers. */
	if (strcmp(c->env, "production") == 0) {
		if (e->code == ERR_INTERNAL)
			msg = "internal error";
		else if (e->code == ERR_STORAGE_FULL)
			msg = "the store is full";
	}
	handler_put_headers(req,
		    "Status: %d %s\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Cache-Control: no-store\r\n"
		    "Content-Length: %zu\r\n"
		    "%s%s\r\n",
		    st.code, st.reason, strlen(msg) + 1,
		    e->code == ERR_METHOD ? "Allow: GET, HEAD, POST\r\n" : "",
		    e->code == ERR_BUSY ? "Retry-After: 5\r\n" : "");
	if (!head) {
		FCGX_PutS(msg, req->out);
		FCGX_PutS("\n", req->out);
	}
}

static void respond_image(FCGX_Request *req, const struct url_request *r,
			  const struct buf *b, enum output_how how, int head)
{
	handler_put_headers(req,
		    "Status: 200 OK\r\n"
		    "Content-Type: %s\r\n"
		    "Content-Length: %zu\r\n"
		    "Cache-Control: " CACHE_FOREVER "\r\n"
		    "X-Image-Server: %s\r\n\r\n",
		    url_format_mime(r->format), b->len, output_how_name(how));
	if (!head)
		FCGX_PutStr((const char *)b->data, (int)b->len, req->out);
}

/* Checks what the configuration allows of a parsed request. */
int handler_check_allowed(const struct server *s, const struct conf *c,
			  const struct url_request *r, struct err *e)
{
	unsigned enabled = 0;

	(void)conf_format_mask(c->formats, &enabled, NULL);
	if (!(enabled & s->formats_available & (1u << r->format)))
		return err_set(e, ERR_FORMAT, "output format '%s' is not enabled",
			       url_format_ext(r->format));
	if ((int)r->width > c->maximum_width)
		return err_set(e, ERR_TOO_LARGE, "width %u is over the maximum of %d",
			       r->width, c->maximum_width);
	if ((int)r->height > c->maximum_height)
		return err_set(e, ERR_TOO_LARGE,
			       "height %u is over the maximum of %d", r->height,
			       c->maximum_height);
	return 0;
}

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

static void read_figures(struct handler *h, struct figures *f)
{
	const struct server *s = h->server;

	f->uptime = stats_uptime();
	f->processing = stats_gauge_get(GAUGE_PROCESSING);
	f->downloading = stats_gauge_get(GAUGE_DOWNLOADING);
	for (int i = 0; i < STAT_COUNTERS; i++)
		f->counters[i] = stats_get((enum stats_counter)i);
	f->redis = output_env_redis_state(s->env);
	f->queued = f->in_progress = f->dead = -1;
	if (strcmp(f->redis, "off") != 0)
		queue_counts(output_worker_redis(h->worker), &f->queued,
			     &f->in_progress, &f->dead);
}

static void respond_text(FCGX_Request *req, const char *type,
			 const struct buf *b, int head)
{
	handler_put_headers(req,
		    "Status: 200 OK\r\n"
		    "Content-Type: %s\r\n"
		    "Content-Length: %zu\r\n"
		    "Cache-Control: no-store\r\n\r\n",
		    type, b->len);
	if (!head)
		FCGX_PutStr((const char *)b->data, (int)b->len, req->out);
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

static void status_page(struct handler *h, FCGX_Request *req, int head)
{
	const char *query = param(req, "QUERY_STRING");
	struct figures f;
	struct buf b;

	read_figures(h, &f);
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
		respond_text(req, "text/html; charset=utf-8", &b, head);
	} else {
		bprintf(&b, "{\"version\":\"%s\",\"uptime_seconds\":%.0f,"
			    "\"processing\":%ld,\"downloading\":%ld",
			IMGSRV_VERSION, f.uptime, f.processing, f.downloading);
		for (int i = 0; i < STAT_COUNTERS; i++)
			bprintf(&b, ",\"%s\":%ld", counter_names[i], f.counters[i]);
		bprintf(&b, ",\"redis\":\"%s\",\"queue\":{\"waiting\":%ld,"
			    "\"in_progress\":%ld,\"dead\":%ld}}\n",
			f.redis, f.queued, f.in_progress, f.dead);
		respond_text(req, "application/json", &b, head);
	}
	buf_release(&b);
}

static void metrics_page(struct handler *h, FCGX_Request *req, int head)
{
	struct figures f;
	struct buf b;

	read_figures(h, &f);
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
	respond_text(req, "text/plain; version=0.0.4", &b, head);
	buf_release(&b);
}

void handler_serve(struct handler *h, FCGX_Request *req)
{
	const struct conf *c = output_env_conf(h->server->env);
	const char *method = param(req, "REQUEST_METHOD");
	int head = strcmp(method, "HEAD") == 0;
	enum output_how how = OUTPUT_MADE;
	struct url_request r;
	struct err e;
	struct buf out;
	char path[600], shown[200];
	double start = now_ms();
	int status;

	err_clear(&e);
	buf_init(&out);
	request_path(req, path, sizeof(path));
	stats_add(STAT_REQUESTS, 1);
	if (strcmp(method, "POST") == 0) {
		if (post_serve(h, req, path, c, &e) > 0)
			return; /* answered and logged */
	} else if (!head && strcmp(method, "GET") != 0) {
		err_set(&e, ERR_METHOD,
			"method %s is not allowed: use GET, HEAD or POST", method);
	} else if (strcmp(path, "/status") == 0) {
		status_page(h, req, head);
		log_info("%s /status 200", method);
		return;
	} else if (strcmp(path, "/metrics") == 0) {
		metrics_page(h, req, head);
		log_info("%s /metrics 200", method);
		return;
	} else if (url_parse(path, &r, &e) == 0 &&
		   handler_check_allowed(h->server, c, &r, &e) == 0 &&
		   output_get(h->worker, &r, &out, &how, &e) < 0) {
		stats_event("image_request_fail");
	}

	if (e.code == ERR_NONE) {
		respond_image(req, &r, &out, how, head);
		status = 200;
		stats_add(how == OUTPUT_MADE	   ? STAT_MADE
			  : how == OUTPUT_WAITED ? STAT_WAITED
						 : STAT_FROM_STORE,
			  1);
	} else {
		respond_error(c, req, &e, head);
		status = status_for(e.code).code;
		stats_add(status >= 500 ? STAT_FAILED : STAT_REFUSED, 1);
	}
	log_safe(path, shown, sizeof(shown));
	if (e.code == ERR_NONE)
		log_info("%s %s %d %zu %.1fms %s", method, shown, status, out.len,
			 now_ms() - start, output_how_name(how));
	else
		log_msg(status >= 500 ? LOG_ERROR : LOG_INFO,
			"%s %s %d 0 %.1fms refused: %s", method, shown, status,
			now_ms() - start, e.msg);
	buf_release(&out);
}
