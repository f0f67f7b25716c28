/* image.c - the pipeline of one output: gate, admission, decode at the
 * reduced size, colour, flatten, crop, resize, orient, encode. */
#include "image.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "budget.h"
#include "clock.h"
#include "color.h"
#include "decode.h"
#include "encode.h"
#include "image_int.h"
#include "resize.h"

int image_global_init(const char *argv0, int omp_threads, unsigned max_side,
		      struct err *e)
{
	return magick_start(argv0, omp_threads, max_side, e);
}

void image_set_limits(unsigned max_side)
{
	magick_set_limits(max_side);
}

void image_global_release(void)
{
	color_global_release();
	magick_stop();
}

int image_format_available(enum url_format f)
{
	/* JPEG, PNG and WebP have encoders of ours; the rest MagickCore's. */
	return f == URL_FMT_JPEG || f == URL_FMT_PNG || f == URL_FMT_WEBP ||
	       magick_can_encode(f);
}

unsigned image_formats_available(void)
{
	unsigned m = 0;

	for (int f = 0; f < URL_FMT_COUNT; f++)
		if (image_format_available((enum url_format)f))
			m |= 1u << f;
	return m;
}

int image_check_color(const char *name, struct err *e)
{
	unsigned char rgb[3];

	return magick_color(name, rgb, e);
}

unsigned image_scaled(unsigned v, double f)
{
	double r = floor((double)v * f + 0.5);
	return r < 1 ? 1 : (unsigned)r;
}

void image_output_size(unsigned src_w, unsigned src_h,
		       const struct url_request *r, int allow_upscale,
		       unsigned *w, unsigned *h)
{
	double s;

	switch (r->fit) {
	case URL_FIT_FULL:
		*w = src_w, *h = src_h;
		return;
	case URL_FIT_WIDTH:
		*w = r->width;
		if (!allow_upscale && *w > src_w)
			*w = src_w;
		*h = image_scaled(src_h, (double)*w / src_w);
		return;
	case URL_FIT_FILL:
		s = fmin((double)src_w / r->width, (double)src_h / r->height);
		if (allow_upscale || s >= 1.0) {
			*w = r->width, *h = r->height;
		} else {
			*w = image_scaled(r->width, s);
			*h = image_scaled(r->height, s);
		}
		return;
	}
}

void image_needed_size(unsigned src_w, unsigned src_h, unsigned out_w,
		       unsigned out_h, unsigned *w, unsigned *h)
{
	double s = fmax((double)out_w / src_w, (double)out_h / src_h);

	*w = (unsigned)ceil(src_w * s);
	*h = (unsigned)ceil(src_h * s);
}

void image_fill_box(unsigned dw, unsigned dh, unsigned ow, unsigned oh,
		    struct image_box *b)
{
	b->w = dw, b->h = dh;
	if ((double)dw * oh > (double)dh * ow)
		b->w = image_scaled(dh, (double)ow / oh);
	else
		b->h = image_scaled(dw, (double)oh / ow);
	b->w = b->w > dw ? dw : b->w;
	b->h = b->h > dh ? dh : b->h;
	b->x = (dw - b->w) / 2;
	b->y = (dh - b->h) / 2;
}

int deadline_stop(void *arg)
{
	struct deadline *d = arg;

	if (d->end_ms != 0 && clock_now_ms() > d->end_ms)
		d->expired = 1;
	return d->expired;
}

int deadline_expired(const struct deadline *d, unsigned timeout_ms,
		     struct err *e)
{
	if (!d->expired)
		return 0;
	return err_set(e, ERR_UNPROCESSABLE,
		       "original took longer than %u ms to process", timeout_ms);
}

/* This thread's last decoder, for the log (image_decoder()). */
static _Thread_local const char *last_decoder = "";

const char *image_decoder(void)
{
	return last_decoder;
}

/* ---- the 8-bit pipeline --------------------------------------------------- */

/* The decode size for an ow x oh output, as the file stores it (the
 * sides of a quarter-turned original swapped back). */
static void decode_size(const struct sniff_info *si, const struct url_request *r,
			unsigned ow, unsigned oh, unsigned *w, unsigned *h)
{
	unsigned sw, sh, nw, nh;

	sniff_shown_size(si, &sw, &sh);
	if (r->fit == URL_FIT_FULL)
		nw = sw, nh = sh;
	else
		image_needed_size(sw, sh, ow, oh, &nw, &nh);
	*w = sniff_swaps(si) ? nh : nw;
	*h = sniff_swaps(si) ? nw : nh;
}

/* The part of the pixels the output shows: x, y, width, height. */
struct window {
	double x, y, w, h;
};

/*
 * The window after EXIF orientation o turned an image of w x h pixels
 * (as stored): the same spans, flipped and swapped as the pixels are.
 */
