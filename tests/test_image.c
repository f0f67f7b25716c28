/* test_image.c - the MagickCore pipeline on images made in the test. */
#include <magick/MagickCore.h>
#include <math.h>
#include <stdlib.h>

#include "decode.h"
#include "dec_jpeg.h"
#include "image.h"
#include "jpegdc.h"
#include "test.h"

/* Reads a MagickCore pseudo-format ("gradient:red-blue") at w x h. */
static Image *read_spec(ImageInfo *info, const char *spec, unsigned w,
			unsigned h, ExceptionInfo *exc)
{
	char size[32];

	snprintf(size, sizeof(size), "%ux%u", w, h);
	CloneString(&info->size, size);
	snprintf(info->filename, sizeof(info->filename), "%s", spec);
	return ReadImage(info, exc);
}

/* Encodes img (destroyed) as coder with info; the caller frees the
 * result with free(). */
static unsigned char *encode(ImageInfo *info, Image *img, const char *coder,
			     size_t *len, ExceptionInfo *exc)
{
	unsigned char *blob, *copy = NULL;

	/* A fresh filename: ImageToBlob takes the coder from it first. */
	snprintf(info->filename, sizeof(info->filename), "%s:", coder);
	snprintf(img->magick, sizeof(img->magick), "%s", coder);
	blob = ImageToBlob(info, img, len, exc);
	if (blob != NULL) {
		copy = malloc(*len);
		memcpy(copy, blob, *len);
		RelinquishMagickMemory(blob);
	}
	DestroyImage(img);
	return copy;
}

/* Makes an image from a MagickCore pseudo-format ("gradient:red-blue")
 * and encodes it as coder; the caller frees the blob with free(). */
static unsigned char *make(const char *spec, unsigned w, unsigned h,
			   const char *coder, const char *colorspace,
			   int alpha, size_t *len)
{
	ImageInfo *info = CloneImageInfo(NULL);
	ExceptionInfo *exc = AcquireExceptionInfo();
	Image *img = read_spec(info, spec, w, h, exc);
	unsigned char *copy = NULL;

	if (img == NULL)
		goto out;
	if (alpha) {
		/* Transparent everywhere but a 10-pixel band in the middle. */
		SetImageAlphaChannel(img, SetAlphaChannel);
		for (unsigned y = 0; y < h; y++) {
			PixelPacket *p = GetAuthenticPixels(img, 0, y, w, 1, exc);
			for (unsigned x = 0; x < w; x++)
				p[x].opacity = (y > h / 2 - 5 && y < h / 2 + 5)
						       ? OpaqueOpacity
						       : TransparentOpacity;
			SyncAuthenticPixels(img, exc);
		}
	}
	if (colorspace != NULL && strcmp(colorspace, "CMYK") == 0)
		TransformImageColorspace(img, CMYKColorspace);
	SetImageProperty(img, "comment", "secret comment");
	info->quality = 90;
	copy = encode(info, img, coder, len, exc);
out:
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
	return copy;
}

/* Inserts an EXIF APP1 segment with Orientation = o after the SOI. */
static unsigned char *with_orientation(const unsigned char *jpg, size_t len,
				       int o, size_t *out_len)
{
	static const unsigned char tmpl[] = {
		0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,
		'I', 'I', 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, /* TIFF, IFD at 8 */
		0x01, 0x00,                                   /* 1 entry */
		0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, /* 0112 SHORT 1 */
		0x06, 0x00, 0x00, 0x00,                       /* value */
		0x00, 0x00, 0x00, 0x00,                       /* no next IFD */
	};
	unsigned char *p = malloc(len + sizeof(tmpl));

	memcpy(p, jpg, 2);
	memcpy(p + 2, tmpl, sizeof(tmpl));
	p[2 + 28] = (unsigned char)o;
	memcpy(p + 2 + sizeof(tmpl), jpg + 2, len - 2);
	*out_len = len + sizeof(tmpl);
	return p;
}

