/* dec_jpeg.c - JPEG headers, checks and DCT-scaled decodes, libjpeg-turbo. */
#include "dec_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#define ROWS_PER_STOP 32 /* rows decoded between two asks of stop() */

/* How strictly libjpeg's warnings are taken (dec_jpeg.h). */
enum strictness { STRICT_HEADER, STRICT_DECODE };

struct guard {
	struct jpeg_error_mgr pub;
	jmp_buf jmp;
	enum strictness strict;
	char msg[JMSG_LENGTH_MAX];
};

static void guard_fail(j_common_ptr cinfo)
{
	struct guard *g = (struct guard *)cinfo->err;

	(*cinfo->err->format_message)(cinfo, g->msg);
	longjmp(g->jmp, 1);
}

static int refusing(int code)
{
	return code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER ||
	       code == JWRN_HUFF_BAD_CODE || code == JWRN_ARITH_BAD_CODE ||
	       code == JWRN_MUST_RESYNC;
}

static void guard_message(j_common_ptr cinfo, int level)
{
	struct guard *g = (struct guard *)cinfo->err;

	if (level >= 0) /* trace messages */
		return;
	if (g->strict == STRICT_HEADER || refusing(cinfo->err->msg_code))
		guard_fail(cinfo);
}

/* Sets up cinfo to read data under g's error handling; call after
 * setjmp(g->jmp). */
static void open_decompress(struct jpeg_decompress_struct *cinfo,
			    struct guard *g, enum strictness strict,
			    const unsigned char *data, size_t len)
{
	cinfo->err = jpeg_std_error(&g->pub);
	g->pub.error_exit = guard_fail;
	g->pub.emit_message = guard_message;
	g->strict = strict;
	g->msg[0] = '\0';
	jpeg_create_decompress(cinfo);
	jpeg_mem_src(cinfo, data, (unsigned long)len);
}

int dec_jpeg_header(const unsigned char *data, size_t len, unsigned *w,
		    unsigned *h, char *msg, size_t size)
{
	struct jpeg_decompress_struct cinfo;
	struct guard g;
	volatile int rc = -1;

	memset(&cinfo, 0, sizeof(cinfo));
	if (setjmp(g.jmp)) {
		snprintf(msg, size, "%s", g.msg);
		goto out;
	}
	open_decompress(&cinfo, &g, STRICT_HEADER, data, len);
	if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
		snprintf(msg, size, "no image in the file");
		goto out;
	}
	*w = cinfo.image_width, *h = cinfo.image_height;
	rc = 0;
out:
	jpeg_destroy_decompress(&cinfo);
	return rc;
}

int dec_jpeg_check(const unsigned char *data, size_t len, char *msg,
		   size_t size)
{
	struct jpeg_decompress_struct cinfo;
	struct guard g;
	JSAMPROW row;
	volatile int rc = -1;

	memset(&cinfo, 0, sizeof(cinfo));
	if (setjmp(g.jmp)) {
		snprintf(msg, size, "%s", g.msg);
		goto out;
	}
	open_decompress(&cinfo, &g, STRICT_DECODE, data, len);
	if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
		snprintf(msg, size, "no image in the file");
		goto out;
	}
	cinfo.scale_num = 1, cinfo.scale_denom = 8;
	cinfo.dct_method = JDCT_IFAST;
	cinfo.do_fancy_upsampling = FALSE;
	jpeg_start_decompress(&cinfo);
	row = (*cinfo.mem->alloc_small)((j_common_ptr)&cinfo, JPOOL_IMAGE,
					(size_t)cinfo.output_width *
						(size_t)cinfo.output_components);
	while (cinfo.output_scanline < cinfo.output_height)
		(void)jpeg_read_scanlines(&cinfo, &row, 1);
	jpeg_finish_decompress(&cinfo);
	rc = 0;
out:
	jpeg_destroy_decompress(&cinfo);
	return rc;
}

static unsigned scaled_up(unsigned v, unsigned n)
{
	return (unsigned)(((unsigned long long)v * n + 7) / 8);
}

