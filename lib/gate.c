/* gate.c - the checks an original passes: strict header, decoder's
 * header, limits; and, to be kept, a decode to its end. */
#include "gate.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "conf.h"
#include "image.h"

void gate_limits_from_conf(struct gate_limits *l, const struct conf *c)
{
	l->max_pixels = (uint64_t)c->max_pixels;
	l->max_side = (unsigned)c->max_side;
	l->max_bytes = (size_t)c->max_source_bytes;
	l->max_frames = (unsigned)c->max_frames;
	l->timeout_ms = (unsigned)c->image_timeout * 1000u;
}

/* ---- JPEG: libjpeg-turbo ------------------------------------------------ */

/* Which of libjpeg's warnings refuse: in a header read, every one (the
 * decoder skipped bytes we did not read); in a decode, those that say
 * the data is cut short or corrupt. */
enum jpeg_strictness { JPEG_HEADER, JPEG_DECODE };

struct jpeg_guard {
	struct jpeg_error_mgr pub;
	jmp_buf jmp;
	enum jpeg_strictness strict;
	char msg[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr cinfo)
{
	struct jpeg_guard *g = (struct jpeg_guard *)cinfo->err;

	(*cinfo->err->format_message)(cinfo, g->msg);
	longjmp(g->jmp, 1);
}

static int jpeg_refusing(int code)
{
	return code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER ||
	       code == JWRN_HUFF_BAD_CODE || code == JWRN_ARITH_BAD_CODE ||
	       code == JWRN_MUST_RESYNC;
}

static void jpeg_message(j_common_ptr cinfo, int level)
{
	struct jpeg_guard *g = (struct jpeg_guard *)cinfo->err;

	if (level >= 0) /* trace messages */
		return;
	if (g->strict == JPEG_HEADER || jpeg_refusing(cinfo->err->msg_code))
		jpeg_fail(cinfo);
}

/*
 * Reads the header of data with libjpeg into *w x *h and, when decode,
 * decodes every scan at 1/8 scale.  Returns 0, or -1 with libjpeg's
 * message in msg.
 */
static int jpeg_run(const unsigned char *data, size_t len, int decode,
		    unsigned *w, unsigned *h, char *msg, size_t size)
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_guard g;
	JSAMPROW row = NULL;
	volatile int rc = -1;

	memset(&cinfo, 0, sizeof(cinfo));
	cinfo.err = jpeg_std_error(&g.pub);
	g.pub.error_exit = jpeg_fail;
	g.pub.emit_message = jpeg_message;
	g.strict = JPEG_HEADER;
	g.msg[0] = '\0';
	if (setjmp(g.jmp)) {
		snprintf(msg, size, "%s", g.msg);
		goto out;
	}
	jpeg_create_decompress(&cinfo);
	jpeg_mem_src(&cinfo, data, (unsigned long)len);
	if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
		snprintf(msg, size, "no image in the file");
		goto out;
	}
	*w = cinfo.image_width, *h = cinfo.image_height;
	if (decode) {
		g.strict = JPEG_DECODE;
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
	}
	rc = 0;
out:
	jpeg_destroy_decompress(&cinfo);
	return rc;
}

/* ---- PNG: libpng ----------------------------------------------------------- */

struct png_src {
	const unsigned char *data;
	size_t len, at;
	char msg[128];
};

static void png_fail(png_structp p, png_const_charp what)
{
	struct png_src *s = png_get_error_ptr(p);

	snprintf(s->msg, sizeof(s->msg), "%s", what);
	png_longjmp(p, 1);
}

static void png_quiet(png_structp p, png_const_charp what)
{
	(void)p, (void)what; /* benign: an ancillary chunk dropped */
}

static void png_from_memory(png_structp p, png_bytep out, png_size_t n)
{
	struct png_src *s = png_get_error_ptr(p);

	if (n > s->len - s->at)
		png_error(p, "file cut short");
	memcpy(out, s->data + s->at, n);
	s->at += n;
}

/* As jpeg_run(), with libpng: the header, and when decode every row of
 * every pass. */
