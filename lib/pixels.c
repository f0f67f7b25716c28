/* pixels.c - an 8-bit image in memory: allocation, orientation, crop and
 * flattening of alpha. */
#include "pixels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void pixels_init(struct pixels *p)
{
	memset(p, 0, sizeof(*p));
}

size_t pixels_bytes(unsigned width, unsigned height, unsigned channels)
{
	size_t row = (size_t)width * channels;

	if (height != 0 && row > SIZE_MAX / height)
		return SIZE_MAX;
	return row * height;
}

int pixels_alloc(struct pixels *p, unsigned width, unsigned height,
		 unsigned channels, struct err *e)
{
	size_t n = pixels_bytes(width, height, channels);
	unsigned char *data;

	if (width == 0 || height == 0 || channels < 1 || channels > 4)
		return err_set(e, ERR_INTERNAL, "no %ux%u image of %u channels",
			       width, height, channels);
	if (n == SIZE_MAX)
		return err_set(e, ERR_UNPROCESSABLE,
			       "a %ux%u image does not fit in memory", width,
			       height);
	data = malloc(n);
	if (data == NULL)
		return err_set(e, ERR_BUSY, "out of memory for a %ux%u image",
			       width, height);
	pixels_release(p);
	p->width = width;
	p->height = height;
	p->channels = channels;
	p->stride = (size_t)width * channels;
	p->data = p->base = data;
	return 0;
}

void pixels_release(struct pixels *p)
{
	free(p->base);
	pixels_init(p);
}

void pixels_move(struct pixels *to, struct pixels *from)
{
	if (to == from)
		return;
	pixels_release(to);
	*to = *from;
	pixels_init(from);
}

/* Swaps two pixels of n bytes. */
static inline void swap_px(unsigned char *a, unsigned char *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned char t = a[i];

		a[i] = b[i];
		b[i] = t;
	}
}

/* Reverses the order of the pixels of each row (2: mirror). */
static void mirror(struct pixels *p)
{
	unsigned n = p->channels;

	for (unsigned y = 0; y < p->height; y++) {
		unsigned char *l = p->data + y * p->stride;
		unsigned char *r = l + (size_t)(p->width - 1) * n;

		for (; l < r; l += n, r -= n)
			swap_px(l, r, n);
	}
}

/* Reverses the order of the rows (4: flip). */
static void flip(struct pixels *p)
{
	size_t len = (size_t)p->width * p->channels;

	for (unsigned y = 0; y < p->height / 2; y++) {
		unsigned char *a = p->data + y * p->stride;
		unsigned char *b = p->data + (p->height - 1 - y) * p->stride;

		for (size_t i = 0; i < len; i++) {
			unsigned char t = a[i];

			a[i] = b[i];
			b[i] = t;
		}
	}
}

/* Output rows made per sweep along the source's rows: the sweep reads
 * this many neighbouring source pixels at a time, so each source cache
 * line is read once, not once per output row. */
#define TURN_BLOCK 16

/*
 * The quarter turns (5-8) as one walk: output pixel (x, y) is source pixel
 * (y, x) with the source's x reversed when flip_x is set and its y
 * reversed when flip_y is set.  5 (transpose) reverses neither; 6 (a
 * quarter clockwise) reverses y; 8 (anticlockwise) reverses x; 7
 * (transverse) both.
 */
static inline __attribute__((always_inline)) void
turn_n(const struct pixels *s, struct pixels *d, int flip_x, int flip_y,
       const unsigned n)
{
	for (unsigned y0 = 0; y0 < d->height; y0 += TURN_BLOCK) {
		unsigned rows = d->height - y0 < TURN_BLOCK ? d->height - y0
							    : TURN_BLOCK;

		for (unsigned x = 0; x < d->width; x++) {
			unsigned sy = flip_y ? s->height - 1 - x : x;
			const unsigned char *srow = s->data + sy * s->stride;
			unsigned char *o = d->data + (size_t)x * n;

			for (unsigned j = 0; j < rows; j++) {
				unsigned y = y0 + j;
				unsigned sx = flip_x ? s->width - 1 - y : y;

				memcpy(o + y * d->stride, srow + (size_t)sx * n, n);
			}
		}
	}
}

