/* dec_png.c - PNG headers, checks and shrinking decodes, libpng. */
#include "dec_png.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#define ROWS_PER_STOP 64 /* rows decoded between two asks of stop() */

struct src {
	const unsigned char *data;
	size_t len, at;
	char msg[128];
};

static void on_error(png_structp p, png_const_charp what)
{
	struct src *s = png_get_error_ptr(p);

	snprintf(s->msg, sizeof(s->msg), "%s", what);
	png_longjmp(p, 1);
}

static void on_warning(png_structp p, png_const_charp what)
{
	(void)p, (void)what; /* benign: an ancillary chunk dropped */
}

static void from_memory(png_structp p, png_bytep out, png_size_t n)
{
	struct src *s = png_get_error_ptr(p);

	if (n > s->len - s->at)
		png_error(p, "file cut short");
	memcpy(out, s->data + s->at, n);
	s->at += n;
}

/* A reader over data; NULL when out of memory. */
static png_structp open_read(struct src *s, png_infop *info)
{
	png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, s,
					       on_error, on_warning);

	*info = NULL;
	if (p == NULL)
		return NULL;
	*info = png_create_info_struct(p);
	if (*info == NULL) {
		png_destroy_read_struct(&p, NULL, NULL);
		return NULL;
	}
	png_set_read_fn(p, NULL, from_memory);
	return p;
}

int dec_png_header(const unsigned char *data, size_t len, unsigned *w,
		   unsigned *h, char *msg, size_t size)
{
	struct src s = { data, len, 0, "" };
	png_infop info;
	png_structp p = open_read(&s, &info);

	if (p == NULL) {
		snprintf(msg, size, "out of memory");
		return -1;
	}
	if (setjmp(png_jmpbuf(p))) {
		snprintf(msg, size, "%s", s.msg);
		png_destroy_read_struct(&p, &info, NULL);
		return -1;
	}
	png_read_info(p, info);
	*w = png_get_image_width(p, info), *h = png_get_image_height(p, info);
	png_destroy_read_struct(&p, &info, NULL);
	return 0;
}

int dec_png_check(const unsigned char *data, size_t len, char *msg,
		  size_t size)
{
	struct src s = { data, len, 0, "" };
	png_infop info;
	png_structp p = open_read(&s, &info);
	png_bytep volatile row = NULL;
	volatile int rc = -1;

	if (p == NULL) {
		snprintf(msg, size, "out of memory");
		return -1;
	}
	if (setjmp(png_jmpbuf(p))) {
		snprintf(msg, size, "%s", s.msg);
		goto out;
	}
	png_read_info(p, info);
	{
		int passes = png_set_interlace_handling(p);
		png_uint_32 rows = png_get_image_height(p, info);

		png_read_update_info(p, info);
		row = png_malloc(p, png_get_rowbytes(p, info));
		for (int pass = 0; pass < passes; pass++)
			for (png_uint_32 y = 0; y < rows; y++)
				png_read_row(p, row, NULL);
	}
	rc = 0;
out:
	if (row != NULL)
		png_free(p, row);
	png_destroy_read_struct(&p, &info, NULL);
	return rc;
}

/* The whole factor a side of n pixels may shrink by, keeping need. */
static unsigned factor(unsigned n, unsigned need)
{
	unsigned f = need ? n / need : 1;

	return f >= 2 ? f : 1;
}

/* Rows arriving one at a time, averaged fx x fy into out's rows; colour
 * weighted by alpha (2 or 4 channels) so that transparent pixels' colour
 * does not bleed. */
struct shrink {
	unsigned fx, fy, w, ch, alpha;
	uint32_t *sum;  /* out width * channels */
	unsigned rows;  /* rows summed so far into sum */
	unsigned y;     /* next out row */
	struct pixels *out;
};

static void shrink_emit(struct shrink *s)
{
	unsigned char *row = s->out->data + s->y * s->out->stride;
	unsigned ow = s->out->width;

	for (unsigned x = 0; x < ow; x++) {
		uint32_t *v = s->sum + (size_t)x * s->ch;
		unsigned boxw = x + 1 < ow ? s->fx : s->w - x * s->fx;
		uint32_t n = boxw * s->rows;

		if (s->alpha) {
			uint32_t a = v[s->ch - 1];
			for (unsigned c = 0; c + 1 < s->ch; c++)
				row[x * s->ch + c] = a ? (unsigned char)((v[c] + a / 2) / a) : 0;
			row[x * s->ch + s->ch - 1] = (unsigned char)((a + n / 2) / n);
		} else {
			for (unsigned c = 0; c < s->ch; c++)
				row[x * s->ch + c] = (unsigned char)((v[c] + n / 2) / n);
		}
	}
	memset(s->sum, 0, (size_t)ow * s->ch * sizeof(*s->sum));
	s->rows = 0;
	s->y++;
}

static void shrink_row(struct shrink *s, const unsigned char *in)
{
	for (unsigned x = 0; x < s->w; x++) {
		const unsigned char *px = in + (size_t)x * s->ch;
		uint32_t *v = s->sum + (size_t)(x / s->fx) * s->ch;

		if (s->alpha) {
			uint32_t a = px[s->ch - 1];
			for (unsigned c = 0; c + 1 < s->ch; c++)
				v[c] += px[c] * a;
			v[s->ch - 1] += a;
		} else {
			for (unsigned c = 0; c < s->ch; c++)
				v[c] += px[c];
		}
	}
	if (++s->rows == s->fy)
		shrink_emit(s);
}

