/* args.c - images(1)'s own flags, the namespace aliases, the id range. */
#include "args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define M_IMAGES 1
#define M_FETCH 2
#define M_PURGE 4
#define M_BOTH (M_IMAGES | M_FETCH)
#define M_ALL (M_IMAGES | M_FETCH | M_PURGE)

enum flag_id {
	F_MODEL, F_FIELD, F_NAMESPACE, F_ALIASES, F_OUTPUTS, F_START, F_END,
	F_CONCURRENCY, F_PROGRESS, F_RETRIES, F_RETRY_MS, F_YES, F_COUNT
};

struct flag {
	const char *name;
	int modes;
	const char *arg;        /* NULL: a flag without a value */
	const char *help;       /* for images */
	const char *help_fetch; /* for images fetch, if it differs */
};

static const struct flag flags[F_COUNT] = {
	[F_MODEL] = { "model", M_ALL, "NAME", "model of the ids: [a-z0-9_]{1,32}", NULL },
	[F_FIELD] = { "field", M_ALL, "NAME", "field of the ids: [a-z0-9_]{1,32}", NULL },
	[F_NAMESPACE] = { "namespace", M_ALL, "NS",
		"model and field by an alias of -aliases, or written MODEL/FIELD", NULL },
	[F_ALIASES] = { "aliases", M_ALL, "LIST",
		"namespace aliases NS=MODEL/FIELD,... (e.g. p=product/image,u=user/avatar)", NULL },
	[F_OUTPUTS] = { "outputs", M_IMAGES, "LIST",
		"outputs to make for each id, {spec}.{format},... (e.g. x300.jpg,x300.webp)", NULL },
	[F_START] = { "start", M_ALL, "ID", "first id of the range (decimal)", NULL },
	[F_END] = { "end", M_ALL, "ID", "last id of the range (decimal, included)", NULL },
	[F_CONCURRENCY] = { "concurrency", M_BOTH, "N",
		"outputs made at once, 1-256 (default: the number of cores)",
		"downloads at once on one connection pool, 1-1000 (default 100)" },
	[F_PROGRESS] = { "progress", M_ALL, "SECONDS",
		"seconds between progress lines off a terminal; 0: none "
		"(default 5)", NULL },
	[F_RETRIES] = { "retries", M_FETCH, "N",
		"retries after a 5xx, a connection error or a timeout, 0-20 "
		"(default 3)", NULL },
	[F_RETRY_MS] = { "retry_ms", M_FETCH, "MS",
		"wait before the first retry, doubled for each next one "
		"(default 500)", NULL },
	[F_YES] = { "yes", M_PURGE, NULL,
		"purge without asking: needed when standard error is a terminal",
		NULL },
};

/* The flag written in arg ("-model", "--model=x"), or -1 if not ours. */
static int find_flag(const char *arg, const char **value)
{
	const char *name = arg + (arg[1] == '-' ? 2 : 1), *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);

	*value = eq ? eq + 1 : NULL;
	for (int i = 0; i < F_COUNT; i++)
		if (strlen(flags[i].name) == len &&
		    strncmp(flags[i].name, name, len) == 0)
			return i;
	return -1;
}

static int is_help(const char *arg)
{
	const char *name = arg + (arg[1] == '-' ? 2 : 1);

	return strcmp(name, "h") == 0 || strcmp(name, "help") == 0;
}

/* 1 if the responder option in arg takes the next argument as its value. */
static int takes_value(const char *arg)
{
	const char *name = arg + (arg[1] == '-' ? 2 : 1);

	if (strchr(name, '=') != NULL)
		return 0;
	/* An unknown name takes nothing with it: conf_load() refuses it, and
	 * the next flag stays ours. */
	return conf_takes_value(name) == 1;
}

static int parse_int(const char *name, const char *s, long lo, long hi,
		     long *out, struct err *e)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
		return err_set(e, ERR_BAD_REQUEST,
			       "-%s: expected a number from %ld to %ld, got '%s'",
			       name, lo, hi, s);
	*out = v;
	return 0;
}