static void orient_window(int o, unsigned w, unsigned h, struct window *v)
{
	struct window s = *v;

	if (o >= 5) { /* the sides swap */
		v->w = s.h, v->h = s.w;
		v->x = (o == 5 || o == 8) ? s.y : h - s.y - s.h;
		v->y = (o == 5 || o == 6) ? s.x : w - s.x - s.w;
	} else {
		v->x = (o == 2 || o == 3) ? w - s.x - s.w : s.x;
		v->y = (o == 3 || o == 4) ? h - s.y - s.h : s.y;
	}
}

/* The inverse of orient_window(): a window of the turned image back on
 * the pixels as stored (w x h). */
static void unorient_window(int o, unsigned w, unsigned h, struct window *v)
{
	struct window t = *v;

	if (o >= 5) {
		v->w = t.h, v->h = t.w;
		v->y = (o == 5 || o == 8) ? t.x : h - t.x - v->h;
		v->x = (o == 5 || o == 6) ? t.y : w - t.y - v->w;
	} else {
		v->x = (o == 2 || o == 3) ? w - t.x - t.w : t.x;
		v->y = (o == 3 || o == 4) ? h - t.y - t.h : t.y;
	}
}

/*
 * A fill keeps the centre of the window at the output's aspect ratio.
 * The aspect is the original's: kx and ky are the decoded pixels per
 * original pixel across and down, which differ when a decoder shrank
 * the sides by different whole factors (a PNG's box).
 */
static void fill_window(struct window *v, double kx, double ky, unsigned ow,
			unsigned oh)
{
	double w0 = v->w / kx, h0 = v->h / ky;

	if (w0 * oh > h0 * ow) {
		double w = h0 * ow / oh;
		v->x += (w0 - w) / 2 * kx, v->w = w * kx;
	} else {
		double h = w0 * oh / ow;
		v->y += (h0 - h) / 2 * ky, v->h = h * ky;
	}
}

/* -background as RGB: MagickCore's lookup (locked: magick_color) once
 * per thread and colour, not once per make. */
static int background_rgb(const char *name, unsigned char bg[3], struct err *e)
{
	static _Thread_local char last[64];
	static _Thread_local unsigned char rgb[3];

	if (last[0] == '\0' || strcmp(last, name) != 0) {
		if (magick_color(name, rgb, e) < 0)
			return -1;
		snprintf(last, sizeof(last), "%s", name);
	}
	memcpy(bg, rgb, 3);
	return 0;
}

/* Flatten, crop, resize and orient the decoded pixels to ow x oh; the
 * window keeps the geometry exact through a reduced-scale decode.  The
 * window is chosen on the image as shown, and resized as stored: the
 * turn (EXIF orientation) is then of the small output, not of the
 * decoded image. */
static int shape(struct decoded *d, const struct sniff_info *si,
		 const struct url_request *r, const struct image_opts *o,
		 unsigned ow, unsigned oh, struct err *e)
{
	struct pixels *px = &d->px;
	struct window v = { 0, 0, d->ext_w, d->ext_h };
	unsigned sw = px->width, sh = px->height;
	unsigned char bg[3];
	double kx, ky;

	if (v.w <= 0 || v.w > sw)
		v.w = sw;
	if (v.h <= 0 || v.h > sh)
		v.h = sh;
	kx = v.w / si->width, ky = v.h / si->height;
	if (si->orientation >= 5) {
		double t = kx;
		kx = ky, ky = t;
	}
	if (background_rgb(o->background, bg, e) < 0 ||
	    pixels_flatten(px, bg, e) < 0)
		return -1;
	if (r->fit == URL_FIT_FILL) {
		orient_window(si->orientation, sw, sh, &v);
		fill_window(&v, kx, ky, ow, oh);
		unorient_window(si->orientation, sw, sh, &v);
	}
	if (si->orientation >= 5 && si->orientation <= 8) {
		unsigned t = ow;
		ow = oh, oh = t;
	}
	if (!(px->width == ow && px->height == oh && v.x == 0 && v.y == 0 &&
	      v.w == ow && v.h == oh) &&
	    resize_pixels_window(px, v.x, v.y, v.w, v.h, ow, oh, px, e) < 0)
		return -1;
	return pixels_orient(px, si->orientation, e);
}

/*
 * JPEG outputs keep a colour JPEG original's chroma sampling (as
 * MagickCore's writer reuses its reader's); from anything else the
 * encoder's rule, ImageMagick's.
 */
static enum encode_sampling sampling_of(const struct decoded *d)
{
	if (d->jpeg_h == 1 && d->jpeg_v == 1)
		return ENCODE_SAMPLING_444;
	if (d->jpeg_h == 2 && d->jpeg_v == 1)
		return ENCODE_SAMPLING_422;
	if (d->jpeg_h != 0)
		return ENCODE_SAMPLING_420;
	return ENCODE_SAMPLING_AUTO;
}

