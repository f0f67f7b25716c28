/*
 * fuzz_sniff.c - libFuzzer target for sniff().
 *
 * The input bytes are an untrusted original.  They are copied into a
 * buffer of exactly their size, so that ASan reports a read even one byte
 * past the end.  An accepted input must name one of the four formats with
 * a non-zero size, an EXIF orientation of 1-8 and 1 to SNIFF_MAX_FRAMES + 1
 * frames (only GIF and WebP animate); a refused one must carry
 * ERR_UNPROCESSABLE and a message.  A violation abort()s, which libFuzzer
 * reports as a crash with the input saved.
 *
 * Build: see tests/fuzz/run.sh.
 */
#include "sniff.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Noreturn static void fail(const char *what, size_t size)
{
	fprintf(stderr, "fuzz_sniff: invariant violated: %s (%zu bytes)\n",
		what, size);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* malloc(0) is fine: ASan gives it no readable bytes at all. */
	unsigned char *d = malloc(size);
	struct sniff_info in, again;
	struct err e = { ERR_NONE, "" };
	int rc;

	if (d == NULL)
		return 0;
	memcpy(d, data, size);
	rc = sniff(d, size, &in, &e);
	if (rc == 0) {
		if (in.format != SNIFF_JPEG && in.format != SNIFF_PNG &&
		    in.format != SNIFF_GIF && in.format != SNIFF_WEBP)
			fail("accepted with an unknown format", size);
		if (in.width == 0 || in.height == 0)
			fail("accepted with a zero dimension", size);
		if (in.orientation < 1 || in.orientation > 8)
			fail("orientation outside 1-8", size);
		if (in.frames < 1 || in.frames > SNIFF_MAX_FRAMES + 1)
			fail("frame count outside 1 to SNIFF_MAX_FRAMES + 1", size);
		if (in.frames != 1 && in.format != SNIFF_GIF &&
		    in.format != SNIFF_WEBP)
			fail("frames for a format that cannot animate", size);
		if (sniff_coder(in.format) == NULL)
			fail("no coder for an accepted format", size);
	} else {
		if (rc != -1)
			fail("returned neither 0 nor -1", size);
		if (e.code != ERR_UNPROCESSABLE)
			fail("refused with a code other than unprocessable", size);
		if (e.msg[0] == '\0')
			fail("refused without a message", size);
	}
	/* Without an err struct: same answer (and no write through NULL). */
	if (sniff(d, size, &again, NULL) != rc ||
	    (rc == 0 && memcmp(&in, &again, sizeof(in)) != 0))
		fail("a second call gave a different answer", size);
	free(d);
	return 0;
}