struct info {
	unsigned w, h, quality;
	char magick[16];
	int colorspace, matte, has_exif, has_comment;
	PixelPacket corner;
};

/* Decodes an output and reads what the tests look at. */
static int inspect(const struct buf *b, struct info *in)
{
	ImageInfo *info = CloneImageInfo(NULL);
	ExceptionInfo *exc = AcquireExceptionInfo();
	Image *img = BlobToImage(info, b->data, b->len, exc);

	memset(in, 0, sizeof(*in));
	if (img != NULL) {
		in->w = (unsigned)img->columns;
		in->h = (unsigned)img->rows;
		in->quality = (unsigned)img->quality;
		snprintf(in->magick, sizeof(in->magick), "%.15s", img->magick);
		in->colorspace = img->colorspace;
		in->matte = img->matte;
		in->has_exif = GetImageProfile(img, "exif") != NULL;
		in->has_comment = GetImageProperty(img, "comment") != NULL;
		GetOneVirtualPixel(img, 0, 0, &in->corner, exc);
		DestroyImage(img);
	}
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
	return img != NULL ? 0 : -1;
}

static struct image_opts opts(void)
{
	struct image_opts o = {
		.quality = 75,
		.allow_upscale = 0,
		.background = "white",
		.limits = { 50000000, 16384, 50 << 20 },
	};
	return o;
}

/* Runs image_make on data for file ("w300.jpg"); fills *in. */
static int run(const unsigned char *data, size_t len, const char *file,
	       const struct image_opts *o, struct info *in, struct err *e)
{
	struct url_request r;
	struct buf out;
	int rc;

	memset(&r, 0, sizeof(r));
	if (url_parse_file(file, &r, e) < 0)
		return -1;
	buf_init(&out);
	rc = image_make(data, len, &r, o, &out, e);
	if (rc == 0)
		rc = inspect(&out, in);
	buf_release(&out);
	return rc;
}

static void check_size(const unsigned char *d, size_t len, const char *file,
		       const struct image_opts *o, unsigned w, unsigned h)
{
	struct info in;
	struct err e = { ERR_NONE, "" };
	int rc = run(d, len, file, o, &in, &e);

	CHECK(rc == 0, "%s: %s", file, e.msg);
	CHECK(in.w == w && in.h == h, "%s: %ux%u, want %ux%u", file, in.w, in.h,
	      w, h);
}

static void test_sizes(void)
{
	struct image_opts o = opts(), up = opts();
	size_t len;
	unsigned char *big = make("gradient:red-blue", 3000, 2000, "JPEG", NULL, 0, &len);
	unsigned char *small;

	CHECK(big != NULL);
	up.allow_upscale = 1;
	check_size(big, len, "w300.jpg", &o, 300, 200);
	check_size(big, len, "w500.jpg", &o, 500, 333);
	check_size(big, len, "x400.jpg", &o, 400, 400);
	check_size(big, len, "300x400.jpg", &o, 300, 400);
	check_size(big, len, "800x600.webp", &o, 800, 600);
	check_size(big, len, "full_size.jpg", &o, 3000, 2000);
	check_size(big, len, "w2999.png", &o, 2999, 1999);
	free(big);

	small = make("gradient:red-blue", 200, 100, "PNG", NULL, 0, &len);
	check_size(small, len, "w500.jpg", &o, 200, 100);   /* capped */
	check_size(small, len, "w500.jpg", &up, 500, 250);  /* upscaled */
	check_size(small, len, "x400.jpg", &o, 100, 100);   /* box shrinks */
	check_size(small, len, "300x400.jpg", &o, 75, 100);
	check_size(small, len, "x400.jpg", &up, 400, 400);
	check_size(small, len, "x50.gif", &o, 50, 50);
	free(small);

	/* A tall original: w500 would be 500x5000, over a 2000 maximum. */
	small = make("gradient:red-blue", 100, 1000, "PNG", NULL, 0, &len);
	o.max_width = o.max_height = 2000;
	o.allow_upscale = 1;
	{
		struct info in;
		struct err e = { ERR_NONE, "" };
		CHECK(run(small, len, "w500.jpg", &o, &in, &e) < 0 &&
			      e.code == ERR_TOO_LARGE,
		      "%s %s", err_name(e.code), e.msg);
	}
	check_size(small, len, "w200.jpg", &o, 200, 2000);
	check_size(small, len, "full_size.jpg", &o, 100, 1000);
	o.max_width = o.max_height = 50;
	check_size(small, len, "full_size.jpg", &o, 100, 1000);
	free(small);
}

