/* test_png_rows.c - the row filters undone (SSE2 and scalar) against the
 * PNG specification's own wording of them, and rows made 8-bit pixels
 * against libpng's formulas. */
#include <stdlib.h>
#include <string.h>

#include "png_rows.h"
#include "test.h"

static unsigned rnd_state = 12345;

static unsigned rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 16;
}

/* The specification's Paeth predictor, as written there. */
static int paeth_spec(int a, int b, int c)
{
	int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);

	if (pa <= pb && pa <= pc)
		return a;
	if (pb <= pc)
		return b;
	return c;
}

/* Reconstructs row (filtered) in place, byte by byte as the spec says. */
static void unfilter_spec(unsigned char *row, const unsigned char *prev,
			  size_t n, unsigned bpp, unsigned f)
{
	for (size_t i = 0; i < n; i++) {
		int a = i >= bpp ? row[i - bpp] : 0, b = prev[i];
		int c = i >= bpp ? prev[i - bpp] : 0, pred = 0;

		switch (f) {
		case 1: pred = a; break;
		case 2: pred = b; break;
		case 3: pred = (a + b) / 2; break;
		case 4: pred = paeth_spec(a, b, c); break;
		}
		row[i] = (unsigned char)(row[i] + pred);
	}
}

/* Rows that make every Paeth case come up: random bytes, runs of equal
 * ones (the ties), and 0/255 (the extremes). */
static void fill(unsigned char *p, size_t n)
{
	unsigned mode = rnd() % 3;

	for (size_t i = 0; i < n; i++)
		p[i] = mode == 0 ? (unsigned char)rnd()
		     : mode == 1 ? (unsigned char)(rnd() % 4 * 85)
		     : (unsigned char)(rnd() % 3 == 0 ? rnd() : 128);
}

static void filters(void)
{
	static const size_t pixels[] = { 1, 2, 3, 5, 16, 17, 33, 100 };
	int bad = 0, bad2 = 0;

	for (unsigned bpp = 1; bpp <= 8; bpp++)
		for (size_t k = 0; k < sizeof(pixels) / sizeof(*pixels); k++)
			for (unsigned f = 0; f <= 4; f++)
				for (int trial = 0; trial < 20; trial++) {
					size_t n = pixels[k] * bpp;
					unsigned char prev[800], raw[800], simd[800], scalar[800], want[800];

					fill(prev, n), fill(raw, n);
					memcpy(simd, raw, n), memcpy(scalar, raw, n), memcpy(want, raw, n);
					unfilter_spec(want, prev, n, bpp, f);
					if (png_rows_unfilter(simd, prev, n, bpp, f) != 0 ||
					    memcmp(simd, want, n) != 0)
						bad++, fprintf(stderr, "unfilter bpp %u n %zu filter %u\n", bpp, n, f);
					if (png_rows_unfilter_scalar(scalar, prev, n, bpp, f) != 0 ||
					    memcmp(scalar, want, n) != 0)
						bad2++, fprintf(stderr, "scalar bpp %u n %zu filter %u\n", bpp, n, f);
				}
	CHECK(bad == 0, "%d rows of the SIMD unfilter differ from the spec's", bad);
	CHECK(bad2 == 0, "%d rows of the scalar unfilter differ from the spec's", bad2);

	/* Not a whole number of pixels (a palette row of 1, 2, 4 bits is
	 * bpp 1, but a caller may pass any n): still the spec's. */
	{
		unsigned char prev[13], raw[13], want[13];

		bad = 0;
		for (unsigned f = 0; f <= 4; f++) {
			fill(prev, 13), fill(raw, 13);
			memcpy(want, raw, 13);
			unfilter_spec(want, prev, 13, 4, f);
			png_rows_unfilter(raw, prev, 13, 4, f);
			bad += memcmp(raw, want, 13) != 0;
		}
		CHECK(bad == 0, "13 bytes at bpp 4: %d filters wrong", bad);
	}
}

