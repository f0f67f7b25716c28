/* log.c - one-line log messages to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <stdatomic.h>

/* In log_syslog.c, which may include <syslog.h>. */
void log_syslog_open(void);
void log_syslog_write(int level, const char *msg);

static atomic_int current = LOG_INFO;
static atomic_int to_syslog;
static const char *const names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
	atomic_store(&current, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&current);
}

void log_use_syslog(void)
{
	log_syslog_open();
	atomic_store(&to_syslog, 1);
}

int log_level_parse(const char *name, enum log_level *level)
{
	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
		if (strcmp(name, names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* Messages carry strangers' bytes (paths, query values): no control
 * character may forge a line of its own. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	struct tm tm;
	time_t now;
	va_list ap;
	int n;

	if ((int)level < atomic_load(&current))
		return;
	if (atomic_load(&to_syslog)) {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		sanitize(line);
		log_syslog_write((int)level, line);
		return;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	n += snprintf(line + n, sizeof(line) - (size_t)n, "%s ", names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	sanitize(line + n);
	/* One fputs of a whole line under stdio's lock: no interleaving. */
	flockfile(stderr);
	fputs(line, stderr);
	fputc('\n', stderr);
	funlockfile(stderr);
}
