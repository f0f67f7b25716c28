/* test_conf.c - flags: defaults, forms, bad values. */
#include <string.h>

#include "conf.h"
#include "test.h"

int main(void)
{
	struct conf c;
	struct err e;
	char *ok[] = { "image-server", "-threads", "8", "--store=/srv/s",
		       "-allow_upscale", "-e", "production", "-default_quality=90",
		       "-source", "file:///o/{model}/{id}.jpg", "-max_pixels",
		       "1000000000000" };
	char *help[] = { "image-server", "-h" };
	char *unknown[] = { "image-server", "-nope", "1" };
	char *noval[] = { "image-server", "-threads" };
	char *range[] = { "image-server", "-default_quality", "101" };
	char *junk[] = { "image-server", "-threads", "4x" };
	char *boolval[] = { "image-server", "-allow_upscale=maybe" };
	char *stray[] = { "image-server", "store" };

	conf_defaults(&c);
	CHECK_INT(c.threads, 4);
	CHECK_INT(c.default_quality, 75);
	CHECK_INT(c.maximum_width, 2000);
	CHECK_INT(c.maximum_height, 2000);
	CHECK_INT(c.allow_upscale, 0);
	CHECK_STR(c.background, "white");
	CHECK_STR(c.env, "development");
	CHECK_STR(c.redis_prefix, "imgsrv:");
	CHECK(c.max_pixels == 50000000);
	CHECK(conf_check(&c, &e) == 0, "%s", e.msg);

	CHECK(conf_parse_args(&c, 12, ok, &e) == 0, "%s", e.msg);
	CHECK_INT(c.threads, 8);
	CHECK_STR(c.store, "/srv/s");
	CHECK_INT(c.allow_upscale, 1);
	CHECK_STR(c.env, "production");
	CHECK_INT(c.default_quality, 90);
	CHECK_STR(c.source, "file:///o/{model}/{id}.jpg");
	CHECK(c.max_pixels == 1000000000000LL);
	CHECK(conf_check(&c, &e) == 0, "%s", e.msg);

	CHECK_INT(conf_parse_args(&c, 2, help, &e), 1);
	CHECK(conf_parse_args(&c, 3, unknown, &e) < 0 && strstr(e.msg, "-nope"));
	CHECK(conf_parse_args(&c, 2, noval, &e) < 0 && strstr(e.msg, "threads"));
	CHECK(conf_parse_args(&c, 3, range, &e) < 0 && strstr(e.msg, "1 to 100"),
	      "%s", e.msg);
	CHECK(conf_parse_args(&c, 3, junk, &e) < 0);
	CHECK(conf_parse_args(&c, 2, boolval, &e) < 0);
	CHECK(conf_parse_args(&c, 2, stray, &e) < 0);
	CHECK_INT(c.default_quality, 90); /* unaltered by the refused value */

	CHECK(conf_set(&c, "source", "ftp://x/{id}", &e) == 0);
	CHECK(conf_check(&c, &e) < 0 && strstr(e.msg, "-source"));
	CHECK(conf_set(&c, "source", "http://x/", &e) == 0);
	CHECK(conf_check(&c, &e) < 0 && strstr(e.msg, "{id}"));
	CHECK(conf_set(&c, "source", "", &e) == 0);
	CHECK(conf_set(&c, "env", "staging", &e) == 0);
	CHECK(conf_check(&c, &e) < 0);
	CHECK(conf_set(&c, "e", "production", &e) == 0);
	CHECK(conf_check(&c, &e) == 0, "%s", e.msg);

	/* -sizes: specs as URLs write them. */
	CHECK(conf_set(&c, "sizes", "w500,x600,300x400,full_size,w500-q50", &e) == 0);
	CHECK(conf_check(&c, &e) == 0, "%s", e.msg);
	CHECK(conf_set(&c, "sizes", "w500,w0500", &e) == 0);
	CHECK(conf_check(&c, &e) < 0 && strstr(e.msg, "w0500"), "%s", e.msg);
	CHECK(conf_set(&c, "sizes", "w500.jpg", &e) == 0);
	CHECK(conf_check(&c, &e) < 0 && strstr(e.msg, "-sizes"), "%s", e.msg);
	CHECK(conf_set(&c, "sizes", "w500,,x5", &e) == 0);
	CHECK(conf_check(&c, &e) == 0, "%s", e.msg);
	CHECK(conf_set(&c, "sizes", "", &e) == 0);
	/* Keys: long enough, visible ASCII; the old signing key only with a
	 * new one. */
	CHECK(conf_set(&c, "api_key", "short", &e) == 0);
	CHECK(conf_check(&c, &e) < 0 && strstr(e.msg, "-api_key"), "%s", e.msg);
	CHECK(conf_set(&c, "api_key", "0123456789 abcdef", &e) == 0);
	CHECK(conf_check(&c, &e) < 0 && strstr(e.msg, "-api_key"), "%s", e.msg);
	CHECK(conf_set(&c, "api_key", "0123456789abcdef", &e) == 0);
	CHECK(conf_check(&c, &e) == 0, "%s", e.msg);
	CHECK(conf_set(&c, "signing_key_old", "0123456789abcdef", &e) == 0);
	CHECK(conf_check(&c, &e) < 0 && strstr(e.msg, "needs -signing_key"), "%s", e.msg);
	CHECK(conf_set(&c, "signing_key", "fedcba9876543210", &e) == 0);
	CHECK(conf_check(&c, &e) == 0, "%s", e.msg);
	CHECK_INT(c.post_fetches, 2);
	return TEST_END("conf");
}
