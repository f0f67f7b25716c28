/*
 * test_jpegdc.c - jpegdc against libjpeg-turbo's own 1/8 and 2/8 scaling.
 *
 * JPEGs are made here with libjpeg (greyscale, 4:4:4, 4:2:2, 4:2:0, 4:4:0;
 * odd sizes and files over jpegdc's 64 KB chunk; restart markers; standard
 * and optimised Huffman tables; low and high quality), then corrupted byte
 * by byte.  Whenever jpegdc answers, its pixels must be libjpeg's, bit for
 * bit, and libjpeg must not have had to make up data; what it declines
 * must be what it does not take.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jerror.h>
#include <jpeglib.h>

#include "jpegdc.h"
#include "jpegdc_int.h"
#include "test.h"

enum layout { GREY, YCC444, YCC420, YCC422, YCC440, YCC411, CMYK };

/* The scale under test: 1 or 2 (eighths). */
static unsigned scale = 1;

/* True for a layout jpegdc takes at the scale under test (at 2/8, the
 * scans split between two threads: the tests split every one they can,
 * those without restart markers). */
static int taken(enum layout l, int restart)
{
	if (l == YCC411 || l == CMYK)
		return 0;
	return scale == 1 || (l != YCC422 && l != YCC440 && restart == 0);
}

struct spec {
	unsigned w, h;
	enum layout layout;
	int quality, restart, optimize, progressive, arith;
	unsigned seed;
};

