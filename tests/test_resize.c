/*
 * test_resize.c - the resizer against MagickCore's ResizeImage()
 * (Lanczos) on the same 8-bit pixels, its plans, exact box means, flat
 * areas kept flat, premultiplied alpha, edges, strides and refusals.
 */
#include <magick/MagickCore.h>
#include <math.h>
#include <stdlib.h>

#include "resize.h"
#include "test.h"

/* A w x h image of n channels (1: grey, 2: grey and alpha, 3: RGB,
 * 4: RGBA) from a MagickCore pseudo-format; alpha from an "alpha" of
 * MagickCore's too. */
static int make(const char *spec, const char *alpha, unsigned w, unsigned h,
		unsigned n, struct pixels *p)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	ImageInfo *info = CloneImageInfo(NULL);
	Image *img, *a = NULL;
	char size[32];
	int ok;

	snprintf(size, sizeof(size), "%ux%u", w, h);
	CloneString(&info->size, size);
	snprintf(info->filename, sizeof(info->filename), "%s", spec);
	img = ReadImage(info, exc);
	if (alpha != NULL) {
		snprintf(info->filename, sizeof(info->filename), "%s", alpha);
		a = ReadImage(info, exc);
	}
	pixels_init(p);
	ok = img != NULL && (alpha == NULL || a != NULL) &&
	     pixels_alloc(p, w, h, n, NULL) == 0;
	if (ok && (n == 2 || n == 4)) {
		SetImageAlphaChannel(img, SetAlphaChannel);
		CompositeImage(img, CopyOpacityCompositeOp, a, 0, 0);
	}
	if (ok)
		ok = ExportImagePixels(img, 0, 0, w, h,
				       n == 1 ? "I" : n == 2 ? "IA" : n == 3 ? "RGB" : "RGBA",
				       CharPixel, p->data, exc);
	if (img != NULL)
		DestroyImage(img);
	if (a != NULL)
		DestroyImage(a);
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
	return ok ? 0 : -1;
}

/* MagickCore's Lanczos resize of p (1 or 3 channels) into *out. */
static int magick_resize(const struct pixels *p, unsigned w, unsigned h,
			 struct pixels *out)
{
	const char *map = p->channels == 1 ? "I" : "RGB";
	ExceptionInfo *exc = AcquireExceptionInfo();
	Image *img = ConstituteImage(p->width, p->height, map, CharPixel,
				     p->data, exc);
	Image *r = img ? ResizeImage(img, w, h, LanczosFilter, 1.0, exc) : NULL;
	int ok = r != NULL && pixels_alloc(out, w, h, p->channels, NULL) == 0 &&
		 ExportImagePixels(r, 0, 0, w, h, map, CharPixel, out->data, exc);

	if (r != NULL)
		DestroyImage(r);
	if (img != NULL)
		DestroyImage(img);
	DestroyExceptionInfo(exc);
	return ok ? 0 : -1;
}

static double psnr(const struct pixels *a, const struct pixels *b)
{
	double se = 0;
	size_t n = 0;

	for (unsigned y = 0; y < a->height; y++)
		for (size_t i = 0; i < (size_t)a->width * a->channels; i++, n++) {
			double d = (double)a->data[y * a->stride + i] -
				   b->data[y * b->stride + i];
			se += d * d;
		}
	return se == 0 ? 99.0 : 10 * log10(255.0 * 255 * n / se);
}

