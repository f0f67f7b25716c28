/* jpegdc.c - a baseline JPEG at 1/8 scale from its DC coefficients. */
#include "jpegdc.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>

#define LOOK 10           /* bits one table lookup decodes */
#define MLOOK 12          /* bits one lookup decodes when skipping */
#define CHUNK (64 * 1024) /* entropy data unstuffed at a time */
/* More than an MCU can use: 10 blocks of 64 codes of at most 31 bits. */
#define MARGIN 4096

/* ---- Huffman tables ------------------------------------------------- */

/*
 * fast[] is indexed by the next LOOK bits.  An entry is 0 when the code
 * is longer than that; else it holds, from the low byte up: the bits the
 * code and its extra bits take together, how far an AC code moves the
 * coefficient index (0: end of block), the code's length, and its symbol.
 */
struct huff {
	uint32_t fast[1 << LOOK];
	uint32_t multi[1 << MLOOK]; /* see multi_build(); AC tables only */
	int32_t maxcode[17]; /* largest code of each length; -1: none */
	int32_t valoff[17];  /* symbol index of a code of that length, minus it */
	uint8_t val[256];
};

/* An AC symbol's move of the coefficient index, as libjpeg reads it: a
 * zero size with a run under 15 ends the block. */
static unsigned ac_advance(unsigned rs)
{
	if (rs & 15)
		return (rs >> 4) + 1;
	return rs == 0xF0 ? 16 : 0;
}

/* Builds h from t; -1 where libjpeg would refuse the table. */
static int huff_build(struct huff *h, const JHUFF_TBL *t, int is_dc)
{
	uint8_t size[257];
	uint32_t code[256];
	int n = 0;

	for (int l = 1; l <= 16; l++) {
		if (n + t->bits[l] > 256)
			return -1;
		for (int i = 0; i < t->bits[l]; i++)
			size[n++] = (uint8_t)l;
	}
	size[n] = 0;
	uint32_t c = 0;
	for (int p = 0, si = size[0]; size[p] != 0; si++) {
		while (size[p] == si)
			code[p++] = c++;
		if (c >= (1u << si))
			return -1;
		c <<= 1;
	}
	for (int l = 1, p = 0; l <= 16; l++) {
		h->maxcode[l] = -1;
		if (t->bits[l] == 0)
			continue;
		h->valoff[l] = p - (int32_t)code[p];
		p += t->bits[l];
		h->maxcode[l] = (int32_t)code[p - 1];
	}
	memcpy(h->val, t->huffval, sizeof(h->val));
	memset(h->fast, 0, sizeof(h->fast));
	for (int p = 0; p < n; p++) {
		unsigned rs = t->huffval[p], len = size[p];

		if (is_dc && rs > 15)
			return -1;
		if (len > LOOK)
			continue;
		uint32_t e = (len + (rs & 15)) | (is_dc ? 0 : ac_advance(rs)) << 8 |
			     len << 16 | rs << 24;
		uint32_t first = code[p] << (LOOK - len);
		for (uint32_t i = 0; i < 1u << (LOOK - len); i++)
			h->fast[first + i] = e;
	}
	return 0;
}

/* ---- bits ----------------------------------------------------------- */

/*
 * The next bits of a segment, most significant first; p*8 - n bits of
 * the segment's buffer have been used.  The 8 bytes at p are loaded ahead
 * (next), so a refill waits on no load: one lookup after another is the
 * only chain.
 */
struct bits {
	uint64_t acc;
	uint64_t next;    /* the 8 bytes at p, big-endian */
	unsigned n;       /* valid bits at the top of acc */
	const uint8_t *p; /* next byte not wholly in acc */
};

static inline uint64_t load_be(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return __builtin_bswap64(w);
}

/* Brings acc to at least 56 valid bits. */
static inline void refill(struct bits *b)
{
	b->acc |= b->next >> b->n;
	b->p += (63 - b->n) >> 3;
	b->n |= 56;
	b->next = load_be(b->p);
}

static inline uint32_t peek(const struct bits *b, unsigned k)
{
	return (uint32_t)(b->acc >> (64 - k));
}

static inline void skip(struct bits *b, unsigned k)
{
	b->acc <<= k;
	b->n -= k;
}

/* The k-bit (1..15) magnitude that follows a code of len bits at the top
 * of acc, as libjpeg's HUFF_EXTEND makes it a value. */
static inline int extend(uint64_t acc, unsigned len, unsigned k)
{
	int v = (int)((acc << len) >> (64 - k));

	return v < (1 << (k - 1)) ? v - (1 << k) + 1 : v;
}

/* The symbol of the code at the top of the 16 bits w, trying lengths from
 * `from` up (*len set), or -1 when no code of the table matches. */
static int symbol_from(const struct huff *h, uint32_t w, unsigned from,
		       unsigned *len)
{
	for (unsigned l = from; l <= 16; l++) {
		int32_t c = (int32_t)(w >> (16 - l));

		if (c <= h->maxcode[l]) {
			*len = l;
			return h->val[(c + h->valoff[l]) & 0xFF];
		}
	}
	return -1;
}

/*
 * multi[] is indexed by the next MLOOK bits, for skipping AC codes: an
 * entry holds the first code alone (bits 0-4: the bits it takes with its
 * extra bits, 0 when the code is longer than MLOOK bits; 5-9: its move of
 * the index) and all the whole codes the MLOOK bits hold (10-13: their
 * bits, 0 when none; 14-21: their moves but for an end of block; 22: they
 * end with an end of block).  Noisy photos spend about 5 bits a code, so
 * one lookup walks past two or three.
 */
static void multi_build(struct huff *h)
{
	for (uint32_t i = 0; i < 1u << MLOOK; i++) {
		unsigned pos = 0, adv = 0, eob = 0, len;
		uint32_t e = 0;
		int rs = symbol_from(h, i << (16 - MLOOK), 1, &len);

		if (rs >= 0 && len <= MLOOK)
			e = (len + ((unsigned)rs & 15)) | ac_advance((unsigned)rs) << 5;
		while (pos < MLOOK) {
			uint32_t w = (i << pos) & ((1u << MLOOK) - 1);
			unsigned a;

			rs = symbol_from(h, w << (16 - MLOOK), 1, &len);
			if (rs < 0 || pos + len + ((unsigned)rs & 15) > MLOOK)
				break;
			pos += len + ((unsigned)rs & 15);
			a = ac_advance((unsigned)rs);
			if (a == 0) {
				eob = 1;
				break;
			}
			adv += a;
		}
		if (pos != 0)
			e |= pos << 10 | adv << 14 | eob << 22;
		h->multi[i] = e;
	}
}

