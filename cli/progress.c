/* progress.c - progress bar or plain progress lines, and the summary. */
#include "progress.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define BAR_EVERY_MS 200.0 /* redraws of the bar */
#define BAR_MAX 30 /* widest bar, between its brackets */
#define BAR_MIN 8  /* narrower than this: no bar, just the figures */

struct progress {
	const char *name;
	const char *made;
	long long total;
	int interval;  /* seconds between plain lines; 0: no display */
	int tty;       /* stderr is a terminal: draw the bar */
	int drawn;     /* a bar is on screen, not yet cleared */
	double start;  /* ms, monotonic */
	double last;   /* when it was last shown */
	pthread_mutex_t mu; /* one writer of stderr at a time */
};


struct progress *progress_new(const char *name, const char *made,
			      long long total, int interval)
{
	struct progress *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->name = name;
	p->made = made;
	p->total = total;
	p->interval = interval;
	p->tty = isatty(2);
	p->start = p->last = clock_now_ms();
	pthread_mutex_init(&p->mu, NULL);
	return p;
}

/* Wipes the bar off its line; with p->mu held. */
static void clear_bar(struct progress *p)
{
	if (!p->drawn)
		return;
	fputs("\r\033[K", stderr);
	p->drawn = 0;
}

void progress_free(struct progress *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	clear_bar(p);
	fflush(stderr);
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* "1:05" or "2:03:07" for a number of seconds. */
static void fmt_duration(double seconds, char *buf, size_t size)
{
	long s = seconds < 0 ? 0 : (long)(seconds + 0.5);

	if (s >= 3600)
		snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60,
			 s % 60);
	else
		snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

/* Ids a second so far, and the time left at that rate ("?" if unknown). */
static double rate_eta(const struct progress *p, const struct progress_counts *c,
		       char *eta, size_t size)
{
	double secs = (clock_now_ms() - p->start) / 1e3;
	double rate = secs > 0 ? (double)c->done / secs : 0;

	if (rate > 0)
		fmt_duration((double)(p->total - c->done) / rate, eta, size);
	else
		snprintf(eta, size, "?");
	return rate;
}

static int percent(const struct progress *p, long long done)
{
	return p->total > 0 ? (int)(done * 100 / p->total) : 100;
}

static int term_width(void)
{
	struct winsize ws;

	if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* Draws the bar over the current line; with p->mu held.  The bar takes
 * what the terminal's width leaves, and goes when too little is left. */
static void draw_bar(struct progress *p, const struct progress_counts *c)
{
	char line[512], rest[256], bar[BAR_MAX + 1], eta[32];
	double rate = rate_eta(p, c, eta, sizeof(eta));
	int width = term_width(), room;

	/* Whole words if they leave room for a bar, else short ones. */
	for (int terse = 0; terse < 2; terse++) {
		snprintf(rest, sizeof(rest),
			 terse ? "%3d%% %lld/%lld %.1f/s ETA %s %s %lld skip %lld "
				 "miss %lld fail %lld"
			       : "%3d%% %lld/%lld ids %.1f/s ETA %s  %s %lld "
				 "skipped %lld missing %lld failed %lld",
			 percent(p, c->done), c->done, p->total, rate, eta,
			 p->made, c->made, c->skipped, c->missing, c->failed);
		room = width - 1 - (int)strlen(p->name) - (int)strlen(rest) - 4;
		if (room >= BAR_MIN)
			break;
	}
	if (room > BAR_MAX)
		room = BAR_MAX;
	if (room >= BAR_MIN) {
		int fill = p->total > 0 ? (int)(c->done * room / p->total) : room;

		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(room - fill));
		bar[room] = '\0';
		snprintf(line, sizeof(line), "%s [%s] %s", p->name, bar, rest);
	} else {
		snprintf(line, sizeof(line), "%s %s", p->name, rest);
	}
	/* Never wrap: a wrapped line cannot be redrawn with "\r". */
	if (width > 1 && strlen(line) >= (size_t)width)
		line[width - 1] = '\0';
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	p->drawn = 1;
}

static void plain_line(struct progress *p, const struct progress_counts *c)
{
	char eta[32];
	double rate = rate_eta(p, c, eta, sizeof(eta));

	fprintf(stderr,
		"%s: %lld/%lld ids (%d%%), %.1f ids/s, ETA %s; %s %lld, skipped "
		"%lld, missing %lld, failed %lld\n",
		p->name, c->done, p->total, percent(p, c->done), rate, eta,
		p->made, c->made, c->skipped, c->missing, c->failed);
	fflush(stderr);
}

void progress_update(struct progress *p, const struct progress_counts *c)
{
	double now = clock_now_ms();

	if (p->interval == 0)
		return;
	if (now - p->last < (p->tty ? BAR_EVERY_MS : p->interval * 1e3))
		return;
	p->last = now;
	pthread_mutex_lock(&p->mu);
	if (p->tty)
		draw_bar(p, c);
	else
		plain_line(p, c);
	pthread_mutex_unlock(&p->mu);
}

void progress_note(struct progress *p, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&p->mu);
	clear_bar(p);
	/* The bar comes back at the next update. */
	fprintf(stderr, "%s: %s\n", p->name, msg);
	fflush(stderr);
	pthread_mutex_unlock(&p->mu);
}

void progress_summary(struct progress *p, const struct progress_counts *c,
		      int interrupted)
{
	double secs = (clock_now_ms() - p->start) / 1e3;

	pthread_mutex_lock(&p->mu);
	clear_bar(p);
	fprintf(stderr,
		"%s: %s: %s %lld, skipped %lld, missing %lld, failed %lld; %lld "
		"of %lld ids in %.1f s%s\n",
		p->name, interrupted ? "interrupted" : "done", p->made, c->made,
		c->skipped, c->missing, c->failed, c->done, p->total, secs,
		interrupted ? "; run it again to finish" : "");
	fflush(stderr);
	pthread_mutex_unlock(&p->mu);
}
