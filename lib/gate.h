/*
 * gate.h - what an original must pass before any decoder sees it, and
 * before it is kept in the store.
 *
 * gate_check(): the size in bytes, an allowed format (sniff.h, strict),
 * the format's own decoder reading the same header (libjpeg's
 * jpeg_read_header, libpng's png_read_info, libwebp's WebPGetFeatures and
 * demuxer; for GIF the sniffer walks every frame descriptor itself), and
 * the limits on pixels, sides and frames.  Cheap: headers only.  Every
 * output made checks its original so.
 *
 * gate_original(): gate_check(), then a decode to the end (the first
 * frame of an animation) at the smallest scale that still reads every
 * byte: libjpeg at 1/8, libpng row by row, libwebp scaled, MagickCore for
 * GIF.  An original is kept in the store only when it passes: a header
 * without its image, a file cut short or a corrupt stream is refused
 * (ERR_UNPROCESSABLE) and nothing is stored.
 *
 * Thread-safety: pure functions (gate_original needs image_global_init()
 * done, for GIF).
 */
#ifndef IMGSRV_GATE_H
#define IMGSRV_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sniff.h"

struct gate_limits {
	uint64_t max_pixels; /* width * height of an original */
	unsigned max_side;   /* widest or highest original */
	size_t max_bytes;    /* largest original */
	unsigned max_frames; /* most frames of an animation */
	unsigned timeout_ms; /* longest decode + resize + encode; 0: none */
};

struct conf;

/* The limits on originals that configuration c sets. */
void gate_limits_from_conf(struct gate_limits *l, const struct conf *c);

/*
 * Checks data's format, header and size against *l; fills *info.
 * Returns 0, or -1 with ERR_UNPROCESSABLE and the reason.
 */
int gate_check(const unsigned char *data, size_t len,
	       const struct gate_limits *l, struct sniff_info *info,
	       struct err *e);

/*
 * gate_check(), then decodes data to its end as above.  Returns 0, or -1
 * with ERR_UNPROCESSABLE (or ERR_BUSY when the decode ran out of memory:
 * worth another try later).
 */
int gate_original(const unsigned char *data, size_t len,
		  const struct gate_limits *l, struct sniff_info *info,
		  struct err *e);

/*
 * The decoders' own header reads alone, for the differential fuzz target:
 * the size the decoder of format f finds in data.  Returns 0, or -1 when
 * that decoder refuses the header (GIF: not read here, -1).
 */
int gate_decoder_size(enum sniff_format f, const unsigned char *data,
		      size_t len, unsigned *width, unsigned *height);

#endif
