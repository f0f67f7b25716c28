/*
 * test_encode.c - the JPEG, PNG and WebP encoders, read back by the
 * formats' own libraries (and MagickCore): sizes, channels, pixels close
 * to the input, the settings (baseline, JFIF, optimised tables, chroma
 * sampling, PNG's colour type), the ICC profile and nothing else, sizes
 * near MagickCore's writers, and the refusals.
 */
#include <lcms2.h>
#include <magick/MagickCore.h>
#include <math.h>
#include <stdlib.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "encode.h"
#include "test.h"

/* ---- inputs ---- */

/* A w x h RGB (or grey) image of a MagickCore pseudo-format. */
static void make(const char *spec, unsigned w, unsigned h, unsigned n,
		 struct pixels *p)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	ImageInfo *info = CloneImageInfo(NULL);
	Image *img;
	char size[32];

	snprintf(size, sizeof(size), "%ux%u", w, h);
	CloneString(&info->size, size);
	snprintf(info->filename, sizeof(info->filename), "%s", spec);
	img = ReadImage(info, exc);
	pixels_init(p);
	if (img != NULL && pixels_alloc(p, w, h, n, NULL) == 0)
		ExportImagePixels(img, 0, 0, w, h, n == 1 ? "I" : "RGB",
				  CharPixel, p->data, exc);
	if (img != NULL)
		DestroyImage(img);
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
}

/* An ICC profile from lcms2 (sRGB, or a grey one); free() it. */
static unsigned char *profile(int grey, size_t *len)
{
	cmsHPROFILE h;
	cmsUInt32Number n = 0;
	unsigned char *mem = NULL;

	if (grey) {
		cmsToneCurve *g = cmsBuildGamma(NULL, 2.2);

		h = cmsCreateGrayProfile(cmsD50_xyY(), g);
		cmsFreeToneCurve(g);
	} else {
		h = cmsCreate_sRGBProfile();
	}
	if (cmsSaveProfileToMem(h, NULL, &n) && (mem = malloc(n)) != NULL &&
	    !cmsSaveProfileToMem(h, mem, &n)) {
		free(mem);
		mem = NULL;
	}
	cmsCloseProfile(h);
	*len = n;
	return mem;
}

static double psnr(const unsigned char *a, const unsigned char *b, size_t n)
{
	double se = 0;

	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - b[i];
		se += d * d;
	}
	return se == 0 ? 99.0 : 10 * log10(255.0 * 255 * n / se);
}

/* p's pixels, packed (p may be a crop). */
static unsigned char *packed(const struct pixels *p)
{
	size_t row = (size_t)p->width * p->channels;
	unsigned char *d = malloc(row * p->height);

	for (unsigned y = 0; y < p->height; y++)
		memcpy(d + y * row, p->data + y * p->stride, row);
	return d;
}

/* ---- reading back ---- */

struct readback {
	unsigned w, h, n;
	unsigned char *px;      /* w * h * n, free() it */
	unsigned char *icc;     /* free() it */
	size_t icc_len;
	char markers[64];       /* JPEG markers or PNG/WebP chunks, in order */
	char last[16];
	int progressive, h_samp, v_samp, jfif;
};

static void readback_release(struct readback *r)
{
	free(r->px);
	free(r->icc);
	memset(r, 0, sizeof(*r));
}

static void add_mark(struct readback *r, const char *m)
{
	size_t n = strlen(r->markers);

	snprintf(r->markers + n, sizeof(r->markers) - n, "%s%s", n ? " " : "", m);
}

/* The JPEG's marker segments up to the scan, named as "APP0 DQT ...". */
static void jpeg_markers(const struct buf *b, struct readback *r)
{
	size_t i = 2;

	while (i + 4 <= b->len && b->data[i] == 0xFF) {
		unsigned m = b->data[i + 1];
		char name[16];

		if (m >= 0xE0 && m <= 0xEF)
			snprintf(name, sizeof(name), "APP%u", m - 0xE0);
		else if (m == 0xDB)
			snprintf(name, sizeof(name), "DQT");
		else if (m == 0xC4)
			snprintf(name, sizeof(name), "DHT");
		else if (m == 0xDA)
			snprintf(name, sizeof(name), "SOS");
		else if (m >= 0xC0 && m <= 0xCF)
			snprintf(name, sizeof(name), "SOF%u", m - 0xC0);
		else
			snprintf(name, sizeof(name), "%02X", m);
		/* A run of one marker is named once. */
		if (strcmp(r->last, name) != 0)
			add_mark(r, name);
		snprintf(r->last, sizeof(r->last), "%s", name);
		if (m == 0xDA)
			break;
		i += 2 + ((size_t)b->data[i + 2] << 8 | b->data[i + 3]);
	}
}