static uint32_t rnd(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

/* Makes a JPEG of gradients, edges and grain; free() the result. */
static unsigned char *make_jpeg(const struct spec *sp, size_t *len)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned char *out = NULL;
	unsigned long size = 0;
	int comps = sp->layout == GREY ? 1 : sp->layout == CMYK ? 4 : 3;
	unsigned char *row = malloc((size_t)sp->w * comps);
	uint32_t s = sp->seed;

	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &out, &size);
	c.image_width = sp->w;
	c.image_height = sp->h;
	c.input_components = comps;
	c.in_color_space = sp->layout == GREY ? JCS_GRAYSCALE
			   : sp->layout == CMYK ? JCS_CMYK
						: JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, sp->quality, TRUE);
	if (comps == 3) {
		/* luma's sampling factors; chroma's stay 1x1 */
		static const int h[] = { [YCC444] = 1, [YCC420] = 2, [YCC422] = 2,
					 [YCC440] = 1, [YCC411] = 4 };
		static const int v[] = { [YCC444] = 1, [YCC420] = 2, [YCC422] = 1,
					 [YCC440] = 2, [YCC411] = 1 };

		c.comp_info[0].h_samp_factor = h[sp->layout];
		c.comp_info[0].v_samp_factor = v[sp->layout];
	}
	c.restart_interval = (unsigned)sp->restart;
	c.optimize_coding = sp->optimize;
	c.arith_code = sp->arith;
	if (sp->progressive)
		jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		unsigned y = c.next_scanline;

		for (unsigned x = 0; x < sp->w; x++)
			for (int k = 0; k < comps; k++) {
				int v = (int)((x * (3 + k) + y * (5 - k)) % 256);

				if ((x / 37 + y / 23) % 2)
					v = 255 - v;
				v += (int)(rnd(&s) % 61) - 30;
				row[(size_t)x * comps + k] =
					(unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
			}
		JSAMPROW r = row;
		jpeg_write_scanlines(&c, &r, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	free(row);
	*len = size;
	return out;
}

/* libjpeg's decode at the scale under test, with what it warned about. */
struct ref {
	unsigned w, h, comps;
	unsigned char *pixels;
	int warnings, made_up; /* made_up: "premature end" of data or file */
};

struct ref_err {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
	struct ref *ref;
};

static void ref_error(j_common_ptr c)
{
	longjmp(((struct ref_err *)c->err)->jump, 1);
}

static void ref_message(j_common_ptr c, int level)
{
	struct ref *r = ((struct ref_err *)c->err)->ref;

	if (level >= 0)
		return;
	r->warnings++;
	if (c->err->msg_code == JWRN_HIT_MARKER || c->err->msg_code == JWRN_JPEG_EOF)
		r->made_up = 1;
}

static int ref_decode(const unsigned char *d, size_t len, struct ref *r)
{
	struct jpeg_decompress_struct c;
	struct ref_err je;
	volatile int ok = 0;

	memset(r, 0, sizeof(*r));
	c.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = ref_error;
	je.pub.emit_message = ref_message;
	je.ref = r;
	jpeg_create_decompress(&c);
	if (setjmp(je.jump))
		goto out;
	jpeg_mem_src(&c, d, (unsigned long)len);
	jpeg_read_header(&c, TRUE);
	c.scale_num = scale;
	c.scale_denom = 8;
	jpeg_start_decompress(&c);
	r->w = c.output_width, r->h = c.output_height;
	r->comps = (unsigned)c.output_components;
	r->pixels = malloc((size_t)r->w * r->h * r->comps);
	while (c.output_scanline < c.output_height) {
		JSAMPROW row = r->pixels + (size_t)c.output_scanline * r->w * r->comps;
		jpeg_read_scanlines(&c, &row, 1);
	}
	jpeg_finish_decompress(&c);
	ok = 1;
out:
	jpeg_destroy_decompress(&c);
	if (!ok) {
		free(r->pixels);
		r->pixels = NULL;
	}
	return ok ? 0 : -1;
}

/* 1 when jpegdc's answer agrees with libjpeg's: the same pixels, from
 * data libjpeg did not have to make up; or declined.  *took tells which,
 * and *threads how many threads decoded it. */
static int agrees(const unsigned char *d, size_t len, int *took,
		  unsigned *threads, char *why, size_t why_len)
{
	struct jpegdc_image img = { 0 };
	struct ref r;
	struct err e;
	int rc = jpegdc_decode(d, len, scale, NULL, NULL, &img, &e);
	int ok = 1;

	*took = rc == 0;
	*threads = rc == 0 ? img.threads : 0;
	snprintf(why, why_len, "ok");
	if (rc != 0) {
		if (rc < 0)
			snprintf(why, why_len, "failed: %.100s", e.msg), ok = 0;
		return ok;
	}
	if (ref_decode(d, len, &r) < 0) {
		snprintf(why, why_len, "took a file libjpeg refuses");
		ok = 0;
	} else if (r.made_up) {
		snprintf(why, why_len, "took a file libjpeg had to pad");
		ok = 0;
	} else if (r.w != img.width || r.h != img.height || r.comps != img.channels) {
		snprintf(why, why_len, "%ux%ux%u, libjpeg %ux%ux%u", img.width,
			 img.height, img.channels, r.w, r.h, r.comps);
		ok = 0;
	} else {
		size_t n = (size_t)r.w * r.h * r.comps;

		for (size_t i = 0; i < n && ok; i++)
			if (img.pixels[i] != r.pixels[i]) {
				snprintf(why, why_len, "byte %zu is %u, libjpeg %u", i,
					 img.pixels[i], r.pixels[i]);
				ok = 0;
			}
	}
	free(r.pixels);
	jpegdc_image_release(&img);
	return ok;
}

static void test_exact(void)
{
	static const unsigned sizes[][2] = { { 1, 1 },     { 7, 9 },    { 8, 8 },
					     { 16, 16 },   { 17, 33 },  { 333, 211 },
					     { 1000, 700 }, { 2100, 1500 } };
	static const enum layout layouts[] = { GREY, YCC444, YCC420, YCC422,
					       YCC440 };
	const size_t nlayouts = sizeof(layouts) / sizeof(layouts[0]);
	static const int qualities[] = { 30, 90, 100 };
	static const int restarts[] = { 0, 1, 7 };
	unsigned n = 0, bad = 0, big = 0, two = 0;

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (size_t l = 0; l < nlayouts; l++)
			for (size_t q = 0; q < 3; q++)
				for (size_t r = 0; r < 3; r++)
					for (int opt = 0; opt < 2; opt++) {
						struct spec sp = { sizes[s][0], sizes[s][1],
								   layouts[l], qualities[q],
								   restarts[r], opt, 0, 0,
								   (unsigned)n };
						size_t len;
						unsigned char *d = make_jpeg(&sp, &len);
						char why[128];
						unsigned threads;
						int took, ok = agrees(d, len, &took, &threads,
								      why, sizeof(why));

						n++;
						if (sp.w >= 1000 && sp.restart == 0 &&
						    taken(sp.layout, 0)) {
							big++;
							two += threads == 2;
						}
						if (!ok || took != taken(sp.layout, sp.restart)) {
							bad++;
							if (bad <= 5)
								CHECK(ok && took == taken(sp.layout, sp.restart),
								      "%ux%u layout %d q%d restart %d opt %d: %s%s",
								      sp.w, sp.h, sp.layout, sp.quality,
								      sp.restart, opt, why,
								      took ? " (taken)" : " (declined)");
						}
						free(d);
					}
	CHECK(bad == 0, "%u of %u files differ from libjpeg, or were taken or "
			"declined wrongly", bad, n);
	/* Split, the two threads must meet on every big scan: else the test
	 * would pass on the first thread alone. */
	if (jpegdc_split_bytes == 0)
		CHECK(two == big, "%u of %u big scans on two threads", two, big);
	printf("exact: %u files, as libjpeg-turbo at %u/8; %u of the %u big scans "
	       "without restart markers on two threads\n", n, scale, two, big);
}

static void test_declines(void)
{
	static const struct spec specs[] = {
		{ 64, 48, YCC411, 90, 0, 0, 0, 0, 1 }, /* 4:1:1 */
		{ 64, 48, YCC420, 90, 0, 0, 1, 0, 2 }, /* progressive */
		{ 64, 48, YCC420, 90, 0, 0, 0, 1, 3 }, /* arithmetic */
		{ 64, 48, CMYK, 90, 0, 0, 0, 0, 4 },
		{ 64, 48, YCC422, 90, 0, 0, 0, 0, 5 }, /* 2/8: fancy upsampling */
		{ 64, 48, YCC440, 90, 0, 0, 0, 0, 6 },
	};
	struct jpegdc_image img = { 0 };
	struct spec ok = { 200, 150, YCC420, 85, 0, 0, 0, 0, 5 };
	unsigned char junk[64];
	unsigned char *d;
	size_t len;

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		int decline = specs[i].progressive || specs[i].arith ||
			      !taken(specs[i].layout, specs[i].restart);

		d = make_jpeg(&specs[i], &len);
		CHECK(jpegdc_decode(d, len, scale, NULL, NULL, &img, NULL) ==
			      (decline ? 1 : 0),
		      "spec %zu at %u/8 should be %s", i, scale,
		      decline ? "declined" : "taken");
		jpegdc_image_release(&img);
		free(d);
	}
	d = make_jpeg(&ok, &len);
	CHECK(jpegdc_decode(d, len, scale, NULL, NULL, &img, NULL) == 0);
	CHECK(img.width == 25 * scale && img.height == (150 * scale + 7) / 8 &&
		      img.channels == 3,
	      "%ux%ux%u at %u/8", img.width, img.height, img.channels, scale);
	jpegdc_image_release(&img);
	/* Other scales, cut short, cut before EOI, no EOI at all, only the
	 * headers. */
	CHECK(jpegdc_decode(d, len, 4, NULL, NULL, &img, NULL) == 1);
	CHECK(jpegdc_decode(d, len, 0, NULL, NULL, &img, NULL) == 1);
	CHECK(jpegdc_decode(d, len / 2, scale, NULL, NULL, &img, NULL) == 1);
	CHECK(jpegdc_decode(d, len - 2, scale, NULL, NULL, &img, NULL) == 1);
	CHECK(jpegdc_decode(d, 600, scale, NULL, NULL, &img, NULL) == 1);
	CHECK(jpegdc_decode(d, 0, scale, NULL, NULL, &img, NULL) == 1);
	memset(junk, 0xFF, sizeof(junk));
	CHECK(jpegdc_decode(junk, sizeof(junk), scale, NULL, NULL, &img, NULL) == 1);
	CHECK(img.pixels == NULL);
	free(d);
}

