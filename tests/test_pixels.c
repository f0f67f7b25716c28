/*
 * test_pixels.c - the 8-bit image: allocation and ownership, EXIF
 * orientation against MagickCore's AutoOrientImage(), crops that share
 * their rows, and flattening alpha onto a background.
 */
#include <magick/MagickCore.h>
#include <stdint.h>
#include <stdlib.h>

#include "pixels.h"
#include "test.h"

/* A w x h image of n channels whose every byte says where it is. */
static void numbered(struct pixels *p, unsigned w, unsigned h, unsigned n)
{
	pixels_init(p);
	if (pixels_alloc(p, w, h, n, NULL) < 0)
		return;
	for (unsigned y = 0; y < h; y++)
		for (unsigned x = 0; x < w; x++)
			for (unsigned c = 0; c < n; c++)
				p->data[y * p->stride + x * n + c] =
					(unsigned char)(y * 40 + x * 3 + c);
}

static void test_alloc(void)
{
	struct pixels p, q;
	struct err e;

	pixels_init(&p);
	CHECK(p.data == NULL && p.base == NULL && p.width == 0);
	pixels_release(&p); /* a no-op */
	CHECK(pixels_alloc(&p, 7, 5, 3, &e) == 0);
	CHECK(p.width == 7 && p.height == 5 && p.channels == 3 &&
	      p.stride == 21 && p.data == p.base && !p.cmyk);
	CHECK_INT(pixels_bytes(7, 5, 3), 105);
	CHECK(pixels_bytes(UINT32_MAX, UINT32_MAX, 4) == SIZE_MAX ||
	      sizeof(size_t) > 8);
	/* Failures leave p as it was. */
	CHECK(pixels_alloc(&p, 0, 5, 3, &e) < 0 && e.code == ERR_INTERNAL);
	CHECK(pixels_alloc(&p, 5, 5, 5, &e) < 0 && e.code == ERR_INTERNAL);
	CHECK(pixels_alloc(&p, 5, 5, 0, &e) < 0 && e.code == ERR_INTERNAL);
	CHECK(pixels_alloc(&p, 1u << 31, 1u << 31, 4, &e) < 0 &&
	      (e.code == ERR_UNPROCESSABLE || e.code == ERR_BUSY), "%s", e.msg);
	CHECK(p.width == 7 && p.data != NULL);
	/* A second alloc replaces the first (ASan sees a leak if not). */
	CHECK(pixels_alloc(&p, 2, 2, 1, &e) == 0 && p.stride == 2);
	pixels_init(&q);
	p.data[0] = 42;
	pixels_move(&q, &p);
	CHECK(q.data != NULL && q.data[0] == 42 && q.width == 2);
	CHECK(p.data == NULL && p.base == NULL && p.width == 0);
	pixels_move(&q, &q);
	CHECK(q.data != NULL && q.data[0] == 42, "a move onto itself lost it");
	pixels_release(&q);
	CHECK(q.data == NULL);
}

/* MagickCore's AutoOrientImage() of p (RGB) as orientation o, into d. */
static int magick_orient(const struct pixels *p, int o, struct pixels *d)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	Image *img = ConstituteImage(p->width, p->height, "RGB", CharPixel,
				     p->data, exc);
	Image *r = AutoOrientImage(img, (OrientationType)o, exc);
	int rc = -1;

	pixels_init(d);
	if (r != NULL &&
	    pixels_alloc(d, (unsigned)r->columns, (unsigned)r->rows, 3, NULL) == 0 &&
	    ExportImagePixels(r, 0, 0, r->columns, r->rows, "RGB", CharPixel,
			      d->data, exc))
		rc = 0;
	if (r != NULL && r != img)
		DestroyImage(r);
	DestroyImage(img);
	DestroyExceptionInfo(exc);
	return rc;
}

