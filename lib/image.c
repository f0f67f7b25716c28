/* image.c - decode, orient, resize and encode with MagickCore. */
#include "image.h"

#include "clock.h"
#include "conf.h"
#include "jpegdc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <magick/MagickCore.h>

/*
 * MagickCore builds some of its tables (coders, delegates) on first use,
 * with double-checked locking that races (ThreadSanitizer sees it) when
 * the first images of the process are made on several threads at once.
 * Encoding and decoding a tiny image in each format once, before threads
 * start, builds them all.
 */
static void warm_up(void)
{
	static const char *const coders[] = { "JPEG", "PNG", "GIF", "WEBP", "AVIF" };
	ExceptionInfo *exc = AcquireExceptionInfo();
	ImageInfo *info = CloneImageInfo(NULL);
	Image *img;

	CloneString(&info->size, "2x2");
	snprintf(info->filename, sizeof(info->filename), "xc:white");
	img = ReadImage(info, exc);
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

int image_global_init(const char *argv0, int omp_threads, unsigned max_side,
		      struct err *e)
{
	MagickCoreGenesis(argv0, MagickFalse);
	/* Debian's policy.xml sets upper bounds; code can only lower them. */
	SetMagickResourceLimit(ThreadResource, (MagickSizeType)omp_threads);
	image_set_limits(max_side);
	/* Pixel caches beyond memory go to a mapped file, then to disk; the
	 * process as a whole stays below these, or below the operator's
	 * MAGICK_MEMORY_LIMIT, MAGICK_MAP_LIMIT and MAGICK_DISK_LIMIT where
	 * those are lower.  Not TimeResource: in this version it counts from
	 * process start, which would end a server; a per-request deadline
	 * (struct deadline below) does that job. */
	lower_limit(MemoryResource, (MagickSizeType)192 << 20);
	lower_limit(MapResource, (MagickSizeType)384 << 20);
	lower_limit(DiskResource, (MagickSizeType)1 << 30);
	if (GetMagickResourceLimit(ThreadResource) == 0)
		return err_set(e, ERR_INTERNAL, "MagickCore did not start");
	warm_up();
	return 0;
}

void image_set_limits(unsigned max_side)
{
	SetMagickResourceLimit(WidthResource, max_side);
	SetMagickResourceLimit(HeightResource, max_side);
}

void image_global_release(void)
{
	MagickCoreTerminus();
}

int image_format_available(enum url_format f)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	const MagickInfo *mi = GetMagickInfo(url_format_coder(f), exc);
	int ok = mi != NULL && mi->encoder != NULL;

	DestroyExceptionInfo(exc);
	return ok;
}

unsigned image_formats_available(void)
{
	unsigned m = 0;

	for (int f = 0; f < URL_FMT_COUNT; f++)
		if (image_format_available((enum url_format)f))
			m |= 1u << f;
	return m;
}

int image_check_color(const char *name, struct err *e)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	PixelPacket p;
	MagickBooleanType ok = QueryColorDatabase(name, &p, exc);

	DestroyExceptionInfo(exc);
	if (!ok)
		return err_set(e, ERR_BAD_REQUEST, "unknown colour '%s'", name);
	return 0;
}

static unsigned scaled(unsigned v, double f)
{
	double r = floor((double)v * f + 0.5);
	return r < 1 ? 1 : (unsigned)r;
}

void image_output_size(unsigned src_w, unsigned src_h,
		       const struct url_request *r, int allow_upscale,
		       unsigned *w, unsigned *h)
{
	double s;

	switch (r->fit) {
	case URL_FIT_FULL:
		*w = src_w, *h = src_h;
		return;
	case URL_FIT_WIDTH:
		*w = r->width;
		if (!allow_upscale && *w > src_w)
			*w = src_w;
		*h = scaled(src_h, (double)*w / src_w);
		return;
	case URL_FIT_FILL:
		s = fmin((double)src_w / r->width, (double)src_h / r->height);
		if (allow_upscale || s >= 1.0) {
			*w = r->width, *h = r->height;
		} else {
			*w = scaled(r->width, s);
			*h = scaled(r->height, s);
		}
		return;
	}
}