static int stop_now(void *arg)
{
	(*(int *)arg)++;
	return 1;
}

static void test_stop(void)
{
	struct spec sp = { 640, 480, YCC420, 90, 0, 0, 0, 0, 6 };
	struct jpegdc_image img = { 0 };
	struct err e = { ERR_NONE, "" };
	size_t len;
	unsigned char *d = make_jpeg(&sp, &len);
	int asked = 0;

	CHECK(jpegdc_decode(d, len, scale, stop_now, &asked, &img, &e) == -1);
	CHECK(e.code == ERR_UNPROCESSABLE && asked == 1, "%d %d", e.code, asked);
	CHECK(img.pixels == NULL);
	free(d);
}

/* Flips, zeroes or cuts bytes after the headers: whatever jpegdc takes,
 * it must decode as libjpeg does, and it must decline what libjpeg pads. */
static void test_corrupt(void)
{
	static const struct spec base[] = {
		{ 320, 240, YCC420, 90, 0, 1, 0, 0, 7 },
		{ 320, 240, YCC420, 75, 4, 0, 0, 0, 8 },
		{ 160, 120, YCC444, 95, 0, 0, 0, 0, 9 },
		{ 330, 250, YCC422, 85, 0, 1, 0, 0, 11 },
		{ 330, 250, YCC422, 60, 3, 0, 0, 0, 12 },
		{ 250, 330, YCC440, 90, 0, 0, 0, 0, 13 },
		{ 160, 120, GREY, 50, 2, 0, 0, 0, 10 },
	};
	unsigned took = 0, declined = 0, bad = 0, n = 0;
	uint32_t s = 12345;

	for (size_t b = 0; b < sizeof(base) / sizeof(base[0]); b++) {
		size_t len;
		unsigned char *orig = make_jpeg(&base[b], &len);
		unsigned char *d = malloc(len);

		for (int i = 0; i < 150; i++, n++) {
			size_t dl = len;
			int flips = 1 + (int)(rnd(&s) % 4), t, ok;
			char why[128];

			memcpy(d, orig, len);
			for (int f = 0; f < flips; f++) {
				/* mostly the entropy data, sometimes the headers */
				size_t at = rnd(&s) % 8 ? len / 4 + rnd(&s) % (len - len / 4)
							: rnd(&s) % len;
				switch (rnd(&s) % 4) {
				case 0: d[at] ^= (unsigned char)(1u << (rnd(&s) % 8)); break;
				case 1: d[at] = 0xFF; break;
				case 2: d[at] = (unsigned char)rnd(&s); break;
				default: dl = at + 1; break;
				}
			}
			unsigned threads;

			ok = agrees(d, dl, &t, &threads, why, sizeof(why));
			took += t, declined += !t;
			if (!ok) {
				bad++;
				if (bad <= 5)
					CHECK(ok, "base %zu case %d: %s", b, i, why);
			}
		}
		free(d);
		free(orig);
	}
	CHECK(bad == 0, "%u of %u corrupted files disagree with libjpeg", bad, n);
	/* Both outcomes must occur, or the test is not testing them. */
	CHECK(took > 0 && declined > 0, "took %u declined %u", took, declined);
	printf("corrupt: %u files at %u/8, %u decoded as libjpeg does, %u declined\n",
	       n, scale, took, declined);
}

