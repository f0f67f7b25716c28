/*
 * conf.h - the responder's and the tools' configuration: defaults, flags.
 *
 * Flags are written "-name value", "-name=value" or, for booleans, "-name"
 * alone ("--name" works too).  conf_set() takes one name and value, so the
 * same table serves the command line and a configuration file.
 * Thread-safety: fill before threads start, then read-only.
 */
#ifndef IMGSRV_CONF_H
#define IMGSRV_CONF_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"

struct conf {
	/* serving */
	char env[16];          /* "development" or "production" */
	char socket[256];      /* PATH or HOST:PORT; empty: fd 0 */
	int threads;           /* request threads */
	int magick_threads;    /* OpenMP threads per image; 0: derived */
	int drain_seconds;     /* longest wait for requests on shutdown */
	char log_level[16];

	/* store and source */
	char store[1024];      /* store root directory */
	char source[1024];     /* URL template: {model} {field} {id} */
	int connect_timeout;   /* seconds */
	int source_timeout;    /* seconds, whole transfer */
	int max_redirects;

	/* outputs */
	int default_quality;
	int maximum_width;
	int maximum_height;
	int allow_upscale;
	char background[64];   /* colour that transparency is flattened onto */
	char formats[128];     /* enabled output formats, comma-separated */

	/* limits on originals */
	int64_t max_pixels;
	int64_t max_source_bytes;
	int max_side;
	int max_frames;
	int image_timeout;     /* seconds for one decode + resize + encode */

	/* Redis */
	char redis[256];       /* HOST:PORT or unix:PATH; empty: no Redis */
	char redis_password[128];
	int redis_db;
	char redis_prefix[64];
	int redis_timeout_ms;
	int lock_ttl_ms;
	int wait_timeout;      /* seconds a request waits for another maker */
};

/* Fills *c with the defaults. */
void conf_defaults(struct conf *c);

/*
 * Sets option name (without dashes) to value; value is NULL for a boolean
 * given alone.  Returns 0, or -1 with ERR_BAD_REQUEST and a message naming
 * the option for an unknown name or a bad value (*c then unaltered for
 * that option).
 */
int conf_set(struct conf *c, const char *name, const char *value,
	     struct err *e);

/*
 * Applies argv[1..argc-1].  Returns 0, 1 if help was asked for (-h), or -1
 * with an error naming the bad argument.
 */
int conf_parse_args(struct conf *c, int argc, char **argv, struct err *e);

/* Checks values that depend on each other; returns 0 or -1. */
int conf_check(const struct conf *c, struct err *e);

/* Writes the option list with defaults and help to f. */
void conf_usage(FILE *f);

#endif