/* Reads one code; returns its fast-table style entry, 0 for a bad code. */
static inline uint32_t next_code(struct bits *b, const struct huff *h, int is_dc)
{
	uint32_t e = h->fast[peek(b, LOOK)];
	unsigned len;
	int rs;

	if (e != 0)
		return e;
	rs = symbol_from(h, peek(b, 16), LOOK + 1, &len);
	if (rs < 0 || (is_dc && rs > 15))
		return 0;
	return (len + ((unsigned)rs & 15)) |
	       (is_dc ? 0 : ac_advance((unsigned)rs)) << 8 | len << 16 |
	       (unsigned)rs << 24;
}

/* ---- blocks --------------------------------------------------------- */

/* libjpeg's zigzag-to-natural order, 16 extra entries for a run past 63. */
static const uint8_t natural[64 + 16] = {
	0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63
};

/* Decodes a DC difference into *pred; -1 on a bad code.  The code and
 * its extra bits leave acc in one shift, the value is read off the copy. */
static inline int dc_decode(struct bits *b, const struct huff *h, uint32_t *pred)
{
	uint64_t acc;
	uint32_t e;
	unsigned s;

	refill(b);
	e = next_code(b, h, 1);
	if (e == 0)
		return -1;
	acc = b->acc;
	skip(b, e & 0xFF);
	s = e >> 24;
	if (s != 0)
		*pred += (uint32_t)extend(acc, (e >> 16) & 0xFF, s);
	return 0;
}

/* Walks past a block's AC codes; -1 on a bad code.  Whole runs of codes
 * at a time while the index stays below 64, as libjpeg's loop would. */
static inline int ac_skip(struct bits *b, const struct huff *h)
{
	for (unsigned k = 1; k < 64;) {
		uint32_t e, nb, adv;

		refill(b);
		e = h->multi[peek(b, MLOOK)];
		nb = (e >> 10) & 15;
		adv = (e >> 14) & 0xFF;
		if (nb != 0 && k + adv < 64) {
			skip(b, nb);
			if (e & (1u << 22))
				break;
			k += adv;
			continue;
		}
		if ((e & 31) == 0) {
			unsigned len;
			int rs = symbol_from(h, peek(b, 16), MLOOK + 1, &len);

			if (rs < 0)
				return -1;
			e = (len + ((unsigned)rs & 15)) | ac_advance((unsigned)rs) << 5;
		}
		skip(b, e & 31);
		adv = (e >> 5) & 31;
		if (adv == 0)
			break;
		k += adv;
	}
	return 0;
}

/* Reads a block's AC coefficients into blk (natural order, zeroed by the
 * caller) and marks in *nz the positions it set; -1 on a bad code. */
static int ac_values(struct bits *b, const struct huff *h, int16_t *blk,
		     uint64_t *nz)
{
	uint64_t mask = 0;

	for (unsigned k = 1; k < 64; k++) {
		uint64_t acc;
		uint32_t e;
		unsigned rs, s;

		refill(b);
		e = next_code(b, h, 0);
		if (e == 0)
			return -1;
		acc = b->acc;
		skip(b, e & 0xFF);
		rs = e >> 24, s = rs & 15;
		if (s != 0) {
			k += rs >> 4;
			blk[natural[k]] =
				(int16_t)extend(acc, (e >> 16) & 0xFF, s);
			mask |= 1ull << natural[k];
		} else if (rs == 0xF0) {
			k += 15;
		} else {
			break;
		}
	}
	*nz = mask;
	return 0;
}

/*
 * libjpeg's range limit after an inverse DCT: a sample minus 128, masked
 * to 10 bits, to 0..255 (clamped, and wrapping far out as libjpeg's does).
 */
static uint8_t idct_limit[1024];
static uint8_t rgb_limit[256 * 3]; /* x + 256 -> x clamped to 0..255 */
static int cr_r[256], cb_b[256], cr_g[256], cb_g[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void)
{
	for (int i = 0; i < 1024; i++) {
		int v = i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896;

		idct_limit[i] = (uint8_t)v;
	}
	for (int i = 0; i < 256 * 3; i++)
		rgb_limit[i] = (uint8_t)(i < 256 ? 0 : i < 512 ? i - 256 : 255);
	/* libjpeg's YCbCr -> RGB, 16-bit fixed point (jdcolor.c). */
	for (int i = 0; i < 256; i++) {
		int32_t x = i - 128;

		cr_r[i] = (int)((91881 * x + 32768) >> 16);  /* 1.40200 */
		cb_b[i] = (int)((116130 * x + 32768) >> 16); /* 1.77200 */
		cr_g[i] = -46802 * x;                        /* 0.71414 */
		cb_g[i] = -22554 * x + 32768;                /* 0.34414 */
	}
}

/* libjpeg's 1x1 inverse DCT: the DC coefficient scaled. */
static inline uint8_t idct_1x1(int16_t dc, int q)
{
	int v = (dc * q + 4) >> 3;

	return idct_limit[v & 1023];
}

/* Bits of column c's AC coefficients in rows 1, 3, 5 and 7 (bit r*8+c):
 * the ones libjpeg's 2x2 inverse DCT tests for zero. */
#define ODD_ROWS(c) (0x0100010001000100ull << (c))

/* A 2x2 output sample: libjpeg's C table and its SIMD code (saturating)
 * agree from -384 to 511; -1 outside, which no valid file reaches. */
static inline int sample_2x2(int64_t x)
{
	if (x < -384 || x > 511)
		return -1;
	return idct_limit[(int)x & 1023];
}

/* True when v does not fit the 16 bits libjpeg-turbo's SIMD code keeps. */
static inline int over16(int64_t v)
{
	return v < -32768 || v > 32767;
}