static int read_jpeg(const struct buf *b, struct readback *r)
{
	struct jpeg_decompress_struct d;
	struct jpeg_error_mgr err;
	JOCTET *icc = NULL;
	unsigned icc_len = 0;

	memset(r, 0, sizeof(*r));
	if (b->len < 4 || b->data[0] != 0xFF || b->data[1] != 0xD8)
		return -1;
	jpeg_markers(b, r);
	d.err = jpeg_std_error(&err);
	jpeg_create_decompress(&d);
	jpeg_mem_src(&d, b->data, b->len);
	jpeg_save_markers(&d, JPEG_APP0 + 2, 0xFFFF);
	jpeg_read_header(&d, TRUE);
	r->jfif = d.saw_JFIF_marker;
	r->progressive = d.progressive_mode;
	r->h_samp = d.comp_info[0].h_samp_factor;
	r->v_samp = d.comp_info[0].v_samp_factor;
	if (jpeg_read_icc_profile(&d, &icc, &icc_len)) {
		r->icc = malloc(icc_len);
		memcpy(r->icc, icc, icc_len);
		r->icc_len = icc_len;
		free(icc);
	}
	jpeg_start_decompress(&d);
	r->w = d.output_width;
	r->h = d.output_height;
	r->n = (unsigned)d.output_components;
	r->px = malloc((size_t)r->w * r->h * r->n);
	while (d.output_scanline < d.output_height) {
		JSAMPROW row = r->px + (size_t)d.output_scanline * r->w * r->n;
		jpeg_read_scanlines(&d, &row, 1);
	}
	jpeg_finish_decompress(&d);
	jpeg_destroy_decompress(&d);
	return 0;
}

/* The PNG's chunks, "IHDR iCCP IDAT IEND" (repeats named once). */
static void png_chunks(const struct buf *b, struct readback *r)
{
	size_t i = 8;

	while (i + 12 <= b->len) {
		size_t len = (size_t)b->data[i] << 24 | b->data[i + 1] << 16 |
			     b->data[i + 2] << 8 | b->data[i + 3];
		char name[5];

		memcpy(name, b->data + i + 4, 4);
		name[4] = '\0';
		if (strstr(r->markers, name) == NULL)
			add_mark(r, name);
		i += 12 + len;
	}
}

struct mem_in {
	const unsigned char *p;
	size_t len, at;
};

static void png_from_mem(png_structp png, png_bytep d, size_t n)
{
	struct mem_in *m = png_get_io_ptr(png);

	if (n > m->len - m->at)
		png_error(png, "read past the end");
	memcpy(d, m->p + m->at, n);
	m->at += n;
}

static int read_png(const struct buf *b, struct readback *r)
{
	struct mem_in m = { b->data, b->len, 0 };
	png_structp png;
	png_infop info;
	png_charp name;
	png_bytep icc;
	png_uint_32 icc_len;
	int comp;

	memset(r, 0, sizeof(*r));
	if (b->len < 8 || png_sig_cmp(b->data, 0, 8) != 0)
		return -1;
	png_chunks(b, r);
	png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	info = png_create_info_struct(png);
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &info, NULL);
		return -1;
	}
	png_set_read_fn(png, &m, png_from_mem);
	png_read_info(png, info);
	r->w = png_get_image_width(png, info);
	r->h = png_get_image_height(png, info);
	r->n = png_get_channels(png, info);
	r->progressive = png_get_interlace_type(png, info) != PNG_INTERLACE_NONE;
	if (png_get_bit_depth(png, info) != 8)
		r->n = 0;
	if (png_get_iCCP(png, info, &name, &comp, &icc, &icc_len)) {
		r->icc = malloc(icc_len);
		memcpy(r->icc, icc, icc_len);
		r->icc_len = icc_len;
	}
	r->px = malloc((size_t)r->w * r->h * (r->n ? r->n : 1));
	for (unsigned y = 0; y < r->h && r->n; y++)
		png_read_row(png, r->px + (size_t)y * r->w * r->n, NULL);
	png_destroy_read_struct(&png, &info, NULL);
	return 0;
}

