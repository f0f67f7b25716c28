/* test_sniff.c - magic bytes and header dimensions of hostile inputs. */
#include <stdlib.h>

#include "sniff.h"
#include "test.h"

static void sniffs(const unsigned char *d, size_t len, enum sniff_format f,
		   unsigned w, unsigned h, int orient, const char *what)
{
	struct sniff_info in;
	struct err e;
	int rc = sniff(d, len, &in, &e);

	CHECK(rc == 0, "%s: %s", what, e.msg);
	CHECK(in.format == f && in.width == w && in.height == h &&
		      in.orientation == orient,
	      "%s: %d %ux%u o%d", what, in.format, in.width, in.height,
	      in.orientation);
}

static void refuses(const unsigned char *d, size_t len, const char *what)
{
	struct sniff_info in;
	struct err e = { ERR_NONE, "" };

	CHECK(sniff(d, len, &in, &e) < 0, "%s accepted", what);
	CHECK(e.code == ERR_UNPROCESSABLE, "%s: %s", what, err_name(e.code));
}

int main(void)
{
	static const unsigned char png[] = {
		0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
		'I', 'H', 'D', 'R', 0, 0, 0x75, 0x30, 0, 0, 0x01, 0x2c, 8, 6, 0, 0, 0,
		0, 0, 0, 0
	};
	/* A 300x100 screen, one 300x100 frame (LZW data: one empty block). */
	static const unsigned char gif[] = {
		'G', 'I', 'F', '8', '9', 'a', 0x2c, 0x01, 0x64, 0x00, 0, 0, 0,
		0x2C, 0, 0, 0, 0, 0x2c, 0x01, 0x64, 0x00, 0, 2, 1, 0x00, 0, 0x3B
	};
	/* SOI, APP1 EXIF (big-endian, orientation 8), SOF0 65000x65000. */
	static const unsigned char jpg[] = {
		0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,
		'M', 'M', 0, 0x2A, 0, 0, 0, 8, 0, 1,
		0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0,
		0xFF, 0xC0, 0x00, 0x11, 8, 0xFD, 0xE8, 0xFD, 0xE8, 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xFF, 0xD9
	};
	static const unsigned char webp_lossy[30] = {
		'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' ',
		0, 0, 0, 0, 0, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00
	};
	static const unsigned char webp_x[30] = {
		'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X',
		10, 0, 0, 0, 0, 0, 0, 0, 0x1f, 0x4e, 0, 0x0f, 0x27, 0
	};
	static const unsigned char jpg_no_sof[] = { 0xFF, 0xD8, 0xFF, 0xDA, 0, 2, 0xFF, 0xD9 };
	static const unsigned char jpg_bad_len[] = { 0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF, 0 };
	unsigned char exif_bad[sizeof(jpg)];

	{
		/* A 10x10 screen whose frames claim 30000x30000; three frames. */
		static const unsigned char frame[] = {
			0x2C, 0, 0, 0, 0, 0x30, 0x75, 0x30, 0x75, 0, 2, 1, 0x00, 0
		};
		unsigned char g[13 + 3 * sizeof(frame) + 1] = {
			'G', 'I', 'F', '8', '9', 'a', 10, 0, 10, 0, 0, 0, 0
		};
		struct sniff_info in;
		for (int i = 0; i < 3; i++)
			memcpy(g + 13 + i * sizeof(frame), frame, sizeof(frame));
		g[sizeof(g) - 1] = 0x3B;
		CHECK(sniff(g, sizeof(g), &in, NULL) == 0);
		CHECK(in.width == 30000 && in.height == 30000, "%ux%u", in.width,
		      in.height);
		CHECK_INT(in.frames, 3);
		/* Cut short in the middle of the second frame: still sniffed
		 * (the first is whole, and only the first is decoded). */
		CHECK(sniff(g, 13 + sizeof(frame) + 11, &in, NULL) == 0);
		CHECK_INT(in.frames, 2);
		/* Cut short in the first frame: nothing to decode. */
		CHECK(sniff(g, 13 + 11, &in, NULL) < 0);
		/* The screen alone, with a trailer: no frame at all. */
		g[13] = 0x3B;
		CHECK(sniff(g, 14, &in, NULL) < 0);
	}
	{
		/* A 10x10 screen, one stray 0x00, then an 8000x8000 frame:
		 * MagickCore skips the byte and decodes 64 MP.  Refused. */
		static const unsigned char junk[] = {
			'G', 'I', 'F', '8', '9', 'a', 10, 0, 10, 0, 0, 0, 0, 0x00,
			0x2C, 0, 0, 0, 0, 0x40, 0x1f, 0x40, 0x1f, 0, 2, 1, 0x00, 0, 0x3B
		};
		refuses(junk, sizeof(junk), "gif with a stray byte before a frame");
		refuses(junk, 13, "gif header only");
	}
	{
		/* FF D8 FF 00: a stuffed zero where a marker must be (libjpeg
		 * discards such bytes and reads on to the real frame). */
		static const unsigned char stuffed[] = {
			0xFF, 0xD8, 0xFF, 0x00, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0, 0, 0xFF, 0xC0, 0x00, 0x11, 8, 0, 10, 0, 10, 3,
			1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xFF, 0xD9
		};
		/* Stray bytes between two segments. */
		static const unsigned char stray[] = {
			0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0, 0, 0x12, 0x34,
			0xFF, 0xC0, 0x00, 0x11, 8, 0, 10, 0, 10, 3,
			1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xFF, 0xD9
		};
		unsigned char bad[sizeof(jpg)];

		refuses(stuffed, sizeof(stuffed), "jpeg FF 00 where a marker must be");
		refuses(stray, sizeof(stray), "jpeg stray bytes between segments");
		memcpy(bad, jpg, sizeof(jpg));
		bad[42] = 12; /* 12-bit precision: not decoded here */
		refuses(bad, sizeof(bad), "jpeg 12-bit");
		memcpy(bad, jpg, sizeof(jpg));
		bad[39] = 0xC3; /* lossless */
		refuses(bad, sizeof(bad), "jpeg lossless frame");
		memcpy(bad, jpg, sizeof(jpg));
		bad[47] = 2; /* two components in a segment sized for three */
		refuses(bad, sizeof(bad), "jpeg frame length and components disagree");
		memcpy(bad, jpg, sizeof(jpg));
		bad[39] = 0xD0; /* RST0 before the frame */
		refuses(bad, sizeof(bad), "jpeg restart marker before the frame");
		/* Fill bytes before a marker are allowed. */
		{
			unsigned char fill[sizeof(jpg) + 3];
			memcpy(fill, jpg, 38);
			memset(fill + 38, 0xFF, 3);
			memcpy(fill + 41, jpg + 38, sizeof(jpg) - 38);
			sniffs(fill, sizeof(fill), SNIFF_JPEG, 65000, 65000, 8,
			       "jpeg fill bytes");
		}
	}
	{
		unsigned char p[sizeof(png)];
		memcpy(p, png, sizeof(png));
		p[25] = 2, p[24] = 4; /* truecolour at 4 bits */
		refuses(p, sizeof(p), "png depth and colour type disagree");
		memcpy(p, png, sizeof(png));
		p[11] = 12; /* IHDR of 12 bytes */
		refuses(p, sizeof(p), "png short IHDR");
	}
	sniffs(png, sizeof(png), SNIFF_PNG, 30000, 300, 1, "png");
	sniffs(gif, sizeof(gif), SNIFF_GIF, 300, 100, 1, "gif");
	sniffs(jpg, sizeof(jpg), SNIFF_JPEG, 65000, 65000, 8, "jpeg");
	sniffs(webp_lossy, sizeof(webp_lossy), SNIFF_WEBP, 320, 240, 1, "webp");
	sniffs(webp_x, sizeof(webp_x), SNIFF_WEBP, 20000, 10000, 1, "webp vp8x");

	/* An IFD offset pointing past the segment: orientation stays 1. */
	memcpy(exif_bad, jpg, sizeof(jpg));
	exif_bad[19] = 0xF0;
	sniffs(exif_bad, sizeof(exif_bad), SNIFF_JPEG, 65000, 65000, 1, "bad ifd");

	refuses((const unsigned char *)"", 0, "empty");
	refuses((const unsigned char *)"<svg", 4, "svg");
	refuses((const unsigned char *)"%!PS-Adobe-3.0", 14, "postscript");
	refuses((const unsigned char *)"push graphic-context", 20, "mvg");
	refuses((const unsigned char *)"BM\0\0\0\0\0\0\0\0", 10, "bmp");
	refuses(png, 20, "short png");
	refuses(gif, 8, "short gif");
	refuses(gif, 20, "gif cut in its frame descriptor");
	refuses(jpg, 30, "jpeg without a frame header");
	refuses(jpg_no_sof, sizeof(jpg_no_sof), "jpeg scan before frame");
	refuses(jpg_bad_len, sizeof(jpg_bad_len), "jpeg segment past the end");
	refuses(webp_lossy, 20, "short webp");
	/* An EXIF block of 8 bytes whose IFD is read past its end (found by
	 * fuzz_sniff): refused or read, never overread. */
	{
		static const unsigned char short_exif[] = {
			0xff, 0xd8, 0xff, 0xe1, 0x00, 0x11, 0x45, 0x78, 0x69, 0x66, 0x00,
			0x00, 0x4d, 0x4d, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00
		};
		unsigned char *copy = malloc(sizeof(short_exif));
		struct sniff_info in;
		memcpy(copy, short_exif, sizeof(short_exif));
		CHECK(sniff(copy, sizeof(short_exif), &in, NULL) < 0);
		free(copy);
	}
	/* Every prefix of a valid header is refused or read, never overread
	 * (run under ASan to see the difference). */
	for (size_t n = 0; n < sizeof(jpg); n++) {
		struct sniff_info in;
		(void)sniff(jpg, n, &in, NULL);
	}
	return TEST_END("sniff");
}