/*
 * The smallest decoded size that still covers an output of out_w x out_h
 * from a src_w x src_h original (both oriented): what the fill crop or the
 * width fit needs before its final resize.
 */
static void needed_size(unsigned src_w, unsigned src_h, unsigned out_w,
			unsigned out_h, unsigned *w, unsigned *h)
{
	double s = fmax((double)out_w / src_w, (double)out_h / src_h);

	*w = (unsigned)ceil(src_w * s);
	*h = (unsigned)ceil(src_h * s);
}

/*
 * A per-request time limit: MagickCore calls the progress monitor as rows
 * go by; answering false makes the running step stop early (a decoder may
 * then return a partial image without an exception, so callers check
 * expired after each step).
 */
struct deadline {
	double end_ms; /* 0: none */
	int expired;
};


static MagickBooleanType on_progress(const char *tag, const MagickOffsetType at,
				     const MagickSizeType span, void *arg)
{
	struct deadline *d = arg;

	(void)tag, (void)at, (void)span;
	if (d->end_ms != 0 && clock_now_ms() > d->end_ms)
		d->expired = 1;
	return d->expired ? MagickFalse : MagickTrue;
}

static int expired(const struct deadline *d, const struct image_opts *o,
		   struct err *e)
{
	if (!d->expired)
		return 0;
	return err_set(e, ERR_UNPROCESSABLE,
		       "original took longer than %u ms to process",
		       o->limits.timeout_ms);
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

static int deadline_stop(void *arg)
{
	struct deadline *d = arg;

	if (d->end_ms != 0 && clock_now_ms() > d->end_ms)
		d->expired = 1;
	return d->expired;
}

/*
 * A JPEG that MagickCore would decode at 1/8 scale, decoded by jpegdc
 * into the very pixels libjpeg-turbo would make, faster (README,
 * Performance).
 * Returns the image, or NULL with *declined set (decode it with
 * MagickCore) or with e set.
 */
static Image *decode_dc(const unsigned char *data, size_t len,
			const struct sniff_info *si, const struct image_opts *o,
			struct deadline *dl, int *declined, struct err *e,
			ExceptionInfo *exc)
{
	struct jpegdc_image dc;
	char sampling[64];
	Image *img;
	int n = 0, rc = jpegdc_decode(data, len, deadline_stop, dl, &dc, e);

	*declined = rc == 1;
	if (rc != 0) {
		if (rc < 0 && dl->expired)
			expired(dl, o, e);
		return NULL;
	}
	/* "I": one grey channel into red, green and blue, as MagickCore's
	 * JPEG reader stores a greyscale file. */
	img = ConstituteImage(dc.width, dc.height, dc.channels == 1 ? "I" : "RGB",
			      CharPixel, dc.pixels, exc);
	if (img == NULL) {
		jpegdc_image_release(&dc);
		magick_fail(e, ERR_INTERNAL, "original cannot be decoded", exc);
		return NULL;
	}
	/* What MagickCore's reader sets, and the writers use: the depth
	 * (the GIF quantiser), the sampling factors (the JPEG writer keeps a
	 * 4:4:4 original's). */
	img->orientation = (OrientationType)si->orientation;
	img->depth = 8;
	img->compression = JPEGCompression;
	snprintf(img->magick, sizeof(img->magick), "JPEG");
	for (unsigned c = 0; c < dc.channels; c++)
		n += snprintf(sampling + n, sizeof(sampling) - (size_t)n, "%s%ux%u",
			      c ? "," : "", dc.h_samp[c], dc.v_samp[c]);
	SetImageProperty(img, "jpeg:sampling-factor", sampling);
	SetImageProperty(img, "jpeg:colorspace", dc.channels == 1 ? "1" : "2");
	jpegdc_image_release(&dc);
	return img;
}

/*
 * The jpeg:size hint for r, in the file's orientation: libjpeg-turbo
 * decodes straight to at least this size (DCT scaling).  Returns 0 when
 * no scaling applies (an output over half the original's size).
 */
static int jpeg_hint(const struct sniff_info *si, const struct url_request *r,
		     const struct image_opts *o, unsigned *hw, unsigned *hh)
{
	int swap = sniff_swaps(si);
	unsigned sw, sh, ow, oh, nw, nh;

	if (si->format != SNIFF_JPEG || r->fit == URL_FIT_FULL)
		return 0;
	sniff_shown_size(si, &sw, &sh);
	image_output_size(sw, sh, r, o->allow_upscale, &ow, &oh);
	needed_size(sw, sh, ow, oh, &nw, &nh);
	*hw = swap ? nh : nw;
	*hh = swap ? nw : nh;
	return nw * 2 <= sw && nh * 2 <= sh;
}

static Image *decode(const unsigned char *data, size_t len,
		     const struct sniff_info *si, const struct url_request *r,
		     const struct image_opts *o, struct deadline *dl,
		     struct err *e, ExceptionInfo *exc)
{
	ImageInfo *info;
	Image *img, *rest;
	unsigned hw, hh;
	int hint = jpeg_hint(si, r, o, &hw, &hh);

