/* sniff.c - magic bytes, dimensions and EXIF orientation of originals. */
#include "sniff.h"

#include <string.h>

static unsigned be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static unsigned be32(const unsigned char *p)
{
	return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 |
	       (unsigned)p[2] << 8 | p[3];
}

static unsigned le16(const unsigned char *p)
{
	return (unsigned)p[1] << 8 | p[0];
}

static unsigned le24(const unsigned char *p)
{
	return (unsigned)p[2] << 16 | (unsigned)p[1] << 8 | p[0];
}

static unsigned le32(const unsigned char *p)
{
	return (unsigned)p[3] << 24 | le24(p);
}

const char *sniff_coder(enum sniff_format f)
{
	switch (f) {
	case SNIFF_JPEG: return "JPEG";
	case SNIFF_PNG: return "PNG";
	case SNIFF_GIF: return "GIF";
	case SNIFF_WEBP: return "WEBP";
	case SNIFF_UNKNOWN: break;
	}
	return NULL;
}

/* Reads the Orientation tag (0x0112) from a TIFF structure inside APP1. */
static int exif_orientation(const unsigned char *t, size_t len)
{
	unsigned (*u16)(const unsigned char *);
	unsigned (*u32)(const unsigned char *);
	size_t ifd, n;

	if (len < 8)
		return 1;
	if (memcmp(t, "II*\0", 4) == 0)
		u16 = le16, u32 = le32;
	else if (memcmp(t, "MM\0*", 4) == 0)
		u16 = be16, u32 = be32;
	else
		return 1;
	ifd = u32(t + 4);
	if (ifd > len - 2)
		return 1;
	n = u16(t + ifd);
	for (size_t i = 0; i < n; i++) {
		size_t at = ifd + 2 + i * 12;
		unsigned v;
		if (len < 12 || at > len - 12) /* len - 12 must not wrap */
			break;
		if (u16(t + at) != 0x0112)
			continue;
		v = u16(t + at + 8); /* SHORT, left-justified in the value field */
		return v >= 1 && v <= 8 ? (int)v : 1;
	}
	return 1;
}