static int png_run(const unsigned char *data, size_t len, int decode,
		   unsigned *w, unsigned *h, char *msg, size_t size)
{
	struct png_src src = { data, len, 0, "" };
	png_structp p;
	png_infop info = NULL;
	png_bytep volatile row = NULL;
	volatile int rc = -1;

	p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_fail,
				   png_quiet);
	if (p == NULL || (info = png_create_info_struct(p)) == NULL) {
		snprintf(msg, size, "out of memory");
		goto out;
	}
	if (setjmp(png_jmpbuf(p))) {
		snprintf(msg, size, "%s", src.msg);
		goto out;
	}
	png_set_read_fn(p, NULL, png_from_memory);
	png_read_info(p, info);
	*w = png_get_image_width(p, info), *h = png_get_image_height(p, info);
	if (decode) {
		int passes = png_set_interlace_handling(p);
		png_uint_32 rows = png_get_image_height(p, info);

		png_read_update_info(p, info);
		row = png_malloc(p, png_get_rowbytes(p, info));
		for (int pass = 0; pass < passes; pass++)
			for (png_uint_32 y = 0; y < rows; y++)
				png_read_row(p, row, NULL);
	}
	rc = 0;
out:
	if (row != NULL)
		png_free(p, row);
	png_destroy_read_struct(&p, &info, NULL);
	return rc;
}

/* ---- WebP: libwebp --------------------------------------------------------- */

/* Decodes one VP8/VP8L bitstream (or a still file) at about 1/8 scale. */
static int webp_decode(const uint8_t *data, size_t len, char *msg, size_t size)
{
	WebPDecoderConfig cfg;
	VP8StatusCode st;

	if (!WebPInitDecoderConfig(&cfg) ||
	    WebPGetFeatures(data, len, &cfg.input) != VP8_STATUS_OK) {
		snprintf(msg, size, "unreadable frame header");
		return -1;
	}
	cfg.options.use_scaling = 1;
	cfg.options.scaled_width = cfg.input.width >= 8 ? cfg.input.width / 8 : 1;
	cfg.options.scaled_height = cfg.input.height >= 8 ? cfg.input.height / 8 : 1;
	cfg.options.bypass_filtering = 1;
	cfg.output.colorspace = MODE_RGBA;
	st = WebPDecode(data, len, &cfg);
	WebPFreeDecBuffer(&cfg.output);
	if (st != VP8_STATUS_OK) {
		snprintf(msg, size, "%s", st == VP8_STATUS_NOT_ENOUGH_DATA
					     ? "file cut short"
					     : "corrupt bitstream");
		return -1;
	}
	return 0;
}

/* As jpeg_run(), with libwebp: the features (an animation's canvas, all of
 * its frames within it) and when decode the first frame. */
static int webp_run(const unsigned char *data, size_t len, int decode,
		    unsigned *w, unsigned *h, char *msg, size_t size)
{
	WebPBitstreamFeatures f;
	WebPData wd = { data, len };
	WebPDemuxer *dmx;
	WebPIterator it;
	int rc;

	if (WebPGetFeatures(data, len, &f) != VP8_STATUS_OK) {
		snprintf(msg, size, "unreadable header");
		return -1;
	}
	*w = (unsigned)f.width, *h = (unsigned)f.height;
	if (!f.has_animation)
		return decode ? webp_decode(data, len, msg, size) : 0;
	/* The demuxer refuses frames outside the canvas, and a cut file. */
	dmx = WebPDemux(&wd);
	if (dmx == NULL) {
		snprintf(msg, size, "malformed animation");
		return -1;
	}
	*w = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_WIDTH);
	*h = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_HEIGHT);
	rc = 0;
	if (decode) {
		if (!WebPDemuxGetFrame(dmx, 1, &it)) {
			snprintf(msg, size, "animation without frames");
			rc = -1;
		} else {
			rc = webp_decode(it.fragment.bytes, it.fragment.size, msg,
					 size);
			WebPDemuxReleaseIterator(&it);
		}
	}
	WebPDemuxDelete(dmx);
	return rc;
}

/* ---- the gate ---------------------------------------------------------------- */

/* Runs format f's decoder on data: header, and when decode the rest. */
static int decoder_run(enum sniff_format f, const unsigned char *data,
		       size_t len, int decode, unsigned *w, unsigned *h,
		       char *msg, size_t size)
{
	switch (f) {
	case SNIFF_JPEG: return jpeg_run(data, len, decode, w, h, msg, size);
	case SNIFF_PNG: return png_run(data, len, decode, w, h, msg, size);
	case SNIFF_WEBP: return webp_run(data, len, decode, w, h, msg, size);
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
	char msg[JMSG_LENGTH_MAX];

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
	char msg[JMSG_LENGTH_MAX];
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
	char msg[JMSG_LENGTH_MAX];
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