/*
 * True for a dequantised coefficient no 8-bit file has (they stay within
 * about +-1100): libjpeg-turbo's SIMD 2x2 inverse DCT, which works in 16
 * bits, and its C code (ours) part ways on some such blocks.
 */
static inline int wild(int64_t z)
{
	return z < -2047 || z > 2047;
}

/* True when a or b does not fit its 32-bit sums. */
static inline int over32(int64_t a, int64_t b)
{
	return a < INT32_MIN || a > INT32_MAX || b < INT32_MIN || b > INT32_MAX;
}

/*
 * libjpeg's 2x2 inverse DCT (jidctred.c), in two steps: all that does not
 * depend on the DC coefficient, then the outputs from it.  (The tail of a
 * split decode, below, does the first step before it knows its DC
 * values.)  libjpeg-turbo runs it as SIMD code in 16 bits: a block whose
 * values leave 16 bits on the way (no valid file's do), where the two
 * could differ, is refused.
 */
struct idct2 {
	int64_t odd0;   /* column 0's odd part (pass 1) */
	int64_t odd[2]; /* each output row's odd part (pass 2) */
	int ok;
};

/* The first step, for blk with quant table q; nz marks blk's non-zero AC
 * coefficients, so the columns that are all zero (most) cost nothing. */
static void idct_2x2_ac(const int16_t *blk, const uint16_t *q, uint64_t nz,
			struct idct2 *p)
{
	static const uint8_t cols[4] = { 1, 3, 5, 7 };
	int ws[2][8] = { { 0 } };

	p->ok = 1;
	p->odd0 = 0;
	if (nz & ODD_ROWS(0)) {
		int64_t z1 = blk[8] * q[8], z3 = blk[24] * q[24];
		int64_t z5 = blk[40] * q[40], z7 = blk[56] * q[56];

		if (wild(z1) || wild(z3) || wild(z5) || wild(z7))
			p->ok = 0;
		p->odd0 = z7 * -5906 + z5 * 6967 + z3 * -10426 + z1 * 29692;
	}
	for (int i = 0; i < 4; i++) {
		int c = cols[i];
		int64_t z0 = blk[c] * q[c], t0, t10, w0, w1;

		if (wild(z0))
			p->ok = 0;
		if ((nz & ODD_ROWS(c)) == 0) {
			/* AC terms of the column zero: its first row only */
			ws[0][c] = ws[1][c] = (int)(z0 * 4);
			continue;
		}
		int64_t z1 = blk[8 + c] * q[8 + c], z3 = blk[24 + c] * q[24 + c];
		int64_t z5 = blk[40 + c] * q[40 + c], z7 = blk[56 + c] * q[56 + c];

		if (wild(z1) || wild(z3) || wild(z5) || wild(z7))
			p->ok = 0;
		t10 = z0 * (1 << 15);
		t0 = z7 * -5906 + z5 * 6967 + z3 * -10426 + z1 * 29692;
		if (over32(t10 + t0 + (1 << 12), t10 - t0 + (1 << 12)))
			p->ok = 0;
		w0 = (t10 + t0 + (1 << 12)) >> 13;
		w1 = (t10 - t0 + (1 << 12)) >> 13;
		if (over16(w0) || over16(w1))
			p->ok = 0;
		ws[0][c] = (int)w0;
		ws[1][c] = (int)w1;
	}
	for (int r = 0; r < 2; r++) {
		const int *w = ws[r];

		p->odd[r] = (int64_t)w[7] * -5906 + (int64_t)w[5] * 6967 +
			    (int64_t)w[3] * -10426 + (int64_t)w[1] * 29692;
	}
}

/*
 * The second step: the outputs from the DC coefficient dc into out[0],
 * out[1] (row 0) and out[stride], out[stride + 1] (row 1); -1 when the
 * block is refused.  libjpeg's shortcuts for zero terms give the same
 * values as its full formulas, which is all this uses.
 */
static int idct_2x2_dc(const struct idct2 *p, int16_t dc, uint16_t q0,
		       uint8_t *out, size_t stride)
{
	int64_t z0 = dc * q0, t10 = z0 * (1 << 15);
	int64_t ws0[2] = { t10 + p->odd0 + (1 << 12), t10 - p->odd0 + (1 << 12) };

	if (!p->ok || wild(z0) || over32(ws0[0], ws0[1]))
		return -1;
	for (int r = 0; r < 2; r++) {
		int64_t w0 = ws0[r] >> 13, a, b;
		uint8_t *o = out + (size_t)r * stride;

		if (over16(w0))
			return -1;
		a = w0 * (1 << 15) + p->odd[r] + (1 << 19);
		b = w0 * (1 << 15) - p->odd[r] + (1 << 19);
		if (over32(a, b))
			return -1;
		a = sample_2x2(a >> 20);
		b = sample_2x2(b >> 20);
		if (a < 0 || b < 0)
			return -1;
		o[0] = (uint8_t)a;
		o[1] = (uint8_t)b;
	}
	return 0;
}

/* ---- the scan ------------------------------------------------------- */

struct comp {
	struct huff *dc, *ac;
	uint16_t q[64];    /* quantisation, natural order */
	unsigned h, v;     /* blocks per MCU across and down */
	unsigned sz;       /* samples per block side: 1 (DC), 2 (2x2 IDCT) */
	uint8_t *plane;    /* the component at 1/8 scale */
	size_t stride;
	uint32_t pred;     /* DC predictor; wraps as libjpeg's int does */
};

/* A segment of entropy data (between restart markers), unstuffed into
 * buf a chunk at a time. */
struct scan {
	const uint8_t *src, *end; /* entropy data not yet unstuffed */
	uint8_t *buf;             /* cap + MARGIN + 16 bytes */
	size_t cap;               /* unstuffed bytes buf takes at a time */
	const uint8_t *cend;      /* end of the unstuffed data in buf */
	int done;                 /* the segment's end is in buf */
	int marker;               /* the marker ending it; -1: the data ended */
	int no_pad;               /* at the end, leave what follows alone */
	struct bits b;
};

/* Appends to buf the segment's bytes with stuffing removed, up to cap
 * bytes in buf; at the segment's end, notes its marker and zeroes what
 * follows, which the bit reader may then read. */
