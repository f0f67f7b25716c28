/* test_color.c - ICC-tagged pixels to sRGB, against conversions made
 * here with lcms2 itself, with real profiles from Debian's
 * icc-profiles-free, colord-data and libgs-common packages (installed by
 * `make test`; a profile not found is a skip). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lcms2.h>

#include "color.h"
#include "log.h"
#include "test.h"
#include "testfile.h"

#define W 96
#define H 64

/* An sRGB test picture: gradients through every hue, darks to lights,
 * within what a print (CMYK) can hold when soft. */
static void picture(struct pixels *p, unsigned channels, int soft)
{
	struct err e;

	CHECK(pixels_alloc(p, W, H, channels, &e) == 0);
	for (unsigned y = 0; y < H; y++)
		for (unsigned x = 0; x < W; x++) {
			unsigned char *px = p->data + y * p->stride + x * channels;
			double hue = x * 6.283 / W, light = 0.15 + 0.7 * y / H;
			double sat = soft ? 0.35 : 0.8;

			for (unsigned c = 0; c < channels && c < 3; c++) {
				double v = light + sat * 0.5 * sin(hue + c * 2.094);
				px[c] = (unsigned char)(255 * fmin(1, fmax(0, v)) + 0.5);
			}
			if (channels == 2 || channels == 4)
				px[channels - 1] = (unsigned char)(x * 255 / (W - 1));
		}
}

static double psnr(const struct pixels *a, const struct pixels *b, unsigned ch)
{
	double se = 0;

	for (unsigned y = 0; y < H; y++)
		for (unsigned i = 0; i < W * ch; i++) {
			double d = (double)a->data[y * a->stride + i] -
				   (double)b->data[y * b->stride + i];
			se += d * d;
		}
	return se == 0 ? 99 : 10 * log10(255.0 * 255 * W * H * ch / se);
}

/* p's pixels, converted from sRGB into the profile icc with lcms2 (the
 * file a camera or an editor would write), in place; for CMYK into a new
 * 4-channel image. */
static int from_srgb(struct pixels *p, const unsigned char *icc, size_t len,
		     cmsUInt32Number out_format, struct pixels *out)
{
	cmsHPROFILE srgb = p->channels == 1 ? NULL : cmsCreate_sRGBProfile();
	cmsHPROFILE to = cmsOpenProfileFromMem(icc, (cmsUInt32Number)len);
	cmsHTRANSFORM xf;
	struct err e;

	if (p->channels == 1) { /* grey with sRGB's curve */
		static const cmsFloat64Number k[5] = { 2.4, 1 / 1.055, 0.055 / 1.055,
						       1 / 12.92, 0.04045 };
		cmsToneCurve *c = cmsBuildParametricToneCurve(NULL, 4, k);
		srgb = cmsCreateGrayProfile(cmsD50_xyY(), c);
		cmsFreeToneCurve(c);
	}
	if (srgb == NULL || to == NULL)
		return -1;
	xf = cmsCreateTransform(srgb, p->channels == 1 ? TYPE_GRAY_8 : TYPE_RGB_8,
				to, out_format, INTENT_PERCEPTUAL,
				cmsFLAGS_BLACKPOINTCOMPENSATION);
	cmsCloseProfile(srgb);
	cmsCloseProfile(to);
	if (xf == NULL)
		return -1;
	if (out != p && pixels_alloc(out, W, H, T_CHANNELS(out_format), &e) < 0)
		return -1;
	for (unsigned y = 0; y < H; y++)
		cmsDoTransform(xf, p->data + y * p->stride, out->data + y * out->stride, W);
	cmsDeleteTransform(xf);
	return 0;
}

/* An RGB profile: the tagged picture comes back to sRGB within 30 dB of
 * the original, where the untagged reading is far off. */
