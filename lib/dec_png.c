/* dec_png.c - PNG headers, checks and shrinking decodes: libpng for the
 * header and the rare files; libdeflate, png_rows.h and png_shrink.h for
 * the image. */
#include "dec_png.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <libdeflate.h>
#include <png.h>

#include "png_rows.h"
#include "png_shrink.h"

#define ROWS_PER_STOP 64 /* rows decoded between two asks of stop() */

/* ---- libpng over memory ------------------------------------------------------ */

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

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/*
 * 1 when every chunk before the first IDAT lies within the data.  libpng
 * allocates, and zeroes, the length a text chunk declares before it reads
 * a byte of it (2 GiB for a 58-byte file that says so), only then to find
 * the file cut short: such a file is refused before libpng sees it.
 */
static int chunks_fit(const unsigned char *d, size_t len)
{
	if (len < 8)
		return 1; /* libpng refuses the signature */
	for (size_t at = 8; len - at >= 8;) {
		size_t n = be32(d + at);

		if (memcmp(d + at + 4, "IDAT", 4) == 0)
			return 1;
		if (n > len - at - 8 || len - at - 8 - n < 4)
			return 0;
		at += 12 + n;
	}
	return 1;
}

/* A reader over data; NULL with the reason in s->msg (out of memory, or
 * the file cut short, see chunks_fit()). */
static png_structp open_read(struct src *s, png_infop *info)
{
	png_structp p;

	*info = NULL;
	if (!chunks_fit(s->data, s->len)) {
		snprintf(s->msg, sizeof(s->msg), "file cut short");
		return NULL;
	}
	p = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, on_error, on_warning);
	if (p == NULL) {
		snprintf(s->msg, sizeof(s->msg), "out of memory");
		return NULL;
	}
	*info = png_create_info_struct(p);
	if (*info == NULL) {
		png_destroy_read_struct(&p, NULL, NULL);
		snprintf(s->msg, sizeof(s->msg), "out of memory");
		return NULL;
	}
	png_set_read_fn(p, NULL, from_memory);
	return p;
}

/* open_read()'s NULL as an error. */
static int open_failed(const struct src *s, struct err *e)
{
	if (strcmp(s->msg, "out of memory") == 0)
		return err_set(e, ERR_BUSY, "out of memory");
	return err_set(e, ERR_UNPROCESSABLE, "original cannot be decoded: %s", s->msg);
}

int dec_png_header(const unsigned char *data, size_t len, unsigned *w,
		   unsigned *h, char *msg, size_t size)
{
	struct src s = { data, len, 0, "" };
	png_infop info;
	png_structp p = open_read(&s, &info);

	if (p == NULL) {
		snprintf(msg, size, "%s", s.msg);
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
		snprintf(msg, size, "%s", s.msg);
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

/* ---- the libpng path: any PNG, a row at a time ----------------------------------- */

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
	struct png_shrink s;
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
	if (png_shrink_init(&j->s, w, h, ch, need_w, need_h, &out->px, e) < 0)
		return -1;
	out->ext_w = (double)w / j->s.fx, out->ext_h = (double)h / j->s.fy;
	j->row = malloc(interlaced ? (size_t)w * ch * h : (size_t)w * ch);
	if (j->row == NULL)
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
		png_shrink_row(&j->s, interlaced ? j->rows[y] : j->row);
		if (stop != NULL && y % ROWS_PER_STOP == 0 && stop(arg))
			return err_set(e, ERR_UNPROCESSABLE, "decode stopped: over time");
	}
	png_shrink_finish(&j->s);
	return 0;
}

int dec_png_decode_libpng(const unsigned char *data, size_t len,
			  unsigned need_w, unsigned need_h,
			  int (*stop)(void *arg), void *arg,
			  struct decoded *out, struct err *e)
{
	struct src s = { data, len, 0, "" };
	struct job job = { 0 };
	png_infop info;
	png_structp p = open_read(&s, &info);
	volatile int rc = -1;

	if (p == NULL)
		return open_failed(&s, e);
	if (setjmp(png_jmpbuf(p))) {
		err_set(e, ERR_UNPROCESSABLE, "original cannot be decoded: %s", s.msg);
		goto out;
	}
	rc = run(p, info, &job, need_w, need_h, stop, arg, out, e);
	out->how = job.rows != NULL ? "libpng-interlaced" : "libpng";
out:
	if (rc < 0)
		decoded_release(out);
	png_shrink_release(&job.s);
	free(job.row);
	free(job.rows);
	png_destroy_read_struct(&p, &info, NULL);
	return rc;
}

/* ---- the fast path: the image inflated at once, unfiltered here ------------------ */

