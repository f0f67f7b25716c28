/* conf.c - configuration defaults and flags, from one table. */
#include "conf.h"

#include "url.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

enum opt_type { OPT_STR, OPT_INT, OPT_INT64, OPT_BOOL };

struct opt {
	const char *name;
	enum opt_type type;
	size_t offset;
	size_t size;     /* OPT_STR: buffer size */
	int64_t min, max; /* OPT_INT, OPT_INT64 */
	const char *def;
	const char *arg;  /* the value in -h, as image-server(8) writes it */
	const char *help; /* -h; image-server(8) says the same, and more */
};

#define STR(f, a, d, h) { #f, OPT_STR, offsetof(struct conf, f), \
			  sizeof(((struct conf *)0)->f), 0, 0, d, a, h }
#define INT(f, a, lo, hi, d, h) { #f, OPT_INT, offsetof(struct conf, f), 0, \
				  lo, hi, d, a, h }
#define INT64(f, a, lo, hi, d, h) { #f, OPT_INT64, offsetof(struct conf, f), \
				    0, lo, hi, d, a, h }
#define BOOL(f, h) { #f, OPT_BOOL, offsetof(struct conf, f), 0, 0, 1, "false", \
		     "", h }

/* The one list of the options.  -h prints it, and tests/e2e/test_docs.sh
 * holds image-server(8), image-server.conf(5) and deploy/image-server.conf
 * to what -h prints: say a change there too. */