static void test_plan(void)
{
	static const struct {
		unsigned from, to, shrink;
		enum resize_filter filter;
	} cases[] = {
		{ 3000, 300, 5, RESIZE_LANCZOS3 },  /* 10x: box 5, 2x left */
		{ 1500, 400, 1, RESIZE_LANCZOS3 },  /* 3.75x */
		{ 1600, 400, 2, RESIZE_LANCZOS3 },  /* 4x: box 2 */
		{ 800, 600, 1, RESIZE_LANCZOS3 },
		{ 300, 300, 1, RESIZE_COPY },
		{ 300, 900, 1, RESIZE_LANCZOS3 },   /* enlarging */
		{ 100000, 1, RESIZE_MAX_SHRINK, RESIZE_LANCZOS3 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resize_axis a;

		resize_plan(cases[i].from, cases[i].to, &a);
		CHECK(a.shrink == cases[i].shrink && a.filter == cases[i].filter,
		      "%u -> %u: shrink %u filter %d", cases[i].from, cases[i].to,
		      a.shrink, a.filter);
	}
}

/* Against MagickCore on photo-like and smooth images. */
static void test_like_magick(void)
{
	static const struct {
		const char *spec;
		unsigned sw, sh, w, h, n;
		double min_db;
	} cases[] = {
		{ "plasma:fractal", 1200, 800, 120, 80, 3, 45 },  /* box 5 */
		{ "plasma:fractal", 900, 600, 240, 160, 3, 50 },  /* 3.75x */
		{ "plasma:fractal", 400, 300, 300, 225, 3, 50 },  /* 1.33x */
		{ "plasma:fractal", 160, 120, 400, 300, 3, 50 },  /* enlarge */
		{ "plasma:fractal", 640, 480, 100, 300, 3, 45 },  /* each axis */
		{ "plasma:fractal", 700, 500, 99, 71, 1, 45 },    /* grey */
		{ "gradient:#2050c0-#f0e020", 1000, 700, 110, 77, 3, 50 },
		{ "gradient:#2050c0-#f0e020", 300, 200, 200, 133, 3, 55 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pixels in, ours, ref;
		struct err e;
		double db;

		pixels_init(&ours);
		pixels_init(&ref);
		if (make(cases[i].spec, NULL, cases[i].sw, cases[i].sh, cases[i].n,
			 &in) < 0 ||
		    magick_resize(&in, cases[i].w, cases[i].h, &ref) < 0) {
			CHECK(0, "MagickCore made no %s", cases[i].spec);
			continue;
		}
		CHECK(resize_pixels(&in, cases[i].w, cases[i].h, &ours, &e) == 0,
		      "%s", e.msg);
		CHECK(ours.width == cases[i].w && ours.height == cases[i].h &&
		      ours.channels == cases[i].n && ours.stride == ours.width * ours.channels);
		db = psnr(&ours, &ref);
		CHECK(db >= cases[i].min_db, "%s %ux%u -> %ux%u: %.1f dB",
		      cases[i].spec, cases[i].sw, cases[i].sh, cases[i].w,
		      cases[i].h, db);
		pixels_release(&in);
		pixels_release(&ours);
		pixels_release(&ref);
	}
}

/* A shrink with nothing after it is the rounded mean of each block, the
 * blocks at the right and bottom edges cut short. */
static void test_box(void)
{
	struct pixels in, out;
	struct resize_axis plan[2] = { { 3, RESIZE_COPY }, { 2, RESIZE_COPY } };
	struct resize_axis part[2] = { { 3, RESIZE_LANCZOS3 }, { 2, RESIZE_LANCZOS3 } };
	int ok = 1;

	pixels_init(&in);
	pixels_init(&out);
	pixels_alloc(&in, 12, 6, 3, NULL);
	for (size_t i = 0; i < 12 * 6 * 3; i++)
		in.data[i] = (unsigned char)((i * 97 + i / 7) & 255);
	CHECK(resize_pixels_plan(&in, 4, 3, plan, &out, NULL) == 0);
	for (unsigned y = 0; y < 3; y++)
		for (unsigned x = 0; x < 4; x++)
			for (unsigned c = 0; c < 3; c++) {
				unsigned s = 0;

				for (unsigned j = 0; j < 2; j++)
					for (unsigned i = 0; i < 3; i++)
						s += in.data[(y * 2 + j) * in.stride +
							     (x * 3 + i) * 3 + c];
				ok &= out.data[y * out.stride + x * 3 + c] ==
				      (s + 3) / 6;
			}
	CHECK(ok, "not the rounded means");
	/* 11x5 by 3x2: the last column of blocks is 2 wide, the last row 1
	 * high; a flat image stays flat through them and the filter. */
	memset(in.data, 77, 12 * 6 * 3);
	in.width = 11, in.height = 5;
	CHECK(resize_pixels_plan(&in, 3, 2, part, &out, NULL) == 0);
	ok = out.width == 3 && out.height == 2;
	for (size_t i = 0; ok && i < 3 * 2 * 3; i++)
		ok = out.data[i] == 77;
	CHECK(ok, "a flat image came out uneven");
	/* Plans that do not fit are refused. */
	plan[0].shrink = 5;
	CHECK(resize_pixels_plan(&in, 3, 2, plan, &out, NULL) < 0);
	plan[0].shrink = 0;
	CHECK(resize_pixels_plan(&in, 3, 2, plan, &out, NULL) < 0);
	pixels_release(&in);
	pixels_release(&out);
}

/* Every size from tiny to large, every channel count: a flat colour
 * comes out exactly flat (the weights of each pixel sum to one, edges
 * included), and nothing reads or writes out of bounds (ASan). */
static void test_flat(void)
{
	static const unsigned sizes[][4] = {
		{ 1, 1, 1, 1 }, { 1, 1, 7, 5 }, { 2, 1, 1, 1 }, { 7, 3, 2, 9 },
		{ 640, 480, 33, 17 }, { 33, 17, 640, 480 }, { 1000, 3, 7, 3 },
		{ 5000, 2, 3, 1 }, { 100, 100, 100, 37 }, { 50, 40, 49, 41 },
	};
	static const unsigned char colour[4] = { 201, 17, 99, 255 };

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (unsigned n = 1; n <= 4; n++) {
			struct pixels in, out;
			struct err e;
			int ok = 1;

			pixels_init(&in);
			pixels_init(&out);
			pixels_alloc(&in, sizes[s][0], sizes[s][1], n, NULL);
			for (size_t i = 0; i < pixels_bytes(in.width, in.height, n); i++)
				in.data[i] = n == 2 && i % 2 ? 255 : colour[i % n];
			CHECK(resize_pixels(&in, sizes[s][2], sizes[s][3], &out, &e) == 0,
			      "%s", e.msg);
			for (size_t i = 0; i < pixels_bytes(out.width, out.height, n); i++)
				ok &= out.data[i] == (n == 2 && i % 2 ? 255 : colour[i % n]);
			CHECK(ok, "%ux%u -> %ux%u, %u channels: not flat",
			      sizes[s][0], sizes[s][1], sizes[s][2], sizes[s][3], n);
			pixels_release(&in);
			pixels_release(&out);
		}
}

/* Lanczos3 alone over a big reduction: hundreds of taps, each weight a
 * few units of 1/16384, whose rounding errors add up unless each set of
 * weights is made to sum to one again. */
static void test_flat_many_taps(void)
{
	struct resize_axis plan[2] = { { 1, RESIZE_LANCZOS3 }, { 1, RESIZE_COPY } };
	struct pixels in, out;
	int ok = 1;

	pixels_init(&in);
	pixels_init(&out);
	pixels_alloc(&in, 2000, 2, 1, NULL);
	memset(in.data, 250, 4000);
	CHECK(resize_pixels_plan(&in, 7, 2, plan, &out, NULL) == 0);
	for (unsigned i = 0; i < 14; i++)
		ok &= out.data[i] == 250;
	CHECK(ok, "a flat image came out at %u", out.data[3]);
	pixels_release(&in);
	pixels_release(&out);
}

/*
 * Transparent red beside opaque blue: premultiplied, no red reaches a
 * visible pixel.  And against MagickCore (which weighs colour by alpha
 * too) on plasma with an alpha gradient, compared after flattening onto
 * black, as the pipeline shows them.
 */
static void test_alpha(void)
{
	struct pixels in, out;
	int bled = 0, alpha_ok = 1;

	pixels_init(&in);
	pixels_init(&out);
	pixels_alloc(&in, 300, 40, 4, NULL);
	for (unsigned y = 0; y < 40; y++)
		for (unsigned x = 0; x < 300; x++) {
			unsigned char *p = in.data + y * in.stride + x * 4;
			int left = x < 150;

			p[0] = left ? 255 : 0, p[1] = 0, p[2] = left ? 0 : 255;
			p[3] = left ? 0 : 255;
		}
	for (int k = 0; k < 2; k++) {
		unsigned w = k ? 80 : 1000; /* reduce, enlarge */
		/* Lanczos reaches 3 input pixels (or output pixels, when
		 * reducing) either side of the edge. */
		unsigned m = k ? 4 : 3 * w / 300 + 1;

		CHECK(resize_pixels(&in, w, 40, &out, NULL) == 0);
		for (unsigned x = 0; x < w; x++) {
			const unsigned char *p = out.data + x * 4;

			bled |= p[3] != 0 && p[0] != 0;
			alpha_ok &= x < w / 2 - m ? p[3] == 0
				    : x > w / 2 + m ? p[3] == 255 : 1;
		}
	}
	CHECK(!bled, "the transparent red bled into visible pixels");
	CHECK(alpha_ok, "alpha moved");
	pixels_release(&in);

	/* Grey and alpha: the same. */
	pixels_alloc(&in, 90, 30, 2, NULL);
	for (unsigned y = 0; y < 30; y++)
		for (unsigned x = 0; x < 90; x++) {
			in.data[y * in.stride + x * 2] = x < 45 ? 255 : 0;
			in.data[y * in.stride + x * 2 + 1] = x < 45 ? 0 : 200;
		}
	CHECK(resize_pixels(&in, 20, 30, &out, NULL) == 0);
	bled = 0;
	for (unsigned x = 0; x < 20; x++)
		bled |= out.data[x * 2 + 1] != 0 && out.data[x * 2] != 0;
	CHECK(!bled, "grey: the transparent white bled");
	pixels_release(&in);
	pixels_release(&out);

	if (make("plasma:fractal", "gradient:white-black", 600, 400, 4, &in) == 0) {
		struct pixels flat, ref;

		pixels_init(&flat);
		pixels_init(&ref);
		/* MagickCore's, flattened onto black by alpha. */
		{
			ExceptionInfo *exc = AcquireExceptionInfo();
			Image *img = ConstituteImage(600, 400, "RGBA", CharPixel,
						     in.data, exc);
			Image *r = ResizeImage(img, 150, 100, LanczosFilter, 1.0, exc);

			pixels_alloc(&ref, 150, 100, 4, NULL);
			ExportImagePixels(r, 0, 0, 150, 100, "RGBA", CharPixel,
					  ref.data, exc);
			DestroyImage(r);
			DestroyImage(img);
			DestroyExceptionInfo(exc);
		}
		CHECK(resize_pixels(&in, 150, 100, &out, NULL) == 0);
		{
			static const unsigned char black[3] = { 0, 0, 0 };

			pixels_flatten(&out, black, NULL);
			pixels_flatten(&ref, black, NULL);
			CHECK(psnr(&out, &ref) >= 45, "alpha: %.1f dB against "
			      "MagickCore", psnr(&out, &ref));
		}
		pixels_release(&ref);
		pixels_release(&flat);
		pixels_release(&in);
		pixels_release(&out);
	} else {
		CHECK(0, "MagickCore made no RGBA plasma");
	}
}

/* A crop (rows apart by more than its width) resizes as a packed copy
 * of it does; dst may be src; failures leave dst alone. */
static void test_stride_and_refusals(void)
{
	struct pixels big, packed, a, b;
	struct err e;

	pixels_init(&a);
	pixels_init(&b);
	if (make("plasma:fractal", NULL, 500, 300, 3, &big) < 0) {
		CHECK(0, "no plasma");
		return;
	}
	pixels_crop(&big, 37, 11, 401, 251);
	pixels_init(&packed);
	pixels_alloc(&packed, 401, 251, 3, NULL);
	for (unsigned y = 0; y < 251; y++)
		memcpy(packed.data + y * packed.stride, big.data + y * big.stride,
		       401 * 3);
	CHECK(resize_pixels(&big, 97, 61, &a, NULL) == 0);
	CHECK(resize_pixels(&packed, 97, 61, &b, NULL) == 0);
	CHECK(psnr(&a, &b) == 99.0, "a crop resized otherwise");
	CHECK(resize_pixels(&packed, 97, 61, &packed, &e) == 0, "%s", e.msg);
	CHECK(packed.width == 97 && psnr(&packed, &b) == 99.0,
	      "resized onto itself otherwise");
	/* Same size: a copy. */
	CHECK(resize_pixels(&big, 401, 251, &a, NULL) == 0);
	CHECK(a.stride == 401 * 3 && a.data[0] == big.data[0] &&
	      a.data[250 * a.stride + 1202] == big.data[250 * big.stride + 1202]);

	CHECK(resize_pixels(&big, 0, 10, &a, &e) < 0 && e.code == ERR_INTERNAL);
	CHECK(a.width == 401, "dst changed by a failure");
	pixels_release(&packed);
	CHECK(resize_pixels(&packed, 10, 10, &a, &e) < 0 && e.code == ERR_INTERNAL);
	CHECK(resize_scratch_bytes(3000, 2000, 3, 300, 200) > 3000 * 3 &&
	      resize_scratch_bytes(3000, 2000, 3, 300, 200) < 3000 * 2000 * 3);
	pixels_release(&big);
	pixels_release(&a);
	pixels_release(&b);
}

int main(int argc, char **argv)
{
	(void)argc;
	MagickCoreGenesis(argv[0], MagickFalse);
	test_plan();
	test_like_magick();
	test_box();
	test_flat();
	test_flat_many_taps();
	test_alpha();
	test_stride_and_refusals();
	MagickCoreTerminus();
	return TEST_END("resize");
}
