/* test_gate.c - the gate on originals: real files made by ImageMagick's
 * convert, the same cut short or corrupted, and crafted files that got
 * past a lax sniffer. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "gate.h"
#include "image.h"
#include "test.h"

static char dir[64];

/* Runs convert ARGS > dir/NAME; returns the file's bytes (free()), or NULL. */
static unsigned char *made(const char *name, const char *args, size_t *len)
{
	char cmd[1024], path[256];
	unsigned char *d;
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(cmd, sizeof(cmd), "convert %s %s 2>/dev/null", args, path);
	if (system(cmd) != 0 || stat(path, &st) < 0 || (f = fopen(path, "rb")) == NULL)
		return NULL;
	d = malloc((size_t)st.st_size);
	*len = fread(d, 1, (size_t)st.st_size, f);
	fclose(f);
	return d;
}

static struct gate_limits limits = { 50000000, 16384, 50 << 20, 1000, 0 };

static void passes(const unsigned char *d, size_t len, unsigned w, unsigned h,
		   const char *what)
{
	struct sniff_info si;
	struct err e = { ERR_NONE, "" };

	CHECK(d != NULL, "%s: not made", what);
	if (d == NULL)
		return;
	CHECK(gate_check(d, len, &limits, &si, &e) == 0, "%s: %s", what, e.msg);
	CHECK(si.width == w && si.height == h, "%s: %ux%u", what, si.width,
	      si.height);
	CHECK(gate_original(d, len, &limits, &si, &e) == 0, "%s: %s", what, e.msg);
}

/* Refused by gate_original (header: also by gate_check). */
static void refused(const unsigned char *d, size_t len, int header,
		    const char *what)
{
	struct sniff_info si;
	struct err e = { ERR_NONE, "" };

	CHECK(d != NULL, "%s: not made", what);
	if (d == NULL)
		return;
	if (header)
		CHECK(gate_check(d, len, &limits, &si, &e) < 0, "%s: passed the header check", what);
	CHECK(gate_original(d, len, &limits, &si, &e) < 0, "%s: kept", what);
	CHECK(e.code == ERR_UNPROCESSABLE, "%s: %s", what, err_name(e.code));
}

/* The index of the first occurrence of the bytes pat in d, or len. */
static size_t find(const unsigned char *d, size_t len, const void *pat, size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(d + i, pat, n) == 0)
			return i;
	return len;
}

