/* jpegdc.c - a baseline JPEG at 1/8 or 2/8 scale, faster than libjpeg. */
#include "jpegdc.h"
#include "jpegdc_int.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- tables ---------------------------------------------------------- */

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

/* libjpeg's zigzag-to-natural order, 16 extra entries for a run past 63. */
const uint8_t jpegdc_natural[64 + 16] = {
	0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63
};

/*
 * libjpeg's range limit after an inverse DCT: a sample minus 128, masked
 * to 10 bits, to 0..255 (clamped, and wrapping far out as libjpeg's does).
 */
uint8_t jpegdc_idct_limit[1024];
static uint8_t rgb_limit[256 * 3]; /* x + 256 -> x clamped to 0..255 */
static int cr_r[256], cb_b[256], cr_g[256], cb_g[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void)
{
	for (int i = 0; i < 1024; i++) {
		int v = i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896;

		jpegdc_idct_limit[i] = (uint8_t)v;
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

/* The first step, for blk with quant table q; nz marks blk's non-zero AC
 * coefficients, so the columns that are all zero (most) cost nothing. */
void jpegdc_idct_2x2_ac(const int16_t *blk, const uint16_t *q, uint64_t nz,
			struct idct2 *p)
{
	uint64_t used = nz & USED_2X2;
	int64_t ws[2][8];
	int bad = 0;

	p->ok = 1;
	p->odd0 = p->odd[0] = p->odd[1] = 0;
	p->flat = used == 0;
	if (p->flat)
		return;
	if (used & ODD_ROWS(0)) {
		int64_t z1 = blk[8] * q[8], z3 = blk[24] * q[24];
		int64_t z5 = blk[40] * q[40], z7 = blk[56] * q[56];

		bad |= wild(z1) | wild(z3) | wild(z5) | wild(z7);
		p->odd0 = z7 * -5906 + z5 * 6967 + z3 * -10426 + z1 * 29692;
	}
	for (int c = 1; c < 8; c += 2) {
		int64_t z0, z1, z3, z5, z7, t0, t10;

		if ((used & COLUMN(c)) == 0) {
			ws[0][c] = ws[1][c] = 0;
			continue;
		}
		z0 = blk[c] * q[c];
		bad |= wild(z0);
		if ((used & ODD_ROWS(c)) == 0) {
			/* AC terms of the column zero: its first row only */
			ws[0][c] = ws[1][c] = z0 * 4;
			continue;
		}
		z1 = blk[8 + c] * q[8 + c], z3 = blk[24 + c] * q[24 + c];
		z5 = blk[40 + c] * q[40 + c], z7 = blk[56 + c] * q[56 + c];
		bad |= wild(z1) | wild(z3) | wild(z5) | wild(z7);
		t10 = z0 * (1 << 15);
		t0 = z7 * -5906 + z5 * 6967 + z3 * -10426 + z1 * 29692;
		bad |= over32(t10 + t0 + (1 << 12), t10 - t0 + (1 << 12));
		ws[0][c] = (t10 + t0 + (1 << 12)) >> 13;
		ws[1][c] = (t10 - t0 + (1 << 12)) >> 13;
		bad |= over16(ws[0][c]) | over16(ws[1][c]);
	}
	for (int r = 0; r < 2; r++) {
		const int64_t *w = ws[r];

		p->odd[r] = w[7] * -5906 + w[5] * 6967 + w[3] * -10426 + w[1] * 29692;
	}
	p->ok = !bad;
}

/*
 * The second step: the outputs from the DC coefficient dc into out[0],
 * out[1] (row 0) and out[stride], out[stride + 1] (row 1); -1 when the
 * block is refused.  libjpeg's shortcuts for zero terms give the same
 * values as its full formulas, which is all this uses.
 */
int jpegdc_idct_2x2_dc(const struct idct2 *p, int16_t dc, uint16_t q0,
		       uint8_t *out, size_t stride)
{
	int64_t z0 = dc * q0, t10 = z0 * (1 << 15);
	int64_t ws0[2] = { t10 + p->odd0 + (1 << 12), t10 - p->odd0 + (1 << 12) };

	if (!p->ok || wild(z0) || over32(ws0[0], ws0[1]))
		return -1;
	if (p->flat) {
		/* (4 z0 2^15 + 2^19) >> 20, 4 z0 in 16 bits as z0 is tame */
		int v = sample_red((z0 * 4 + 16) >> 5);

		if (v < 0)
			return -1;
		out[0] = out[1] = out[stride] = out[stride + 1] = (uint8_t)v;
		return 0;
	}
	for (int r = 0; r < 2; r++) {
		int64_t w0 = ws0[r] >> 13, a, b;
		uint8_t *o = out + (size_t)r * stride;

		if (over16(w0))
			return -1;
		a = w0 * (1 << 15) + p->odd[r] + (1 << 19);
		b = w0 * (1 << 15) - p->odd[r] + (1 << 19);
		if (over32(a, b))
			return -1;
		a = sample_red(a >> 20);
		b = sample_red(b >> 20);
		if (a < 0 || b < 0)
			return -1;
		o[0] = (uint8_t)a;
		o[1] = (uint8_t)b;
	}
	return 0;
}

/* jidctred.c's constants: FIX(x) with 13 fractional bits. */
enum {
	F_0_211 = 1730, F_0_509 = 4176, F_0_601 = 4926, F_0_765 = 6270,
	F_0_899 = 7373, F_1_061 = 8697, F_1_451 = 11893, F_1_847 = 15137,
	F_2_172 = 17799, F_2_562 = 20995
};

/* jidctred.c's DESCALE: x / 2^n, rounded, shifting as libjpeg does. */
static inline int64_t descale(int64_t x, unsigned n)
{
	return (x + ((int64_t)1 << (n - 1))) >> n;
}

/* The 4x4 IDCT's odd parts of inputs 1, 3, 5 and 7 (either pass). */
static inline void odd_4x4(int64_t z1, int64_t z3, int64_t z5, int64_t z7,
			   int64_t *t0, int64_t *t2)
{
	*t0 = z7 * -F_0_211 + z5 * F_1_451 + z3 * -F_2_172 + z1 * F_1_061;
	*t2 = z7 * -F_0_509 + z5 * -F_0_601 + z3 * F_0_899 + z1 * F_2_562;
}

void jpegdc_idct_4x4_ac(const int16_t *blk, const uint16_t *q, uint64_t nz,
			struct idct4 *p)
{
	uint64_t used = nz & USED_4X4;
	int64_t ws[4][8];
	int bad = 0;

	p->ok = 1;
	p->flat = used == 0;
	if (p->flat)
		return;
	/* Pass 1, columns (4 is not used).  A column whose rows 1-7 are
	 * zero is its first row four times: libjpeg's shortcut, which the
	 * full formulas give too. */
	for (int c = 0; c < 8; c++) {
		int64_t z[8], t0, t2, t10, t12, o0, o2;

		if (c == 4 || (used & COLUMN(c)) == 0) {
			ws[0][c] = ws[1][c] = ws[2][c] = ws[3][c] = 0;
			continue;
		}
		z[0] = c == 0 ? 0 : blk[c] * q[c]; /* DC: the second step's */
		bad |= wild(z[0]);
		if ((used & AC_ROWS_4X4(c)) == 0) {
			ws[0][c] = ws[1][c] = ws[2][c] = ws[3][c] = z[0] * 4;
			continue;
		}
		for (int r = 1; r < 8; r++) {
			z[r] = r == 4 ? 0 : blk[r * 8 + c] * q[r * 8 + c];
			bad |= wild(z[r]);
		}
		t0 = z[0] * (1 << 14);
		t2 = z[2] * F_1_847 - z[6] * F_0_765;
		t10 = t0 + t2, t12 = t0 - t2;
		odd_4x4(z[1], z[3], z[5], z[7], &o0, &o2);
		ws[0][c] = descale(t10 + o2, 12);
		ws[3][c] = descale(t10 - o2, 12);
		ws[1][c] = descale(t12 + o0, 12);
		ws[2][c] = descale(t12 - o0, 12);
	}
	/* Pass 2, rows: all but the column 0 term. */
	for (int r = 0; r < 4; r++) {
		const int64_t *w = ws[r];
		int64_t e = w[2] * F_1_847 - w[6] * F_0_765, o0, o2;

		for (int c = 1; c < 8; c++)
			bad |= over16(w[c]);
		odd_4x4(w[1], w[3], w[5], w[7], &o0, &o2);
		if (bad) /* the rest would not fit 32 bits */
			e = o0 = o2 = 0;
		p->col0[r] = (int32_t)w[0];
		p->even[r] = (int32_t)e;
		p->odd0[r] = (int32_t)o0;
		p->odd2[r] = (int32_t)o2;
	}
	p->ok = !bad;
}

int jpegdc_idct_4x4_dc(const struct idct4 *p, int16_t dc, uint16_t q0,
		       uint8_t *out, size_t stride)
{
	int64_t z0 = dc * q0;

	if (!p->ok || wild(z0))
		return -1;
	if (p->flat) {
		/* ((4 z0) 2^14 + 2^18) >> 19, as jpegdc_idct_2x2_dc's */
		int v = sample_red((z0 * 4 + 16) >> 5);

		if (v < 0)
			return -1;
		for (int r = 0; r < 4; r++)
			memset(out + (size_t)r * stride, v, 4);
		return 0;
	}
	for (int r = 0; r < 4; r++) {
		/* Column 0's first pass: its DC term is a whole step. */
		int64_t w0 = z0 * 4 + p->col0[r], t0, t10, t12, v[4];
		uint8_t *o = out + (size_t)r * stride;

		if (over16(w0))
			return -1;
		t0 = w0 * (1 << 14);
		t10 = t0 + p->even[r], t12 = t0 - p->even[r];
		v[0] = t10 + p->odd2[r] + (1 << 18);
		v[1] = t12 + p->odd0[r] + (1 << 18);
		v[2] = t12 - p->odd0[r] + (1 << 18);
		v[3] = t10 - p->odd2[r] + (1 << 18);
		for (int k = 0; k < 4; k++) {
			int s;

			if (v[k] < INT32_MIN || v[k] > INT32_MAX ||
			    (s = sample_red(v[k] >> 19)) < 0)
				return -1;
			o[k] = (uint8_t)s;
		}
	}
	return 0;
}

int jpegdc_idct_2x2_c(const int16_t *blk, const uint16_t *q, uint64_t nz,
		      uint8_t *out, size_t stride)
{
	struct idct2 part;

	jpegdc_idct_2x2_ac(blk, q, nz, &part);
	return jpegdc_idct_2x2_dc(&part, blk[0], q[0], out, stride);
}

int jpegdc_idct_4x4_c(const int16_t *blk, const uint16_t *q, uint64_t nz,
		      uint8_t *out, size_t stride)
{
	struct idct4 part;

	jpegdc_idct_4x4_ac(blk, q, nz, &part);
	return jpegdc_idct_4x4_dc(&part, blk[0], q[0], out, stride);
}

#ifdef __SSE2__
/*
 * libjpeg-turbo's jsimd_idct_4x4_sse2 and jsimd_idct_2x2_sse2
 * (simd/x86_64/jidctred-sse2.asm) step for step: the same 16-bit
 * products, 32-bit sums, saturating packs and shortcut, so the same
 * samples for any block, wild ones included.
 */

/* A vector of the 16-bit pair (a, b), four times: pmaddwd's constants. */
#define PAIRS(a, b) _mm_set_epi16((b), (a), (b), (a), (b), (a), (b), (a))

static inline __m128i row_dq(const int16_t *blk, const uint16_t *q, int r)
{
	return _mm_mullo_epi16(_mm_loadu_si128((const __m128i *)(blk + r * 8)),
			       _mm_loadu_si128((const __m128i *)(q + r * 8)));
}

static inline __m128i descale32(__m128i x, int n)
{
	return _mm_srai_epi32(_mm_add_epi32(x, _mm_set1_epi32(1 << (n - 1))), n);
}

/* The end of both: a 32-bit sum to 16 bits, to 8 (each saturating), plus
 * 128 (packssdw, packsswb, paddb). */
static inline uint8_t pack_sample(int32_t v)
{
	return (uint8_t)((v < -128 ? -128 : v > 127 ? 127 : v) + 128);
}

/* pmullw: the low 16 bits of the product. */
static inline int32_t mul16(int16_t a, uint16_t b)
{
	return (int16_t)(uint16_t)((uint32_t)(int32_t)a * b);
}

/* 32-bit sums and shifts that wrap, as SSE2's do. */
static inline int32_t wrap32(uint32_t v)
{
	return (int32_t)v;
}

int jpegdc_idct_4x4(const int16_t *blk, const uint16_t *q, uint64_t nz,
		    uint8_t *out, size_t stride)
{
	const __m128i zero = _mm_setzero_si128();
	__m128i c01, c23, c45, c67, x0, x1, x4, x6, x7;

	if ((nz & ~0x10ull) == 0) {
		/* Only the DC term that matters (row 0's column 4 is not
		 * used): the shortcut, its 16-bit shift wrapping, and one
		 * sample, worked out without loading the block (just
		 * stored: its loads would wait on the stores). */
		int32_t w0 = (int16_t)(uint16_t)((uint32_t)mul16(blk[0], q[0]) << 2);
		uint8_t v = pack_sample((w0 * 16384 + (1 << 18)) >> 19);

		for (int r = 0; r < 4; r++)
			memset(out + (size_t)r * stride, v, 4);
		return 0;
	}
	/* Pass 1, columns: rows 1-3 and 5-7 all zero is the shortcut. */
	x0 = _mm_or_si128(_mm_loadu_si128((const __m128i *)(blk + 8)),
			  _mm_loadu_si128((const __m128i *)(blk + 16)));
	x0 = _mm_or_si128(x0, _mm_loadu_si128((const __m128i *)(blk + 24)));
	x0 = _mm_or_si128(x0, _mm_loadu_si128((const __m128i *)(blk + 40)));
	x0 = _mm_or_si128(x0, _mm_loadu_si128((const __m128i *)(blk + 48)));
	x0 = _mm_or_si128(x0, _mm_loadu_si128((const __m128i *)(blk + 56)));
	if (_mm_movemask_epi8(_mm_cmpeq_epi16(x0, zero)) == 0xFFFF) {
		__m128i in0 = _mm_slli_epi16(row_dq(blk, q, 0), 2);
		__m128i lo = _mm_unpacklo_epi16(in0, in0);
		__m128i hi = _mm_unpackhi_epi16(in0, in0);

		c01 = _mm_shuffle_epi32(lo, 0x50);
		c23 = _mm_shuffle_epi32(lo, 0xFA);
		c45 = _mm_shuffle_epi32(hi, 0x50);
		c67 = _mm_shuffle_epi32(hi, 0xFA);
	} else {
		__m128i r1 = row_dq(blk, q, 1), r3 = row_dq(blk, q, 3);
		__m128i r5 = row_dq(blk, q, 5), r7 = row_dq(blk, q, 7);
		__m128i r0 = row_dq(blk, q, 0), r2 = row_dq(blk, q, 2);
		__m128i r6 = row_dq(blk, q, 6);
		__m128i a_lo = _mm_unpacklo_epi16(r1, r3), a_hi = _mm_unpackhi_epi16(r1, r3);
		__m128i b_lo = _mm_unpacklo_epi16(r5, r7), b_hi = _mm_unpackhi_epi16(r5, r7);
		__m128i t2l = _mm_add_epi32(_mm_madd_epi16(a_lo, PAIRS(F_2_562, F_0_899)),
					    _mm_madd_epi16(b_lo, PAIRS(-F_0_601, -F_0_509)));
		__m128i t2h = _mm_add_epi32(_mm_madd_epi16(a_hi, PAIRS(F_2_562, F_0_899)),
					    _mm_madd_epi16(b_hi, PAIRS(-F_0_601, -F_0_509)));
		__m128i t0l = _mm_add_epi32(_mm_madd_epi16(a_lo, PAIRS(F_1_061, -F_2_172)),
					    _mm_madd_epi16(b_lo, PAIRS(F_1_451, -F_0_211)));
		__m128i t0h = _mm_add_epi32(_mm_madd_epi16(a_hi, PAIRS(F_1_061, -F_2_172)),
					    _mm_madd_epi16(b_hi, PAIRS(F_1_451, -F_0_211)));
		__m128i e0l = _mm_srai_epi32(_mm_unpacklo_epi16(zero, r0), 2);
		__m128i e0h = _mm_srai_epi32(_mm_unpackhi_epi16(zero, r0), 2);
		__m128i e2l = _mm_madd_epi16(_mm_unpacklo_epi16(r2, r6),
					     PAIRS(F_1_847, -F_0_765));
		__m128i e2h = _mm_madd_epi16(_mm_unpackhi_epi16(r2, r6),
					     PAIRS(F_1_847, -F_0_765));
		__m128i t10l = _mm_add_epi32(e0l, e2l), t10h = _mm_add_epi32(e0h, e2h);
		__m128i t12l = _mm_sub_epi32(e0l, e2l), t12h = _mm_sub_epi32(e0h, e2h);
		__m128i d0 = _mm_packs_epi32(descale32(_mm_add_epi32(t10l, t2l), 12),
					     descale32(_mm_add_epi32(t10h, t2h), 12));
		__m128i d3 = _mm_packs_epi32(descale32(_mm_sub_epi32(t10l, t2l), 12),
					     descale32(_mm_sub_epi32(t10h, t2h), 12));
		__m128i d1 = _mm_packs_epi32(descale32(_mm_add_epi32(t12l, t0l), 12),
					     descale32(_mm_add_epi32(t12h, t0h), 12));
		__m128i d2 = _mm_packs_epi32(descale32(_mm_sub_epi32(t12l, t0l), 12),
					     descale32(_mm_sub_epi32(t12h, t0h), 12));
		/* to columns: c01 = rows 0-3 of column 0, then of column 1 */
		__m128i p01l = _mm_unpacklo_epi16(d0, d1), p01h = _mm_unpackhi_epi16(d0, d1);
		__m128i p23l = _mm_unpacklo_epi16(d2, d3), p23h = _mm_unpackhi_epi16(d2, d3);

		c01 = _mm_unpacklo_epi32(p01l, p23l);
		c23 = _mm_unpackhi_epi32(p01l, p23l);
		c45 = _mm_unpacklo_epi32(p01h, p23h);
		c67 = _mm_unpackhi_epi32(p01h, p23h);
	}
	/* Pass 2, the four rows at once (a lane each). */
	{
		__m128i t0 = _mm_srai_epi32(_mm_unpacklo_epi16(zero, c01), 2);
		__m128i a = _mm_unpackhi_epi16(c01, c23); /* columns 1 and 3 */
		__m128i b = _mm_unpackhi_epi16(c45, c67); /* 5 and 7 */
		__m128i t2 = _mm_add_epi32(_mm_madd_epi16(a, PAIRS(F_2_562, F_0_899)),
					   _mm_madd_epi16(b, PAIRS(-F_0_601, -F_0_509)));
		__m128i o0 = _mm_add_epi32(_mm_madd_epi16(a, PAIRS(F_1_061, -F_2_172)),
					   _mm_madd_epi16(b, PAIRS(F_1_451, -F_0_211)));
		__m128i e = _mm_madd_epi16(_mm_unpacklo_epi16(c23, c67),
					   PAIRS(F_1_847, -F_0_765));
		__m128i t10 = _mm_add_epi32(t0, e), t12 = _mm_sub_epi32(t0, e);
		__m128i s0 = descale32(_mm_add_epi32(t10, t2), 19);
		__m128i s1 = descale32(_mm_add_epi32(t12, o0), 19);
		__m128i s2 = descale32(_mm_sub_epi32(t12, o0), 19);
		__m128i s3 = descale32(_mm_sub_epi32(t10, t2), 19);

		x4 = _mm_packs_epi32(s0, s2);
		x7 = _mm_packs_epi32(s1, s3);
		x0 = _mm_unpackhi_epi16(x4, x7);
		x4 = _mm_unpacklo_epi16(x4, x7);
		x6 = _mm_unpackhi_epi32(x4, x0);
		x4 = _mm_unpacklo_epi32(x4, x0);
		x4 = _mm_add_epi8(_mm_packs_epi16(x4, x6), _mm_set1_epi8((char)0x80));
	}
	x1 = x4;
	for (int r = 0; r < 4; r++) {
		uint32_t v = (uint32_t)_mm_cvtsi128_si32(x1);

		memcpy(out + (size_t)r * stride, &v, 4);
		x1 = _mm_srli_si128(x1, 4);
	}
	return 0;
}

int jpegdc_idct_2x2(const int16_t *blk, const uint16_t *q, uint64_t nz,
		    uint8_t *out, size_t stride)
{
	const __m128i hi16 = _mm_set1_epi32((int)0xFFFF0000u);
	__m128i x0, x1, x2, x3, x4, x5, x6, x7, a0, b0, a, b;
	uint16_t w;

	if ((nz & USED_2X2) == 0) {
		/* The DC term alone, as the code below makes it: row 0's
		 * first pass is 4 dq exactly, the second shift wraps. */
		int32_t w0 = mul16(blk[0], q[0]) * 4;
		int32_t v = wrap32((uint32_t)w0 << 15);

		v = wrap32((uint32_t)v + (1u << 19)) >> 20;
		out[0] = out[1] = out[stride] = out[stride + 1] = pack_sample(v);
		return 0;
	}
	/* Pass 1, columns 0, 1, 3, 5 and 7: odd parts. */
	x0 = row_dq(blk, q, 1), x1 = row_dq(blk, q, 3);
	x2 = row_dq(blk, q, 5), x3 = row_dq(blk, q, 7);
	x4 = _mm_madd_epi16(_mm_unpacklo_epi16(x0, x1), PAIRS(29692, -10426));
	x5 = _mm_madd_epi16(_mm_unpacklo_epi16(x2, x3), PAIRS(6967, -5906));
	x0 = _mm_or_si128(_mm_srli_epi32(x0, 16), _mm_and_si128(x1, hi16));
	x2 = _mm_or_si128(_mm_srli_epi32(x2, 16), _mm_and_si128(x3, hi16));
	x0 = _mm_madd_epi16(x0, PAIRS(29692, -10426));
	x2 = _mm_madd_epi16(x2, PAIRS(6967, -5906));
	x4 = _mm_add_epi32(x4, x5); /* column 0 in lane 0 */
	x0 = _mm_add_epi32(x0, x2); /* columns 1, 3, 5, 7 */
	/* even parts: row 0 << 15 */
	x6 = row_dq(blk, q, 0);
	x1 = _mm_srai_epi32(_mm_and_si128(x6, hi16), 1);
	x6 = _mm_srai_epi32(_mm_slli_epi32(x6, 16), 1);
	a0 = _mm_add_epi32(x6, x4), b0 = _mm_sub_epi32(x6, x4);
	a = _mm_add_epi32(x1, x0), b = _mm_sub_epi32(x1, x0);
	x6 = descale32(_mm_unpacklo_epi32(a0, b0), 13);  /* A0 B0 */
	x1 = descale32(_mm_unpacklo_epi64(a, b), 13);    /* A1 A3 B1 B3 */
	x7 = descale32(_mm_unpackhi_epi64(a, b), 13);    /* A5 A7 B5 B7 */
	/* Pass 2, both rows. */
	x1 = _mm_madd_epi16(_mm_packs_epi32(x1, x1), PAIRS(29692, -10426));
	x7 = _mm_madd_epi16(_mm_packs_epi32(x7, x7), PAIRS(6967, -5906));
	x1 = _mm_add_epi32(x1, x7);
	x6 = _mm_slli_epi32(x6, 15);
	x4 = _mm_sub_epi32(x6, x1);
	x6 = _mm_add_epi32(x6, x1);
	x6 = descale32(_mm_unpacklo_epi32(x6, x4), 20); /* C0 D0 C1 D1 */
	x6 = _mm_packs_epi32(x6, x6);
	x6 = _mm_add_epi8(_mm_packs_epi16(x6, x6), _mm_set1_epi8((char)0x80));
	w = (uint16_t)_mm_extract_epi16(x6, 0);
	memcpy(out, &w, 2);
	w = (uint16_t)_mm_extract_epi16(x6, 1);
	memcpy(out + stride, &w, 2);
	return 0;
}
#else
int jpegdc_idct_2x2(const int16_t *blk, const uint16_t *q, uint64_t nz,
		    uint8_t *out, size_t stride)
{
	return jpegdc_idct_2x2_c(blk, q, nz, out, stride);
}

int jpegdc_idct_4x4(const int16_t *blk, const uint16_t *q, uint64_t nz,
		    uint8_t *out, size_t stride)
{
	return jpegdc_idct_4x4_c(blk, q, nz, out, stride);
}
#endif

/* ---- the scan ------------------------------------------------------- */

/* Appends to buf the segment's bytes with stuffing removed, up to cap
 * bytes in buf; at the segment's end, notes its marker and zeroes what
 * follows, which the bit reader may then read. */
void jpegdc_unstuff(struct scan *s)
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
	jpegdc_unstuff(s);
	s->b.next = load_be(s->b.p);
}

/* Skips what is left of the segment; returns the marker that ends it. */
int jpegdc_segment_end(struct scan *s)
{
	while (!s->done) {
		s->cend = s->buf;
		jpegdc_unstuff(s);
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
	jpegdc_unstuff(s);
	s->b.next = load_be(s->b.p);
}

/* True once the reader used bits past the segment's data: libjpeg would
 * have warned "premature end of data segment" and made up zeros. */
int jpegdc_overrun(const struct scan *s)
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
	if (c->sz == 2)
		return jpegdc_idct_2x2(blk, c->q, nz, out, c->stride);
	return jpegdc_idct_4x4(blk, c->q, nz, out, c->stride);
}

int jpegdc_mcu(struct job *j, struct scan *s, unsigned mx, unsigned my)
{
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
					if (jpegdc_segment_end(s) != 0xD0 + (int)rst)
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
			if (jpegdc_mcu(j, s, mx, my) < 0 || jpegdc_overrun(s))
				return 1;
		}
	}
	return jpegdc_segment_end(s) == 0xD9 ? 0 : 1;
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

