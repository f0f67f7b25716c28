/* encode.c - JPEG (libjpeg-turbo), PNG (libpng) and WebP (libwebp) from
 * 8-bit pixels into a struct buf. */
#include "encode.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <webp/encode.h>

/* ---- what every encoder checks ---- */

static int check_pixels(const struct pixels *p, const char *format,
			unsigned max_side, struct err *e)
{
	if (p->data == NULL || p->width == 0 || p->height == 0)
		return err_set(e, ERR_INTERNAL, "%s: no pixels", format);
	if (p->cmyk || (p->channels != 1 && p->channels != 3))
		return err_set(e, ERR_INTERNAL, "%s: takes grey or RGB, not %u "
			       "channels%s", format, p->channels,
			       p->cmyk ? " of CMYK" : "");
	if (p->width > max_side || p->height > max_side)
		return err_set(e, ERR_TOO_LARGE, "%s holds at most %u pixels a "
			       "side, not %ux%u", format, max_side, p->width,
			       p->height);
	return 0;
}

static int check_quality(const struct encode_opts *o, const char *format,
			 struct err *e)
{
	if (o->quality < 1 || o->quality > 100)
		return err_set(e, ERR_INTERNAL, "%s: quality %u is not 1-100",
			       format, o->quality);
	return 0;
}

/*
 * The profile, when there is one, must be one (a 128-byte header and a
 * tag count, its own length in its first four bytes) for the colour
 * space the file will hold: libpng refuses anything else, and a JPEG or
 * WebP reader would misread the pixels.
 */
static int check_icc(const struct encode_opts *o, unsigned channels,
		     const char *format, struct err *e)
{
	const unsigned char *p = o->icc;
	const char *want = channels == 1 ? "GRAY" : "RGB ";
	uint32_t len;

	if (p == NULL)
		return 0;
	if (o->icc_len < 132 || o->icc_len > UINT32_MAX)
		return err_set(e, ERR_INTERNAL, "%s: an ICC profile of %zu "
			       "bytes", format, o->icc_len);
	len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	      (uint32_t)p[2] << 8 | p[3];
	if (len != o->icc_len || memcmp(p + 36, "acsp", 4) != 0)
		return err_set(e, ERR_INTERNAL, "%s: not an ICC profile",
			       format);
	if (memcmp(p + 16, want, 4) != 0)
		return err_set(e, ERR_INTERNAL, "%s: an ICC profile for '%.4s' "
			       "on %s pixels", format, (const char *)p + 16,
			       channels == 1 ? "grey" : "RGB");
	return 0;
}

/* Takes out back to len bytes after a failure. */
static void buf_truncate(struct buf *b, size_t len)
{
	b->len = len;
	if (b->data != NULL)
		b->data[len] = '\0';
}

/* ---- JPEG ---- */

struct jpeg_fail {
	struct jpeg_error_mgr pub;
	jmp_buf jmp;
};

static void jpeg_fail_exit(j_common_ptr cinfo)
{
	longjmp(((struct jpeg_fail *)cinfo->err)->jmp, 1);
}

/* lib/ never prints: libjpeg's warnings go nowhere. */
static void jpeg_quiet(j_common_ptr cinfo, int level)
{
	(void)cinfo, (void)level;
}

/* The destination: out itself, grown as libjpeg fills it. */
struct jpeg_to_buf {
	struct jpeg_destination_mgr pub;
	struct buf *b;
};

/* Hands libjpeg the free room of the buffer (less its NUL byte). */
static void jpeg_room(j_compress_ptr cinfo)
{
	struct jpeg_to_buf *d = (struct jpeg_to_buf *)cinfo->dest;

	d->pub.next_output_byte = d->b->data + d->b->len;
	d->pub.free_in_buffer = d->b->cap - d->b->len - 1;
}

static void jpeg_dest_init(j_compress_ptr cinfo)
{
	struct jpeg_to_buf *d = (struct jpeg_to_buf *)cinfo->dest;

	if (buf_reserve(d->b, 16384) < 0)
		ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
	jpeg_room(cinfo);
}

static boolean jpeg_dest_full(j_compress_ptr cinfo)
{
	struct jpeg_to_buf *d = (struct jpeg_to_buf *)cinfo->dest;

	/* libjpeg filled all of the room it was given. */
	d->b->len = d->b->cap - 1;
	if (buf_reserve(d->b, d->b->cap) < 0)
		ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 1);
	jpeg_room(cinfo);
	return TRUE;
}

static void jpeg_dest_term(j_compress_ptr cinfo)
{
	struct jpeg_to_buf *d = (struct jpeg_to_buf *)cinfo->dest;

	buf_truncate(d->b, (size_t)(d->pub.next_output_byte - d->b->data));
}

