/* test_jpegprog.c - the DC-scans-only decoder against libjpeg-turbo's own
 * 1/8 decode, on progressive files libjpeg writes here with several scan
 * scripts, restart intervals, subsamplings; and the files it declines. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

#include "jpegprog.h"
#include "test.h"

static unsigned hsf, vsf; /* what jpegprog_decode() says of the sampling */

/* A test picture as photographs are: busy in brightness (every 8x8 block
 * differs), smooth in colour (chroma detail is what subsampling drops, and
 * what libjpeg's 1/8 decode keeps a little more of, from three AC
 * coefficients this decoder does not read). */
static unsigned char *picture(unsigned w, unsigned h, int comps)
{
	unsigned char *p = malloc((size_t)w * h * (unsigned)comps);

	for (unsigned y = 0; y < h; y++)
		for (unsigned x = 0; x < w; x++)
			for (int c = 0; c < comps; c++) {
				double v = 128 + 60 * sin(x * 0.031 + y * 0.017) *
						     cos(y * 0.023) +
					   40 * sin(x * 0.004 * (c + 1) + y * 0.003 * (c + 2));
				p[((size_t)y * w + x) * comps + c] = (unsigned char)v;
			}
	return p;
}

enum script { SIMPLE, DC_PER_COMPONENT, DC_ONLY_FIRST };

/* Writes a progressive JPEG; the caller frees it with free(). */
static unsigned char *write_jpeg(unsigned w, unsigned h, int comps, int h_samp,
				 int v_samp, unsigned restart, enum script sc,
				 unsigned long *len)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr err;
	unsigned char *src = picture(w, h, comps), *out = NULL;
	static jpeg_scan_info scans[16];
	int n = 0;

	c.err = jpeg_std_error(&err);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &out, len);
	c.image_width = w, c.image_height = h;
	c.input_components = comps;
	c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 85, TRUE);
	if (comps == 3) {
		c.comp_info[0].h_samp_factor = h_samp;
		c.comp_info[0].v_samp_factor = v_samp;
	}
	c.restart_interval = restart;
	if (sc == SIMPLE) {
		jpeg_simple_progression(&c);
	} else {
		/* The DC of each component in a scan of its own, at 2 bits
		 * less, then two refinements of all components together,
		 * with AC scans between them. */
		for (int k = 0; k < comps; k++)
			scans[n++] = (jpeg_scan_info){ 1, { k }, 0, 0, 0, 2 };
		for (int k = 0; k < comps; k++)
			scans[n++] = (jpeg_scan_info){ 1, { k }, 1, 63, 0, 0 };
		if (sc == DC_PER_COMPONENT) {
			scans[n] = (jpeg_scan_info){ comps, { 0, 1, 2 }, 0, 0, 2, 1 };
			n++;
			scans[n] = (jpeg_scan_info){ comps, { 0, 1, 2 }, 0, 0, 1, 0 };
			n++;
		}
		c.scan_info = scans;
		c.num_scans = n;
	}
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < h) {
		JSAMPROW row = src + (size_t)c.next_scanline * w * (unsigned)comps;
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	free(src);
	return out;
}

/* libjpeg's own 1/8 decode, as reference. */
static unsigned char *libjpeg_eighth(const unsigned char *d, unsigned long len,
				     unsigned *w, unsigned *h, int *ch)
{
	struct jpeg_decompress_struct c;
	struct jpeg_error_mgr err;
	unsigned char *out;

	c.err = jpeg_std_error(&err);
	jpeg_create_decompress(&c);
	jpeg_mem_src(&c, d, len);
	jpeg_read_header(&c, TRUE);
	c.scale_num = 1, c.scale_denom = 8;
	c.out_color_space = c.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_start_decompress(&c);
	*w = c.output_width, *h = c.output_height, *ch = c.output_components;
	out = malloc((size_t)*w * *h * (unsigned)*ch);
	while (c.output_scanline < c.output_height) {
		JSAMPROW row = out + (size_t)c.output_scanline * *w * (unsigned)*ch;
		jpeg_read_scanlines(&c, &row, 1);
	}
	jpeg_finish_decompress(&c);
	jpeg_destroy_decompress(&c);
	return out;
}

static double psnr(const unsigned char *a, const struct pixels *p, unsigned w,
		   unsigned h, int ch, int *maxdiff)
{
	double se = 0;

	*maxdiff = 0;
	for (unsigned y = 0; y < h; y++)
		for (unsigned i = 0; i < w * (unsigned)ch; i++) {
			int d = (int)a[(size_t)y * w * ch + i] - (int)p->data[y * p->stride + i];
			se += (double)d * d;
			if (abs(d) > *maxdiff)
				*maxdiff = abs(d);
		}
	if (se == 0)
		return 99;
	return 10 * log10(255.0 * 255.0 / (se / ((double)w * h * ch)));
}

/* Decodes one written file both ways and compares: exact (grey, 4:4:4
 * luma paths), or PSNR >= 35 dB, or (exact < 0) declined. */
