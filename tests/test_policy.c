/* test_policy.c - what the configuration allows of a request: writes
 * (-api_key), misses (-sizes, signed URLs), outputs and POST parameters. */
#include <string.h>

#include "conf.h"
#include "policy.h"
#include "sign.h"
#include "test.h"

#define KEY "app-key-0123456789abcdef"

static int miss(const struct conf *c, const char *path, const char *query,
		struct err *e)
{
	struct url_request r;

	if (url_parse(path, &r, e) < 0)
		return -2;
	return policy_check_miss(c, &r, path, query, e);
}

static void test_write(void)
{
	struct conf c;
	struct err e;

	conf_defaults(&c);
	/* No key: writes need none (the web server's allow list decides). */
	CHECK_INT(policy_check_write(&c, NULL, &e), 0);
	CHECK_INT(policy_check_write(&c, "Bearer whatever", &e), 0);

	snprintf(c.api_key, sizeof(c.api_key), "%s", KEY);
	CHECK_INT(policy_check_write(&c, "Bearer " KEY, &e), 0);
	CHECK_INT(policy_check_write(&c, "bearer   " KEY, &e), 0);
	CHECK_INT(policy_check_write(&c, "BEARER " KEY, &e), 0);
	err_clear(&e);
	CHECK(policy_check_write(&c, NULL, &e) < 0 && e.code == ERR_UNAUTHORIZED);
	CHECK(policy_check_write(&c, "", &e) < 0 && e.code == ERR_UNAUTHORIZED);
	CHECK(policy_check_write(&c, "Basic " KEY, &e) < 0);
	CHECK(policy_check_write(&c, KEY, &e) < 0);
	CHECK(policy_check_write(&c, "Bearer", &e) < 0);
	CHECK(policy_check_write(&c, "Bearer ", &e) < 0);
	CHECK(policy_check_write(&c, "Bearer " KEY "x", &e) < 0);
	CHECK(policy_check_write(&c, "Bearer " KEY " x", &e) < 0);
	CHECK(policy_check_write(&c, "Bearer app-key-0123456789abcde", &e) < 0);
	CHECK(policy_check_write(&c, "Bearer APP-KEY-0123456789ABCDEF", &e) < 0);
	CHECK(e.code == ERR_UNAUTHORIZED && strstr(e.msg, KEY) == NULL,
	      "the message names no key: %s", e.msg);
	CHECK_INT(policy_method("DELETE"), POLICY_DELETE);
	CHECK_INT(policy_method("delete"), POLICY_OTHER);
}

static void test_sizes(void)
{
	struct conf c;
	struct err e;

	CHECK_INT(policy_size_listed("w500,x600,300x400,full_size,w500-q50", "w500"), 1);
	CHECK_INT(policy_size_listed("w500,x600,300x400,full_size,w500-q50", "w500-q50"), 1);
	CHECK_INT(policy_size_listed("w500,x600,300x400,full_size,w500-q50", "full_size"), 1);
	CHECK_INT(policy_size_listed("w500,x600,300x400,full_size,w500-q50", "w50"), 0);
	CHECK_INT(policy_size_listed("w500,x600,300x400,full_size,w500-q50", "w5000"), 0);
	CHECK_INT(policy_size_listed("w500,x600,300x400,full_size,w500-q50", "w500-q5"), 0);
	CHECK_INT(policy_size_listed("w500", "w500"), 1);
	CHECK_INT(policy_size_listed("", "w500"), 0);

	conf_defaults(&c);
	/* Neither -sizes nor -signing_key: any miss, as before. */
	CHECK_INT(miss(&c, "/user/avatar/1/w1600-q1.jpg", NULL, &e), 0);

	snprintf(c.sizes, sizeof(c.sizes), "w500,x100-q50");
	CHECK_INT(miss(&c, "/user/avatar/1/w500.jpg", NULL, &e), 0);
	CHECK_INT(miss(&c, "/user/avatar/1/w500.webp", "sig=x", &e), 0);
	CHECK_INT(miss(&c, "/user/avatar/1/x100-q50.png", NULL, &e), 0);
	err_clear(&e);
	CHECK_INT(miss(&c, "/user/avatar/1/x100.png", NULL, &e), -1);
	CHECK(e.code == ERR_FORBIDDEN && strstr(e.msg, "x100"), "%s", e.msg);
	CHECK_INT(miss(&c, "/user/avatar/1/w500-q75.jpg", NULL, &e), -1);
	CHECK_INT(miss(&c, "/user/avatar/1/w50.jpg", NULL, &e), -1);
}

