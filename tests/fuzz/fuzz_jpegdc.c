/*
 * fuzz_jpegdc.c - libFuzzer target for jpegdc_decode(), against libjpeg.
 *
 * The input bytes are an untrusted original, copied into a buffer of
 * exactly their size, decoded at 1/8 the plain way and split between two
 * threads (jpegdc_split_bytes 0), and at 2/8 split (the only way it takes
 * that scale).  jpegdc may decline (1) but never fail (-1: it is given no
 * stop callback), and whatever it decodes must be what libjpeg-turbo makes
 * at that scale, from data libjpeg did not have to pad.
 * A violation abort()s, which libFuzzer reports as a crash with the input
 * saved.  Files declaring more than 4096x4096 pixels are skipped: the
 * server's header limits stop them before any decoder.
 *
 * Build: see tests/fuzz/run.sh (links libjpeg).
 */
#include "jpegdc.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Noreturn static void fail(const char *what, size_t size)
{
	fprintf(stderr, "fuzz_jpegdc: invariant violated: %s (%zu bytes)\n",
		what, size);
	abort();
}

struct ref_err {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
	int made_up;
};

static void on_error(j_common_ptr c)
{
	longjmp(((struct ref_err *)c->err)->jump, 1);
}

static void on_message(j_common_ptr c, int level)
{
	if (level < 0 && (c->err->msg_code == JWRN_HIT_MARKER ||
			  c->err->msg_code == JWRN_JPEG_EOF))
		((struct ref_err *)c->err)->made_up = 1;
}

/* libjpeg's decode at scale/8 into *px (malloc'd); 0, 1 when it padded
 * data, -1 when it refused.  big: only read the header, and say if the
 * file declares more than 4096x4096 pixels. */
static int ref_decode(const uint8_t *d, size_t len, unsigned scale,
		      unsigned char **px, size_t *px_len, int *big)
{
	struct jpeg_decompress_struct c;
	struct ref_err je;
	volatile int rc = -1;

	*px = NULL;
	c.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = on_error;
	je.pub.emit_message = on_message;
	je.made_up = 0;
	jpeg_create_decompress(&c);
	if (setjmp(je.jump))
		goto out;
	jpeg_mem_src(&c, d, (unsigned long)len);
	jpeg_read_header(&c, TRUE);
	if (big != NULL) {
		*big = (uint64_t)c.image_width * c.image_height > 4096u * 4096u;
		rc = 0;
		goto out;
	}
	c.scale_num = scale;
	c.scale_denom = 8;
	jpeg_start_decompress(&c);
	*px_len = (size_t)c.output_width * c.output_height * c.output_components;
	*px = malloc(*px_len);
	while (c.output_scanline < c.output_height) {
		JSAMPROW row = *px + (size_t)c.output_scanline * c.output_width *
					     c.output_components;
		jpeg_read_scanlines(&c, &row, 1);
	}
	jpeg_finish_decompress(&c);
	rc = je.made_up;
out:
	jpeg_destroy_decompress(&c);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	struct jpegdc_image img;
	unsigned char *px = NULL;
	size_t px_len = 0;
	int big = 1, rc;

	memcpy(copy, data, size);
	if (ref_decode(copy, size, 1, &px, &px_len, &big) < 0 || big) {
		/* jpegdc must at least survive what libjpeg refuses. */
		if (!big && jpegdc_decode(copy, size, 1, NULL, NULL, &img, NULL) == 0)
			fail("decoded a file libjpeg refuses", size);
		free(copy);
		return 0;
	}
	/* At 1/8 once the plain way, once split between two threads; at
	 * 2/8 split. */
	for (int run = 0; run < 3; run++) {
		size_t saved = jpegdc_split_bytes;
		unsigned scale = run < 2 ? 1 : 2;
		int split = run > 0;

		memset(&img, 0, sizeof(img));
		if (split)
			jpegdc_split_bytes = 0;
		rc = jpegdc_decode(copy, size, scale, NULL, NULL, &img, NULL);
		jpegdc_split_bytes = saved;
		if (rc < 0)
			fail("failed without a stop callback", size);
		if (rc != 0)
			continue;
		free(px);
		px = NULL;
		int r = ref_decode(copy, size, scale, &px, &px_len, NULL);

		if (r < 0)
			fail("libjpeg refuses what jpegdc decoded", size);
		if (r > 0)
			fail("decoded data libjpeg had to pad", size);
		if ((size_t)img.width * img.height * img.channels != px_len ||
		    memcmp(img.pixels, px, px_len) != 0)
			fail(scale == 2 ? "pixels differ from libjpeg's (2/8)"
			     : split    ? "pixels differ from libjpeg's (split)"
					: "pixels differ from libjpeg's", size);
		jpegdc_image_release(&img);
	}
	free(px);
	free(copy);
	return 0;
}
