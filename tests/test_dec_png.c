/*
 * test_dec_png.c - the PNG decode's two ways, the fast one (libdeflate and
 * png_rows.h) against libpng's, on PNGs written here row filter by row
 * filter (every colour type and depth, palettes with and without tRNS,
 * widths of 1 to 101, IDAT in many chunks) and by ImageMagick's convert
 * (its adaptive filters, interlaced, 1-bit); both against the pixels
 * written.  Then damaged files: cut short, a bad CRC, bad zlib data, a
 * stream of the wrong length, a bad filter byte - refused, or decoded as
 * libpng decodes them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libdeflate.h>

#include "dec_png.h"
#include "test.h"
#include "testpng.h"

static unsigned rnd_state = 4242;

static unsigned rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 16;
}

/* ---- a PNG writer (its pieces: testpng.h) ------------------------------------ */

/* What to write. */
struct spec {
	unsigned w, h, depth, type;
	int filter;       /* 0-4 every row; -1: row y's is y % 5; -2: runs of
			   * Paeth with the others between */
	int trns;         /* grey, RGB: tRNS of the first pixel's colour (and
			   * a third of the pixels that colour); palette:
			   * alpha for the first entries */
	unsigned npal;    /* palette entries (fewer than the indexes reach:
			   * the others are black) */
	size_t split;     /* IDAT chunks of this many bytes; 0: one */
	int rows_more;    /* rows in the stream more than IHDR says (< 0: fewer) */
	int bad_filter;   /* row 1's filter byte is 5 */
	int cinfo;        /* the zlib header's window, 256 << cinfo bytes (0:
			   * libdeflate's, 32 KiB) */
};

/* What was written: the file, and its pixels as 8 bits, the way libpng's
 * transforms make them (channels ch). */
struct made {
	struct bytes file;
	unsigned char *want;
	unsigned ch;
	size_t idat_at;   /* the first IDAT chunk's offset */
	size_t z_at, z_n; /* where the zlib stream is, when in one chunk */
};

static unsigned file_channels(unsigned type)
{
	return type == 2 ? 3 : type == 4 ? 2 : type == 6 ? 4 : 1;
}

static int paeth_spec(int a, int b, int c)
{
	int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);

	return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Row y filtered with f, from the unfiltered rows cur and prev. */
static void filter_row(unsigned f, const unsigned char *cur,
		       const unsigned char *prev, size_t n, unsigned bpp,
		       unsigned char *out)
{
	for (size_t i = 0; i < n; i++) {
		int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i];
		int c = i >= bpp ? prev[i - bpp] : 0;
		int pred = f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) / 2
			 : f == 4 ? paeth_spec(a, b, c) : 0;

		out[i] = (unsigned char)(cur[i] - pred);
	}
}

static unsigned filter_of(const struct spec *s, unsigned y)
{
	if (s->filter >= 0)
		return (unsigned)s->filter;
	if (s->filter == -1)
		return y % 5;
	return y % 7 < 4 ? 4 : y % 7 - 3; /* 4 Paeth, then Sub, Up, Avg */
}

static unsigned sample16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* The 8-bit pixels libpng makes of the unfiltered image img. */
static void expect(const struct spec *s, const unsigned char *img, size_t rb,
		   const unsigned char pal[256][4], int pal_alpha,
		   const unsigned char *trns, struct made *m)
{
	unsigned fch = file_channels(s->type), ch;
	int alpha;

	if (s->type == 3)
		ch = pal_alpha ? 4 : 3;
	else
		ch = fch + (s->trns && (s->type == 0 || s->type == 2));
	m->ch = ch;
	alpha = ch == 2 || ch == 4;
	m->want = malloc((size_t)s->w * s->h * ch);
	for (unsigned y = 0; y < s->h; y++)
		for (unsigned x = 0; x < s->w; x++) {
			const unsigned char *row = img + y * rb;
			unsigned char *o = m->want + ((size_t)y * s->w + x) * ch;

			if (s->type == 3) {
				unsigned d = s->depth, per = 8 / d;
				unsigned i = row[x / per] >> (8 - d - x % per * d) & ((1u << d) - 1);
				memcpy(o, pal[i], ch);
			} else {
				unsigned bs = s->depth / 8;
				const unsigned char *px = row + (size_t)x * fch * bs;

				for (unsigned c = 0; c < fch; c++)
					o[c] = bs == 1 ? px[c]
					     : (unsigned char)((sample16(px + 2 * c) * 255 + 32895) >> 16);
				if (ch > fch)
					o[fch] = memcmp(px, trns, fch * bs) == 0 ? 0 : 255;
			}
			/* Unshrunk, a clear pixel's colour is 0. */
			if (alpha && o[ch - 1] == 0)
				memset(o, 0, ch - 1);
		}
}