static int parse_id(const char *name, const char *s, unsigned long long *out,
		    struct err *e)
{
	size_t len = strlen(s);

	if (len == 0 || len > ARGS_ID_DIGITS || strspn(s, "0123456789") != len)
		return err_set(e, ERR_BAD_REQUEST,
			       "-%s: expected a decimal id of 1 to %d digits, "
			       "got '%s'", name, ARGS_ID_DIGITS, s);
	*out = strtoull(s, NULL, 10);
	return 0;
}

/* Copies "model/field" in s into a's model and field, checking both. */
static int set_model_field(struct cli_args *a, const char *s, size_t len,
			   const char *what, struct err *e)
{
	const char *slash = memchr(s, '/', len);
	size_t mlen = slash ? (size_t)(slash - s) : 0;
	size_t flen = slash ? len - mlen - 1 : 0;

	if (slash == NULL || mlen > URL_NAME_MAX || flen > URL_NAME_MAX)
		goto bad;
	memcpy(a->model, s, mlen);
	a->model[mlen] = '\0';
	memcpy(a->field, slash + 1, flen);
	a->field[flen] = '\0';
	if (url_valid_name(a->model) == 0 && url_valid_name(a->field) == 0)
		return 0;
bad:
	return err_set(e, ERR_BAD_REQUEST,
		       "%s: expected MODEL/FIELD with both [a-z0-9_]{1,32}, "
		       "got '%.*s'", what, (int)len, s);
}

/*
 * Looks namespace ns up in the alias list ("p=product/image,u=user/avatar")
 * and sets a's model and field from its entry.  Returns 1 if found, 0 if
 * not (ns NULL: just checks the list), -1 for a malformed list.
 */
static int find_alias(struct cli_args *a, const char *ns, const char *aliases,
		      struct err *e)
{
	const char *p = aliases;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		char key[URL_NAME_MAX + 1];
		size_t klen = eq ? (size_t)(eq - p) : 0;
		struct cli_args scratch;

		if (eq == NULL || klen == 0 || klen > URL_NAME_MAX)
			return err_set(e, ERR_BAD_REQUEST,
				       "-aliases: expected NS=MODEL/FIELD, got "
				       "'%.*s'", (int)len, p);
		memcpy(key, p, klen);
		key[klen] = '\0';
		if (url_valid_name(key) < 0)
			return err_set(e, ERR_BAD_REQUEST,
				       "-aliases: bad alias name '%s' "
				       "([a-z0-9_]{1,32})", key);
		if (ns != NULL && strcmp(key, ns) == 0)
			return set_model_field(a, eq + 1, len - klen - 1,
					       "-aliases", e) < 0 ? -1 : 1;
		if (set_model_field(&scratch, eq + 1, len - klen - 1,
				    "-aliases", e) < 0)
			return -1;
		p += len + (p[len] == ',');
	}
	return 0;
}

/* Model and field from -namespace: an alias, or MODEL/FIELD itself. */
static int resolve_namespace(struct cli_args *a, const char *ns,
			     const char *aliases, struct err *e)
{
	int rc = find_alias(a, ns, aliases ? aliases : "", e);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (strchr(ns, '/') != NULL)
		return set_model_field(a, ns, strlen(ns), "-namespace", e);
	return err_set(e, ERR_BAD_REQUEST,
		       "-namespace: unknown namespace '%s' (give -aliases "
		       "%s=MODEL/FIELD, or -model and -field)", ns, ns);
}