static int encode_out(const struct pixels *px, const struct decoded *d,
		      const struct url_request *r,
		      const struct image_opts *o, struct buf *out, struct err *e)
{
	struct encode_opts eo = { 0 };

	eo.quality = r->quality ? r->quality : o->quality;
	eo.sampling = sampling_of(d);
	/* The sRGB profile is an RGB one: a grey output (but in WebP, which
	 * has no grey) goes untagged. */
	if (o->embed_srgb && (px->channels == 3 || r->format == URL_FMT_WEBP))
		eo.icc = color_srgb_profile(&eo.icc_len);
	switch (r->format) {
	case URL_FMT_JPEG: return encode_jpeg(px, &eo, out, e);
	case URL_FMT_PNG: return encode_png(px, &eo, out, e);
	case URL_FMT_WEBP: return encode_webp(px, &eo, out, e);
	default:
		return magick_encode_pixels(px, r, eo.quality, eo.icc, eo.icc_len,
					    out, e);
	}
}

static int native_make(const unsigned char *data, size_t len,
		       const struct sniff_info *si, const struct url_request *r,
		       const struct image_opts *o, unsigned ow, unsigned oh,
		       struct deadline *dl, struct buf *out, struct err *e)
{
	struct decoded d;
	unsigned dw, dh;
	double t0 = clock_now_ms(), t1, t2;
	int rc = -1;

	decode_size(si, r, ow, oh, &dw, &dh);
	if (decode_image(data, len, si, dw, dh, deadline_stop, dl, &d, e) < 0)
		goto out;
	last_decoder = d.how;
	if (color_to_srgb(&d.px, d.icc, d.icc_len, d.cmyk_inverted, e) < 0)
		goto out;
	t1 = clock_now_ms();
	if (shape(&d, si, r, o, ow, oh, e) < 0 ||
	    deadline_expired(dl, o->limits.timeout_ms, e) < 0)
		goto out;
	t2 = clock_now_ms();
	rc = encode_out(&d.px, &d, r, o, out, e);
	if (o->timings != NULL) {
		o->timings->decode = t1 - t0;
		o->timings->resize = t2 - t1;
		o->timings->encode = clock_now_ms() - t2;
	}
out:
	decoded_release(&d);
	/* A decoder stopped by the deadline says so its own way. */
	if (rc < 0 && dl->expired)
		deadline_expired(dl, o->limits.timeout_ms, e);
	return rc;
}

/* The memory a make will hold at its peak: the decode (from the header),
 * the resized image and the encoder's (a few copies of the output). */
static size_t estimate(const unsigned char *data, size_t len,
		       const struct sniff_info *si, const struct url_request *r,
		       int native, unsigned ow, unsigned oh)
{
	unsigned dw, dh;

	size_t bytes;

	decode_size(si, r, ow, oh, &dw, &dh);
	if (!native)
		bytes = magick_estimate(si->width, si->height) +
			magick_estimate(ow, oh);
	else
		bytes = decode_estimate(data, len, si, dw, dh) +
			resize_scratch_bytes(dw, dh, 4, ow, oh) +
			pixels_bytes(ow, oh, 4) * 3;
	if (r->format == URL_FMT_GIF)
		bytes += magick_estimate(ow, oh) + magick_quantize_bytes();
	return bytes;
}

int image_make(const unsigned char *data, size_t len,
	       const struct url_request *r, const struct image_opts *o,
	       struct buf *out, struct err *e)
{
	struct sniff_info si;
	struct deadline dl = { 0, 0 };
	unsigned sw, sh, ow, oh;
	size_t need;
	int native, rc;

	if (gate_check(data, len, &o->limits, &si, e) < 0)
		return -1;
	sniff_shown_size(&si, &sw, &sh);
	image_output_size(sw, sh, r, o->allow_upscale, &ow, &oh);
	/* full_size is bounded by the limits on originals instead. */
	if (r->fit != URL_FIT_FULL &&
	    ((o->max_width && ow > o->max_width) ||
	     (o->max_height && oh > o->max_height)))
		return err_set(e, ERR_TOO_LARGE,
			       "output would be %ux%u, over the maximum of %ux%u",
			       ow, oh, o->max_width, o->max_height);
	native = !o->magick_only && decode_handles(&si);
	last_decoder = native ? "" : "magick";
	need = estimate(data, len, &si, r, native, ow, oh);
	if (budget_reserve(need, o->budget_wait_ms, e) < 0)
		return -1;
	if (o->limits.timeout_ms != 0)
		dl.end_ms = clock_now_ms() + o->limits.timeout_ms;
	if (native)
		rc = native_make(data, len, &si, r, o, ow, oh, &dl, out, e);
	else
		rc = magick_make(data, len, &si, r, o, ow, oh, &dl, out, e);
	if (rc == 0 && deadline_expired(&dl, o->limits.timeout_ms, e) < 0) {
		buf_release(out);
		rc = -1;
	}
	budget_release(need);
	return rc;
}