/* libpng's transforms to 8-bit grey, grey+alpha, RGB or RGBA. */
static void to_8bit(png_structp p, png_infop info)
{
	int type = png_get_color_type(p, info);

	if (type == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(p);
	if (type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(p, info) < 8)
		png_set_expand_gray_1_2_4_to_8(p);
	if (png_get_valid(p, info, PNG_INFO_tRNS))
		png_set_tRNS_to_alpha(p);
	if (png_get_bit_depth(p, info) == 16)
		png_set_scale_16(p);
}

static void take_icc(png_structp p, png_infop info, struct decoded *out)
{
	png_charp name;
	int comp;
	png_bytep prof;
	png_uint_32 n;

	if (png_get_iCCP(p, info, &name, &comp, &prof, &n) && n > 0 &&
	    (out->icc = malloc(n)) != NULL) {
		memcpy(out->icc, prof, n);
		out->icc_len = n;
	}
}

/* The state one decode carries through libpng's longjmp. */
struct job {
	struct shrink s;
	png_bytep row;   /* one row, or the whole image when interlaced */
	png_bytepp rows;
};

static int run(png_structp p, png_infop info, struct job *volatile j,
	       unsigned need_w, unsigned need_h, int (*stop)(void *arg),
	       void *arg, struct decoded *out, struct err *e)
{
	unsigned w, h, ch;
	int interlaced;

	png_read_info(p, info);
	take_icc(p, info, out);
	to_8bit(p, info);
	interlaced = png_set_interlace_handling(p) > 1;
	png_read_update_info(p, info);
	w = png_get_image_width(p, info), h = png_get_image_height(p, info);
	ch = png_get_channels(p, info);
	j->s.fx = factor(w, need_w), j->s.fy = factor(h, need_h);
	j->s.w = w, j->s.ch = ch, j->s.alpha = ch == 2 || ch == 4;
	if (pixels_alloc(&out->px, (w + j->s.fx - 1) / j->s.fx,
			 (h + j->s.fy - 1) / j->s.fy, ch, e) < 0)
		return -1;
	j->s.out = &out->px;
	out->ext_w = (double)w / j->s.fx, out->ext_h = (double)h / j->s.fy;
	j->s.sum = calloc((size_t)out->px.width * ch, sizeof(uint32_t));
	j->row = malloc(interlaced ? (size_t)w * ch * h : (size_t)w * ch);
	if (j->s.sum == NULL || j->row == NULL)
		return err_set(e, ERR_BUSY, "out of memory");
	if (interlaced) {
		j->rows = malloc(h * sizeof(*j->rows));
		if (j->rows == NULL)
			return err_set(e, ERR_BUSY, "out of memory");
		for (unsigned y = 0; y < h; y++)
			j->rows[y] = j->row + (size_t)y * w * ch;
		png_read_image(p, j->rows);
	}
	for (unsigned y = 0; y < h; y++) {
		if (!interlaced)
			png_read_row(p, j->row, NULL);
		shrink_row(&j->s, interlaced ? j->rows[y] : j->row);
		if (stop != NULL && y % ROWS_PER_STOP == 0 && stop(arg))
			return err_set(e, ERR_UNPROCESSABLE, "decode stopped: over time");
	}
	if (j->s.rows > 0)
		shrink_emit(&j->s);
	return 0;
}

int dec_png_decode(const unsigned char *data, size_t len, unsigned need_w,
		   unsigned need_h, int (*stop)(void *arg), void *arg,
		   struct decoded *out, struct err *e)
{
	struct src s = { data, len, 0, "" };
	struct job job = { 0 };
	png_infop info;
	png_structp p = open_read(&s, &info);
	volatile int rc = -1;

	if (p == NULL)
		return err_set(e, ERR_BUSY, "out of memory");
	if (setjmp(png_jmpbuf(p))) {
		err_set(e, ERR_UNPROCESSABLE, "original cannot be decoded: %s", s.msg);
		goto out;
	}
	rc = run(p, info, &job, need_w, need_h, stop, arg, out, e);
	out->how = job.rows != NULL ? "libpng-interlaced" : "libpng";
out:
	if (rc < 0)
		decoded_release(out);
	free(job.s.sum);
	free(job.row);
	free(job.rows);
	png_destroy_read_struct(&p, &info, NULL);
	return rc;
}

size_t dec_png_estimate(const unsigned char *data, size_t len,
			unsigned need_w, unsigned need_h)
{
	unsigned w, h, fx, fy;
	size_t bytes;
	char msg[128];

	if (dec_png_header(data, len, &w, &h, msg, sizeof(msg)) < 0)
		return 0;
	fx = factor(w, need_w), fy = factor(h, need_h);
	/* The output, a row of sums and a row (4 channels at most); an
	 * interlaced file holds the whole image. */
	bytes = pixels_bytes((w + fx - 1) / fx, (h + fy - 1) / fy, 4) +
		(size_t)w * 4 * 5;
	if (len >= 29 && data[28] == 1)
		bytes += (size_t)w * h * 4;
	return bytes;
}
