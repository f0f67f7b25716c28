/*
 * log.h - one-line log messages to stderr.
 *
 * Each call writes one whole line ("2026-11-27T15:59:13Z info msg"), so
 * lines from different threads never interleave.  The level is set once
 * before threads start (log_set_level) and read without locking after.
 * Thread-safety: safe from any thread.
 */
#ifndef IMGSRV_LOG_H
#define IMGSRV_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
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
