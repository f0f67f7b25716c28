/*
 * resize.c - 8-bit separable resizing: a box shrink by a whole factor,
 * then a Lanczos3 (or triangle) filter (resize.h says when each).
 *
 * The work runs row by row into dst: for each output row, the vertical
 * filter over the input rows it needs (a whole row at a time, in blocks
 * of a fixed size that gcc -O2 vectorises), then the horizontal filter
 * along that one row (unrolled per channel count; SSE2 for RGB and
 * RGBA).  The vertical pass
 * goes first because it is the one that touches the wide rows, and it is
 * the one that vectorises.  Only the box shrink, when there is one, makes
 * an intermediate image (1/shrink^2 of the input).
 */
#include "resize.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define WBITS 14
#define WONE (1 << WBITS)
#define WHALF (1 << (WBITS - 1))

/* hpass3() and hpass4() where SSE2 takes their place: still compiled,
 * and their results are the same to the bit. */
#ifdef __SSE2__
#define SCALAR __attribute__((unused))
#else
#define SCALAR
#endif

/* Bytes after each row the horizontal pass reads (see hpass_sse2()). */
#define LINE_PAD 16

/* Elements per vectorised block: a constant trip count is what lets
 * gcc -O2 (its "very cheap" vectoriser) take the loops. */
#define BLOCK 32

/* The vectorised loops again for AVX2 (twice the lanes), picked at load
 * time on the machines that have it: 10-17% off a resize (bench).  Not
 * under ThreadSanitizer: the ifunc resolver runs at relocation, before
 * its runtime is up, and an instrumented one crashes there. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
	!defined(__SANITIZE_THREAD__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

void resize_plan(unsigned from, unsigned to, struct resize_axis *a)
{
	double f = (double)from / to;

	a->shrink = 1;
	if (f >= 4.0) {
		double k = floor(f / 2.0);

		a->shrink = k > RESIZE_MAX_SHRINK ? RESIZE_MAX_SHRINK : (unsigned)k;
	}
	a->filter = from == to ? RESIZE_COPY : RESIZE_LANCZOS3;
}

/* ---- filter weights ---- */

static double sinc(double x)
{
	if (x == 0.0)
		return 1.0;
	x *= M_PI;
	return sin(x) / x;
}

static double filter_at(enum resize_filter f, double x)
{
	x = fabs(x);
	if (f == RESIZE_TRIANGLE)
		return x < 1.0 ? 1.0 - x : 0.0;
	return x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0;
}

static double filter_support(enum resize_filter f)
{
	return f == RESIZE_TRIANGLE ? 1.0 : 3.0;
}

/* One axis's filter: output pixel i is the sum over t < taps of
 * w[i * taps + t] times input pixel start[i] + t, over WONE. */
struct kernel {
	unsigned out, taps;
	unsigned *start;
	int16_t *w;
};

static void kernel_release(struct kernel *k)
{
	free(k->start);
	free(k->w);
	memset(k, 0, sizeof(*k));
}

/* MagickCore's window for output i: input pixels [*lo, *hi), never
 * empty (the centre lies inside the n pixels, and the support is at
 * least one pixel).  The outputs span the input from off on. */
static void window(unsigned i, double off, double scale, double support,
		   unsigned n, long *lo, long *hi, double *centre)
{
	double c = off + (i + 0.5) * scale;

	*centre = c;
	*lo = (long)fmax(c - support + 0.5, 0.0);
	*hi = (long)fmin(c + support + 0.5, (double)n);
}

/*
 * Weights from n input pixels to out, the outputs spanning the len
 * pixels from off on (a box shrink leaves a last pixel that covers less
 * than its share; a decode at a reduced scale, a last one that covers
 * less than a whole pixel of the original; a crop, a window).
 */
