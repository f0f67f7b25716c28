/* magick.c - MagickCore's part of the pipeline: its start and limits, the
 * whole make for the originals our decoders leave to it (GIF, animated
 * WebP), and the encoders we do not have (GIF, AVIF). */
#include "image_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <magick/MagickCore.h>

#include "clock.h"
#include "color.h"

/*
 * MagickCore builds some of its tables (coders, delegates) on first use,
 * with double-checked locking that races (ThreadSanitizer sees it) when
 * the first images of the process are made on several threads at once.
 * Encoding and decoding a tiny image in each format once, before threads
 * start, builds them all.
 */
static void warm_up(void)
{
	static const char *const coders[] = { "GIF", "JPEG", "PNG", "WEBP", "AVIF" };
	ExceptionInfo *exc = AcquireExceptionInfo();
	ImageInfo *info = CloneImageInfo(NULL);
	Image *img;

	CloneString(&info->size, "2x2");
	snprintf(info->filename, sizeof(info->filename), "xc:white");
	img = ReadImage(info, exc);
	/* A palette already: GIF's writer then quantizes nothing (its colour
	 * cache would touch 128 MiB at every start). */
	if (img != NULL)
		(void)AcquireImageColormap(img, 2);
	for (size_t i = 0; img != NULL && i < sizeof(coders) / sizeof(coders[0]); i++) {
		ImageInfo *w = CloneImageInfo(NULL);
		size_t len = 0;
		unsigned char *blob;

		snprintf(w->filename, sizeof(w->filename), "%s:", coders[i]);
		snprintf(img->magick, sizeof(img->magick), "%s", coders[i]);
		blob = ImageToBlob(w, img, &len, exc);
		if (blob != NULL) {
			Image *back = BlobToImage(w, blob, len, exc);
			if (back != NULL)
				DestroyImageList(back);
			RelinquishMagickMemory(blob);
		}
		DestroyImageInfo(w);
	}
	if (img != NULL)
		DestroyImage(img);
	(void)GetDelegateInfo("*", "*", exc);
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
}

/* Sets a MagickCore resource limit to at most value. */
static void lower_limit(ResourceType type, MagickSizeType value)
{
	if (GetMagickResourceLimit(type) > value)
		SetMagickResourceLimit(type, value);
}

int magick_start(const char *argv0, int omp_threads, unsigned max_side,
		 struct err *e)
{
	MagickCoreGenesis(argv0, MagickFalse);
	/* Debian's policy.xml sets upper bounds; code can only lower them. */
	SetMagickResourceLimit(ThreadResource, (MagickSizeType)omp_threads);
	magick_set_limits(max_side);
	/* Pixel caches beyond memory go to a mapped file, then to disk; the
	 * process as a whole stays below these, or below the operator's
	 * MAGICK_MEMORY_LIMIT, MAGICK_MAP_LIMIT and MAGICK_DISK_LIMIT where
	 * those are lower.  Not TimeResource: in this version it counts from
	 * process start, which would end a server; a per-request deadline
	 * (struct deadline) does that job. */
	lower_limit(MemoryResource, (MagickSizeType)192 << 20);
	lower_limit(MapResource, (MagickSizeType)384 << 20);
	lower_limit(DiskResource, (MagickSizeType)1 << 30);
	if (GetMagickResourceLimit(ThreadResource) == 0)
		return err_set(e, ERR_INTERNAL, "MagickCore did not start");
	warm_up();
	return 0;
}

void magick_set_limits(unsigned max_side)
{
	SetMagickResourceLimit(WidthResource, max_side);
	SetMagickResourceLimit(HeightResource, max_side);
}

void magick_stop(void)
{
	MagickCoreTerminus();
}

int magick_can_encode(enum url_format f)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	const MagickInfo *mi = GetMagickInfo(url_format_coder(f), exc);
	int ok = mi != NULL && mi->encoder != NULL;

	DestroyExceptionInfo(exc);
	return ok;
}

/* MagickCore's colour lookup races with itself across threads
 * (ThreadSanitizer sees a free of one thread against another's write);
 * the makes ask it for -background. */
static MagickBooleanType query_color(const char *name, PixelPacket *p,
				     ExceptionInfo *exc)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	MagickBooleanType ok;

	pthread_mutex_lock(&lock);
	ok = QueryColorDatabase(name, p, exc);
	pthread_mutex_unlock(&lock);
	return ok;
}