unsigned dec_jpeg_scale(unsigned w, unsigned h, unsigned need_w,
			unsigned need_h)
{
	/* 8x or more: 1/8, each pixel the mean of a block, a fair box
	 * filter before the resize. */
	if (scaled_up(w, 1) >= need_w && scaled_up(h, 1) >= need_h)
		return 1;
	/* Else 2/8 or 4/8, libjpeg-turbo's SIMD scales, when they leave the
	 * resize 1.5x or more to do; else the smallest scale that leaves it
	 * 2x.  Left less, the 2x2 IDCT (2/8) aliases: Dune.jpg to w400 at
	 * 2/8 (1.05x left) is 31 dB against a Lanczos reference, at 4/8
	 * (2.1x) 44; a phone photo to w400 at 2/8 (1.9x left) is 50 dB, and
	 * decodes in two thirds of the time of 3/8, the 3x3 IDCT being
	 * scalar. */
	for (unsigned n = 2; n <= 4; n += 2)
		if (2 * scaled_up(w, n) >= 3 * need_w && 2 * scaled_up(h, n) >= 3 * need_h)
			return n;
	for (unsigned n = 2; n < 8; n++)
		if (scaled_up(w, n) >= 2 * need_w && scaled_up(h, n) >= 2 * need_h)
			return n;
	return 8;
}

/* The pixels' channels for libjpeg's colour space, and what it outputs. */
static unsigned out_space(struct jpeg_decompress_struct *cinfo)
{
	switch (cinfo->jpeg_color_space) {
	case JCS_GRAYSCALE:
		cinfo->out_color_space = JCS_GRAYSCALE;
		return 1;
	case JCS_CMYK:
	case JCS_YCCK:
		cinfo->out_color_space = JCS_CMYK;
		return 4;
	default:
		cinfo->out_color_space = JCS_RGB;
		return 3;
	}
}

/* The profile libjpeg-turbo joined from the saved APP2 markers. */
static void take_icc(struct jpeg_decompress_struct *cinfo, struct decoded *out)
{
	JOCTET *icc = NULL;
	unsigned int len = 0;

	if (jpeg_read_icc_profile(cinfo, &icc, &len) && icc != NULL && len > 0) {
		out->icc = icc; /* malloc'd by libjpeg-turbo: ours to free() */
		out->icc_len = len;
	} else {
		free(icc);
	}
}

int dec_jpeg_decode(const unsigned char *data, size_t len, unsigned need_w,
		    unsigned need_h, int (*stop)(void *arg), void *arg,
		    struct decoded *out, struct err *e)
{
	struct jpeg_decompress_struct cinfo;
	struct guard g;
	struct decoded *volatile o = out;
	volatile int rc = -1;
	unsigned channels;

	memset(&cinfo, 0, sizeof(cinfo));
	if (setjmp(g.jmp)) {
		err_set(e, ERR_UNPROCESSABLE, "original cannot be decoded: %s",
			g.msg);
		decoded_release(o);
		goto out;
	}
	open_decompress(&cinfo, &g, STRICT_DECODE, data, len);
	jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 0xFFFF);
	if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
		err_set(e, ERR_UNPROCESSABLE, "original cannot be decoded: no image");
		goto out;
	}
	take_icc(&cinfo, out);
	channels = out_space(&cinfo);
	out->cmyk_inverted = channels == 4 && cinfo.saw_Adobe_marker;
	if (channels == 3) {
		out->jpeg_h = (unsigned)cinfo.comp_info[0].h_samp_factor;
		out->jpeg_v = (unsigned)cinfo.comp_info[0].v_samp_factor;
	}
	cinfo.scale_num = dec_jpeg_scale(cinfo.image_width, cinfo.image_height,
					 need_w, need_h);
	cinfo.scale_denom = 8;
	jpeg_start_decompress(&cinfo);
	if (pixels_alloc(&out->px, cinfo.output_width, cinfo.output_height,
			 channels, e) < 0) {
		decoded_release(out);
		goto out;
	}
	out->px.cmyk = channels == 4;
	out->ext_w = cinfo.image_width * (double)cinfo.scale_num / 8;
	out->ext_h = cinfo.image_height * (double)cinfo.scale_num / 8;
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW row = out->px.data + cinfo.output_scanline * out->px.stride;

		(void)jpeg_read_scanlines(&cinfo, &row, 1);
		if (stop != NULL && cinfo.output_scanline % ROWS_PER_STOP == 0 &&
		    stop(arg)) {
			err_set(e, ERR_UNPROCESSABLE, "decode stopped: over time");
			decoded_release(out);
			goto out;
		}
	}
	jpeg_finish_decompress(&cinfo);
	out->how = cinfo.progressive_mode ? "libjpeg-progressive" : "libjpeg";
	rc = 0;
