/*
 * fuzz_url.c - libFuzzer target for url_parse() and url_parse_file().
 *
 * The input bytes, cut at the first NUL, are the request path.  Beyond
 * "no crash, no overread", each accepted result is checked against the
 * grammar in url.h by code that shares nothing with url.c, and each refusal
 * must carry ERR_BAD_REQUEST or ERR_FORMAT and a message.  A violation
 * abort()s, which libFuzzer reports as a crash with the input saved.
 *
 * Build: see tests/fuzz/run.sh.
 */
#include "url.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints why the invariant failed, then crashes so libFuzzer keeps it. */
_Noreturn static void fail(const char *what, const char *input)
{
	fprintf(stderr, "fuzz_url: invariant violated: %s\n  input: '%s'\n",
		what, input);
	abort();
}

static int run_of(const char *s, size_t max, const char *allowed)
{
	size_t n = strlen(s);

	return n >= 1 && n <= max && strspn(s, allowed) == n;
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_"
#define ID_CHARS NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ-"

/*
 * Checks the spec fields of an accepted r, and that writing them back out
 * gives file again: a spec has one spelling per value (no "w0500").  "xN"
 * and "NxN" are both spellings of a square, and "jpg"/"jpeg" of JPEG, as
 * url.h documents, so either is taken.
 */
static void check_spec(const struct url_request *r, const char *file,
		       const char *input)
{
	const char *dot = strrchr(file, '.');
	char spec[64], alt[64], q[16] = "";
	enum url_format f;

	if (strchr(file, '/') != NULL || strstr(file, "..") != NULL)
		fail("file holds '/' or '..'", input);
	if (strcmp(r->file, file) != 0)
		fail("r->file differs from the file given", input);
	if (r->quality > 100)
		fail("quality over 100", input);
	if ((unsigned)r->format >= URL_FMT_COUNT)
		fail("format out of range", input);
	if (dot == NULL || url_format_from_ext(dot + 1, &f) < 0 ||
	    f != r->format)
		fail("extension does not name r->format", input);
	if (url_format_from_ext(url_format_ext(r->format), &f) < 0 ||
	    f != r->format || url_format_mime(r->format)[0] == '\0' ||
	    url_format_coder(r->format)[0] == '\0')
		fail("format's canonical extension, MIME or coder is wrong", input);
	if (r->quality)
		snprintf(q, sizeof(q), "-q%u", r->quality);

	alt[0] = '\0';
	switch (r->fit) {
	case URL_FIT_FULL:
		if (r->width != 0 || r->height != 0)
			fail("full_size with a size", input);
		snprintf(spec, sizeof(spec), "full_size%s", q);
		break;
	case URL_FIT_WIDTH:
		if (r->width < 1 || r->width > 99999 || r->height != 0)
			fail("wN out of range or with a height", input);
		snprintf(spec, sizeof(spec), "w%u%s", r->width, q);
		break;
	case URL_FIT_FILL:
		if (r->width < 1 || r->width > 99999 || r->height < 1 ||
		    r->height > 99999)
			fail("WxH out of range", input);
		snprintf(spec, sizeof(spec), "%ux%u%s", r->width, r->height, q);
		if (r->width == r->height)
			snprintf(alt, sizeof(alt), "x%u%s", r->width, q);
		break;
	default:
		fail("fit out of range", input);
	}
	if (strlen(spec) != (size_t)(dot - file) ||
	    strncmp(spec, file, strlen(spec)) != 0) {
		if (alt[0] == '\0' || strlen(alt) != (size_t)(dot - file) ||
		    strncmp(alt, file, strlen(alt)) != 0)
			fail("spec is not the canonical spelling of its fields",
			     input);
	}
}

static void check_refusal(const struct err *e, const char *input)
{
	if (e->code != ERR_BAD_REQUEST && e->code != ERR_FORMAT)
		fail("refused with a code other than bad_request/format", input);
	if (e->msg[0] == '\0')
		fail("refused without a message", input);
}

static void check_path(const char *path)
{
	struct url_request r;
	struct err e = { ERR_NONE, "" };
	char again[512 + 64];

	if (url_parse(path, &r, &e) < 0) {
		check_refusal(&e, path);
		return;
	}
	if (!run_of(r.model, URL_NAME_MAX, NAME_CHARS))
		fail("model outside [a-z0-9_]{1,32}", path);
	if (!run_of(r.field, URL_NAME_MAX, NAME_CHARS))
		fail("field outside [a-z0-9_]{1,32}", path);
	if (!run_of(r.id, URL_ID_MAX, ID_CHARS))
		fail("id outside [0-9A-Za-z_-]{1,64}", path);
	check_spec(&r, r.file, path);
	/* The parser accepts only canonical paths: the parts rebuild it. */
	snprintf(again, sizeof(again), "/%s/%s/%s/%s", r.model, r.field, r.id,
		 r.file);
	if (strcmp(again, path) != 0)
		fail("/model/field/id/file does not rebuild the path", path);
	if (url_valid_name(r.model) < 0 || url_valid_name(r.field) < 0 ||
	    url_valid_id(r.id) < 0)
		fail("url_valid_* refuses what url_parse accepted", path);
}

static void check_file(const char *file)
{
	struct url_request r;
	struct err e = { ERR_NONE, "" };

	memset(&r, 0, sizeof(r));
	if (url_parse_file(file, &r, &e) < 0) {
		check_refusal(&e, file);
		return;
	}
	if (strlen(file) > URL_FILE_MAX)
		fail("file longer than URL_FILE_MAX accepted", file);
	check_spec(&r, file, file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly sized, so ASan sees a read past the terminator. */
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_path(s);
	check_file(s);
	free(s);
	return 0;
}