int magick_color(const char *name, unsigned char rgb[3], struct err *e)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	PixelPacket p;
	MagickBooleanType ok = query_color(name, &p, exc);

	DestroyExceptionInfo(exc);
	if (!ok)
		return err_set(e, ERR_BAD_REQUEST, "unknown colour '%s'", name);
	rgb[0] = ScaleQuantumToChar(p.red);
	rgb[1] = ScaleQuantumToChar(p.green);
	rgb[2] = ScaleQuantumToChar(p.blue);
	return 0;
}

size_t magick_quantize_bytes(void)
{
	/* quantize.c's cache of closest colours: 2^24 entries of 8 bytes. */
	return (size_t)1 << 27;
}

size_t magick_estimate(unsigned w, unsigned h)
{
	/* Q16 RGBA, 8 bytes a pixel, held twice while a step replaces it. */
	return (size_t)w * h * 8 * 2;
}

static MagickBooleanType on_progress(const char *tag, const MagickOffsetType at,
				     const MagickSizeType span, void *arg)
{
	(void)tag, (void)at, (void)span;
	return deadline_stop(arg) ? MagickFalse : MagickTrue;
}

/* True for MagickCore's report of a JPEG or PNG cut short. */
static int is_truncated(const ExceptionInfo *exc)
{
	return exc->severity >= CorruptImageWarning && exc->reason != NULL &&
	       strcasestr(exc->reason, "premature end") != NULL;
}

/*
 * MagickCore ran out of memory or pixel cache: the next try, when other
 * images are done, may well succeed.  (A width or height over the limits
 * is the image's own fault.)
 */
static int is_exhausted(const ExceptionInfo *exc)
{
	if (exc->severity != ResourceLimitError &&
	    exc->severity != ResourceLimitFatalError &&
	    exc->severity != ResourceLimitWarning)
		return 0;
	return exc->reason == NULL ||
	       strcasestr(exc->reason, "WidthOrHeightExceedsLimit") == NULL;
}

static int magick_fail(struct err *e, enum err_code code, const char *what,
		       const ExceptionInfo *exc)
{
	if (is_exhausted(exc))
		code = ERR_BUSY;
	return err_set(e, code, "%s: %s%s%s", what,
		       exc->reason ? exc->reason : "failed",
		       exc->description ? ": " : "",
		       exc->description ? exc->description : "");
}

/* Replaces *img by next (when not NULL), destroying the old image. */
static int replace(Image **img, Image *next)
{
	if (next == NULL)
		return -1;
	if (next != *img)
		DestroyImage(*img);
	*img = next;
	return 0;
}

/*
 * The jpeg:size hint for an output of ow x oh, in the file's orientation:
 * libjpeg-turbo decodes straight to at least this size (DCT scaling).
 * Returns 0 when no scaling applies (an output over half the original).
 */
static int jpeg_hint(const struct sniff_info *si, const struct url_request *r,
		     unsigned ow, unsigned oh, unsigned *hw, unsigned *hh)
{
	int swap = sniff_swaps(si);
	unsigned sw, sh, nw, nh;

	if (si->format != SNIFF_JPEG || r->fit == URL_FIT_FULL)
		return 0;
	sniff_shown_size(si, &sw, &sh);
	image_needed_size(sw, sh, ow, oh, &nw, &nh);
	*hw = swap ? nh : nw;
	*hh = swap ? nw : nh;
	return nw * 2 <= sw && nh * 2 <= sh;
}

static Image *decode(const unsigned char *data, size_t len,
		     const struct sniff_info *si, const struct url_request *r,
		     unsigned ow, unsigned oh, struct deadline *dl,
		     const struct image_opts *o, struct err *e, ExceptionInfo *exc)
{
	ImageInfo *info = CloneImageInfo(NULL);
	Image *img, *rest;
	unsigned hw, hh;

	SetImageInfoProgressMonitor(info, on_progress, dl);
	/* "JPEG:" names the coder: MagickCore must not guess from the bytes. */
	snprintf(info->filename, sizeof(info->filename), "%s:",
		 sniff_coder(si->format));
	info->number_scenes = 1; /* the first frame of an animation */
	info->scene = 0;
	if (jpeg_hint(si, r, ow, oh, &hw, &hh)) {
		char size[64];

		snprintf(size, sizeof(size), "%ux%u", hw, hh);
		SetImageOption(info, "jpeg:size", size);
	}
	img = BlobToImage(info, data, len, exc);
	DestroyImageInfo(info);
	if (img != NULL && deadline_expired(dl, o->limits.timeout_ms, e) < 0) {
		DestroyImageList(img);
		return NULL;
	}
	/* Coders report some problems (a JPEG's warnings) on the image. */
	if (img != NULL && img->exception.severity > exc->severity)
		InheritException(exc, &img->exception);
	if (img == NULL || exc->severity >= ErrorException || is_truncated(exc)) {
		magick_fail(e, ERR_UNPROCESSABLE, "original cannot be decoded", exc);
		if (img != NULL)
			DestroyImageList(img);
		return NULL;
	}
	rest = SplitImageList(img);
	if (rest != NULL)
		DestroyImageList(rest);
	return img;
}

