/*
 * image_int.h - what image.c (the pipeline) and magick.c (MagickCore's
 * part of it) share: the per-request deadline, the sizes a make works
 * at.  Not an API.
 */
#ifndef IMGSRV_IMAGE_INT_H
#define IMGSRV_IMAGE_INT_H

#include "buf.h"
#include "err.h"
#include "image.h"
#include "pixels.h"
#include "sniff.h"
#include "url.h"

/*
 * A per-request time limit.  Decoders ask deadline_stop() now and then;
 * MagickCore calls a progress monitor as rows go by, and answering false
 * makes the running step stop early (a decoder may then return a partial
 * image without an exception, so callers check deadline_expired() after
 * each step).
 */
struct deadline {
	double end_ms; /* 0: none */
	int expired;
};

/* For decoders' stop callbacks: 1 once the deadline has passed. */
int deadline_stop(void *arg);

/* 0, or -1 with ERR_UNPROCESSABLE once d has expired. */
int deadline_expired(const struct deadline *d, unsigned timeout_ms,
		     struct err *e);

/* round(v * f), at least 1. */
unsigned image_scaled(unsigned v, double f);

/*
 * The smallest decoded size that still covers an output of out_w x out_h
 * from a src_w x src_h original (both oriented): what the fill crop or
 * the width fit needs before its final resize.
 */
void image_needed_size(unsigned src_w, unsigned src_h, unsigned out_w,
		       unsigned out_h, unsigned *w, unsigned *h);

/* The centred box of a dw x dh image with the aspect ratio of ow x oh:
 * what a fill (xN, WxH) keeps before it resizes. */
struct image_box {
	unsigned x, y, w, h;
};
void image_fill_box(unsigned dw, unsigned dh, unsigned ow, unsigned oh,
		    struct image_box *b);

/* ---- magick.c: MagickCore ---------------------------------------------- */

/* Starts MagickCore and sets its limits (image_global_init()). */
int magick_start(const char *argv0, int omp_threads, unsigned max_side,
		 struct err *e);
void magick_set_limits(unsigned max_side);
void magick_stop(void);
int magick_can_encode(enum url_format f);

/* The colour name's 8-bit RGB; -1 with ERR_BAD_REQUEST if unknown. */
int magick_color(const char *name, unsigned char rgb[3], struct err *e);

/*
 * The whole make of an ow x oh output with MagickCore: decode (the first
 * frame; a JPEG with a shrink-on-load hint), orient, colour, crop, resize,
 * flatten, encode.  For the originals decode.h does not take (GIF,
 * animated WebP) and for tests (o->magick_only).  Errors as image_make().
 */
int magick_make(const unsigned char *data, size_t len,
		const struct sniff_info *si, const struct url_request *r,
		const struct image_opts *o, unsigned ow, unsigned oh,
		struct deadline *dl, struct buf *out, struct err *e);

/* Encodes 8-bit pixels (1 or 3 channels) as r's format with MagickCore:
 * the formats without an encoder of ours (GIF, AVIF). */
int magick_encode_pixels(const struct pixels *px, const struct url_request *r,
			 unsigned quality, const unsigned char *icc,
			 size_t icc_len, struct buf *out, struct err *e);

/* The bytes magick_make() holds at its peak for a w x h decode. */
size_t magick_estimate(unsigned w, unsigned h);

/* The bytes MagickCore's quantizer holds while it dithers a GIF output. */
size_t magick_quantize_bytes(void);

#endif