static void compare(const char *what, unsigned w, unsigned h, int comps, int hs,
		    int vs, unsigned restart, enum script sc, int exact)
{
	unsigned long len = 0;
	unsigned char *d = write_jpeg(w, h, comps, hs, vs, restart, sc, &len);
	unsigned rw, rh;
	int ch, maxdiff = 0, rc;
	unsigned char *ref = libjpeg_eighth(d, len, &rw, &rh, &ch);
	struct pixels p;
	struct err e;

	pixels_init(&p);
	CHECK(jpegprog_is_progressive(d, len), "%s: not seen as progressive", what);
	rc = jpegprog_decode(d, len, NULL, NULL, &p, &hsf, &vsf, &e);
	if (exact < 0) {
		CHECK(rc == 1, "%s: rc %d, not declined", what, rc);
		rc = -2;
	} else {
		CHECK(rc == 0, "%s: rc %d %s", what, rc, rc < 0 ? e.msg : "declined");
	}
	if (rc == 0) {
		double q;

		CHECK(p.width == rw && p.height == rh && (int)p.channels == ch,
		      "%s: %ux%ux%u, libjpeg %ux%ux%d", what, p.width, p.height,
		      p.channels, rw, rh, ch);
		q = psnr(ref, &p, rw, rh, ch, &maxdiff);
		if (exact)
			CHECK(maxdiff == 0, "%s: differs from libjpeg by up to %d", what,
			      maxdiff);
		else
			CHECK(q >= 35.0, "%s: PSNR %.1f dB against libjpeg", what, q);
	}
	/* Cut short in its first scan: declined, for libjpeg to judge. */
	pixels_release(&p);
	rc = jpegprog_decode(d, len / 20 > 700 ? len / 20 : 700, NULL, NULL, &p, &hsf, &vsf, &e);
	CHECK(rc == 1, "%s cut short: rc %d", what, rc);
	pixels_release(&p);
	free(ref);
	free(d);
}

static int stop_now(void *arg)
{
	(void)arg;
	return 1;
}

int main(void)
{
	struct pixels p;
	struct err e;

	compare("grey, simple progression", 1203, 777, 1, 1, 1, 0, SIMPLE, 1);
	compare("grey, DC per component and refinements", 640, 480, 1, 1, 1, 0,
		DC_PER_COMPONENT, 1);
	compare("grey, restart every 5 MCUs", 801, 403, 1, 1, 1, 5, DC_PER_COMPONENT, 1);
	compare("4:4:4, simple progression", 960, 640, 3, 1, 1, 0, SIMPLE, 0);
	compare("4:2:0, simple progression", 1603, 1197, 3, 2, 2, 0, SIMPLE, 0);
	compare("4:2:2, simple progression", 1000, 700, 3, 2, 1, 0, SIMPLE, 0);
	compare("4:2:0, DC per component, refinements", 1024, 768, 3, 2, 2, 0,
		DC_PER_COMPONENT, 0);
	compare("4:2:0, restart every 7 MCUs", 1111, 999, 3, 2, 2, 7, SIMPLE, 0);
	/* DC at 2 bits less, never refined: a file libjpeg reads with a
	 * warning; left to it. */
	compare("4:2:0, one 2-bit DC scan, no refinement", 500, 300, 3, 2, 2, 0,
		DC_ONLY_FIRST, -1);

	/* Whatever is not progressive is declined. */
	{
		struct jpeg_compress_struct c;
		struct jpeg_error_mgr err;
		unsigned char *out = NULL, row[96 * 3] = { 0 };
		unsigned long len = 0;

		c.err = jpeg_std_error(&err);
		jpeg_create_compress(&c);
		jpeg_mem_dest(&c, &out, &len);
		c.image_width = 96, c.image_height = 64, c.input_components = 3;
		c.in_color_space = JCS_RGB;
		jpeg_set_defaults(&c);
		jpeg_start_compress(&c, TRUE);
		while (c.next_scanline < 64) {
			JSAMPROW r = row;
			jpeg_write_scanlines(&c, &r, 1);
		}
		jpeg_finish_compress(&c);
		jpeg_destroy_compress(&c);
		pixels_init(&p);
		CHECK(!jpegprog_is_progressive(out, len));
		CHECK_INT(jpegprog_decode(out, len, NULL, NULL, &p, &hsf, &vsf, &e), 1);
		free(out);
	}
	/* Garbage, and nothing at all: declined, never read past the end. */
	{
		unsigned char junk[64];
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)(i * 37);
		junk[0] = 0xFF, junk[1] = 0xD8;
		CHECK_INT(jpegprog_decode(junk, sizeof(junk), NULL, NULL, &p, &hsf, &vsf, &e), 1);
		CHECK_INT(jpegprog_decode(junk, 2, NULL, NULL, &p, &hsf, &vsf, &e), 1);
	}
	/* A stop asked for between scans is honoured. */
	{
		unsigned long len = 0;
		unsigned char *d = write_jpeg(400, 300, 3, 2, 2, 0, DC_PER_COMPONENT, &len);
		CHECK_INT(jpegprog_decode(d, len, stop_now, NULL, &p, &hsf, &vsf, &e), -1);
		CHECK(e.code == ERR_UNPROCESSABLE, "%s", err_name(e.code));
		free(d);
	}
	return TEST_END("jpegprog");
}