static void make(const struct spec *s, struct made *m)
{
	unsigned fch = file_channels(s->type), bits = fch * s->depth;
	unsigned bpp = bits >= 8 ? bits / 8 : 1;
	size_t rb = ((size_t)s->w * bits + 7) / 8;
	unsigned rows = s->h + (unsigned)s->rows_more;
	unsigned char *img = calloc((size_t)rows + 1, rb), *zero = calloc(rb + 1, 1);
	unsigned char *raw = malloc((size_t)rows * (rb + 1) + 1), pal[256][4];
	unsigned char ihdr[13] = { 0 }, trns[6] = { 0 };
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
	size_t zcap = libdeflate_zlib_compress_bound(c, (size_t)rows * (rb + 1));
	unsigned char *z = malloc(zcap);
	size_t zn;
	int pal_alpha = s->type == 3 && s->trns;

	memset(m, 0, sizeof(*m));
	/* Samples: random, runs of one value, and the extremes. */
	for (size_t i = 0; i < (size_t)rows * rb; i++) {
		unsigned r = rnd(), mode = (unsigned)(i / 97) % 3;
		img[i] = mode == 0 ? (unsigned char)r : mode == 1 ? (unsigned char)(r % 2 * 255)
		       : (unsigned char)(r % 5 == 0 ? r >> 3 : 77);
	}
	if (s->trns && s->type != 3) {
		size_t px = (size_t)fch * s->depth / 8;

		memcpy(trns, img, px);
		for (size_t i = 0; i + px <= (size_t)rows * rb; i += 3 * px)
			if ((i % rb) + px <= rb)
				memcpy(img + i, trns, px);
	}
	for (unsigned y = 0; y < rows; y++) {
		unsigned f = filter_of(s, y);

		raw[y * (rb + 1)] = (unsigned char)(s->bad_filter && y == 1 ? 5 : f);
		filter_row(f, img + y * rb, y ? img + (y - 1) * rb : zero, rb, bpp,
			   raw + y * (rb + 1) + 1);
	}
	zn = libdeflate_zlib_compress(c, raw, (size_t)rows * (rb + 1), z, zcap);
	libdeflate_free_compressor(c);
	if (s->cinfo) { /* CMF; FLG made a multiple of 31 again */
		z[0] = (unsigned char)(s->cinfo << 4 | 8);
		z[1] = (unsigned char)(z[1] & 0xe0);
		z[1] = (unsigned char)(z[1] + (31 - (z[0] * 256 + z[1]) % 31) % 31);
	}

	put(&m->file, "\x89PNG\r\n\x1a\n", 8);
	ihdr[0] = (unsigned char)(s->w >> 24), ihdr[1] = (unsigned char)(s->w >> 16);
	ihdr[2] = (unsigned char)(s->w >> 8), ihdr[3] = (unsigned char)s->w;
	ihdr[4] = (unsigned char)(s->h >> 24), ihdr[5] = (unsigned char)(s->h >> 16);
	ihdr[6] = (unsigned char)(s->h >> 8), ihdr[7] = (unsigned char)s->h;
	ihdr[8] = (unsigned char)s->depth, ihdr[9] = (unsigned char)s->type;
	chunk(&m->file, "IHDR", ihdr, 13);
	memset(pal, 0, sizeof(pal));
	for (int i = 0; i < 256; i++)
		pal[i][3] = 255;
	if (s->type == 3) {
		unsigned char plte[768], alpha[256];
		unsigned n = s->npal, na = n / 2 + 1;

		for (unsigned i = 0; i < 3 * n; i++)
			plte[i] = (unsigned char)rnd(), pal[i / 3][i % 3] = plte[i];
		chunk(&m->file, "PLTE", plte, 3 * n);
		if (s->trns) {
			for (unsigned i = 0; i < na; i++)
				alpha[i] = (unsigned char)(i % 3 == 0 ? 0 : rnd()), pal[i][3] = alpha[i];
			chunk(&m->file, "tRNS", alpha, na);
		}
	} else if (s->trns) {
		unsigned char t[6] = { 0 };
		unsigned bs = s->depth / 8;

		for (unsigned k = 0; k < fch; k++) /* 16-bit values, big-endian */
			t[2 * k] = bs == 2 ? trns[2 * k] : 0,
			t[2 * k + 1] = bs == 2 ? trns[2 * k + 1] : trns[k];
		chunk(&m->file, "tRNS", t, 2 * fch);
	}
	chunk(&m->file, "tEXt", "Comment\0test_dec_png", 20);
	m->idat_at = m->file.n;
	m->z_at = m->file.n + 8, m->z_n = zn;
	if (s->split == 0) {
		chunk(&m->file, "IDAT", z, zn);
	} else {
		for (size_t at = 0; at < zn; at += s->split)
			chunk(&m->file, "IDAT", z + at, zn - at < s->split ? zn - at : s->split);
		chunk(&m->file, "IDAT", "", 0); /* an empty one too */
	}
	chunk(&m->file, "IEND", "", 0);
	if (s->rows_more == 0 && !s->bad_filter)
		expect(s, img, rb, (const unsigned char (*)[4])pal, pal_alpha, trns, m);
	free(img), free(zero), free(raw), free(z);
}