static int same(const struct pixels *a, const struct pixels *b)
{
	if (a->width != b->width || a->height != b->height ||
	    a->channels != b->channels)
		return 0;
	for (unsigned y = 0; y < a->height; y++)
		if (memcmp(a->data + y * a->stride, b->data + y * b->stride,
			   (size_t)a->width * a->channels) != 0)
			return 0;
	return 1;
}

static void test_orient_like_magick(void)
{
	for (int o = 1; o <= 8; o++) {
		struct pixels p, ref;
		struct err e;

		numbered(&p, 5, 3, 3);
		CHECK(magick_orient(&p, o, &ref) == 0, "MagickCore, %d", o);
		CHECK(pixels_orient(&p, o, &e) == 0, "%d: %s", o, e.msg);
		CHECK(same(&p, &ref), "orientation %d: not MagickCore's", o);
		CHECK(p.width == (o >= 5 ? 3u : 5u), "%d: width %u", o, p.width);
		pixels_release(&p);
		pixels_release(&ref);
	}
}

/* 1, 2 and 4 channels move whole pixels as 3 do; a crop (rows further
 * apart than its width) turns as a packed image does; 0 and 9 leave it. */
static void test_orient_shapes(void)
{
	for (int o = 0; o <= 9; o++) {
		for (unsigned n = 1; n <= 4; n++) {
			struct pixels p, rgb;
			int ok = 1;

			numbered(&p, 6, 4, n);
			numbered(&rgb, 6, 4, 3);
			CHECK(pixels_orient(&p, o, NULL) == 0);
			CHECK(pixels_orient(&rgb, o, NULL) == 0);
			CHECK(p.width == rgb.width && p.height == rgb.height);
			/* Pixel (x, y) came from where rgb's did: its first
			 * byte says so the same way. */
			for (unsigned y = 0; y < p.height && ok; y++)
				for (unsigned x = 0; x < p.width && ok; x++) {
					const unsigned char *a = p.data + y * p.stride + x * n;
					const unsigned char *b = rgb.data + y * rgb.stride + x * 3;

					ok = a[0] == b[0] && a[n - 1] == a[0] + n - 1;
				}
			CHECK(ok, "orientation %d, %u channels", o, n);
			pixels_release(&p);
			pixels_release(&rgb);
		}
	}
	for (int o = 1; o <= 8; o++) {
		struct pixels big, crop;

		numbered(&big, 9, 7, 3);
		numbered(&crop, 9, 7, 3);
		pixels_crop(&big, 2, 1, 5, 4);
		/* The same box, packed. */
		for (unsigned y = 0; y < 4; y++)
			memmove(crop.data + y * 15, big.data + y * big.stride, 15);
		crop.width = 5, crop.height = 4, crop.stride = 15;
		CHECK(pixels_orient(&big, o, NULL) == 0);
		CHECK(pixels_orient(&crop, o, NULL) == 0);
		CHECK(same(&big, &crop), "orientation %d of a crop", o);
		pixels_release(&big);
		pixels_release(&crop);
	}
	/* A one-row and a one-column image. */
	{
		struct pixels p;

		numbered(&p, 4, 1, 1);
		CHECK(pixels_orient(&p, 6, NULL) == 0);
		CHECK(p.width == 1 && p.height == 4 && p.data[0] == 0 &&
		      p.data[3 * p.stride] == 9);
		CHECK(pixels_orient(&p, 3, NULL) == 0);
		CHECK(p.data[0] == 9 && p.data[3 * p.stride] == 0);
		pixels_release(&p);
	}
}

static void test_crop(void)
{
	struct pixels p;
	unsigned char *base;

	numbered(&p, 10, 8, 3);
	base = p.data;
	pixels_crop(&p, 2, 3, 4, 5);
	CHECK(p.width == 4 && p.height == 5 && p.stride == 30);
	CHECK(p.data == base + 3 * 30 + 2 * 3 && p.base == base);
	CHECK(p.data[0] == 3 * 40 + 2 * 3, "%u", p.data[0]);
	/* Crop of a crop, and a box past the edge is cut. */
	pixels_crop(&p, 1, 1, 100, 100);
	CHECK(p.width == 3 && p.height == 4, "%ux%u", p.width, p.height);
	CHECK(p.data[0] == 4 * 40 + 3 * 3);
	pixels_crop(&p, 50, 50, 1, 1);
	CHECK(p.width == 0 && p.height == 0);
	pixels_release(&p); /* frees the whole allocation (ASan) */
}

