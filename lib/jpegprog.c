/* jpegprog.c - a progressive JPEG at 1/8 scale from its DC scans alone. */
#include "jpegprog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LOOKUP 9 /* bits one table lookup decodes */

struct dctable {
	int set;
	uint16_t fast[1 << LOOKUP]; /* length << 8 | symbol; 0: longer code */
	int32_t maxcode[18];        /* largest code of each length; -1: none */
	int32_t valoff[18];
	uint8_t val[256];
};

struct comp {
	int id, h, v, tq, td;
	unsigned bw, bh;    /* the block grid, padded to whole MCUs */
	int32_t *dc;        /* bw * bh coefficients */
	int bit;            /* successive approximation: bits still to come;
			     * -1 before its first DC scan */
};

struct prog {
	const uint8_t *d;
	size_t len;
	unsigned width, height;
	int ncomp, hmax, vmax;
	unsigned mcux, mcuy;  /* MCUs across and down, interleaved */
	struct comp c[3];
	int32_t q0[4];        /* each quantisation table's DC step; 0: unset */
	struct dctable dct[4];
	unsigned restart;
	int adobe, adobe_transform;
};

/* ---- markers ---------------------------------------------------------- */

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* The offset of the next marker's 0xFF at or after at (fill bytes ending
 * on the marker byte), skipping entropy data; len if none. */
static size_t next_marker(const uint8_t *d, size_t len, size_t at)
{
	while (at < len) {
		const uint8_t *ff = memchr(d + at, 0xFF, len - at);
		size_t i;

		if (ff == NULL)
			return len;
		i = (size_t)(ff - d);
		while (i + 1 < len && d[i + 1] == 0xFF)
			i++; /* fill bytes */
		if (i + 1 >= len)
			return len;
		if (d[i + 1] != 0x00 && (d[i + 1] < 0xD0 || d[i + 1] > 0xD7))
			return i;
		at = i + 2;
	}
	return len;
}

static int build_table(struct dctable *t, const uint8_t *counts, const uint8_t *vals,
		       unsigned nvals)
{
	int32_t code = 0;
	unsigned k = 0;

	memset(t, 0, sizeof(*t));
	memcpy(t->val, vals, nvals);
	for (int l = 1; l <= 16; l++) {
		t->valoff[l] = (int32_t)k - code;
		for (unsigned i = 0; i < counts[l - 1]; i++, k++, code++) {
			if (code >= (1 << l))
				return -1; /* more codes than the length holds */
			if (l <= LOOKUP) {
				unsigned first = (unsigned)code << (LOOKUP - l);
				for (unsigned j = 0; j < 1u << (LOOKUP - l); j++)
					t->fast[first + j] = (uint16_t)(l << 8 | vals[k]);
			}
		}
		t->maxcode[l] = counts[l - 1] ? code - 1 : -1;
		code <<= 1;
	}
	t->maxcode[17] = 0x7fffffff;
	t->set = 1;
	return 0;
}

static int read_dht(struct prog *p, const uint8_t *s, size_t n)
{
	while (n >= 17) {
		unsigned cls = s[0] >> 4, id = s[0] & 15, total = 0;

		for (int i = 1; i <= 16; i++)
			total += s[i];
		if (id > 3 || total > 256 || n < 17 + total)
			return -1;
		if (cls == 0 && build_table(&p->dct[id], s + 1, s + 17, total) < 0)
			return -1;
		s += 17 + total;
		n -= 17 + total;
	}
	return n == 0 ? 0 : -1;
}

static int read_dqt(struct prog *p, const uint8_t *s, size_t n)
{
	while (n >= 1) {
		unsigned prec = s[0] >> 4, id = s[0] & 15;
		size_t size = 1 + 64 * (prec ? 2 : 1);

		if (id > 3 || prec > 1 || n < size)
			return -1;
		p->q0[id] = prec ? (int32_t)be16(s + 1) : s[1];
		s += size;
		n -= size;
	}
	return 0;
}

