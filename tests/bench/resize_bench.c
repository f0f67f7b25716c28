/*
 * resize_bench.c - resize_pixels() against MagickCore's ResizeImage()
 * (Lanczos, one thread, on the same 8-bit pixels): milliseconds (the
 * fastest of several runs) and the PSNR of ours against it, for the plan
 * resize_pixels() follows and for three others (Lanczos3 alone; a box
 * shrink down to 2x or less, then a triangle; resize_plan() with a
 * triangle where at most 2x is left).
 *
 *   resize_bench [-r RUNS] [PHOTO...]
 *
 * Inputs: MagickCore's plasma:fractal and a gradient, and each PHOTO
 * (any file MagickCore reads), resized to the source size of each case.
 * Built by tests/bench/pixels_bench.sh; prints a markdown table.
 */
#include <magick/MagickCore.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resize.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* An RGB image of w x h from a MagickCore spec ("plasma:fractal") or a
 * file resized to w x h. */
static int make_input(const char *spec, unsigned w, unsigned h,
		      struct pixels *p)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	ImageInfo *info = CloneImageInfo(NULL);
	Image *img, *sized;
	char size[32];
	int rc = -1;

	snprintf(size, sizeof(size), "%ux%u", w, h);
	CloneString(&info->size, size);
	snprintf(info->filename, sizeof(info->filename), "%s", spec);
	img = ReadImage(info, exc);
	if (img == NULL)
		goto out;
	if (img->columns != w || img->rows != h) {
		sized = ResizeImage(img, w, h, LanczosFilter, 1.0, exc);
		DestroyImage(img);
		img = sized;
		if (img == NULL)
			goto out;
	}
	if (pixels_alloc(p, w, h, 3, NULL) == 0 &&
	    ExportImagePixels(img, 0, 0, w, h, "RGB", CharPixel, p->data, exc))
		rc = 0;
	DestroyImage(img);
out:
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
	return rc;
}

/* MagickCore's Lanczos resize of p to w x h into *out; the time of
 * ResizeImage() alone. */
static double magick_resize(const struct pixels *p, unsigned w, unsigned h,
			    struct pixels *out)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	Image *img = ConstituteImage(p->width, p->height, "RGB", CharPixel,
				     p->data, exc);
	Image *r;
	double t0, t;

	t0 = now_ms();
	r = ResizeImage(img, w, h, LanczosFilter, 1.0, exc);
	t = now_ms() - t0;
	pixels_alloc(out, w, h, 3, NULL);
	ExportImagePixels(r, 0, 0, w, h, "RGB", CharPixel, out->data, exc);
	DestroyImage(r);
	DestroyImage(img);
	DestroyExceptionInfo(exc);
	return t;
}

static double psnr(const struct pixels *a, const struct pixels *b)
{
	double se = 0;
	size_t n = (size_t)a->width * a->height * a->channels;

	for (size_t i = 0; i < n; i++) {
		double d = (double)a->data[i] - b->data[i];
		se += d * d;
	}
	if (se == 0)
		return 99.0;
	return 10 * log10(255.0 * 255.0 * n / se);
}

/* The fastest of runs resizes with plan (NULL: resize_pixels()). */
static double ours(const struct pixels *p, unsigned w, unsigned h,
		   const struct resize_axis *plan, int runs,
		   struct pixels *out)
{
	double best = 1e30;

	for (int i = 0; i < runs; i++) {
		struct err e;
		double t0 = now_ms();
		int rc = plan ? resize_pixels_plan(p, w, h, plan, out, &e)
			      : resize_pixels(p, w, h, out, &e);
		double t = now_ms() - t0;

		if (rc < 0) {
			fprintf(stderr, "resize: %s\n", e.msg);
			exit(1);
		}
		if (t < best)
			best = t;
	}
	return best;
}

