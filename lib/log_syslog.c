/*
 * log_syslog.c - the syslog side of log.c, apart because <syslog.h>
 * defines LOG_DEBUG and LOG_INFO as macros that clash with log.h's levels.
 */
#include <syslog.h>

void log_syslog_open(void);
void log_syslog_write(int level, const char *msg);

void log_syslog_open(void)
{
	openlog("image-server", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* level: 0 debug, 1 info, 2 warn, 3 error (enum log_level). */
void log_syslog_write(int level, const char *msg)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };

	syslog(prio[level & 3], "%s", msg);
}