out:
	jpeg_destroy_decompress(&cinfo);
	return rc;
}

size_t dec_jpeg_estimate(const unsigned char *data, size_t len,
			 unsigned need_w, unsigned need_h)
{
	struct jpeg_decompress_struct cinfo;
	struct guard g;
	volatile size_t bytes = 0;
	unsigned n, w, h;
	size_t blocks;

	memset(&cinfo, 0, sizeof(cinfo));
	if (setjmp(g.jmp))
		goto out;
	open_decompress(&cinfo, &g, STRICT_DECODE, data, len);
	if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK)
		goto out;
	w = cinfo.image_width, h = cinfo.image_height;
	n = dec_jpeg_scale(w, h, need_w, need_h);
	/* The output, 4 bytes a pixel at most, and a few rows of buffers. */
	bytes = pixels_bytes(scaled_up(w, n), scaled_up(h, n), 4) +
		(size_t)scaled_up(w, n) * 4 * 64;
	/* A progressive file holds every coefficient of the image: 64 of 2
	 * bytes per 8x8 block of each component (at most 3 full planes). */
	blocks = ((size_t)w + 7) / 8 * (((size_t)h + 7) / 8);
	if (cinfo.progressive_mode)
		bytes += blocks * 128 * (size_t)(cinfo.num_components > 3
							 ? cinfo.num_components
							 : 3);
out:
	jpeg_destroy_decompress(&cinfo);
	return bytes;
}

static unsigned be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

int dec_jpeg_markers(const unsigned char *data, size_t len,
		     struct decoded *out, struct err *e)
{
	/* Up to 255 segments, each with its sequence number and count. */
	const unsigned char *seg[256] = { 0 };
	size_t seglen[256] = { 0 }, total = 0, at = 2;
	unsigned count = 0;

	while (at + 4 <= len && data[at] == 0xFF) {
		unsigned marker = data[at + 1], n;

		if (marker == 0xFF) {
			at++;
			continue;
		}
		if (marker == 0xDA || marker == 0xD9)
			break;
		n = be16(data + at + 2);
		if (n < 2 || at + 2 + n > len)
			break;
		if (marker == 0xEE && n >= 7 && memcmp(data + at + 4, "Adobe", 5) == 0)
			out->cmyk_inverted = 1;
		if (marker == 0xE2 && n >= 16 &&
		    memcmp(data + at + 4, "ICC_PROFILE\0", 12) == 0) {
			unsigned seq = data[at + 16], cnt = data[at + 17];

			if (seq >= 1 && cnt >= 1 && seq <= cnt &&
			    (count == 0 || count == cnt) && seg[seq] == NULL) {
				count = cnt;
				seg[seq] = data + at + 18;
				seglen[seq] = n - 16;
				total += n - 16;
			}
		}
		at += 2 + n;
	}
	for (unsigned i = 1; i <= count; i++)
		if (seg[i] == NULL)
			return 0; /* a profile with holes: none */
	if (total == 0)
		return 0;
	out->icc = malloc(total);
	if (out->icc == NULL)
		return err_set(e, ERR_BUSY, "out of memory");
	out->icc_len = 0;
	for (unsigned i = 1; i <= count; i++) {
		memcpy(out->icc + out->icc_len, seg[i], seglen[i]);
		out->icc_len += seglen[i];
	}
	return 0;
}