/* A box shrink while more than 2x is left, then a triangle. */
static void plan_box2(unsigned from, unsigned to, struct resize_axis *a)
{
	double f = (double)from / to;

	a->shrink = f > 2.0 ? (unsigned)ceil(f / 2.0) : 1;
	a->filter = from == to ? RESIZE_COPY : RESIZE_TRIANGLE;
	if (f < 1.0)
		a->filter = RESIZE_LANCZOS3;
}

/* resize_plan(), with a triangle where at most 2x is left. */
static void plan_triangle(unsigned from, unsigned to, struct resize_axis *a)
{
	double rest;

	resize_plan(from, to, a);
	rest = (double)from / to / a->shrink;
	if (rest > 1.0 && rest <= 2.0)
		a->filter = RESIZE_TRIANGLE;
}

struct bench_case {
	unsigned sw, sh, w, h;
};

int main(int argc, char **argv)
{
	static const struct bench_case cases[] = {
		{ 3000, 2000, 300, 200 },
		{ 1500, 1000, 400, 267 },
		{ 800, 600, 600, 450 },
		{ 1000, 667, 500, 333 },
		{ 640, 480, 1280, 960 },
	};
	const char *inputs[16] = { "plasma:fractal", "gradient:#2050c0-#f0e020" };
	int n_inputs = 2, runs = 7;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (n_inputs < 16)
			inputs[n_inputs++] = argv[i];
	}
	MagickCoreGenesis(argv[0], MagickFalse);
	SetMagickResourceLimit(ThreadResource, 1);
	printf("| input | resize | ours ms | MagickCore ms | PSNR ours | "
	       "PSNR Lanczos3 alone | PSNR box to <=2x + triangle | "
	       "PSNR ours, triangle for the last 2x | its ms |\n");
	printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (int i = 0; i < n_inputs; i++) {
		const char *name = strrchr(inputs[i], '/');

		name = name ? name + 1 : inputs[i];
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			const struct bench_case *k = &cases[c];
			struct pixels in, ref, out;
			struct resize_axis lz[2] = { { 1, RESIZE_LANCZOS3 },
						     { 1, RESIZE_LANCZOS3 } };
			struct resize_axis b2[2];
			struct resize_axis pl[2];
			double t_ours, t_magick = 1e30, p_ours, p_lz, p_b2, p_pl, t_pl;

			pixels_init(&in);
			pixels_init(&ref);
			pixels_init(&out);
			if (make_input(inputs[i], k->sw, k->sh, &in) < 0) {
				fprintf(stderr, "cannot read %s\n", inputs[i]);
				return 1;
			}
			for (int r = 0; r < (runs + 1) / 2; r++) {
				double t = magick_resize(&in, k->w, k->h, &ref);
				if (t < t_magick)
					t_magick = t;
			}
			t_ours = ours(&in, k->w, k->h, NULL, runs, &out);
			p_ours = psnr(&out, &ref);
			ours(&in, k->w, k->h, lz, 1, &out);
			p_lz = psnr(&out, &ref);
			plan_box2(k->sw, k->w, &b2[0]);
			plan_box2(k->sh, k->h, &b2[1]);
			ours(&in, k->w, k->h, b2, 1, &out);
			p_b2 = psnr(&out, &ref);
			plan_triangle(k->sw, k->w, &pl[0]);
			plan_triangle(k->sh, k->h, &pl[1]);
			t_pl = ours(&in, k->w, k->h, pl, runs, &out);
			p_pl = psnr(&out, &ref);
			printf("| %s | %ux%u → %ux%u | %.2f | %.2f | %.1f | %.1f | %.1f | %.1f | %.2f |\n",
			       name, k->sw, k->sh, k->w, k->h, t_ours, t_magick,
			       p_ours, p_lz, p_b2, p_pl, t_pl);
			fflush(stdout);
			pixels_release(&in);
			pixels_release(&ref);
			pixels_release(&out);
		}
	}
	MagickCoreTerminus();
	return 0;
}
