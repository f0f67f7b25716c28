/*
 * decode.h - an original to 8-bit pixels at the smallest size that still
 * covers an output, with the cheapest decoder that can:
 *
 *   JPEG, baseline, reduced 8x or more     jpegdc.h (DC coefficients only)
 *   JPEG, progressive, reduced 8x or more  jpegprog.h (DC scans only; the
 *                                          rest of the file is not read)
 *   JPEG, any other                        libjpeg-turbo at scale N/8
 *   PNG                                    libdeflate and png_rows.h in one
 *                                          go, else libpng row by row;
 *                                          both shrink as they read
 *   WebP, still                            libwebp, scaled in the decode
 *   GIF, animated WebP                     not here (MagickCore, image.c)
 *
 * Each decoder also hands over the original's ICC profile, for color.h.
 * decode_estimate() says from the header alone how much memory a decode
 * will take, so that admission (budget.h) can make a request wait rather
 * than fail.
 * Thread-safety: no shared state; call from any thread.
 */
#ifndef IMGSRV_DECODE_H
#define IMGSRV_DECODE_H

#include <stddef.h>

#include "err.h"
#include "pixels.h"
#include "sniff.h"

struct decoded {
	struct pixels px;        /* as stored: EXIF orientation not applied */
	double ext_w, ext_h;     /* what the whole original spans of px, in
				  * its pixels: at a reduced scale the last
				  * column and row may stand for less than
				  * a whole one (1050 rows at 3/8: 393.75) */
	unsigned char *icc;      /* the embedded ICC profile (malloc), or NULL */
	size_t icc_len;
	int cmyk_inverted;       /* px is CMYK written inverted (Adobe) */
	unsigned jpeg_h, jpeg_v; /* a colour JPEG's luma sampling factors (1x1:
				  * 4:4:4, 2x1: 4:2:2, 2x2: 4:2:0); else 0 */
	const char *how;         /* the decoder that made it, one word for the
				  * log: jpegdc, jpegprog, libjpeg, libpng... */
};

/* Empties *d. */
void decoded_init(struct decoded *d);

/* Frees d's pixels and profile, and empties it. */
void decoded_release(struct decoded *d);

/*
 * 1 when the decoders here take this original (JPEG, PNG, still WebP),
 * 0 when it is MagickCore's (GIF, animated WebP).
 */
int decode_handles(const struct sniff_info *si);

/*
 * Decodes data (sniffed into *si) to at least need_w x need_h pixels
 * where the decoder can shrink on load (JPEG, WebP; sizes as stored, not
 * oriented), else at full size (PNG).  Returns 0 with *out filled (release
 * it), or -1 with ERR_UNPROCESSABLE (not decodable), ERR_BUSY (out of
 * memory) or ERR_INTERNAL.  stop(arg), when not NULL, is asked now and
 * then whether to give up (a deadline): then -1 with ERR_UNPROCESSABLE.
 */
int decode_image(const unsigned char *data, size_t len,
		 const struct sniff_info *si, unsigned need_w, unsigned need_h,
		 int (*stop)(void *arg), void *arg, struct decoded *out,
		 struct err *e);

/* The bytes decode_image() will hold at its peak for the same arguments,
 * from the header alone (an estimate on the safe side). */
size_t decode_estimate(const unsigned char *data, size_t len,
		       const struct sniff_info *si, unsigned need_w,
		       unsigned need_h);

#endif
