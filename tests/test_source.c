/* test_source.c - template expansion, file:// sources and HTTP failures. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "source.h"
#include "store.h"
#include "test.h"

/* A TCP port on loopback that accepts connections and never answers. */
static int silent_listener(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 8) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

int main(void)
{
	char dir[] = "/tmp/test_source.XXXXXX", tmpl[256], path[512], url[64];
	struct source_opts o = { .tmpl = "", .connect_timeout_ms = 1000,
				 .timeout_ms = 1000, .max_bytes = 100,
				 .max_redirects = 3 };
	struct source *s;
	struct buf b;
	struct err e;
	int fd, port;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	CHECK(source_expand("http://h/{model}/{field}/{id}.jpg?x={id}", "user",
			    "avatar", "42", path, sizeof(path), &e) == 0);
	CHECK_STR(path, "http://h/user/avatar/42.jpg?x=42");
	CHECK(source_expand("{id}{id}{id}", "m", "f", "123456", path, 10, &e) < 0);
	CHECK(source_expand("{nope}/{id}", "m", "f", "1", path, sizeof(path), &e) == 0);
	CHECK_STR(path, "{nope}/1");

	/* No source configured. */
	buf_init(&b);
	s = source_new();
	CHECK(source_fetch(s, &o, "m", "f", "1", &b, &e) < 0 && e.code == ERR_NOT_FOUND);
	source_free(s);

	/* file:// */
	CHECK(mkdtemp(dir) != NULL);
	snprintf(tmpl, sizeof(tmpl), "file://%s/{model}/{field}/{id}.jpg", dir);
	o.tmpl = tmpl;
	s = source_new();
	snprintf(path, sizeof(path), "%s/user/avatar/42.jpg", dir);
	CHECK(store_write_atomic(path, "abc", 3, &e) == 0);
	CHECK(source_fetch(s, &o, "user", "avatar", "42", &b, &e) == 0, "%s", e.msg);
	CHECK(b.len == 3 && memcmp(b.data, "abc", 3) == 0);
	buf_release(&b);
	CHECK(source_fetch(s, &o, "user", "avatar", "43", &b, &e) < 0 &&
	      e.code == ERR_NOT_FOUND, "%s", e.msg);
	CHECK(b.len == 0);
	snprintf(path, sizeof(path), "%s/user/avatar/44.jpg", dir);
	{
		char big[200];
		memset(big, 'x', sizeof(big));
		CHECK(store_write_atomic(path, big, sizeof(big), &e) == 0);
	}
	CHECK(source_fetch(s, &o, "user", "avatar", "44", &b, &e) < 0 &&
	      e.code == ERR_UNPROCESSABLE, "%s", e.msg);
	CHECK(b.len == 0);
	source_free(s);

	/* A closed port: 502. */
	fd = silent_listener(&port);
	CHECK(fd >= 0);
	close(fd); /* now nothing listens there */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/{id}", port);
	o.tmpl = url;
	s = source_new();
	CHECK(source_fetch(s, &o, "m", "f", "1", &b, &e) < 0 && e.code == ERR_SOURCE,
	      "%s %s", err_name(e.code), e.msg);
	source_free(s);

	/* A source that accepts and never answers: 504 after the timeout. */
	fd = silent_listener(&port);
	CHECK(fd >= 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/{id}", port);
	s = source_new();
	CHECK(source_fetch(s, &o, "m", "f", "1", &b, &e) < 0 && e.code == ERR_TIMEOUT,
	      "%s %s", err_name(e.code), e.msg);
	source_free(s);
	close(fd);

	/* What the POST guard calls private (no traffic: classification only). */
	CHECK(source_ip_private("127.0.0.1") && source_ip_private("127.9.9.9"));
	CHECK(source_ip_private("10.1.2.3") && source_ip_private("172.16.0.1") &&
	      source_ip_private("172.31.255.255") && source_ip_private("192.168.1.1"));
	CHECK(source_ip_private("169.254.169.254"), "cloud metadata");
	CHECK(source_ip_private("100.64.0.1") && source_ip_private("0.0.0.0") &&
	      source_ip_private("224.0.0.1") && source_ip_private("255.255.255.255"));
	CHECK(source_ip_private("::1") && source_ip_private("::") &&
	      source_ip_private("fe80::1") && source_ip_private("fd00:ec2::254") &&
	      source_ip_private("::ffff:127.0.0.1") && source_ip_private("ff02::1"));
	CHECK(source_ip_private("64:ff9b::a00:1") && source_ip_private("2002:7f00:1::1"),
	      "NAT64 and 6to4 of private IPv4");
	CHECK(!source_ip_private("64:ff9b::808:808") && !source_ip_private("2002:808:808::1"));
	CHECK(source_ip_private("not an address"));
	CHECK(!source_ip_private("93.184.216.34") && !source_ip_private("8.8.8.8") &&
	      !source_ip_private("172.32.0.1") && !source_ip_private("2606:2800::1"),
	      "public addresses refused");

	/* -allowed_sources: hosts, and URL prefixes compared as the origin
	 * sees the path (dot segments removed, then decoded); an encoded
	 * dot, slash or backslash matches no prefix. */
	{
		const char *al = "images.internal,http://10.0.0.5/pub/,HTTPS://Cdn.Example/x/";

		CHECK(source_url_allowed(al, "http://IMAGES.internal:8080/a.jpg"));
		CHECK(source_url_allowed(al, "http://10.0.0.5/pub/a.jpg"));
		CHECK(source_url_allowed(al, "http://10.0.0.5:80/pub/a/b.jpg"));
		CHECK(source_url_allowed(al, "http://10.0.0.5/pub/a/../b.jpg"));
		CHECK(source_url_allowed(al, "http://10.0.0.5/pub/./b.jpg"));
		CHECK(source_url_allowed(al, "http://10.0.0.5/pub/%41.jpg?x=%2e%2e"),
		      "the query is not the path");
		CHECK(source_url_allowed(al, "https://cdn.example/x/1.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5/pub/%2e%2e/secret.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5/pub/%2E%2E/secret.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5/pub/%2e./secret.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5/pub/../secret.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5/pub/a/../../secret.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5/pub/..%2fsecret.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5/pub/..%5csecret.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5/pub/..\\secret.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5/pub%2fsecret.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5/pub/%00.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5/public/a.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5/pub"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5:8080/pub/a.jpg"));
		CHECK(!source_url_allowed(al, "https://10.0.0.5/pub/a.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.6/pub/a.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5.evil.net/pub/a.jpg"));
		CHECK(!source_url_allowed(al, "http://10.0.0.5@evil.net/pub/a.jpg"));
		CHECK(!source_url_allowed(al, "not a url"));
		CHECK(!source_url_allowed("", "http://10.0.0.5/pub/a.jpg"));
		/* A prefix that is itself written with dot segments. */
		CHECK(source_url_allowed("http://h/a/../pub/", "http://h/pub/x.jpg"));
		CHECK(!source_url_allowed("http://h/a/../pub/", "http://h/a/x.jpg"));
	}

	/* Only http and https, even when the template says otherwise. */
	o.tmpl = "gopher://127.0.0.1/{id}";
	s = source_new();
	CHECK(source_fetch(s, &o, "m", "f", "1", &b, &e) < 0 && e.code == ERR_INTERNAL);
	source_free(s);
	source_free(NULL);

	snprintf(path, sizeof(path), "rm -rf %s", dir);
	CHECK(system(path) == 0);
	curl_global_cleanup();
	return TEST_END("source");
}