static const struct opt opts[] = {
	STR(env, "development|production", "development",
	    "development or production; production hides the details of 500 and 507 answers"),
	STR(socket, "PATH|HOST:PORT", "",
	    "listen on this unix socket or TCP address, or none for the socket on fd 0 from spawn-fcgi or systemd"),
	INT(threads, "N", 1, 256, "4", "request threads"),
	INT(magick_threads, "N", 0, 64, "0",
	    "OpenMP threads per image; 0: the cores divided by -threads, at least 1"),
	INT(drain_seconds, "SECONDS", 0, 3600, "20",
	    "longest wait for requests in flight after SIGTERM or SIGINT"),
	STR(log_level, "LEVEL", "",
	    "least level logged: debug, info, warn or error, or none for debug in development and info in production"),
	STR(store, "DIR", "/var/lib/image-server/store", "store root directory"),
	STR(source, "TEMPLATE", "",
	    "URL template of originals, with {model}, {field} and {id}: file://, http:// or https://"),
	INT(connect_timeout, "SECONDS", 1, 600, "5", "source connect timeout; 504 after it"),
	INT(source_timeout, "SECONDS", 1, 3600, "30",
	    "source transfer timeout, for the whole transfer; 504 after it"),
	INT(max_redirects, "N", 0, 20, "3", "redirects followed from an http(s) source"),
	INT(default_quality, "N", 1, 100, "75", "quality when the URL has no -qN"),
	INT(maximum_width, "PIXELS", 1, 99999, "2000",
	    "widest output a URL may ask for or make; 406 above it"),
	INT(maximum_height, "PIXELS", 1, 99999, "2000",
	    "highest output a URL may ask for or make; 406 above it"),
	BOOL(allow_upscale, "make outputs larger than the original"),
	STR(background, "COLOUR", "white",
	    "colour that transparency is flattened onto, any that MagickCore knows"),
	STR(formats, "LIST", "jpg,jpeg,png,gif,webp,avif",
	    "enabled output formats, separated by commas; jpg and jpeg are one"),
	INT64(max_pixels, "N", 1, INT64_C(1) << 40, "50000000",
	      "largest original, in pixels; 422 above it"),
	INT64(max_source_bytes, "BYTES", 1, INT64_C(1) << 40, "52428800",
	      "largest original, in bytes; 422 above it"),
	INT(max_side, "PIXELS", 1, 65535, "16384",
	    "widest or highest original, in pixels; 422 above it"),
	INT(max_frames, "N", 1, 100000, "1000",
	    "most frames of an animated original, of which only the first is used; 422 above it"),
	INT(image_timeout, "SECONDS", 1, 3600, "20",
	    "longest decode, resize and encode of one output; 422 after it"),
	INT64(max_memory, "BYTES", 0, INT64_C(1) << 40, "201326592",
	      "memory the images being made may hold at once; a make waits for room (503 after -wait_timeout); 0: no limit"),
	BOOL(embed_srgb, "tag outputs with a small sRGB profile (they are sRGB, untagged, without it)"),
	STR(redis, "HOST:PORT|unix:PATH|sentinel://HOST:PORT,.../NAME", "",
	    "Redis server for the registry, the locks and the queue, or the sentinels of master NAME, or none"),
	STR(redis_password, "PASSWORD", "",
	    "Redis password, sent with AUTH on every new connection"),
	INT(redis_db, "N", 0, 1000, "0",
	    "Redis database, selected on every new connection"),
	STR(redis_prefix, "PREFIX", "imgsrv:", "prefix of every Redis key"),
	INT(redis_timeout_ms, "MS", 10, 60000, "200",
	    "Redis connect and command timeout, in milliseconds"),
	INT(redis_wait_replicas, "N", 0, 16, "0",
	    "replicas that must hold a POST's queued jobs before the answer (Redis WAIT); 0: do not wait"),
	INT(lock_ttl_ms, "MS", 1000, 3600000, "30000",
	    "lifetime of a work lock, renewed while the work runs, in milliseconds"),
	INT(wait_timeout, "SECONDS", 1, 3600, "30",
	    "longest wait for an output another worker is making; 503 after it"),
	INT(queue_workers, "N", 0, 64, "1",
	    "threads that make the outputs queued by POST; they need -redis"),
	INT(job_attempts, "N", 1, 100, "3",
	    "attempts of a queued job before it goes to the dead-letter list"),
	INT64(queue_max, "N", 1, INT64_C(1) << 40, "100000",
	      "most jobs waiting; a POST that would queue more answers 503"),
	STR(allowed_sources, "LIST", "",
	    "hosts or URL prefixes that POST source= URLs may use even when their address is not public"),
	BOOL(allow_private_sources,
	     "let POST source= URLs reach any address: the source guard is off"),
	INT(post_fetches, "N", 1, 256, "2",
	    "POST source= fetches at once; one more waits up to 1 s, then 503"),
	STR(api_key, "KEY", "",
	    "when set, POST and DELETE need Authorization: Bearer KEY; 401 without it"),
	STR(sizes, "LIST", "",
	    "specs a miss may make, separated by commas (w500,x100-q50,full_size); another gets 403 unless signed; none: any"),
	STR(signing_key, "KEY", "",
	    "when set, a miss needs ?sig=, the hex HMAC-SHA256 of its path under KEY (or a spec in -sizes); 403 without it"),
	STR(signing_key_old, "KEY", "",
	    "a previous -signing_key, accepted too while signed URLs move to the new one"),
	STR(purge_hook, "COMMAND", "",
	    "run by /bin/sh after each purge, the URL paths removed on its standard input, one a line"),
	STR(statsd, "HOST:PORT", "",
	    "statsd server for counters and timers over UDP, or none"),
	STR(statsd_prefix, "PREFIX", "image_server", "prefix of every statsd name"),
	STR(log, "stderr|syslog", "stderr", "where log lines go: stderr or syslog"),
	STR(pid_file, "FILE", "",
	    "write the process id to FILE; a restarted copy writes its own"),
	STR(config, "FILE", "", "read options from FILE first; SIGHUP reads it again"),
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const struct opt *find(const char *name, size_t len)
{
	if (len == 1 && name[0] == 'e') /* the seed's short form of -env */
		name = "env", len = 3;
	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(opts[i].name) == len &&
		    strncmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static int set_opt(struct conf *c, const struct opt *o, const char *value,
		   struct err *e)
{
	char *base = (char *)c + o->offset, *end;
	long long v;

	switch (o->type) {
	case OPT_STR:
		if (value == NULL)
			return err_set(e, ERR_BAD_REQUEST, "-%s needs a value",
				       o->name);
		if (strlen(value) >= o->size)
			return err_set(e, ERR_BAD_REQUEST,
				       "-%s: value longer than %zu bytes", o->name,
				       o->size - 1);
		memcpy(base, value, strlen(value) + 1);
		return 0;
	case OPT_BOOL:
		if (value == NULL || strcmp(value, "true") == 0 ||
		    strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
			*(int *)base = 1;
		else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 ||
			 strcmp(value, "no") == 0)
			*(int *)base = 0;
		else
			return err_set(e, ERR_BAD_REQUEST,
				       "-%s: expected true or false, got '%s'",
				       o->name, value);
		return 0;
	case OPT_INT:
	case OPT_INT64:
		if (value == NULL || *value == '\0')
			return err_set(e, ERR_BAD_REQUEST, "-%s needs a number",
				       o->name);
		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno != 0 || *end != '\0' || v < o->min || v > o->max)
			return err_set(e, ERR_BAD_REQUEST,
				       "-%s: expected a number from %lld to %lld, got '%s'",
				       o->name, (long long)o->min, (long long)o->max,
				       value);
		if (o->type == OPT_INT)
			*(int *)base = (int)v;
		else
			*(int64_t *)base = (int64_t)v;
		return 0;
	}
	return err_set(e, ERR_INTERNAL, "bad option table");
}

void conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NOPTS; i++)
		(void)set_opt(c, &opts[i], opts[i].def, NULL);
}

