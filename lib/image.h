/*
 * image.h - make an output from an original.
 *
 * The original passes the gate (gate.h), then its memory is reserved
 * (budget.h); it is decoded by the sniffed format's decoder at the
 * smallest size that serves the output (decode.h: libjpeg-turbo with DCT
 * scaling, or jpegdc/jpegprog for 1/8, libpng, libwebp), converted to
 * sRGB (color.h), flattened onto the background, cropped and resized in
 * 8 bits (resize.h), EXIF-oriented (JPEG), and encoded without metadata
 * (encode.h; -embed_srgb adds an sRGB profile).  GIF and animated WebP
 * originals and GIF and AVIF outputs go through MagickCore (magick.c).
 * Thread-safety: image_global_init() once before threads start; then
 * image_make() from any thread (each call has its own MagickCore state).
 */
#ifndef IMGSRV_IMAGE_H
#define IMGSRV_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "gate.h"
#include "sniff.h"
#include "url.h"

/* Where the time of one image_make() went, in milliseconds. */
struct image_timings {
	double decode;  /* the original to pixels (at the reduced size) */
	double resize;  /* flatten, crop, resize, orient */
	double encode;  /* pixels to the output's bytes */
};

struct image_opts {
	unsigned quality;       /* 1-100 when the request names none */
	int allow_upscale;
	const char *background; /* colour transparency is flattened onto */
	unsigned max_width;     /* largest output; 0: no limit */
	unsigned max_height;
	struct gate_limits limits;
	int magick_only;        /* tests: MagickCore all the way, as before
				 * the decoders of decode.h */
	int embed_srgb;         /* tag outputs with an sRGB profile */
	long budget_wait_ms;    /* longest wait for room under -max_memory */
	struct image_timings *timings; /* filled when not NULL */
};

/*
 * Starts MagickCore (without its signal handlers) and sets its resource
 * limits below Debian's policy: omp_threads OpenMP threads per image,
 * widths and heights up to max_side, pixel cache memory, map and disk.
 * Returns 0, or -1 with a message.
 */
int image_global_init(const char *argv0, int omp_threads, unsigned max_side,
		      struct err *e);

/*
 * Sets MagickCore's own width and height limits, a backstop behind the
 * checks on originals, to max_side; a reload calls it again.  Debian's
 * policy.xml caps them (16K): a larger max_side is held to that cap.
 */
void image_set_limits(unsigned max_side);

/* Stops MagickCore; after threads have ended. */
void image_global_release(void);

/* Returns 1 if MagickCore can encode format f here, else 0. */
int image_format_available(enum url_format f);

/* The formats MagickCore can encode here, as a mask of 1 << format. */
unsigned image_formats_available(void);

/* Returns 0 if name is a colour MagickCore knows, else -1 with a message. */
int image_check_color(const char *name, struct err *e);

/* The decoder of the calling thread's last image_make(), one word
 * ("jpegdc", "libpng", "magick"...), for the request's log line. */
const char *image_decoder(void);

/*
 * Decodes the first frame of data (sniffed into *info) with MagickCore, as
 * the gate's decode check of the formats it has no decoder of its own for
 * (GIF).  Returns 0, or -1 with ERR_UNPROCESSABLE, or ERR_BUSY when
 * MagickCore ran out of memory or pixel cache.
 */
int image_decode_check(const unsigned char *data, size_t len,
		       const struct sniff_info *info, struct err *e);

/*
 * The size of the output that spec r makes from an original of src_w x
 * src_h pixels (after orientation).  wN keeps the aspect ratio; xN and WxH
 * are exactly that size; without allow_upscale an output never exceeds the
 * original: wN is capped at the original's width, and a fill box larger
 * than the original shrinks, keeping its aspect ratio, until it fits.
 */
void image_output_size(unsigned src_w, unsigned src_h,
		       const struct url_request *r, int allow_upscale,
		       unsigned *w, unsigned *h);

/*
 * Makes the output for r from the original in data and appends the encoded
 * bytes to out.  Returns 0, or -1 with ERR_UNPROCESSABLE (not an allowed or
 * decodable image, over the limits, or slower than limits.timeout_ms),
 * ERR_TOO_LARGE (the output would be
 * over max_width or max_height, e.g. an upscaled wN of a tall original;
 * checked before decoding; full_size is exempt), ERR_BUSY (MagickCore ran
 * out of memory or pixel cache: transient) or ERR_INTERNAL.
 */
int image_make(const unsigned char *data, size_t len,
	       const struct url_request *r, const struct image_opts *o,
	       struct buf *out, struct err *e);

#endif