static void unstuff(struct scan *s)
{
	uint8_t *out = (uint8_t *)s->cend, *lim = s->buf + s->cap;
	const uint8_t *in = s->src;

	while (out < lim) {
		size_t room = (size_t)(lim - out), have = (size_t)(s->end - in);
		size_t n = room < have ? room : have;
		const uint8_t *ff = memchr(in, 0xFF, n);
		size_t run = ff != NULL ? (size_t)(ff - in) : n;
		const uint8_t *q;

		memcpy(out, in, run);
		out += run, in += run;
		if (ff == NULL) {
			if (in == s->end)
				s->done = 1, s->marker = -1;
			break;
		}
		/* libjpeg's reading: FF 00 is an FF data byte, more FFs
		 * are fill, anything else is a marker. */
		for (q = in + 1; q < s->end && *q == 0xFF; q++)
			;
		if (q == s->end) {
			s->done = 1, s->marker = -1, in = q;
			break;
		}
		if (*q == 0) {
			*out++ = 0xFF;
			in = q + 1;
			continue;
		}
		s->done = 1, s->marker = *q, in = q + 1;
		break;
	}
	s->src = in;
	s->cend = out;
	if (s->done && !s->no_pad)
		memset(out, 0, MARGIN + 16);
}

static void segment_start(struct scan *s)
{
	s->b.acc = 0, s->b.n = 0, s->b.p = s->buf;
	s->cend = s->buf;
	s->done = 0;
	unstuff(s);
	s->b.next = load_be(s->b.p);
}

/* Skips what is left of the segment; returns the marker that ends it. */
static int segment_end(struct scan *s)
{
	while (!s->done) {
		s->cend = s->buf;
		unstuff(s);
	}
	return s->marker;
}

/* Keeps at least MARGIN unstuffed bytes ahead of the reader. */
static void keep_fed(struct scan *s)
{
	size_t keep = (size_t)(s->cend - s->b.p);

	if (s->done || keep >= MARGIN)
		return;
	memmove(s->buf, s->b.p, keep);
	s->b.p = s->buf;
	s->cend = s->buf + keep;
	unstuff(s);
	s->b.next = load_be(s->b.p);
}

/* True once the reader used bits past the segment's data: libjpeg would
 * have warned "premature end of data segment" and made up zeros. */
static int overrun(const struct scan *s)
{
	/* p - n/8 may lie before buf just after keep_fed(): no unsigned
	 * difference here. */
	return s->done && (s->b.p - s->buf) * 8 >
				  (s->cend - s->buf) * 8 + (ptrdiff_t)s->b.n;
}

/* Decodes one block of c into the plane at out; -1 on a bad code or
 * values out of range. */
static int block(struct scan *s, struct comp *c, uint8_t *out)
{
	int16_t blk[64];
	uint64_t nz;
	struct idct2 part;

	if (dc_decode(&s->b, c->dc, &c->pred) < 0)
		return -1;
	if (c->sz == 1) {
		if (ac_skip(&s->b, c->ac) < 0)
			return -1;
		*out = idct_1x1((int16_t)c->pred, c->q[0]);
		return 0;
	}
	memset(blk, 0, sizeof(blk));
	blk[0] = (int16_t)c->pred;
	if (ac_values(&s->b, c->ac, blk, &nz) < 0)
		return -1;
	idct_2x2_ac(blk, c->q, nz, &part);
	return idct_2x2_dc(&part, blk[0], c->q[0], out, c->stride);
}

struct job {
	unsigned ncomp, mcus_x, mcus_y, restart;
	struct comp comp[3];
	struct huff huff[4]; /* one per table the scan uses, at most */
};

/* Decodes every MCU of the scan into the planes.  Returns 0, 1 to
 * decline, or -1 when stop said so. */
static int decode_scan(struct job *j, struct scan *s, int (*stop)(void *),
		       void *arg)
{
	unsigned todo = j->restart, rst = 0;

	segment_start(s);
	for (unsigned my = 0; my < j->mcus_y; my++) {
		if (stop != NULL && stop(arg))
			return -1;
		for (unsigned mx = 0; mx < j->mcus_x; mx++) {
			if (j->restart != 0) {
				if (todo == 0) {
					if (segment_end(s) != 0xD0 + (int)rst)
						return 1;
					rst = (rst + 1) & 7;
					segment_start(s);
					for (unsigned c = 0; c < j->ncomp; c++)
						j->comp[c].pred = 0;
					todo = j->restart;
				}
				todo--;
			}
			keep_fed(s);
			for (unsigned c = 0; c < j->ncomp; c++) {
				struct comp *cp = &j->comp[c];

				for (unsigned by = 0; by < cp->v; by++) {
					size_t y = (size_t)(my * cp->v + by) * cp->sz;
					uint8_t *row = cp->plane + y * cp->stride;

					for (unsigned bx = 0; bx < cp->h; bx++) {
						size_t x = (size_t)(mx * cp->h + bx) * cp->sz;

						if (block(s, cp, row + x) < 0)
							return 1;
					}
				}
			}
			if (overrun(s))
				return 1;
		}
	}
	return segment_end(s) == 0xD9 ? 0 : 1;
}

/* ---- two threads on one scan ------------------------------------------
 *
 * A scan without restart markers is one chain of codes, but Huffman codes
 * fall back into step by themselves: a decoder started anywhere soon
 * decodes the same codes as one started at the beginning.  So for a big
 * scan a second thread (the tail) starts half way, as if at an MCU, and
 * notes where each of its MCUs starts; the first thread decodes from the
 * start until it reaches an MCU start the tail noted at the very same bit.
 * From there both decode the same, so the tail's MCUs are the image's,
 * with its DC predictors off by what the first thread's tell.  Should the
 * two never meet, the first thread decodes it all: the result is exact
 * either way; only the time differs.
 */
size_t jpegdc_split_bytes = (size_t)2 << 20;

/* Decoding threads of this process; a tail is started only for a core
 * that would otherwise idle: under load it would only slow the others. */
static _Atomic int threads_busy;

static int idle_core(void)
{
	static long cores;

	if (cores == 0)
		cores = sysconf(_SC_NPROCESSORS_ONLN);
	return atomic_load_explicit(&threads_busy, memory_order_relaxed) < cores;
}

