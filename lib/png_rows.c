/* png_rows.c - PNG row filters undone (SSE2 and scalar), rows made 8-bit
 * pixels as libpng's transforms make them. */
#include "png_rows.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Bytes a sample of type t spans per pixel (channels in the file). */
static unsigned file_channels(unsigned type)
{
	switch (type) {
	case PNG_ROWS_RGB: return 3;
	case PNG_ROWS_GREY_ALPHA: return 2;
	case PNG_ROWS_RGBA: return 4;
	default: return 1; /* grey, palette */
	}
}

int png_rows_supported(const struct png_rows_format *f)
{
	switch (f->type) {
	case PNG_ROWS_PALETTE:
		return f->depth == 1 || f->depth == 2 || f->depth == 4 ||
		       f->depth == 8;
	case PNG_ROWS_GREY:
	case PNG_ROWS_RGB:
	case PNG_ROWS_GREY_ALPHA:
	case PNG_ROWS_RGBA:
		return f->depth == 8 || f->depth == 16;
	default:
		return 0;
	}
}

size_t png_rows_rowbytes(const struct png_rows_format *f)
{
	return ((size_t)f->width * file_channels(f->type) * f->depth + 7) / 8;
}

unsigned png_rows_bpp(const struct png_rows_format *f)
{
	unsigned bits = file_channels(f->type) * f->depth;

	return bits >= 8 ? bits / 8 : 1;
}

unsigned png_rows_channels(const struct png_rows_format *f)
{
	switch (f->type) {
	case PNG_ROWS_GREY: return f->trns ? 2 : 1;
	case PNG_ROWS_RGB: return f->trns ? 4 : 3;
	case PNG_ROWS_PALETTE: return f->palette_alpha ? 4 : 3;
	default: return file_channels(f->type);
	}
}

/* ---- the filters, scalar ---------------------------------------------------- */

/* The PNG spec's predictor: whichever of a (left), b (above), c (above
 * left) is nearest a + b - c, ties to a, then b. */
static inline unsigned char paeth(int a, int b, int c)
{
	int pa = b - c, pb = a - c, pc = pa + pb;

	pa = pa < 0 ? -pa : pa;
	pb = pb < 0 ? -pb : pb;
	pc = pc < 0 ? -pc : pc;
	if (pb < pa)
		a = b, pa = pb;
	return (unsigned char)(pc < pa ? c : a);
}

static void sub_scalar(unsigned char *row, size_t n, unsigned bpp)
{
	for (size_t i = bpp; i < n; i++)
		row[i] = (unsigned char)(row[i] + row[i - bpp]);
}

static void up_scalar(unsigned char *row, const unsigned char *prev,
		      size_t n)
{
	for (size_t i = 0; i < n; i++)
		row[i] = (unsigned char)(row[i] + prev[i]);
}

/* The first pixel has no left: a = 0 (Average: b / 2). */
static void avg_scalar(unsigned char *row, const unsigned char *prev,
		       size_t n, unsigned bpp)
{
	size_t i = 0;

	for (; i < bpp && i < n; i++)
		row[i] = (unsigned char)(row[i] + (prev[i] >> 1));
	for (; i < n; i++)
		row[i] = (unsigned char)(row[i] + ((row[i - bpp] + prev[i]) >> 1));
}

/* The first pixel: a = c = 0, Paeth predicts b. */
static void paeth_scalar(unsigned char *row, const unsigned char *prev,
			 size_t n, unsigned bpp)
{
	size_t i = 0;

	for (; i < bpp && i < n; i++)
		row[i] = (unsigned char)(row[i] + prev[i]);
	for (; i < n; i++)
		row[i] = (unsigned char)(row[i] + paeth(row[i - bpp], prev[i],
							prev[i - bpp]));
}

