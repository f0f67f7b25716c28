/*
 * dec_webp.h - WebP with libwebp: the decoder's own header read (an
 * animation's canvas, its frames checked by the demuxer), a check that
 * decodes the first frame, and a decode of a still image into 8-bit
 * pixels scaled inside the decode (WebPDecoderConfig.use_scaling: the
 * rows are scaled as they are made, so the full-size image of a lossy
 * file is never held).  The ICC profile (ICCP chunk) comes along.
 * Animated files are MagickCore's (decode.h).
 * Thread-safety: no shared state.
 */
#ifndef IMGSRV_DEC_WEBP_H
#define IMGSRV_DEC_WEBP_H

#include <stddef.h>

#include "decode.h"

/* The canvas size as libwebp reads it.  Returns 0, or -1 with the reason
 * in msg. */
int dec_webp_header(const unsigned char *data, size_t len, unsigned *w,
		    unsigned *h, char *msg, size_t size);

/* Decodes the first frame (at about 1/8 scale).  Returns 0, or -1 with
 * the reason in msg. */
int dec_webp_check(const unsigned char *data, size_t len, char *msg,
		   size_t size);

/* 1 if data is an animation. */
int dec_webp_animated(const unsigned char *data, size_t len);

/*
 * Decodes a still WebP into *out (3 channels, or 4 with alpha) at the
 * size that covers need_w x need_h with the original's aspect ratio, or
 * at full size when that is smaller.  Returns 0, or -1 as decode_image().
 */
int dec_webp_decode(const unsigned char *data, size_t len, unsigned need_w,
		    unsigned need_h, struct decoded *out, struct err *e);

/* The peak bytes of dec_webp_decode() for the same arguments. */
size_t dec_webp_estimate(const unsigned char *data, size_t len,
			 unsigned need_w, unsigned need_h);

#endif