/* Sets up j for the file in ci at scale/8 (1 or 2): 0, or 1 when it is
 * not one we take. */
static int job_setup(struct job *j, struct jpeg_decompress_struct *ci,
		     unsigned scale)
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
		j->comp[0].h = j->comp[0].v = 1;
		j->comp[0].sz = scale;
	} else if (j->ncomp == 3 && ci->jpeg_color_space == JCS_YCbCr) {
		unsigned h = (unsigned)k[0].h_samp_factor;
		unsigned v = (unsigned)k[0].v_samp_factor;

		for (int c = 1; c < 3; c++)
			if (k[c].h_samp_factor != 1 || k[c].v_samp_factor != 1)
				return 1;
		if (h > 2 || v > 2)
			return 1;
		/*
		 * libjpeg-turbo gives each component one square IDCT size
		 * (jdmaster.c; it has no 2x1 IDCT), doubled for chroma where
		 * that saves upsampling.  At 1/8: 2 for 4:2:0's chroma, whose
		 * 2x2 blocks are then full size; 1 for 4:2:2's and 4:4:0's,
		 * whose samples its box upsampling then repeats (jdsample.c:
		 * below 2/8 it never upsamples the fancy way).  At 2/8: 4 for
		 * 4:2:0's chroma, 2 for 4:4:4's; 4:2:2 and 4:4:0 would need
		 * its fancy upsampling, which this decoder does not do.
		 */
		is420 = h == 2 && v == 2;
		if (scale == 2 && h != v)
			return 1;
		j->mcus_x = (ci->image_width + 8 * h - 1) / (8 * h);
		j->mcus_y = (ci->image_height + 8 * v - 1) / (8 * v);
		j->comp[0].h = h;
		j->comp[0].v = v;
		j->comp[0].sz = scale;
		for (int c = 1; c < 3; c++) {
			j->comp[c].h = j->comp[c].v = 1;
			j->comp[c].sz = is420 ? 2 * scale : scale;
		}
		j->hs = is420 ? 0 : h - 1;
		j->vs = is420 ? 0 : v - 1;
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
	/* Read once: the compiler reloads out->width after every byte
	 * stored through o, which might alias it. */
	unsigned w = out->width;

	for (unsigned r = 0; r < out->height; r++) {
		const uint8_t *py = y->plane + r * y->stride;
		uint8_t *o = out->pixels + (size_t)r * w * out->channels;

		if (out->channels == 1) {
			memcpy(o, py, w);
			continue;
		}
		/* 4:2:2 and 4:4:0: the chroma sample repeated, as libjpeg's
		 * h2v1_upsample and int_upsample do */
		const uint8_t *pb = cb->plane + (r >> j->vs) * cb->stride;
		const uint8_t *pr = cr->plane + (r >> j->vs) * cr->stride;
		for (unsigned x = 0; x < w; x++, o += 3) {
			int l = py[x] + 256;
			unsigned b = pb[x >> j->hs], rd = pr[x >> j->hs];

			o[0] = rgb_limit[l + cr_r[rd]];
			o[1] = rgb_limit[l + ((cb_g[b] + cr_g[rd]) >> 16)];
			o[2] = rgb_limit[l + cb_b[b]];
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

/* Sets e for memory that ran out; returns -1. */
static int no_memory(struct err *e)
{
	return err_set(e, ERR_INTERNAL, "out of memory decoding a JPEG");
}

/* Allocates j's planes: 0, or -1 when memory ran out (the caller frees
 * those made). */
static int planes_alloc(struct job *j)
{
	for (unsigned c = 0; c < j->ncomp; c++) {
		struct comp *cp = &j->comp[c];
		size_t w = (size_t)j->mcus_x * cp->h * cp->sz;
		size_t h = (size_t)j->mcus_y * cp->v * cp->sz;

		cp->stride = w;
		cp->plane = malloc(w * h);
		if (cp->plane == NULL)
			return -1;
	}
	return 0;
}

/*
 * Decodes the scan's entropy-coded data, len bytes at data (up to the end
 * of the file), into j's planes: split between two threads when that is
 * wanted and can help, else the plain way.  Returns 0, 1 to decline, or
 * -1 with e set (stop said so, or memory ran out).
 */
static int decode_planes(struct job *j, const uint8_t *data, size_t len,
			 int (*stop)(void *), void *arg, struct err *e)
{
	struct scan s;
	int rc = -2;

	memset(&s, 0, sizeof(s));
	s.src = data;
	s.end = data + len;
	if (j->restart == 0 && jpegdc_split_wanted(len)) {
		/* all of it at once: the tail reads the second half */
		s.buf = malloc(len + MARGIN + 16);
		if (s.buf != NULL)
			rc = jpegdc_decode_split(j, &s, stop, arg);
	}
	if (rc == -2) {
		/* not split, or the split could not help: a chunk at a time */
		free(s.buf);
		memset(&s, 0, sizeof(s));
		s.src = data;
		s.end = data + len;
		s.cap = CHUNK;
		s.buf = malloc(CHUNK + MARGIN + 16);
		if (s.buf == NULL)
			return no_memory(e);
		for (unsigned c = 0; c < j->ncomp; c++)
			j->comp[c].pred = 0;
		rc = decode_scan(j, &s, stop, arg);
	}
	free(s.buf);
	if (rc < 0)
		return err_set(e, ERR_UNPROCESSABLE, "stopped while decoding");
	return rc;
}

/* Fills *out for the file in ci from j's planes: 0, or -1 when memory
 * ran out. */
static int image_fill(const struct job *j,
		      const struct jpeg_decompress_struct *ci, unsigned scale,
		      struct jpegdc_image *out)
{
	out->width = (unsigned)(((unsigned long long)ci->image_width * scale + 7) / 8);
	out->height = (unsigned)(((unsigned long long)ci->image_height * scale + 7) / 8);
	out->channels = j->ncomp;
	out->threads = j->threads ? j->threads : 1;
	for (unsigned c = 0; c < j->ncomp; c++) {
		out->h_samp[c] = (unsigned)ci->comp_info[c].h_samp_factor;
		out->v_samp[c] = (unsigned)ci->comp_info[c].v_samp_factor;
	}
	out->pixels = malloc((size_t)out->width * out->height * out->channels);
	if (out->pixels == NULL)
		return -1;
	to_pixels(j, out);
	return 0;
}

int jpegdc_decode(const unsigned char *data, size_t len, unsigned scale,
		  int (*stop)(void *arg), void *arg, struct jpegdc_image *out,
		  struct err *e)
{
	struct jpeg_decompress_struct ci;
	struct jerr je;
	struct job *j = NULL;
	int rc = 1;

	if (scale != 1 && scale != 2)
		return 1;
	pthread_once(&tables_once, tables_init);
	jpegdc_busy(1);
	if (read_header(&ci, &je, data, len) != 0)
		goto out;
	/* At 2/8 one thread of ours is no faster than libjpeg-turbo: only a
	 * scan split between two is worth taking. */
	if (scale == 2 && (ci.restart_interval != 0 ||
			   !jpegdc_split_wanted(ci.src->bytes_in_buffer)))
		goto out;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		goto oom;
	if (job_setup(j, &ci, scale) != 0)
		goto out;
	if (planes_alloc(j) < 0)
		goto oom;
	rc = decode_planes(j, ci.src->next_input_byte, ci.src->bytes_in_buffer,
			   stop, arg, e);
	if (rc != 0)
		goto out;
	if (image_fill(j, &ci, scale, out) < 0)
		goto oom;
	goto out;
oom:
	rc = no_memory(e);
out:
	if (j != NULL) /* all three: ncomp may be a file's 4 it declined */
		for (unsigned c = 0; c < 3; c++)
			free(j->comp[c].plane);
	free(j);
	jpeg_destroy_decompress(&ci);
	jpegdc_busy(-1);
	return rc;
}

size_t jpegdc_estimate(unsigned w, unsigned h, unsigned scale, size_t len)
{
	size_t sw = ((size_t)w * scale + 7) / 8 + 16, sh = ((size_t)h * scale + 7) / 8 + 16;
	/* The pixels and the planes (at most three at their size). */
	size_t bytes = sw * sh * 3 * 2 + CHUNK + MARGIN;

	if (len >= jpegdc_split_bytes)
		/* The unstuffed data; the second thread's notes on its half
		 * (about a byte a pixel for 4:4:4) and the AC values it keeps
		 * (2 bytes each, about one a byte of data). */
		bytes += len + (size_t)w * h / 2 + 2 * len;
	return bytes;
}