int png_rows_unfilter_scalar(unsigned char *row, const unsigned char *prev,
			     size_t n, unsigned bpp, unsigned filter)
{
	switch (filter) {
	case 0: return 0;
	case 1: sub_scalar(row, n, bpp); return 0;
	case 2: up_scalar(row, prev, n); return 0;
	case 3: avg_scalar(row, prev, n, bpp); return 0;
	case 4: paeth_scalar(row, prev, n, bpp); return 0;
	default: return -1;
	}
}

/* ---- the filters, SSE2 --------------------------------------------------------
 * Each pixel depends on the one to its left, so the work goes a pixel at a
 * time, its bytes side by side in one register (16-bit lanes for Average
 * and Paeth, whose sums need 9 bits).  bpp is a constant in each copy the
 * compiler makes of these (always_inline), so that the loads and stores
 * of 3 and 6 bytes are a few moves. */
#ifdef __SSE2__
#define INLINE static inline __attribute__((always_inline))

/* A pixel's bytes into the low lanes, the rest 0.  Built in registers:
 * a copy through memory of 3 or 6 bytes read back as 8 stalls the
 * store-to-load forwarding, some 12 cycles a pixel. */
INLINE __m128i load_px(const unsigned char *p, unsigned bpp)
{
	uint64_t v;
	uint32_t lo;
	uint16_t hi;

	switch (bpp) {
	case 3:
		memcpy(&hi, p, 2);
		return _mm_cvtsi32_si128((int)(hi | (uint32_t)p[2] << 16));
	case 4:
		memcpy(&lo, p, 4);
		return _mm_cvtsi32_si128((int)lo);
	case 6:
		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 2);
		return _mm_cvtsi64_si128((long long)(lo | (uint64_t)hi << 32));
	default:
		memcpy(&v, p, 8);
		return _mm_cvtsi64_si128((long long)v);
	}
}

INLINE void store_px(unsigned char *p, __m128i x, unsigned bpp)
{
	uint64_t v = (uint64_t)_mm_cvtsi128_si64(x);
	uint32_t lo = (uint32_t)v;
	uint16_t hi;

	switch (bpp) {
	case 3:
		hi = (uint16_t)lo;
		memcpy(p, &hi, 2);
		p[2] = (unsigned char)(lo >> 16);
		return;
	case 4:
		memcpy(p, &lo, 4);
		return;
	case 6:
		hi = (uint16_t)(v >> 32);
		memcpy(p, &lo, 4);
		memcpy(p + 4, &hi, 2);
		return;
	default:
		memcpy(p, &v, 8);
	}
}

INLINE void sub_sse2(unsigned char *row, size_t n, unsigned bpp)
{
	__m128i a = _mm_setzero_si128();

	for (size_t i = 0; i < n; i += bpp) {
		a = _mm_add_epi8(load_px(row + i, bpp), a);
		store_px(row + i, a, bpp);
	}
}

INLINE void avg_sse2(unsigned char *row, const unsigned char *prev,
		     size_t n, unsigned bpp)
{
	const __m128i zero = _mm_setzero_si128(), low = _mm_set1_epi16(0xff);
	__m128i a = zero;

	for (size_t i = 0; i < n; i += bpp) {
		__m128i b = _mm_unpacklo_epi8(load_px(prev + i, bpp), zero);
		__m128i x = _mm_unpacklo_epi8(load_px(row + i, bpp), zero);

		x = _mm_add_epi16(x, _mm_srli_epi16(_mm_add_epi16(a, b), 1));
		a = _mm_and_si128(x, low);
		store_px(row + i, _mm_packus_epi16(a, a), bpp);
	}
}

/* c ? t : e, lane by lane (c all ones or all zeros). */
INLINE __m128i pick(__m128i c, __m128i t, __m128i e)
{
	return _mm_or_si128(_mm_and_si128(c, t), _mm_andnot_si128(c, e));
}

INLINE __m128i abs16(__m128i x)
{
	return _mm_max_epi16(x, _mm_sub_epi16(_mm_setzero_si128(), x));
}

