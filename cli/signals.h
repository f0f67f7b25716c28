/*
 * signals.h - Ctrl-C and SIGTERM for the tools: a clean stop, polled.
 *
 * signals_init() runs first in main(), before any thread starts (MagickCore,
 * the Redis renewer, libcurl's resolver): it blocks SIGINT and SIGTERM in
 * every thread to come, so that no worker is interrupted in the middle of
 * a write or a Redis call, and ignores SIGPIPE.  The thread that owns the
 * job then asks signals_wait() whether one arrived.  The first signal asks
 * for a clean stop; a second one ends the process at once (status
 * 128 + signal), for a user who will not wait for the items in hand.
 * Thread-safety: signals_wait() from one thread only.
 */
#ifndef IMAGES_SIGNALS_H
#define IMAGES_SIGNALS_H

/* Blocks SIGINT and SIGTERM (taking back their default action first, as a
 * background job starts with SIGINT ignored) and ignores SIGPIPE. */
void signals_init(void);

/*
 * Waits up to ms milliseconds (0: just looks) for SIGINT or SIGTERM.
 * Returns the signal number of the first one, else 0.  A second signal
 * writes one line naming prog and exits the process with 128 + signal.
 */
int signals_wait(long ms, const char *prog);

/* "SIGINT" or "SIGTERM", for messages. */
const char *signals_name(int sig);

#endif
