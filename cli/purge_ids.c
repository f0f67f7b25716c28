/* purge_ids.c - images purge: purge_image() over a range or a list. */
#include "purge_ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "purge.h"
#include "signals.h"
#include "url.h"

/* One image to purge. */
struct name {
	char model[URL_NAME_MAX + 1], field[URL_NAME_MAX + 1], id[URL_ID_MAX + 1];
};

struct list {
	struct name *v;
	size_t n, cap;
};

/* Parses one line of standard input into nm: an id (with -model and
 * -field) or MODEL/FIELD/ID.  Returns 0, or -1 with the reason. */
static int parse_line(const struct cli_args *a, char *line, struct name *nm,
		      struct err *e)
{
	char *save = NULL, *parts[4];
	int n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	if (!a->full_names) {
		snprintf(nm->model, sizeof(nm->model), "%s", a->model);
		snprintf(nm->field, sizeof(nm->field), "%s", a->field);
		if (strlen(line) > URL_ID_MAX || url_valid_id(line) < 0)
			return err_set(e, ERR_BAD_REQUEST, "not an id: '%.80s'", line);
		snprintf(nm->id, sizeof(nm->id), "%s", line);
		return 0;
	}
	for (char *t = strtok_r(line, "/", &save); t && n < 4;
	     t = strtok_r(NULL, "/", &save))
		parts[n++] = t;
	if (n != 3 || strlen(parts[0]) > URL_NAME_MAX ||
	    strlen(parts[1]) > URL_NAME_MAX || strlen(parts[2]) > URL_ID_MAX ||
	    url_valid_name(parts[0]) < 0 || url_valid_name(parts[1]) < 0 ||
	    url_valid_id(parts[2]) < 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "expected MODEL/FIELD/ID, got '%.80s'", line);
	snprintf(nm->model, sizeof(nm->model), "%s", parts[0]);
	snprintf(nm->field, sizeof(nm->field), "%s", parts[1]);
	snprintf(nm->id, sizeof(nm->id), "%s", parts[2]);
	return 0;
}

/* Reads every line of standard input (empty ones skipped) into l, all
 * checked before anything is purged.  Returns 0 or -1 (reported). */
static int read_names(const struct cli_args *a, struct list *l)
{
	char line[512];
	long lineno = 0;
	struct err e;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(stdin)) {
			fprintf(stderr, "images purge: line %ld is too long\n", lineno);
			return -1;
		}
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 256;
			struct name *more = realloc(l->v, cap * sizeof(*more));
			if (more == NULL) {
				fprintf(stderr, "images purge: out of memory\n");
				return -1;
			}
			l->v = more, l->cap = cap;
		}
		if (parse_line(a, line, &l->v[l->n], &e) < 0) {
			fprintf(stderr, "images purge: line %ld: %s; nothing was "
				"purged\n", lineno, e.msg);
			return -1;
		}
		l->n++;
	}
	return 0;
}

/* The k-th image of the job. */
static void nth(const struct cli_args *a, const struct list *l, long long k,
		struct name *nm)
{
	if (a->from_stdin) {
		*nm = l->v[k];
		return;
	}
	snprintf(nm->model, sizeof(nm->model), "%s", a->model);
	snprintf(nm->field, sizeof(nm->field), "%s", a->field);
	snprintf(nm->id, sizeof(nm->id), "%llu", a->start + (unsigned long long)k);
}

int purge_run(const struct cli_args *a, struct output_env *env)
{
	struct progress_counts pc = { 0 };
	struct output_worker *w = NULL;
	struct progress *p = NULL;
	struct list l = { 0 };
	long long total;
	int sig = 0, rc = 2;

	if (a->from_stdin && read_names(a, &l) < 0)
		goto out;
	total = a->from_stdin ? (long long)l.n
			      : (long long)(a->end - a->start + 1);
	if (isatty(2) && !a->yes) {
		if (a->from_stdin)
			fprintf(stderr, "images purge: this removes the originals "
				"and every output of %lld image(s) read from standard "
				"input, for every host; give -yes to go on\n", total);
		else
			fprintf(stderr, "images purge: this removes the originals "
				"and every output of %lld id(s) of %s/%s, %llu to %llu, "
				"for every host; give -yes to go on\n", total, a->model,
				a->field, a->start, a->end);
		goto out;
	}
	p = progress_new("images purge", "purged", total, a->progress);
	w = output_worker_new(env);
	if (p == NULL || w == NULL) {
		fprintf(stderr, "images purge: out of memory\n");
		goto out;
	}
	for (long long k = 0; k < total; k++) {
		struct purge_result res;
		struct name nm;
		struct err e;

		if ((sig = signals_wait(0, "images purge")) != 0) {
			progress_note(p, "%s: stopped after %lld of %lld",
				      signals_name(sig), k, total);
			break;
		}
		nth(a, &l, k, &nm);
		err_clear(&e);
		if (purge_image(w, nm.model, nm.field, nm.id, &res, &e) < 0) {
			pc.failed++;
			progress_note(p, "failed %s/%s/%s: %s", nm.model, nm.field,
				      nm.id, e.msg);
		} else if (res.found) {
			pc.made++;
		} else {
			pc.missing++;
		}
		pc.done++;
		progress_update(p, &pc);
	}
	progress_summary(p, &pc, sig != 0);
	rc = sig != 0 ? 128 + sig : pc.failed > 0 ? 1 : 0;
out:
	output_worker_free(w);
	progress_free(p);
	free(l.v);
	return rc;
}