/* One Paeth step in 16-bit lanes: x (the filtered bytes) plus the
 * predictor of a (left), b (above), c (above left).  b - c is known before
 * a, which has only just been made: the chain through a is what bounds
 * the loop. */
INLINE __m128i paeth_step(__m128i x, __m128i a, __m128i b, __m128i c)
{
	const __m128i low = _mm_set1_epi16(0xff);
	__m128i bc = _mm_sub_epi16(b, c);          /* p - a */
	__m128i pa = abs16(bc);
	__m128i ac = _mm_sub_epi16(a, c);          /* p - b */
	__m128i pb = abs16(ac);
	__m128i pc = abs16(_mm_add_epi16(bc, ac)); /* p - c */
	__m128i m = _mm_min_epi16(pa, _mm_min_epi16(pb, pc));
	__m128i pred = pick(_mm_cmpeq_epi16(m, pa), a,
			    pick(_mm_cmpeq_epi16(m, pb), b, c));

	return _mm_and_si128(_mm_add_epi16(x, pred), low);
}

INLINE __m128i load16(const unsigned char *p, unsigned bpp)
{
	return _mm_unpacklo_epi8(load_px(p, bpp), _mm_setzero_si128());
}

INLINE void store16(unsigned char *p, __m128i x, unsigned bpp)
{
	store_px(p, _mm_packus_epi16(x, x), bpp);
}

INLINE void paeth_sse2(unsigned char *row, const unsigned char *prev,
		       size_t n, unsigned bpp)
{
	__m128i a = _mm_setzero_si128(), c = a;

	for (size_t i = 0; i < n; i += bpp) {
		__m128i b = load16(prev + i, bpp);

		a = paeth_step(load16(row + i, bpp), a, b, c);
		store16(row + i, a, bpp);
		c = b;
	}
}

/* Two Paeth rows at once, r1 under r0, a pixel behind it: r1's b and c
 * are r0's pixels just made, still in registers, and the two chains run
 * side by side in the core. */
INLINE void paeth2_sse2(unsigned char *r0, unsigned char *r1,
			const unsigned char *prev, size_t n, unsigned bpp)
{
	__m128i zero = _mm_setzero_si128(), a0, c0, a1 = zero, c1 = zero;

	if (n == 0)
		return;
	c0 = load16(prev, bpp);
	a0 = paeth_step(load16(r0, bpp), zero, c0, zero);
	store16(r0, a0, bpp);
	for (size_t i = bpp; i < n; i += bpp) {
		__m128i b0 = load16(prev + i, bpp), b1 = a0;

		a0 = paeth_step(load16(r0 + i, bpp), a0, b0, c0);
		a1 = paeth_step(load16(r1 + i - bpp, bpp), a1, b1, c1);
		store16(r0 + i, a0, bpp);
		store16(r1 + i - bpp, a1, bpp);
		c0 = b0, c1 = b1;
	}
	a1 = paeth_step(load16(r1 + n - bpp, bpp), a1, a0, c1);
	store16(r1 + n - bpp, a1, bpp);
}

static void up_sse2(unsigned char *row, const unsigned char *prev, size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(row + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(prev + i));

		_mm_storeu_si128((__m128i *)(void *)(row + i), _mm_add_epi8(x, b));
	}
	up_scalar(row + i, prev + i, n - i);
}

/* The SSE2 copies for the pixels of 3, 4, 6 and 8 bytes. */
#define FILTERS(bpp)                                                          \
	static void sub##bpp(unsigned char *row, size_t n)                    \
	{                                                                     \
		sub_sse2(row, n, bpp);                                        \
	}                                                                     \
	static void avg##bpp(unsigned char *row, const unsigned char *prev,  \
			     size_t n)                                        \
	{                                                                     \
		avg_sse2(row, prev, n, bpp);                                  \
	}                                                                     \
	static void paeth##bpp(unsigned char *row, const unsigned char *prev, \
			       size_t n)                                      \
	{                                                                     \
		paeth_sse2(row, prev, n, bpp);                                \
	}                                                                     \
	static void paeth2_##bpp(unsigned char *r0, unsigned char *r1,        \
				 const unsigned char *prev, size_t n)         \
	{                                                                     \
		paeth2_sse2(r0, r1, prev, n, bpp);                            \
	}