static int read_webp(const struct buf *b, struct readback *r)
{
	WebPBitstreamFeatures f;
	WebPData data = { b->data, b->len };
	WebPDemuxer *dmx;
	WebPChunkIterator it;
	int w, h;

	memset(r, 0, sizeof(*r));
	if (WebPGetFeatures(b->data, b->len, &f) != VP8_STATUS_OK)
		return -1;
	for (size_t i = 12; i + 8 <= b->len;) {
		size_t len = b->data[i + 4] | b->data[i + 5] << 8 |
			     b->data[i + 6] << 16 | (size_t)b->data[i + 7] << 24;
		char name[5];

		memcpy(name, b->data + i, 4);
		name[4] = '\0';
		add_mark(r, name);
		i += 8 + len + (len & 1);
	}
	r->progressive = f.has_alpha; /* (no alpha expected) */
	r->px = WebPDecodeRGB(b->data, b->len, &w, &h);
	r->w = (unsigned)w;
	r->h = (unsigned)h;
	r->n = 3;
	dmx = WebPDemux(&data);
	if (dmx != NULL && WebPDemuxGetChunk(dmx, "ICCP", 1, &it)) {
		r->icc = malloc(it.chunk.size);
		memcpy(r->icc, it.chunk.bytes, it.chunk.size);
		r->icc_len = it.chunk.size;
		WebPDemuxReleaseChunkIterator(&it);
	}
	WebPDemuxDelete(dmx);
	if (r->px != NULL) { /* WebPDecodeRGB's memory is WebPFree()'s */
		unsigned char *copy = malloc((size_t)w * h * 3);

		memcpy(copy, r->px, (size_t)w * h * 3);
		WebPFree(r->px);
		r->px = copy;
	}
	return r->px != NULL ? 0 : -1;
}

/* MagickCore's reading of an encoded file: size and ICC profile. */
static int magick_reads(const struct buf *b, unsigned w, unsigned h,
			const unsigned char *icc, size_t icc_len)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	ImageInfo *info = CloneImageInfo(NULL);
	Image *img = BlobToImage(info, b->data, b->len, exc);
	int ok = 0;

	if (img != NULL) {
		const StringInfo *s = GetImageProfile(img, "icc");

		ok = img->columns == w && img->rows == h &&
		     (icc == NULL ? s == NULL
				  : s != NULL && GetStringInfoLength(s) == icc_len &&
					    memcmp(GetStringInfoDatum(s), icc,
						   icc_len) == 0);
		DestroyImage(img);
	}
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
	return ok;
}

/* MagickCore's file of the same pixels, as lib/image.c writes it today. */
static size_t magick_size(const struct pixels *p, const char *coder,
			  unsigned q)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	ImageInfo *info = CloneImageInfo(NULL);
	unsigned char *d = packed(p);
	Image *img = ConstituteImage(p->width, p->height,
				     p->channels == 1 ? "I" : "RGB", CharPixel,
				     d, exc);
	unsigned char *blob;
	size_t len = 0;

	StripImage(img);
	img->quality = info->quality = q;
	snprintf(img->magick, sizeof(img->magick), "%s", coder);
	snprintf(info->magick, sizeof(info->magick), "%s", coder);
	blob = ImageToBlob(info, img, &len, exc);
	RelinquishMagickMemory(blob);
	DestroyImage(img);
	free(d);
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
	return len;
}

/* ---- the tests ---- */

typedef int (*encoder)(const struct pixels *, const struct encode_opts *,
		       struct buf *, struct err *);
typedef int (*reader)(const struct buf *, struct readback *);