static void made_release(struct made *m)
{
	free(m->file.d);
	free(m->want);
}

/* ---- decoding both ways ------------------------------------------------------ */

/* d's pixels are the packed w x h x ch image want. */
static int same_pixels(const struct decoded *d, const unsigned char *want,
		       unsigned w, unsigned h, unsigned ch)
{
	if (d->px.width != w || d->px.height != h || d->px.channels != ch)
		return 0;
	for (unsigned y = 0; y < h; y++)
		if (memcmp(d->px.data + y * d->px.stride, want + (size_t)y * w * ch,
			   (size_t)w * ch) != 0)
			return 0;
	return 1;
}

static int same_decode(const struct decoded *a, const struct decoded *b)
{
	unsigned char *packed;
	int same;

	if (a->px.width != b->px.width || a->px.height != b->px.height ||
	    a->px.channels != b->px.channels || a->ext_w != b->ext_w ||
	    a->ext_h != b->ext_h || a->icc_len != b->icc_len)
		return 0;
	packed = malloc((size_t)a->px.width * a->px.height * a->px.channels);
	for (unsigned y = 0; y < a->px.height; y++)
		memcpy(packed + (size_t)y * a->px.width * a->px.channels,
		       a->px.data + y * a->px.stride, (size_t)a->px.width * a->px.channels);
	same = same_pixels(b, packed, a->px.width, a->px.height, a->px.channels);
	free(packed);
	return same;
}

/*
 * Decodes data the fast way and libpng's at need_w x need_h.  Returns the
 * fast way's answer (0, 1 not taken, -1); *same is 1 when both decoded
 * to the same pixels; want (w x h x ch when not NULL), compared at full
 * size.
 */
static int both(const unsigned char *data, size_t len, unsigned need_w,
		unsigned need_h, int *same, const struct made *m,
		const struct spec *s)
{
	struct decoded f, l;
	struct err e1 = { ERR_NONE, "" }, e2 = { ERR_NONE, "" };
	int rf, rl;

	decoded_init(&f), decoded_init(&l);
	rf = dec_png_decode_fast(data, len, need_w, need_h, NULL, NULL, &f, &e1);
	rl = dec_png_decode_libpng(data, len, need_w, need_h, NULL, NULL, &l, &e2);
	*same = rf == 0 && rl == 0 && same_decode(&f, &l);
	if (rf == 1)
		CHECK(f.px.data == NULL && f.icc == NULL, "a fast way not taken left pixels");
	if (*same && m != NULL && m->want != NULL && need_w == 0)
		*same = same_pixels(&f, m->want, s->w, s->h, m->ch);
	decoded_release(&f), decoded_release(&l);
	return rf;
}

