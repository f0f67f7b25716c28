/*
 * make_bench.c - where the time of one output goes: image_make() of each
 * FILE to each OUTPUT ("w400.jpg", "300x200.webp"), one thread, the
 * fastest of RUNS runs of each stage (decode with the colour conversion,
 * resize with flatten and orientation, encode) and of the whole, with
 * the decoder that took the original.
 *
 *   make_bench [-r RUNS] FILE... -- OUTPUT...
 *
 * Built by tests/bench/pixels_bench.sh (or `make build/tests/bench/make_bench`);
 * prints a markdown table.  Nothing is written: the store, Redis and the
 * web server are make bench's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "image.h"
#include "testfile.h"
#include "url.h"

static double lowest(double a, double b)
{
	return b < a ? b : a;
}

/* One row: the fastest of runs makes of output from data. */
static int row(const char *file, const unsigned char *data, size_t len,
	       const char *output, int runs)
{
	struct image_timings best = { 1e9, 1e9, 1e9 };
	double whole = 1e9;
	struct url_request r;
	struct err e;

	memset(&r, 0, sizeof(r));
	if (url_parse_file(output, &r, &e) < 0) {
		fprintf(stderr, "make_bench: %s: %s\n", output, e.msg);
		return -1;
	}
	for (int i = 0; i < runs; i++) {
		struct image_timings t = { 0, 0, 0 };
		struct image_opts o = {
			.quality = 75,
			.background = "white",
			.limits = { 100000000, 16384, 200 << 20 },
			.timings = &t,
		};
		struct buf out;
		double t0 = clock_now_ms();

		buf_init(&out);
		if (image_make(data, len, &r, &o, &out, &e) < 0) {
			fprintf(stderr, "make_bench: %s to %s: %s\n", file, output, e.msg);
			buf_release(&out);
			return -1;
		}
		whole = lowest(whole, clock_now_ms() - t0);
		buf_release(&out);
		best.decode = lowest(best.decode, t.decode);
		best.resize = lowest(best.resize, t.resize);
		best.encode = lowest(best.encode, t.encode);
	}
	printf("| %s | %s | %s | %.1f | %.1f | %.1f | %.1f |\n", file, output,
	       image_decoder(), best.decode, best.resize, best.encode, whole);
	return 0;
}

int main(int argc, char **argv)
{
	int runs = 9, first = 1, sep, rc = 0;
	struct err e;

	if (argc > 2 && strcmp(argv[1], "-r") == 0) {
		runs = atoi(argv[2]);
		first = 3;
	}
	for (sep = first; sep < argc && strcmp(argv[sep], "--") != 0; sep++)
		;
	if (runs < 1 || sep == first || sep >= argc - 1) {
		fprintf(stderr, "usage: make_bench [-r RUNS] FILE... -- OUTPUT...\n");
		return 2;
	}
	if (image_global_init(argv[0], 1, 16384, &e) < 0) {
		fprintf(stderr, "make_bench: %s\n", e.msg);
		return 1;
	}
	printf("| original | output | decoder | decode ms | resize ms | encode ms | whole ms |\n");
	printf("| --- | --- | --- | ---: | ---: | ---: | ---: |\n");
	for (int f = first; f < sep; f++) {
		size_t len = 0;
		unsigned char *data = test_read_file(argv[f], &len);

		if (data == NULL) {
			fprintf(stderr, "make_bench: cannot read %s\n", argv[f]);
			rc = 1;
			continue;
		}
		for (int o = sep + 1; o < argc; o++)
			if (row(argv[f], data, len, argv[o], runs) < 0)
				rc = 1;
		free(data);
	}
	image_global_release();
	return rc;
}