#define CHAINS 64                 /* tail restarts after a bad code */
#define RESTART_SPAN (256 * 1024) /* ... within this many bytes of its start */

struct tail_mcu {
	uint64_t pos;     /* bit at which the MCU starts */
	uint32_t pred[3]; /* the tail's DC predictors there */
	uint32_t chain;
};

struct tail {
	const struct job *j;
	uint8_t *buf;
	const uint8_t *src, *src_end; /* the second half, stuffed */
	size_t start;      /* where the tail unstuffs it into buf, and starts */
	size_t len;        /* the end of the unstuffed data in buf */
	int marker;        /* the marker after it */
	_Atomic int ready; /* len and marker set, the data in buf */
	unsigned cap;      /* MCUs it may note */
	unsigned bpm, fpm; /* blocks per MCU; of them, 2x2 ones */
	struct tail_mcu *rec;
	uint32_t *dc;       /* bpm per MCU: DC values by the tail's predictors */
	struct idct2 *part; /* fpm per MCU: the first step of their IDCTs */
	unsigned chain_end[CHAINS]; /* first MCU a chain could not decode */
	int chain_err[CHAINS];      /* ... for a bad code or the data's end */
	unsigned chains;
	_Atomic unsigned noted; /* MCUs noted and published */
	_Atomic int quit;
	/* Once the head has met the tail (synced set, with release): tail
	 * MCU from is image MCU from + off, DC values off by delta; the tail
	 * places [mid, end) of its MCUs and the head [from, mid). */
	_Atomic int synced, decoded;
	pthread_mutex_t mu; /* with cv: waits for ready, decoded, synced, quit */
	pthread_cond_t cv;
	struct job *out;
	unsigned from;
	long off; /* may be negative: the tail counts MCUs from nowhere */
	uint32_t delta[3];
	int place_rc;
};

