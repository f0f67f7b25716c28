/* png_shrink.c - rows averaged into boxes as they come.  Without alpha,
 * rows are first added up column by column (16 bits hold 256 rows of
 * 255), and the columns into boxes once per output row; with alpha,
 * colour x alpha is summed box by box as each row comes (SSE2 for
 * RGBA). */
#include "png_shrink.h"

#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

unsigned png_shrink_factor(unsigned n, unsigned need)
{
	unsigned f = need ? n / need : 1;

	return f < 2 ? 1 : f > PNG_SHRINK_MAX_FACTOR ? PNG_SHRINK_MAX_FACTOR : f;
}

int png_shrink_init(struct png_shrink *s, unsigned w, unsigned h,
		    unsigned ch, unsigned need_w, unsigned need_h,
		    struct pixels *out, struct err *e)
{
	s->fx = png_shrink_factor(w, need_w), s->fy = png_shrink_factor(h, need_h);
	s->w = w, s->ch = ch, s->alpha = ch == 2 || ch == 4;
	s->rows = s->y = 0;
	s->sum = NULL;
	s->col = NULL;
	s->out = out;
	if (pixels_alloc(out, (w + s->fx - 1) / s->fx, (h + s->fy - 1) / s->fy,
			 ch, e) < 0)
		return -1;
	s->sum = calloc((size_t)out->width * ch, sizeof(uint32_t));
	if (!s->alpha)
		s->col = calloc((size_t)w * ch, sizeof(uint16_t));
	if (s->sum == NULL || (!s->alpha && s->col == NULL))
		return err_set(e, ERR_BUSY, "out of memory");
	return 0;
}

void png_shrink_release(struct png_shrink *s)
{
	free(s->sum);
	free(s->col);
	s->sum = NULL;
	s->col = NULL;
}

/* Adds the columns' sums into the boxes': fx columns a box (the last box
 * what is left).  ch is a constant in each copy (always_inline). */
static inline __attribute__((always_inline)) void
fold(uint32_t *restrict v, const uint16_t *restrict col, unsigned w,
     unsigned fx, unsigned ch)
{
	for (unsigned x = 0; x < w; v += ch) {
		unsigned end = w - x < fx ? w : x + fx;
		uint32_t acc[3] = { 0, 0, 0 };

		for (; x < end; x++, col += ch)
			for (unsigned c = 0; c < ch; c++)
				acc[c] += col[c];
		for (unsigned c = 0; c < ch; c++)
			v[c] += acc[c];
	}
}

/* The summed rows make out's next row. */
static void emit(struct png_shrink *s)
{
	unsigned char *row = s->out->data + s->y * s->out->stride;
	unsigned ow = s->out->width, ch = s->ch;

	if (!s->alpha) {
		if (ch == 1)
			fold(s->sum, s->col, s->w, s->fx, 1);
		else
			fold(s->sum, s->col, s->w, s->fx, 3);
		memset(s->col, 0, (size_t)s->w * ch * sizeof(*s->col));
	}

	for (unsigned x = 0; x < ow; x++) {
		uint32_t *v = s->sum + (size_t)x * ch;
		unsigned boxw = x + 1 < ow ? s->fx : s->w - x * s->fx;
		uint32_t n = boxw * s->rows;

		if (s->alpha) {
			uint32_t a = v[ch - 1];
			for (unsigned c = 0; c + 1 < ch; c++)
				row[x * ch + c] = a ? (unsigned char)((v[c] + a / 2) / a) : 0;
			row[x * ch + ch - 1] = (unsigned char)((a + n / 2) / n);
		} else {
			for (unsigned c = 0; c < ch; c++)
				row[x * ch + c] = (unsigned char)((v[c] + n / 2) / n);
		}
	}
	memset(s->sum, 0, (size_t)ow * ch * sizeof(*s->sum));
	s->rows = 0;
	s->y++;
}

/* Adds a row of w pixels with alpha into the boxes' sums, box by box (no
 * division a pixel): colour x alpha and alpha, a box's sums in registers,
 * then added to v.  ch is a constant in each copy (always_inline). */
static inline __attribute__((always_inline)) void
sum_alpha(uint32_t *restrict v, const unsigned char *restrict px,
	  unsigned w, unsigned fx, unsigned ch)
{
	for (unsigned x = 0; x < w; v += ch) {
		unsigned end = w - x < fx ? w : x + fx;
		uint32_t acc[4] = { 0, 0, 0, 0 };

		for (; x < end; x++, px += ch) {
			uint32_t a = px[ch - 1];

			for (unsigned c = 0; c + 1 < ch; c++)
				acc[c] += px[c] * a;
			acc[ch - 1] += a;
		}
		for (unsigned c = 0; c < ch; c++)
			v[c] += acc[c];
	}
}

