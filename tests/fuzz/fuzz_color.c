/*
 * fuzz_color.c - libFuzzer target for the ICC profile path: the input
 * bytes are an original's embedded profile, applied with color_to_srgb()
 * to small RGB, RGBA, grey and CMYK images.  lcms2 parses the profile;
 * what must hold is ours: no crash, no read outside the pixels or the
 * profile (ASan), the call succeeds (a bad profile is ignored), and the
 * image keeps its size, with 3 channels after CMYK.
 *
 * Build: see tests/fuzz/run.sh.
 */
#include "color.h"
#include "log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Noreturn static void fail(const char *what, size_t size)
{
	fprintf(stderr, "fuzz_color: invariant violated: %s (%zu bytes)\n", what,
		size);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct { unsigned ch; int cmyk; } kinds[] = {
		{ 3, 0 }, { 4, 0 }, { 1, 0 }, { 2, 0 }, { 4, 1 }
	};
	unsigned char *icc = malloc(size ? size : 1);

	log_set_level(LOG_ERROR);
	if (icc == NULL)
		return 0;
	memcpy(icc, data, size);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct pixels p;
		struct err e;

		pixels_init(&p);
		if (pixels_alloc(&p, 5, 3, kinds[k].ch, &e) < 0)
			continue;
		for (size_t i = 0; i < p.stride * p.height; i++)
			p.data[i] = (unsigned char)(i * 37);
		p.cmyk = kinds[k].cmyk;
		if (color_to_srgb(&p, icc, size, (int)(size & 1), &e) < 0)
			fail("color_to_srgb failed", size);
		if (p.width != 5 || p.height != 3)
			fail("the size changed", size);
		if (kinds[k].cmyk ? (p.channels != 3 || p.cmyk) : p.channels != kinds[k].ch)
			fail("the channels are wrong", size);
		pixels_release(&p);
	}
	free(icc);
	return 0;
}