static void test_quality_and_strip(void)
{
	struct image_opts o = opts();
	struct info in;
	struct err e;
	size_t len;
	unsigned char *jpg = make("plasma:fractal", 640, 480, "JPEG", NULL, 0, &len);
	unsigned char *exif = with_orientation(jpg, len, 1, &len);

	CHECK(run(exif, len, "w320.jpg", &o, &in, &e) == 0, "%s", e.msg);
	CHECK_INT(in.quality, 75);
	CHECK(!in.has_exif, "EXIF kept");
	CHECK(!in.has_comment, "comment kept");
	CHECK_STR(in.magick, "JPEG");
	CHECK(run(exif, len, "w320-q50.jpg", &o, &in, &e) == 0, "%s", e.msg);
	CHECK_INT(in.quality, 50);
	o.quality = 90;
	CHECK(run(exif, len, "w320.jpg", &o, &in, &e) == 0, "%s", e.msg);
	CHECK_INT(in.quality, 90);
	CHECK(run(exif, len, "w320.webp", &o, &in, &e) == 0, "%s", e.msg);
	CHECK_STR(in.magick, "WEBP");
	CHECK(run(exif, len, "w320.png", &o, &in, &e) == 0, "%s", e.msg);
	CHECK_STR(in.magick, "PNG");
	CHECK(run(exif, len, "w320.gif", &o, &in, &e) == 0, "%s", e.msg);
	CHECK_STR(in.magick, "GIF");
	free(jpg);
	free(exif);
}

static void test_orientation(void)
{
	struct image_opts o = opts();
	size_t len, olen;
	unsigned char *jpg = make("gradient:red-blue", 1200, 800, "JPEG", NULL, 0, &len);
	unsigned char *rot;

	/* Orientation 6: stored landscape, shown portrait (800x1200). */
	rot = with_orientation(jpg, len, 6, &olen);
	check_size(rot, olen, "w400.jpg", &o, 400, 600);
	check_size(rot, olen, "full_size.jpg", &o, 800, 1200);
	check_size(rot, olen, "300x100.jpg", &o, 300, 100);
	free(rot);
	rot = with_orientation(jpg, len, 3, &olen); /* upside down */
	check_size(rot, olen, "w400.jpg", &o, 400, 267);
	free(rot);
	free(jpg);
}

static void test_colour(void)
{
	struct image_opts o = opts();
	struct info in;
	struct err e;
	size_t len, plen;
	unsigned char *cmyk = make("gradient:red-blue", 300, 200, "JPEG", "CMYK", 0, &len);
	unsigned char *png = make("xc:red", 100, 100, "PNG", NULL, 1, &plen);

	CHECK(run(cmyk, len, "w100.jpg", &o, &in, &e) == 0, "%s", e.msg);
	CHECK(in.colorspace == sRGBColorspace, "colorspace %d", in.colorspace);
	free(cmyk);

	CHECK(run(png, plen, "w50.png", &o, &in, &e) == 0, "%s", e.msg);
	CHECK(!in.matte, "alpha kept");
	CHECK(in.corner.red == QuantumRange && in.corner.green == QuantumRange &&
		      in.corner.blue == QuantumRange,
	      "corner %u,%u,%u", in.corner.red, in.corner.green, in.corner.blue);
	o.background = "#000000";
	CHECK(run(png, plen, "w50.jpg", &o, &in, &e) == 0, "%s", e.msg);
	CHECK(in.corner.red < QuantumRange / 20 && in.corner.blue < QuantumRange / 20,
	      "corner not black: %u", in.corner.red);
	free(png);
}