static void describe(const struct spec *s, char *buf, size_t n)
{
	snprintf(buf, n, "%ux%u depth %u type %u filter %d trns %d npal %u split %zu",
		 s->w, s->h, s->depth, s->type, s->filter, s->trns, s->npal, s->split);
}

/* Every colour type and depth, filter, width; tRNS or not; whole, and
 * shrunk by factors that do not divide the sides. */
static void written(void)
{
	static const unsigned kinds[][2] = { /* depth, type */
		{ 8, 0 }, { 16, 0 }, { 8, 2 }, { 16, 2 }, { 8, 3 }, { 4, 3 },
		{ 2, 3 }, { 1, 3 }, { 8, 4 }, { 16, 4 }, { 8, 6 }, { 16, 6 },
	};
	static const unsigned widths[] = { 1, 2, 7, 16, 17, 33, 101 };
	static const unsigned heights[] = { 1, 2, 9 };
	int fails = 0, untaken = 0, cases = 0;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++)
		for (size_t wi = 0; wi < sizeof(widths) / sizeof(*widths); wi++)
			for (size_t hi = 0; hi < sizeof(heights) / sizeof(*heights); hi++)
				for (int filter = -2; filter <= 4; filter++)
					for (int trns = 0; trns <= 1; trns++) {
						struct spec s = { widths[wi], heights[hi], kinds[k][0],
								  kinds[k][1], filter, trns, 0, 0, 0, 0, 0 };
						struct made m;
						int same, rc;
						char what[160];

						if (s.type == 4 || s.type == 6)
							s.trns = 0;
						s.npal = s.type == 3 ? 1 + rnd() % (1u << s.depth) : 0;
						s.split = (cases % 3 == 1) ? 1 + rnd() % 40 : 0;
						make(&s, &m);
						describe(&s, what, sizeof(what));
						rc = both(m.file.d, m.file.n, 0, 0, &same, &m, &s);
						untaken += rc != 0;
						if (rc != 0 || !same)
							fails++, fprintf(stderr, "whole %s: fast %d, same %d\n", what, rc, same);
						rc = both(m.file.d, m.file.n, (s.w + 2) / 3, (s.h + 1) / 2, &same,
							  &m, &s);
						if (rc != 0 || !same)
							fails++, fprintf(stderr, "shrunk %s: fast %d, same %d\n", what, rc, same);
						made_release(&m);
						cases++;
					}
	CHECK(untaken == 0, "%d written files the fast way did not take", untaken);
	CHECK(fails == 0, "%d of %d written files decode otherwise than libpng", fails, cases);
}

/* A larger image, smooth, with runs of Paeth rows (the two-row kernel),
 * every 8-bit and 16-bit RGB(A), shrunk as photographs are. */
static void larger(void)
{
	static const unsigned kinds[][2] = { { 8, 2 }, { 8, 6 }, { 16, 2 }, { 16, 6 }, { 8, 4 } };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++) {
		struct spec s = { 301, 203, kinds[k][0], kinds[k][1], -2, 0, 0, 700, 0, 0, 0 };
		struct made m;
		int same, rc;

		make(&s, &m);
		rc = both(m.file.d, m.file.n, 0, 0, &same, &m, &s);
		CHECK(rc == 0 && same, "301x203 depth %u type %u whole: %d %d", s.depth, s.type, rc, same);
		rc = both(m.file.d, m.file.n, 40, 30, &same, &m, &s);
		CHECK(rc == 0 && same, "301x203 depth %u type %u shrunk: %d %d", s.depth, s.type, rc, same);
		made_release(&m);
	}
}

/* ---- made by convert --------------------------------------------------------- */

static char dir[64];

/* Runs convert ARGS OUT:dir/NAME (OUT, as PNG24, names the kind of PNG;
 * "" for png); the file's bytes (free()), or NULL. */
