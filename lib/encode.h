/*
 * encode.h - JPEG, PNG and WebP files from 8-bit pixels (pixels.h), with
 * each format's own library (libjpeg-turbo, libpng, libwebp), without
 * MagickCore.
 *
 * Each encoder takes 1 channel (grey) or 3 (RGB), rows of any stride:
 * flatten alpha (pixels_flatten) and convert CMYK first.  Outputs carry
 * no metadata but an ICC profile when one is given: no EXIF, no XMP, no
 * comments, no text or time chunks, no gAMA/cHRM.  The settings are
 * those of ImageMagick's writers and of sharp where they agree (JPEG:
 * baseline, optimised Huffman tables, JFIF; WebP: lossy, method 4), and
 * sharp's where they do not (PNG: zlib level 6, adaptive filters).
 *
 * Thread-safety: no shared state; call from any thread.
 */
#ifndef IMGSRV_ENCODE_H
#define IMGSRV_ENCODE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "pixels.h"

/* A JPEG's chroma sampling (ignored for grey). */
enum encode_sampling {
	/* ImageMagick's rule for an original that is not a JPEG: 4:4:4 at
	 * quality 90 and over, 4:2:0 below. */
	ENCODE_SAMPLING_AUTO = 0,
	ENCODE_SAMPLING_420,
	ENCODE_SAMPLING_422,
	ENCODE_SAMPLING_444
};

struct encode_opts {
	unsigned quality;              /* 1-100, JPEG and WebP */
	enum encode_sampling sampling; /* JPEG: keep a JPEG original's, as
					* ImageMagick's writer does */
	const unsigned char *icc;      /* an ICC profile to embed, or NULL; its
					* colour space must be the image's
					* ('GRAY' or 'RGB '; WebP: 'RGB ') */
	size_t icc_len;
};

/*
 * Each appends a whole file to out.  Returns 0, or -1 with out as it was
 * (its length; the bytes past it are undefined): ERR_BUSY when memory ran
 * out, ERR_TOO_LARGE for a side over the format's limit (JPEG 65500,
 * WebP 16383), ERR_INTERNAL for pixels or options these do not take
 * (2 or 4 channels, CMYK, quality out of range, a profile that is not
 * one or whose colour space is not the image's) or a library's failure.
 */
int encode_jpeg(const struct pixels *p, const struct encode_opts *o,
		struct buf *out, struct err *e);
int encode_png(const struct pixels *p, const struct encode_opts *o,
	       struct buf *out, struct err *e);
/* Grey is written as RGB (WebP has no grey). */
int encode_webp(const struct pixels *p, const struct encode_opts *o,
		struct buf *out, struct err *e);

#endif