int conf_takes_value(const char *name)
{
	const struct opt *o = find(name, strlen(name));

	return o == NULL ? -1 : o->type != OPT_BOOL;
}

int conf_set(struct conf *c, const char *name, const char *value,
	     struct err *e)
{
	const struct opt *o = find(name, strlen(name));

	if (o == NULL)
		return err_set(e, ERR_BAD_REQUEST, "unknown option -%s", name);
	return set_opt(c, o, value, e);
}

int conf_parse_args(struct conf *c, int argc, char **argv, struct err *e)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *name, *eq, *value = NULL;
		const struct opt *o;
		size_t len;

		if (arg[0] != '-' || arg[1] == '\0')
			return err_set(e, ERR_BAD_REQUEST,
				       "unexpected argument '%s'", arg);
		name = arg + (arg[1] == '-' ? 2 : 1);
		if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0)
			return 1;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		o = find(name, len);
		if (o == NULL)
			return err_set(e, ERR_BAD_REQUEST,
				       "unknown option '%s' (-h lists them)", arg);
		if (eq != NULL)
			value = eq + 1;
		else if (o->type != OPT_BOOL) {
			if (i + 1 >= argc)
				return err_set(e, ERR_BAD_REQUEST,
					       "-%s needs a value", o->name);
			value = argv[++i];
		}
		if (set_opt(c, o, value, e) < 0)
			return -1;
	}
	return 0;
}

/* Trims spaces and tabs from both ends of s, in place. */
static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
			   end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

int conf_load_file(struct conf *c, const char *path, struct err *e)
{
	char line[2048];
	FILE *f = fopen(path, "r");
	int lineno = 0, rc = 0;

	if (f == NULL)
		return err_set(e, ERR_BAD_REQUEST, "%s: %s", path, strerror(errno));
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		char *name = trim(line), *value, *sep;
		struct err one;

		lineno++;
		if (*name == '\0' || *name == '#')
			continue;
		sep = name + strcspn(name, " \t=");
		value = sep;
		if (*sep != '\0') {
			*sep = '\0';
			value = trim(sep + 1);
			if (*value == '=')
				value = trim(value + 1);
		}
		if (strcmp(name, "config") == 0) {
			rc = err_set(e, ERR_BAD_REQUEST, "%s:%d: config cannot nest",
				     path, lineno);
			break;
		}
		const struct opt *o = find(name, strlen(name));
		if (o == NULL) {
			rc = err_set(e, ERR_BAD_REQUEST, "%s:%d: unknown option '%s'",
				     path, lineno, name);
			break;
		}
		if (set_opt(c, o, *value || o->type != OPT_BOOL ? value : NULL,
			    &one) < 0)
			rc = err_set(e, ERR_BAD_REQUEST, "%s:%d: %s", path, lineno,
				     one.msg);
	}
	if (rc == 0 && ferror(f))
		rc = err_set(e, ERR_BAD_REQUEST, "%s: read error", path);
	fclose(f);
	return rc;
}

int conf_load(struct conf *c, int argc, char **argv, struct err *e)
{
	char config[sizeof(c->config)];
	int rc;

	conf_defaults(c);
	rc = conf_parse_args(c, argc, argv, e);
	if (rc != 0 || c->config[0] == '\0')
		return rc < 0 ? rc : (rc == 1 ? 1 : conf_check(c, e));
	/* Again, in order: defaults, the file, then the flags over it. */
	memcpy(config, c->config, sizeof(config));
	conf_defaults(c);
	if (conf_load_file(c, config, e) < 0 ||
	    conf_parse_args(c, argc, argv, e) < 0)
		return -1;
	return conf_check(c, e);
}

/* Options that only a restart can change: the process is built on them. */
static const char *const restart_only[] = {
	"socket", "threads", "magick_threads", "drain_seconds", "store", "redis",
	"redis_password", "redis_db", "redis_prefix", "redis_timeout_ms",
	"lock_ttl_ms", "log", "pid_file", "config", "queue_workers",
};