static void refuses(const unsigned char *d, size_t len, const char *file,
		    const struct image_opts *o, const char *why)
{
	struct info in;
	struct err e = { ERR_NONE, "" };

	CHECK(run(d, len, file, o, &in, &e) < 0, "%s made", why);
	CHECK(e.code == ERR_UNPROCESSABLE, "%s: %s (%s)", why, err_name(e.code),
	      e.msg);
}

static void test_refusals(void)
{
	struct image_opts o = opts();
	static const char svg[] = "<svg xmlns='http://www.w3.org/2000/svg'/>";
	static const char text[] = "hello, this is not an image\n";
	size_t len;
	unsigned char *jpg = make("plasma:fractal", 800, 600, "JPEG", NULL, 0, &len);
	unsigned char *trunc = malloc(len / 2), *bomb;

	refuses((const unsigned char *)svg, sizeof(svg) - 1, "w10.jpg", &o, "svg");
	refuses((const unsigned char *)text, sizeof(text) - 1, "w10.jpg", &o, "text");
	refuses((const unsigned char *)"", 0, "w10.jpg", &o, "empty");
	memcpy(trunc, jpg, len / 2);
	refuses(trunc, len / 2, "w10.jpg", &o, "truncated JPEG");
	free(trunc);

	o.limits.max_pixels = 800 * 600 - 1;
	refuses(jpg, len, "w10.jpg", &o, "over max_pixels");
	o = opts();
	o.limits.max_side = 799;
	refuses(jpg, len, "w10.jpg", &o, "over max_side");
	o = opts();
	o.limits.max_bytes = len - 1;
	refuses(jpg, len, "w10.jpg", &o, "over max_bytes");
	free(jpg);

	/* Over the time limit: stopped, refused, nothing returned. */
	{
		unsigned char *big = make("plasma:fractal", 3000, 2000, "PNG", NULL, 0, &len);
		struct info in;
		struct err e = { ERR_NONE, "" };
		o = opts();
		o.limits.timeout_ms = 1;
		CHECK(run(big, len, "full_size.png", &o, &in, &e) < 0 &&
			      e.code == ERR_UNPROCESSABLE && strstr(e.msg, "longer"),
		      "%s %s", err_name(e.code), e.msg);
		o.limits.timeout_ms = 60000;
		CHECK(run(big, len, "w100.png", &o, &in, &e) == 0, "%s", e.msg);
		free(big);
	}

	/* An animation over max_frames. */
	{
		ImageInfo *info = CloneImageInfo(NULL);
		ExceptionInfo *exc = AcquireExceptionInfo();
		Image *list = NULL;
		unsigned char *blob;
		struct info in;
		struct err e = { ERR_NONE, "" };

		CloneString(&info->size, "20x20");
		for (int i = 0; i < 3; i++) {
			snprintf(info->filename, sizeof(info->filename), "xc:%s",
				 i ? "blue" : "red");
			AppendImageToList(&list, ReadImage(info, exc));
		}
		snprintf(info->filename, sizeof(info->filename), "GIF:");
		info->adjoin = MagickTrue;
		blob = ImagesToBlob(info, list, &len, exc);
		o = opts();
		o.limits.max_frames = 2;
		CHECK(run(blob, len, "w10.png", &o, &in, &e) < 0 &&
			      e.code == ERR_UNPROCESSABLE && strstr(e.msg, "frames"),
		      "%s %s", err_name(e.code), e.msg);
		o.limits.max_frames = 3;
		CHECK(run(blob, len, "w10.png", &o, &in, &e) == 0, "%s", e.msg);
		CHECK(in.corner.red == QuantumRange && in.corner.blue == 0,
		      "first frame used");
		RelinquishMagickMemory(blob);
		DestroyImageList(list);
		DestroyImageInfo(info);
		DestroyExceptionInfo(exc);
	}

	/* A PNG header claiming 30000x30000: refused before decoding. */
	bomb = make("xc:white", 10, 10, "PNG", NULL, 0, &len);
	bomb[16] = 0, bomb[17] = 0, bomb[18] = 0x75, bomb[19] = 0x30;
	bomb[20] = 0, bomb[21] = 0, bomb[22] = 0x75, bomb[23] = 0x30;
	o = opts();
	refuses(bomb, len, "w10.jpg", &o, "30000x30000 PNG");
	free(bomb);
}