/* Y's sampling factors (Cb and Cr stay 1x1). */
static void jpeg_sampling(struct jpeg_compress_struct *c,
			  const struct encode_opts *o)
{
	enum encode_sampling s = o->sampling;

	if (s == ENCODE_SAMPLING_AUTO)
		s = o->quality >= 90 ? ENCODE_SAMPLING_444 : ENCODE_SAMPLING_420;
	c->comp_info[0].h_samp_factor = s == ENCODE_SAMPLING_444 ? 1 : 2;
	c->comp_info[0].v_samp_factor = s == ENCODE_SAMPLING_420 ? 2 : 1;
	for (int i = 1; i < 3; i++)
		c->comp_info[i].h_samp_factor = c->comp_info[i].v_samp_factor = 1;
}

int encode_jpeg(const struct pixels *p, const struct encode_opts *o,
		struct buf *out, struct err *e)
{
	struct jpeg_compress_struct c;
	struct jpeg_fail fail;
	struct jpeg_to_buf dest;
	size_t start = out->len;

	if (check_pixels(p, "JPEG", JPEG_MAX_DIMENSION, e) < 0 ||
	    check_quality(o, "JPEG", e) < 0 ||
	    check_icc(o, p->channels, "JPEG", e) < 0)
		return -1;
	c.err = jpeg_std_error(&fail.pub);
	fail.pub.error_exit = jpeg_fail_exit;
	fail.pub.emit_message = jpeg_quiet;
	if (setjmp(fail.jmp)) {
		char msg[JMSG_LENGTH_MAX];
		int oom = fail.pub.msg_code == JERR_OUT_OF_MEMORY;

		fail.pub.format_message((j_common_ptr)&c, msg);
		jpeg_destroy_compress(&c);
		buf_truncate(out, start);
		return err_set(e, oom ? ERR_BUSY : ERR_INTERNAL, "JPEG: %s", msg);
	}
	jpeg_create_compress(&c);
	dest.pub.init_destination = jpeg_dest_init;
	dest.pub.empty_output_buffer = jpeg_dest_full;
	dest.pub.term_destination = jpeg_dest_term;
	dest.b = out;
	c.dest = &dest.pub;
	c.image_width = p->width;
	c.image_height = p->height;
	c.input_components = (int)p->channels;
	c.in_color_space = p->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_set_defaults(&c); /* JFIF, baseline, slow integer DCT */
	jpeg_set_quality(&c, (int)o->quality, TRUE);
	c.optimize_coding = TRUE; /* as ImageMagick: a few % smaller */
	if (p->channels == 3)
		jpeg_sampling(&c, o);
	jpeg_start_compress(&c, TRUE);
	if (o->icc != NULL)
		jpeg_write_icc_profile(&c, o->icc, (unsigned)o->icc_len);
	for (unsigned y = 0; y < p->height; y++) {
		/* libjpeg reads the row; its type is not const. */
		JSAMPROW row = (JSAMPROW)(p->data + y * p->stride);

		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	return 0;
}

/* ---- PNG ---- */

struct png_ctx {
	struct buf *b;
	int oom;
	char msg[128];
	jmp_buf jmp;
};

static void png_fail(png_structp png, png_const_charp msg)
{
	struct png_ctx *x = png_get_error_ptr(png);

	snprintf(x->msg, sizeof(x->msg), "%s", msg);
	longjmp(x->jmp, 1);
}

/* Kept for the message when libpng drops a chunk (a profile it will not
 * write) with a warning rather than an error. */
static void png_warn(png_structp png, png_const_charp msg)
{
	struct png_ctx *x = png_get_error_ptr(png);

	snprintf(x->msg, sizeof(x->msg), "%s", msg);
}

static void png_to_buf(png_structp png, png_bytep data, size_t len)
{
	struct png_ctx *x = png_get_io_ptr(png);

	if (buf_append(x->b, data, len) < 0) {
		x->oom = 1;
		png_error(png, "out of memory");
	}
}

static void png_flush_none(png_structp png)
{
	(void)png;
}

int encode_png(const struct pixels *p, const struct encode_opts *o,
	       struct buf *out, struct err *e)
{
	struct png_ctx x = { .b = out };
	png_structp png;
	png_infop info = NULL;
	size_t start = out->len;

	if (check_pixels(p, "PNG", PNG_UINT_31_MAX, e) < 0 ||
	    check_icc(o, p->channels, "PNG", e) < 0)
		return -1;
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &x, png_fail,
				      png_warn);
	if (png != NULL)
		info = png_create_info_struct(png);
	if (info == NULL) {
		png_destroy_write_struct(&png, NULL);
		return err_set(e, ERR_BUSY, "PNG: out of memory");
	}
	if (setjmp(x.jmp)) {
		png_destroy_write_struct(&png, &info);
		buf_truncate(out, start);
		return err_set(e, x.oom ? ERR_BUSY : ERR_INTERNAL, "PNG: %s",
			       x.msg);
	}
	png_set_write_fn(png, &x, png_to_buf, png_flush_none);
	png_set_IHDR(png, info, p->width, p->height, 8,
		     p->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE,
		     PNG_FILTER_TYPE_BASE);
	png_set_compression_level(png, 6);
	png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_ALL_FILTERS);
	if (o->icc != NULL) {
		png_set_iCCP(png, info, "ICC profile", PNG_COMPRESSION_TYPE_BASE,
			     o->icc, (png_uint_32)o->icc_len);
		if (!png_get_valid(png, info, PNG_INFO_iCCP))
			png_fail(png, x.msg[0] ? x.msg : "ICC profile refused");
	}
	png_write_info(png, info);
	for (unsigned y = 0; y < p->height; y++)
		png_write_row(png, p->data + y * p->stride);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return 0;
}

