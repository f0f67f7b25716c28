/* test_png_shrink.c - the box shrink against the plain one it replaced (a
 * division a pixel, x / fx), on random rows with every channel count,
 * factors that do not divide the sides, and boxes clear, opaque and
 * mixed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "png_shrink.h"
#include "test.h"

static unsigned rnd_state = 777;

static unsigned rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 16;
}

/* The reference: each output sample from its box, summed pixel by pixel
 * (64-bit sums), rounded as the decoder always has. */
static void reference(const unsigned char *img, unsigned w, unsigned h,
		      unsigned ch, unsigned fx, unsigned fy, unsigned char *out)
{
	unsigned ow = (w + fx - 1) / fx, oh = (h + fy - 1) / fy;
	int alpha = ch == 2 || ch == 4;

	for (unsigned oy = 0; oy < oh; oy++)
		for (unsigned ox = 0; ox < ow; ox++) {
			uint64_t v[4] = { 0, 0, 0, 0 }, n = 0;

			for (unsigned y = oy * fy; y < h && y < (oy + 1) * fy; y++)
				for (unsigned x = ox * fx; x < w && x < (ox + 1) * fx; x++, n++) {
					const unsigned char *px = img + ((size_t)y * w + x) * ch;

					for (unsigned c = 0; c < ch; c++)
						v[c] += alpha && c + 1 < ch ? px[c] * px[ch - 1] : px[c];
				}
			unsigned char *o = out + ((size_t)oy * ow + ox) * ch;
			for (unsigned c = 0; c < ch; c++) {
				uint64_t d = alpha && c + 1 < ch ? v[ch - 1] : n;

				o[c] = d ? (unsigned char)((v[c] + d / 2) / d) : 0;
			}
		}
}

/* Alpha that is often 0 or 255, so that boxes come clear, opaque and
 * mixed. */
static unsigned char sample(unsigned c, unsigned ch)
{
	int alpha = (ch == 2 || ch == 4) && c == ch - 1;
	unsigned r = rnd();

	if (alpha)
		return r % 3 == 0 ? 0 : r % 3 == 1 ? 255 : (unsigned char)(r >> 4);
	return (unsigned char)r;
}

/* Runs the shrink over a random w x h image; 1 when it matches. */
static int one(unsigned w, unsigned h, unsigned ch, unsigned need_w,
	       unsigned need_h)
{
	size_t n = (size_t)w * h * ch;
	unsigned char *img = malloc(n), *want = malloc(n);
	struct png_shrink s;
	struct pixels px;
	struct err e;
	int ok = 0;

	pixels_init(&px);
	for (size_t i = 0; i < n; i++)
		img[i] = sample((unsigned)(i % ch), ch);
	if (png_shrink_init(&s, w, h, ch, need_w, need_h, &px, &e) < 0)
		goto out;
	for (unsigned y = 0; y < h; y++)
		png_shrink_row(&s, img + (size_t)y * w * ch);
	png_shrink_finish(&s);
	reference(img, w, h, ch, s.fx, s.fy, want);
	ok = s.y == px.height && px.width == (w + s.fx - 1) / s.fx;
	for (unsigned y = 0; ok && y < px.height; y++)
		ok = memcmp(px.data + y * px.stride, want + (size_t)y * px.width * ch,
			    (size_t)px.width * ch) == 0;
out:
	png_shrink_release(&s);
	pixels_release(&px);
	free(img), free(want);
	return ok;
}

static void random_images(void)
{
	static const unsigned sides[][4] = {
		/* w, h, need_w, need_h */
		{ 1, 1, 1, 1 },      { 1, 1, 0, 0 },     { 7, 5, 7, 5 },
		{ 37, 23, 0, 0 },    { 37, 23, 10, 7 },  { 37, 23, 5, 23 },
		{ 37, 23, 37, 2 },   { 100, 3, 9, 1 },   { 3, 100, 1, 9 },
		{ 64, 64, 16, 16 },  { 65, 63, 16, 16 }, { 200, 150, 13, 11 },
		{ 17, 1, 2, 1 },     { 1, 17, 1, 2 },    { 333, 2, 1, 1 },
	};
	int bad = 0;

	for (unsigned ch = 1; ch <= 4; ch++)
		for (size_t k = 0; k < sizeof(sides) / sizeof(*sides); k++)
			for (int trial = 0; trial < 4; trial++)
				if (!one(sides[k][0], sides[k][1], ch, sides[k][2], sides[k][3])) {
					bad++;
					fprintf(stderr, "shrink %ux%u ch %u need %ux%u differs\n",
						sides[k][0], sides[k][1], ch, sides[k][2], sides[k][3]);
				}
	CHECK(bad == 0, "%d shrinks differ from the reference", bad);
}

static void factors(void)
{
	CHECK_INT(png_shrink_factor(100, 0), 1);
	CHECK_INT(png_shrink_factor(100, 100), 1);
	CHECK_INT(png_shrink_factor(100, 51), 1);
	CHECK_INT(png_shrink_factor(100, 50), 2);
	CHECK_INT(png_shrink_factor(100, 33), 3);
	CHECK_INT(png_shrink_factor(100, 200), 1);
	CHECK_INT(png_shrink_factor(16384, 1), PNG_SHRINK_MAX_FACTOR);
}

/* The largest box, all white and opaque: its sums (256 x 256 x 255 x
 * 255, and half the alpha's to round; 256 rows of 255 in a column's 16
 * bits) come close to their limits and must not wrap. */
static void largest_box(void)
{
	unsigned w = 600, h = 600; /* 3 x 3 boxes, the last ones narrower */
	unsigned char *row = malloc((size_t)w * 4);

	memset(row, 255, (size_t)w * 4);
	for (unsigned ch = 1; ch <= 4; ch++) {
		struct png_shrink s;
		struct pixels px;
		struct err e;
		int white = 1;

		pixels_init(&px);
		CHECK(png_shrink_init(&s, w, h, ch, 1, 1, &px, &e) == 0, "%s", e.msg);
		CHECK(s.fx == PNG_SHRINK_MAX_FACTOR && s.fy == PNG_SHRINK_MAX_FACTOR, "%u %u",
		      s.fx, s.fy);
		for (unsigned y = 0; y < h; y++)
			png_shrink_row(&s, row);
		png_shrink_finish(&s);
		CHECK(px.width == 3 && px.height == 3, "%ux%u", px.width, px.height);
		for (unsigned y = 0; y < px.height; y++)
			for (unsigned i = 0; i < px.width * ch; i++)
				white &= px.data[y * px.stride + i] == 255;
		CHECK(white, "%u channels: the boxes are not all 255", ch);
		png_shrink_release(&s);
		pixels_release(&px);
	}
	free(row);
}

int main(void)
{
	random_images();
	factors();
	largest_box();
	return TEST_END("test_png_shrink");
}