static void test_signed(void)
{
	const char *p = "/user/avatar/3589782/w777.jpg";
	char sig[SIGN_HEX_LEN + 1], old[SIGN_HEX_LEN + 1], q[256];
	struct conf c;
	struct err e;

	conf_defaults(&c);
	snprintf(c.signing_key, sizeof(c.signing_key), "sign-key-0123456789");
	sign_path(c.signing_key, p, sig);
	sign_path("sign-key-old-01234567", p, old);

	snprintf(q, sizeof(q), "sig=%s", sig);
	CHECK_INT(miss(&c, p, q, &e), 0);
	snprintf(q, sizeof(q), "v=2&sig=%s&x", sig);
	CHECK_INT(miss(&c, p, q, &e), 0);
	err_clear(&e);
	CHECK_INT(miss(&c, p, NULL, &e), -1);
	CHECK(e.code == ERR_FORBIDDEN && strstr(e.msg, "not signed"), "%s", e.msg);
	CHECK_INT(miss(&c, p, "sig=", &e), -1);
	CHECK_INT(miss(&c, "/user/avatar/3589782/w778.jpg", q, &e), -1);
	CHECK(strstr(e.msg, "not the signature"), "%s", e.msg);
	snprintf(q, sizeof(q), "xsig=%s", sig);
	CHECK_INT(miss(&c, p, q, &e), -1);
	/* The previous key, only while it is given. */
	snprintf(q, sizeof(q), "sig=%s", old);
	CHECK_INT(miss(&c, p, q, &e), -1);
	snprintf(c.signing_key_old, sizeof(c.signing_key_old), "sign-key-old-01234567");
	CHECK_INT(miss(&c, p, q, &e), 0);

	/* Both: a listed spec, or a signature. */
	snprintf(c.sizes, sizeof(c.sizes), "w500");
	CHECK_INT(miss(&c, "/user/avatar/3589782/w500.jpg", NULL, &e), 0);
	CHECK_INT(miss(&c, p, q, &e), 0);
	err_clear(&e);
	CHECK_INT(miss(&c, p, NULL, &e), -1);
	CHECK(strstr(e.msg, "w777 is not in -sizes"), "%s", e.msg);
}

/* POST's replace= and force=, and a DELETE's path. */
static void test_purges(void)
{
	struct policy_post p;
	struct conf c;
	struct err e;

	conf_defaults(&c);
	CHECK_INT(policy_parse_post(&c, ~0u, "/m/f/1", "replace=1&outputs=w10.jpg",
				    &p, &e), 0);
	CHECK(p.replace == 1 && p.force == 0 && p.noutputs == 1);
	CHECK_INT(policy_parse_post(&c, ~0u, "/m/f/1", "replace=0&force=1", &p, &e), 0);
	CHECK(p.replace == 0 && p.force == 1);
	CHECK_INT(policy_parse_post(&c, ~0u, "/m/f/1", "replace=yes", &p, &e), -1);
	CHECK(strstr(e.msg, "replace must be 0 or 1") != NULL, "%s", e.msg);
	CHECK_INT(policy_parse_post(&c, ~0u, "/m/f/1", "force=2", &p, &e), -1);
	CHECK(strstr(e.msg, "force must be 0 or 1") != NULL, "%s", e.msg);
	CHECK_INT(policy_parse_post(&c, ~0u, "/m/f/1", "purge=1", &p, &e), -1);
	CHECK(strstr(e.msg, "replace)") != NULL, "the known ones listed: %s", e.msg);

	CHECK_INT(policy_parse_delete("/user/avatar/a-1_B", NULL, &p, &e), 0);
	CHECK_STR(p.model, "user");
	CHECK_STR(p.field, "avatar");
	CHECK_STR(p.id, "a-1_B");
	CHECK_INT(policy_parse_delete("/user/avatar/1", "", &p, &e), 0);
	CHECK_INT(policy_parse_delete("/user/avatar/1", "x=1", &p, &e), -1);
	CHECK_INT(e.code, ERR_BAD_REQUEST);
	CHECK_INT(policy_parse_delete("/user/avatar", NULL, &p, &e), -1);
	CHECK(strncmp(e.msg, "DELETE /{model}", 15) == 0, "%s", e.msg);
	CHECK_INT(policy_parse_delete("/user/avatar/1/", NULL, &p, &e), -1);
	CHECK_INT(policy_parse_delete("/User/avatar/1", NULL, &p, &e), -1);
	CHECK_INT(policy_parse_delete("/user/avatar/1/w100.jpg", NULL, &p, &e), -1);
	CHECK_INT(policy_parse_delete("/user/avatar/../1", NULL, &p, &e), -1);
}

int main(void)
{
	test_write();
	test_purges();
	test_sizes();
	test_signed();
	return TEST_END("policy");
}
