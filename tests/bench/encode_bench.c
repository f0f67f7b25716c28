/*
 * encode_bench.c - encode_jpeg/png/webp() against MagickCore's
 * ImageToBlob() of the same pixels, as lib/image.c calls it today
 * (stripped, the same quality; PNG at quality 75, its default): the
 * fastest of several runs in milliseconds, the file's size, and the PSNR
 * of the file decoded (by MagickCore) against the pixels.
 *
 *   encode_bench [-r RUNS] [PHOTO...]
 *
 * Inputs: plasma:fractal and each PHOTO, resized to 400x300.  Built by
 * tests/bench/pixels_bench.sh; prints a markdown table.
 */
#include <magick/MagickCore.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encode.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static Image *read_input(const char *spec, unsigned w, unsigned h,
			 ExceptionInfo *exc)
{
	ImageInfo *info = CloneImageInfo(NULL);
	Image *img, *sized;
	char size[32];

	snprintf(size, sizeof(size), "%ux%u", w, h);
	CloneString(&info->size, size);
	snprintf(info->filename, sizeof(info->filename), "%s", spec);
	img = ReadImage(info, exc);
	DestroyImageInfo(info);
	if (img != NULL && (img->columns != w || img->rows != h)) {
		sized = ResizeImage(img, w, h, LanczosFilter, 1.0, exc);
		DestroyImage(img);
		img = sized;
	}
	return img;
}

/* PSNR of an encoded file, decoded by MagickCore, against p (RGB). */
static double psnr_file(const unsigned char *d, size_t len,
			const struct pixels *p)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	ImageInfo *info = CloneImageInfo(NULL);
	Image *img = BlobToImage(info, d, len, exc);
	unsigned char *back = malloc((size_t)p->width * p->height * 3);
	double se = 0, r = -1;
	size_t n = (size_t)p->width * p->height * 3;

	if (img != NULL && img->columns == p->width && img->rows == p->height &&
	    ExportImagePixels(img, 0, 0, p->width, p->height, "RGB",
			      CharPixel, back, exc)) {
		for (size_t i = 0; i < n; i++) {
			double df = (double)back[i] - p->data[i];
			se += df * df;
		}
		r = se == 0 ? 99.0 : 10 * log10(255.0 * 255 * n / se);
	}
	if (img != NULL)
		DestroyImage(img);
	free(back);
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
	return r;
}

/* MagickCore's encode of img as coder at quality q: the best time, the
 * size and the PSNR. */
static void magick(Image *img, const char *coder, unsigned q, int runs,
		   const struct pixels *p, double *ms, size_t *size,
		   double *db)
{
	*ms = 1e30;
	for (int i = 0; i < runs; i++) {
		ExceptionInfo *exc = AcquireExceptionInfo();
		ImageInfo *info = CloneImageInfo(NULL);
		Image *c = CloneImage(img, 0, 0, MagickTrue, exc);
		unsigned char *blob;
		size_t len = 0;
		double t0 = now_ms(), t;

		StripImage(c);
		c->quality = q;
		info->quality = q;
		snprintf(c->magick, sizeof(c->magick), "%s", coder);
		snprintf(info->magick, sizeof(info->magick), "%s", coder);
		blob = ImageToBlob(info, c, &len, exc);
		t = now_ms() - t0;
		if (t < *ms)
			*ms = t;
		if (i == 0) {
			*size = len;
			*db = psnr_file(blob, len, p);
		}
		RelinquishMagickMemory(blob);
		DestroyImage(c);
		DestroyImageInfo(info);
		DestroyExceptionInfo(exc);
	}
}

typedef int (*encoder)(const struct pixels *, const struct encode_opts *,
		       struct buf *, struct err *);

static void ours(encoder enc, const struct pixels *p, unsigned q, int runs,
		 double *ms, size_t *size, double *db)
{
	struct encode_opts o = { .quality = q };

	*ms = 1e30;
	for (int i = 0; i < runs; i++) {
		struct buf b;
		struct err e;
		double t0 = now_ms(), t;

		buf_init(&b);
		if (enc(p, &o, &b, &e) < 0) {
			fprintf(stderr, "encode: %s\n", e.msg);
			exit(1);
		}
		t = now_ms() - t0;
		if (t < *ms)
			*ms = t;
		if (i == 0) {
			*size = b.len;
			*db = psnr_file(b.data, b.len, p);
		}
		buf_release(&b);
	}
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name, *coder;
		encoder enc;
		unsigned q;
	} fmts[] = {
		{ "JPEG q75", "JPEG", encode_jpeg, 75 },
		{ "JPEG q90", "JPEG", encode_jpeg, 90 },
		{ "PNG", "PNG", encode_png, 75 },
		{ "WebP q75", "WEBP", encode_webp, 75 },
	};
	const char *inputs[16] = { "plasma:fractal" };
	int n_inputs = 1, runs = 9;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (n_inputs < 16)
			inputs[n_inputs++] = argv[i];
	}
	MagickCoreGenesis(argv[0], MagickFalse);
	SetMagickResourceLimit(ThreadResource, 1);
	printf("| input 400x300 | format | ours ms | MagickCore ms | ours bytes "
	       "| MagickCore bytes | ours PSNR | MagickCore PSNR |\n");
	printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (int i = 0; i < n_inputs; i++) {
		ExceptionInfo *exc = AcquireExceptionInfo();
		Image *img = read_input(inputs[i], 400, 300, exc);
		const char *name = strrchr(inputs[i], '/');
		struct pixels p;

		name = name ? name + 1 : inputs[i];
		pixels_init(&p);
		if (img == NULL || pixels_alloc(&p, 400, 300, 3, NULL) < 0 ||
		    !ExportImagePixels(img, 0, 0, 400, 300, "RGB", CharPixel,
				       p.data, exc)) {
			fprintf(stderr, "cannot read %s\n", inputs[i]);
			return 1;
		}
		/* MagickCore encodes the very pixels, and nothing a reader
		 * left on the image (a JPEG's sampling factors, a depth of
		 * 16) steers its writers. */
		DestroyImage(img);
		img = ConstituteImage(400, 300, "RGB", CharPixel, p.data, exc);
		for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
			double o_ms, m_ms, o_db = -1, m_db = -1;
			size_t o_len = 0, m_len = 0;

			ours(fmts[f].enc, &p, fmts[f].q, runs, &o_ms, &o_len, &o_db);
			magick(img, fmts[f].coder, fmts[f].q, runs, &p, &m_ms,
			       &m_len, &m_db);
			printf("| %s | %s | %.2f | %.2f | %zu | %zu | %.1f | %.1f |\n",
			       name, fmts[f].name, o_ms, m_ms, o_len, m_len, o_db,
			       m_db);
			fflush(stdout);
		}
		pixels_release(&p);
		DestroyImage(img);
		DestroyExceptionInfo(exc);
	}
	MagickCoreTerminus();
	return 0;
}