/* Encodes p and reads it back into *r; 0 or -1 (with a failed check). */
static int roundtrip(encoder enc, reader rd, const struct pixels *p,
		     const struct encode_opts *o, struct readback *r)
{
	struct buf b;
	struct err e = { ERR_NONE, "" };
	int rc;

	buf_init(&b);
	memset(r, 0, sizeof(*r));
	rc = enc(p, o, &b, &e);
	CHECK(rc == 0, "encode: %s", e.msg);
	if (rc == 0) {
		rc = rd(&b, r);
		CHECK(rc == 0, "the file does not read back");
		CHECK(magick_reads(&b, p->width, p->height, o->icc, o->icc_len),
		      "MagickCore reads it otherwise");
	}
	buf_release(&b);
	return rc;
}

static void test_jpeg(void)
{
	struct pixels rgb, grey;
	struct readback r;
	struct encode_opts o = { .quality = 75 };
	unsigned char *in;
	double db75 = 0;

	make("plasma:fractal", 400, 300, 3, &rgb);
	make("plasma:fractal", 400, 300, 1, &grey);
	in = packed(&rgb);
	if (roundtrip(encode_jpeg, read_jpeg, &rgb, &o, &r) == 0) {
		CHECK(r.w == 400 && r.h == 300 && r.n == 3, "%ux%u %u", r.w, r.h, r.n);
		db75 = psnr(in, r.px, 400 * 300 * 3);
		CHECK(db75 >= 30.0, "q75: %.1f dB", db75);
		CHECK_STR(r.markers, "APP0 DQT SOF0 DHT SOS");
		CHECK(r.jfif && !r.progressive);
		CHECK(r.h_samp == 2 && r.v_samp == 2, "q75: %dx%d, want 4:2:0",
		      r.h_samp, r.v_samp);
		CHECK(r.icc == NULL);
	}
	readback_release(&r);
	o.quality = 90;
	if (roundtrip(encode_jpeg, read_jpeg, &rgb, &o, &r) == 0) {
		double db = psnr(in, r.px, 400 * 300 * 3);

		CHECK(db >= 33.0 && db > db75 + 1, "q90: %.1f dB", db);
		CHECK(r.h_samp == 1 && r.v_samp == 1, "q90: %dx%d, want 4:4:4",
		      r.h_samp, r.v_samp);
	}
	readback_release(&r);
	o.sampling = ENCODE_SAMPLING_422;
	if (roundtrip(encode_jpeg, read_jpeg, &rgb, &o, &r) == 0)
		CHECK(r.h_samp == 2 && r.v_samp == 1, "%dx%d", r.h_samp, r.v_samp);
	readback_release(&r);
	o.quality = 75;
	o.sampling = ENCODE_SAMPLING_444;
	if (roundtrip(encode_jpeg, read_jpeg, &rgb, &o, &r) == 0)
		CHECK(r.h_samp == 1 && r.v_samp == 1, "%dx%d", r.h_samp, r.v_samp);
	readback_release(&r);
	o.sampling = ENCODE_SAMPLING_AUTO;
	if (roundtrip(encode_jpeg, read_jpeg, &grey, &o, &r) == 0) {
		unsigned char *g = packed(&grey);
		double db = psnr(g, r.px, 400 * 300);

		CHECK(r.n == 1, "grey came back with %u channels", r.n);
		CHECK(db >= 30.0, "grey: %.1f dB", db);
		free(g);
	}
	readback_release(&r);
	free(in);
	pixels_release(&rgb);
	pixels_release(&grey);
}

/* ImageMagick's writer on the same pixels and quality: with the same
 * settings (optimised tables, its sampling rule, lossy WebP method 4)
 * the files come within a few percent of each other. */
static void test_like_magick(void)
{
	static const struct {
		const char *coder;
		encoder enc;
		unsigned q;
		double tol;
	} cases[] = {
		{ "JPEG", encode_jpeg, 75, 0.02 },
		{ "JPEG", encode_jpeg, 90, 0.02 },
		{ "WEBP", encode_webp, 75, 0.01 },
		{ "PNG", encode_png, 75, 0.05 },
	};
	struct pixels p;

	make("plasma:fractal", 400, 300, 3, &p);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct encode_opts o = { .quality = cases[i].q };
		struct buf b;
		size_t theirs = magick_size(&p, cases[i].coder, cases[i].q);
		double ratio;

		buf_init(&b);
		CHECK(cases[i].enc(&p, &o, &b, NULL) == 0);
		ratio = (double)b.len / (double)theirs;
		CHECK(fabs(ratio - 1) <= cases[i].tol, "%s q%u: %zu bytes, "
		      "MagickCore %zu", cases[i].coder, cases[i].q, b.len, theirs);
		buf_release(&b);
	}
	pixels_release(&p);
}

