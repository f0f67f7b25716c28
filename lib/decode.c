/* decode.c - the cheapest decoder for an original and an output size. */
#include "decode.h"

#include <stdlib.h>

#include "dec_jpeg.h"
#include "dec_png.h"
#include "dec_webp.h"
#include "jpegdc.h"
#include "jpegprog.h"

void decoded_init(struct decoded *d)
{
	pixels_init(&d->px);
	d->icc = NULL;
	d->icc_len = 0;
	d->cmyk_inverted = 0;
	d->jpeg_h = d->jpeg_v = 0;
	d->ext_w = d->ext_h = 0;
	d->how = "";
}

void decoded_release(struct decoded *d)
{
	pixels_release(&d->px);
	free(d->icc);
	d->icc = NULL;
	d->icc_len = 0;
	d->cmyk_inverted = 0;
}

int decode_handles(const struct sniff_info *si)
{
	switch (si->format) {
	case SNIFF_JPEG:
	case SNIFF_PNG:
		return 1;
	case SNIFF_WEBP:
		return si->frames <= 1;
	default:
		return 0;
	}
}

/* The reduction is 8x or more on both sides: one pixel a block will do. */
static int eighth_covers(const struct sniff_info *si, unsigned need_w,
			 unsigned need_h)
{
	return (double)si->width / (need_w ? need_w : 1) >= 8.0 &&
	       (double)si->height / (need_h ? need_h : 1) >= 8.0;
}

/* jpegdc's image as pixels: the buffer changes hands. */
static void take_jpegdc(struct jpegdc_image *dc, struct decoded *out)
{
	out->px.width = dc->width;
	out->px.height = dc->height;
	out->px.channels = dc->channels;
	out->px.stride = (size_t)dc->width * dc->channels;
	out->px.data = out->px.base = dc->pixels;
	out->ext_w = out->ext_h = 0; /* set by the caller, who knows the size */
	if (dc->channels == 3)
		out->jpeg_h = dc->h_samp[0], out->jpeg_v = dc->v_samp[0];
	dc->pixels = NULL;
}

/* The scale (eighths) jpegdc or jpegprog decode at for this output: 1
 * where 1/8 covers it, 2 where libjpeg would decode at 2/8 (a baseline
 * file only: jpegdc), else 0 (libjpeg). */
static unsigned own_scale(const unsigned char *data, size_t len,
			  const struct sniff_info *si, unsigned need_w,
			  unsigned need_h)
{
	if (eighth_covers(si, need_w, need_h))
		return 1;
	if (dec_jpeg_scale(si->width, si->height, need_w, need_h) == 2 &&
	    !jpegprog_is_progressive(data, len))
		return 2;
	return 0;
}

static int decode_jpeg(const unsigned char *data, size_t len,
		       unsigned need_w, unsigned need_h, int (*stop)(void *arg),
		       void *arg, const struct sniff_info *si,
		       struct decoded *out, struct err *e)
{
	unsigned scale = own_scale(data, len, si, need_w, need_h);

	if (scale != 0) {
		struct jpegdc_image dc = { 0 };
		int rc;

		if (scale == 1 && jpegprog_is_progressive(data, len)) {
			rc = jpegprog_decode(data, len, stop, arg, &out->px,
					     &out->jpeg_h, &out->jpeg_v, e);
			out->how = "jpegprog";
		} else {
			rc = jpegdc_decode(data, len, scale, stop, arg, &dc, e);
			if (rc == 0)
				take_jpegdc(&dc, out);
			out->how = "jpegdc";
		}
		if (rc < 0)
			return -1;
		if (rc == 0) {
			out->ext_w = si->width * scale / 8.0;
			out->ext_h = si->height * scale / 8.0;
			if (dec_jpeg_markers(data, len, out, e) < 0) {
				decoded_release(out);
				return -1;
			}
			return 0;
		}
	}
	return dec_jpeg_decode(data, len, need_w, need_h, stop, arg, out, e);
}

int decode_image(const unsigned char *data, size_t len,
		 const struct sniff_info *si, unsigned need_w, unsigned need_h,
		 int (*stop)(void *arg), void *arg, struct decoded *out,
		 struct err *e)
{
	decoded_init(out);
	switch (si->format) {
	case SNIFF_JPEG:
		return decode_jpeg(data, len, need_w, need_h, stop, arg, si, out, e);
	case SNIFF_PNG:
		return dec_png_decode(data, len, need_w, need_h, stop, arg, out, e);
	case SNIFF_WEBP:
		return dec_webp_decode(data, len, need_w, need_h, out, e);
	default:
		return err_set(e, ERR_INTERNAL, "no decoder of ours for %s",
			       sniff_coder(si->format));
	}
}

/*
 * 1 when the frame header is one that jpegdc or jpegprog decode (8-bit,
 * Huffman, baseline, extended or progressive, grey or three components);
 * else the 1/8 decode falls back to libjpeg, which for a progressive or
 * arithmetic-coded file holds every coefficient of the image.
 */
static int dc_decodable(const unsigned char *data, size_t len)
{
	size_t at = jpegprog_frame(data, len);

	return at != 0 && data[at + 1] <= 0xC2 && at + 10 <= len &&
	       data[at + 4] == 8 && (data[at + 9] == 1 || data[at + 9] == 3);
}

size_t decode_estimate(const unsigned char *data, size_t len,
		       const struct sniff_info *si, unsigned need_w,
		       unsigned need_h)
{
	switch (si->format) {
	case SNIFF_JPEG: {
		unsigned scale = own_scale(data, len, si, need_w, need_h);
		size_t lj, own;

		/* jpegprog (1/8 from the DC scans: the small image and its
		 * planes) or jpegdc, or libjpeg for what they decline, with
		 * room for whichever takes more. */
		if (scale == 0 || !dc_decodable(data, len))
			return dec_jpeg_estimate(data, len, need_w, need_h);
		if (jpegprog_is_progressive(data, len))
			return pixels_bytes(si->width / 8 + 1, si->height / 8 + 1, 3) * 4;
		lj = dec_jpeg_estimate(data, len, need_w, need_h);
		own = jpegdc_estimate(si->width, si->height, scale, len);
		return own > lj ? own : lj;
	}
	case SNIFF_PNG:
		return dec_png_estimate(data, len, need_w, need_h);
	case SNIFF_WEBP:
		return dec_webp_estimate(data, len, need_w, need_h);
	default:
		return 0;
	}
}