static unsigned char *convert(const char *name, const char *args,
			      const char *out, size_t *len)
{
	char cmd[1024], path[256];
	unsigned char *d;
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(cmd, sizeof(cmd), "convert %s %s%s%s 2>/dev/null", args, out,
		 *out ? ":" : "", path);
	if (system(cmd) != 0 || stat(path, &st) < 0 || (f = fopen(path, "rb")) == NULL)
		return NULL;
	d = malloc((size_t)st.st_size);
	*len = fread(d, 1, (size_t)st.st_size, f);
	fclose(f);
	return d;
}

/* The filter types of d's rows, a bit each (1 << type); 0 when it cannot
 * say (several IDAT runs, interlaced, ...). */
static unsigned filters_used(const unsigned char *d, size_t len)
{
	struct bytes z = { 0 };
	unsigned w = get32(d + 16), h = get32(d + 20), bits = d[24] * file_channels(d[25]);
	size_t rb = ((size_t)w * bits + 7) / 8, n = (size_t)h * (rb + 1);
	unsigned char *raw = malloc(n);
	struct libdeflate_decompressor *dc = libdeflate_alloc_decompressor();
	unsigned seen = 0;

	for (size_t at = 8; at + 12 <= len; at += 12 + get32(d + at))
		if (memcmp(d + at + 4, "IDAT", 4) == 0)
			put(&z, d + at + 8, get32(d + at));
	if (d[28] == 0 && libdeflate_zlib_decompress(dc, z.d, z.n, raw, n, NULL) == 0)
		for (unsigned y = 0; y < h; y++)
			seen |= 1u << (raw[y * (rb + 1)] & 7);
	libdeflate_free_decompressor(dc);
	free(raw), free(z.d);
	return seen;
}

/* dec_png_decode() decodes d as libpng does. */
static void decode_as_libpng(const unsigned char *d, size_t len, const char *what)
{
	struct decoded a, b;
	struct err e = { ERR_NONE, "" };

	decoded_init(&a), decoded_init(&b);
	CHECK(dec_png_decode(d, len, 30, 20, NULL, NULL, &a, &e) == 0 &&
	      dec_png_decode_libpng(d, len, 30, 20, NULL, NULL, &b, &e) == 0 &&
	      same_decode(&a, &b), "%s: dec_png_decode %s", what, e.msg);
	decoded_release(&a), decoded_release(&b);
}

static void by_convert(void)
{
	static const struct {
		const char *name, *args, *out;
		int fast; /* the fast way takes it */
	} files[] = {
		{ "rgb.png", "-define png:compression-filter=5", "PNG24", 1 },
		{ "rgba.png", "-alpha set -channel A -fx i/w +channel "
			      "-define png:compression-filter=5", "PNG32", 1 },
		{ "rgb16.png", "-depth 16 -define png:compression-filter=5", "PNG48", 1 },
		{ "rgba16.png", "-alpha set -channel A -fx j/h +channel -depth 16 "
				"-define png:compression-filter=5", "PNG64", 1 },
		{ "grey.png", "-colorspace Gray -define png:color-type=0 "
			      "-define png:bit-depth=8 -define png:compression-filter=5", "", 1 },
		{ "grey16.png", "-colorspace Gray -depth 16 -define png:color-type=0 "
				"-define png:bit-depth=16 -define png:compression-filter=5", "", 1 },
		{ "greya.png", "-colorspace Gray -alpha set -channel A -fx i/w +channel "
			       "-define png:color-type=4 -define png:compression-filter=5", "", 1 },
		{ "pal.png", "-colors 77", "PNG8", 1 },
		{ "palt.png", "-alpha set -channel A -fx 'i>w/2?1:0' +channel -colors 50", "PNG8", 1 },
		{ "none.png", "-define png:compression-filter=0", "PNG24", 1 },
		{ "interlaced.png", "-interlace PNG", "PNG32", 0 },
		{ "mono.png", "-monochrome", "", 0 },
	};
	static const char *sizes[] = { "97x61", "1x1", "300x7" };
	unsigned seen = 0;

	snprintf(dir, sizeof(dir), "/tmp/test_dec_png.%d", (int)getpid());
	mkdir(dir, 0700);
	for (size_t k = 0; k < sizeof(files) / sizeof(*files); k++)
		for (size_t z = 0; z < sizeof(sizes) / sizeof(*sizes); z++) {
			char args[600], what[100];
			unsigned char *d;
			size_t len;
			int same, rc;

			snprintf(args, sizeof(args), "-seed 7 -size %s plasma: %s", sizes[z],
				 files[k].args);
			snprintf(what, sizeof(what), "%s %s", files[k].name, sizes[z]);
			d = convert(files[k].name, args, files[k].out, &len);
			CHECK(d != NULL, "convert did not make %s", what);
			if (d == NULL)
				continue;
			seen |= filters_used(d, len);
			rc = both(d, len, 0, 0, &same, NULL, NULL);
			CHECK(rc == (files[k].fast ? 0 : 1), "%s: the fast way says %d", what, rc);
			CHECK(rc != 0 || same, "%s whole: not libpng's pixels", what);
			rc = both(d, len, 30, 20, &same, NULL, NULL);
			CHECK(rc != 0 || same, "%s shrunk: not libpng's pixels", what);
			decode_as_libpng(d, len, what);
			free(d);
		}
	/* convert's adaptive filters: every type shows up somewhere. */
	CHECK(seen == 0x1f, "filters seen in convert's files: %#x", seen);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		CHECK(system(cmd) == 0, "rm");
	}
}