#ifdef __SSE2__
/* RGBA in 16-bit lanes, [r g b a] x [a a a 1]: a product is 65025 at
 * most and fits; then widened into the 32-bit sums. */
static inline __m128i weigh(__m128i p)
{
	const __m128i colour = _mm_set_epi16(0, -1, -1, -1, 0, -1, -1, -1);
	const __m128i one = _mm_set_epi16(1, 0, 0, 0, 1, 0, 0, 0);
	__m128i a = _mm_shufflehi_epi16(_mm_shufflelo_epi16(p, 0xff), 0xff);

	return _mm_mullo_epi16(p, _mm_or_si128(_mm_and_si128(a, colour), one));
}

static inline __m128i widen_add(__m128i acc, __m128i p)
{
	const __m128i zero = _mm_setzero_si128();

	return _mm_add_epi32(acc, _mm_add_epi32(_mm_unpacklo_epi16(p, zero),
						_mm_unpackhi_epi16(p, zero)));
}

static void sum_rgba(uint32_t *v, const unsigned char *px, unsigned w,
		     unsigned fx)
{
	const __m128i zero = _mm_setzero_si128();

	for (unsigned x = 0; x < w; v += 4) {
		unsigned n = w - x < fx ? w - x : fx;
		__m128i acc = zero;

		x += n;
		for (; n >= 4; n -= 4, px += 16) {
			__m128i q = _mm_loadu_si128((const __m128i *)(const void *)px);

			acc = widen_add(acc, weigh(_mm_unpacklo_epi8(q, zero)));
			acc = widen_add(acc, weigh(_mm_unpackhi_epi8(q, zero)));
		}
		if (n >= 2) {
			__m128i q = _mm_loadl_epi64((const __m128i *)(const void *)px);

			acc = widen_add(acc, weigh(_mm_unpacklo_epi8(q, zero)));
			n -= 2, px += 8;
		}
		if (n == 1) {
			int32_t t;

			memcpy(&t, px, 4);
			/* The high lanes are 0: so are their products. */
			acc = widen_add(acc, weigh(_mm_unpacklo_epi8(_mm_cvtsi32_si128(t), zero)));
			px += 4;
		}
		_mm_storeu_si128((__m128i *)(void *)v,
				 _mm_add_epi32(_mm_loadu_si128((const __m128i *)(const void *)v), acc));
	}
}
#else
static void sum_rgba(uint32_t *v, const unsigned char *px, unsigned w,
		     unsigned fx)
{
	sum_alpha(v, px, w, fx, 4);
}
#endif

/* Adds a row's n samples into the columns' sums. */
static void add_columns(uint16_t *col, const unsigned char *row, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	const __m128i zero = _mm_setzero_si128();

	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(row + i));
		__m128i *lo = (__m128i *)(void *)(col + i), *hi = lo + 1;

		_mm_storeu_si128(lo, _mm_add_epi16(_mm_loadu_si128(lo), _mm_unpacklo_epi8(x, zero)));
		_mm_storeu_si128(hi, _mm_add_epi16(_mm_loadu_si128(hi), _mm_unpackhi_epi8(x, zero)));
	}
#endif
	for (; i < n; i++)
		col[i] = (uint16_t)(col[i] + row[i]);
}

/* Not shrunk: the row itself, a transparent pixel's colour made 0 as the
 * sums would make it. */
static void copy_row(struct png_shrink *s, const unsigned char *in)
{
	unsigned char *row = s->out->data + s->y++ * s->out->stride;
	size_t n = (size_t)s->w * s->ch;

	memcpy(row, in, n);
	if (s->alpha)
		for (size_t i = 0; i < n; i += s->ch)
			if (row[i + s->ch - 1] == 0)
				memset(row + i, 0, s->ch - 1);
}

void png_shrink_row(struct png_shrink *s, const unsigned char *row)
{
	if (s->fx == 1 && s->fy == 1) {
		copy_row(s, row);
		return;
	}
	if (!s->alpha)
		add_columns(s->col, row, (size_t)s->w * s->ch);
	else if (s->ch == 2)
		sum_alpha(s->sum, row, s->w, s->fx, 2);
	else
		sum_rgba(s->sum, row, s->w, s->fx);
	if (++s->rows == s->fy)
		emit(s);
}

void png_shrink_finish(struct png_shrink *s)
{
	if (s->rows > 0)
		emit(s);
}
