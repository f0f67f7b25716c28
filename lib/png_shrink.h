/*
 * png_shrink.h - rows of 8-bit pixels averaged fx x fy into one as they
 * come (a box shrink by whole factors): a PNG decode's shrink-on-load, so
 * that the full-size image is never held.
 *
 * Each output sample is its box's mean, rounded; with alpha (2 and 4
 * channels) colour is weighted by it (the sum of colour x alpha over the
 * sum of alpha), so that the colour of transparent pixels does not bleed,
 * and a box wholly transparent is 0 throughout.  Boxes are fx x fy but in
 * the last column and row, which take what is left.  Factors are at most
 * PNG_SHRINK_MAX_FACTOR, so that a box's sums fit in 32 bits.
 * Ownership: png_shrink_init() allocates the output into the caller's
 * struct pixels, and sums of its own that png_shrink_release() frees.
 * Thread-safety: one per decode.
 */
#ifndef IMGSRV_PNG_SHRINK_H
#define IMGSRV_PNG_SHRINK_H

#include <stdint.h>

#include "err.h"
#include "pixels.h"

/* 256 x 256 pixels of colour x alpha (255 x 255 each), and half the
 * alpha sum that rounds their mean, fit in 32 bits (257 x 257 do not). */
#define PNG_SHRINK_MAX_FACTOR 256

struct png_shrink {
	unsigned fx, fy, w, ch, alpha;
	uint32_t *sum;  /* out width * channels: the boxes' sums */
	uint16_t *col;  /* w * channels, without alpha: the columns' sums */
	unsigned rows;  /* rows summed so far into sum */
	unsigned y;     /* next out row */
	struct pixels *out;
};

/* The factor a side of n pixels shrinks by and still keeps need (0: no
 * need, 1): n / need, at least 1, at most PNG_SHRINK_MAX_FACTOR. */
unsigned png_shrink_factor(unsigned n, unsigned need);

/*
 * Sets s up for rows of w pixels of ch channels (1-4), h rows, shrunk by
 * png_shrink_factor() of need_w and need_h, into *out, which it
 * allocates.  Returns 0, or -1 as pixels_alloc() (ERR_BUSY when out of
 * memory); png_shrink_release() s either way.
 */
int png_shrink_init(struct png_shrink *s, unsigned w, unsigned h,
		    unsigned ch, unsigned need_w, unsigned need_h,
		    struct pixels *out, struct err *e);

/* Takes the next row (w pixels); every fy rows make an output row. */
void png_shrink_row(struct png_shrink *s, const unsigned char *row);

/* After the last row: the rows summed since the last output row (fewer
 * than fy) make the last one. */
void png_shrink_finish(struct png_shrink *s);

/* Frees the sums (not the output); s may have failed to init. */
void png_shrink_release(struct png_shrink *s);

#endif
