/*
 * dec_jpeg.h - JPEG with libjpeg-turbo: the decoder's own header read, a
 * check that reads every scan, and a decode into 8-bit pixels at the
 * smallest DCT scale (N/8) that still covers a size.
 *
 * libjpeg's warnings decide: in a header read every warning refuses (the
 * decoder skipped bytes a strict reader would not); in a check or a decode
 * those that say the data is cut short or corrupt (premature end, a marker
 * inside a scan, a code no table has) refuse, the rest (extraneous bytes
 * after the image, a bogus ICC profile) do not.
 * Thread-safety: no shared state.
 */
#ifndef IMGSRV_DEC_JPEG_H
#define IMGSRV_DEC_JPEG_H

#include <stddef.h>

#include "decode.h"

/* The frame's size as libjpeg reads it.  Returns 0, or -1 with libjpeg's
 * message in msg. */
int dec_jpeg_header(const unsigned char *data, size_t len, unsigned *w,
		    unsigned *h, char *msg, size_t size);

/* Decodes every scan at scale 1/8 and throws the pixels away.  Returns 0,
 * or -1 with the reason in msg. */
int dec_jpeg_check(const unsigned char *data, size_t len, char *msg,
		   size_t size);

/* The scale N/8 to decode w x h at for an output that needs need_w x
 * need_h: 1 where 1/8 covers it, else 2 or 4 where that leaves at least
 * 1.5x for the resize, else the smallest N that leaves 2x, or 8. */
unsigned dec_jpeg_scale(unsigned w, unsigned h, unsigned need_w,
			unsigned need_h);

/*
 * Decodes data at scale dec_jpeg_scale()/8 into *out: 1 channel for
 * greyscale, 3 for colour, 4 CMYK for CMYK and YCCK files; with the ICC
 * profile (APP2, across as many segments as it takes).  Returns 0, or -1
 * as decode_image().
 */
int dec_jpeg_decode(const unsigned char *data, size_t len, unsigned need_w,
		    unsigned need_h, int (*stop)(void *arg), void *arg,
		    struct decoded *out, struct err *e);

/* The peak bytes of dec_jpeg_decode() for the same arguments. */
size_t dec_jpeg_estimate(const unsigned char *data, size_t len,
			 unsigned need_w, unsigned need_h);

/*
 * Reads the ICC profile (APP2 "ICC_PROFILE" segments, joined in their
 * order) and whether an Adobe APP14 segment is there, walking the markers
 * up to the first scan, into out->icc and out->cmyk_inverted (for the
 * decoders that take the entropy data themselves).  A profile whose
 * segments do not add up is left out.  Returns 0, or -1 with ERR_BUSY
 * when out of memory.
 */
int dec_jpeg_markers(const unsigned char *data, size_t len,
		     struct decoded *out, struct err *e);

#endif