static int sniff_jpeg(const unsigned char *d, size_t len, struct sniff_info *in)
{
	size_t at = 2;

	while (at + 4 <= len) {
		unsigned marker, seglen;

		if (d[at] != 0xFF)
			return -1;
		marker = d[at + 1];
		if (marker == 0xFF) { /* fill byte */
			at++;
			continue;
		}
		if (marker == 0xD8 || marker == 0x01 ||
		    (marker >= 0xD0 && marker <= 0xD7)) {
			at += 2; /* markers without a length */
			continue;
		}
		if (marker == 0xD9 || marker == 0xDA)
			return -1; /* end of image or scan data before a frame */
		seglen = be16(d + at + 2);
		if (seglen < 2 || at + 2 + seglen > len)
			return -1;
		if (marker == 0xE1 && seglen >= 8 &&
		    memcmp(d + at + 4, "Exif\0\0", 6) == 0)
			in->orientation = exif_orientation(d + at + 10, seglen - 8);
		/* SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
		if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 &&
		    marker != 0xC8 && marker != 0xCC) {
			if (seglen < 8)
				return -1;
			in->height = be16(d + at + 5);
			in->width = be16(d + at + 7);
			return 0;
		}
		at += 2 + seglen;
	}
	return -1;
}

/* Skips GIF data sub-blocks at *at; 0, or -1 when they run past len. */
static int gif_skip_blocks(const unsigned char *d, size_t len, size_t *at)
{
	while (*at < len) {
		unsigned n = d[*at];
		*at += 1 + n;
		if (n == 0)
			return 0;
	}
	return -1;
}

/*
 * Walks a GIF's blocks: counts its frames and takes the largest frame
 * size, since MagickCore allocates each frame at its own size, whatever
 * the logical screen says.  A stream cut short ends the walk: the decoder
 * will report it.
 */
static void gif_frames(const unsigned char *d, size_t len, struct sniff_info *in)
{
	size_t at = 13;

	in->frames = 0;
	if (d[10] & 0x80) /* global colour table */
		at += 3u * (1u << ((d[10] & 7) + 1));
	while (at < len && in->frames <= SNIFF_MAX_FRAMES) {
		if (d[at] == 0x3B) { /* trailer */
			break;
		} else if (d[at] == 0x21) { /* extension: label, sub-blocks */
			at += 2;
			if (gif_skip_blocks(d, len, &at) < 0)
				break;
		} else if (d[at] == 0x2C) { /* image descriptor */
			unsigned w, h, flags;
			if (at + 10 > len)
				break;
			w = le16(d + at + 5), h = le16(d + at + 7);
			flags = d[at + 9];
			in->frames++;
			in->width = w > in->width ? w : in->width;
			in->height = h > in->height ? h : in->height;
			at += 10;
			if (flags & 0x80) /* local colour table */
				at += 3u * (1u << ((flags & 7) + 1));
			at++; /* LZW minimum code size */
			if (gif_skip_blocks(d, len, &at) < 0)
				break;
		} else {
			break;
		}
	}
	if (in->frames == 0)
		in->frames = 1;
}

/* Counts the ANMF chunks of an animated WebP. */
static void webp_frames(const unsigned char *d, size_t len, struct sniff_info *in)
{
	size_t at = 12;
	unsigned n = 0;

	while (at + 8 <= len && n <= SNIFF_MAX_FRAMES) {
		size_t size = le32(d + at + 4);
		if (memcmp(d + at, "ANMF", 4) == 0)
			n++;
		if (size > len - at - 8)
			break;
		at += 8 + size + (size & 1);
	}
	in->frames = n ? n : 1;
}

static int sniff_webp(const unsigned char *d, size_t len, struct sniff_info *in)
{
	const unsigned char *c = d + 12;

	if (len < 30)
		return -1;
	if (memcmp(c, "VP8 ", 4) == 0) {
		/* frame tag (3 bytes), start code 9d 01 2a, 14-bit sizes */
		if (d[23] != 0x9d || d[24] != 0x01 || d[25] != 0x2a)
			return -1;
		in->width = le16(d + 26) & 0x3fff;
		in->height = le16(d + 28) & 0x3fff;
		return 0;
	}
	if (memcmp(c, "VP8L", 4) == 0) {
		unsigned bits;
		if (d[20] != 0x2f)
			return -1;
		bits = le32(d + 21);
		in->width = (bits & 0x3fff) + 1;
		in->height = ((bits >> 14) & 0x3fff) + 1;
		return 0;
	}
	if (memcmp(c, "VP8X", 4) == 0) {
		in->width = le24(d + 24) + 1;
		in->height = le24(d + 27) + 1;
		return 0;
	}
	return -1;
}

int sniff(const unsigned char *d, size_t len, struct sniff_info *in,
	  struct err *e)
{
	int rc = -1;

	memset(in, 0, sizeof(*in));
	in->orientation = 1;
	in->frames = 1;
	if (len >= 4 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) {
		in->format = SNIFF_JPEG;
		rc = sniff_jpeg(d, len, in);
	} else if (len >= 24 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) {
		in->format = SNIFF_PNG;
		if (memcmp(d + 12, "IHDR", 4) == 0) {
			in->width = be32(d + 16);
			in->height = be32(d + 20);
			rc = 0;
		}
	} else if (len >= 10 && (memcmp(d, "GIF87a", 6) == 0 ||
				 memcmp(d, "GIF89a", 6) == 0)) {
		in->format = SNIFF_GIF;
		in->width = le16(d + 6);
		in->height = le16(d + 8);
		if (len >= 13)
			gif_frames(d, len, in);
		rc = 0;
	} else if (len >= 12 && memcmp(d, "RIFF", 4) == 0 &&
		   memcmp(d + 8, "WEBP", 4) == 0) {
		in->format = SNIFF_WEBP;
		rc = sniff_webp(d, len, in);
		if (rc == 0)
			webp_frames(d, len, in);
	} else {
		return err_set(e, ERR_UNPROCESSABLE,
			       "original is not an allowed image "
			       "(JPEG, PNG, GIF or WebP)");
	}
	if (rc < 0 || in->width == 0 || in->height == 0)
		return err_set(e, ERR_UNPROCESSABLE,
			       "original %s has an unreadable header",
			       sniff_coder(in->format));
	return 0;
}

int sniff_swaps(const struct sniff_info *info)
{
	return info->format == SNIFF_JPEG && info->orientation >= 5;
}

void sniff_shown_size(const struct sniff_info *info, unsigned *w, unsigned *h)
{
	int swap = sniff_swaps(info);

	*w = swap ? info->height : info->width;
	*h = swap ? info->width : info->height;
}