static int read_sof(struct prog *p, const uint8_t *s, size_t n)
{
	if (n < 6 || s[0] != 8)
		return -1;
	p->height = be16(s + 1), p->width = be16(s + 3);
	p->ncomp = s[5];
	if (p->width == 0 || p->height == 0 || (p->ncomp != 1 && p->ncomp != 3) ||
	    n != 6 + 3u * (unsigned)p->ncomp)
		return -1;
	for (int i = 0; i < p->ncomp; i++) {
		struct comp *c = &p->c[i];

		c->id = s[6 + 3 * i];
		c->h = s[7 + 3 * i] >> 4, c->v = s[7 + 3 * i] & 15;
		c->tq = s[8 + 3 * i];
		c->bit = -1;
		if (c->h < 1 || c->h > 2 || c->v < 1 || c->v > 2 || c->tq > 3)
			return -1;
		p->hmax = c->h > p->hmax ? c->h : p->hmax;
		p->vmax = c->v > p->vmax ? c->v : p->vmax;
	}
	p->mcux = (p->width + 8u * p->hmax - 1) / (8u * p->hmax);
	p->mcuy = (p->height + 8u * p->vmax - 1) / (8u * p->vmax);
	for (int i = 0; i < p->ncomp; i++) {
		struct comp *c = &p->c[i];

		c->bw = p->mcux * c->h, c->bh = p->mcuy * c->v;
		c->dc = calloc((size_t)c->bw * c->bh, sizeof(*c->dc));
		if (c->dc == NULL)
			return -2;
	}
	return 0;
}

/* ---- entropy data ------------------------------------------------------ */

struct bits {
	const uint8_t *p, *end;
	uint32_t acc; /* valid bits at the top */
	int n;
	int marker;   /* the data ended at a marker */
	int overrun;  /* bits were asked for past it */
};

static void fill(struct bits *b)
{
	while (b->n <= 24) {
		unsigned c = 0;

		if (!b->marker && b->p < b->end) {
			c = *b->p;
			if (c != 0xFF) {
				b->p++;
			} else if (b->p + 1 < b->end && b->p[1] == 0x00) {
				b->p += 2;
			} else {
				b->marker = 1;
				c = 0;
			}
		} else {
			b->marker = 1;
		}
		b->acc |= (uint32_t)c << (24 - b->n);
		b->n += 8;
		if (b->marker && c == 0)
			b->overrun += 8;
	}
}

static unsigned get(struct bits *b, int n)
{
	unsigned v;

	if (n == 0)
		return 0;
	if (b->n < n)
		fill(b);
	v = b->acc >> (32 - n);
	b->acc <<= n;
	b->n -= n;
	return v;
}

/* The next Huffman symbol of t; -1 for a code no table has. */
static int symbol(struct bits *b, const struct dctable *t)
{
	unsigned peek, code;
	int l;

	if (b->n < 16)
		fill(b);
	peek = b->acc >> (32 - LOOKUP);
	if (t->fast[peek]) {
		l = t->fast[peek] >> 8;
		b->acc <<= l;
		b->n -= l;
		return t->fast[peek] & 0xff;
	}
	code = b->acc >> (32 - LOOKUP);
	for (l = LOOKUP + 1; l <= 16; l++) {
		code = b->acc >> (32 - l);
		if ((int32_t)code <= t->maxcode[l])
			break;
	}
	if (l > 16)
		return -1;
	b->acc <<= l;
	b->n -= l;
	return t->val[(t->valoff[l] + (int32_t)code) & 0xff];
}

static int32_t extend(unsigned v, int s)
{
	return s == 0 ? 0 : (v < (1u << (s - 1)) ? (int32_t)v - (1 << s) + 1 : (int32_t)v);
}

/* A scan's components, and where each MCU's blocks lie. */
struct scan {
	int n;
	struct comp *c[3];
	int ah, al;
};

/* One block of a first DC scan (ah == 0) or a refinement. */
static int dc_block(struct bits *b, const struct scan *s, struct comp *c,
		    int32_t *pred, unsigned bx, unsigned by, const struct prog *p)
{
	int32_t *coef = &c->dc[(size_t)by * c->bw + bx];

	if (s->ah == 0) {
		int sym = symbol(b, &p->dct[c->td]);

		if (sym < 0 || sym > 11)
			return -1;
		*pred += extend(get(b, sym), sym);
		*coef = *pred * (1 << s->al);
	} else if (get(b, 1)) {
		*coef |= 1 << s->al;
	}
	return 0;
}

/* At a restart: what is left of the byte is padding, and the next marker
 * must be the expected RSTn. */
