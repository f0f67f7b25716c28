/*
 * fuzz_decode.c - libFuzzer target for the decoders of decode.h: jpegdc,
 * jpegprog (a progressive JPEG's DC scans), and our glue around
 * libjpeg-turbo, libpng (the box shrink as rows arrive) and libwebp.
 *
 * The first two input bytes choose the size asked for (so that the 1/8
 * paths and the full-size ones are both taken); the rest is an original,
 * first through the gate's cheap checks as in the responder.  What must
 * hold: no crash and no read outside the input (ASan); a decode that
 * succeeds gives 1 to 4 channels (4 only as RGBA or CMYK), a size no
 * larger than the original's and at least the size asked for where the
 * decoder shrinks on load; and a grey progressive JPEG at 1/8 has the
 * very pixels libjpeg-turbo gives it (luma from the DC alone is exact),
 * when the file carries every coefficient (else libjpeg smooths); and a
 * PNG has the very pixels libpng's own row-by-row decode gives it
 * (dec_png_decode_libpng; the fast way inflates with libdeflate and
 * unfilters rows itself), unless libpng refuses the file and so does the
 * gate's check (dec_png_check: libdeflate takes a few malformed deflate
 * codes zlib refuses).  fuzz_png.c goes further into PNG alone.
 * A violation abort()s.
 *
 * Build: see tests/fuzz/run.sh.
 */
#include "dec_png.h"
#include "decode.h"
#include "gate.h"
#include "jpegprog.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* gate.c's GIF decode check; GIF is not decoded here. */
int image_decode_check(const unsigned char *data, size_t len,
		       const struct sniff_info *info, struct err *e)
{
	(void)data, (void)len, (void)info;
	return err_set(e, ERR_INTERNAL, "not in the fuzz target");
}

_Noreturn static void fail(const char *what, size_t size)
{
	fprintf(stderr, "fuzz_decode: invariant violated: %s (%zu bytes)\n", what,
		size);
	abort();
}

static struct jpeg_error_mgr jerr;
static jmp_buf jmp;
static void jexit(j_common_ptr c)
{
	(void)c;
	longjmp(jmp, 1);
}
static void jquiet(j_common_ptr c, int level)
{
	if (level < 0) /* a warning: libjpeg repaired something */
		longjmp(jmp, 1);
	(void)c;
}

/* libjpeg's own 1/8 decode of a grey file, or NULL if it complains. */
static unsigned char *libjpeg_grey_eighth(const unsigned char *d, size_t len,
					  unsigned *w, unsigned *h)
{
	struct jpeg_decompress_struct c;
	unsigned char *volatile out = NULL;

	c.err = jpeg_std_error(&jerr);
	jerr.error_exit = jexit;
	jerr.emit_message = jquiet;
	if (setjmp(jmp)) {
		free(out);
		jpeg_destroy_decompress(&c);
		return NULL;
	}
	jpeg_create_decompress(&c);
	jpeg_mem_src(&c, d, (unsigned long)len);
	jpeg_read_header(&c, TRUE);
	if (c.num_components != 1) {
		jpeg_destroy_decompress(&c);
		return NULL;
	}
	c.scale_num = 1, c.scale_denom = 8;
	jpeg_start_decompress(&c);
	/* A progressive file whose AC coefficients never all came (no AC
	 * scans, or some missing): libjpeg-turbo then smooths its blocks,
	 * DC too, from their neighbours; the comparison holds for the files
	 * that carry the whole image, as real ones do. */
	for (int k = 0; k < DCTSIZE2; k++)
		if (c.coef_bits == NULL || c.coef_bits[0][k] != 0) {
			jpeg_destroy_decompress(&c);
			return NULL;
		}
	*w = c.output_width, *h = c.output_height;
	out = malloc((size_t)*w * *h);
	while (c.output_scanline < c.output_height) {
		JSAMPROW row = out + (size_t)c.output_scanline * *w;
		jpeg_read_scanlines(&c, &row, 1);
	}
	jpeg_finish_decompress(&c);
	jpeg_destroy_decompress(&c);
	return out;
}

/* d, decode_image()'s PNG, is libpng's own decode of it. */
static void same_as_libpng(const unsigned char *img, size_t len,
			   unsigned need_w, unsigned need_h,
			   const struct decoded *d, size_t size)
{
	struct decoded l;
	struct err e;
	char msg[200];

	decoded_init(&l);
	if (dec_png_decode_libpng(img, len, need_w, need_h, NULL, NULL, &l, &e) < 0) {
		if (dec_png_check(img, len, msg, sizeof(msg)) == 0)
			fail("png: decoded, refused by libpng, passed by the gate", size);
		return;
	}
	if (l.px.width != d->px.width || l.px.height != d->px.height ||
	    l.px.channels != d->px.channels || l.icc_len != d->icc_len)
		fail("png: another size than libpng's", size);
	for (unsigned y = 0; y < l.px.height; y++)
		if (memcmp(l.px.data + y * l.px.stride, d->px.data + y * d->px.stride,
			   (size_t)l.px.width * l.px.channels) != 0)
			fail("png: other pixels than libpng's", size);
	decoded_release(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct gate_limits limits = { 4000000, 4096, 1 << 20, 100, 0 };
	struct sniff_info si;
	struct decoded d;
	unsigned char *img;
	unsigned need_w, need_h;
	struct err e;

	if (size < 3)
		return 0;
	need_w = 1 + data[0] % 64 * 8, need_h = 1 + data[1] % 64 * 8;
	img = malloc(size - 2);
	if (img == NULL)
		return 0;
	memcpy(img, data + 2, size - 2);
	if (gate_check(img, size - 2, &limits, &si, &e) == 0 && decode_handles(&si) &&
	    decode_image(img, size - 2, &si, need_w, need_h, NULL, NULL, &d, &e) == 0) {
		const struct pixels *p = &d.px;

		if (p->channels < 1 || p->channels > 4 || (p->cmyk && p->channels != 4))
			fail("channels", size);
		if (p->width == 0 || p->height == 0 || p->width > si.width ||
		    p->height > si.height)
			fail("a size over the original's", size);
		if (si.format != SNIFF_PNG &&
		    (p->width < (need_w < si.width ? need_w : si.width) / 8 ||
		     p->height < (need_h < si.height ? need_h : si.height) / 8))
			fail("a size under the one asked for", size);
		if (si.format == SNIFF_JPEG && p->channels == 1 &&
		    jpegprog_is_progressive(img, size - 2) &&
		    strcmp(d.how, "jpegprog") == 0) {
			unsigned w, h;
			unsigned char *ref = libjpeg_grey_eighth(img, size - 2, &w, &h);

			if (ref != NULL) {
				if (w != p->width || h != p->height)
					fail("grey progressive: another size than libjpeg's", size);
				for (unsigned y = 0; y < h; y++)
					if (memcmp(ref + (size_t)y * w, p->data + y * p->stride, w))
						fail("grey progressive: other pixels than libjpeg's", size);
				free(ref);
			}
		}
		if (si.format == SNIFF_PNG)
			same_as_libpng(img, size - 2, need_w, need_h, &d, size);
		decoded_release(&d);
	}
	free(img);
	return 0;
}