/* A JPEG from spec with the given chroma sampling ("2x2": 4:2:0) or, with
 * grey set, one greyscale channel; free() it. */
static unsigned char *make_jpeg(const char *spec, unsigned w, unsigned h,
				const char *sampling, int grey, size_t *len)
{
	ImageInfo *info = CloneImageInfo(NULL);
	ExceptionInfo *exc = AcquireExceptionInfo();
	Image *img = read_spec(info, spec, w, h, exc);
	unsigned char *copy = NULL;

	if (img == NULL)
		goto out;
	if (grey)
		SetImageType(img, GrayscaleType);
	info->quality = 88;
	if (sampling != NULL)
		CloneString(&info->sampling_factor, sampling);
	copy = encode(info, img, "JPEG", len, exc);
out:
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
	return copy;
}

/* The mean difference of two encoded images' pixels, as a fraction of
 * the range; 1 when they do not decode to the same size. */
static double pixel_diff(const struct buf *a, const struct buf *b)
{
	ImageInfo *info = CloneImageInfo(NULL);
	ExceptionInfo *exc = AcquireExceptionInfo();
	Image *ia = BlobToImage(info, a->data, a->len, exc);
	Image *ib = BlobToImage(info, b->data, b->len, exc);
	double sum = 0, d = 1;

	if (ia != NULL && ib != NULL && ia->columns == ib->columns &&
	    ia->rows == ib->rows) {
		for (size_t y = 0; y < ia->rows; y++) {
			const PixelPacket *pa = GetVirtualPixels(ia, 0, (ssize_t)y, ia->columns, 1, exc);
			const PixelPacket *pb = GetVirtualPixels(ib, 0, (ssize_t)y, ib->columns, 1, exc);

			for (size_t x = 0; x < ia->columns; x++)
				sum += fabs((double)pa[x].red - pb[x].red) +
				       fabs((double)pa[x].green - pb[x].green) +
				       fabs((double)pa[x].blue - pb[x].blue);
		}
		d = sum / (3.0 * QuantumRange * ia->columns * ia->rows);
	}
	if (ia != NULL)
		DestroyImage(ia);
	if (ib != NULL)
		DestroyImage(ib);
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
	return d;
}

/* The mean difference of output file made from orig by a and by b; 1
 * when either fails. */
static double make_diff(const unsigned char *orig, size_t len, const char *file,
			const struct image_opts *a, const struct image_opts *b)
{
	struct url_request r;
	struct buf x, y;
	struct err e;
	double d = 1;
	int rx, ry;

	memset(&r, 0, sizeof(r));
	CHECK(url_parse_file(file, &r, &e) == 0);
	buf_init(&x);
	buf_init(&y);
	rx = image_make(orig, len, &r, a, &x, &e);
	ry = image_make(orig, len, &r, b, &y, &e);
	CHECK(rx == 0 && ry == 0, "%s: %s", file, e.msg);
	if (rx == 0 && ry == 0)
		d = pixel_diff(&x, &y);
	buf_release(&x);
	buf_release(&y);
	return d;
}

