/*
 * color.h - pixels to sRGB: the original's embedded ICC profile applied
 * with Little CMS (lcms2), CMYK turned into RGB.
 *
 * Untagged pixels are sRGB already.  A tagged original is converted with
 * the perceptual intent and black point compensation; lcms2 falls back to
 * relative colorimetric for matrix-shaper profiles (most camera and
 * display profiles: sRGB, Display P3, Adobe RGB), which have no
 * perceptual table.  Grey stays grey (in sRGB's tone curve), alpha is
 * carried over.  CMYK uses its profile when it has one, else the plain
 * formula ImageMagick uses; Adobe's inverted CMYK is read the right way
 * round.  A profile that is broken, truncated, or for another colour
 * space than the pixels is ignored, with one log line, and the image is
 * still made.
 *
 * Transforms are made once per profile (by its bytes) and kept across
 * requests, up to COLOR_CACHE of them; one found to change nothing (an
 * sRGB profile) is remembered as such and costs nothing after.
 * Thread-safety: internally locked; call from any thread.
 * color_global_release() once, after threads have ended.
 */
#ifndef IMGSRV_COLOR_H
#define IMGSRV_COLOR_H

#include <stddef.h>

#include "err.h"
#include "pixels.h"

#define COLOR_CACHE 64 /* transforms kept */

/*
 * Converts p to sRGB in place (CMYK: into 3 channels, a new allocation)
 * with the profile icc[0..icc_len) (NULL: none).  Returns 0, or -1 with
 * ERR_BUSY when out of memory.
 */
int color_to_srgb(struct pixels *p, const unsigned char *icc, size_t icc_len,
		  int cmyk_inverted, struct err *e);

/*
 * A small sRGB profile for outputs that are to be tagged (-embed_srgb):
 * its bytes (static, made once) and their number in *len; NULL if it
 * could not be made.
 */
const unsigned char *color_srgb_profile(size_t *len);

/* Frees the cached transforms. */
void color_global_release(void);

#endif