/* To sRGB: an embedded ICC profile applied (lcms2, through MagickCore's
 * own profile support), else the colour space converted. */
static int to_srgb(Image *img, struct err *e)
{
	const StringInfo *icc = GetImageProfile(img, "icc");
	size_t n = 0;
	const unsigned char *srgb = color_srgb_profile(&n);

	if (icc != NULL && srgb != NULL &&
	    !ProfileImage(img, "icc", srgb, n, MagickFalse))
		(void)0; /* a broken profile: the colour space alone, below */
	if (img->colorspace != sRGBColorspace &&
	    !TransformImageColorspace(img, sRGBColorspace))
		return magick_fail(e, ERR_UNPROCESSABLE, "to sRGB", &img->exception);
	return 0;
}

static int transform(Image **img, const struct url_request *r,
		     const struct image_opts *o, unsigned ow, unsigned oh,
		     struct err *e, ExceptionInfo *exc)
{
	if ((*img)->orientation != TopLeftOrientation &&
	    (*img)->orientation != UndefinedOrientation) {
		if (replace(img, AutoOrientImage(*img, (*img)->orientation, exc)) < 0)
			return magick_fail(e, ERR_UNPROCESSABLE, "orient", exc);
		/* A transverse turn leaves a page offset that CropImage would
		 * add to a fill's box. */
		(void)ResetImagePage(*img, "0x0+0+0");
	}
	(*img)->orientation = TopLeftOrientation;
	if (to_srgb(*img, e) < 0)
		return -1;
	if (r->fit == URL_FIT_FILL) {
		struct image_box b;
		RectangleInfo box;

		image_fill_box((unsigned)(*img)->columns, (unsigned)(*img)->rows, ow,
			       oh, &b);
		box = (RectangleInfo){ b.w, b.h, (ssize_t)b.x, (ssize_t)b.y };
		if ((b.w != (*img)->columns || b.h != (*img)->rows) &&
		    replace(img, CropImage(*img, &box, exc)) < 0)
			return magick_fail(e, ERR_INTERNAL, "crop", exc);
	}
	(void)ResetImagePage(*img, "0x0+0+0");
	if ((*img)->columns != ow || (*img)->rows != oh) {
		/* After a shrink-on-load decode little reduction is left, and a
		 * triangle filter does it at Lanczos's quality (same PSNR against
		 * a Lanczos reference in make bench) for half the time. */
		double left = (double)(*img)->columns / ow;
		FilterTypes filter = left > 1.0 && left <= 2.0 ? TriangleFilter
							       : LanczosFilter;

		if (replace(img, ResizeImage(*img, ow, oh, filter, 1.0, exc)) < 0)
			return magick_fail(e, ERR_INTERNAL, "resize", exc);
	}
	/* Transparency is flattened last: the resize already weighs pixels by
	 * their alpha, and the small image is cheaper to flatten. */
	if ((*img)->matte) {
		(void)query_color(o->background, &(*img)->background_color, exc);
		SetImageAlphaChannel(*img, RemoveAlphaChannel);
		(*img)->matte = MagickFalse;
	}
	return 0;
}

/* Encodes img as r's format; icc (not NULL) is embedded. */
static int encode(Image *img, const struct url_request *r, unsigned quality,
		  const unsigned char *icc, size_t icc_len, struct buf *out,
		  struct err *e, ExceptionInfo *exc)
{
	ImageInfo *info = CloneImageInfo(NULL);
	const char *coder = url_format_coder(r->format);
	unsigned char *blob = NULL;
	size_t len = 0;
	int rc = -1;