/* turn_n() with the pixel size a constant: a move, not a memcpy() call,
 * per pixel. */
static void turn(const struct pixels *s, struct pixels *d, int flip_x,
		 int flip_y)
{
	switch (s->channels) {
	case 1: turn_n(s, d, flip_x, flip_y, 1); break;
	case 2: turn_n(s, d, flip_x, flip_y, 2); break;
	case 3: turn_n(s, d, flip_x, flip_y, 3); break;
	default: turn_n(s, d, flip_x, flip_y, 4); break;
	}
}

int pixels_orient(struct pixels *p, int orientation, struct err *e)
{
	struct pixels d;

	switch (orientation) {
	case 2:
		mirror(p);
		return 0;
	case 3:
		mirror(p);
		flip(p);
		return 0;
	case 4:
		flip(p);
		return 0;
	case 5: case 6: case 7: case 8:
		break;
	default: /* 1, or not an orientation: as stored */
		return 0;
	}
	pixels_init(&d);
	if (pixels_alloc(&d, p->height, p->width, p->channels, e) < 0)
		return -1;
	d.cmyk = p->cmyk;
	turn(p, &d, orientation == 7 || orientation == 8,
	     orientation == 6 || orientation == 7);
	pixels_move(p, &d);
	return 0;
}

void pixels_crop(struct pixels *p, unsigned x, unsigned y, unsigned w,
		 unsigned h)
{
	/* Clamped to the image: a box beyond it must not reach past the
	 * allocation. */
	if (x > p->width)
		x = p->width;
	if (y > p->height)
		y = p->height;
	if (w > p->width - x)
		w = p->width - x;
	if (h > p->height - y)
		h = p->height - y;
	if (p->data != NULL)
		p->data += y * p->stride + (size_t)x * p->channels;
	p->width = w;
	p->height = h;
}

/* v / 255 rounded to nearest, exact for v <= 255 * 255 + 127. */
static inline unsigned div255(unsigned v)
{
	v += 128;
	return (v + (v >> 8)) >> 8;
}

/* One row of n-channel pixels (alpha last) onto bg, into c = n - 1
 * channels; out may be in (it trails the reads). */
static void flatten_row(const unsigned char *in, unsigned char *out,
			unsigned width, unsigned n, const unsigned char *bg)
{
	unsigned c = n - 1;

	for (unsigned x = 0; x < width; x++, in += n, out += c) {
		unsigned a = in[c];

		for (unsigned i = 0; i < c; i++)
			out[i] = (unsigned char)div255(in[i] * a +
						       bg[i] * (255 - a));
	}
}

/* Grey and alpha onto a colour background: each grey becomes an RGB. */
static void flatten_grey_row(const unsigned char *in, unsigned char *out,
			     unsigned width, const unsigned char *bg)
{
	for (unsigned x = 0; x < width; x++, in += 2, out += 3) {
		unsigned a = in[1];

		for (unsigned i = 0; i < 3; i++)
			out[i] = (unsigned char)div255(in[0] * a +
						       bg[i] * (255 - a));
	}
}

int pixels_flatten(struct pixels *p, const unsigned char rgb[3],
		   struct err *e)
{
	struct pixels d;

	if (p->cmyk)
		return err_set(e, ERR_INTERNAL, "a CMYK image has no alpha");
	if (p->channels == 4 ||
	    (p->channels == 2 && rgb[0] == rgb[1] && rgb[1] == rgb[2])) {
		for (unsigned y = 0; y < p->height; y++) {
			unsigned char *row = p->data + y * p->stride;

			flatten_row(row, row, p->width, p->channels, rgb);
		}
		p->channels--;
		return 0;
	}
	if (p->channels != 2)
		return 0;
	pixels_init(&d);
	if (pixels_alloc(&d, p->width, p->height, 3, e) < 0)
		return -1;
	for (unsigned y = 0; y < p->height; y++)
		flatten_grey_row(p->data + y * p->stride, d.data + y * d.stride,
				 p->width, rgb);
	pixels_move(p, &d);
	return 0;
}