static int kernel_make(struct kernel *k, enum resize_filter f, unsigned n,
		       double off, double len, unsigned out, struct err *e)
{
	double scale = len / out, fscale = fmax(scale, 1.0);
	double support = filter_support(f) * fscale;
	double *tmp = NULL;
	unsigned taps = 1;
	long lo, hi;
	double c;

	memset(k, 0, sizeof(*k));
	for (unsigned i = 0; i < out; i++) {
		window(i, off, scale, support, n, &lo, &hi, &c);
		if ((unsigned)(hi - lo) > taps)
			taps = (unsigned)(hi - lo);
	}
	k->out = out;
	k->taps = taps;
	k->start = malloc(out * sizeof(*k->start));
	k->w = calloc((size_t)out * taps, sizeof(*k->w));
	tmp = malloc(taps * sizeof(*tmp));
	if (k->start == NULL || k->w == NULL || tmp == NULL) {
		free(tmp);
		kernel_release(k);
		return err_set(e, ERR_BUSY, "out of memory for resize weights");
	}
	for (unsigned i = 0; i < out; i++) {
		unsigned m, big = 0, start;
		double sum = 0.0;
		long total = 0;
		int16_t *w;

		window(i, off, scale, support, n, &lo, &hi, &c);
		m = (unsigned)(hi - lo);
		for (unsigned j = 0; j < m; j++) {
			tmp[j] = filter_at(f, (lo + j + 0.5 - c) / fscale);
			sum += tmp[j];
			if (tmp[j] > tmp[big])
				big = j;
		}
		/* The window slides inwards at the edges so that every
		 * output pixel reads taps pixels; the extra ones weigh 0. */
		start = (unsigned)lo + taps > n ? n - taps : (unsigned)lo;
		k->start[i] = start;
		w = k->w + (size_t)i * taps + ((unsigned)lo - start);
		for (unsigned j = 0; j < m; j++) {
			double v = sum != 0.0 ? tmp[j] / sum * WONE
					      : (j == big ? WONE : 0);

			v = fmin(fmax(round(v), INT16_MIN), INT16_MAX);
			w[j] = (int16_t)v;
			total += w[j];
		}
		/* Rounding must not brighten or darken a flat area. */
		w[big] = (int16_t)(w[big] + (WONE - total));
	}
	free(tmp);
	return 0;
}

/* ---- premultiplied alpha ---- */

/* v / 255 rounded, exact for v <= 255 * 255. */
static inline unsigned div255(unsigned v)
{
	v += 128;
	return (v + (v >> 8)) >> 8;
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* An RGBA pixel read as a little-endian word (alpha the top byte),
 * premultiplied two channels per multiply: red and blue in the two
 * 16-bit halves, then green.  Each half holds at most 255 * 255 + 128 +
 * 254 after the rounding, so nothing carries into its neighbour, and the
 * result is exactly div255() of each channel. */
static inline uint32_t premultiply_px(uint32_t p)
{
	uint32_t a = p >> 24;
	uint32_t rb = (p & 0x00FF00FFu) * a + 0x00800080u;
	uint32_t g = ((p >> 8) & 0xFFu) * a + 0x80u;

	rb = ((rb + ((rb >> 8) & 0x00FF00FFu)) >> 8) & 0x00FF00FFu;
	g = ((g + (g >> 8)) >> 8) & 0xFFu;
	return rb | g << 8 | a << 24;
}
#endif

/* Premultiplies a row of grey and alpha (n = 2) or RGBA (n = 4). */
static void premultiply_row(const unsigned char *restrict in,
			    unsigned char *restrict out, unsigned width,
			    unsigned n)
{
	if (n == 2) {
		for (unsigned x = 0; x < width; x++, in += 2, out += 2) {
			out[0] = (unsigned char)div255(in[0] * in[1]);
			out[1] = in[1];
		}
		return;
	}
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (; width >= 8; width -= 8, in += 32, out += 32) {
		uint32_t p[8];

		memcpy(p, in, sizeof(p));
		for (unsigned j = 0; j < 8; j++)
			p[j] = premultiply_px(p[j]);
		memcpy(out, p, sizeof(p));
	}
#endif
	for (unsigned x = 0; x < width; x++, in += 4, out += 4) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		uint32_t p;

		memcpy(&p, in, 4);
		p = premultiply_px(p);
		memcpy(out, &p, 4);
#else
		unsigned a = in[3];

		out[0] = (unsigned char)div255(in[0] * a);
		out[1] = (unsigned char)div255(in[1] * a);
		out[2] = (unsigned char)div255(in[2] * a);
		out[3] = (unsigned char)a;
#endif
	}
}

/* recip[a] = 255 / a in 16.16 fixed point, for un-premultiplying. */
static void recip_table(uint32_t recip[256])
{
	recip[0] = 0;
	for (unsigned a = 1; a < 256; a++)
		recip[a] = ((255u << 16) + a / 2) / a;
}