/* The bytes the fast path inflates the image into (height rows of a
 * filter byte and the row), or 0 when it does not take such a file. */
static size_t fast_bytes(unsigned w, unsigned h, unsigned depth,
			 unsigned type, int interlaced)
{
	struct png_rows_format f = { .width = w, .depth = depth, .type = type };
	size_t row;

	if (interlaced || w == 0 || h == 0 || !png_rows_supported(&f))
		return 0;
	row = png_rows_rowbytes(&f) + 1;
	return row > DEC_PNG_FAST_MAX / h ? 0 : row * h;
}

/*
 * The payload of the first run of IDAT chunks in data: *z points into
 * data when the run is one chunk, else to a copy in *copy (malloc; the
 * caller frees it).  Returns 0; 1 when a chunk is cut short or its CRC
 * is wrong (libpng's to judge); -1 when out of memory.
 */
static int gather_idat(const unsigned char *data, size_t len,
		       const unsigned char **z, size_t *zlen,
		       unsigned char **copy)
{
	size_t at = 8, first = 0, chunks = 0, total = 0;

	*copy = NULL;
	while (len - at >= 12) {
		size_t n = be32(data + at);
		int idat = memcmp(data + at + 4, "IDAT", 4) == 0;

		if (!idat && chunks > 0)
			break;
		if (n > 0x7fffffffu || n > len - at - 12)
			return 1;
		if (idat) {
			if (libdeflate_crc32(0, data + at + 4, n + 4) !=
			    be32(data + at + 8 + n))
				return 1;
			if (chunks++ == 0)
				first = at;
			total += n;
		}
		at += 12 + n;
	}
	if (chunks == 0)
		return 1;
	if (chunks == 1) {
		*z = data + first + 8, *zlen = total;
		return 0;
	}
	if ((*copy = malloc(total)) == NULL)
		return -1;
	for (size_t k = 0, put = 0; k < chunks; k++) {
		size_t n = be32(data + first);

		memcpy(*copy + put, data + first + 8, n);
		put += n, first += 12 + n;
	}
	*z = *copy, *zlen = total;
	return 0;
}

/*
 * The inflated image's buffer.  A large one is mapped apart, in 2 MiB
 * pages where the kernel gives them (MADV_HUGEPAGE; else 4 KiB pages):
 * the first touch of 64 MiB in 4 KiB pages is 16384 page faults, a fifth
 * of an RGBA decode.  A small one comes from malloc, which may have it at
 * hand already.
 */
#define HUGE_PAGE ((size_t)2 << 20)
#define MAP_FROM (4 * HUGE_PAGE)

struct raw {
	unsigned char *data;
	void *map;      /* the mapping, or NULL when data is malloc's */
	size_t mapped;
};