/* ---- damaged ------------------------------------------------------------------ */

/* dec_png_decode() refuses data with ERR_UNPROCESSABLE, and the fast way
 * does not take it. */
static void refused(const unsigned char *d, size_t len, const char *what)
{
	struct decoded out;
	struct err e = { ERR_NONE, "" };
	int rc;

	decoded_init(&out);
	rc = dec_png_decode(d, len, 0, 0, NULL, NULL, &out, &e);
	CHECK(rc == -1 && e.code == ERR_UNPROCESSABLE, "%s: decoded (%d %s)", what, rc, e.msg);
	decoded_release(&out);
	decoded_init(&out);
	rc = dec_png_decode_fast(d, len, 0, 0, NULL, NULL, &out, &e);
	CHECK(rc != 0, "%s: the fast way decoded it", what);
	decoded_release(&out);
}

/* The fast way does not take data, and dec_png_decode() refuses it or
 * decodes it as libpng does. */
static void as_libpng(const unsigned char *d, size_t len, const char *what)
{
	struct decoded a, b;
	struct err e = { ERR_NONE, "" };
	int rc, ra, rb;

	decoded_init(&a), decoded_init(&b);
	rc = dec_png_decode_fast(d, len, 0, 0, NULL, NULL, &a, &e);
	CHECK(rc == 1, "%s: the fast way says %d", what, rc);
	decoded_release(&a);
	decoded_init(&a);
	ra = dec_png_decode(d, len, 0, 0, NULL, NULL, &a, &e);
	rb = dec_png_decode_libpng(d, len, 0, 0, NULL, NULL, &b, &e);
	CHECK(ra == rb && (ra < 0 || same_decode(&a, &b)), "%s: %d, libpng %d", what, ra, rb);
	decoded_release(&a), decoded_release(&b);
}

/* The CRC of the chunk at `at` made right again after a change. */
static void recrc(unsigned char *d, size_t at)
{
	uint32_t n = get32(d + at), c = libdeflate_crc32(0, d + at + 4, n + 4);

	d[at + 8 + n] = (unsigned char)(c >> 24), d[at + 9 + n] = (unsigned char)(c >> 16);
	d[at + 10 + n] = (unsigned char)(c >> 8), d[at + 11 + n] = (unsigned char)c;
}

