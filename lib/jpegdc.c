/* jpegdc.c - a baseline JPEG at 1/8 scale from its DC coefficients. */
#include "jpegdc.h"
#include "jpegdc_int.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdlib.h>

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
int jpegdc_idct_2x2_dc(const struct idct2 *p, int16_t dc, uint16_t q0,
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
	jpegdc_idct_2x2_ac(blk, c->q, nz, &part);
	return jpegdc_idct_2x2_dc(&part, blk[0], c->q[0], out, c->stride);
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
		unsigned h = (unsigned)k[0].h_samp_factor;
		unsigned v = (unsigned)k[0].v_samp_factor;

		for (int c = 1; c < 3; c++)
			if (k[c].h_samp_factor != 1 || k[c].v_samp_factor != 1)
				return 1;
		if (h > 2 || v > 2)
			return 1;
		/*
		 * At 1/8 libjpeg-turbo gives each component one square IDCT
		 * size (jdmaster.c; it has no 2x1 IDCT): 2 for 4:2:0's
		 * chroma, whose 2x2 blocks are then full size; 1 for 4:2:2's
		 * and 4:4:0's, whose samples its box upsampling then repeats
		 * (jdsample.c: below 2/8 it never upsamples the fancy way).
		 */
		is420 = h == 2 && v == 2;
		j->mcus_x = (ci->image_width + 8 * h - 1) / (8 * h);
		j->mcus_y = (ci->image_height + 8 * v - 1) / (8 * v);
		j->comp[0].h = h;
		j->comp[0].v = v;
		j->comp[0].sz = 1;
		for (int c = 1; c < 3; c++) {
			j->comp[c].h = j->comp[c].v = 1;
			j->comp[c].sz = is420 ? 2 : 1;
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
		      const struct jpeg_decompress_struct *ci,
		      struct jpegdc_image *out)
{
	out->width = (ci->image_width + 7) / 8;
	out->height = (ci->image_height + 7) / 8;
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

int jpegdc_decode(const unsigned char *data, size_t len,
		  int (*stop)(void *arg), void *arg, struct jpegdc_image *out,
		  struct err *e)
{
	struct jpeg_decompress_struct ci;
	struct jerr je;
	struct job *j = NULL;
	int rc = 1;

	pthread_once(&tables_once, tables_init);
	jpegdc_busy(1);
	if (read_header(&ci, &je, data, len) != 0)
		goto out;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		goto oom;
	if (job_setup(j, &ci) != 0)
		goto out;
	if (planes_alloc(j) < 0)
		goto oom;
	rc = decode_planes(j, ci.src->next_input_byte, ci.src->bytes_in_buffer,
			   stop, arg, e);
	if (rc != 0)
		goto out;
	if (image_fill(j, &ci, out) < 0)
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