static int restart(struct bits *b, unsigned *next_rst)
{
	const uint8_t *ff = b->p;

	while (ff + 1 < b->end && !(ff[0] == 0xFF && ff[1] != 0x00 && ff[1] != 0xFF))
		ff++;
	if (ff + 1 >= b->end || ff[1] != 0xD0 + (*next_rst & 7))
		return -1;
	b->p = ff + 2;
	b->acc = 0, b->n = 0;
	b->marker = 0, b->overrun = 0;
	*next_rst += 1;
	return 0;
}

/* Decodes a DC scan whose data starts at *at; *at becomes its end. */
static int dc_scan(struct prog *p, const struct scan *s, size_t *at)
{
	struct bits b = { p->d + *at, p->d + p->len, 0, 0, 0, 0 };
	int32_t pred[3] = { 0, 0, 0 };
	unsigned mx, my, done = 0, rst = 0;
	unsigned bw = s->n == 1 ? (p->width * (unsigned)s->c[0]->h + 8u * p->hmax - 1) / (8u * p->hmax) : p->mcux;
	unsigned bh = s->n == 1 ? (p->height * (unsigned)s->c[0]->v + 8u * p->vmax - 1) / (8u * p->vmax) : p->mcuy;

	for (my = 0; my < bh; my++) {
		for (mx = 0; mx < bw; mx++, done++) {
			if (p->restart && done && done % p->restart == 0) {
				if (restart(&b, &rst) < 0)
					return -1;
				memset(pred, 0, sizeof(pred));
			}
			if (s->n == 1) { /* one block per MCU, the component's grid */
				if (dc_block(&b, s, s->c[0], &pred[0], mx, my, p) < 0)
					return -1;
				continue;
			}
			for (int k = 0; k < s->n; k++) {
				struct comp *c = s->c[k];
				for (int y = 0; y < c->v; y++)
					for (int x = 0; x < c->h; x++)
						if (dc_block(&b, s, c, &pred[k],
							     mx * (unsigned)c->h + (unsigned)x,
							     my * (unsigned)c->v + (unsigned)y,
							     p) < 0)
							return -1;
			}
		}
	}
	/* Bits asked for past the data: it ended early. */
	if (b.overrun > b.n)
		return -1;
	*at = next_marker(p->d, p->len, (size_t)(b.p - p->d));
	return 0;
}

/* Reads an SOS header into *s; a DC scan is decoded, any other skipped. */
static int sos(struct prog *p, const uint8_t *h, size_t n, size_t *at)
{
	struct scan s = { 0 };
	int ss, se;

	if (n < 1 || h[0] < 1 || h[0] > 3 || n != 4 + 2u * h[0])
		return -1;
	s.n = h[0];
	for (int k = 0; k < s.n; k++) {
		int id = h[1 + 2 * k], i;

		for (i = 0; i < p->ncomp && p->c[i].id != id; i++)
			;
		if (i == p->ncomp)
			return -1;
		s.c[k] = &p->c[i];
		s.c[k]->td = h[2 + 2 * k] >> 4;
	}
	ss = h[1 + 2 * s.n], se = h[2 + 2 * s.n];
	s.ah = h[3 + 2 * s.n] >> 4, s.al = h[3 + 2 * s.n] & 15;
	if (ss != 0) { /* AC: not needed at 1/8 */
		*at = next_marker(p->d, p->len, *at);
		return 0;
	}
	if (se != 0 || s.al > 13)
		return -1;
	for (int k = 0; k < s.n; k++) {
		struct comp *c = s.c[k];

		if (s.ah == 0 ? c->bit != -1 : c->bit != s.ah || s.al != s.ah - 1)
			return -1; /* out of order: libjpeg's to judge */
		if (s.ah == 0 && (c->td > 3 || !p->dct[c->td].set))
			return -1;
	}
	if (dc_scan(p, &s, at) < 0)
		return -1;
	for (int k = 0; k < s.n; k++)
		s.c[k]->bit = s.al;
	return 0;
}

static int dc_complete(const struct prog *p)
{
	for (int i = 0; i < p->ncomp; i++)
		if (p->c[i].bit != 0)
			return 0;
	return 1;
}

/* Walks the markers; returns 0 when every DC is complete, 1 to decline,
 * -1 when stopped, -2 out of memory. */
