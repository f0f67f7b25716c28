/* url.c - the public URL grammar: parse output requests. */
#include "url.h"

#include <string.h>

static const struct {
	const char *ext;
	enum url_format format;
} exts[] = {
	{ "jpg", URL_FMT_JPEG },  { "jpeg", URL_FMT_JPEG },
	{ "png", URL_FMT_PNG },   { "gif", URL_FMT_GIF },
	{ "webp", URL_FMT_WEBP }, { "avif", URL_FMT_AVIF },
};

static const struct {
	const char *ext, *mime, *coder;
} formats[URL_FMT_COUNT] = {
	[URL_FMT_JPEG] = { "jpg", "image/jpeg", "JPEG" },
	[URL_FMT_PNG] = { "png", "image/png", "PNG" },
	[URL_FMT_GIF] = { "gif", "image/gif", "GIF" },
	[URL_FMT_WEBP] = { "webp", "image/webp", "WEBP" },
	[URL_FMT_AVIF] = { "avif", "image/avif", "AVIF" },
};

const char *url_format_ext(enum url_format f)
{
	return f < URL_FMT_COUNT ? formats[f].ext : "";
}

const char *url_format_mime(enum url_format f)
{
	return f < URL_FMT_COUNT ? formats[f].mime : "application/octet-stream";
}

const char *url_format_coder(enum url_format f)
{
	return f < URL_FMT_COUNT ? formats[f].coder : "";
}

int url_format_from_ext(const char *ext, enum url_format *f)
{
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		if (strcmp(ext, exts[i].ext) == 0) {
			*f = exts[i].format;
			return 0;
		}
	}
	return -1;
}

static int is_name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int is_id_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int valid_run(const char *s, size_t len, size_t max, int (*ok)(int))
{
	if (len == 0 || len > max)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!ok((unsigned char)s[i]))
			return -1;
	return 0;
}

int url_valid_name(const char *s)
{
	return valid_run(s, strlen(s), URL_NAME_MAX, is_name_char);
}

int url_valid_id(const char *s)
{
	return valid_run(s, strlen(s), URL_ID_MAX, is_id_char);
}

/*
 * Reads a canonical decimal number in [1, max] at *p and advances *p past
 * it; returns the number, or 0 if there is none, it has a leading zero or
 * is out of range.
 */
static unsigned read_number(const char **p, unsigned max)
{
	const char *s = *p;
	unsigned long v = 0;
	int digits = 0;

	if (*s < '1' || *s > '9')
		return 0;
	while (*s >= '0' && *s <= '9') {
		if (++digits > 6)
			return 0;
		v = v * 10 + (unsigned)(*s - '0');
		s++;
	}
	if (v > max)
		return 0;
	*p = s;
	return (unsigned)v;
}

#define SIDE_MAX 99999u

int url_parse_file(const char *file, struct url_request *r, struct err *e)
{
	const char *p = file, *dot;
	size_t extlen;
	char ext[9];

	if (strlen(file) > URL_FILE_MAX)
		return err_set(e, ERR_BAD_REQUEST, "output name is too long");
	dot = strrchr(file, '.');
	if (dot == NULL)
		return err_set(e, ERR_BAD_REQUEST,
			       "output '%s' has no format extension", file);

	r->width = r->height = r->quality = 0;
	if (strncmp(p, "full_size", 9) == 0) {
		r->fit = URL_FIT_FULL;
		p += 9;
	} else if (*p == 'w') {
		p++;
		r->fit = URL_FIT_WIDTH;
		r->width = read_number(&p, SIDE_MAX);
		if (r->width == 0)
			goto bad_spec;
	} else if (*p == 'x') {
		p++;
		r->fit = URL_FIT_FILL;
		r->width = r->height = read_number(&p, SIDE_MAX);
		if (r->width == 0)
			goto bad_spec;
	} else {
		r->fit = URL_FIT_FILL;
		r->width = read_number(&p, SIDE_MAX);
		if (r->width == 0 || *p++ != 'x')
			goto bad_spec;
		r->height = read_number(&p, SIDE_MAX);
		if (r->height == 0)
			goto bad_spec;
	}
	if (p[0] == '-' && p[1] == 'q') {
		p += 2;
		r->quality = read_number(&p, 100);
		if (r->quality == 0)
			return err_set(e, ERR_BAD_REQUEST,
				       "quality in '%s' must be 1-100", file);
	}
	if (p != dot)
		goto bad_spec;

	extlen = strlen(dot + 1);
	if (extlen == 0 || extlen >= sizeof(ext))
		return err_set(e, ERR_BAD_REQUEST, "bad format extension in '%s'",
			       file);
	for (size_t i = 0; i < extlen; i++) {
		char c = dot[1 + i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return err_set(e, ERR_BAD_REQUEST,
				       "bad format extension in '%s'", file);
		ext[i] = c;
	}
	ext[extlen] = '\0';
	if (url_format_from_ext(ext, &r->format) < 0)
		return err_set(e, ERR_FORMAT, "output format '%s' is not supported",
			       ext);
	memcpy(r->file, file, strlen(file) + 1);
	return 0;

bad_spec:
	return err_set(e, ERR_BAD_REQUEST,
		       "bad size in '%s': use wN, xN, WxH or full_size, "
		       "optionally followed by -qN",
		       file);
}

/* Copies the segment at *p up to the next '/' or the end into out. */
static int next_segment(const char **p, char *out, size_t max)
{
	const char *s = *p, *end = strchr(s, '/');
	size_t len = end ? (size_t)(end - s) : strlen(s);

	if (len == 0 || len > max)
		return -1;
	memcpy(out, s, len);
	out[len] = '\0';
	*p = end ? end + 1 : s + len;
	return end ? 1 : 0; /* 1: more segments follow */
}

int url_parse(const char *path, struct url_request *r, struct err *e)
{
	char file[URL_FILE_MAX + 1];
	const char *p = path;
	int more;

	memset(r, 0, sizeof(*r));
	if (strlen(path) > 512)
		return err_set(e, ERR_BAD_REQUEST, "path is too long");
	for (const char *c = path; *c; c++) {
		if (*c == '%')
			return err_set(e, ERR_BAD_REQUEST,
				       "percent-encoded characters are not allowed");
		if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
			return err_set(e, ERR_BAD_REQUEST,
				       "path holds a character outside printable ASCII");
	}
	if (*p++ != '/')
		return err_set(e, ERR_BAD_REQUEST, "path must start with '/'");

	if (next_segment(&p, r->model, URL_NAME_MAX) != 1 ||
	    url_valid_name(r->model) < 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "bad model: use /{model}/{field}/{id}/{spec}.{format} "
			       "with model [a-z0-9_]{1,32}");
	if (next_segment(&p, r->field, URL_NAME_MAX) != 1 ||
	    url_valid_name(r->field) < 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "bad field: use /{model}/{field}/{id}/{spec}.{format} "
			       "with field [a-z0-9_]{1,32}");
	if (next_segment(&p, r->id, URL_ID_MAX) != 1 || url_valid_id(r->id) < 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "bad id: use /{model}/{field}/{id}/{spec}.{format} "
			       "with id [0-9A-Za-z_-]{1,64}");
	more = next_segment(&p, file, URL_FILE_MAX);
	if (more != 0)
		return err_set(e, ERR_BAD_REQUEST,
			       more < 0 ? "bad or missing {spec}.{format}"
				        : "too many path segments");
	return url_parse_file(file, r, e);
}
