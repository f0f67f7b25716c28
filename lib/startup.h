/*
 * startup.h - what the responder and the command-line tools do alike as
 * they start (and, for logging and statsd, on a reload): share the cores
 * out as OpenMP threads per image, set up logging and statsd from the
 * configuration.
 * Thread-safety: startup_magick_threads() and the first startup_logging()
 * before threads start; startup_logging() again from one thread (a
 * reload).
 */
#ifndef IMGSRV_STARTUP_H
#define IMGSRV_STARTUP_H

#include "conf.h"
#include "log.h"

/*
 * The OpenMP threads each image may use: -magick_threads, or when that is
 * 0 the cores shared out among workers (the threads making images at
 * once), at least 1.
 */
int startup_magick_threads(const struct conf *c, int workers);

/*
 * Applies -log (syslog, from the first call on), -log_level (dflt when
 * empty), -statsd and -statsd_prefix.  A statsd address that does not
 * resolve is logged; events are then not sent.
 */
void startup_logging(const struct conf *c, enum log_level dflt);

#endif
