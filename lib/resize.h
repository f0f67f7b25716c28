/*
 * resize.h - 8-bit resizing of a struct pixels (pixels.h), the step after
 * the decode, the colour conversion and (image.c) the flattening onto the
 * background, which, both being linear, gives the premultiplied resize's
 * result; before the encoding.
 *
 * Each axis is taken on its own (separable): first a box shrink by a
 * whole factor (each output pixel the exact, rounded mean of a block:
 * the cheap way through a big reduction), then Lanczos3 for the rest,
 * and for enlargements.  Weights are 14-bit fixed point; each pass
 * rounds and clamps to 8 bits.  Images with alpha (2 or 4 channels, not
 * CMYK) are resized premultiplied, so that the colour of transparent
 * pixels does not bleed into their neighbours, and un-premultiplied at
 * the end: the output, like every struct pixels, is not premultiplied.
 *
 * Pixel geometry is MagickCore's ResizeImage(): output pixel i covers
 * input [i * from / to, (i + 1) * from / to), filters are scaled by the
 * reduction, and at the edges the weights that fall outside are dropped
 * and the rest renormalised.
 *
 * Thread-safety: no shared state; call from any thread.
 */
#ifndef IMGSRV_RESIZE_H
#define IMGSRV_RESIZE_H

#include <stddef.h>

#include "err.h"
#include "pixels.h"

enum resize_filter {
	RESIZE_COPY,     /* the axis keeps its size (after any shrink) */
	RESIZE_TRIANGLE, /* support 1, scaled by the reduction (only
			  * through resize_pixels_plan()) */
	RESIZE_LANCZOS3  /* sinc windowed by sinc, support 3, scaled */
};

/* The box shrink can take at most this factor: its sums are 16-bit. */
#define RESIZE_MAX_SHRINK 256

/* How one axis goes from `from` pixels to `to`. */
struct resize_axis {
	unsigned shrink;           /* box shrink first, 1 to RESIZE_MAX_SHRINK */
	enum resize_filter filter; /* then this filter (RESIZE_COPY only when
				    * from is shrink * to) */
};

/*
 * The plan resize_pixels() follows for an axis: a box shrink by
 * floor(factor / 2) when the factor is 4 or more (as libvips does: the
 * filter after it still has 2x to 4x to do, which keeps its
 * antialiasing; 50 dB and more against MagickCore's Lanczos on photos),
 * then Lanczos3, whatever is left.  Not a triangle for the last 2x,
 * though it takes half the time there: on a detailed photo it came to
 * 35.6 dB against the Lanczos reference (tests/bench/resize_bench.c).
 * from and to are at least 1.
 */
void resize_plan(unsigned from, unsigned to, struct resize_axis *a);

/*
 * Resizes src (1 to 4 channels, rows of any stride) to w x h into dst,
 * as resize_plan() says.  dst is allocated (its old data freed); dst may
 * be src (src is then replaced).  dst's rows are packed; cmyk is kept.
 * Returns 0, or -1 with dst untouched: ERR_BUSY when memory ran out,
 * ERR_INTERNAL for an empty src or a side of 0.
 */
int resize_pixels(const struct pixels *src, unsigned w, unsigned h,
		  struct pixels *dst, struct err *e);

/*
 * Resizes the window of src that starts at (x, y) and spans ww x wh of
 * its pixels, fractions and all, to w x h into dst, as resize_pixels()
 * otherwise does.  The window is what the output must show exactly: a
 * crop, or an image decoded at a reduced scale whose last row and column
 * stand for less than a whole pixel (a 1050-row JPEG at 3/8 is 393.75
 * rows, made 394), or whose first do after a turn.  It must lie within
 * src.  Returns as resize_pixels().
 */
int resize_pixels_window(const struct pixels *src, double x, double y,
			 double ww, double wh, unsigned w, unsigned h,
			 struct pixels *dst, struct err *e);

/*
 * resize_pixels() with the plan of each axis given (x, then y), for
 * tests and benchmarks that weigh plans.  A shrink over from (or over
 * RESIZE_MAX_SHRINK), or RESIZE_COPY where from is not shrink * to, is
 * ERR_INTERNAL.
 */
int resize_pixels_plan(const struct pixels *src, unsigned w, unsigned h,
		       const struct resize_axis plan[2], struct pixels *dst,
		       struct err *e);

/* The scratch memory resize_pixels() takes besides dst, in bytes (an
 * upper bound), for admission before it starts. */
size_t resize_scratch_bytes(unsigned src_w, unsigned src_h,
			    unsigned channels, unsigned w, unsigned h);

#endif