/*
 * The outputs of the 8-bit pipeline (here jpegdc's decode, reductions of
 * 8 and more from a JPEG at 1/8, of 6 at 2/8, then our resize and
 * encoders) are those of
 * MagickCore all the way, within a small mean difference, in every
 * format, with EXIF orientation, for 4:2:0, 4:4:4 and greyscale
 * originals; and the originals are ones jpegdc takes, so the comparison
 * is not empty.
 */
static void test_dc_path(void)
{
	/* 8x or more (jpegdc at 1/8), then 6x (at 2/8). */
	static const char *const outputs[] = { "w300.jpg", "x200.jpg", "300x100.png",
					       "w250.webp", "w200.gif", "w300-q40.jpg",
					       "w400.jpg", "x250.png" };
	struct {
		const char *sampling;
		int grey, orientation;
	} kinds[] = { { "2x2", 0, 1 }, { "1x1", 0, 1 }, { NULL, 1, 1 }, { "2x2", 0, 6 } };
	struct image_opts fast = opts(), magick = opts();
	size_t split = jpegdc_split_bytes;

	/* At 2/8 jpegdc takes only a scan it splits between two threads,
	 * at this size too. */
	jpegdc_split_bytes = 0;
	magick.magick_only = 1;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t len, olen;
		unsigned char *jpg = make_jpeg("plasma:fractal", 2400, 1600,
					       kinds[k].sampling, kinds[k].grey, &len);
		unsigned char *orig = jpg;
		struct jpegdc_image dc;

		CHECK(jpg != NULL);
		if (jpg == NULL)
			continue;
		if (kinds[k].orientation != 1) {
			orig = with_orientation(jpg, len, kinds[k].orientation, &olen);
			free(jpg);
			len = olen;
		}
		for (unsigned scale = 1; scale <= 2; scale++) {
			CHECK(jpegdc_decode(orig, len, scale, NULL, NULL, &dc, NULL) == 0,
			      "kind %zu is declined at %u/8", k, scale);
			CHECK(dc.channels == (kinds[k].grey ? 1u : 3u) &&
				      dc.width == 300 * scale,
			      "kind %zu at %u/8: %u wide, %u channels", k, scale,
			      dc.width, dc.channels);
			jpegdc_image_release(&dc);
		}
		for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
			double d = make_diff(orig, len, outputs[i], &fast, &magick);

			/* The resamplers and encoders differ in their last
			 * rounding (under 1.5% of the range on this noise);
			 * GIF's quantiser also weighs attributes of the decoded
			 * image other than its pixels: the palettes and
			 * dithering differ, about 2% of the range. */
			CHECK(d < (strstr(outputs[i], ".gif") ? 0.05 : 0.015),
			      "kind %zu %s: pixels differ by %.5f", k, outputs[i], d);
		}
		free(orig);
	}
	jpegdc_split_bytes = split;
}

/*
 * Each of the eight EXIF orientations, as a fit to a width, a fill wider
 * and a fill taller than the original, at a reduction libjpeg's DCT
 * scaling takes: the same pixels as MagickCore's -auto-orient and resize,
 * within the resamplers' rounding.  The turn is done after the resize,
 * on the small output, so the window of a fill must be carried back to
 * the pixels as stored.
 */
static void test_orientations(void)
{
	static const char *const outputs[] = { "w300.png", "300x100.png", "100x300.png",
					       "w80.png" };
	struct image_opts fast = opts(), magick = opts();
	size_t len;
	unsigned char *jpg = make_jpeg("plasma:fractal", 1200, 800, "1x1", 0, &len);

	magick.magick_only = 1;
	CHECK(jpg != NULL);
	for (int o = 1; jpg != NULL && o <= 8; o++) {
		size_t olen;
		unsigned char *orig = with_orientation(jpg, len, o, &olen);

		for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
			double d = make_diff(orig, olen, outputs[i], &fast, &magick);

			CHECK(d < 0.015, "orientation %d %s: pixels differ by %.5f", o,
			      outputs[i], d);
		}
		free(orig);
	}
	free(jpg);
}

/* The libjpeg decode's scale: the SIMD ones (2/8, 4/8) with 1.5x left for
 * the resize, else 2x left. */