/* 255 v / a, rounded, at most 255 (a filter's overshoot can leave a
 * colour above its alpha). */
static inline unsigned char unpremultiply(unsigned v, uint32_t recip)
{
	uint32_t r = (v * recip + 0x8000) >> 16;

	return (unsigned char)(r > 255 ? 255 : r);
}

static void unpremultiply_row(unsigned char *p, unsigned width, unsigned n,
			      const uint32_t recip[256])
{
	if (n == 2) {
		for (unsigned x = 0; x < width; x++, p += 2)
			if (p[1] != 255)
				p[0] = unpremultiply(p[0], recip[p[1]]);
		return;
	}
	for (unsigned x = 0; x < width; x++, p += 4) {
		uint32_t r = recip[p[3]];

		if (p[3] == 255)
			continue;
		p[0] = unpremultiply(p[0], r);
		p[1] = unpremultiply(p[1], r);
		p[2] = unpremultiply(p[2], r);
	}
}

/* ---- the rows a pass reads ---- */

/*
 * Input rows for a pass: straight from the image, or premultiplied on
 * the way, each row once, into a ring of `ring` rows (the vertical
 * filter's window moves down and never back, so a ring as deep as the
 * window holds every row it reads at a time).
 */
struct rows {
	const struct pixels *img;
	int premultiply;
	unsigned ring;
	unsigned char *buf; /* ring rows of img->width * channels */
	long *held;         /* the row each ring slot holds, or -1 */
};

static int rows_init(struct rows *r, const struct pixels *img,
		     int premultiply, unsigned ring, struct err *e)
{
	memset(r, 0, sizeof(*r));
	r->img = img;
	r->premultiply = premultiply;
	if (!premultiply)
		return 0;
	r->ring = ring;
	r->buf = malloc((size_t)ring * img->width * img->channels);
	r->held = malloc(ring * sizeof(*r->held));
	if (r->buf == NULL || r->held == NULL) {
		free(r->buf);
		free(r->held);
		return err_set(e, ERR_BUSY, "out of memory for resize rows");
	}
	for (unsigned i = 0; i < ring; i++)
		r->held[i] = -1;
	return 0;
}

static void rows_release(struct rows *r)
{
	free(r->buf);
	free(r->held);
}

/* True when every pixel of the row has alpha 255 (alpha is last); it
 * stops at the first 16 pixels that have not. */
static int row_opaque(const unsigned char *in, unsigned width, unsigned n)
{
	unsigned a = 255, x = 0;

	in += n - 1;
	while (x < width && a == 255) {
		unsigned end = width - x < 16 ? width : x + 16;

		for (; x < end; x++, in += n)
			a &= *in;
	}
	return a == 255;
}

static const unsigned char *rows_get(struct rows *r, unsigned y)
{
	const struct pixels *p = r->img;
	const unsigned char *in = p->data + y * p->stride;
	unsigned slot;
	unsigned char *out;

	/* An opaque row is its own premultiplied form: most images with an
	 * alpha channel have many, and premultiplying costs more than the
	 * look. */
	if (!r->premultiply || row_opaque(in, p->width, p->channels))
		return in;
	slot = y % r->ring;
	out = r->buf + (size_t)slot * p->width * p->channels;
	if (r->held[slot] != (long)y) {
		premultiply_row(in, out, p->width, p->channels);
		r->held[slot] = y;
	}
	return out;
}

/* ---- box shrink ---- */

/* acc[i] += row[i] for i < len, a block at a time. */
CLONES static void add_row(uint16_t *restrict acc,
			   const unsigned char *restrict row, size_t len)
{
	size_t i = 0;

	for (; i + BLOCK <= len; i += BLOCK)
		for (unsigned j = 0; j < BLOCK; j++)
			acc[i + j] = (uint16_t)(acc[i + j] + row[i + j]);
	for (; i < len; i++)
		acc[i] = (uint16_t)(acc[i] + row[i]);
}

/* Rounded division of a box's sum by its count n by a multiply: with
 * 44 bits the result is exact for every n up to 2^16 (and sums up to
 * 255 n), and the product fits in 64 bits. */
struct divider {
	unsigned n;
	uint64_t mul;
};

