/*
 * dec_png.h - PNG with libpng: the decoder's own header read, a check that
 * reads every row of every pass, and a decode into 8-bit pixels.
 *
 * A PNG has no shrink-on-load; the decode goes row by row, and where the
 * output is much smaller (need_w x need_h), each run of rows is averaged
 * into one as it arrives (a box shrink by whole factors), so that the
 * full-size image is never held (interlaced files aside: their passes
 * need the whole image).  16-bit samples are scaled to 8 bits (rounded);
 * palettes and transparency become grey or RGB with alpha.  The ICC
 * profile (iCCP) comes along; a gAMA without one is left alone.
 * libpng's warnings (an ancillary chunk with a bad CRC, dropped) do not
 * refuse; its errors do.
 * Thread-safety: no shared state.
 */
#ifndef IMGSRV_DEC_PNG_H
#define IMGSRV_DEC_PNG_H

#include <stddef.h>

#include "decode.h"

/* The size from IHDR, as libpng reads it.  Returns 0, or -1 with the
 * reason in msg. */
int dec_png_header(const unsigned char *data, size_t len, unsigned *w,
		   unsigned *h, char *msg, size_t size);

/* Reads every row.  Returns 0, or -1 with the reason in msg. */
int dec_png_check(const unsigned char *data, size_t len, char *msg,
		  size_t size);

/*
 * Decodes data into *out (1 to 4 channels, 8 bits), shrunk on the way by
 * the largest whole factors that keep it at least need_w x need_h.
 * Returns 0, or -1 as decode_image().
 */
int dec_png_decode(const unsigned char *data, size_t len, unsigned need_w,
		   unsigned need_h, int (*stop)(void *arg), void *arg,
		   struct decoded *out, struct err *e);

/* The peak bytes of dec_png_decode() for the same arguments. */
size_t dec_png_estimate(const unsigned char *data, size_t len,
			unsigned need_w, unsigned need_h);

#endif