	/* MagickCore's reader asks for scale 1/floor(min(side / hint side))
	 * and libjpeg-turbo gives 1/8 from 8 up: there jpegdc does it. */
	if (hint && !o->magick_only && (double)si->width / hw >= 8.0 &&
	    (double)si->height / hh >= 8.0) {
		int declined;

		img = decode_dc(data, len, si, o, dl, &declined, e, exc);
		if (img != NULL || !declined)
			return img;
	}
	info = CloneImageInfo(NULL);
	SetImageInfoProgressMonitor(info, on_progress, dl);
	/* "JPEG:" names the coder: MagickCore must not guess from the bytes. */
	snprintf(info->filename, sizeof(info->filename), "%s:",
		 sniff_coder(si->format));
	info->number_scenes = 1; /* the first frame of an animation */
	info->scene = 0;
	if (hint) {
		char size[64];

		snprintf(size, sizeof(size), "%ux%u", hw, hh);
		SetImageOption(info, "jpeg:size", size);
	}
	img = BlobToImage(info, data, len, exc);
	if (img != NULL && expired(dl, o, e) < 0) {
		DestroyImageList(img);
		DestroyImageInfo(info);
		return NULL;
	}
	/* Coders report some problems (a JPEG's warnings) on the image. */
	if (img != NULL && img->exception.severity > exc->severity)
		InheritException(exc, &img->exception);
	DestroyImageInfo(info);
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

static int transform(Image **img, const struct sniff_info *si,
		     const struct url_request *r, const struct image_opts *o,
		     struct err *e, ExceptionInfo *exc)
{
	unsigned ow, oh, src_w, src_h;