/* Sets *flag and wakes whoever waits for it. */
static void tail_signal(struct tail *t, _Atomic int *flag)
{
	pthread_mutex_lock(&t->mu);
	atomic_store_explicit(flag, 1, memory_order_release);
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* Waits (asleep: the other thread has work to do) until *a or *b is set. */
static void tail_wait(struct tail *t, _Atomic int *a, _Atomic int *b)
{
	pthread_mutex_lock(&t->mu);
	while (!atomic_load_explicit(a, memory_order_acquire) &&
	       !atomic_load_explicit(b, memory_order_acquire))
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

static uint64_t bit_pos(const struct bits *b, const uint8_t *buf)
{
	return (uint64_t)(b->p - buf) * 8 - b->n;
}

/* Decodes MCU m of the tail; -1 on a bad code or past the data. */
static int tail_mcu(struct tail *t, struct bits *b, uint32_t *pred, unsigned m)
{
	uint32_t *dc = t->dc + (size_t)m * t->bpm;
	struct idct2 *part = t->part + (size_t)m * t->fpm;

	for (unsigned c = 0; c < t->j->ncomp; c++) {
		const struct comp *cp = &t->j->comp[c];

		for (unsigned i = 0; i < cp->h * cp->v; i++) {
			int16_t blk[64];
			uint64_t nz;

			if (dc_decode(b, cp->dc, &pred[c]) < 0)
				return -1;
			*dc++ = pred[c];
			if (cp->sz == 1) {
				if (ac_skip(b, cp->ac) < 0)
					return -1;
				continue;
			}
			memset(blk, 0, sizeof(blk));
			if (ac_values(b, cp->ac, blk, &nz) < 0)
				return -1;
			idct_2x2_ac(blk, cp->q, nz, part++);
		}
	}
	return bit_pos(b, t->buf) > (uint64_t)t->len * 8 ? -1 : 0;
}

static int tail_place(struct job *j, const struct tail *t, unsigned from,
		      unsigned to, const uint32_t *delta);

/* The tail MCUs that are the image's: [t->from, *end); the tail places
 * from *mid on, the head before. */
static void tail_range(const struct tail *t, unsigned *end, unsigned *mid)
{
	*end = (unsigned)((long)(t->j->mcus_x * t->j->mcus_y) - t->off);
	*mid = t->from + (*end - t->from) / 2;
}

static void *tail_run(void *arg)
{
	struct tail *t = arg;
	size_t at = t->start;
	unsigned m = 0;
	struct scan u;

	atomic_fetch_add_explicit(&threads_busy, 1, memory_order_relaxed);
	/* First the second half of the data, while the head does the first. */
	memset(&u, 0, sizeof(u));
	u.src = t->src;
	u.end = t->src_end;
	u.buf = t->buf + t->start;
	u.cend = u.buf;
	u.cap = (size_t)(t->src_end - t->src);
	unstuff(&u);
	t->len = (size_t)(u.cend - t->buf);
	t->marker = u.marker;
	tail_signal(t, &t->ready);

	while (t->chains < CHAINS) {
		struct bits b = { 0, load_be(t->buf + at), 0, t->buf + at };
		uint32_t pred[3] = { 0, 0, 0 };
		unsigned k = t->chains++;

		for (; m < t->cap; m++) {
			if ((m & 63) == 0 &&
			    atomic_load_explicit(&t->quit, memory_order_relaxed))
				break;
			t->rec[m].pos = bit_pos(&b, t->buf);
			memcpy(t->rec[m].pred, pred, sizeof(pred));
			t->rec[m].chain = k;
			if (tail_mcu(t, &b, pred, m) < 0) {
				t->chain_err[k] = 1;
				break;
			}
			atomic_store_explicit(&t->noted, m + 1, memory_order_release);
		}
		t->chain_end[k] = m;
		/* Lost early (still out of step): start again further on. */
		at = (size_t)(bit_pos(&b, t->buf) / 8) + 1;
		if (m >= t->cap || at >= t->len || at > t->start + RESTART_SPAN ||
		    atomic_load_explicit(&t->quit, memory_order_relaxed))
			break;
	}
	tail_signal(t, &t->decoded);
	/* The head has either met us already or gives up on us now. */
	tail_wait(t, &t->synced, &t->quit);
	if (atomic_load_explicit(&t->synced, memory_order_acquire)) {
		unsigned end, mid;

		tail_range(t, &end, &mid);
		for (unsigned k = mid; k < end && t->place_rc == 0; k++)
			t->place_rc = tail_place(t->out, t, k,
						 (unsigned)((long)k + t->off), t->delta);
	}
	atomic_fetch_sub_explicit(&threads_busy, 1, memory_order_relaxed);
	return NULL;
}

/* Looks for a tail MCU starting at bit pos, waiting for the tail as
 * needed; *cur is where the last look stopped.  Returns its index or -1. */
static long tail_find(struct tail *t, uint64_t pos, unsigned *cur)
{
	for (;;) {
		unsigned noted = atomic_load_explicit(&t->noted, memory_order_acquire);

		while (*cur < noted && t->rec[*cur].pos < pos)
			(*cur)++;
		if (*cur < noted)
			return t->rec[*cur].pos == pos ? (long)*cur : -1;
		if (atomic_load_explicit(&t->decoded, memory_order_acquire)) {
			/* the last notes may have come with the end */
			if (*cur < atomic_load_explicit(&t->noted, memory_order_acquire))
				continue;
			return -1;
		}
		sched_yield();
	}
}

/* Decodes MCU m (numbered across the image) into the planes; -1 on a bad
 * code or values out of range. */
static int head_mcu(struct job *j, struct scan *s, unsigned m)
{
	unsigned mx = m % j->mcus_x, my = m / j->mcus_x;

	for (unsigned c = 0; c < j->ncomp; c++) {
		struct comp *cp = &j->comp[c];

		for (unsigned by = 0; by < cp->v; by++) {
			size_t y = (size_t)(my * cp->v + by) * cp->sz;
			uint8_t *row = cp->plane + y * cp->stride;

			for (unsigned bx = 0; bx < cp->h; bx++) {
				size_t x = (size_t)(mx * cp->h + bx) * cp->sz;

				if (block(s, cp, row + x) < 0)
					return -1;
			}
		}
	}
	return 0;
}

/* Writes tail MCU from (DC values shifted by delta) as MCU to. */
static int tail_place(struct job *j, const struct tail *t, unsigned from,
		      unsigned to, const uint32_t *delta)
{
	const uint32_t *dc = t->dc + (size_t)from * t->bpm;
	const struct idct2 *part = t->part + (size_t)from * t->fpm;
	unsigned mx = to % j->mcus_x, my = to / j->mcus_x;

	for (unsigned c = 0; c < j->ncomp; c++) {
		struct comp *cp = &j->comp[c];

		for (unsigned by = 0; by < cp->v; by++)
			for (unsigned bx = 0; bx < cp->h; bx++) {
				size_t y = (size_t)(my * cp->v + by) * cp->sz;
				size_t x = (size_t)(mx * cp->h + bx) * cp->sz;
				uint8_t *out = cp->plane + y * cp->stride + x;
				int16_t v = (int16_t)(*dc++ + delta[c]);

				if (cp->sz == 1)
					*out = idct_1x1(v, cp->q[0]);
				else if (idct_2x2_dc(part++, v, cp->q[0], out,
						     cp->stride) < 0)
					return -1;
			}
	}
	return 0;
}

/*
 * decode_scan() for a scan without restart markers, with the tail's help.
 * s->buf has room for all the data; the head unstuffs the first half and
 * moves it to end where the tail's half starts.  Same returns, and -2
 * when it cannot help (decode it the plain way).
 */
static int decode_split(struct job *j, struct scan *s, int (*stop)(void *),
			void *arg)
{
	unsigned total = j->mcus_x * j->mcus_y, cur = 0, m = 0;
	size_t slen = (size_t)(s->end - s->src), half = slen / 2, a;
	struct tail t;
	pthread_t th;
	long sync = -1;
	int rc = 1, helped = 1, ready = 0;

	/* Not after an FF: a stuffed FF 00 must not straddle the halves. */
	while (half < slen && s->src[half - 1] == 0xFF)
		half++;
	if (half < 1 || half >= slen)
		return -2;
	memset(&t, 0, sizeof(t));
	pthread_mutex_init(&t.mu, NULL);
	pthread_cond_init(&t.cv, NULL);
	t.j = j;
	t.buf = s->buf;
	t.src = s->src + half;
	t.src_end = s->end;
	t.start = half;
	t.cap = total + total / 4 + 64; /* room for MCUs out of step */
	for (unsigned c = 0; c < j->ncomp; c++) {
		t.bpm += j->comp[c].h * j->comp[c].v;
		if (j->comp[c].sz == 2)
			t.fpm += j->comp[c].h * j->comp[c].v;
	}
	t.rec = malloc(sizeof(*t.rec) * t.cap);
	t.dc = malloc(sizeof(*t.dc) * t.cap * t.bpm);
	t.part = malloc(sizeof(*t.part) * t.cap * t.fpm + 1);
	if (t.rec == NULL || t.dc == NULL || t.part == NULL ||
	    pthread_create(&th, NULL, tail_run, &t) != 0) {
		rc = -2;
		goto out;
	}
	s->end = s->src + half;
	s->cap = half;
	s->no_pad = 1;
	s->cend = s->buf;
	unstuff(s);
	if (s->marker >= 0) {
		/* a marker in the first half: leave it to the plain way */
		tail_signal(&t, &t.quit);
		pthread_join(th, NULL);
		rc = -2;
		goto out;
	}
	a = (size_t)(s->cend - s->buf);
	memmove(s->buf + half - a, s->buf, a);
	s->b.acc = 0, s->b.n = 0, s->b.p = s->buf + half - a;
	/* Not yet into the tail's half (loaded when the head gets there). */
	s->b.next = s->b.p + MARGIN < s->buf + half ? load_be(s->b.p) : 0;
	s->cend = s->buf + half;
	s->done = 0;
again:
	for (; m < total && sync < 0; m++) {
		uint64_t pos;

		if (m % j->mcus_x == 0 && stop != NULL && stop(arg)) {
			rc = -1;
			break;
		}
		if (!ready && s->b.p + MARGIN >= s->buf + half) {
			/* about to read the tail's half */
			tail_wait(&t, &t.ready, &t.ready);
			s->cend = s->buf + t.len;
			s->marker = t.marker;
			s->done = 1;
			ready = 1;
			/* the look-ahead may have read the half unwritten */
			s->b.next = load_be(s->b.p);
		}
		if (head_mcu(j, s, m) < 0 || overrun(s))
			break;
		pos = bit_pos(&s->b, s->buf);
		if (helped && pos >= (uint64_t)t.start * 8 && m + 1 < total)
			sync = tail_find(&t, pos, &cur);
	}
	if (m == total && sync < 0)
		rc = segment_end(s) == 0xD9 ? 0 : 1;
	if (sync >= 0) {
		/* Image MCU m is the tail's MCU sync. */
		unsigned k = t.rec[sync].chain, end, mid;
		int placed = 0;

		t.out = j;
		t.from = (unsigned)sync;
		t.off = (long)m - (long)t.from;
		for (unsigned c = 0; c < j->ncomp; c++)
			t.delta[c] = j->comp[c].pred - t.rec[t.from].pred[c];
		tail_wait(&t, &t.decoded, &t.decoded);
		if ((long)t.chain_end[k] + t.off < (long)total) {
			/* The chain met stops short of the image's end: at a bad
			 * code or the data's end (libjpeg would have to repair it
			 * too), or for want of room (then go on alone). */
			tail_signal(&t, &t.quit);
			pthread_join(th, NULL);
			if (t.chain_err[k])
				goto out;
			helped = 0, sync = -1;
			goto again;
		}
		tail_signal(&t, &t.synced);
		tail_range(&t, &end, &mid);
		for (unsigned i = t.from; i < mid && placed == 0; i++)
			placed = tail_place(j, &t, i, (unsigned)((long)i + t.off), t.delta);
		pthread_join(th, NULL);
		if (placed == 0 && t.place_rc == 0 && segment_end(s) == 0xD9)
			rc = 0;
		goto out;
	}
	if (helped) {
		tail_signal(&t, &t.quit);
		pthread_join(th, NULL);
	}
out:
	pthread_mutex_destroy(&t.mu);
	pthread_cond_destroy(&t.cv);
	free(t.rec);
	free(t.dc);
	free(t.part);
	return rc;
}

/* libjpeg's errors end the header parse; its warnings make us decline. */
struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
	int warned;
};

static void on_error(j_common_ptr ci)
{
	longjmp(((struct jerr *)ci->err)->jump, 1);
}

static void on_message(j_common_ptr ci, int level)
{
	if (level < 0)
		((struct jerr *)ci->err)->warned = 1;
}

/* Finds the tables of the scan's component c: 0, or 1 to decline. */
static int comp_tables(struct job *j, struct jpeg_decompress_struct *ci,
		       unsigned c, unsigned *nhuff)
{
	const jpeg_component_info *info = ci->cur_comp_info[c];
	const JQUANT_TBL *q;
	const JHUFF_TBL *dc, *ac;
	struct comp *cp = &j->comp[c];

	/* The header gives table numbers up to 255 (SOF) or 15 (SOS);
	 * libjpeg checks them only when it starts decoding. */
	if (info->quant_tbl_no < 0 || info->quant_tbl_no >= NUM_QUANT_TBLS ||
	    info->dc_tbl_no < 0 || info->dc_tbl_no >= NUM_HUFF_TBLS ||
	    info->ac_tbl_no < 0 || info->ac_tbl_no >= NUM_HUFF_TBLS)
		return 1;
	q = ci->quant_tbl_ptrs[info->quant_tbl_no];
	dc = ci->dc_huff_tbl_ptrs[info->dc_tbl_no];
	ac = ci->ac_huff_tbl_ptrs[info->ac_tbl_no];
	if (q == NULL || dc == NULL || ac == NULL)
		return 1; /* libjpeg would fill in its standard tables */
	for (int i = 0; i < 64; i++) {
		if (q->quantval[i] > 32767)
			return 1;
		cp->q[i] = q->quantval[i];
	}
	/* Components sharing a table share its decoded form. */
	for (unsigned k = 0; k < c; k++) {
		if (ci->cur_comp_info[k]->dc_tbl_no == info->dc_tbl_no)
			cp->dc = j->comp[k].dc;
		if (ci->cur_comp_info[k]->ac_tbl_no == info->ac_tbl_no)
			cp->ac = j->comp[k].ac;
	}
	if (cp->dc == NULL) {
		cp->dc = &j->huff[(*nhuff)++];
		if (huff_build(cp->dc, dc, 1) < 0)
			return 1;
	}
	if (cp->ac == NULL) {
		cp->ac = &j->huff[(*nhuff)++];
		if (huff_build(cp->ac, ac, 0) < 0)
			return 1;
		if (cp->sz == 1)
			multi_build(cp->ac);
	}
	return 0;
}

/* Sets up j for the file in ci: 0, or 1 when it is not one we take. */
static int job_setup(struct job *j, struct jpeg_decompress_struct *ci)
{
	const jpeg_component_info *k = ci->comp_info;
	unsigned nhuff = 0;
	int is420;

	if (ci->progressive_mode || ci->arith_code || ci->data_precision != 8 ||
	    ci->Ss != 0 || ci->Se != 63 || ci->Ah != 0 || ci->Al != 0 ||
	    ci->comps_in_scan != ci->num_components)
		return 1;
	for (int c = 0; c < ci->comps_in_scan; c++)
		if (ci->cur_comp_info[c] != &ci->comp_info[c])
			return 1;
	j->ncomp = (unsigned)ci->num_components;
	j->restart = ci->restart_interval;
	if (j->ncomp == 1 && ci->jpeg_color_space == JCS_GRAYSCALE) {
		/* One component: an MCU is one block, whatever its sampling. */
		j->mcus_x = (ci->image_width + 7) / 8;
		j->mcus_y = (ci->image_height + 7) / 8;
		j->comp[0].h = j->comp[0].v = j->comp[0].sz = 1;
	} else if (j->ncomp == 3 && ci->jpeg_color_space == JCS_YCbCr) {
		for (int c = 1; c < 3; c++)
			if (k[c].h_samp_factor != 1 || k[c].v_samp_factor != 1)
				return 1;
		is420 = k[0].h_samp_factor == 2 && k[0].v_samp_factor == 2;
		if (!is420 && (k[0].h_samp_factor != 1 || k[0].v_samp_factor != 1))
			return 1;
		/* 4:2:0 at 1/8: libjpeg-turbo decodes the chroma blocks with
		 * its 2x2 inverse DCT rather than upsampling them. */
		j->mcus_x = (ci->image_width + (is420 ? 15 : 7)) / (is420 ? 16 : 8);
		j->mcus_y = (ci->image_height + (is420 ? 15 : 7)) / (is420 ? 16 : 8);
		j->comp[0].h = j->comp[0].v = is420 ? 2 : 1;
		j->comp[0].sz = 1;
		for (int c = 1; c < 3; c++) {
			j->comp[c].h = j->comp[c].v = 1;
			j->comp[c].sz = is420 ? 2 : 1;
		}
	} else {
		return 1;
	}
	for (unsigned c = 0; c < j->ncomp; c++)
		if (comp_tables(j, ci, c, &nhuff) != 0)
			return 1;
	return 0;
}

void jpegdc_image_release(struct jpegdc_image *img)
{
	free(img->pixels);
	img->pixels = NULL;
}

/* Converts the planes to the output pixels, as libjpeg's ycc_rgb_convert. */
static void to_pixels(const struct job *j, struct jpegdc_image *out)
{
	const struct comp *y = &j->comp[0], *cb = &j->comp[1], *cr = &j->comp[2];

	for (unsigned r = 0; r < out->height; r++) {
		const uint8_t *py = y->plane + r * y->stride;
		uint8_t *o = out->pixels + (size_t)r * out->width * out->channels;

		if (out->channels == 1) {
			memcpy(o, py, out->width);
			continue;
		}
		const uint8_t *pb = cb->plane + r * cb->stride;
		const uint8_t *pr = cr->plane + r * cr->stride;
		for (unsigned x = 0; x < out->width; x++, o += 3) {
			int l = py[x] + 256;

			o[0] = rgb_limit[l + cr_r[pr[x]]];
			o[1] = rgb_limit[l + ((cb_g[pb[x]] + cr_g[pr[x]]) >> 16)];
			o[2] = rgb_limit[l + cb_b[pb[x]]];
		}
	}
}

/* Reads the markers up to the first scan: 0, or 1 on an error or a
 * warning.  ci is to be destroyed either way. */
static int read_header(struct jpeg_decompress_struct *ci, struct jerr *je,
		       const unsigned char *data, size_t len)
{
	memset(ci, 0, sizeof(*ci));
	ci->err = jpeg_std_error(&je->pub);
	je->pub.error_exit = on_error;
	je->pub.emit_message = on_message;
	je->warned = 0;
	if (setjmp(je->jump))
		return 1;
	jpeg_create_decompress(ci);
	jpeg_mem_src(ci, data, (unsigned long)len);
	if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK)
		return 1;
	return je->warned;
}