static void damaged(void)
{
	struct spec base = { 61, 40, 8, 6, -2, 0, 0, 0, 0, 0, 0 };
	struct made m;
	unsigned char *d;
	size_t n, iend;
	char what[64];

	make(&base, &m);
	d = m.file.d, n = m.file.n;
	iend = n - 12;
	/* Cut short: in the IDAT's data, in its CRC, in the chunks before. */
	for (size_t cut = m.idat_at - 20; cut < iend; cut += (iend - m.idat_at) / 7 + 1) {
		snprintf(what, sizeof(what), "cut at %zu of %zu", cut, n);
		refused(d, cut, what);
	}
	refused(d, iend - 1, "cut in the IDAT's CRC");
	/* Cut in IEND, which the decode does not read: as libpng. */
	{
		int same;

		CHECK(both(d, iend + 4, 0, 0, &same, &m, &base) == 0 && same, "cut in IEND");
	}
	/* A wrong CRC on IDAT. */
	d[iend - 1] ^= 1;
	refused(d, n, "IDAT's CRC");
	d[iend - 1] ^= 1;
	/* Bad zlib data: a reserved block type, the CRC made right. */
	d[m.z_at + 2] |= 6;
	recrc(d, m.idat_at);
	refused(d, n, "a deflate block of type 3");
	d[m.z_at + 2] = m.file.d[m.z_at + 2];
	made_release(&m);

	make(&base, &m);
	/* A zlib header that is not one. */
	m.file.d[m.z_at] = 0x79;
	recrc(m.file.d, m.idat_at);
	refused(m.file.d, m.file.n, "a zlib header with CM 9");
	made_release(&m);

	/* The stream's Adler-32 wrong, the CRC right: libpng refuses it when
	 * it reads the end of the stream with the last row, and lets it by
	 * (a benign error) after; the fast way gives way to it. */
	make(&base, &m);
	m.file.d[m.z_at + m.z_n - 1] ^= 0x55;
	recrc(m.file.d, m.idat_at);
	as_libpng(m.file.d, m.file.n, "a wrong Adler-32");
	made_release(&m);

	/* Random bytes of the stream changed, the CRC right: refused or
	 * decoded, the fast way's answer is libpng's. */
	for (int k = 0; k < 60; k++) {
		struct decoded a, b;
		struct err e;
		int ra, rb;

		make(&base, &m);
		m.file.d[m.z_at + 2 + rnd() % (m.z_n - 2)] ^= (unsigned char)(1 + rnd() % 255);
		recrc(m.file.d, m.idat_at);
		decoded_init(&a), decoded_init(&b);
		ra = dec_png_decode(m.file.d, m.file.n, 0, 0, NULL, NULL, &a, &e);
		rb = dec_png_decode_libpng(m.file.d, m.file.n, 0, 0, NULL, NULL, &b, &e);
		CHECK(ra == rb && (ra < 0 || same_decode(&a, &b)), "a changed byte %d: %d against %d",
		      k, ra, rb);
		decoded_release(&a), decoded_release(&b);
		made_release(&m);
	}

	/* Wrong lengths: a row short, a byte short (the stream ends inside
	 * the last row), a row more. */
	{
		struct spec s = base;

		s.rows_more = -1;
		make(&s, &m);
		refused(m.file.d, m.file.n, "a row short");
		made_release(&m);

		s = base;
		s.w = 1, s.type = 0, s.rows_more = -1;
		s.h = 41; /* 40 rows of 2 bytes, IHDR says 41: 2 bytes short */
		make(&s, &m);
		refused(m.file.d, m.file.n, "a 1-pixel row short");
		made_release(&m);

		s = base;
		s.rows_more = 1;
		make(&s, &m);
		as_libpng(m.file.d, m.file.n, "a row more");
		made_release(&m);
	}
	/* A filter byte of 5. */
	{
		struct spec s = base;

		s.bad_filter = 1;
		make(&s, &m);
		refused(m.file.d, m.file.n, "filter 5");
		made_release(&m);
	}
	/* A zlib window under 32 KiB: zlib holds distances to it, libdeflate
	 * does not look; the fast way takes it when it spans the image (61 x
	 * 40 RGBA: 9800 bytes), else gives way. */
	{
		struct spec s = base;
		int same;

		s.cinfo = 6;
		make(&s, &m);
		CHECK(both(m.file.d, m.file.n, 0, 0, &same, &m, &s) == 0 && same,
		      "a zlib window of 16 KiB");
		made_release(&m);
		s.cinfo = 5;
		make(&s, &m);
		as_libpng(m.file.d, m.file.n, "a zlib window of 8 KiB");
		made_release(&m);
	}
	/* IDAT, then another chunk, then the rest of the stream in IDAT:
	 * libpng finds the image data short. */
	{
		struct spec s = base;
		struct bytes b = { 0 };
		size_t half;

		make(&s, &m);
		half = m.z_n / 2;
		put(&b, m.file.d, m.idat_at);
		chunk(&b, "IDAT", m.file.d + m.z_at, half);
		chunk(&b, "tEXt", "a\0b", 3);
		chunk(&b, "IDAT", m.file.d + m.z_at + half, m.z_n - half);
		chunk(&b, "IEND", "", 0);
		refused(b.d, b.n, "IDAT chunks apart");
		free(b.d);
		made_release(&m);
	}
}

