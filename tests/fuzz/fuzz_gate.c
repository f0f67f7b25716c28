/*
 * fuzz_gate.c - differential libFuzzer target: the strict sniffer against
 * the decoders' own header reads, on the same bytes.
 *
 * Whatever sniff() accepts, the format's decoder must read at the same
 * size, or refuse: libjpeg's jpeg_read_header, libpng's png_read_info,
 * libwebp's WebPGetFeatures and demuxer (gate_decoder_size), and for GIF
 * MagickCore's own reader in ping mode, none of whose frames may be
 * larger than the sniffer's largest.  A gate that measured another image
 * than the decoder decodes would let a small header through with a huge
 * image behind it.  A violation abort()s, which libFuzzer reports as a
 * crash with the input saved.
 *
 * Build: see tests/fuzz/run.sh (links libjpeg, libpng, libwebp and
 * MagickCore).
 */
#include "gate.h"
#include "image.h"
#include "sniff.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <magick/MagickCore.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* gate.c's GIF decode check; never called by gate_decoder_size(). */
int image_decode_check(const unsigned char *data, size_t len,
		       const struct sniff_info *info, struct err *e)
{
	(void)data, (void)len, (void)info;
	return err_set(e, ERR_INTERNAL, "not in the fuzz target");
}

_Noreturn static void fail(const char *what, const struct sniff_info *in,
			   unsigned w, unsigned h, size_t size)
{
	fprintf(stderr, "fuzz_gate: invariant violated: %s: sniff %ux%u, "
		"decoder %ux%u (%zu bytes)\n", what, in->width, in->height, w, h,
		size);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	MagickCoreGenesis((*argv)[0], MagickFalse);
	SetMagickResourceLimit(ThreadResource, 1);
	return 0;
}

/* MagickCore's GIF reader, pinging: every frame within the sniffer's. */
static void gif_ping(const unsigned char *d, size_t size,
		     const struct sniff_info *in)
{
	ExceptionInfo *exc = AcquireExceptionInfo();
	ImageInfo *info = CloneImageInfo(NULL);
	Image *img;

	snprintf(info->filename, sizeof(info->filename), "GIF:");
	img = PingBlob(info, d, size, exc);
	for (Image *f = img; f != NULL; f = GetNextImageInList(f))
		if (f->columns > in->width || f->rows > in->height)
			fail("MagickCore finds a larger GIF frame", in,
			     (unsigned)f->columns, (unsigned)f->rows, size);
	if (img != NULL)
		DestroyImageList(img);
	DestroyImageInfo(info);
	DestroyExceptionInfo(exc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *d = malloc(size);
	struct sniff_info in;
	unsigned w = 0, h = 0;

	if (d == NULL)
		return 0;
	memcpy(d, data, size);
	if (sniff(d, size, &in, NULL) == 0) {
		if (in.format == SNIFF_GIF)
			gif_ping(d, size, &in);
		else if (gate_decoder_size(in.format, d, size, &w, &h) == 0 &&
			 (w != in.width || h != in.height))
			fail("the decoder reads another size", &in, w, h, size);
	}
	free(d);
	return 0;
}
