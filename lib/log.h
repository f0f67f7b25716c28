/*
 * log.h - one-line log messages to stderr.
 *
 * Each call writes one whole line ("2026-11-27T15:59:13Z info msg") to
 * stderr, or to syslog after log_use_syslog(), so lines from different
 * threads never interleave.  The level may change at any time (a reload).
 * Thread-safety: safe from any thread.
 */
#ifndef IMGSRV_LOG_H
#define IMGSRV_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);

/* Sends lines to syslog (facility daemon) instead of stderr, from now on. */
void log_use_syslog(void);
enum log_level log_get_level(void);

/* Parses "debug", "info", "warn" or "error"; returns 0 or -1. */
int log_level_parse(const char *name, enum log_level *level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
