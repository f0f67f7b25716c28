/*
 * jpegprog.h - a progressive JPEG at one eighth of its size, from its DC
 * scans alone.
 *
 * A progressive file sends every block's DC coefficient first (one scan,
 * or one per component, often at reduced precision), then the AC
 * coefficients in many scans, and the DC's last bits (refinement scans)
 * somewhere among them.  At 1/8 scale a block is one pixel: its DC.  So
 * only the DC scans are decoded; the AC scans are skipped over (a search
 * for the next marker), and once every component's DC is complete, the
 * rest of the file is not read at all.  libjpeg-turbo would decode every
 * scan into a buffer of every coefficient of the image first.
 *
 * The grey (and luma) values are those of libjpeg-turbo's 1/8 decode;
 * chroma of a subsampled file is upsampled from its DC alone (libjpeg-
 * turbo also reads three AC coefficients there), a difference PSNR bounds
 * in tests/test_jpegprog.c.
 *
 * Takes only progressive (SOF2), 8-bit, Huffman-coded files of 1 (grey)
 * or 3 components (YCbCr, or RGB), with sampling factors of 1 or 2; any
 * other file, and any it cannot read to the end of its DC, is declined:
 * the caller decodes it the general way (and libjpeg reports what is
 * wrong with it).
 * Thread-safety: no shared state.
 */
#ifndef IMGSRV_JPEGPROG_H
#define IMGSRV_JPEGPROG_H

#include <stddef.h>

#include "err.h"
#include "pixels.h"

/*
 * Decodes data at scale 1/8 into *out (1 channel for grey, 3 for colour;
 * width and height the original's divided by 8, rounded up); *h and *v
 * are a colour file's luma sampling factors (0 for grey).  stop(arg), when not
 * NULL, is asked between scans whether to give up.  Returns 0, 1 when it
 * declines data (*out untouched), or -1 with ERR_UNPROCESSABLE (stopped)
 * or ERR_BUSY (out of memory).
 */
int jpegprog_decode(const unsigned char *data, size_t len,
		    int (*stop)(void *arg), void *arg, struct pixels *out,
		    unsigned *h, unsigned *v, struct err *e);

/* The offset in data of the frame header's marker (FF Cn), found by
 * walking the segments before it; 0 when a scan or the end comes first. */
size_t jpegprog_frame(const unsigned char *data, size_t len);

/* 1 if data's frame is progressive (SOF2), for choosing a decoder. */
int jpegprog_is_progressive(const unsigned char *data, size_t len);

#endif