/* The rounded blend, in plain arithmetic. */
static unsigned blend(unsigned c, unsigned a, unsigned bg)
{
	return (c * a + bg * (255 - a) + 127) / 255;
}

static void test_flatten(void)
{
	static const unsigned char white[3] = { 255, 255, 255 };
	static const unsigned char teal[3] = { 0, 128, 128 };
	struct pixels p;
	struct err e;
	int ok = 1;

	/* RGBA: every alpha against a few colours, on teal. */
	pixels_init(&p);
	pixels_alloc(&p, 256, 3, 4, NULL);
	for (unsigned y = 0; y < 3; y++)
		for (unsigned x = 0; x < 256; x++) {
			unsigned char *q = p.data + y * p.stride + x * 4;

			q[0] = (unsigned char)(y * 100);
			q[1] = 255;
			q[2] = (unsigned char)(x ^ 0x55);
			q[3] = (unsigned char)x;
		}
	CHECK(pixels_flatten(&p, teal, &e) == 0);
	CHECK(p.channels == 3 && p.stride == 256 * 4 && p.width == 256);
	for (unsigned y = 0; y < 3; y++)
		for (unsigned x = 0; x < 256; x++) {
			const unsigned char *q = p.data + y * p.stride + x * 3;

			ok &= q[0] == blend(y * 100, x, 0) &&
			      q[1] == blend(255, x, 128) &&
			      q[2] == blend(x ^ 0x55, x, 128);
		}
	CHECK(ok, "RGBA onto teal");
	pixels_release(&p);

	/* Grey and alpha onto white stays grey; onto teal becomes RGB. */
	for (int colour = 0; colour < 2; colour++) {
		pixels_init(&p);
		pixels_alloc(&p, 256, 2, 2, NULL);
		for (unsigned y = 0; y < 2; y++)
			for (unsigned x = 0; x < 256; x++) {
				p.data[y * p.stride + x * 2] = (unsigned char)(200 - y * 150);
				p.data[y * p.stride + x * 2 + 1] = (unsigned char)x;
			}
		CHECK(pixels_flatten(&p, colour ? teal : white, &e) == 0);
		CHECK(p.channels == (colour ? 3u : 1u), "%u", p.channels);
		ok = 1;
		for (unsigned y = 0; y < 2; y++)
			for (unsigned x = 0; x < 256; x++)
				for (unsigned c = 0; c < p.channels; c++) {
					const unsigned char *bg = colour ? teal : white;

					ok &= p.data[y * p.stride + x * p.channels + c] ==
					      blend(200 - y * 150, x, bg[c]);
				}
		CHECK(ok, "grey and alpha onto %s", colour ? "teal" : "white");
		pixels_release(&p);
	}

	/* No alpha: untouched.  CMYK: refused. */
	numbered(&p, 4, 4, 3);
	CHECK(pixels_flatten(&p, teal, &e) == 0 && p.channels == 3 &&
	      p.data[5] == 5);
	pixels_release(&p);
	numbered(&p, 4, 4, 4);
	p.cmyk = 1;
	CHECK(pixels_flatten(&p, teal, &e) < 0 && e.code == ERR_INTERNAL);
	CHECK(p.channels == 4);
	pixels_release(&p);
}

int main(int argc, char **argv)
{
	(void)argc;
	MagickCoreGenesis(argv[0], MagickFalse);
	test_alloc();
	test_orient_like_magick();
	test_orient_shapes();
	test_crop();
	test_flatten();
	MagickCoreTerminus();
	return TEST_END("pixels");
}