static int walk(struct prog *p, int (*stop)(void *arg), void *arg)
{
	size_t at = 2;
	int sof = 0;

	while (at + 4 <= p->len) {
		unsigned m, n;
		const uint8_t *s;

		if (p->d[at] != 0xFF)
			return 1;
		while (at + 1 < p->len && p->d[at + 1] == 0xFF)
			at++;
		if (at + 4 > p->len)
			return 1;
		m = p->d[at + 1];
		if (m == 0xD9)
			return 1; /* the end before every DC */
		n = be16(p->d + at + 2);
		if (n < 2 || at + 2 + n > p->len)
			return 1;
		s = p->d + at + 4;
		at += 2 + n;
		n -= 2;
		if (m == 0xC2) {
			int rc = sof ? -1 : read_sof(p, s, n);
			if (rc == -2)
				return -2;
			if (rc < 0)
				return 1;
			sof = 1;
		} else if ((m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xCC) ||
			   m == 0xCC) {
			return 1; /* another frame type, or arithmetic coding */
		} else if (m == 0xC4) {
			if (read_dht(p, s, n) < 0)
				return 1;
		} else if (m == 0xDB) {
			if (read_dqt(p, s, n) < 0)
				return 1;
		} else if (m == 0xDD) {
			if (n != 2)
				return 1;
			p->restart = be16(s);
		} else if (m == 0xEE && n >= 12 && memcmp(s, "Adobe", 5) == 0) {
			p->adobe = 1;
			p->adobe_transform = s[11];
		} else if (m == 0xDA) {
			if (!sof || sos(p, s, n, &at) < 0)
				return 1;
			if (dc_complete(p))
				return 0;
			if (stop != NULL && stop(arg))
				return -1;
		}
	}
	return 1;
}

/* ---- pixels ------------------------------------------------------------- */

static uint8_t clamp(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* Component c at 1/8: one pixel a block, as libjpeg's 1x1 IDCT makes it,
 * into a bw x bh plane. */
static uint8_t *plane(const struct prog *p, const struct comp *c)
{
	uint8_t *out = malloc((size_t)c->bw * c->bh);
	int32_t q = p->q0[c->tq];

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < (size_t)c->bw * c->bh; i++)
		out[i] = clamp(((c->dc[i] * q + 4) >> 3) + 128);
	return out;
}

/* Component c's plane at full (luma) resolution, w x h: itself, or
 * upsampled 2x with libjpeg's triangle weights (3/4 and 1/4). */
static uint8_t *upsample(const struct prog *p, const struct comp *c,
			 uint8_t *src, unsigned w, unsigned h)
{
	int fx = p->hmax / c->h, fy = p->vmax / c->v;
	unsigned sw = c->bw, sh = c->bh;
	uint8_t *out;

	if (fx == 1 && fy == 1)
		return src;
	out = malloc((size_t)w * h);
	if (out == NULL) {
		free(src);
		return NULL;
	}
	for (unsigned y = 0; y < h; y++) {
		unsigned sy = y / (unsigned)fy, sy2 = sy;

		if (fy == 2)
			sy2 = (y & 1) ? (sy + 1 < sh ? sy + 1 : sy) : (sy ? sy - 1 : 0);
		for (unsigned x = 0; x < w; x++) {
			unsigned sx = x / (unsigned)fx, sx2 = sx;
			int a, bb, v;

			if (fx == 2)
				sx2 = (x & 1) ? (sx + 1 < sw ? sx + 1 : sx) : (sx ? sx - 1 : 0);
			a = 3 * src[(size_t)sy * sw + sx] + src[(size_t)sy * sw + sx2];
			bb = 3 * src[(size_t)sy2 * sw + sx] + src[(size_t)sy2 * sw + sx2];
			if (fx == 2 && fy == 2)
				v = (3 * a + bb + 8) >> 4;
			else if (fx == 2)
				v = (a + 2) >> 2;
			else
				v = (3 * src[(size_t)sy * sw + sx] + src[(size_t)sy2 * sw + sx] + 2) >> 2;
			out[(size_t)y * w + x] = (uint8_t)v;
		}
	}
	free(src);
	return out;
}

