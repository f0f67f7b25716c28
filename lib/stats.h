/*
 * stats.h - counters for the status page, and statsd events over UDP.
 *
 * One set of counters per process (the status page and /metrics read
 * them).  Events go to statsd as "{prefix}.{name}:1|c" and
 * "{prefix}.{name}:12.3|ms", one UDP datagram each, when a statsd address
 * is configured; statsd's graphite backend files them under
 * stats.{prefix}.{name}.  Sending never blocks and never fails a request.
 * Thread-safety: every function may be called from any thread;
 * stats_configure() may run at any time (a reload).
 */
#ifndef IMGSRV_STATS_H
#define IMGSRV_STATS_H

#include "err.h"

enum stats_counter {
	STAT_REQUESTS,      /* every request that reached the responder */
	STAT_MADE,          /* outputs made */
	STAT_FROM_STORE,    /* answered from the store */
	STAT_WAITED,        /* answered after waiting for another maker */
	STAT_REFUSED,       /* 4xx answers */
	STAT_FAILED,        /* 5xx answers */
	STAT_DOWNLOADED,    /* originals fetched from the source */
	STAT_UNAVAILABLE,   /* originals the source could not give */
	STAT_COUNTERS
};

enum stats_gauge {
	GAUGE_PROCESSING,   /* images being made now */
	GAUGE_DOWNLOADING,  /* originals being fetched now */
	STAT_GAUGES
};

/*
 * Sends events to hostport ("127.0.0.1:8125"; empty: stop sending) with
 * names under prefix.  Returns 0, or -1 with a message when the address
 * does not resolve (the previous setting then stays).
 */
int stats_configure(const char *hostport, const char *prefix, struct err *e);

/* Adds n to a counter; moves a gauge by delta. */
void stats_add(enum stats_counter c, long n);
void stats_gauge(enum stats_gauge g, long delta);

long stats_get(enum stats_counter c);
long stats_gauge_get(enum stats_gauge g);

/* Seconds since the counters started (the first call to any function). */
double stats_uptime(void);

/* A statsd counter event "name" (incremented by 1), and a timer in ms,
 * each sent at once in a datagram of its own. */
void stats_event(const char *name);
void stats_timing(const char *name, double ms);

/*
 * A timer in ms kept with the calling thread's others and sent with them
 * in one datagram (lines apart, as statsd reads them): by stats_flush(),
 * when the datagram would pass 1400 bytes, or at the first call a second
 * after the oldest was kept.  One sendto for a request's timers instead of
 * one each.  What a thread keeps when it ends is lost.
 */
void stats_timing_later(const char *name, double ms);

/* Sends the calling thread's kept timers now. */
void stats_flush(void);

#endif