/* Parses the -outputs list into a->outputs. */
static int parse_outputs(struct cli_args *a, const char *list, struct err *e)
{
	size_t n = 1;
	const char *p = list;

	for (const char *c = list; *c; c++)
		n += *c == ',';
	a->outputs = calloc(n, sizeof(*a->outputs));
	if (a->outputs == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	for (;;) {
		size_t len = strcspn(p, ",");
		struct url_request *r = &a->outputs[a->noutputs];
		char file[URL_FILE_MAX + 2];
		struct err why;

		if (len == 0)
			return err_set(e, ERR_BAD_REQUEST,
				       "-outputs: empty entry in '%s'", list);
		snprintf(file, sizeof(file), "%.*s", (int)len, p);
		if (len > URL_FILE_MAX || url_parse_file(file, r, &why) < 0)
			return err_set(e, ERR_BAD_REQUEST, "-outputs: '%.*s': %s",
				       (int)len, p,
				       len > URL_FILE_MAX ? "output name is too long"
							  : why.msg);
		for (int i = 0; i < a->noutputs; i++)
			if (strcmp(a->outputs[i].file, r->file) == 0)
				return err_set(e, ERR_BAD_REQUEST,
					       "-outputs: '%s' is listed twice",
					       r->file);
		a->noutputs++;
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}

/* The values of the tool's flags, as given. */
struct given {
	const char *v[F_COUNT];
};

/* Splits argv into g (ours) and a->conf_argv (the rest, in order). */
static int split(struct cli_args *a, struct given *g, int argc, char **argv,
		 struct err *e)
{
	int mode = a->sign ? 0 : a->fetch ? M_FETCH : a->purge ? M_PURGE : M_IMAGES;

	a->conf_argv = calloc((size_t)argc + 1, sizeof(*a->conf_argv));
	a->paths = calloc((size_t)argc + 1, sizeof(*a->paths));
	if (a->conf_argv == NULL || a->paths == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	a->conf_argv[a->conf_argc++] = argv[0];
	for (int i = 1 + (a->fetch || a->sign || a->purge); i < argc; i++) {
		const char *arg = argv[i], *value;
		int f;

		if (a->sign && arg[0] == '/') {
			a->paths[a->npaths++] = argv[i];
			continue;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			/* conf_load() refuses it, naming it. */
			a->conf_argv[a->conf_argc++] = argv[i];
			continue;
		}
		if (is_help(arg)) {
			a->help = 1;
			return 0;
		}
		f = find_flag(arg, &value);
		if (f < 0) {
			a->conf_argv[a->conf_argc++] = argv[i];
			if (takes_value(arg) && i + 1 < argc)
				a->conf_argv[a->conf_argc++] = argv[++i];
			continue;
		}
		if (!(flags[f].modes & mode))
			return err_set(e, ERR_BAD_REQUEST,
				       "-%s is not a flag of %s", flags[f].name,
				       args_prog(a));
		if (flags[f].arg == NULL) {
			if (value != NULL)
				return err_set(e, ERR_BAD_REQUEST,
					       "-%s takes no value", flags[f].name);
			value = "1";
		} else if (value == NULL) {
			if (i + 1 >= argc)
				return err_set(e, ERR_BAD_REQUEST,
					       "-%s needs a value", flags[f].name);
			value = argv[++i];
		}
		g->v[f] = value;
	}
	return 0;
}

static int check_required(const struct cli_args *a, const struct given *g,
			  struct err *e)
{
	if (g->v[F_NAMESPACE] && (g->v[F_MODEL] || g->v[F_FIELD]))
		return err_set(e, ERR_BAD_REQUEST,
			       "give -namespace, or -model and -field, not both");
	if (a->purge && !g->v[F_NAMESPACE] && !g->v[F_MODEL] && !g->v[F_FIELD] &&
	    !g->v[F_START] && !g->v[F_END])
		return 0; /* MODEL/FIELD/ID lines on standard input */
	if (!g->v[F_NAMESPACE] && (!g->v[F_MODEL] || !g->v[F_FIELD]))
		return err_set(e, ERR_BAD_REQUEST,
			       "-model and -field (or -namespace) are required");
	if (a->purge && !g->v[F_START] && !g->v[F_END])
		return 0; /* the ids come on standard input */
	if (!g->v[F_START] || !g->v[F_END])
		return err_set(e, ERR_BAD_REQUEST, "-start and -end are required");
	if (!a->fetch && !a->purge && !g->v[F_OUTPUTS])
		return err_set(e, ERR_BAD_REQUEST,
			       "-outputs is required (e.g. -outputs x300.jpg)");
	return 0;
}

/* Model and field, from -model/-field or -namespace. */
static int set_names(struct cli_args *a, const struct given *g, struct err *e)
{
	if (g->v[F_NAMESPACE])
		return resolve_namespace(a, g->v[F_NAMESPACE], g->v[F_ALIASES], e);
	/* A malformed list is an error even when no -namespace uses it. */
	if (g->v[F_ALIASES] && find_alias(a, NULL, g->v[F_ALIASES], e) < 0)
		return -1;
	if (strlen(g->v[F_MODEL]) > URL_NAME_MAX ||
	    url_valid_name(g->v[F_MODEL]) < 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "-model: expected [a-z0-9_]{1,32}, got '%s'",
			       g->v[F_MODEL]);
	if (strlen(g->v[F_FIELD]) > URL_NAME_MAX ||
	    url_valid_name(g->v[F_FIELD]) < 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "-field: expected [a-z0-9_]{1,32}, got '%s'",
			       g->v[F_FIELD]);
	snprintf(a->model, sizeof(a->model), "%s", g->v[F_MODEL]);
	snprintf(a->field, sizeof(a->field), "%s", g->v[F_FIELD]);
	return 0;
}

static int set_numbers(struct cli_args *a, const struct given *g,
		       struct err *e)
{
	long v;

	if (g->v[F_START] == NULL) {
		a->from_stdin = 1;
	} else if (parse_id("start", g->v[F_START], &a->start, e) < 0 ||
		   parse_id("end", g->v[F_END], &a->end, e) < 0) {
		return -1;
	}
	if (a->end < a->start)
		return err_set(e, ERR_BAD_REQUEST,
			       "-end %llu is below -start %llu", a->end, a->start);
	if (g->v[F_CONCURRENCY]) {
		if (parse_int("concurrency", g->v[F_CONCURRENCY], 1,
			      a->fetch ? 1000 : 256, &v, e) < 0)
			return -1;
		a->concurrency = (int)v;
	}
	if (g->v[F_PROGRESS]) {
		if (parse_int("progress", g->v[F_PROGRESS], 0, 3600, &v, e) < 0)
			return -1;
		a->progress = (int)v;
	}
	if (g->v[F_RETRIES]) {
		if (parse_int("retries", g->v[F_RETRIES], 0, 20, &v, e) < 0)
			return -1;
		a->retries = (int)v;
	}
	if (g->v[F_RETRY_MS]) {
		if (parse_int("retry_ms", g->v[F_RETRY_MS], 1, 600000, &v, e) < 0)
			return -1;
		a->retry_ms = v;
	}
	return 0;
}

/* images sign: at least one path, each an output path as URLs write it
 * (a signature of another spelling would sign nothing). */
static int check_paths(const struct cli_args *a, struct err *e)
{
	if (a->npaths == 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "give the paths to sign, such as "
			       "/user/avatar/1/w500.jpg");
	for (int i = 0; i < a->npaths; i++) {
		struct url_request r;
		struct err why;

		if (url_parse(a->paths[i], &r, &why) < 0)
			return err_set(e, ERR_BAD_REQUEST, "'%s': %s",
				       a->paths[i], why.msg);
	}
	return 0;
}

int args_parse(struct cli_args *a, int argc, char **argv, struct err *e)
{
	struct given g = { { 0 } };
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	memset(a, 0, sizeof(*a));
	a->fetch = argc > 1 && strcmp(argv[1], "fetch") == 0;
	a->sign = argc > 1 && strcmp(argv[1], "sign") == 0;
	a->purge = argc > 1 && strcmp(argv[1], "purge") == 0;
	a->concurrency = a->fetch ? 100 : (int)(cores < 1 ? 1 : cores > 256 ? 256 : cores);
	a->progress = 5;
	a->retries = 3;
	a->retry_ms = 500;
	if (split(a, &g, argc, argv, e) < 0)
		return -1;
	if (a->help)
		return 0;
	if (a->sign)
		return check_paths(a, e);
	a->yes = g.v[F_YES] != NULL;
	if (check_required(a, &g, e) < 0)
		return -1;
	if (a->purge && !g.v[F_NAMESPACE] && !g.v[F_MODEL]) {
		a->from_stdin = a->full_names = 1;
		return set_numbers(a, &g, e);
	}
	if (set_names(a, &g, e) < 0 || set_numbers(a, &g, e) < 0)
		return -1;
	if (!a->fetch && !a->purge && parse_outputs(a, g.v[F_OUTPUTS], e) < 0)
		return -1;
	return 0;
}

void args_release(struct cli_args *a)
{
	free(a->outputs);
	free(a->conf_argv);
	free(a->paths);
	a->outputs = NULL;
	a->conf_argv = NULL;
	a->paths = NULL;
	a->noutputs = a->conf_argc = a->npaths = 0;
}

int args_check_outputs(const struct cli_args *a, const struct conf *c,
		       unsigned available, struct err *e)
{
	unsigned enabled = 0;

	(void)conf_format_mask(c->formats, &enabled, NULL);
	for (int i = 0; i < a->noutputs; i++) {
		const struct url_request *r = &a->outputs[i];

		if (!(enabled & available & (1u << r->format)))
			return err_set(e, ERR_FORMAT,
				       "-outputs: '%s': output format '%s' is "
				       "not enabled", r->file,
				       url_format_ext(r->format));
		if ((int)r->width > c->maximum_width)
			return err_set(e, ERR_TOO_LARGE,
				       "-outputs: '%s': width %u is over the "
				       "maximum of %d", r->file, r->width,
				       c->maximum_width);
		if ((int)r->height > c->maximum_height)
			return err_set(e, ERR_TOO_LARGE,
				       "-outputs: '%s': height %u is over the "
				       "maximum of %d", r->file, r->height,
				       c->maximum_height);
	}
	return 0;
}

const char *args_prog(const struct cli_args *a)
{
	return a->sign ? "images sign" : a->fetch ? "images fetch"
	       : a->purge ? "images purge" : "images";
}

void args_usage(FILE *f, const struct cli_args *a)
{
	int fetch = a->fetch, mode = fetch ? M_FETCH : a->purge ? M_PURGE : M_IMAGES;

	if (a->sign) {
		fprintf(f,
			"usage: images sign [image-server options] PATH...\n"
			"Prints each output PATH (/user/avatar/1/w500.jpg) with "
			"?sig=, its signature\nunder -signing_key, as a miss needs "
			"it.\n\nimage-server's ");
		conf_usage(f);
		return;
	}
	if (a->purge)
		fprintf(f,
			"usage: images purge -model NAME -field NAME | -namespace NS "
			"[-start ID -end ID] [-yes]\n"
			"                    [flags] [image-server options]\n"
			"Removes the originals and every output of ids start..end "
			"(without -start\nand -end: the ids on standard input, one a "
			"line; without -model and -field:\nMODEL/FIELD/ID lines) from "
			"the store and Redis, as DELETE does.\n\n");
	else if (fetch)
		fprintf(f,
			"usage: images fetch -model NAME -field NAME | -namespace NS "
			"-start ID -end ID\n"
			"                    [flags] [image-server options]\n"
			"Downloads the originals of ids start..end from -source into "
			"-store.\n\n");
	else
		fprintf(f,
			"usage: images -model NAME -field NAME | -namespace NS "
			"-start ID -end ID\n"
			"              -outputs LIST [flags] [image-server options]\n"
			"       images fetch ... (images fetch -h)\n"
			"       images sign ... PATH... (images sign -h)\n"
			"       images purge ... (images purge -h)\n"
			"Makes the outputs of ids start..end in the store, as "
			"image-server would.\n\n");
	fprintf(f, "flags:\n");
	for (int i = 0; i < F_COUNT; i++) {
		const struct flag *fl = &flags[i];
		char left[32];

		if (!(fl->modes & mode))
			continue;
		snprintf(left, sizeof(left), "-%s %s", fl->name,
			 fl->arg ? fl->arg : "");
		fprintf(f, "  %-20s %s\n", left,
			fetch && fl->help_fetch ? fl->help_fetch : fl->help);
	}
	fprintf(f, "  %-20s this list\n\n", "-h");
	fprintf(f, "image-server's ");
	conf_usage(f);
}