	if ((*img)->orientation != TopLeftOrientation &&
	    (*img)->orientation != UndefinedOrientation) {
		if (replace(img, AutoOrientImage(*img, (*img)->orientation, exc)) < 0)
			return magick_fail(e, ERR_UNPROCESSABLE, "orient", exc);
	}
	(*img)->orientation = TopLeftOrientation;
	if ((*img)->colorspace != sRGBColorspace &&
	    !TransformImageColorspace(*img, sRGBColorspace))
		return magick_fail(e, ERR_UNPROCESSABLE, "to sRGB", &(*img)->exception);
	/* The output size comes from the original's size: a JPEG decoded with
	 * shrink-on-load is smaller than the original, and its EXIF orientation
	 * (read by sniff) says whether its sides swap.  Other formats are
	 * decoded whole. */
	src_w = (unsigned)(*img)->columns, src_h = (unsigned)(*img)->rows;
	if (si->format == SNIFF_JPEG)
		sniff_shown_size(si, &src_w, &src_h);
	image_output_size(src_w, src_h, r, o->allow_upscale, &ow, &oh);
	if (r->fit == URL_FIT_FILL) {
		unsigned dw = (unsigned)(*img)->columns;
		unsigned dh = (unsigned)(*img)->rows;
		RectangleInfo box = { dw, dh, 0, 0 };

		/* Centre crop to the output's aspect ratio, then resize. */
		if ((double)dw * oh > (double)dh * ow)
			box.width = scaled(dh, (double)ow / oh);
		else
			box.height = scaled(dw, (double)oh / ow);
		box.width = box.width > dw ? dw : box.width;
		box.height = box.height > dh ? dh : box.height;
		box.x = (ssize_t)(dw - box.width) / 2;
		box.y = (ssize_t)(dh - box.height) / 2;
		if ((box.width != dw || box.height != dh) &&
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
		QueryColorDatabase(o->background, &(*img)->background_color, exc);
		SetImageAlphaChannel(*img, RemoveAlphaChannel);
		(*img)->matte = MagickFalse;
	}
	return 0;
}

static int encode(Image *img, const struct url_request *r,
		  const struct image_opts *o, struct buf *out, struct err *e,
		  ExceptionInfo *exc)
{
	ImageInfo *info = CloneImageInfo(NULL);
	const char *coder = url_format_coder(r->format);
	unsigned char *blob;
	size_t len = 0;
	int rc = -1;

	StripImage(img); /* profiles, EXIF, comments, PNG text chunks */
	img->interlace = NoInterlace;
	img->quality = r->quality ? r->quality : o->quality;
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

int image_make(const unsigned char *data, size_t len,
	       const struct url_request *r, const struct image_opts *o,
	       struct buf *out, struct err *e)
{
	ExceptionInfo *exc;
	struct sniff_info si;
	struct deadline dl = { 0, 0 };
	double t0, t1, t2;
	Image *img = NULL;
	int rc = -1;

	if (gate_check(data, len, &o->limits, &si, e) < 0)
		return -1;
	/* full_size is bounded by the limits on originals instead. */
	if (r->fit != URL_FIT_FULL && (o->max_width != 0 || o->max_height != 0)) {
		unsigned sw, sh, w, h;

		sniff_shown_size(&si, &sw, &sh);
		image_output_size(sw, sh, r, o->allow_upscale, &w, &h);
		if ((o->max_width && w > o->max_width) ||
		    (o->max_height && h > o->max_height))
			return err_set(e, ERR_TOO_LARGE,
				       "output would be %ux%u, over the maximum "
				       "of %ux%u",
				       w, h, o->max_width, o->max_height);
	}
	if (o->limits.timeout_ms != 0)
		dl.end_ms = clock_now_ms() + o->limits.timeout_ms;
	exc = AcquireExceptionInfo();
	t0 = clock_now_ms();
	img = decode(data, len, &si, r, o, &dl, e, exc);
	t1 = clock_now_ms();
	if (img == NULL)
		goto out;
	SetImageProgressMonitor(img, on_progress, &dl);
	if (transform(&img, &si, r, o, e, exc) < 0 || expired(&dl, o, e) < 0)
		goto out;
	t2 = clock_now_ms();
	rc = encode(img, r, o, out, e, exc);
	if (o->timings != NULL) {
		o->timings->decode = t1 - t0;
		o->timings->resize = t2 - t1;
		o->timings->encode = clock_now_ms() - t2;
	}
	if (rc == 0 && expired(&dl, o, e) < 0) {
		buf_release(out);
		rc = -1;
	}
out:
	if (img != NULL)
		DestroyImageList(img);
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
