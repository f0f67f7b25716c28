/*
 * images.c - images(1): make the outputs of a range of ids ahead of the
 * requests, or (images fetch) download their originals into the store,
 * or (images sign) print signed URLs, or (images purge) remove images.
 * Start-up and dispatch; the work is in range.c, fetch.c and
 * purge_ids.c.
 *
 * Exit status: 0 done; 1 something failed (missing originals are not
 * failures); 2 bad flags or a start-up failure; 128 + signal when
 * SIGINT or SIGTERM stopped it before the end.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "budget.h"
#include "conf.h"
#include "fetch.h"
#include "image.h"
#include "log.h"
#include "output.h"
#include "purge_ids.h"
#include "range.h"
#include "sign.h"
#include "signals.h"
#include "startup.h"

static int run_images(const char *argv0, const struct cli_args *a,
		      struct conf *c)
{
	struct output_env *env = NULL;
	struct err e;
	int rc = 2;

	/* As the responder: the cores shared out between the workers. */
	c->magick_threads = startup_magick_threads(c, a->concurrency);
	budget_set((size_t)c->max_memory);
	if (image_global_init(argv0, c->magick_threads, (unsigned)c->max_side,
			      &e) < 0) {
		fprintf(stderr, "images: %s\n", e.msg);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fprintf(stderr, "images: curl_global_init failed\n");
	else if (image_check_color(c->background, &e) < 0 ||
		 args_check_outputs(a, c, image_formats_available(), &e) < 0 ||
		 (env = output_env_new(c, &e)) == NULL)
		fprintf(stderr, "images: %s\n", e.msg);
	else
		rc = range_run(a, c, env);
	output_env_free(env);
	curl_global_cleanup();
	image_global_release();
	return rc;
}

static int run_fetch(const struct conf *c, const struct cli_args *a)
{
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "images fetch: curl_global_init failed\n");
		return 2;
	}
	rc = fetch_run(a, c);
	curl_global_cleanup();
	return rc;
}

static int run_purge(const struct conf *c, const struct cli_args *a)
{
	struct output_env *env;
	struct err e;
	int rc;

	if ((env = output_env_new(c, &e)) == NULL) {
		fprintf(stderr, "images purge: %s\n", e.msg);
		return 2;
	}
	rc = purge_run(a, env);
	output_env_free(env);
	return rc;
}

/* Prints each path with ?sig=, signed with -signing_key. */
static int run_sign(const struct conf *c, const struct cli_args *a)
{
	char sig[SIGN_HEX_LEN + 1];

	if (c->signing_key[0] == '\0') {
		fprintf(stderr, "images sign: no -signing_key (give it, or "
			"-config FILE that sets it)\n");
		return 2;
	}
	for (int i = 0; i < a->npaths; i++) {
		if (sign_path(c->signing_key, a->paths[i], sig) < 0) {
			fprintf(stderr, "images sign: HMAC failed\n");
			return 1;
		}
		printf("%s?sig=%s\n", a->paths[i], sig);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct cli_args a;
	struct conf c;
	struct err e;
	int rc;

	/* Before any thread starts: they all inherit the blocked signals. */
	signals_init();
	if (args_parse(&a, argc, argv, &e) < 0) {
		fprintf(stderr, "%s: %s (-h lists the flags)\n", args_prog(&a),
			e.msg);
		rc = 2;
		goto out;
	}
	if (a.help) {
		args_usage(stdout, &a);
		rc = 0;
		goto out;
	}
	rc = conf_load(&c, a.conf_argc, a.conf_argv, &e);
	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", args_prog(&a),
			rc < 0 ? e.msg : "-h: not expected here");
		rc = 2;
		goto out;
	}
	/* A tool is quieter than the responder: warnings and errors unless
	 * -log_level says otherwise. */
	startup_logging(&c, LOG_WARN);
	rc = a.sign ? run_sign(&c, &a)
	     : a.fetch ? run_fetch(&c, &a)
	     : a.purge ? run_purge(&c, &a) : run_images(argv[0], &a, &c);
out:
	args_release(&a);
	return rc;
}