int main(void)
{
	struct err e;
	unsigned char *d, *c;
	size_t len, at;

	snprintf(dir, sizeof(dir), "/tmp/test_gate.%d", (int)getpid());
	mkdir(dir, 0700);
	if (image_global_init("test_gate", 1, 16384, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}

	/* Whole files of every format pass, at their own size. */
	d = made("a.jpg", "-size 400x300 plasma:fractal -quality 85", &len);
	passes(d, len, 400, 300, "baseline jpeg");
	if (d != NULL) {
		/* Cut short in the scan: the header passes, the decode not. */
		refused(d, len * 6 / 10, 0, "jpeg cut short");
		/* A restart marker in the middle of a scan without restarts. */
		c = malloc(len);
		memcpy(c, d, len);
		at = find(c, len, "\xFF\xDA", 2) + 200;
		c[at] = 0xFF, c[at + 1] = 0xD3;
		refused(c, len, 0, "jpeg marker inside the scan");
		/* FF D8 FF 00, then the file: libjpeg skips the stray bytes
		 * with a warning and decodes on; the gate does not. */
		memcpy(c, "\xFF\xD8\xFF\x00", 4);
		memcpy(c + 4, d + 2, len - 4);
		refused(c, len, 1, "jpeg with a stray byte after SOI");
		free(c);
		free(d);
	}
	d = made("p.jpg", "-size 640x480 gradient:red-blue -interlace JPEG", &len);
	passes(d, len, 640, 480, "progressive jpeg");
	if (d != NULL)
		refused(d, len / 2, 0, "progressive jpeg cut short");
	free(d);
	d = made("g.jpg", "-size 300x200 gradient: -colorspace Gray", &len);
	passes(d, len, 300, 200, "grey jpeg");
	free(d);
	d = made("k.jpg", "-size 120x80 gradient:cyan-yellow -colorspace CMYK", &len);
	passes(d, len, 120, 80, "cmyk jpeg");
	free(d);

	d = made("a.png", "-size 300x200 gradient:red-none", &len);
	passes(d, len, 300, 200, "png with alpha");
	if (d != NULL) {
		refused(d, len / 2, 0, "png cut short");
		c = malloc(len);
		memcpy(c, d, len);
		at = find(c, len, "IDAT", 4);
		c[at + 10] ^= 0x55; /* its CRC no longer matches */
		refused(c, len, 0, "png with a damaged IDAT");
		free(c);
	}
	free(d);
	d = made("i.png", "-size 200x100 plasma:fractal -interlace PNG", &len);
	passes(d, len, 200, 100, "interlaced png");
	free(d);
	d = made("w.png", "-size 64x48 gradient:white-black -depth 16", &len);
	passes(d, len, 64, 48, "16-bit png");
	free(d);

	d = made("a.webp", "-size 320x240 plasma:fractal -quality 80", &len);
	passes(d, len, 320, 240, "lossy webp");
	if (d != NULL)
		refused(d, len * 7 / 10, 0, "lossy webp cut short");
	free(d);
	d = made("l.webp", "-size 200x150 gradient:red-none -define webp:lossless=true", &len);
	passes(d, len, 200, 150, "lossless webp with alpha");
	free(d);

	d = made("a.gif", "-size 200x100 gradient:red-blue -colors 16", &len);
	passes(d, len, 200, 100, "gif");
	if (d != NULL) {
		/* Header only (13 bytes and a trailer): refused, never stored. */
		c = malloc(14);
		memcpy(c, d, 13);
		c[10] = 0; /* no global colour table */
		c[13] = 0x3B;
		refused(c, 14, 1, "gif without a frame");
		free(c);
		refused(d, len - 20, 1, "gif cut in its only frame");
	}
	free(d);
	d = made("n.gif", "-size 40x30 xc:red xc:blue -loop 0", &len);
	passes(d, len, 40, 30, "animated gif");
	free(d);
	/* A 10x10 screen, a stray byte, then an 8000x8000 frame: MagickCore
	 * would skip the byte and decode 64 MP. */
	d = made("big.gif", "-size 8000x8000 xc:white -colors 2", &len);
	if (d != NULL) {
		c = malloc(len + 1);
		memcpy(c, d, 13);
		c[6] = 10, c[7] = 0, c[8] = 10, c[9] = 0;
		at = 13 + ((d[10] & 0x80) ? 3u * (1u << ((d[10] & 7) + 1)) : 0);
		memcpy(c + 13, d + 13, at - 13);
		c[at] = 0x00;
		memcpy(c + at + 1, d + at, len - at);
		refused(c, len + 1, 1, "gif with a stray byte before a big frame");
		free(c);
	}
	free(d);

	/* The limits: a side or the pixels over them. */
	d = made("wide.png", "-size 2000x10 xc:gray", &len);
	if (d != NULL) {
		struct sniff_info si;
		limits.max_side = 1999;
		CHECK(gate_check(d, len, &limits, &si, &e) < 0 &&
		      strstr(e.msg, "side") != NULL, "%s", e.msg);
		limits.max_side = 16384;
		limits.max_pixels = 19999;
		CHECK(gate_check(d, len, &limits, &si, &e) < 0 &&
		      strstr(e.msg, "pixels") != NULL, "%s", e.msg);
		limits.max_pixels = 50000000;
		limits.max_bytes = len - 1;
		CHECK(gate_check(d, len, &limits, &si, &e) < 0 &&
		      strstr(e.msg, "bytes") != NULL, "%s", e.msg);
		limits.max_bytes = 50 << 20;
	}
	free(d);

	image_global_release();
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		(void)!system(cmd);
	}
	return TEST_END("gate");
}
