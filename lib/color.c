/* color.c - ICC profiles to sRGB with lcms2, cached per profile. */
#include "color.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lcms2.h>
#include <openssl/evp.h>

#include "log.h"

/* One cached transform: a profile's bytes (by digest) for one input
 * layout.  refs: calls using it now (it is not freed under them). */
struct entry {
	unsigned char digest[32];
	size_t len;
	cmsUInt32Number format;
	cmsHTRANSFORM xf;  /* NULL: the profile is sRGB already */
	int refs;
	unsigned long used; /* for choosing whom to evict */
	int valid;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry cache[COLOR_CACHE];
static unsigned long clock_tick;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* lcms2's last complaint on this thread, for the one log line. */
static _Thread_local char lcms_msg[160];

static void on_lcms_error(cmsContext ctx, cmsUInt32Number code, const char *text)
{
	(void)ctx, (void)code;
	snprintf(lcms_msg, sizeof(lcms_msg), "%s", text);
}

static void setup(void)
{
	cmsSetLogErrorHandler(on_lcms_error);
}

/* sRGB's tone curve (IEC 61966-2-1) as lcms2's parametric type 4. */
static cmsToneCurve *srgb_curve(void)
{
	static const cmsFloat64Number p[5] = { 2.4, 1 / 1.055, 0.055 / 1.055,
					       1 / 12.92, 0.04045 };

	return cmsBuildParametricToneCurve(NULL, 4, p);
}

/* The destination for grey: grey with sRGB's tone curve and white. */
static cmsHPROFILE srgb_grey(void)
{
	cmsToneCurve *c = srgb_curve();
	cmsHPROFILE h = c ? cmsCreateGrayProfile(cmsD50_xyY(), c) : NULL;

	cmsFreeToneCurve(c);
	return h;
}

/* The lcms2 layout of p's pixels. */
static cmsUInt32Number format_of(const struct pixels *p, int inverted)
{
	if (p->cmyk)
		return inverted ? TYPE_CMYK_8_REV : TYPE_CMYK_8;
	switch (p->channels) {
	case 1: return TYPE_GRAY_8;
	case 2: return TYPE_GRAYA_8;
	case 3: return TYPE_RGB_8;
	default: return TYPE_RGBA_8;
	}
}

/* The profile colour space pixels of this layout need. */
static cmsColorSpaceSignature space_of(cmsUInt32Number format)
{
	switch (T_COLORSPACE(format)) {
	case PT_GRAY: return cmsSigGrayData;
	case PT_CMYK: return cmsSigCmykData;
	default: return cmsSigRgbData;
	}
}

/* The output layout: grey stays grey, CMYK becomes RGB, alpha stays. */
static cmsUInt32Number format_out(cmsUInt32Number in)
{
	switch (in) {
	case TYPE_GRAY_8: return TYPE_GRAY_8;
	case TYPE_GRAYA_8: return TYPE_GRAYA_8;
	case TYPE_RGBA_8: return TYPE_RGBA_8;
	default: return TYPE_RGB_8;
	}
}

/* True when xf leaves a grid of colours as they were (an sRGB profile):
 * then the pixels need no work at all. */
static int is_identity(cmsHTRANSFORM xf, cmsUInt32Number format)
{
	unsigned char in[6 * 6 * 6 * 4], out[sizeof(in)];
	unsigned n = 0, ch = T_CHANNELS(format) + T_EXTRA(format);

	if (T_COLORSPACE(format) == PT_CMYK)
		return 0;
	for (unsigned r = 0; r < 6; r++)
		for (unsigned g = 0; g < 6; g++)
			for (unsigned b = 0; b < 6; b++, n++) {
				unsigned char px[4] = { (unsigned char)(r * 51),
							(unsigned char)(g * 51),
							(unsigned char)(b * 51), 200 };
				if (ch <= 2)
					px[1] = 200;
				memcpy(in + n * ch, px, ch);
			}
	cmsDoTransform(xf, in, out, n);
	for (unsigned i = 0; i < n * ch; i++)
		if (abs((int)in[i] - (int)out[i]) > 1)
			return 0;
	return 1;
}

/*
 * Makes the transform from profile icc for pixels of format.  Returns 0
 * with *xf (NULL: nothing to do), or -1 with the reason in lcms_msg.
 */
static int make_transform(const unsigned char *icc, size_t len,
			  cmsUInt32Number format, cmsHTRANSFORM *xf)
{
	cmsHPROFILE in, out;
	cmsUInt32Number fout = format_out(format);
	int rc = -1;

	*xf = NULL;
	lcms_msg[0] = '\0';
	in = cmsOpenProfileFromMem(icc, (cmsUInt32Number)len);
	if (in == NULL)
		return -1;
	if (cmsGetColorSpace(in) != space_of(format)) {
		snprintf(lcms_msg, sizeof(lcms_msg), "a profile for another colour space");
		cmsCloseProfile(in);
		return -1;
	}
	out = T_COLORSPACE(fout) == PT_GRAY ? srgb_grey() : cmsCreate_sRGBProfile();
	if (out != NULL) {
		*xf = cmsCreateTransform(in, format, out, fout, INTENT_PERCEPTUAL,
					 cmsFLAGS_NOCACHE |
						 cmsFLAGS_BLACKPOINTCOMPENSATION |
						 (T_EXTRA(format) ? cmsFLAGS_COPY_ALPHA : 0));
		cmsCloseProfile(out);
	}
	cmsCloseProfile(in);
	if (*xf == NULL) {
		if (lcms_msg[0] == '\0')
			snprintf(lcms_msg, sizeof(lcms_msg), "no transform to sRGB");
		return -1;
	}
	rc = 0;
	if (is_identity(*xf, format)) {
		cmsDeleteTransform(*xf);
		*xf = NULL;
	}
	return rc;
}

static void digest_of(const unsigned char *icc, size_t len,
		      unsigned char digest[32])
{
	unsigned int n = 0;

	if (!EVP_Digest(icc, len, digest, &n, EVP_sha256(), NULL))
		memset(digest, 0, 32);
}

/*
 * The cached transform for (icc, format), made if need be; *slot is the
 * entry to give back with release().  Returns 0 (*xf NULL: nothing to do),
 * or -1 when the profile is unusable (logged by the caller).
 */
static int acquire(const unsigned char *icc, size_t len, cmsUInt32Number format,
		   cmsHTRANSFORM *xf, struct entry **slot)
{
	unsigned char digest[32];
	struct entry *free_slot = NULL;

	*slot = NULL;
	digest_of(icc, len, digest);
	pthread_mutex_lock(&mu);
	for (int i = 0; i < COLOR_CACHE; i++) {
		struct entry *c = &cache[i];

		if (c->valid && c->len == len && c->format == format &&
		    memcmp(c->digest, digest, 32) == 0) {
			c->refs++;
			c->used = ++clock_tick;
			*xf = c->xf;
			*slot = c;
			pthread_mutex_unlock(&mu);
			return 0;
		}
		if (!c->valid && free_slot == NULL)
			free_slot = c;
	}
	pthread_mutex_unlock(&mu);

	/* Made outside the lock: it takes a while, and lcms2 is safe so. */
	if (make_transform(icc, len, format, xf) < 0)
		return -1;
	pthread_mutex_lock(&mu);
	if (free_slot == NULL || free_slot->valid) {
		/* Evict the least used entry nobody is using. */
		free_slot = NULL;
		for (int i = 0; i < COLOR_CACHE; i++)
			if (cache[i].refs == 0 &&
			    (free_slot == NULL || cache[i].used < free_slot->used))
				free_slot = &cache[i];
		if (free_slot != NULL && free_slot->valid && free_slot->xf != NULL)
			cmsDeleteTransform(free_slot->xf);
	}
	if (free_slot != NULL) {
		memcpy(free_slot->digest, digest, 32);
		free_slot->len = len;
		free_slot->format = format;
		free_slot->xf = *xf;
		free_slot->refs = 1;
		free_slot->used = ++clock_tick;
		free_slot->valid = 1;
		*slot = free_slot;
	}
	pthread_mutex_unlock(&mu);
	return 0;
}

/* Gives back what acquire() handed out (an uncached transform is freed). */
static void release(cmsHTRANSFORM xf, struct entry *slot)
{
	if (slot == NULL) {
		if (xf != NULL)
			cmsDeleteTransform(xf);
		return;
	}
	pthread_mutex_lock(&mu);
	slot->refs--;
	pthread_mutex_unlock(&mu);
}

/* CMYK without a profile: ImageMagick's formula, ink times ink. */
static void cmyk_plain(const struct pixels *src, struct pixels *dst, int inverted)
{
	for (unsigned y = 0; y < src->height; y++) {
		const unsigned char *s = src->data + y * src->stride;
		unsigned char *d = dst->data + y * dst->stride;

		for (unsigned x = 0; x < src->width; x++, s += 4, d += 3) {
			unsigned k = inverted ? s[3] : 255u - s[3];

			for (int c = 0; c < 3; c++) {
				unsigned v = inverted ? s[c] : 255u - s[c];
				d[c] = (unsigned char)((v * k + 127) / 255);
			}
		}
	}
}

/* Runs xf over every row of src into dst (which may be src). */
static void apply(cmsHTRANSFORM xf, const struct pixels *src, struct pixels *dst)
{
	for (unsigned y = 0; y < src->height; y++)
		cmsDoTransform(xf, src->data + y * src->stride,
			       dst->data + y * dst->stride, src->width);
}

int color_to_srgb(struct pixels *p, const unsigned char *icc, size_t icc_len,
		  int cmyk_inverted, struct err *e)
{
	cmsUInt32Number format = format_of(p, cmyk_inverted);
	cmsHTRANSFORM xf = NULL;
	struct entry *slot = NULL;
	struct pixels rgb;
	int usable = 0;

	pthread_once(&once, setup);
	if (icc != NULL && icc_len > 0) {
		usable = acquire(icc, icc_len, format, &xf, &slot) == 0;
		if (!usable)
			log_warn("ignoring the original's ICC profile (%zu bytes): %s",
				 icc_len, lcms_msg[0] ? lcms_msg : "unreadable");
	}
	if (!p->cmyk) {
		if (xf != NULL)
			apply(xf, p, p);
		release(xf, slot);
		return 0;
	}
	pixels_init(&rgb);
	if (pixels_alloc(&rgb, p->width, p->height, 3, e) < 0) {
		release(xf, slot);
		return -1;
	}
	if (usable && xf != NULL)
		apply(xf, p, &rgb);
	else
		cmyk_plain(p, &rgb, cmyk_inverted);
	release(xf, slot);
	pixels_move(p, &rgb);
	return 0;
}

static unsigned char *srgb_bytes;
static cmsUInt32Number srgb_size;
static pthread_once_t srgb_once = PTHREAD_ONCE_INIT;

/* lcms2's own sRGB, saved as it builds it (ICC v4: its tone curves are
 * parametric, a few bytes each, where a v2 profile would sample them). */
static void make_srgb(void)
{
	cmsHPROFILE h = cmsCreate_sRGBProfile();
	cmsUInt32Number n = 0;

	if (h == NULL)
		return;
	if (cmsSaveProfileToMem(h, NULL, &n) && n > 0 &&
	    (srgb_bytes = malloc(n)) != NULL && cmsSaveProfileToMem(h, srgb_bytes, &n))
		srgb_size = n;
	cmsCloseProfile(h);
}

const unsigned char *color_srgb_profile(size_t *len)
{
	pthread_once(&srgb_once, make_srgb);
	*len = srgb_size;
	return srgb_size ? srgb_bytes : NULL;
}

void color_global_release(void)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < COLOR_CACHE; i++) {
		if (cache[i].valid && cache[i].xf != NULL)
			cmsDeleteTransform(cache[i].xf);
		memset(&cache[i], 0, sizeof(cache[i]));
	}
	pthread_mutex_unlock(&mu);
}