/* Interlaced, grey of 4 bits, an image over the cap: libpng's. */
static void not_taken(void)
{
	/* 2900 x 2900 RGBA, 16 bits: 2900 x (1 + 23200) bytes inflated,
	 * just over 64 MiB; mostly zeros, quick to write. */
	struct spec s = { 2900, 2900, 16, 6, 0, 0, 0, 0, 0, 0, 0 };
	struct made m;
	struct decoded d;
	struct err e;
	size_t est;

	make(&s, &m);
	decoded_init(&d);
	CHECK(dec_png_decode_fast(m.file.d, m.file.n, 100, 100, NULL, NULL, &d, &e) == 1,
	      "over DEC_PNG_FAST_MAX: the fast way took it");
	est = dec_png_estimate(m.file.d, m.file.n, 100, 100);
	CHECK(est < DEC_PNG_FAST_MAX, "over the cap, the estimate counts no inflated image: %zu", est);
	decoded_release(&d);
	made_release(&m);

	/* Under it: counted. */
	s.w = s.h = 1000;
	make(&s, &m);
	est = dec_png_estimate(m.file.d, m.file.n, 100, 100);
	CHECK(est >= (size_t)1000 * (1 + 8000) + m.file.n, "the estimate: %zu", est);
	made_release(&m);
}

static int stop_now(void *arg)
{
	return ++*(int *)arg > 1;
}

static void stopped(void)
{
	struct spec s = { 50, 300, 8, 2, 4, 0, 0, 0, 0, 0, 0 };
	struct made m;
	struct decoded d;
	struct err e = { ERR_NONE, "" };
	int calls = 0;

	make(&s, &m);
	decoded_init(&d);
	CHECK(dec_png_decode(m.file.d, m.file.n, 0, 0, stop_now, &calls, &d, &e) == -1 &&
	      e.code == ERR_UNPROCESSABLE && strstr(e.msg, "stopped") != NULL,
	      "a decode told to stop: %s", e.msg);
	CHECK(d.px.data == NULL, "a stopped decode left pixels");
	decoded_release(&d);
	made_release(&m);
}

/* A 58-byte file whose tEXt says it is 2 GiB long: refused, and without
 * libpng allocating (and zeroing) what it says first.  Measured in a
 * child, by its peak RSS. */
static void huge_chunk(void)
{
	struct bytes b = { 0 };
	unsigned char ihdr[13] = { 0, 0, 0, 10, 0, 0, 0, 10, 8, 2, 0, 0, 0 };
	pid_t pid;
	int status = -1;

	put(&b, "\x89PNG\r\n\x1a\n", 8);
	chunk(&b, "IHDR", ihdr, 13);
	put32(&b, 0x7ffffff0);
	put(&b, "tEXtComment\0hello", 17);
	put32(&b, 0);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct rusage ru;
		unsigned w, h;
		char msg[200];
		int rc = dec_png_header(b.d, b.n, &w, &h, msg, sizeof(msg));

		getrusage(RUSAGE_SELF, &ru);
		if (rc == 0 || strcmp(msg, "file cut short") != 0)
			_exit(1);
		_exit(ru.ru_maxrss > 256 * 1024 ? 2 : 0); /* KiB */
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "a chunk longer than the file: %s",
	      WIFEXITED(status) && WEXITSTATUS(status) == 1 ? "not refused as cut short"
							    : "over 256 MiB held");
	free(b.d);
}

int main(void)
{
	written();
	larger();
	by_convert();
	damaged();
	not_taken();
	stopped();
	huge_chunk();
	return TEST_END("test_dec_png");
}
