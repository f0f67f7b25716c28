/*
 * args.h - the command line of images(1): its own flags, and the rest for
 * conf_load().
 *
 *   images [fetch] -model M -field F | -namespace NS [-aliases NS=M/F,...]
 *          -start N -end N [-outputs LIST] [-concurrency N] [-progress S]
 *          [-retries N] [-retry_ms MS] [responder options...]
 *   images sign [responder options...] PATH...
 *   images purge [-model M -field F | -namespace NS] [-start N -end N]
 *          [-yes] [-progress S] [responder options...]
 *
 * The tool's flags are taken out of argv; every other argument (the
 * responder's options, -config FILE among them) is kept, in order, in a
 * filtered argv that goes to conf_load() as is, so flags and the
 * configuration file mean what they mean to image-server(8).
 * Thread-safety: fill before threads start, then read-only.
 */
#ifndef IMAGES_ARGS_H
#define IMAGES_ARGS_H

#include <stdio.h>

#include "conf.h"
#include "err.h"
#include "url.h"

#define ARGS_ID_DIGITS 19 /* the largest id is 10^19 - 1 */

struct cli_args {
	int fetch; /* the fetch subcommand */
	int sign;  /* the sign subcommand */
	int purge; /* the purge subcommand */
	int yes;   /* purge: -yes */
	int from_stdin; /* purge: ids (or full names) on standard input */
	int full_names; /* purge: MODEL/FIELD/ID lines, no -model/-field */
	int help;  /* -h: print the usage, nothing else is checked */
	char model[URL_NAME_MAX + 1];
	char field[URL_NAME_MAX + 1];
	unsigned long long start, end; /* ids, inclusive */
	int concurrency;               /* workers, or transfers for fetch */
	int progress;                  /* seconds between plain lines; 0: none */
	int retries;                   /* fetch: retries after the first try */
	long retry_ms;                 /* fetch: the first back-off */
	struct url_request *outputs;   /* parsed -outputs (spec fields only) */
	int noutputs;
	int conf_argc;    /* argv[0], then every argument not ours */
	char **conf_argv;
	int npaths;       /* sign: the output paths to sign, as given */
	char **paths;
};

/*
 * Parses argv into *a (which it initialises).  Checks everything that
 * needs no configuration: the mode's required flags, the namespace and
 * aliases, model and field names (url_valid_name), the id range, each
 * -outputs entry (url_parse_file), and for sign each path (url_parse).  Returns 0, or -1 with ERR_BAD_REQUEST
 * and a message naming the bad flag or entry.  With -h anywhere it returns
 * 0 and sets a->help without further checks.  Release *a in both cases.
 */
int args_parse(struct cli_args *a, int argc, char **argv, struct err *e);

/* Frees what args_parse() allocated; *a may then be parsed again. */
void args_release(struct cli_args *a);

/*
 * Checks the outputs against the configuration as the responder checks a
 * URL: the format enabled by -formats and in available (a mask of
 * 1 << enum url_format that MagickCore can encode), sizes within
 * -maximum_width and -maximum_height.  Returns 0, or -1 (ERR_FORMAT or
 * ERR_TOO_LARGE) naming the entry.
 */
int args_check_outputs(const struct cli_args *a, const struct conf *c,
		       unsigned available, struct err *e);

/* The program's name for messages: "images", "images fetch" or "images
 * sign". */
const char *args_prog(const struct cli_args *a);

/* Writes the usage of a's mode to f: the tool's flags, then the
 * responder's options. */
void args_usage(FILE *f, const struct cli_args *a);

#endif
