/*
 * jpegdc_int.h - jpegdc's internals, shared by jpegdc.c (the plain decode)
 * and jpegdc_split.c (two threads on one scan): the bit reader, the
 * Huffman and inverse DCT steps, and the scan state.  Not an API.
 * Thread-safety: the tables are made once (pthread_once in jpegdc_decode);
 * everything else works on the caller's structs.
 */
#ifndef IMGSRV_JPEGDC_INT_H
#define IMGSRV_JPEGDC_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
static inline unsigned ac_advance(unsigned rs)
{
	if (rs & 15)
		return (rs >> 4) + 1;
	return rs == 0xF0 ? 16 : 0;
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
	/* All ones when v is negative's code (below 2^(k-1)), else zero:
	 * no branch, whose way a coefficient's sign would pick at random. */
	int neg = (v - (1 << (k - 1))) >> 31;

	return v + (neg & (int)(1u - (1u << k)));
}

/* The symbol of the code at the top of the 16 bits w, trying lengths from
 * `from` up (*len set), or -1 when no code of the table matches. */
static inline int symbol_from(const struct huff *h, uint32_t w, unsigned from,
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

/* Tables made once by jpegdc.c (pthread_once in jpegdc_decode). */
extern const uint8_t jpegdc_natural[64 + 16]; /* libjpeg's zigzag order */
extern uint8_t jpegdc_idct_limit[1024];       /* its range limit */

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
static inline int ac_values(struct bits *b, const struct huff *h, int16_t *blk,
		     uint64_t *nz)
{
	uint64_t mask = 0;
	struct bits r = *b; /* in registers: the stores to blk might alias b */

	for (unsigned k = 1; k < 64; k++) {
		uint64_t acc;
		uint32_t e;
		unsigned rs, s;

		/* A code and its extra bits take 31 bits at most: refill
		 * only below that (a branch mostly taken one way), off the
		 * chain of one code's length to the next code's lookup. */
		if (r.n < 32)
			refill(&r);
		e = next_code(&r, h, 0);
		if (e == 0)
			return -1;
		acc = r.acc;
		skip(&r, e & 0xFF);
		rs = e >> 24, s = rs & 15;
		if (s != 0) {
			unsigned at;

			k += rs >> 4;
			at = jpegdc_natural[k];
			blk[at] = (int16_t)extend(acc, (e >> 16) & 0xFF, s);
			mask |= 1ull << at;
		} else if (rs == 0xF0) {
			k += 15;
		} else {
			break;
		}
	}
	*b = r;
	*nz = mask;
	return 0;
}

/* libjpeg's 1x1 inverse DCT: the DC coefficient scaled. */
static inline uint8_t idct_1x1(int16_t dc, int q)
{
	int v = (dc * q + 4) >> 3;

	return jpegdc_idct_limit[v & 1023];
}

/* Bits of column c's AC coefficients in rows 1, 3, 5 and 7 (bit r*8+c):
 * the ones libjpeg's 2x2 inverse DCT tests for zero. */
#define ODD_ROWS(c) (0x0100010001000100ull << (c))

/* Bits of column c's AC coefficients in rows 1, 2, 3, 5, 6 and 7: the
 * ones libjpeg's 4x4 inverse DCT tests for zero. */
#define AC_ROWS_4X4(c) (0x0101010001010100ull << (c))

/* A 2x2 or 4x4 output sample: libjpeg's C table and its SIMD code
 * (saturating) agree from -384 to 511; -1 outside, which no valid file
 * reaches. */
static inline int sample_red(int64_t x)
{
	if (x < -384 || x > 511)
		return -1;
	return jpegdc_idct_limit[(int)x & 1023];
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
 * libjpeg's 2x2 inverse DCT (jidctred.c) in C, for machines without SSE2
 * (see jpegdc_idct_2x2() below), in two steps: all that does not depend
 * on the DC coefficient, then the outputs from it.  libjpeg-turbo runs it
 * as SIMD code in 16 bits: a block whose values leave 16 bits on the way
 * (no valid file's do), where the two could differ, is refused.
 */
struct idct2 {
	int64_t odd0;   /* column 0's odd part (pass 1) */
	int64_t odd[2]; /* each output row's odd part (pass 2) */
	int ok;
	int flat;       /* no AC coefficient it uses: all zero */
};

/* Bit c of every row: column c's coefficients. */
#define COLUMN(c) (0x0101010101010101ull << (c))
/* The AC coefficients libjpeg's 2x2 inverse DCT uses: rows and columns
 * 0, 1, 3, 5 and 7 (bit r*8+c). */
#define USED_2X2 0xAB00AB00AB00ABAAull

/* The first step of libjpeg's 2x2 inverse DCT, for blk with quant table
 * q; nz marks blk's non-zero AC coefficients, so the columns that are all
 * zero (most) cost nothing. */
void jpegdc_idct_2x2_ac(const int16_t *blk, const uint16_t *q, uint64_t nz,
			struct idct2 *p);

/* The second step: the outputs from the DC coefficient dc into out[0],
 * out[1] (row 0) and out[stride], out[stride + 1] (row 1); -1 when the
 * block is refused. */
int jpegdc_idct_2x2_dc(const struct idct2 *p, int16_t dc, uint16_t q0,
		       uint8_t *out, size_t stride);

/*
 * libjpeg's 4x4 inverse DCT (jidctred.c), split the same way: its first
 * pass is linear in the DC coefficient (a multiple of the rounding step),
 * so all but column 0's DC term is worked out first.  The values kept fit
 * 32 bits whenever ok is set.
 */
struct idct4 {
	int32_t col0[4];  /* column 0's first-pass outputs, DC term aside */
	int32_t even[4];  /* each row's even part, column 0 aside (pass 2) */
	int32_t odd0[4], odd2[4]; /* each row's odd parts (pass 2) */
	int ok;
	int flat;         /* no AC coefficient it uses: all zero */
};

/* The AC coefficients libjpeg's 4x4 inverse DCT uses: all but row and
 * column 4. */
#define USED_4X4 0xEFEFEF00EFEFEFEEull

/* The first step of libjpeg's 4x4 inverse DCT, as jpegdc_idct_2x2_ac(). */
void jpegdc_idct_4x4_ac(const int16_t *blk, const uint16_t *q, uint64_t nz,
			struct idct4 *p);

/* The second step: the 4x4 outputs from the DC coefficient dc into out,
 * rows stride apart; -1 when the block is refused. */
int jpegdc_idct_4x4_dc(const struct idct4 *p, int16_t dc, uint16_t q0,
		       uint8_t *out, size_t stride);

/*
 * libjpeg's 2x2 and 4x4 inverse DCTs of blk (natural order, quantised; q
 * its table) into out, rows stride apart; nz marks blk's non-zero AC
 * coefficients.  With SSE2 they are libjpeg-turbo's SSE2 code (exactly
 * its jsimd_idct_2x2/4x4) and never refuse; else the C steps above, which
 * refuse (-1) a block their result could differ on.  Returns 0 or -1.
 */
int jpegdc_idct_2x2(const int16_t *blk, const uint16_t *q, uint64_t nz,
		    uint8_t *out, size_t stride);
int jpegdc_idct_4x4(const int16_t *blk, const uint16_t *q, uint64_t nz,
		    uint8_t *out, size_t stride);

/* The same, always by the C steps (tests compare the two). */
int jpegdc_idct_2x2_c(const int16_t *blk, const uint16_t *q, uint64_t nz,
		      uint8_t *out, size_t stride);
int jpegdc_idct_4x4_c(const int16_t *blk, const uint16_t *q, uint64_t nz,
		      uint8_t *out, size_t stride);

/* ---- the scan ------------------------------------------------------- */

struct comp {
	struct huff *dc, *ac;
	uint16_t q[64];    /* quantisation, natural order */
	unsigned h, v;     /* blocks per MCU across and down */
	unsigned sz;       /* samples per block side: 1 (DC), 2 or 4 (IDCT) */
	uint8_t *plane;    /* the component at the decode's scale */
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

struct job {
	unsigned ncomp, mcus_x, mcus_y, restart;
	unsigned threads; /* 2 once the tail's MCUs are in the planes */
	unsigned hs, vs;  /* a pixel's chroma sample: (x >> hs, y >> vs) */
	struct comp comp[3];
	struct huff huff[4]; /* one per table the scan uses, at most */
};

/* Appends to s->buf the segment's bytes with stuffing removed, up to
 * s->cap bytes in it; at the segment's end, notes its marker and (unless
 * s->no_pad) zeroes what follows, which the bit reader may then read. */
void jpegdc_unstuff(struct scan *s);

/* Skips what is left of the segment; returns the marker that ends it. */
int jpegdc_segment_end(struct scan *s);

/* True once the reader used bits past the segment's data: libjpeg would
 * have warned "premature end of data segment" and made up zeros. */
int jpegdc_overrun(const struct scan *s);

/* Decodes MCU (mx, my) into the planes; -1 on a bad code or values out
 * of range. */
int jpegdc_mcu(struct job *j, struct scan *s, unsigned mx, unsigned my);

/* ---- two threads (jpegdc_split.c) ------------------------------------ */

/* Counts a decoding thread of the process in (1) or out (-1). */
void jpegdc_busy(int delta);

/* True when a scan of that many bytes without restart markers is to be
 * split between two threads now (jpegdc_split_bytes, an idle core). */
int jpegdc_split_wanted(size_t bytes);

/*
 * Decodes every MCU of a scan without restart markers with a second
 * thread; s->src and s->end are set, s->buf has room for all the data.
 * Returns 0, 1 to decline, -1 when stop said so, or -2 when it cannot
 * help (then decode it the plain way).
 */
int jpegdc_decode_split(struct job *j, struct scan *s, int (*stop)(void *),
			void *arg);

#endif