/*
 * The IDCTs both ways: libjpeg-turbo's SSE2 code (ours, step for step)
 * and the C steps must give the same samples for every block the C steps
 * take, and those take every block of tame values (no 8-bit file has
 * others).  Blocks of a few non-zero coefficients, as photos have, and
 * full ones; DC-only ones take the shortcuts.
 */
static void test_idct(void)
{
	uint32_t s = 777;
	unsigned n = 0, same = 0, refused = 0, tame_refused = 0, tame_count = 0;

	for (int i = 0; i < 20000; i++) {
		int16_t blk[64] = { 0 };
		uint16_t q[64];
		uint64_t nz = 0;
		uint8_t a[16], b[16];
		unsigned count = i % 4 == 0 ? 64 : 1 + rnd(&s) % 8;
		int wild = i % 10 == 9, sz = i % 2 ? 4 : 2, tame;
		long sum = 0;

		for (int k = 0; k < 64; k++)
			q[k] = (uint16_t)(1 + rnd(&s) % (wild ? 255 : 40));
		for (unsigned c = 0; c < count; c++) {
			unsigned at = count == 64 ? c : (c == 0 ? 0 : rnd(&s) % 64);
			int lim = wild ? 4000 : 2047 / q[at];
			int v = (int)(rnd(&s) % (2 * (unsigned)lim + 1)) - lim;

			blk[at] = (int16_t)v;
			if (at != 0 && v != 0)
				nz |= 1ull << at;
			sum += labs((long)v * q[at]);
		}
		/* Within what an 8-bit block can have: every sample and
		 * intermediate sum far inside its range. */
		tame = sum <= 1500;
		memset(a, 0, sizeof(a));
		memset(b, 0, sizeof(b));
		int rs = sz == 2 ? jpegdc_idct_2x2(blk, q, nz, a, 4)
				 : jpegdc_idct_4x4(blk, q, nz, a, 4);
		int rc = sz == 2 ? jpegdc_idct_2x2_c(blk, q, nz, b, 4)
				 : jpegdc_idct_4x4_c(blk, q, nz, b, 4);

		n++;
		tame_count += tame;
		if (rc != 0) {
			refused++;
			tame_refused += tame;
			continue;
		}
		if (rs == 0 && memcmp(a, b, sizeof(a)) == 0)
			same++;
		else if (n - same - refused <= 3)
			CHECK(0, "block %d (%ux%u): the two IDCTs differ", i, sz, sz);
	}
	CHECK(same + refused == n, "%u of %u blocks differ", n - same - refused, n);
	CHECK(tame_refused == 0, "%u tame blocks refused", tame_refused);
	CHECK(tame_count > n / 10, "%u tame blocks", tame_count);
	/* both outcomes, or the test tests nothing */
	CHECK(refused > 0 && same > n / 2, "same %u refused %u", same, refused);
	printf("idct: %u blocks, %u the same both ways, %u refused by the C steps\n",
	       n, same, refused);
}

