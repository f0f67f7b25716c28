/*
 * testpng.h - the pieces of a PNG writer that test_dec_png and fuzz_png
 * share: a growing byte buffer, big-endian 32-bit words, and chunks with
 * their CRC (libdeflate's).  Header-only (static functions); the callers
 * write the IHDR, IDAT and other chunks themselves.
 */
#ifndef TESTPNG_H
#define TESTPNG_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

struct bytes {
	unsigned char *d;
	size_t n, cap;
};

/* Appends n bytes of p to b (aborts when out of memory). */
static void put(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->d = realloc(b->d, b->cap);
		if (b->d == NULL)
			abort();
	}
	if (n > 0)
		memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void put32(struct bytes *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	put(b, x, 4);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Appends a chunk: its length, type, data and CRC. */
static void chunk(struct bytes *b, const char *type, const void *data, size_t n)
{
	size_t at;

	put32(b, (uint32_t)n);
	at = b->n;
	put(b, type, 4);
	put(b, data, n);
	put32(b, libdeflate_crc32(0, b->d + at, n + 4));
}

#endif
