/* gate.c - the checks an original passes: strict header, decoder's
 * header, limits; and, to be kept, a decode to its end. */
#include "gate.h"

#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "dec_jpeg.h"
#include "dec_png.h"
#include "dec_webp.h"
#include "image.h"

void gate_limits_from_conf(struct gate_limits *l, const struct conf *c)
{
	l->max_pixels = (uint64_t)c->max_pixels;
	l->max_side = (unsigned)c->max_side;
	l->max_bytes = (size_t)c->max_source_bytes;
	l->max_frames = (unsigned)c->max_frames;
	l->timeout_ms = (unsigned)c->image_timeout * 1000u;
}

/* ---- the gate ---------------------------------------------------------------- */

/* Runs format f's decoder on data: its header read, and when decode a
 * check that reads the rest. */
static int decoder_run(enum sniff_format f, const unsigned char *data,
		       size_t len, int decode, unsigned *w, unsigned *h,
		       char *msg, size_t size)
{
	switch (f) {
	case SNIFF_JPEG:
		return dec_jpeg_header(data, len, w, h, msg, size) < 0 ||
		       (decode && dec_jpeg_check(data, len, msg, size) < 0) ? -1 : 0;
	case SNIFF_PNG:
		return dec_png_header(data, len, w, h, msg, size) < 0 ||
		       (decode && dec_png_check(data, len, msg, size) < 0) ? -1 : 0;
	case SNIFF_WEBP:
		return dec_webp_header(data, len, w, h, msg, size) < 0 ||
		       (decode && dec_webp_check(data, len, msg, size) < 0) ? -1 : 0;
	case SNIFF_GIF:
	case SNIFF_UNKNOWN:
		break;
	}
	snprintf(msg, size, "no decoder here");
	return -1;
}

int gate_decoder_size(enum sniff_format f, const unsigned char *data,
		      size_t len, unsigned *width, unsigned *height)
{
	char msg[200];

	return decoder_run(f, data, len, 0, width, height, msg, sizeof(msg));
}

static int limits(const struct sniff_info *info, const struct gate_limits *l,
		  struct err *e)
{
	if (info->width > l->max_side || info->height > l->max_side)
		return err_set(e, ERR_UNPROCESSABLE,
			       "original is %ux%u, a side over the limit of %u",
			       info->width, info->height, l->max_side);
	if ((uint64_t)info->width * info->height > l->max_pixels)
		return err_set(e, ERR_UNPROCESSABLE,
			       "original is %ux%u, over the limit of %llu pixels",
			       info->width, info->height,
			       (unsigned long long)l->max_pixels);
	if (l->max_frames != 0 && info->frames > l->max_frames)
		return err_set(e, ERR_UNPROCESSABLE,
			       "original has %u frames, over the limit of %u",
			       info->frames, l->max_frames);
	return 0;
}

int gate_check(const unsigned char *data, size_t len,
	       const struct gate_limits *l, struct sniff_info *info,
	       struct err *e)
{
	char msg[200];
	unsigned w = 0, h = 0;

	if (len > l->max_bytes)
		return err_set(e, ERR_UNPROCESSABLE,
			       "original is %zu bytes, over the limit of %zu", len,
			       l->max_bytes);
	if (sniff(data, len, info, e) < 0 || limits(info, l, e) < 0)
		return -1;
	/* GIF: the sniffer's walk of every frame descriptor is the gate. */
	if (info->format == SNIFF_GIF)
		return 0;
	if (decoder_run(info->format, data, len, 0, &w, &h, msg, sizeof(msg)) < 0)
		return err_set(e, ERR_UNPROCESSABLE,
			       "original %s has a malformed header: %s",
			       sniff_coder(info->format), msg);
	if (w != info->width || h != info->height)
		return err_set(e, ERR_UNPROCESSABLE,
			       "original %s says %ux%u in one place and %ux%u "
			       "in another", sniff_coder(info->format),
			       info->width, info->height, w, h);
	return 0;
}

int gate_original(const unsigned char *data, size_t len,
		  const struct gate_limits *l, struct sniff_info *info,
		  struct err *e)
{
	char msg[200];
	unsigned w, h;

	if (gate_check(data, len, l, info, e) < 0)
		return -1;
	if (info->format == SNIFF_GIF)
		return image_decode_check(data, len, info, e);
	if (decoder_run(info->format, data, len, 1, &w, &h, msg, sizeof(msg)) < 0)
		return err_set(e, ERR_UNPROCESSABLE,
			       "original %s cannot be decoded: %s",
			       sniff_coder(info->format), msg);
	return 0;
}
