/*
 * dec_png.h - PNG: the decoder's own header read, a check that reads every
 * row of every pass (libpng), and a decode into 8-bit pixels.
 *
 * A PNG has no shrink-on-load; where the output is much smaller (need_w x
 * need_h), each run of rows is averaged into one as it comes (a box shrink
 * by whole factors, at most 256 a side).  16-bit samples are scaled to 8
 * bits as libpng's png_set_scale_16 does (round(v / 257)); palettes and
 * transparency become grey or RGB with alpha.  The ICC profile (iCCP)
 * comes along; a gAMA without one is left alone.  libpng's warnings (an
 * ancillary chunk with a bad CRC, dropped) do not refuse; its errors do.
 * A file whose chunks before the image reach past its end is refused
 * ("file cut short", as libpng would) before libpng reads it: libpng
 * allocates and zeroes the length a text chunk declares first (2 GiB for
 * a 58-byte file).
 *
 * The decode goes one of two ways, to the same pixels, bit for bit:
 *
 *   fast    non-interlaced, 8 or 16 bits a sample (grey, grey+alpha, RGB,
 *           RGBA) or a palette (1 to 8 bits), and the inflated image,
 *           height x (1 + row bytes), at most DEC_PNG_FAST_MAX.  libpng
 *           reads the header (png_read_info: IHDR, PLTE, tRNS, iCCP, the
 *           CRCs of the chunks before the image); the first run of IDAT
 *           chunks is gathered here, each CRC checked, and libdeflate
 *           inflates it at once into one buffer of exactly that size;
 *           png_rows.h undoes the row filters row by row into the shrink.
 *           Held: that buffer, the IDAT payload when it spans several
 *           chunks (the file's size at most), the output and a few rows.
 *   libpng  everything else (interlaced, grey of 1, 2 or 4 bits, a larger
 *           image), row by row, holding a row (an interlaced file: the
 *           whole image, its passes need it).
 *
 * A file the fast path finds unsound in any way - a chunk cut short or
 * with a wrong CRC, a stream too short for the image, not exactly its
 * size or failing its Adler-32, a zlib window smaller than the image
 * (zlib holds distances to it, libdeflate does not look), a filter byte
 * over 4 - goes the libpng way, which decodes or refuses it as before: a
 * file decodes, or is refused, as libpng alone would have it.  One
 * difference is left: libdeflate takes some malformed deflate blocks that
 * zlib refuses (more than 286 length or 30 distance codes, and their use;
 * a run of code lengths past the last; a precode of one 1-bit code; a
 * distance in a block with no distance code), so a crafted stream of them
 * whose Adler-32 still matches decodes here where libpng refuses it.  No
 * such original reaches a decode: gate_original() (gate.h) runs
 * dec_png_check(), libpng's, before an original is kept (fuzz_png.c
 * aborts on a file decoded here that libpng refuses and the check lets
 * by).
 * Thread-safety: no shared state.
 */
#ifndef IMGSRV_DEC_PNG_H
#define IMGSRV_DEC_PNG_H

#include <stddef.h>

#include "decode.h"

/* The largest inflated image the fast path holds (64 MiB: a 4096 x 4096
 * RGBA, 8 bits); a larger one goes row by row through libpng. */
#define DEC_PNG_FAST_MAX ((size_t)64 << 20)

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

/*
 * dec_png_decode()'s two ways apart, for the tests and the differential
 * fuzz target.  dec_png_decode_libpng() takes any PNG.
 * dec_png_decode_fast() returns 0 with *out filled, 1 when it does not
 * take the file (out left empty: the libpng way decides), or -1 as
 * decode_image().
 */
int dec_png_decode_libpng(const unsigned char *data, size_t len,
			  unsigned need_w, unsigned need_h,
			  int (*stop)(void *arg), void *arg,
			  struct decoded *out, struct err *e);
int dec_png_decode_fast(const unsigned char *data, size_t len,
			unsigned need_w, unsigned need_h,
			int (*stop)(void *arg), void *arg,
			struct decoded *out, struct err *e);

/* The peak bytes of dec_png_decode() for the same arguments: the fast
 * way's when it may take the file (it gives way to libpng's only after
 * freeing its own). */
size_t dec_png_estimate(const unsigned char *data, size_t len,
			unsigned need_w, unsigned need_h);

#endif