	StripImage(img); /* profiles, EXIF, comments, PNG text chunks */
	if (icc != NULL) {
		StringInfo *p = BlobToStringInfo(icc, icc_len);
		if (p != NULL) {
			(void)SetImageProfile(img, "icc", p);
			DestroyStringInfo(p);
		}
	}
	img->interlace = NoInterlace;
	/* GIF: the palette made here, dithered, the same way whatever the
	 * image went through (the writer would dither some and not others).
	 * The dither's colour cache is 128 MiB (magick_quantize_bytes()). */
	if (r->format == URL_FMT_GIF) {
		QuantizeInfo qi;

		GetQuantizeInfo(&qi);
		qi.number_colors = 256;
		qi.dither = MagickTrue;
		qi.dither_method = FloydSteinbergDitherMethod;
		if (!QuantizeImage(&qi, img)) {
			magick_fail(e, ERR_INTERNAL, "quantize", &img->exception);
			goto out;
		}
	}
	img->quality = quality;
	info->quality = img->quality;
	snprintf(img->magick, sizeof(img->magick), "%s", coder);
	snprintf(info->magick, sizeof(info->magick), "%s", coder);
	blob = ImageToBlob(info, img, &len, exc);
	if (blob == NULL || len == 0) {
		magick_fail(e, ERR_INTERNAL, "encode", exc);
		goto out;
	}
	if (buf_append(out, blob, len) < 0) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (blob != NULL)
		RelinquishMagickMemory(blob);
	DestroyImageInfo(info);
	return rc;
}

static unsigned quality_of(const struct url_request *r, const struct image_opts *o)
{
	return r->quality ? r->quality : o->quality;
}

int magick_make(const unsigned char *data, size_t len,
		const struct sniff_info *si, const struct url_request *r,
		const struct image_opts *o, unsigned ow, unsigned oh,
		struct deadline *dl, struct buf *out, struct err *e)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	size_t icc_len = 0;
	const unsigned char *icc = o->embed_srgb ? color_srgb_profile(&icc_len) : NULL;
	double t0 = clock_now_ms(), t1, t2;
	Image *img;
	int rc = -1;

	img = decode(data, len, si, r, ow, oh, dl, o, e, exc);
	t1 = clock_now_ms();
	if (img == NULL)
		goto out;
	SetImageProgressMonitor(img, on_progress, dl);
	if (transform(&img, r, o, ow, oh, e, exc) < 0 ||
	    deadline_expired(dl, o->limits.timeout_ms, e) < 0)
		goto out;
	t2 = clock_now_ms();
	rc = encode(img, r, quality_of(r, o), icc, icc_len, out, e, exc);
	if (o->timings != NULL) {
		o->timings->decode = t1 - t0;
		o->timings->resize = t2 - t1;
		o->timings->encode = clock_now_ms() - t2;
	}
out:
	if (img != NULL)
		DestroyImageList(img);
	DestroyExceptionInfo(exc);
	return rc;
}

int magick_encode_pixels(const struct pixels *px, const struct url_request *r,
			 unsigned quality, const unsigned char *icc,
			 size_t icc_len, struct buf *out, struct err *e)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	size_t row = (size_t)px->width * px->channels;
	struct pixels packed;
	Image *img = NULL;
	int rc = -1;

	pixels_init(&packed);
	if (px->channels != 1 && px->channels != 3) {
		err_set(e, ERR_INTERNAL, "pixels MagickCore cannot take");
		goto out;
	}
	/* ConstituteImage takes packed rows; a crop's are not. */
	if (px->stride != row) {
		if (pixels_alloc(&packed, px->width, px->height, px->channels, e) < 0)
			goto out;
		for (unsigned y = 0; y < px->height; y++)
			memcpy(packed.data + y * packed.stride, px->data + y * px->stride, row);
		px = &packed;
	}
	/* "I": one grey channel into red, green and blue. */
	img = ConstituteImage(px->width, px->height, px->channels == 1 ? "I" : "RGB",
			      CharPixel, px->data, exc);
	if (img == NULL) {
		magick_fail(e, ERR_INTERNAL, "to MagickCore", exc);
		goto out;
	}
	img->depth = 8;
	rc = encode(img, r, quality, icc, icc_len, out, e, exc);
out:
	if (img != NULL)
		DestroyImage(img);
	pixels_release(&packed);
	DestroyExceptionInfo(exc);
	return rc;
}

int image_decode_check(const unsigned char *data, size_t len,
		       const struct sniff_info *si, struct err *e)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	ImageInfo *info = CloneImageInfo(NULL);
	Image *img;
	int rc = 0;

	snprintf(info->filename, sizeof(info->filename), "%s:",
		 sniff_coder(si->format));
	info->number_scenes = 1;
	info->scene = 0;
	img = BlobToImage(info, data, len, exc);
	if (img != NULL && img->exception.severity > exc->severity)
		InheritException(exc, &img->exception);
	if (img == NULL || exc->severity >= CorruptImageWarning)
		rc = magick_fail(e, ERR_UNPROCESSABLE, "original cannot be decoded",
				 exc);
	if (img != NULL)
		DestroyImageList(img);
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
	return rc;
}
