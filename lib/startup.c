/* startup.c - cores, logging and statsd, as the process starts. */
#include "startup.h"

#include <string.h>
#include <unistd.h>

#include "stats.h"

int startup_magick_threads(const struct conf *c, int workers)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (c->magick_threads > 0)
		return c->magick_threads;
	return workers > 0 && cores > workers ? (int)(cores / workers) : 1;
}

void startup_logging(const struct conf *c, enum log_level dflt)
{
	static int syslog_on;
	enum log_level level = dflt;
	struct err e;

	if (strcmp(c->log, "syslog") == 0 && !syslog_on) {
		log_use_syslog();
		syslog_on = 1;
	}
	if (c->log_level[0] != '\0')
		(void)log_level_parse(c->log_level, &level);
	log_set_level(level);
	if (stats_configure(c->statsd, c->statsd_prefix, &e) < 0)
		log_error("%s; statsd events are not sent", e.msg);
}