/* Two rows at once: the same as one after the other, every pair. */
static void filters2(void)
{
	int bad = 0;

	for (unsigned bpp = 1; bpp <= 8; bpp++)
		for (unsigned f0 = 0; f0 <= 4; f0++)
			for (unsigned f1 = 0; f1 <= 4; f1++)
				for (size_t px = 1; px <= 40; px += 13) {
					size_t n = px * bpp;
					unsigned char prev[400], r[2][400], want[2][400];

					fill(prev, n), fill(r[0], n), fill(r[1], n);
					memcpy(want, r, sizeof(r));
					unfilter_spec(want[0], prev, n, bpp, f0);
					unfilter_spec(want[1], want[0], n, bpp, f1);
					if (png_rows_unfilter2(r[0], r[1], prev, n, bpp, f0, f1) != 0 ||
					    memcmp(r[0], want[0], n) != 0 || memcmp(r[1], want[1], n) != 0)
						bad++, fprintf(stderr, "unfilter2 bpp %u n %zu filters %u %u\n",
							       bpp, n, f0, f1);
				}
	CHECK(bad == 0, "%d pairs of rows differ from the spec's", bad);
}

static void bad_filter(void)
{
	unsigned char prev[12] = { 0 }, row[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	unsigned char r2[12];

	CHECK_INT(png_rows_unfilter(row, prev, 12, 4, 5), -1);
	CHECK_INT(png_rows_unfilter(row, prev, 12, 3, 255), -1);
	CHECK_INT(png_rows_unfilter_scalar(row, prev, 12, 1, 5), -1);
	CHECK(row[0] == 1 && row[11] == 12, "a refused row was touched");
	memcpy(r2, row, 12);
	CHECK_INT(png_rows_unfilter2(row, r2, prev, 12, 4, 4, 7), -1);
	CHECK_INT(png_rows_unfilter2(row, r2, prev, 12, 4, 9, 0), -1);
	CHECK(row[0] == 1 && r2[0] == 1, "a refused pair was touched");
}

static void sizes(void)
{
	struct png_rows_format f = { .width = 5, .depth = 8, .type = PNG_ROWS_RGBA };

	CHECK_INT(png_rows_rowbytes(&f), 20);
	CHECK_INT(png_rows_bpp(&f), 4);
	CHECK_INT(png_rows_channels(&f), 4);
	f.depth = 16, f.type = PNG_ROWS_RGB;
	CHECK_INT(png_rows_rowbytes(&f), 30);
	CHECK_INT(png_rows_bpp(&f), 6);
	CHECK_INT(png_rows_channels(&f), 3);
	f.trns = 1;
	CHECK_INT(png_rows_channels(&f), 4);
	f.type = PNG_ROWS_PALETTE, f.depth = 2, f.trns = 0;
	CHECK_INT(png_rows_rowbytes(&f), 2);
	CHECK_INT(png_rows_bpp(&f), 1);
	CHECK_INT(png_rows_channels(&f), 3);
	f.palette_alpha = 1;
	CHECK_INT(png_rows_channels(&f), 4);
	f.type = PNG_ROWS_GREY_ALPHA, f.depth = 16;
	CHECK_INT(png_rows_bpp(&f), 4);
	CHECK_INT(png_rows_channels(&f), 2);
	CHECK(png_rows_supported(&f), "grey+alpha 16");
	f.type = PNG_ROWS_GREY, f.depth = 4;
	CHECK(!png_rows_supported(&f), "grey of 4 bits is libpng's");
	f.type = PNG_ROWS_PALETTE, f.depth = 16;
	CHECK(!png_rows_supported(&f), "a palette of 16 bits does not exist");
	f.type = 5, f.depth = 8;
	CHECK(!png_rows_supported(&f), "colour type 5 does not exist");
}

/* Every 16-bit value, through the SIMD part and the tail alike. */
static void scale16(void)
{
	enum { W = 65536 + 7 };
	struct png_rows_format f = { .width = W, .depth = 16, .type = PNG_ROWS_GREY };
	unsigned char *in = malloc(2 * W), *out = malloc(4 * W);
	const unsigned char *got;
	int bad = 0;

	for (unsigned i = 0; i < W; i++)
		in[2 * i] = (unsigned char)(i >> 8 & 0xff), in[2 * i + 1] = (unsigned char)i;
	got = png_rows_pixels(&f, in, out);
	CHECK(got == out, "16-bit grey is made into out");
	for (unsigned i = 0; i < W; i++) {
		unsigned v = i & 0xffff;
		/* libpng's png_do_scale_16_to_8 says it is exactly this. */
		bad += got[i] != (v * 255 + 32895) >> 16;
	}
	CHECK(bad == 0, "%d 16-bit values scaled otherwise than libpng", bad);
	free(in), free(out);
}

static void plain(void)
{
	struct png_rows_format f = { .width = 3, .depth = 8, .type = PNG_ROWS_RGB };
	unsigned char row[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, out[12];

	CHECK(png_rows_pixels(&f, row, out) == row, "8-bit RGB is the row itself");
}

static void trns(void)
{
	struct png_rows_format f = { .width = 4, .depth = 8, .type = PNG_ROWS_RGB,
				     .trns = 1, .trns_rgb = { 0x110, 0x220, 0x330 } };
	/* At 8 bits the low byte counts, as in libpng's png_do_expand. */
	unsigned char rgb[12] = { 0x10, 0x20, 0x30, 0x10, 0x20, 0x31, 0, 0, 0, 0x10, 0x20, 0x30 };
	unsigned char out[16], want[16] = { 0x10, 0x20, 0x30, 0, 0x10, 0x20, 0x31, 255,
					    0, 0, 0, 255, 0x10, 0x20, 0x30, 0 };
	unsigned char g16[8] = { 0x12, 0x34, 0x12, 0x35, 0xff, 0xff, 0, 0 };
	unsigned char want16[8] = { 0x12, 0, 0x12, 255, 255, 255, 0, 255 };

	png_rows_pixels(&f, rgb, out);
	CHECK(memcmp(out, want, 16) == 0, "RGB 8 with tRNS");
	f.type = PNG_ROWS_GREY, f.depth = 16, f.trns_rgb[0] = 0x1234;
	png_rows_pixels(&f, g16, out);
	CHECK(memcmp(out, want16, 8) == 0, "grey 16 with tRNS: %u %u %u %u", out[0], out[1],
	      out[2], out[3]);
}

static void palette(void)
{
	struct png_rows_format f = { .width = 11, .type = PNG_ROWS_PALETTE };
	unsigned char out[44], row[11];

	for (int i = 0; i < 256; i++)
		f.palette[i][0] = (unsigned char)i, f.palette[i][1] = (unsigned char)(255 - i),
		f.palette[i][2] = (unsigned char)(i * 7), f.palette[i][3] = (unsigned char)(i ^ 0x5a);
	for (unsigned depth = 1; depth <= 8; depth *= 2) {
		int bad = 0;

		f.depth = depth;
		for (unsigned k = 0; k < 2; k++) {
			unsigned ch = k ? 4 : 3, idx[11];

			f.palette_alpha = (int)k;
			memset(row, 0, sizeof(row));
			for (unsigned x = 0; x < 11; x++) {
				idx[x] = rnd() % (1u << depth);
				row[x * depth / 8] |= (unsigned char)(idx[x] << (8 - depth - x * depth % 8));
			}
			png_rows_pixels(&f, row, out);
			for (unsigned x = 0; x < 11; x++)
				bad += memcmp(out + x * ch, f.palette[idx[x]], ch) != 0;
		}
		CHECK(bad == 0, "palette of %u bits: %d pixels wrong", depth, bad);
	}
}

int main(void)
{
	filters();
	filters2();
	bad_filter();
	sizes();
	scale16();
	plain();
	trns();
	palette();
	return TEST_END("test_png_rows");
}