FILTERS(3)
FILTERS(4)
FILTERS(6)
FILTERS(8)

struct simd {
	void (*sub)(unsigned char *row, size_t n);
	void (*avg)(unsigned char *row, const unsigned char *prev, size_t n);
	void (*paeth)(unsigned char *row, const unsigned char *prev, size_t n);
	void (*paeth2)(unsigned char *r0, unsigned char *r1,
		       const unsigned char *prev, size_t n);
};

static const struct simd *simd_for(unsigned bpp)
{
	static const struct simd s3 = { sub3, avg3, paeth3, paeth2_3 },
		s4 = { sub4, avg4, paeth4, paeth2_4 },
		s6 = { sub6, avg6, paeth6, paeth2_6 },
		s8 = { sub8, avg8, paeth8, paeth2_8 };

	switch (bpp) {
	case 3: return &s3;
	case 4: return &s4;
	case 6: return &s6;
	case 8: return &s8;
	default: return NULL;
	}
}

int png_rows_unfilter(unsigned char *row, const unsigned char *prev,
		      size_t n, unsigned bpp, unsigned filter)
{
	const struct simd *s;

	if (filter == 2) {
		up_sse2(row, prev, n);
		return 0;
	}
	/* A row of whole pixels: the SSE2 loops step a pixel at a time. */
	if ((s = simd_for(bpp)) == NULL || n % bpp != 0)
		return png_rows_unfilter_scalar(row, prev, n, bpp, filter);
	switch (filter) {
	case 0: return 0;
	case 1: s->sub(row, n); return 0;
	case 3: s->avg(row, prev, n); return 0;
	case 4: s->paeth(row, prev, n); return 0;
	default: return -1;
	}
}

int png_rows_unfilter2(unsigned char *r0, unsigned char *r1,
		       const unsigned char *prev, size_t n, unsigned bpp,
		       unsigned f0, unsigned f1)
{
	const struct simd *s = simd_for(bpp);

	if (f0 > 4 || f1 > 4)
		return -1;
	if (f0 == 4 && f1 == 4 && s != NULL && n % bpp == 0) {
		s->paeth2(r0, r1, prev, n);
		return 0;
	}
	png_rows_unfilter(r0, prev, n, bpp, f0);
	return png_rows_unfilter(r1, r0, n, bpp, f1);
}
#else
int png_rows_unfilter(unsigned char *row, const unsigned char *prev,
		      size_t n, unsigned bpp, unsigned filter)
{
	return png_rows_unfilter_scalar(row, prev, n, bpp, filter);
}

int png_rows_unfilter2(unsigned char *r0, unsigned char *r1,
		       const unsigned char *prev, size_t n, unsigned bpp,
		       unsigned f0, unsigned f1)
{
	if (f0 > 4 || f1 > 4)
		return -1;
	png_rows_unfilter_scalar(r0, prev, n, bpp, f0);
	return png_rows_unfilter_scalar(r1, r0, n, bpp, f1);
}
#endif

/* ---- rows to 8-bit pixels ------------------------------------------------------ */

/* libpng's png_do_scale_16_to_8, exact: (v * 255 + 32895) >> 16 of the
 * big-endian sample at p, which is round(v / 257). */
static inline unsigned char scale16(const unsigned char *p)
{
	return (unsigned char)((((unsigned)p[0] << 8 | p[1]) * 255u + 32895u) >> 16);
}

