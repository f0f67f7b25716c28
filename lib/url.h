/*
 * url.h - the public URL grammar: parse and format output requests.
 *
 *   /{model}/{field}/{id}/{spec}.{format}
 *   model, field: [a-z0-9_]{1,32}      id: [0-9A-Za-z_-]{1,64}
 *   spec: wN | xN | WxH | full_size, then optionally -qN (quality 1-100)
 *   N, W, H: 1-99999 written without leading zeros
 *
 * Numbers have one spelling only (no "w0500"): the URL path is the store
 * path, and needless spellings would be needless files.  The grammar does
 * keep two forms that each are their own URL and file: "x5" and "5x5",
 * ".jpg" and ".jpeg".  No I/O here.  Thread-safety: pure functions.
 */
#ifndef IMGSRV_URL_H
#define IMGSRV_URL_H

#include "err.h"

#define URL_NAME_MAX 32 /* longest model or field */
#define URL_ID_MAX 64   /* longest id */
#define URL_FILE_MAX 48 /* longest "{spec}.{format}" */

enum url_fit {
	URL_FIT_WIDTH, /* wN: width N, height follows the aspect ratio */
	URL_FIT_FILL,  /* xN, WxH: exactly W x H, centre crop that fills */
	URL_FIT_FULL   /* full_size: the original's size */
};

enum url_format {
	URL_FMT_JPEG,
	URL_FMT_PNG,
	URL_FMT_GIF,
	URL_FMT_WEBP,
	URL_FMT_AVIF,
	URL_FMT_COUNT
};

struct url_request {
	char model[URL_NAME_MAX + 1];
	char field[URL_NAME_MAX + 1];
	char id[URL_ID_MAX + 1];
	char file[URL_FILE_MAX + 1]; /* "{spec}.{format}" exactly as given */
	enum url_fit fit;
	unsigned width;   /* 0 for full_size */
	unsigned height;  /* 0 for wN and full_size */
	unsigned quality; /* 1-100, or 0 for the configured default */
	enum url_format format;
};

/*
 * Parses an output path such as "/user/avatar/3589782/w500.jpg" (no query
 * string) into *r.  On error returns -1 with ERR_BAD_REQUEST (malformed) or
 * ERR_FORMAT (well-formed but unknown format) and a message naming the
 * offending part; *r is then unspecified.
 */
int url_parse(const char *path, struct url_request *r, struct err *e);

/*
 * Parses just "{spec}.{format}" (e.g. "x300.webp") into the spec fields of
 * *r, leaving model, field and id alone.  Errors as url_parse().
 */
int url_parse_file(const char *file, struct url_request *r, struct err *e);

/* Checks a model, field or id against its grammar; returns 0 or -1. */
int url_valid_name(const char *s);
int url_valid_id(const char *s);

/* The format's canonical extension ("jpg"), MIME type, and MagickCore coder
 * name ("JPEG"). */
const char *url_format_ext(enum url_format f);
const char *url_format_mime(enum url_format f);
const char *url_format_coder(enum url_format f);

/* Maps an extension ("jpeg", "jpg", "webp", ...) to a format; -1 if none. */
int url_format_from_ext(const char *ext, enum url_format *f);

#endif
