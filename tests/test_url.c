/* test_url.c - the URL grammar: what parses, to what, and what is refused. */
#include "test.h"
#include "url.h"

static void accepts(const char *path, enum url_fit fit, unsigned w, unsigned h,
		    unsigned q, enum url_format f)
{
	struct url_request r;
	struct err e;
	int rc = url_parse(path, &r, &e);

	CHECK(rc == 0, "%s: %s", path, e.msg);
	if (rc != 0)
		return;
	CHECK(r.fit == fit, "%s: fit %d", path, r.fit);
	CHECK(r.width == w, "%s: width %u", path, r.width);
	CHECK(r.height == h, "%s: height %u", path, r.height);
	CHECK(r.quality == q, "%s: quality %u", path, r.quality);
	CHECK(r.format == f, "%s: format %d", path, r.format);
}

static void refuses(const char *path, enum err_code code)
{
	struct url_request r;
	struct err e = { ERR_NONE, "" };

	CHECK(url_parse(path, &r, &e) < 0, "%s parsed", path);
	CHECK(e.code == code, "%s: code %s (%s)", path, err_name(e.code), e.msg);
	CHECK(e.msg[0] != '\0', "%s: no message", path);
}

int main(void)
{
	struct url_request r;
	char longid[80];

	/* The seed's examples. */
	accepts("/user/avatar/3589782/w500.jpg", URL_FIT_WIDTH, 500, 0, 0, URL_FMT_JPEG);
	accepts("/product/image/10855050/x400.jpeg", URL_FIT_FILL, 400, 400, 0, URL_FMT_JPEG);
	accepts("/user/avatar/3589782/x600-q50.jpg", URL_FIT_FILL, 600, 600, 50, URL_FMT_JPEG);
	accepts("/user/avatar/3589782/300x400.jpg", URL_FIT_FILL, 300, 400, 0, URL_FMT_JPEG);
	accepts("/user/avatar/3589782/full_size.png", URL_FIT_FULL, 0, 0, 0, URL_FMT_PNG);
	accepts("/user/avatar/3589782/full_size-q100.webp", URL_FIT_FULL, 0, 0, 100, URL_FMT_WEBP);
	accepts("/a/b/c/w1-q1.gif", URL_FIT_WIDTH, 1, 0, 1, URL_FMT_GIF);
	accepts("/a_1/b_2/A-z_09/99999x1.avif", URL_FIT_FILL, 99999, 1, 0, URL_FMT_AVIF);

	CHECK(url_parse("/user/avatar/3589782/w500.jpg", &r, NULL) == 0);
	CHECK_STR(r.model, "user");
	CHECK_STR(r.field, "avatar");
	CHECK_STR(r.id, "3589782");
	CHECK_STR(r.file, "w500.jpg");

	/* Malformed: 400. */
	refuses("", ERR_BAD_REQUEST);
	refuses("/", ERR_BAD_REQUEST);
	refuses("user/avatar/1/w500.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w500.jpg/", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/x/w500.jpg", ERR_BAD_REQUEST);
	refuses("//avatar/1/w500.jpg", ERR_BAD_REQUEST);
	refuses("/User/avatar/1/w500.jpg", ERR_BAD_REQUEST);
	refuses("/user/ava-tar/1/w500.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1.5/w500.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/../w500.jpg", ERR_BAD_REQUEST);
	refuses("/user/../../etc/passwd", ERR_BAD_REQUEST);
	refuses("/user/avatar/%2e%2e/w500.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w500%2ejpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1%2fw500.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w500.jpg\n", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w\xc3\xa9.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w500", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w500.", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w0.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w0500.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w-5.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w100000.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/h500.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/500.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/500x.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/x500x.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w500-q0.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w500-q101.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w500-q.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w500-q050.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w500-x.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/full_size2.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w500.jpg.png", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/w500.JPG", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/.w500.jpg", ERR_BAD_REQUEST);
	refuses("/user/avatar/1/original", ERR_BAD_REQUEST);
	memset(longid, '7', 65);
	snprintf(longid + 65, sizeof(longid) - 65, "/x");
	{
		char p[200];
		snprintf(p, sizeof(p), "/user/avatar/%.65s/w5.jpg", longid);
		refuses(p, ERR_BAD_REQUEST);
		snprintf(p, sizeof(p), "/user/avatar/%.64s/w5.jpg", longid);
		CHECK(url_parse(p, &r, NULL) == 0, "64-character id refused");
		snprintf(p, sizeof(p), "/%.33s/avatar/1/w5.jpg",
			 "abcdefghijklmnopqrstuvwxyzabcdefgh");
		refuses(p, ERR_BAD_REQUEST);
	}

	/* Well-formed but unknown format: 415. */
	refuses("/user/avatar/1/w500.bmp", ERR_FORMAT);
	refuses("/user/avatar/1/w500.tiff", ERR_FORMAT);
	refuses("/user/avatar/1/w500.svg", ERR_FORMAT);

	/* Formats. */
	CHECK_STR(url_format_mime(URL_FMT_WEBP), "image/webp");
	CHECK_STR(url_format_coder(URL_FMT_JPEG), "JPEG");
	CHECK_STR(url_format_ext(URL_FMT_JPEG), "jpg");

	/* url_parse_file, used for outputs lists. */
	CHECK(url_parse_file("x300.webp", &r, NULL) == 0);
	CHECK(r.fit == URL_FIT_FILL && r.width == 300 && r.height == 300);
	CHECK_STR(r.file, "x300.webp");

	return TEST_END("url");
}