/* libjpeg's standard luminance DC table: optimize_coding replaces it. */
static void test_jpeg_optimised(void)
{
	static const unsigned char std_dc_bits[16] = { 0, 1, 5, 1, 1, 1, 1, 1,
						       1, 0, 0, 0, 0, 0, 0, 0 };
	struct pixels p;
	struct encode_opts o = { .quality = 75 };
	struct buf b;
	int found = 0;

	make("plasma:fractal", 200, 150, 3, &p);
	buf_init(&b);
	CHECK(encode_jpeg(&p, &o, &b, NULL) == 0);
	for (size_t i = 2; i + 4 < b.len && b.data[i] == 0xFF;) {
		size_t len = (size_t)b.data[i + 2] << 8 | b.data[i + 3];

		if (b.data[i + 1] == 0xC4 && b.data[i + 4] == 0x00) {
			found = 1; /* class 0 (DC), table 0 */
			CHECK(memcmp(b.data + i + 5, std_dc_bits, 16) != 0,
			      "the standard DC table: not optimised");
		}
		if (b.data[i + 1] == 0xDA)
			break;
		i += 2 + len;
	}
	CHECK(found, "no DC table 0");
	buf_release(&b);
	pixels_release(&p);
}

static void test_png(void)
{
	struct pixels rgb, grey, crop;
	struct readback r;
	struct encode_opts o = { .quality = 0 }; /* PNG has no quality */
	unsigned char *in;

	make("plasma:fractal", 300, 200, 3, &rgb);
	make("gradient:white-black", 300, 200, 1, &grey);
	if (roundtrip(encode_png, read_png, &rgb, &o, &r) == 0) {
		in = packed(&rgb);
		CHECK(r.w == 300 && r.h == 200 && r.n == 3, "%ux%u %u", r.w, r.h, r.n);
		CHECK(memcmp(in, r.px, 300 * 200 * 3) == 0, "RGB not lossless");
		CHECK_STR(r.markers, "IHDR IDAT IEND");
		CHECK(!r.progressive, "interlaced");
		free(in);
	}
	readback_release(&r);
	if (roundtrip(encode_png, read_png, &grey, &o, &r) == 0) {
		in = packed(&grey);
		CHECK(r.n == 1, "grey came back with %u channels", r.n);
		CHECK(memcmp(in, r.px, 300 * 200) == 0, "grey not lossless");
		free(in);
	}
	readback_release(&r);
	/* A crop: rows further apart than its width. */
	make("plasma:fractal", 300, 200, 3, &crop);
	pixels_crop(&crop, 17, 31, 101, 57);
	if (roundtrip(encode_png, read_png, &crop, &o, &r) == 0) {
		in = packed(&crop);
		CHECK(r.w == 101 && r.h == 57, "%ux%u", r.w, r.h);
		CHECK(memcmp(in, r.px, 101 * 57 * 3) == 0, "crop not kept");
		free(in);
	}
	readback_release(&r);
	pixels_release(&rgb);
	pixels_release(&grey);
	pixels_release(&crop);
}

static void test_webp(void)
{
	struct pixels rgb, grey;
	struct readback r;
	struct encode_opts o = { .quality = 75 };
	unsigned char *in;

	make("plasma:fractal", 400, 300, 3, &rgb);
	make("plasma:fractal", 400, 300, 1, &grey);
	in = packed(&rgb);
	if (roundtrip(encode_webp, read_webp, &rgb, &o, &r) == 0) {
		double db = psnr(in, r.px, 400 * 300 * 3);

		CHECK(r.w == 400 && r.h == 300, "%ux%u", r.w, r.h);
		CHECK(db >= 30.0, "q75: %.1f dB", db);
		CHECK_STR(r.markers, "VP8 ");
		CHECK(!r.progressive, "alpha");
	}
	readback_release(&r);
	free(in);
	if (roundtrip(encode_webp, read_webp, &grey, &o, &r) == 0) {
		unsigned char *g = packed(&grey);
		double se = 0;

		/* Back as RGB, each pixel near its grey. */
		for (size_t i = 0; i < 400 * 300; i++)
			for (int c = 0; c < 3; c++) {
				double d = (double)r.px[i * 3 + c] - g[i];
				se += d * d;
			}
		CHECK(10 * log10(255.0 * 255 * 400 * 300 * 3 / se) >= 30.0,
		      "grey as RGB too far from the grey");
		free(g);
	}
	readback_release(&r);
	pixels_release(&rgb);
	pixels_release(&grey);
}