int jpegdc_decode(const unsigned char *data, size_t len,
		  int (*stop)(void *arg), void *arg, struct jpegdc_image *out,
		  struct err *e)
{
	struct jpeg_decompress_struct ci;
	struct jerr je;
	struct job *j = NULL;
	struct scan s;
	int rc = 1;

	pthread_once(&tables_once, tables_init);
	atomic_fetch_add_explicit(&threads_busy, 1, memory_order_relaxed);
	memset(&s, 0, sizeof(s));
	if (read_header(&ci, &je, data, len) != 0)
		goto out;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		goto oom;
	if (job_setup(j, &ci) != 0)
		goto out;
	for (unsigned c = 0; c < j->ncomp; c++) {
		struct comp *cp = &j->comp[c];
		size_t w = (size_t)j->mcus_x * cp->h * cp->sz;
		size_t h = (size_t)j->mcus_y * cp->v * cp->sz;

		cp->stride = w;
		cp->plane = malloc(w * h);
		if (cp->plane == NULL)
			goto oom;
	}
	s.src = ci.src->next_input_byte;
	s.end = s.src + ci.src->bytes_in_buffer;
	rc = -2;
	if (j->restart == 0 && ci.src->bytes_in_buffer >= jpegdc_split_bytes &&
	    (jpegdc_split_bytes == 0 || idle_core())) {
		/* all of it at once: the tail reads the second half */
		s.buf = malloc(ci.src->bytes_in_buffer + MARGIN + 16);
		if (s.buf != NULL)
			rc = decode_split(j, &s, stop, arg);
	}
	if (rc == -2) {
		free(s.buf);
		memset(&s, 0, sizeof(s));
		s.src = ci.src->next_input_byte;
		s.end = s.src + ci.src->bytes_in_buffer;
		s.cap = CHUNK;
		s.buf = malloc(CHUNK + MARGIN + 16);
		if (s.buf == NULL)
			goto oom;
		for (unsigned c = 0; c < j->ncomp; c++)
			j->comp[c].pred = 0;
		rc = decode_scan(j, &s, stop, arg);
	}
	if (rc < 0) {
		err_set(e, ERR_UNPROCESSABLE, "stopped while decoding");
		goto out;
	}
	if (rc > 0)
		goto out;
	out->width = (ci.image_width + 7) / 8;
	out->height = (ci.image_height + 7) / 8;
	out->channels = j->ncomp;
	for (unsigned c = 0; c < j->ncomp; c++) {
		out->h_samp[c] = (unsigned)ci.comp_info[c].h_samp_factor;
		out->v_samp[c] = (unsigned)ci.comp_info[c].v_samp_factor;
	}
	out->pixels = malloc((size_t)out->width * out->height * out->channels);
	if (out->pixels == NULL)
		goto oom;
	to_pixels(j, out);
	goto out;
oom:
	rc = err_set(e, ERR_INTERNAL, "out of memory decoding a JPEG");
out:
	if (j != NULL) /* all three: ncomp may be a file's 4 it declined */
		for (unsigned c = 0; c < 3; c++)
			free(j->comp[c].plane);
	free(j);
	free(s.buf);
	jpeg_destroy_decompress(&ci);
	atomic_fetch_sub_explicit(&threads_busy, 1, memory_order_relaxed);
	return rc;
}
