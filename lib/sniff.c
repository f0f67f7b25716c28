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

/* The frame types libjpeg-turbo decodes here: baseline, extended and
 * progressive, Huffman or arithmetic.  (Lossless and hierarchical frames
 * it refuses; so do we, before a byte of them is decoded.) */
static int jpeg_frame_ok(unsigned marker)
{
	return marker == 0xC0 || marker == 0xC1 || marker == 0xC2 ||
	       marker == 0xC9 || marker == 0xCA;
}

/*
 * Walks the segments from SOI to the frame header, strictly: each is
 * 0xFF fill bytes, then a marker with a length.  Stray bytes, a marker
 * without a length, a scan or the end before the frame, a frame type or
 * precision libjpeg would not decode: refused.  (libjpeg itself skips
 * stray bytes with a warning and reads on: a gate that stopped there
 * would measure another image than the decoder decodes.)
 */
static int sniff_jpeg(const unsigned char *d, size_t len, struct sniff_info *in)
{
	size_t at = 2;

	for (;;) {
		unsigned marker, seglen;

		if (at >= len || d[at] != 0xFF)
			return -1;
		while (at < len && d[at] == 0xFF) /* fill bytes */
			at++;
		if (at + 3 > len)
			return -1;
		marker = d[at];
		at++;
		/* Markers that may stand here: APPn, COM, DQT, DHT, DAC, DRI,
		 * SOFn (checked below); not SOI, EOI, RSTn, SOS, TEM, RES. */
		if (marker < 0xC0 || (marker >= 0xD0 && marker <= 0xDA))
			return -1;
		seglen = be16(d + at);
		if (seglen < 2 || seglen > len - at)
			return -1;
		if (marker == 0xE1 && seglen >= 8 &&
		    memcmp(d + at + 2, "Exif\0\0", 6) == 0)
			in->orientation = exif_orientation(d + at + 8, seglen - 8);
		if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 &&
		    marker != 0xC8 && marker != 0xCC) {
			unsigned nc;

			if (!jpeg_frame_ok(marker) || seglen < 8 || d[at + 2] != 8)
				return -1;
			in->height = be16(d + at + 3);
			in->width = be16(d + at + 5);
			nc = d[at + 7];
			if (nc < 1 || nc > 4 || seglen != 8 + 3 * nc)
				return -1;
			return 0;
		}
		at += seglen;
	}
}

/* Skips GIF data sub-blocks at *at; 0, or -1 when they run past len. */
static int gif_skip_blocks(const unsigned char *d, size_t len, size_t *at)
{
	while (*at < len) {
		unsigned n = d[*at];
		*at += 1 + n;
		if (n == 0)
			return *at <= len ? 0 : -1;
	}
	return -1;
}

/* A colour table of flags' size at *at; -1 when it runs past len. */
static int gif_skip_table(const unsigned char *d, size_t len, size_t *at,
			  unsigned flags)
{
	(void)d;
	if (flags & 0x80)
		*at += 3u * (1u << ((flags & 7) + 1));
	return *at <= len ? 0 : -1;
}

/*
 * Walks a GIF's blocks strictly: extensions (0x21) of the four known
 * labels, image descriptors (0x2C) and the trailer (0x3B); any other byte
 * is refused, since
 * MagickCore skips what it does not know and would find frames we never
 * saw, anywhere in the file.  Counts the frames and takes the largest
 * frame size, since MagickCore allocates each frame at its own size,
 * whatever the logical screen says.  At least one whole frame is needed;
 * a stream cut short after it ends the walk (only the first frame is
 * decoded).
 */
static int gif_frames(const unsigned char *d, size_t len, struct sniff_info *in)
{
	size_t at = 13;
	unsigned whole = 0;

	in->frames = 0;
	if (gif_skip_table(d, len, &at, d[10]) < 0)
		return -1;
	while (at < len && in->frames <= SNIFF_MAX_FRAMES) {
		unsigned w, h, flags;

		if (d[at] == 0x3B) /* trailer */
			break;
		if (d[at] == 0x21) { /* extension: label, sub-blocks */
			/* The four labels GIF89a defines.  (MagickCore takes
			 * an extension labelled ',' for an image descriptor
			 * too, and reads one from the bytes after it.) */
			if (at + 1 < len && d[at + 1] != 0xF9 && d[at + 1] != 0xFE &&
			    d[at + 1] != 0x01 && d[at + 1] != 0xFF)
				return -1;
			at += 2;
			if (gif_skip_blocks(d, len, &at) < 0)
				break;
			continue;
		}
		if (d[at] != 0x2C)
			return -1; /* a byte MagickCore would skip: never */
		if (at + 10 > len) /* the descriptor itself cut short */
			break;
		w = le16(d + at + 5), h = le16(d + at + 7);
		flags = d[at + 9];
		if (w == 0 || h == 0)
			return -1;
		in->frames++;
		in->width = w > in->width ? w : in->width;
		in->height = h > in->height ? h : in->height;
		at += 10;
		if (gif_skip_table(d, len, &at, flags) < 0 || at >= len)
			break;
		if (d[at] < 2 || d[at] > 8) /* LZW minimum code size */
			return -1;
		at++;
		if (gif_skip_blocks(d, len, &at) < 0)
			break;
		whole++;
	}
	return whole ? 0 : -1;
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

static int sniff_png(const unsigned char *d, size_t len, struct sniff_info *in)
{
	unsigned depth, type;

	/* IHDR must come first, 13 bytes long. */
	if (len < 33 || be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4) != 0)
		return -1;
	in->width = be32(d + 16);
	in->height = be32(d + 20);
	depth = d[24], type = d[25];
	if (in->width > 0x7fffffff || in->height > 0x7fffffff)
		return -1;
	/* The combinations the PNG specification allows. */
	switch (type) {
	case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 ||
		       depth == 16 ? 0 : -1;
	case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8 ? 0 : -1;
	case 2: case 4: case 6: return depth == 8 || depth == 16 ? 0 : -1;
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
	} else if (len >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) {
		in->format = SNIFF_PNG;
		rc = sniff_png(d, len, in);
	} else if (len >= 6 && (memcmp(d, "GIF87a", 6) == 0 ||
				memcmp(d, "GIF89a", 6) == 0)) {
		in->format = SNIFF_GIF;
		if (len >= 13) {
			in->width = le16(d + 6);
			in->height = le16(d + 8);
			rc = gif_frames(d, len, in);
		}
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