static void test_icc(void)
{
	size_t rgb_len, grey_len;
	unsigned char *srgb = profile(0, &rgb_len);
	unsigned char *gray = profile(1, &grey_len);
	struct pixels rgb, grey;
	struct readback r;
	struct encode_opts o = { .quality = 80, .icc = srgb, .icc_len = rgb_len };
	static const struct {
		const char *name;
		encoder enc;
		reader rd;
		const char *markers;
	} fmts[] = {
		{ "JPEG", encode_jpeg, read_jpeg, "APP0 APP2 DQT SOF0 DHT SOS" },
		{ "PNG", encode_png, read_png, "IHDR iCCP IDAT IEND" },
		{ "WebP", encode_webp, read_webp, "VP8X ICCP VP8 " },
	};

	CHECK(srgb != NULL && gray != NULL, "lcms2 made no profile");
	if (srgb == NULL || gray == NULL)
		return;
	make("plasma:fractal", 120, 90, 3, &rgb);
	make("plasma:fractal", 120, 90, 1, &grey);
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		if (roundtrip(fmts[i].enc, fmts[i].rd, &rgb, &o, &r) == 0) {
			CHECK(r.icc_len == rgb_len &&
				      memcmp(r.icc, srgb, rgb_len) == 0,
			      "%s: profile not kept", fmts[i].name);
			CHECK(strcmp(r.markers, fmts[i].markers) == 0,
			      "%s: '%s'", fmts[i].name, r.markers);
			CHECK(r.w == 120 && r.h == 90, "%s: %ux%u", fmts[i].name,
			      r.w, r.h);
		}
		readback_release(&r);
	}
	/* A grey profile on grey pixels (JPEG, PNG). */
	o.icc = gray;
	o.icc_len = grey_len;
	for (size_t i = 0; i < 2; i++) {
		if (roundtrip(fmts[i].enc, fmts[i].rd, &grey, &o, &r) == 0)
			CHECK(r.icc_len == grey_len &&
				      memcmp(r.icc, gray, grey_len) == 0,
			      "%s: grey profile not kept", fmts[i].name);
		readback_release(&r);
	}
	/* The wrong colour space, and not a profile, are refused.  (WebP
	 * holds grey as RGB: there an sRGB profile is the right one.) */
	for (size_t i = 0; i < 3; i++) {
		struct err e = { ERR_NONE, "" };
		struct buf b;

		buf_init(&b);
		o.icc = i == 2 ? gray : srgb;
		o.icc_len = i == 2 ? grey_len : rgb_len;
		CHECK(fmts[i].enc(&grey, &o, &b, &e) < 0 && e.code == ERR_INTERNAL,
		      "%s: wrong profile on grey taken", fmts[i].name);
		o.icc = srgb;
		o.icc_len = rgb_len;
		o.icc_len = rgb_len - 1;
		CHECK(fmts[i].enc(&rgb, &o, &b, &e) < 0 && e.code == ERR_INTERNAL,
		      "%s: a cut profile taken", fmts[i].name);
		CHECK(b.len == 0, "%s: %zu bytes left", fmts[i].name, b.len);
		buf_release(&b);
	}
	o.icc_len = rgb_len;
	if (roundtrip(encode_webp, read_webp, &grey, &o, &r) == 0)
		CHECK(r.icc_len == rgb_len, "WebP: grey lost its sRGB profile");
	readback_release(&r);
	free(srgb);
	free(gray);
	pixels_release(&rgb);
	pixels_release(&grey);
}