static void rgb_profile(const char *path)
{
	struct pixels orig, tagged;
	unsigned char *icc;
	size_t len;
	struct err e;
	double before, after;

	icc = test_read_file(path, &len);
	if (icc == NULL) {
		SKIP(path, "not installed (make test installs it)");
		return;
	}
	pixels_init(&orig), pixels_init(&tagged);
	picture(&orig, 3, 0);
	picture(&tagged, 3, 0);
	CHECK(from_srgb(&tagged, icc, len, TYPE_RGB_8, &tagged) == 0, "%s", path);
	before = psnr(&orig, &tagged, 3);
	CHECK(color_to_srgb(&tagged, icc, len, 0, &e) == 0, "%s: %s", path, e.msg);
	after = psnr(&orig, &tagged, 3);
	CHECK(after >= 30.0, "%s: %.1f dB after conversion", path, after);
	printf("# %s: %.1f dB read untagged, %.1f dB converted\n", path, before, after);
	pixels_release(&orig), pixels_release(&tagged);
	free(icc);
}

int main(void)
{
	static const char *const rgb[] = {
		"/usr/share/color/icc/colord/ProPhotoRGB.icc",
		"/usr/share/color/icc/colord/AdobeRGB1998.icc",
		"/usr/share/color/icc/compatibleWithAdobeRGB1998.icc",
		"/usr/share/color/icc/colord/WideGamutRGB.icc",
		"/usr/share/color/icc/colord/ECI-RGBv2.icc",
		"/usr/share/color/icc/ghostscript/a98.icc",
	};
	struct pixels p, q;
	unsigned char *icc;
	size_t len;
	struct err e;

	log_set_level(LOG_ERROR);
	for (size_t i = 0; i < sizeof(rgb) / sizeof(rgb[0]); i++)
		rgb_profile(rgb[i]);

	/* A wide-gamut profile really changes the pixels: ProPhoto's
	 * untagged reading is dull (what the issue measured at 19 dB). */
	if ((icc = test_read_file(rgb[0], &len)) != NULL) {
		pixels_init(&p), pixels_init(&q);
		picture(&p, 3, 0);
		picture(&q, 3, 0);
		CHECK(from_srgb(&q, icc, len, TYPE_RGB_8, &q) == 0);
		CHECK(psnr(&p, &q, 3) < 25.0, "ProPhoto read untagged: %.1f dB",
		      psnr(&p, &q, 3));
		/* With alpha: colours converted, alpha carried over. */
		pixels_release(&q);
		picture(&q, 4, 0);
		{
			struct pixels rgbonly;
			pixels_init(&rgbonly);
			picture(&rgbonly, 3, 0);
			CHECK(from_srgb(&rgbonly, icc, len, TYPE_RGB_8, &rgbonly) == 0);
			for (unsigned y = 0; y < H; y++)
				for (unsigned x = 0; x < W; x++)
					memcpy(q.data + y * q.stride + 4 * x,
					       rgbonly.data + y * rgbonly.stride + 3 * x, 3);
			pixels_release(&rgbonly);
		}
		CHECK(color_to_srgb(&q, icc, len, 0, &e) == 0, "%s", e.msg);
		{
			int alpha_ok = 1;
			double se = 0;
			for (unsigned y = 0; y < H; y++)
				for (unsigned x = 0; x < W; x++) {
					const unsigned char *a = q.data + y * q.stride + 4 * x;
					const unsigned char *b = p.data + y * p.stride + 3 * x;
					alpha_ok &= a[3] == (unsigned char)(x * 255 / (W - 1));
					for (int c = 0; c < 3; c++)
						se += (double)(a[c] - b[c]) * (a[c] - b[c]);
				}
			CHECK(alpha_ok, "alpha changed");
			CHECK(10 * log10(255.0 * 255 * W * H * 3 / (se ? se : 1)) >= 30.0,
			      "RGBA ProPhoto");
		}
		pixels_release(&p), pixels_release(&q);
		free(icc);
	} else {
		SKIP("ProPhoto read untagged is dull", "profile not installed");
	}

	/* sRGB's own profile changes nothing. */
	if ((icc = test_read_file("/usr/share/color/icc/colord/sRGB.icc", &len)) != NULL) {
		pixels_init(&p), pixels_init(&q);
		picture(&p, 3, 0);
		picture(&q, 3, 0);
		CHECK(color_to_srgb(&q, icc, len, 0, &e) == 0);
		CHECK(psnr(&p, &q, 3) >= 45.0, "sRGB to sRGB: %.1f dB", psnr(&p, &q, 3));
		pixels_release(&p), pixels_release(&q);
		free(icc);
	} else {
		SKIP("sRGB.icc changes nothing", "profile not installed");
	}

	/* Grey with a grey profile (gamma 2.2 or so): to sRGB's grey curve,
	 * still one channel. */
	if ((icc = test_read_file("/usr/share/color/icc/ghostscript/default_gray.icc", &len)) != NULL) {
		pixels_init(&p), pixels_init(&q);
		picture(&p, 1, 0);
		picture(&q, 1, 0);
		CHECK(from_srgb(&q, icc, len, TYPE_GRAY_8, &q) == 0);
		CHECK(color_to_srgb(&q, icc, len, 0, &e) == 0, "%s", e.msg);
		CHECK_INT(q.channels, 1);
		CHECK(psnr(&p, &q, 1) >= 30.0, "grey: %.1f dB", psnr(&p, &q, 1));
		pixels_release(&p), pixels_release(&q);
		free(icc);
	} else {
		SKIP("grey profile", "default_gray.icc not installed");
	}

	/* CMYK with its profile, plain and as Adobe writes it (inverted):
	 * what lcms2 makes of it (the reference), and near the sRGB it was
	 * printed from (a print's gamut is smaller: soft colours here); and
	 * without a profile, ImageMagick's formula. */
	if ((icc = test_read_file("/usr/share/color/icc/ghostscript/default_cmyk.icc", &len)) != NULL) {
		struct pixels cmyk, ref;
		for (int inv = 0; inv < 2; inv++) {
			cmsHPROFILE from = cmsOpenProfileFromMem(icc, (cmsUInt32Number)len);
			cmsHPROFILE to = cmsCreate_sRGBProfile();
			cmsHTRANSFORM xf = cmsCreateTransform(from, TYPE_CMYK_8, to, TYPE_RGB_8,
							      INTENT_PERCEPTUAL,
							      cmsFLAGS_BLACKPOINTCOMPENSATION);

			pixels_init(&p), pixels_init(&cmyk), pixels_init(&ref);
			picture(&p, 3, 1);
			CHECK(from_srgb(&p, icc, len, TYPE_CMYK_8, &cmyk) == 0);
			CHECK(pixels_alloc(&ref, W, H, 3, &e) == 0 && xf != NULL);
			for (unsigned y = 0; xf != NULL && y < H; y++)
				cmsDoTransform(xf, cmyk.data + y * cmyk.stride,
					       ref.data + y * ref.stride, W);
			if (inv)
				for (unsigned y = 0; y < H; y++)
					for (unsigned i = 0; i < W * 4; i++)
						cmyk.data[y * cmyk.stride + i] ^= 0xFF;
			cmyk.cmyk = 1;
			CHECK(color_to_srgb(&cmyk, icc, len, inv, &e) == 0, "%s", e.msg);
			CHECK(cmyk.channels == 3 && !cmyk.cmyk, "CMYK became %u channels",
			      cmyk.channels);
			CHECK(psnr(&ref, &cmyk, 3) >= 45.0, "CMYK%s against lcms2: %.1f dB",
			      inv ? " inverted" : "", psnr(&ref, &cmyk, 3));
			CHECK(psnr(&p, &cmyk, 3) >= 28.0, "CMYK%s against its sRGB: %.1f dB",
			      inv ? " inverted" : "", psnr(&p, &cmyk, 3));
			pixels_release(&p), pixels_release(&cmyk), pixels_release(&ref);
			cmsDeleteTransform(xf);
			cmsCloseProfile(from);
			cmsCloseProfile(to);
		}
		free(icc);
	} else {
		SKIP("CMYK with a profile", "default_cmyk.icc not installed");
	}
	pixels_init(&p);
	CHECK(pixels_alloc(&p, 2, 1, 4, &e) == 0);
	p.cmyk = 1;
	memcpy(p.data, "\x00\x00\x00\x00\xFF\x00\x80\x40", 8);
	CHECK(color_to_srgb(&p, NULL, 0, 0, &e) == 0);
	CHECK(p.channels == 3 && p.data[0] == 255 && p.data[1] == 255 && p.data[2] == 255,
	      "no ink: %u %u %u", p.data[0], p.data[1], p.data[2]);
	/* C=255 M=0 Y=128 K=64: R = 0, G = 191, B = 127*191/255 = 95 */
	CHECK(p.data[3] == 0 && p.data[4] == 191 && p.data[5] == 95,
	      "plain CMYK: %u %u %u", p.data[3], p.data[4], p.data[5]);
	pixels_release(&p);
	CHECK(pixels_alloc(&p, 1, 1, 4, &e) == 0);
	p.cmyk = 1;
	memcpy(p.data, "\xFF\xFF\xFF\xFF", 4); /* inverted: no ink */
	CHECK(color_to_srgb(&p, NULL, 0, 1, &e) == 0);
	CHECK(p.data[0] == 255 && p.data[1] == 255 && p.data[2] == 255,
	      "inverted no ink: %u %u %u", p.data[0], p.data[1], p.data[2]);
	pixels_release(&p);

	/* A broken, truncated or mismatched profile is ignored: the pixels
	 * stay as they are, and the call succeeds. */
	{
		unsigned char junk[200];
		const char *why[] = { "junk", "cut within its header", "RGB profile on grey" };
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)(i * 7 + 3);
		for (int k = 0; k < 3; k++) {
			unsigned char *prof = junk;
			size_t n = sizeof(junk);
			unsigned char *real = test_read_file(rgb[0], &len);
			struct pixels before;

			if (k > 0 && real == NULL) {
				SKIP(why[k], "profile not installed");
				continue;
			}
			if (k == 1)
				prof = real, n = 100;
			if (k == 2)
				prof = real, n = len;
			pixels_init(&p), pixels_init(&before);
			picture(&p, k == 2 ? 1 : 3, 0);
			picture(&before, k == 2 ? 1 : 3, 0);
			CHECK(color_to_srgb(&p, prof, n, 0, &e) == 0, "%s", why[k]);
			CHECK(psnr(&p, &before, p.channels) == 99, "%s changed the pixels",
			      why[k]);
			pixels_release(&p), pixels_release(&before);
			free(real);
		}
		/* Cut anywhere else: converted or ignored, never a crash. */
		if ((icc = test_read_file(rgb[0], &len)) != NULL) {
			for (size_t cut = 128; cut < len; cut += 97) {
				pixels_init(&p);
				picture(&p, 3, 0);
				CHECK(color_to_srgb(&p, icc, cut, 0, &e) == 0, "cut at %zu", cut);
				pixels_release(&p);
			}
			free(icc);
		}
	}

	/* The profile outputs may carry: sRGB, RGB, small. */
	{
		size_t n = 0;
		const unsigned char *s = color_srgb_profile(&n);
		cmsHPROFILE h = s ? cmsOpenProfileFromMem(s, (cmsUInt32Number)n) : NULL;

		CHECK(s != NULL && n > 128 && n < 4096, "%zu bytes", n);
		CHECK(h != NULL && cmsGetColorSpace(h) == cmsSigRgbData);
		if (h != NULL)
			cmsCloseProfile(h);
		/* Tagging sRGB pixels with it and converting changes nothing. */
		if (s != NULL) {
			pixels_init(&p), pixels_init(&q);
			picture(&p, 3, 0);
			picture(&q, 3, 0);
			CHECK(color_to_srgb(&q, s, n, 0, &e) == 0);
			CHECK(psnr(&p, &q, 3) >= 45.0);
			pixels_release(&p), pixels_release(&q);
		}
	}
	color_global_release();
	return TEST_END("color");
}