int conf_restart_needed(const struct conf *old, const struct conf *now,
			char *names, size_t size)
{
	int n = 0;

	names[0] = '\0';
	for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++) {
		const struct opt *o = find(restart_only[i], strlen(restart_only[i]));
		const char *a = (const char *)old + o->offset;
		const char *b = (const char *)now + o->offset;
		size_t len = o->type == OPT_STR ? o->size
			     : o->type == OPT_INT64 ? sizeof(int64_t)
						    : sizeof(int);
		if (memcmp(a, b, len) == 0)
			continue;
		if (o->type == OPT_STR && strcmp(a, b) == 0)
			continue;
		n++;
		if (strlen(names) + strlen(o->name) + 3 < size) {
			if (names[0])
				strcat(names, ", ");
			strcat(names, o->name);
		}
	}
	return n;
}

void conf_keep_restart_only(struct conf *now, const struct conf *old)
{
	for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++) {
		const struct opt *o = find(restart_only[i], strlen(restart_only[i]));
		size_t len = o->type == OPT_STR ? o->size
			     : o->type == OPT_INT64 ? sizeof(int64_t)
						    : sizeof(int);
		memcpy((char *)now + o->offset, (const char *)old + o->offset, len);
	}
}

/* Each -sizes entry is a spec as URLs write it: "w500", "x100-q50". */
static int check_sizes(const char *sizes, struct err *e)
{
	char list[sizeof(((struct conf *)0)->sizes)], *save = NULL;

	snprintf(list, sizeof(list), "%s", sizes);
	for (char *t = strtok_r(list, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		char file[URL_FILE_MAX + 8];
		struct url_request r;
		struct err why;

		if (strlen(t) + 4 > URL_FILE_MAX ||
		    snprintf(file, sizeof(file), "%s.jpg", t) < 0 ||
		    url_parse_file(file, &r, &why) < 0)
			return err_set(e, ERR_BAD_REQUEST,
				       "-sizes: '%s' is not a spec as URLs write "
				       "it (w500, x100-q50, 300x200, full_size)", t);
	}
	return 0;
}

#define KEY_MIN 16 /* characters: a shorter key is guessed */

/* A key goes into a header (the API key) or an HMAC: visible ASCII, long
 * enough not to be guessed. */
static int check_key(const char *name, const char *key, struct err *e)
{
	size_t len = strlen(key);

	if (len == 0)
		return 0;
	if (len < KEY_MIN)
		return err_set(e, ERR_BAD_REQUEST,
			       "-%s: at least %d characters", name, KEY_MIN);
	for (const char *p = key; *p; p++)
		if (*p <= ' ' || *p > '~')
			return err_set(e, ERR_BAD_REQUEST,
				       "-%s: visible ASCII characters only, "
				       "no spaces", name);
	return 0;
}

static int check_keys(const struct conf *c, struct err *e)
{
	if (check_key("api_key", c->api_key, e) < 0 ||
	    check_key("signing_key", c->signing_key, e) < 0 ||
	    check_key("signing_key_old", c->signing_key_old, e) < 0)
		return -1;
	if (c->signing_key_old[0] != '\0' && c->signing_key[0] == '\0')
		return err_set(e, ERR_BAD_REQUEST,
			       "-signing_key_old needs -signing_key");
	return 0;
}

int conf_check(const struct conf *c, struct err *e)
{
	if (strcmp(c->env, "development") != 0 &&
	    strcmp(c->env, "production") != 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "-e: expected development or production, got '%s'",
			       c->env);
	if (c->store[0] == '\0')
		return err_set(e, ERR_BAD_REQUEST, "-store must not be empty");
	if (c->source[0] != '\0' && strncmp(c->source, "file://", 7) != 0 &&
	    strncmp(c->source, "http://", 7) != 0 &&
	    strncmp(c->source, "https://", 8) != 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "-source must start with file://, http:// or https://");
	if (c->source[0] != '\0' && strstr(c->source, "{id}") == NULL)
		return err_set(e, ERR_BAD_REQUEST,
			       "-source must contain the {id} placeholder");
	if (strcmp(c->log, "stderr") != 0 && strcmp(c->log, "syslog") != 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "-log: expected stderr or syslog, got '%s'", c->log);
	if (c->log_level[0] != '\0' && strcmp(c->log_level, "debug") != 0 &&
	    strcmp(c->log_level, "info") != 0 && strcmp(c->log_level, "warn") != 0 &&
	    strcmp(c->log_level, "error") != 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "-log_level: expected debug, info, warn or error, "
			       "got '%s'", c->log_level);
	{
		char list[sizeof(c->allowed_sources)], *save = NULL;
		snprintf(list, sizeof(list), "%s", c->allowed_sources);
		for (char *t = strtok_r(list, ", ", &save); t != NULL;
		     t = strtok_r(NULL, ", ", &save)) {
			/* "https://cdn.example.com" would also match
			 * "https://cdn.example.com.evil.net/" and "...@10.0.0.1/". */
			char *scheme = strstr(t, "://");
			if (scheme != NULL && strchr(scheme + 3, '/') == NULL)
				return err_set(e, ERR_BAD_REQUEST,
					       "-allowed_sources: URL prefix '%s' must "
					       "end its host with '/'", t);
		}
	}
	if (c->statsd[0] != '\0' && strchr(c->statsd, ':') == NULL)
		return err_set(e, ERR_BAD_REQUEST, "-statsd: expected HOST:PORT");
	if (check_sizes(c->sizes, e) < 0 || check_keys(c, e) < 0)
		return -1;
	return conf_format_mask(c->formats, NULL, e) < 0 ? -1 : 0;
}

int conf_format_mask(const char *list, unsigned *mask, struct err *e)
{
	char copy[sizeof(((struct conf *)0)->formats)], *save = NULL;
	unsigned m = 0;

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *t = strtok_r(copy, ", ", &save); t != NULL;
	     t = strtok_r(NULL, ", ", &save)) {
		enum url_format f;
		if (url_format_from_ext(t, &f) < 0)
			return err_set(e, ERR_BAD_REQUEST,
				       "-formats: unknown format '%s'", t);
		m |= 1u << f;
	}
	if (mask != NULL)
		*mask = m;
	return 0;
}