static void test_jpeg_scale(void)
{
	CHECK_INT(dec_jpeg_scale(3000, 2000, 375, 250), 1);
	CHECK_INT(dec_jpeg_scale(3000, 2000, 376, 250), 2);
	CHECK_INT(dec_jpeg_scale(4032, 3024, 533, 400), 2); /* 1.9x left */
	CHECK_INT(dec_jpeg_scale(1680, 1050, 400, 250), 4); /* 2/8 leaves 1.05x */
	CHECK_INT(dec_jpeg_scale(1000, 1000, 300, 300), 4);
	CHECK_INT(dec_jpeg_scale(1000, 1000, 334, 334), 6); /* 4/8 leaves 1.497x */
	CHECK_INT(dec_jpeg_scale(1000, 1000, 400, 400), 7);
	CHECK_INT(dec_jpeg_scale(1000, 800, 700, 560), 8);
	CHECK_INT(dec_jpeg_scale(1000, 800, 300, 800), 8); /* the height decides */
}

/*
 * The memory reserved for a reduction of 8x or more: the small image when
 * our DC decoders take the original, every coefficient when libjpeg must
 * (a progressive CMYK file, which they decline).
 */
static void test_estimate(void)
{
	struct sniff_info si;
	struct err e;
	size_t len, coefficients = (size_t)(1600 / 8) * (1200 / 8) * 128 * 3;
	unsigned char *rgb = make("plasma:fractal", 1600, 1200, "PJPEG", NULL, 0, &len);
	unsigned char *cmyk;

	CHECK(rgb != NULL && sniff(rgb, len, &si, &e) == 0);
	if (rgb != NULL)
		CHECK(decode_estimate(rgb, len, &si, 100, 75) < coefficients / 4,
		      "jpegprog's 1/8 needs little: %zu",
		      decode_estimate(rgb, len, &si, 100, 75));
	free(rgb);
	cmyk = make("plasma:fractal", 1600, 1200, "PJPEG", "CMYK", 0, &len);
	CHECK(cmyk != NULL && sniff(cmyk, len, &si, &e) == 0);
	if (cmyk != NULL)
		CHECK(decode_estimate(cmyk, len, &si, 100, 75) >= coefficients,
		      "libjpeg's progressive CMYK holds its coefficients: %zu",
		      decode_estimate(cmyk, len, &si, 100, 75));
	free(cmyk);
}

static void test_output_size(void)
{
	struct url_request r;
	unsigned w, h;

	memset(&r, 0, sizeof(r));
	r.fit = URL_FIT_WIDTH, r.width = 300;
	image_output_size(3000, 2000, &r, 0, &w, &h);
	CHECK(w == 300 && h == 200, "%ux%u", w, h);
	image_output_size(3, 1000, &r, 0, &w, &h);
	CHECK(w == 3 && h == 1000, "%ux%u", w, h);
	r.width = 1;
	image_output_size(1000, 3, &r, 0, &w, &h);
	CHECK(w == 1 && h == 1, "height never 0: %ux%u", w, h);
	r.fit = URL_FIT_FULL;
	image_output_size(640, 480, &r, 0, &w, &h);
	CHECK(w == 640 && h == 480, "%ux%u", w, h);
}

int main(int argc, char **argv)
{
	struct err e;

	(void)argc;
	if (image_global_init(argv[0], 1, 16384, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	CHECK(image_format_available(URL_FMT_JPEG));
	CHECK(image_format_available(URL_FMT_WEBP));
	CHECK(image_check_color("white", NULL) == 0);
	CHECK(image_check_color("no-such-colour", NULL) < 0);
	test_output_size();
	test_estimate();
	test_sizes();
	test_quality_and_strip();
	test_orientation();
	test_orientations();
	test_jpeg_scale();
	test_colour();
	test_refusals();
	test_dc_path();
	image_global_release();
	return TEST_END("image");
}
