/*
 * conf.h - the responder's and the tools' configuration: defaults, flags.
 *
 * Flags are written "-name value", "-name=value" or, for booleans, "-name"
 * alone ("--name" works too).  A configuration file (-config FILE) holds
 * the same options, one per line: "name value" or "name = value", '#'
 * starts a comment line.  Precedence: defaults < file < flags.
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
	int64_t max_memory;    /* bytes images being made may hold; 0: any */
	int embed_srgb;        /* tag outputs with an sRGB profile */

	/* Redis */
	char redis[256];       /* HOST:PORT, unix:PATH or sentinel://...;
				* empty: no Redis */
	char redis_password[128];
	int redis_db;
	char redis_prefix[64];
	int redis_timeout_ms;
	int redis_wait_replicas; /* WAIT for this many after a POST's jobs */
	int lock_ttl_ms;
	int wait_timeout;      /* seconds a request waits for another maker */

	/* queue and POST */
	int queue_workers;
	int job_attempts;
	int64_t queue_max;
	char allowed_sources[1024];
	int allow_private_sources;
	int post_fetches;      /* POST source= fetches at once */

	/* who may write, and which misses may be made */
	char api_key[256];     /* empty: writes need no key */
	char sizes[2048];      /* specs a miss may make; empty: any */
	char signing_key[256]; /* key of ?sig=; empty: no signatures */
	char signing_key_old[256]; /* also accepted while keys rotate */

	/* operations */
	char statsd[256];      /* HOST:PORT; empty: off */
	char purge_hook[1024]; /* sh command told each purge's paths; empty: none */
	char statsd_prefix[64];
	char log[16];          /* "stderr" or "syslog" */
	char pid_file[1024];
	char config[1024];     /* the file read before the flags */
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

/*
 * Reads options from the file at path over *c.  Returns 0, or -1 with
 * "path:line: message"; *c may then be partly changed (use a copy).
 */
int conf_load_file(struct conf *c, const char *path, struct err *e);

/*
 * The whole load: defaults, then the -config file if the flags name one,
 * then the flags, then conf_check().  Returns 0, 1 for -h, or -1.
 */
int conf_load(struct conf *c, int argc, char **argv, struct err *e);

/*
 * Counts the options that differ between old and now and that only a
 * restart can apply (socket, threads, store, redis...); writes their names,
 * comma-separated, into names.
 */
int conf_restart_needed(const struct conf *old, const struct conf *now,
			char *names, size_t size);

/* Copies into now, from old, the options that only a restart can change. */
void conf_keep_restart_only(struct conf *now, const struct conf *old);

/* 1 if option name takes a value (-name VALUE), 0 for a boolean, -1 if
 * there is no such option. */
int conf_takes_value(const char *name);

/* Parses a -formats list into a bit mask of enum url_format (1 << f). */
int conf_format_mask(const char *list, unsigned *mask, struct err *e);

/* Writes the option list with defaults and help to f. */
void conf_usage(FILE *f);

#endif