/* Returns 0, or -1 when out of memory; raw_free() r either way. */
static int raw_alloc(struct raw *r, size_t n)
{
	uintptr_t at;

	if (n < MAP_FROM)
		return (r->data = malloc(n)) != NULL ? 0 : -1;
	r->mapped = n + HUGE_PAGE;
	r->map = mmap(NULL, r->mapped, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -1;
	}
	at = ((uintptr_t)r->map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	r->data = (unsigned char *)at;
#ifdef MADV_HUGEPAGE
	madvise(r->data, (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
	return 0;
}

static void raw_free(struct raw *r)
{
	if (r->map != NULL)
		munmap(r->map, r->mapped);
	else
		free(r->data);
	r->map = NULL, r->data = NULL;
}

/* Deflate's densest: a match of 258 bytes in 2 bits (lone codes of one
 * bit for length and distance), 1032 bytes out for one in. */
#define DEFLATE_MAX_RATIO 1032

/*
 * Inflates the image into raw (allocated here), exactly n bytes.  Returns
 * 0; 1 when the stream is not one the fast path takes (libpng's to
 * judge); -1 with ERR_BUSY when out of memory.
 */
static int inflate_idat(const unsigned char *data, size_t len,
			struct raw *raw, size_t n, struct err *e)
{
	const unsigned char *z;
	unsigned char *copy;
	size_t zlen;
	struct libdeflate_decompressor *d;
	int rc = gather_idat(data, len, &z, &zlen, &copy);

	if (rc != 0)
		return rc < 0 ? err_set(e, ERR_BUSY, "out of memory") : 1;
	/* zlib refuses a distance past the window the header declares
	 * (CINFO: 256 << CINFO bytes), libdeflate does not look: a window
	 * under 32 KiB (libpng writes them for small images) is taken only
	 * when it spans the whole image, which no distance can then pass.
	 * A stream too short to make n bytes is not worth the buffer. */
	rc = 1;
	if (zlen < 2 || (z[0] & 0x0f) != 8 || z[0] >> 4 > 7 ||
	    (z[0] >> 4 < 7 && n > (size_t)256 << (z[0] >> 4)) ||
	    zlen < n / DEFLATE_MAX_RATIO)
		goto out;
	rc = -1;
	if (raw_alloc(raw, n) < 0 || (d = libdeflate_alloc_decompressor()) == NULL) {
		err_set(e, ERR_BUSY, "out of memory");
		goto out;
	}
	/* Without actual_out_nbytes: exactly n bytes or an error. */
	rc = libdeflate_zlib_decompress(d, z, zlen, raw->data, n, NULL) ==
	     LIBDEFLATE_SUCCESS ? 0 : 1;
	libdeflate_free_decompressor(d);
out:
	free(copy);
	return rc;
}

/* What the fast path reads of the header with libpng. */
struct head {
	unsigned w, h, ch;
	int interlaced;
	struct png_rows_format f;
};

/* The palette, or the tRNS colour, into hd->f. */
static void take_colours(png_structp p, png_infop info, struct head *hd)
{
	png_colorp pal;
	int npal = 0, ntrans = 0;
	png_bytep alpha;
	png_color_16p tc;

	if (png_get_valid(p, info, PNG_INFO_tRNS) == 0 ||
	    png_get_tRNS(p, info, &alpha, &ntrans, &tc) == 0)
		alpha = NULL, tc = NULL, ntrans = 0;
	if (hd->f.type != PNG_ROWS_PALETTE) {
		if (tc != NULL && (hd->f.type == PNG_ROWS_GREY || hd->f.type == PNG_ROWS_RGB)) {
			hd->f.trns = 1;
			hd->f.trns_rgb[0] = hd->f.type == PNG_ROWS_GREY ? tc->gray : tc->red;
			hd->f.trns_rgb[1] = tc->green, hd->f.trns_rgb[2] = tc->blue;
		}
		return;
	}
	if (png_get_PLTE(p, info, &pal, &npal) == 0)
		npal = 0;
	for (int i = 0; i < 256; i++) {
		unsigned char *c = hd->f.palette[i];

		c[0] = i < npal ? pal[i].red : 0;
		c[1] = i < npal ? pal[i].green : 0;
		c[2] = i < npal ? pal[i].blue : 0;
		c[3] = i < ntrans && alpha != NULL ? alpha[i] : 255;
	}
	hd->f.palette_alpha = alpha != NULL && ntrans > 0;
}

/*
 * Reads the header with libpng into *hd (the profile into out), and the
 * channels libpng's own transforms would make, which the fast path's
 * must be.  Returns 0, or -1 with ERR_UNPROCESSABLE (libpng refused the
 * header) or ERR_BUSY.
 */
static int read_head(const unsigned char *data, size_t len, struct head *hd,
		     struct decoded *out, struct err *e)
{
	struct src s = { data, len, 0, "" };
	png_infop info;
	png_structp p = open_read(&s, &info);

	if (p == NULL)
		return open_failed(&s, e);
	if (setjmp(png_jmpbuf(p))) {
		err_set(e, ERR_UNPROCESSABLE, "original cannot be decoded: %s", s.msg);
		png_destroy_read_struct(&p, &info, NULL);
		return -1;
	}
	png_read_info(p, info);
	take_icc(p, info, out);
	hd->w = png_get_image_width(p, info), hd->h = png_get_image_height(p, info);
	hd->interlaced = png_get_interlace_type(p, info) != PNG_INTERLACE_NONE;
	hd->f.width = hd->w;
	hd->f.depth = png_get_bit_depth(p, info);
	hd->f.type = png_get_color_type(p, info);
	take_colours(p, info, hd);
	to_8bit(p, info);
	png_read_update_info(p, info);
	hd->ch = png_get_channels(p, info);
	png_destroy_read_struct(&p, &info, NULL);
	return 0;
}

/* The buffers of one fast decode. */
struct fast {
	struct head hd;
	struct png_shrink s;
	struct raw raw;       /* the inflated image, unfiltered in place */
	unsigned char *zero;  /* the row above the first */
	unsigned char *conv;  /* a row made 8-bit pixels */
};

/* Unfilters raw's rows into the shrink, two at a time where both are
 * Paeth (png_rows_unfilter2). */
static int fast_rows(struct fast *j, int (*stop)(void *arg), void *arg,
		     struct err *e)
{
	size_t rb = png_rows_rowbytes(&j->hd.f);
	unsigned bpp = png_rows_bpp(&j->hd.f), h = j->hd.h;
	const unsigned char *prev = j->zero;

	for (unsigned y = 0; y < h;) {
		unsigned char *row = j->raw.data + y * (rb + 1);
		unsigned rows = y + 1 < h && row[0] == 4 && row[rb + 1] == 4 ? 2 : 1;

		if (rows == 2)
			png_rows_unfilter2(row + 1, row + rb + 2, prev, rb, bpp, 4, 4);
		else
			png_rows_unfilter(row + 1, prev, rb, bpp, row[0]);
		for (unsigned k = 0; k < rows; k++, y++) {
			prev = row + 1 + k * (rb + 1);
			png_shrink_row(&j->s, png_rows_pixels(&j->hd.f, prev, j->conv));
			if (stop != NULL && y % ROWS_PER_STOP == 0 && stop(arg))
				return err_set(e, ERR_UNPROCESSABLE, "decode stopped: over time");
		}
	}
	png_shrink_finish(&j->s);
	return 0;
}

static int fast(const unsigned char *data, size_t len, unsigned need_w,
		unsigned need_h, int (*stop)(void *arg), void *arg,
		struct fast *j, struct decoded *out, struct err *e)
{
	size_t n, rb;
	int rc;

	if (read_head(data, len, &j->hd, out, e) < 0)
		return -1;
	n = fast_bytes(j->hd.w, j->hd.h, j->hd.f.depth, j->hd.f.type,
		       j->hd.interlaced);
	if (n == 0 || png_rows_channels(&j->hd.f) != j->hd.ch)
		return 1;
	if (stop != NULL && stop(arg))
		return err_set(e, ERR_UNPROCESSABLE, "decode stopped: over time");
	rb = png_rows_rowbytes(&j->hd.f);
	if ((rc = inflate_idat(data, len, &j->raw, n, e)) != 0)
		return rc;
	/* libpng refuses a filter byte over 4 where it meets it. */
	for (unsigned y = 0; y < j->hd.h; y++)
		if (j->raw.data[y * (rb + 1)] > 4)
			return 1;
	j->zero = calloc(rb, 1);
	j->conv = malloc((size_t)j->hd.w * 4);
	if (j->zero == NULL || j->conv == NULL)
		return err_set(e, ERR_BUSY, "out of memory");
	if (png_shrink_init(&j->s, j->hd.w, j->hd.h, j->hd.ch, need_w, need_h,
			    &out->px, e) < 0)
		return -1;
	out->ext_w = (double)j->hd.w / j->s.fx, out->ext_h = (double)j->hd.h / j->s.fy;
	return fast_rows(j, stop, arg, e);
}

int dec_png_decode_fast(const unsigned char *data, size_t len,
			unsigned need_w, unsigned need_h,
			int (*stop)(void *arg), void *arg,
			struct decoded *out, struct err *e)
{
	struct fast j = { 0 };
	int rc = fast(data, len, need_w, need_h, stop, arg, &j, out, e);

	if (rc != 0)
		decoded_release(out);
	else
		out->how = "libpng";
	raw_free(&j.raw);
	free(j.zero);
	free(j.conv);
	png_shrink_release(&j.s);
	return rc;
}

int dec_png_decode(const unsigned char *data, size_t len, unsigned need_w,
		   unsigned need_h, int (*stop)(void *arg), void *arg,
		   struct decoded *out, struct err *e)
{
	int rc = dec_png_decode_fast(data, len, need_w, need_h, stop, arg, out, e);

	if (rc != 1)
		return rc;
	return dec_png_decode_libpng(data, len, need_w, need_h, stop, arg, out, e);
}

size_t dec_png_estimate(const unsigned char *data, size_t len,
			unsigned need_w, unsigned need_h)
{
	unsigned w, h, fx, fy;
	size_t bytes, fast_n;
	char msg[128];

	if (dec_png_header(data, len, &w, &h, msg, sizeof(msg)) < 0)
		return 0;
	fx = png_shrink_factor(w, need_w), fy = png_shrink_factor(h, need_h);
	/* The output, a row of sums and a row (4 channels at most); an
	 * interlaced file holds the whole image. */
	bytes = pixels_bytes((w + fx - 1) / fx, (h + fy - 1) / fy, 4) +
		(size_t)w * 4 * 5;
	if (len >= 29 && data[28] == 1)
		bytes += (size_t)w * h * 4;
	/* The fast path: the inflated image, the row above the first, the
	 * IDAT payload gathered (the file's size at most) and libdeflate's
	 * decompressor (some 10 KiB). IHDR is 16 bytes in: libpng read it. */
	fast_n = len >= 29 ? fast_bytes(w, h, data[24], data[25], data[28] != 0) : 0;
	if (fast_n > 0)
		bytes += fast_n + fast_n / h + len + 64 * 1024;
	return bytes;
}