/* YCbCr to RGB as libjpeg-turbo's jdcolor.c does it (16-bit fixed point). */
#define FIX(x) ((int32_t)((x) * 65536.0 + 0.5))
static void ycc_rgb(uint8_t *rgb, int y, int cb, int cr)
{
	cb -= 128, cr -= 128;
	rgb[0] = clamp(y + (int)((FIX(1.40200) * cr + 32768) >> 16));
	rgb[1] = clamp(y + (int)((-FIX(0.34414) * cb - FIX(0.71414) * cr + 32768) >> 16));
	rgb[2] = clamp(y + (int)((FIX(1.77200) * cb + 32768) >> 16));
}

/* 3 components are RGB rather than YCbCr: libjpeg's rule. */
static int is_rgb(const struct prog *p)
{
	if (p->adobe)
		return p->adobe_transform == 0;
	return p->c[0].id == 'R' && p->c[1].id == 'G' && p->c[2].id == 'B';
}

static int to_pixels(const struct prog *p, struct pixels *out, struct err *e)
{
	unsigned w = (p->width + 7) / 8, h = (p->height + 7) / 8;
	unsigned fw = p->mcux * (unsigned)p->hmax, fh = p->mcuy * (unsigned)p->vmax;
	uint8_t *pl[3] = { NULL, NULL, NULL };
	int rc = -1, rgb = p->ncomp == 3 && is_rgb(p);

	for (int i = 0; i < p->ncomp; i++) {
		pl[i] = plane(p, &p->c[i]);
		if (pl[i] != NULL)
			pl[i] = upsample(p, &p->c[i], pl[i], fw, fh);
		if (pl[i] == NULL) {
			err_set(e, ERR_BUSY, "out of memory");
			goto out;
		}
	}
	if (pixels_alloc(out, w, h, p->ncomp == 1 ? 1 : 3, e) < 0)
		goto out;
	for (unsigned y = 0; y < h; y++) {
		uint8_t *row = out->data + y * out->stride;

		for (unsigned x = 0; x < w; x++) {
			size_t i = (size_t)y * fw + x;

			if (p->ncomp == 1)
				row[x] = pl[0][i];
			else if (rgb)
				row[3 * x] = pl[0][i], row[3 * x + 1] = pl[1][i],
				row[3 * x + 2] = pl[2][i];
			else
				ycc_rgb(row + 3 * x, pl[0][i], pl[1][i], pl[2][i]);
		}
	}
	rc = 0;
out:
	for (int i = 0; i < 3; i++)
		free(pl[i]);
	return rc;
}

size_t jpegprog_frame(const unsigned char *data, size_t len)
{
	size_t at = 2;

	while (at + 4 <= len && data[at] == 0xFF) {
		unsigned m = data[at + 1];

		if (m == 0xFF) {
			at++;
			continue;
		}
		if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC)
			return at;
		if (m == 0xDA || m == 0xD9)
			return 0;
		at += 2 + be16(data + at + 2);
	}
	return 0;
}

int jpegprog_is_progressive(const unsigned char *data, size_t len)
{
	size_t at = jpegprog_frame(data, len);

	return at != 0 && data[at + 1] == 0xC2;
}

int jpegprog_decode(const unsigned char *data, size_t len,
		    int (*stop)(void *arg), void *arg, struct pixels *out,
		    unsigned *h, unsigned *v, struct err *e)
{
	struct prog *p = calloc(1, sizeof(*p));
	int rc;

	if (p == NULL)
		return err_set(e, ERR_BUSY, "out of memory");
	p->d = data, p->len = len;
	rc = walk(p, stop, arg);
	if (rc == 0) {
		for (int i = 0; i < p->ncomp; i++)
			if (p->q0[p->c[i].tq] == 0)
				rc = 1; /* a quantisation table never given */
	}
	if (rc == 0 && p->ncomp == 3)
		*h = (unsigned)p->c[0].h, *v = (unsigned)p->c[0].v;
	if (rc == 0 && to_pixels(p, out, e) < 0)
		rc = -1;
	else if (rc == -1)
		err_set(e, ERR_UNPROCESSABLE, "decode stopped: over time");
	else if (rc == -2)
		rc = err_set(e, ERR_BUSY, "out of memory");
	for (int i = 0; i < 3; i++)
		free(p->c[i].dc);
	free(p);
	return rc;
}
