/*
 * testimg.h - test originals made with MagickCore: a JPEG of w x h pixels
 * from a MagickCore spec ("gradient:red-blue", "xc:red").
 * Header-only (static functions); MagickCore must be started (by
 * image_global_init() or MagickCoreGenesis()).
 */
#ifndef TESTIMG_H
#define TESTIMG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <magick/MagickCore.h>

/* The JPEG's bytes, malloc'd (the caller frees them), or NULL; quality 0
 * is MagickCore's default. */
static unsigned char *testimg_jpeg(unsigned w, unsigned h, const char *spec,
				   unsigned quality, size_t *len)
{
	ImageInfo *info = CloneImageInfo(NULL);
	ExceptionInfo *exc = AcquireExceptionInfo();
	unsigned char *blob = NULL, *copy = NULL;
	char size[32];
	Image *img;

	snprintf(size, sizeof(size), "%ux%u", w, h);
	CloneString(&info->size, size);
	snprintf(info->filename, sizeof(info->filename), "%s", spec);
	img = ReadImage(info, exc);
	if (img != NULL) {
		snprintf(info->filename, sizeof(info->filename), "JPEG:");
		snprintf(img->magick, sizeof(img->magick), "JPEG");
		if (quality != 0)
			info->quality = quality;
		blob = ImageToBlob(info, img, len, exc);
		DestroyImage(img);
	}
	if (blob != NULL && (copy = malloc(*len)) != NULL)
		memcpy(copy, blob, *len);
	RelinquishMagickMemory(blob);
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
	return copy;
}

#endif