static void divider_set(struct divider *d, unsigned n)
{
	d->n = n;
	d->mul = ((UINT64_C(1) << 44) + 2 * n - 1) / (2 * n);
}

static inline unsigned char divide(const struct divider *d, uint32_t sum)
{
	return (unsigned char)(((uint64_t)(2 * sum + d->n) * d->mul) >> 44);
}

/*
 * Sums groups of kx pixels of the summed row acc into out, each divided
 * by its count; one function per channel count, as for hpass*() below.
 */
static void box_row1(const uint16_t *acc, unsigned char *out, unsigned in_w,
		     unsigned out_w, unsigned kx, const struct divider *full,
		     const struct divider *part)
{
	for (unsigned x = 0; x < out_w; x++, acc += kx) {
		unsigned m = x * kx + kx > in_w ? in_w - x * kx : kx;
		uint32_t s0 = 0;

		for (unsigned i = 0; i < m; i++)
			s0 += acc[i];
		out[x] = divide(m == kx ? full : part, s0);
	}
}

static void box_row2(const uint16_t *acc, unsigned char *out, unsigned in_w,
		     unsigned out_w, unsigned kx, const struct divider *full,
		     const struct divider *part)
{
	for (unsigned x = 0; x < out_w; x++, acc += 2 * kx, out += 2) {
		unsigned m = x * kx + kx > in_w ? in_w - x * kx : kx;
		const struct divider *d = m == kx ? full : part;
		uint32_t s0 = 0, s1 = 0;

		for (unsigned i = 0; i < 2 * m; i += 2)
			s0 += acc[i], s1 += acc[i + 1];
		out[0] = divide(d, s0);
		out[1] = divide(d, s1);
	}
}

static void box_row3(const uint16_t *acc, unsigned char *out, unsigned in_w,
		     unsigned out_w, unsigned kx, const struct divider *full,
		     const struct divider *part)
{
	for (unsigned x = 0; x < out_w; x++, acc += 3 * kx, out += 3) {
		unsigned m = x * kx + kx > in_w ? in_w - x * kx : kx;
		const struct divider *d = m == kx ? full : part;
		uint32_t s0 = 0, s1 = 0, s2 = 0;

		for (unsigned i = 0; i < 3 * m; i += 3)
			s0 += acc[i], s1 += acc[i + 1], s2 += acc[i + 2];
		out[0] = divide(d, s0);
		out[1] = divide(d, s1);
		out[2] = divide(d, s2);
	}
}

static void box_row4(const uint16_t *acc, unsigned char *out, unsigned in_w,
		     unsigned out_w, unsigned kx, const struct divider *full,
		     const struct divider *part)
{
	for (unsigned x = 0; x < out_w; x++, acc += 4 * kx, out += 4) {
		unsigned m = x * kx + kx > in_w ? in_w - x * kx : kx;
		const struct divider *d = m == kx ? full : part;
		uint32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;

		for (unsigned i = 0; i < 4 * m; i += 4) {
			s0 += acc[i], s1 += acc[i + 1];
			s2 += acc[i + 2], s3 += acc[i + 3];
		}
		out[0] = divide(d, s0);
		out[1] = divide(d, s1);
		out[2] = divide(d, s2);
		out[3] = divide(d, s3);
	}
}

static void box_row(const uint16_t *acc, unsigned char *out, unsigned in_w,
		    unsigned out_w, unsigned kx, const struct divider *full,
		    const struct divider *part, unsigned n)
{
	switch (n) {
	case 1: box_row1(acc, out, in_w, out_w, kx, full, part); break;
	case 2: box_row2(acc, out, in_w, out_w, kx, full, part); break;
	case 3: box_row3(acc, out, in_w, out_w, kx, full, part); break;
	default: box_row4(acc, out, in_w, out_w, kx, full, part); break;
	}
}

/*
 * Each pixel of *out the rounded mean of a kx x ky block of the input
 * (blocks at the right and bottom edges may be cut short).  The input's
 * rows come through r (premultiplied there if need be).
 */
static int box_shrink(struct rows *r, unsigned kx, unsigned ky,
		      struct pixels *out, struct err *e)
{
	const struct pixels *in = r->img;
	unsigned n = in->channels;
	unsigned ow = (in->width + kx - 1) / kx, oh = (in->height + ky - 1) / ky;
	size_t len = (size_t)in->width * n;
	uint16_t *acc = malloc(len * sizeof(*acc));

