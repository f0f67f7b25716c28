/*
 * png_rows.h - a non-interlaced PNG's rows once inflated: the row filters
 * undone, and the samples made into the 8-bit pixels libpng's transforms
 * make of them (png_set_scale_16, png_set_palette_to_rgb,
 * png_set_tRNS_to_alpha), byte for byte.  dec_png.c's fast path.
 *
 * A filtered row is one filter byte (0 None, 1 Sub, 2 Up, 3 Average,
 * 4 Paeth) and rowbytes bytes; the filters work on bytes, each against the
 * byte one pixel (bpp bytes, at least 1) to the left and the bytes above.
 * Sub, Average and Paeth are SSE2 where a pixel is 3, 4, 6 or 8 bytes (RGB
 * and RGBA, 8 and 16 bits), scalar elsewhere and without SSE2.
 * No libpng here: the caller reads IHDR, PLTE and tRNS (with libpng) and
 * fills struct png_rows_format.
 * Thread-safety: pure functions; a format is read-only once filled.
 */
#ifndef IMGSRV_PNG_ROWS_H
#define IMGSRV_PNG_ROWS_H

#include <stddef.h>
#include <stdint.h>

/* PNG colour types (IHDR). */
enum {
	PNG_ROWS_GREY = 0,
	PNG_ROWS_RGB = 2,
	PNG_ROWS_PALETTE = 3,
	PNG_ROWS_GREY_ALPHA = 4,
	PNG_ROWS_RGBA = 6
};

struct png_rows_format {
	unsigned width;
	unsigned depth;       /* bits a sample: 8 or 16; palette 1, 2, 4, 8 */
	unsigned type;        /* PNG_ROWS_* */
	int trns;             /* grey or RGB: pixels of colour trns_rgb (grey
			       * in [0]) become transparent, the others
			       * opaque: an alpha channel is added */
	uint16_t trns_rgb[3]; /* as in tRNS; at depth 8 its low byte counts */
	int palette_alpha;    /* palette: tRNS came, the pixels are RGBA */
	unsigned char palette[256][4]; /* palette: RGBA of each index (black
				* past PLTE's entries, opaque past tRNS's) */
};

/* 1 when png_rows_pixels() takes f (the types and depths above), else 0. */
int png_rows_supported(const struct png_rows_format *f);

/* The bytes of a filtered row, filter byte not counted. */
size_t png_rows_rowbytes(const struct png_rows_format *f);

/* The filters' pixel: bytes of a pixel, at least 1. */
unsigned png_rows_bpp(const struct png_rows_format *f);

/* Channels of the pixels png_rows_pixels() makes: 1 grey, 2 grey+alpha,
 * 3 RGB, 4 RGBA. */
unsigned png_rows_channels(const struct png_rows_format *f);

/*
 * Undoes filter on row (n bytes, in place) against prev, the row above
 * already undone (n bytes of zeros above the first row); bpp as
 * png_rows_bpp().  Returns 0, or -1 for a filter over 4 (row untouched).
 */
int png_rows_unfilter(unsigned char *row, const unsigned char *prev,
		      size_t n, unsigned bpp, unsigned filter);

/*
 * Two rows in a row, r1 right under r0 (n bytes each, filters f0 and
 * f1), prev above r0: as png_rows_unfilter() of r0 then r1, but faster
 * when both are Paeth (the two rows' work interleaves).  Returns 0, or
 * -1 for a filter over 4 (rows untouched).
 */
int png_rows_unfilter2(unsigned char *r0, unsigned char *r1,
		       const unsigned char *prev, size_t n, unsigned bpp,
		       unsigned f0, unsigned f1);

/* png_rows_unfilter() without SIMD, for the tests. */
int png_rows_unfilter_scalar(unsigned char *row, const unsigned char *prev,
			     size_t n, unsigned bpp, unsigned filter);

/*
 * The 8-bit pixels (f->width of png_rows_channels(f) bytes) of row, an
 * unfiltered row: row itself when its bytes already are those (8 bits,
 * no palette, no tRNS), else out (room for f->width * 4 bytes) filled.
 */
const unsigned char *png_rows_pixels(const struct png_rows_format *f,
				     const unsigned char *row,
				     unsigned char *out);

#endif