static int restart_only_opt(const char *name)
{
	for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++)
		if (strcmp(restart_only[i], name) == 0)
			return 1;
	return 0;
}

#define USAGE_COL 28   /* where the help text starts */
#define USAGE_WIDTH 79

/* Writes text from column col (the cursor is there), wrapped at words. */
static void usage_wrap(FILE *f, const char *text, int col)
{
	int at = col;

	while (*text != '\0') {
		size_t len = strcspn(text, " ");

		if (at > col && at + 1 + (int)len > USAGE_WIDTH) {
			fprintf(f, "\n%*s", col, "");
			at = col;
		} else if (at > col) {
			fputc(' ', f);
			at++;
		}
		fprintf(f, "%.*s", (int)len, text);
		at += (int)len;
		text += len;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

/* One option: "  -name ARG", then its help, range, default and [restart]. */
static void usage_opt(FILE *f, const char *left, const char *help)
{
	int n = fprintf(f, "  %s", left);

	if (n + 2 > USAGE_COL)
		fprintf(f, "\n%*s", USAGE_COL, "");
	else
		fprintf(f, "%*s", USAGE_COL - n, "");
	usage_wrap(f, help, USAGE_COL);
}

void conf_usage(FILE *f)
{
	fprintf(f,
		"options, written -name value, --name value, -name=value or\n"
		"--name=value; a boolean is given alone for true, or as\n"
		"-name=true|false|yes|no|1|0. A later option overrides an earlier one,\n"
		"and every option overrides the -config file. [restart]: a reload\n"
		"(SIGHUP) keeps the running value. image-server(8) describes each\n"
		"option, image-server.conf(5) the file.\n");
	usage_opt(f, "-h, -help, --help", "print this list and exit");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		char left[64], help[256];
		int n;

		snprintf(left, sizeof(left), "-%s%s%s", o->name,
			 o->arg[0] ? " " : "", o->arg);
		n = snprintf(help, sizeof(help), "%s (", o->help);
		if (o->type == OPT_INT || o->type == OPT_INT64)
			n += snprintf(help + n, sizeof(help) - (size_t)n,
				      "%lld to %lld, ", (long long)o->min,
				      (long long)o->max);
		snprintf(help + n, sizeof(help) - (size_t)n, "default %s)%s",
			 o->def[0] ? o->def : "none",
			 restart_only_opt(o->name) ? " [restart]" : "");
		usage_opt(f, left, help);
	}
	usage_opt(f, "-e development|production", "same as -env");
}
