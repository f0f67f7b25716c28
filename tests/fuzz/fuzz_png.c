/*
 * fuzz_png.c - differential libFuzzer target: the PNG decode's fast way
 * (libdeflate, png_rows.h, png_shrink.h) against libpng's, on the same
 * bytes (dec_png.h).
 *
 * The first byte chooses what the rest is and the size asked for:
 *   written  the rest is an image's inflated rows (filter bytes and
 *            samples, repeated to fill the image) and a few header
 *            fields; a PNG is written from them here (IHDR, PLTE, tRNS,
 *            IDAT compressed by libdeflate, in one chunk or many), so that
 *            every input is a sound file and reaches the row filters, the
 *            16-bit scaling, the palettes and the shrink.  Sometimes
 *            damaged on purpose: a filter byte over 4, rows missing or
 *            extra, a zlib window smaller than the image.
 *   a file   the rest is a PNG, taken as it is or with every chunk's CRC
 *            made right (so that changes inside IDAT reach zlib and
 *            libdeflate rather than stopping at the CRC).
 * What must hold: a sound written file the fast way takes; what the fast
 * way decodes, libpng decodes to the same pixels (or, for a deflate
 * stream libdeflate takes and zlib does not, dec_png_check(), the gate's,
 * refuses it: no such original is kept); what the fast way does not take
 * it leaves empty; a header the fast way refuses libpng refuses.  A
 * violation abort()s.
 *
 * Build: see tests/fuzz/run.sh.
 */
#include "dec_png.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

#include "../testpng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Noreturn static void fail(const char *what, size_t size)
{
	fprintf(stderr, "fuzz_png: invariant violated: %s (%zu bytes)\n", what, size);
	abort();
}

/* The kinds of PNG written: depth, colour type. */
static const unsigned char kinds[][2] = {
	{ 8, 0 }, { 16, 0 }, { 8, 2 }, { 16, 2 }, { 8, 3 }, { 4, 3 },
	{ 2, 3 }, { 1, 3 }, { 8, 4 }, { 16, 4 }, { 8, 6 }, { 16, 6 },
};

/*
 * A PNG from in (see the top).  *sound is 0 when it was damaged on
 * purpose.  Returns 0, or -1 when in is too short.
 */
static int write_png(const unsigned char *in, size_t n, struct bytes *out,
		     int *sound)
{
	unsigned w, h, depth, type, flags, npal, ch, bits;
	size_t rb, rows, raw_n, zcap, zn;
	unsigned char ihdr[13] = { 0 }, *raw, *z;
	struct libdeflate_compressor *c;
	int rows_more;

	if (n < 8)
		return -1;
	w = 1 + in[0] % 48, h = 1 + in[1] % 48;
	depth = kinds[in[2] % 12][0], type = kinds[in[2] % 12][1];
	flags = in[3], npal = 1 + in[4];
	in += 5, n -= 5;
	ch = type == 2 ? 3 : type == 4 ? 2 : type == 6 ? 4 : 1;
	bits = ch * depth;
	rb = ((size_t)w * bits + 7) / 8;
	/* flags: 1 tRNS, 2 IDAT in chunks of 1 + in[0] % 16 bytes, 4 a filter
	 * byte may be over 4, 8 a small zlib window, 16/32 a row missing /
	 * extra, 64 fast compression */
	rows_more = flags & 16 ? -1 : flags & 32 ? 1 : 0;
	*sound = !(flags & (4 | 8 | 16 | 32));
	rows = h + (size_t)rows_more;
	raw_n = rows * (rb + 1);
	/* (a row at least: tRNS below reads the first pixel, even of no rows) */
	raw = calloc(raw_n + rb + 1, 1);
	for (size_t i = 0; i < raw_n; i++)
		raw[i] = in[i % n];
	if (!(flags & 4))
		for (size_t y = 0; y < rows; y++)
			raw[y * (rb + 1)] %= 5;
	c = libdeflate_alloc_compressor(flags & 64 ? 1 : 6);
	zcap = libdeflate_zlib_compress_bound(c, raw_n);
	z = malloc(zcap);
	zn = libdeflate_zlib_compress(c, raw, raw_n, z, zcap);
	libdeflate_free_compressor(c);
	if (flags & 8) { /* a 256-byte window; FLG a multiple of 31 again */
		z[0] = 0x08;
		z[1] = (unsigned char)(z[1] & 0xe0);
		z[1] = (unsigned char)(z[1] + (31 - (z[0] * 256 + z[1]) % 31) % 31);
	}

	put(out, "\x89PNG\r\n\x1a\n", 8);
	ihdr[0] = 0, ihdr[1] = 0, ihdr[2] = 0, ihdr[3] = (unsigned char)w;
	ihdr[7] = (unsigned char)h, ihdr[8] = (unsigned char)depth;
	ihdr[9] = (unsigned char)type;
	chunk(out, "IHDR", ihdr, 13);
	if (type == 3) {
		unsigned char plte[768];

		if (npal > 1u << depth)
			npal = 1u << depth;
		for (unsigned i = 0; i < 3 * npal; i++)
			plte[i] = in[(i * 7) % n];
		chunk(out, "PLTE", plte, 3 * npal);
		if (flags & 1)
			chunk(out, "tRNS", in, 1 + in[0] % npal < n ? 1 + in[0] % npal : n);
	} else if ((flags & 1) && (type == 0 || type == 2)) {
		unsigned char t[6] = { 0 };

		/* the first pixel's colour, as 16-bit values */
		for (unsigned k = 0; k < ch; k++)
			t[2 * k] = depth == 16 ? raw[1 + 2 * k] : 0,
			t[2 * k + 1] = depth == 16 ? raw[2 + 2 * k] : raw[1 + k];
		chunk(out, "tRNS", t, 2 * ch);
	}
	if (flags & 2) {
		size_t step = 1 + in[0] % 16;

		for (size_t at = 0; at < zn; at += step)
			chunk(out, "IDAT", z + at, zn - at < step ? zn - at : step);
	} else {
		chunk(out, "IDAT", z, zn);
	}
	chunk(out, "IEND", "", 0);
	free(raw), free(z);
	return 0;
}