/* A crop (rows further apart than its width) makes the very file its
 * packed copy makes, in every format. */
static void test_crops(void)
{
	static const encoder encs[] = { encode_jpeg, encode_png, encode_webp };
	struct encode_opts o = { .quality = 80 };
	struct pixels crop, copy;

	make("plasma:fractal", 200, 150, 3, &crop);
	pixels_crop(&crop, 13, 7, 111, 77);
	pixels_init(&copy);
	pixels_alloc(&copy, 111, 77, 3, NULL);
	for (unsigned y = 0; y < 77; y++)
		memcpy(copy.data + y * copy.stride, crop.data + y * crop.stride,
		       111 * 3);
	for (int i = 0; i < 3; i++) {
		struct buf a, b;

		buf_init(&a);
		buf_init(&b);
		CHECK(encs[i](&crop, &o, &a, NULL) == 0 &&
		      encs[i](&copy, &o, &b, NULL) == 0);
		CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
		      "encoder %d: a crop made another file", i);
		buf_release(&a);
		buf_release(&b);
	}
	pixels_release(&crop);
	pixels_release(&copy);
}

static void test_refusals(void)
{
	static const encoder encs[] = { encode_jpeg, encode_png, encode_webp };
	struct pixels p, wide;
	struct encode_opts o = { .quality = 75 };
	struct err e;
	struct buf b;

	buf_init(&b);
	buf_append(&b, "kept", 4);
	pixels_init(&p);
	pixels_alloc(&p, 8, 8, 4, NULL);
	memset(p.data, 200, pixels_bytes(8, 8, 4));
	for (int i = 0; i < 3; i++) {
		p.channels = 4;
		CHECK(encs[i](&p, &o, &b, &e) < 0 && e.code == ERR_INTERNAL,
		      "%d: RGBA taken", i);
		p.channels = 2;
		CHECK(encs[i](&p, &o, &b, &e) < 0 && e.code == ERR_INTERNAL,
		      "%d: grey and alpha taken", i);
		p.channels = 4;
		p.cmyk = 1;
		CHECK(encs[i](&p, &o, &b, &e) < 0 && e.code == ERR_INTERNAL,
		      "%d: CMYK taken", i);
		p.cmyk = 0;
	}
	p.channels = 3;
	o.quality = 0;
	CHECK(encode_jpeg(&p, &o, &b, &e) < 0 && e.code == ERR_INTERNAL);
	CHECK(encode_webp(&p, &o, &b, &e) < 0 && e.code == ERR_INTERNAL);
	CHECK(encode_png(&p, &o, &b, &e) == 0, "PNG has no quality: %s", e.msg);
	o.quality = 101;
	CHECK(encode_jpeg(&p, &o, &b, &e) < 0 && e.code == ERR_INTERNAL);
	/* What was in out before stays, and a file follows it. */
	CHECK(b.len > 4 && memcmp(b.data, "kept\x89PNG", 8) == 0,
	      "out's bytes lost");
	b.len = 4;
	o.quality = 75;
	CHECK(encode_jpeg(&p, &o, &b, NULL) == 0 && b.data[4] == 0xFF &&
	      b.data[5] == 0xD8, "not appended");
	/* WebP holds 16383 pixels a side. */
	pixels_init(&wide);
	CHECK(pixels_alloc(&wide, 16384, 1, 1, NULL) == 0);
	memset(wide.data, 7, 16384);
	b.len = 4;
	CHECK(encode_webp(&wide, &o, &b, &e) < 0 && e.code == ERR_TOO_LARGE,
	      "%s", e.msg);
	CHECK(b.len == 4);
	pixels_crop(&wide, 0, 0, 16383, 1);
	CHECK(encode_webp(&wide, &o, &b, &e) == 0, "%s", e.msg);
	buf_release(&b);
	pixels_release(&p);
	pixels_release(&wide);
}

int main(int argc, char **argv)
{
	(void)argc;
	MagickCoreGenesis(argv[0], MagickFalse);
	test_jpeg();
	test_jpeg_optimised();
	test_like_magick();
	test_png();
	test_webp();
	test_icc();
	test_crops();
	test_refusals();
	MagickCoreTerminus();
	return TEST_END("encode");
}