	if (acc == NULL || pixels_alloc(out, ow, oh, n, e) < 0) {
		free(acc);
		return acc == NULL ? err_set(e, ERR_BUSY, "out of memory "
					     "for the box shrink") : -1;
	}
	for (unsigned y = 0; y < oh; y++) {
		unsigned y0 = y * ky, y1 = y0 + ky > in->height ? in->height
							       : y0 + ky;
		unsigned rows = y1 - y0, last = in->width - (ow - 1) * kx;
		struct divider full, part;

		divider_set(&full, rows * kx);
		divider_set(&part, rows * last);
		memset(acc, 0, len * sizeof(*acc));
		for (unsigned yy = y0; yy < y1; yy++)
			add_row(acc, rows_get(r, yy), len);
		box_row(acc, out->data + y * out->stride, in->width, ow, kx,
			&full, &part, n);
	}
	free(acc);
	return 0;
}

/* ---- the filters ---- */

static inline unsigned char clamp8(int32_t v)
{
	v >>= WBITS;
	return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* out[i] = sum over t of w[t] * rows[t][i], for BLOCK elements from i0. */
static inline void vblock(const unsigned char *const *rows, const int16_t *w,
			  unsigned taps, size_t i0, unsigned char *restrict out)
{
	int32_t acc[BLOCK];

	for (unsigned j = 0; j < BLOCK; j++)
		acc[j] = WHALF;
	for (unsigned t = 0; t < taps; t++) {
		const unsigned char *restrict r = rows[t] + i0;
		int32_t wt = w[t];

		for (unsigned j = 0; j < BLOCK; j++)
			acc[j] += wt * r[j];
	}
	for (unsigned j = 0; j < BLOCK; j++)
		out[i0 + j] = clamp8(acc[j]);
}

CLONES static void vpass(const unsigned char *const *rows, const int16_t *w,
		  unsigned taps, size_t len, unsigned char *restrict out)
{
	size_t i = 0;

	for (; i + BLOCK <= len; i += BLOCK)
		vblock(rows, w, taps, i, out);
	for (; i < len; i++) {
		int32_t acc = WHALF;

		for (unsigned t = 0; t < taps; t++)
			acc += w[t] * rows[t][i];
		out[i] = clamp8(acc);
	}
}

/*
 * The horizontal filter along one row, one function per channel count
 * with the channels in named accumulators: written as loops over the
 * channels, gcc -O2 keeps the sums in memory.
 */
static void hpass1(const unsigned char *restrict in, unsigned char *restrict out,
		   const struct kernel *k)
{
	const int16_t *w = k->w;

	for (unsigned x = 0; x < k->out; x++, w += k->taps) {
		const unsigned char *p = in + k->start[x];
		int32_t a = WHALF;

		for (unsigned t = 0; t < k->taps; t++)
			a += w[t] * p[t];
		out[x] = clamp8(a);
	}
}

static void hpass2(const unsigned char *restrict in, unsigned char *restrict out,
		   const struct kernel *k)
{
	const int16_t *w = k->w;

	for (unsigned x = 0; x < k->out; x++, w += k->taps, out += 2) {
		const unsigned char *p = in + (size_t)k->start[x] * 2;
		int32_t a0 = WHALF, a1 = WHALF;

		for (unsigned t = 0; t < k->taps; t++, p += 2) {
			a0 += w[t] * p[0];
			a1 += w[t] * p[1];
		}
		out[0] = clamp8(a0);
		out[1] = clamp8(a1);
	}
}

SCALAR static void hpass3(const unsigned char *restrict in,
			  unsigned char *restrict out, const struct kernel *k)
{
	const int16_t *w = k->w;

	for (unsigned x = 0; x < k->out; x++, w += k->taps, out += 3) {
		const unsigned char *p = in + (size_t)k->start[x] * 3;
		int32_t a0 = WHALF, a1 = WHALF, a2 = WHALF;

		for (unsigned t = 0; t < k->taps; t++, p += 3) {
			a0 += w[t] * p[0];
			a1 += w[t] * p[1];
			a2 += w[t] * p[2];
		}
		out[0] = clamp8(a0);
		out[1] = clamp8(a1);
		out[2] = clamp8(a2);
	}
}

SCALAR static void hpass4(const unsigned char *restrict in,
			  unsigned char *restrict out, const struct kernel *k)
{
	const int16_t *w = k->w;

	for (unsigned x = 0; x < k->out; x++, w += k->taps, out += 4) {
		const unsigned char *p = in + (size_t)k->start[x] * 4;
		int32_t a0 = WHALF, a1 = WHALF, a2 = WHALF, a3 = WHALF;

		for (unsigned t = 0; t < k->taps; t++, p += 4) {
			a0 += w[t] * p[0];
			a1 += w[t] * p[1];
			a2 += w[t] * p[2];
			a3 += w[t] * p[3];
		}
		out[0] = clamp8(a0);
		out[1] = clamp8(a1);
		out[2] = clamp8(a2);
		out[3] = clamp8(a3);
	}
}

#ifdef __SSE2__
/*
 * With SSE2 (every x86-64), RGB and RGBA take two taps per multiply: the
 * channels of two neighbouring pixels interleaved as 16-bit pairs, and
 * pmaddwd sums each pair times (w0, w1) into a 32-bit lane per channel.
 * A third of the scalar version's instructions.  RGB reads up to 2 bytes
 * past a window's last pixel: the rows it reads have that much to spare
 * (LINE_PAD).
 */
static inline __attribute__((always_inline)) __m128i
taps2(const unsigned char *p, const unsigned n, const int16_t *w)
{
	__m128i x = _mm_loadl_epi64((const __m128i *)(const void *)p);
	__m128i y = n == 3 ? _mm_srli_si128(x, 3) : _mm_srli_si128(x, 4);
	__m128i z = _mm_unpacklo_epi8(_mm_unpacklo_epi8(x, y),
				      _mm_setzero_si128());
	uint32_t w01 = (uint16_t)w[0] | (uint32_t)(uint16_t)w[1] << 16;

	return _mm_madd_epi16(z, _mm_set1_epi32((int32_t)w01));
}

static inline __attribute__((always_inline)) __m128i
tap1(const unsigned char *p, const int16_t *w)
{
	int32_t v;
	__m128i z;

	memcpy(&v, p, 4);
	z = _mm_unpacklo_epi8(_mm_cvtsi32_si128(v), _mm_setzero_si128());
	z = _mm_unpacklo_epi16(z, _mm_setzero_si128());
	return _mm_madd_epi16(z, _mm_set1_epi32((uint16_t)w[0]));
}

static inline __attribute__((always_inline)) void
hpass_sse2(const unsigned char *restrict in, unsigned char *restrict out,
	   const struct kernel *k, const unsigned n)
{
	const int16_t *w = k->w;
	unsigned taps = k->taps;

	for (unsigned x = 0; x < k->out; x++, w += taps, out += n) {
		const unsigned char *p = in + (size_t)k->start[x] * n;
		__m128i acc = _mm_set1_epi32(WHALF);
		unsigned t = 0;
		int32_t v;

		for (; t + 1 < taps; t += 2, p += 2 * n)
			acc = _mm_add_epi32(acc, taps2(p, n, w + t));
		if (t < taps)
			acc = _mm_add_epi32(acc, tap1(p, w + t));
		acc = _mm_srai_epi32(acc, WBITS);
		acc = _mm_packs_epi32(acc, acc);
		v = _mm_cvtsi128_si32(_mm_packus_epi16(acc, acc));
		memcpy(out, &v, n);
	}
}
#endif

static void hpass(const unsigned char *in, unsigned char *out,
		  const struct kernel *k, unsigned n)
{
	switch (n) {
	case 1: hpass1(in, out, k); break;
	case 2: hpass2(in, out, k); break;
#ifdef __SSE2__
	case 3: hpass_sse2(in, out, k, 3); break;
	default: hpass_sse2(in, out, k, 4); break;
#else
	case 3: hpass3(in, out, k); break;
	default: hpass4(in, out, k); break;
#endif
	}
}

/* ---- the whole ---- */

static int plan_ok(unsigned from, unsigned to, const struct resize_axis *a)
{
	if (a->shrink < 1 || a->shrink > RESIZE_MAX_SHRINK || a->shrink > from)
		return 0;
	if (a->filter == RESIZE_COPY)
		return from == (size_t)to * a->shrink;
	return a->filter == RESIZE_TRIANGLE || a->filter == RESIZE_LANCZOS3;
}

/* Filters in (already shrunk, premultiplied through r if need be) into
 * out, one output row at a time. */
static int filter(struct rows *r, const struct kernel *kx,
		  const struct kernel *ky, struct pixels *out, struct err *e)
{
	const struct pixels *in = r->img;
	unsigned n = in->channels;
	size_t len = (size_t)in->width * n;
	const unsigned char **rows = NULL;
	unsigned char *line = NULL;
	int rc = -1;

	if (ky->out != 0)
		rows = malloc(ky->taps * sizeof(*rows));
	if (kx->out != 0)
		line = malloc(len + LINE_PAD);
	if ((ky->out != 0 && rows == NULL) || (kx->out != 0 && line == NULL)) {
		err_set(e, ERR_BUSY, "out of memory for resize rows");
		goto out;
	}
	for (unsigned y = 0; y < out->height; y++) {
		unsigned char *o = out->data + y * out->stride;
		/* Without a horizontal pass, the vertical one writes out. */
		unsigned char *v = kx->out != 0 ? line : o;
		const unsigned char *src;

		if (ky->out != 0) {
			for (unsigned t = 0; t < ky->taps; t++)
				rows[t] = rows_get(r, ky->start[y] + t);
			vpass(rows, ky->w + (size_t)y * ky->taps, ky->taps, len, v);
			src = v;
		} else {
			src = rows_get(r, y);
			/* The horizontal pass reads past a row's end, which
			 * an input row (the last one) may not have. */
			if (kx->out != 0) {
				memcpy(line, src, len);
				src = line;
			}
		}
		if (kx->out != 0)
			hpass(src, o, kx, n);
		else if (src != o)
			memcpy(o, src, len);
	}
	rc = 0;
out:
	free(rows);
	free(line);
	return rc;
}

static void copy_pixels(const struct pixels *s, struct pixels *d)
{
	size_t len = (size_t)s->width * s->channels;

	for (unsigned y = 0; y < s->height; y++)
		memcpy(d->data + y * d->stride, s->data + y * s->stride, len);
}

/* The resize of the window win (x, y, width, height, in src's pixels)
 * of src to w x h, as plan says. */
static int resize_core(const struct pixels *src, const double win[4],
		       unsigned w, unsigned h, const struct resize_axis plan[2],
		       struct pixels *dst, struct err *e)
{
	struct kernel kx = { 0 }, ky = { 0 };
	struct pixels shrunk, out;
	struct rows rows = { 0 };
	const struct pixels *in = src;
	unsigned n = src->channels;
	int alpha = (n == 2 || n == 4) && !src->cmyk, rc = -1;

	if (src->data == NULL || src->width == 0 || src->height == 0 ||
	    n < 1 || n > 4 || w == 0 || h == 0)
		return err_set(e, ERR_INTERNAL, "cannot resize a %ux%u image "
			       "of %u channels to %ux%u", src->width,
			       src->height, n, w, h);
	if (plan == NULL || !plan_ok(src->width, w, &plan[0]) ||
	    !plan_ok(src->height, h, &plan[1]))
		return err_set(e, ERR_INTERNAL, "no such resize plan");
	pixels_init(&shrunk);
	pixels_init(&out);
	if (pixels_alloc(&out, w, h, n, e) < 0)
		return -1;
	out.cmyk = src->cmyk;
	if (plan[0].shrink > 1 || plan[1].shrink > 1) {
		/* Premultiplied as it is read: the shrunk image stays so. */
		if (rows_init(&rows, src, alpha, 1, e) < 0 ||
		    box_shrink(&rows, plan[0].shrink, plan[1].shrink, &shrunk, e) < 0)
			goto out;
		rows_release(&rows);
		memset(&rows, 0, sizeof(rows));
		in = &shrunk;
	}
	if ((plan[0].filter != RESIZE_COPY &&
	     kernel_make(&kx, plan[0].filter, in->width, win[0] / plan[0].shrink,
			 win[2] / plan[0].shrink, w, e) < 0) ||
	    (plan[1].filter != RESIZE_COPY &&
	     kernel_make(&ky, plan[1].filter, in->height, win[1] / plan[1].shrink,
			 win[3] / plan[1].shrink, h, e) < 0))
		goto out;
	if (kx.out == 0 && ky.out == 0 && in == src) {
		copy_pixels(src, &out);
	} else {
		if (rows_init(&rows, in, alpha && in == src,
			      ky.out != 0 ? ky.taps : 1, e) < 0 ||
		    filter(&rows, &kx, &ky, &out, e) < 0)
			goto out;
		if (alpha) {
			uint32_t recip[256];

			recip_table(recip);
			for (unsigned y = 0; y < h; y++)
				unpremultiply_row(out.data + y * out.stride, w,
						  n, recip);
		}
	}
	pixels_move(dst, &out);
	rc = 0;
out:
	rows_release(&rows);
	kernel_release(&kx);
	kernel_release(&ky);
	pixels_release(&shrunk);
	pixels_release(&out);
	return rc;
}

int resize_pixels_plan(const struct pixels *src, unsigned w, unsigned h,
		       const struct resize_axis plan[2], struct pixels *dst,
		       struct err *e)
{
	const double win[4] = { 0, 0, src->width, src->height };

	return resize_core(src, win, w, h, plan, dst, e);
}

int resize_pixels_window(const struct pixels *src, double x, double y,
			 double ww, double wh, unsigned w, unsigned h,
			 struct pixels *dst, struct err *e)
{
	const double win[4] = { x, y, ww, wh };
	struct resize_axis plan[2];

	if (src->width == 0 || src->height == 0 || w == 0 || h == 0 ||
	    !(x >= 0 && y >= 0 && ww > 0 && wh > 0 && x + ww <= src->width + 1e-6 &&
	      y + wh <= src->height + 1e-6))
		return err_set(e, ERR_INTERNAL, "no such resize window");
	resize_plan((unsigned)ceil(ww - 1e-9), w, &plan[0]);
	resize_plan((unsigned)ceil(wh - 1e-9), h, &plan[1]);
	/* A copy only of the whole image at its own size. */
	if (plan[0].filter == RESIZE_COPY && (x != 0 || ww != src->width))
		plan[0].filter = RESIZE_LANCZOS3;
	if (plan[1].filter == RESIZE_COPY && (y != 0 || wh != src->height))
		plan[1].filter = RESIZE_LANCZOS3;
	return resize_core(src, win, w, h, plan, dst, e);
}

int resize_pixels(const struct pixels *src, unsigned w, unsigned h,
		  struct pixels *dst, struct err *e)
{
	struct resize_axis plan[2];

	if (src->width == 0 || src->height == 0 || w == 0 || h == 0)
		return resize_pixels_plan(src, w, h, NULL, dst, e);
	resize_plan(src->width, w, &plan[0]);
	resize_plan(src->height, h, &plan[1]);
	return resize_pixels_plan(src, w, h, plan, dst, e);
}

/* A bound on the taps of a Lanczos3 kernel from `from` (after a shrink)
 * to `to`. */
static size_t taps_bound(double from, unsigned to)
{
	return (size_t)ceil(6.0 * fmax(from / to, 1.0)) + 2;
}

size_t resize_scratch_bytes(unsigned src_w, unsigned src_h,
			    unsigned channels, unsigned w, unsigned h)
{
	struct resize_axis ax, ay;
	size_t in_w, in_h, bytes = 0;

	if (src_w == 0 || src_h == 0 || w == 0 || h == 0)
		return 0;
	resize_plan(src_w, w, &ax);
	resize_plan(src_h, h, &ay);
	in_w = (src_w + ax.shrink - 1) / ax.shrink;
	in_h = (src_h + ay.shrink - 1) / ay.shrink;
	if (ax.shrink > 1 || ay.shrink > 1) /* sums, a row, the image */
		bytes += (size_t)src_w * channels * 3 + in_w * in_h * channels;
	/* The premultiplied ring (when there was no shrink), a line, the
	 * weights. */
	bytes += in_w * channels * (taps_bound((double)in_h, h) + 1);
	bytes += w * (taps_bound((double)in_w, w) * sizeof(int16_t) + sizeof(unsigned));
	bytes += h * (taps_bound((double)in_h, h) * sizeof(int16_t) + sizeof(unsigned));
	return bytes;
}