/* ---- WebP ---- */

static int webp_to_buf(const uint8_t *data, size_t len,
		       const WebPPicture *pic)
{
	return buf_append(pic->custom_ptr, data, len) == 0;
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/*
 * Appends the extended form of the simple (VP8 only) file f to out: a
 * VP8X chunk flagging the ICCP chunk that follows it, then f's image
 * chunk, as the container specification orders them.  libwebpmux does
 * the same; this saves a library for a dozen bytes of header.
 */
static int webp_with_icc(const struct buf *f, const struct pixels *p,
			 const struct encode_opts *o, struct buf *out)
{
	size_t pad = o->icc_len & 1;
	size_t riff = 4 + (8 + 10) + (8 + o->icc_len + pad) + (f->len - 12);
	unsigned char h[12 + 18 + 8];

	if (f->len < 12 || riff > UINT32_MAX)
		return -1;
	memcpy(h, "RIFF", 4);
	put_le(h + 4, (uint32_t)riff, 4);
	memcpy(h + 8, "WEBPVP8X", 8);
	put_le(h + 16, 10, 4);
	memset(h + 20, 0, 4);
	h[20] = 0x20; /* ICC profile */
	put_le(h + 24, p->width - 1, 3);
	put_le(h + 27, p->height - 1, 3);
	memcpy(h + 30, "ICCP", 4);
	put_le(h + 34, (uint32_t)o->icc_len, 4);
	if (buf_append(out, h, sizeof(h)) < 0 ||
	    buf_append(out, o->icc, o->icc_len) < 0 ||
	    buf_append(out, "", pad) < 0 ||
	    buf_append(out, f->data + 12, f->len - 12) < 0)
		return -1;
	return 0;
}

/* Grey as RGB, for WebPPictureImportRGB(). */
static unsigned char *grey_to_rgb(const struct pixels *p)
{
	unsigned char *rgb = malloc(pixels_bytes(p->width, p->height, 3));

	if (rgb == NULL)
		return NULL;
	for (unsigned y = 0; y < p->height; y++) {
		const unsigned char *g = p->data + y * p->stride;
		unsigned char *o = rgb + (size_t)y * p->width * 3;

		for (unsigned x = 0; x < p->width; x++, o += 3)
			o[0] = o[1] = o[2] = g[x];
	}
	return rgb;
}

int encode_webp(const struct pixels *p, const struct encode_opts *o,
		struct buf *out, struct err *e)
{
	WebPConfig config;
	WebPPicture pic;
	struct buf simple;
	struct buf *to = o->icc != NULL ? &simple : out;
	unsigned char *rgb = NULL;
	size_t start = out->len;
	int rc = -1;

	if (check_pixels(p, "WebP", WEBP_MAX_DIMENSION, e) < 0 ||
	    check_quality(o, "WebP", e) < 0 ||
	    check_icc(o, 3, "WebP", e) < 0)
		return -1;
	buf_init(&simple);
	if (!WebPConfigInit(&config) || !WebPPictureInit(&pic))
		return err_set(e, ERR_INTERNAL, "WebP: library version mismatch");
	config.quality = (float)o->quality;
	config.method = 4; /* sharp's effort 4 */
	/* Straight to YUV (use_argb 0): the lossy encoder's own input. */
	pic.use_argb = 0;
	pic.width = (int)p->width;
	pic.height = (int)p->height;
	pic.writer = webp_to_buf;
	pic.custom_ptr = to;
	if (p->channels == 1 && (rgb = grey_to_rgb(p)) == NULL) {
		err_set(e, ERR_BUSY, "WebP: out of memory");
		goto out;
	}
	if (!WebPPictureImportRGB(&pic, rgb ? rgb : p->data,
				  rgb ? (int)p->width * 3 : (int)p->stride)) {
		err_set(e, ERR_BUSY, "WebP: out of memory");
		goto out;
	}
	if (!WebPEncode(&config, &pic)) {
		err_set(e, pic.error_code == VP8_ENC_ERROR_OUT_OF_MEMORY ||
				   pic.error_code == VP8_ENC_ERROR_BAD_WRITE
			   ? ERR_BUSY : ERR_INTERNAL,
			"WebP: encoding failed (error %d)", (int)pic.error_code);
		goto out;
	}
	if (o->icc != NULL && webp_with_icc(&simple, p, o, out) < 0) {
		err_set(e, ERR_BUSY, "WebP: out of memory");
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		buf_truncate(out, start);
	WebPPictureFree(&pic);
	buf_release(&simple);
	free(rgb);
	return rc;
}
