/*
 * sniff.h - recognise an original by its magic bytes and read its header.
 *
 * Runs before MagickCore sees a byte: only JPEG, PNG, GIF and WebP pass,
 * and their dimensions (and a JPEG's EXIF orientation) are read from the
 * header so that limits are enforced without decoding, and a JPEG can be
 * decoded at a reduced size.  Bounds-checked against len everywhere: the
 * input is hostile.  Thread-safety: pure functions.
 */
#ifndef IMGSRV_SNIFF_H
#define IMGSRV_SNIFF_H

#include <stddef.h>

#include "err.h"

enum sniff_format { SNIFF_UNKNOWN, SNIFF_JPEG, SNIFF_PNG, SNIFF_GIF, SNIFF_WEBP };

struct sniff_info {
	enum sniff_format format;
	unsigned width, height; /* as stored, before EXIF orientation; for a
				 * GIF the largest of its screen and frames */
	int orientation;        /* EXIF 1-8; 1 when absent */
	unsigned frames;        /* 1, or the frames of an animated GIF/WebP
				 * (counted up to SNIFF_MAX_FRAMES + 1) */
};

#define SNIFF_MAX_FRAMES 100000

/*
 * Identifies data and reads its dimensions into *info.  Returns 0, or -1
 * with ERR_UNPROCESSABLE when the bytes are not one of the allowed formats
 * or the header is unreadable.
 */
int sniff(const unsigned char *data, size_t len, struct sniff_info *info,
	  struct err *e);

/* 1 when the EXIF orientation turns the image a quarter (5-8): its
 * shown width is its stored height.  Only JPEG originals carry one. */
int sniff_swaps(const struct sniff_info *info);

/* The size as shown, after EXIF orientation, into *w and *h. */
void sniff_shown_size(const struct sniff_info *info, unsigned *w, unsigned *h);

/* The MagickCore coder for a sniffed format ("JPEG"), or NULL. */
const char *sniff_coder(enum sniff_format f);

#endif