/* Every whole chunk's CRC made right. */
static void fix_crcs(unsigned char *d, size_t n)
{
	for (size_t at = 8; at + 12 <= n;) {
		uint32_t len = get32(d + at), crc;

		if (len > n - at - 12)
			break;
		crc = libdeflate_crc32(0, d + at + 4, (size_t)len + 4);
		d[at + 8 + len] = (unsigned char)(crc >> 24);
		d[at + 9 + len] = (unsigned char)(crc >> 16);
		d[at + 10 + len] = (unsigned char)(crc >> 8);
		d[at + 11 + len] = (unsigned char)crc;
		at += 12 + (size_t)len;
	}
}

static int same(const struct decoded *a, const struct decoded *b)
{
	const struct pixels *p = &a->px, *q = &b->px;

	if (p->width != q->width || p->height != q->height ||
	    p->channels != q->channels || a->ext_w != b->ext_w ||
	    a->ext_h != b->ext_h || a->icc_len != b->icc_len)
		return 0;
	for (unsigned y = 0; y < p->height; y++)
		if (memcmp(p->data + y * p->stride, q->data + y * q->stride,
			   (size_t)p->width * p->channels) != 0)
			return 0;
	return 1;
}

/* The two ways on one file at need_w x need_h. */
static void compare(const unsigned char *d, size_t n, unsigned need_w,
		    unsigned need_h, int sound, size_t size)
{
	struct decoded f, l;
	struct err e;
	int rf, rl;

	decoded_init(&f), decoded_init(&l);
	rf = dec_png_decode_fast(d, n, need_w, need_h, NULL, NULL, &f, &e);
	if (rf == 1 && (f.px.data != NULL || f.icc != NULL))
		fail("not taken, yet pixels left", size);
	if (rf == 1 && sound)
		fail("a sound file the fast way did not take", size);
	rl = dec_png_decode_libpng(d, n, need_w, need_h, NULL, NULL, &l, &e);
	if (rf == -1 && rl == 0)
		fail("a file libpng decodes the fast way refused", size);
	if (rf == 0 && rl == 0 && !same(&f, &l))
		fail("other pixels than libpng's", size);
	if (rf == 0 && rl != 0) {
		char msg[200];

		if (sound)
			fail("a sound file libpng refused", size);
		if (dec_png_check(d, n, msg, sizeof(msg)) == 0)
			fail("decoded the fast way, refused by libpng, passed by the gate", size);
	}
	decoded_release(&f), decoded_release(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bytes png = { 0 };
	unsigned w, h, need_w = 0, need_h = 0;
	int sound = 0;
	char msg[200];

	if (size < 2)
		return 0;
	if (data[0] % 4 != 3) {
		if (write_png(data + 1, size - 1, &png, &sound) < 0)
			return 0;
	} else {
		put(&png, data + 1, size - 1);
		if (data[0] & 4)
			fix_crcs(png.d, png.n);
	}
	/* A header libpng reads, of a size the gate would let by. */
	if (dec_png_header(png.d, png.n, &w, &h, msg, sizeof(msg)) == 0 &&
	    (uint64_t)w * h <= 4000000 && w <= 4096 && h <= 4096) {
		switch (data[0] >> 3 & 3) {
		case 1: need_w = 1 + w / 3, need_h = 1 + h / 2; break;
		case 2: need_w = 1, need_h = 1; break;
		case 3: need_w = w / 2, need_h = h; break;
		}
		compare(png.d, png.n, need_w, need_h, sound, size);
	}
	free(png.d);
	return 0;
}
