/*
 * jpegdc.h - a baseline JPEG at 1/8 or 2/8 of its size, faster than
 * libjpeg-turbo makes it.
 *
 * For the big reductions (a w300 of a 3000-pixel photo) libjpeg-turbo's
 * 1/8 scaling spends most of its time decoding the Huffman codes of
 * coefficients it then throws away.  This decoder walks the same codes
 * faster (the entropy data unstuffed into a plain buffer, one table lookup
 * per code with its extra bits) and keeps only what the 1/8 image needs.
 * At 2/8 it keeps the coefficients libjpeg's 2x2 and 4x4 inverse DCTs use
 * and is, on one thread, no faster than libjpeg-turbo: the gain is the
 * second thread on a big scan (jpegdc_split.c), and it declines the rest.
 * Either way it makes exactly the pixels libjpeg-turbo makes at that scale
 * (tests/test_jpegdc.c compares them on generated and corrupted files).
 *
 * libjpeg-turbo parses the markers.  This decoder takes only baseline,
 * 8-bit, single-scan, Huffman-coded files, greyscale or YCbCr 4:4:4 or
 * 4:2:0 (and at 1/8 also 4:2:2 and 4:4:0), whose scan ends in EOI and
 * whose restart markers (if any) come in order; anything else, and any
 * stream libjpeg would have to repair (a code no table has, data that ends
 * early), is declined, and the caller decodes it the general way.
 *
 * Thread-safety: no shared state; call from any thread.
 */
#ifndef IMGSRV_JPEGDC_H
#define IMGSRV_JPEGDC_H

#include <stddef.h>

#include "err.h"

struct jpegdc_image {
	unsigned width, height; /* the original's times scale/8, rounded up */
	unsigned channels;      /* 1 (greyscale) or 3 (RGB) */
	unsigned char *pixels;  /* width * height * channels, row by row */
	unsigned h_samp[3], v_samp[3]; /* the file's sampling factors */
	unsigned threads;       /* 2 when a second thread decoded part of it */
};

/*
 * Scans without restart markers of at least this many bytes (2 MiB) are
 * decoded by two threads, the second starting half way (see jpegdc_split.c),
 * when fewer decoding threads run in the process than there are cores:
 * it cuts the time of one big decode by about a third, for a fifth more
 * CPU time.  0: always two threads (tests).  Set it before decoding, not
 * while threads decode.
 */
extern size_t jpegdc_split_bytes;

/* Frees img's pixels (a no-op on a zeroed struct). */
void jpegdc_image_release(struct jpegdc_image *img);

/*
 * Decodes data at scale/8 (1 or 2) into *out.  stop(arg), when not NULL,
 * is asked every row of MCUs whether to give up (a deadline).  Returns 0
 * with *out filled (release it with jpegdc_image_release), 1 when it
 * declines data (*out untouched: decode it another way; so is any other
 * scale, and at 2/8 a scan it would not split between two threads, see
 * jpegdc_split_bytes), or -1 when stop said so (ERR_UNPROCESSABLE) or
 * memory ran out
 * (ERR_INTERNAL).
 */
int jpegdc_decode(const unsigned char *data, size_t len, unsigned scale,
		  int (*stop)(void *arg), void *arg, struct jpegdc_image *out,
		  struct err *e);

/*
 * The peak bytes jpegdc_decode() takes for a w x h file of len bytes: the
 * image and its planes, and for a scan split between two threads its data
 * and the second thread's notes.
 */
size_t jpegdc_estimate(unsigned w, unsigned h, unsigned scale, size_t len);

#endif