/* n 16-bit samples at in to 8 bits at out. */
static void scale16_row(const unsigned char *in, unsigned char *out,
			size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	/* v = hi.lo: round(v / 257) is hi, corrected by -1 when
	 * lo - hi + 128 < 0 and +1 when it is over 256 (libpng's own
	 * derivation in png_do_scale_16_to_8). */
	const __m128i low = _mm_set1_epi16(0xff), k128 = _mm_set1_epi16(128),
		      k256 = _mm_set1_epi16(256), zero = _mm_setzero_si128();

	for (; i + 16 <= n; i += 16) {
		__m128i r[2];

		for (int k = 0; k < 2; k++) {
			__m128i v = _mm_loadu_si128(
				(const __m128i *)(const void *)(in + 2 * i + 16 * k));
			__m128i hi = _mm_and_si128(v, low);   /* the first byte */
			__m128i lo = _mm_srli_epi16(v, 8);
			__m128i x = _mm_add_epi16(_mm_sub_epi16(lo, hi), k128);

			r[k] = _mm_add_epi16(_mm_sub_epi16(hi, _mm_cmpgt_epi16(x, k256)),
					     _mm_cmpgt_epi16(zero, x));
		}
		_mm_storeu_si128((__m128i *)(void *)(out + i),
				 _mm_packus_epi16(r[0], r[1]));
	}
#endif
	for (; i < n; i++)
		out[i] = scale16(in + 2 * i);
}

/* Grey or RGB (ch 1 or 3) with a tRNS colour: alpha added. */
static void trns_row(const struct png_rows_format *f,
		     const unsigned char *row, unsigned char *out)
{
	unsigned ch = f->type == PNG_ROWS_RGB ? 3 : 1;

	if (f->depth == 8) {
		unsigned char t[3] = { (unsigned char)f->trns_rgb[0],
				       (unsigned char)f->trns_rgb[1],
				       (unsigned char)f->trns_rgb[2] };

		for (unsigned x = 0; x < f->width; x++, row += ch, out += ch + 1) {
			memcpy(out, row, ch);
			out[ch] = memcmp(row, t, ch) == 0 ? 0 : 255;
		}
		return;
	}
	unsigned char t[6];

	for (unsigned c = 0; c < 3; c++)
		t[2 * c] = (unsigned char)(f->trns_rgb[c] >> 8),
		t[2 * c + 1] = (unsigned char)f->trns_rgb[c];
	for (unsigned x = 0; x < f->width; x++, row += 2 * ch, out += ch + 1) {
		for (unsigned c = 0; c < ch; c++)
			out[c] = scale16(row + 2 * c);
		out[ch] = memcmp(row, t, 2 * ch) == 0 ? 0 : 255;
	}
}

/* Palette indexes (depth 1, 2, 4 or 8, the first in the high bits) to
 * RGB or RGBA. */
static void palette_row(const struct png_rows_format *f,
			const unsigned char *row, unsigned char *out)
{
	unsigned d = f->depth, mask = (1u << d) - 1, per = 8 / d;

	if (f->palette_alpha) {
		for (unsigned x = 0; x < f->width; x++, out += 4) {
			unsigned i = d == 8 ? row[x]
				: row[x / per] >> (8 - d - x % per * d) & mask;
			memcpy(out, f->palette[i], 4);
		}
		return;
	}
	for (unsigned x = 0; x < f->width; x++, out += 3) {
		unsigned i = d == 8 ? row[x]
			: row[x / per] >> (8 - d - x % per * d) & mask;
		memcpy(out, f->palette[i], 3);
	}
}

const unsigned char *png_rows_pixels(const struct png_rows_format *f,
				     const unsigned char *row,
				     unsigned char *out)
{
	if (f->type == PNG_ROWS_PALETTE)
		palette_row(f, row, out);
	else if (f->trns && (f->type == PNG_ROWS_GREY || f->type == PNG_ROWS_RGB))
		trns_row(f, row, out);
	else if (f->depth == 16)
		scale16_row(row, out, (size_t)f->width * file_channels(f->type));
	else
		return row;
	return out;
}