static void test_unsplit_declined(void)
{
	struct spec sp = { 2100, 1500, YCC420, 90, 0, 0, 0, 0, 14 };
	struct jpegdc_image img = { 0 };
	size_t len;
	unsigned char *d = make_jpeg(&sp, &len);

	CHECK(jpegdc_decode(d, len, 2, NULL, NULL, &img, NULL) == 1);
	CHECK(jpegdc_decode(d, len, 1, NULL, NULL, &img, NULL) == 0);
	jpegdc_image_release(&img);
	free(d);
}

int main(void)
{
	size_t split = jpegdc_split_bytes;

	for (scale = 1; scale <= 2; scale++) {
		if (scale == 1) {
			/* At 2/8 jpegdc takes only what it splits. */
			jpegdc_split_bytes = split;
			test_exact();
			test_declines();
			test_stop();
			test_corrupt();
		}
		/* With every scan without restart markers split between two
		 * threads (the tail starting half way), as big files are. */
		jpegdc_split_bytes = 0;
		printf("split between two threads:\n");
		test_exact();
		test_declines();
		test_stop();
		test_corrupt();
	}
	test_idct();
	/* Not split, at 2/8: declined, big as it may be. */
	jpegdc_split_bytes = (size_t)1 << 40;
	scale = 2;
	test_unsplit_declined();
	jpegdc_split_bytes = split;
	return TEST_END("jpegdc");
}
