/*
 * pixels.h - an 8-bit image in memory: what the decoders make (dec_*.h,
 * jpegdc.h), and what the colour conversion (color.h), the resizer
 * (resize.h) and the encoders (encode.h) take.  Full-size work stays in
 * 8 bits; MagickCore's 16-bit pixels are only ever made at the reduced
 * size, for the formats it alone encodes.
 *
 * A pixel is `channels` bytes: 1 grey, 2 grey and alpha, 3 RGB, 4 RGBA
 * (alpha not premultiplied), or 4 CMYK when cmyk is set (before colour
 * conversion only).  Rows are stride bytes apart (stride >= width *
 * channels).
 * Ownership: pixels_init() a struct on the stack, pixels_alloc() gives it
 * data, pixels_release() frees it; pixels_move() hands data over.
 * Thread-safety: no shared state.
 */
#ifndef IMGSRV_PIXELS_H
#define IMGSRV_PIXELS_H

#include <stddef.h>

#include "err.h"

struct pixels {
	unsigned width, height;
	unsigned channels; /* 1-4 */
	int cmyk;          /* 4 channels of C, M, Y, K (0 = no ink) */
	size_t stride;     /* bytes from one row to the next */
	unsigned char *data; /* the first pixel */
	unsigned char *base; /* the allocation (data may point into it) */
};

/* An empty image (no data); pixels_release() of it is a no-op. */
void pixels_init(struct pixels *p);

/* Allocates a width x height image of channels bytes per pixel, rows
 * packed (stride = width * channels), contents undefined, cmyk 0; p's
 * old data, if any, is freed.  Returns 0, or -1 with p unchanged:
 * ERR_BUSY when memory ran out (another try may find some),
 * ERR_UNPROCESSABLE when the size does not fit in a size_t, ERR_INTERNAL
 * for a side of 0 or channels not 1-4. */
int pixels_alloc(struct pixels *p, unsigned width, unsigned height,
		 unsigned channels, struct err *e);

/* Frees p's data and empties it. */
void pixels_release(struct pixels *p);

/* *to = *from, from emptied (to's old data freed first). */
void pixels_move(struct pixels *to, struct pixels *from);

/* The bytes pixels_alloc() takes for such an image (SIZE_MAX when that
 * does not fit in a size_t). */
size_t pixels_bytes(unsigned width, unsigned height, unsigned channels);

/*
 * Applies EXIF orientation 1-8 (2: mirror; 3: turn half; 4: flip; 5:
 * transpose; 6: turn a quarter clockwise; 7: transverse; 8: a quarter
 * anticlockwise), as MagickCore's AutoOrientImage() does: 2-4 in place,
 * 5-8 replace p by the turned image (sides swapped, packed rows).  Any
 * other value (0: undefined) leaves p as it is.  Returns 0, or -1 with
 * ERR_BUSY (out of memory; p unchanged).
 */
int pixels_orient(struct pixels *p, int orientation, struct err *e);

/* Keeps the w x h box at (x, y) of p, without copying: data moves to
 * the box's first pixel, width and height shrink, stride stays.
 * (pixels_release() still frees the whole allocation.)  A box reaching
 * past p is cut at p's edges. */
void pixels_crop(struct pixels *p, unsigned x, unsigned y, unsigned w,
		 unsigned h);

/*
 * Flattens alpha onto the opaque background rgb (colour * alpha +
 * background * (255 - alpha), over 255, rounded), in place (the same
 * rows, fewer bytes per pixel): 4 channels become 3; 2 become 1 when the
 * background is grey, else 3 (into a new allocation; -1 with ERR_BUSY
 * when out of memory, p unchanged).  1 and 3 channels are left alone.
 * Returns 0, or -1 (ERR_INTERNAL) for a CMYK image, which has no alpha.
 */
int pixels_flatten(struct pixels *p, const unsigned char rgb[3],
		   struct err *e);

#endif
