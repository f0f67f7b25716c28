/* test_store.c - store layout, atomic writes and reads. */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "test.h"

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void shard(const char *id, const char *w1, const char *w2)
{
	char s1[3], s2[3];

	store_shard(id, s1, s2);
	CHECK(strcmp(s1, w1) == 0 && strcmp(s2, w2) == 0,
	      "%s -> %s/%s, want %s/%s", id, s1, s2, w1, w2);
}

/* For 10 million sequential ids, count ids per leaf directory. */
static void test_spread(void)
{
	static int leaf[100][100];
	int max = 0;
	char id[16], s1[3], s2[3];

	for (int i = 1; i <= 10000000; i += 1) {
		snprintf(id, sizeof(id), "%d", i);
		store_shard(id, s1, s2);
		if (s1[0] == '_' || s2[0] == '_')
			continue; /* the few short ids */
		int n = ++leaf[atoi(s1)][atoi(s2)];
		if (n > max)
			max = n;
	}
	CHECK(max <= 10000, "a directory holds %d ids", max);
	CHECK(max == 1000, "max per leaf %d", max);
}

int main(void)
{
	char root[] = "/tmp/test_store.XXXXXX", path[4096], dir[4096];
	struct buf b;
	struct err e;
	struct stat st;

	shard("3589782", "82", "97");
	shard("10855050", "50", "50");
	shard("1234", "34", "12");
	shard("123", "23", "_1");
	shard("12", "12", "__");
	shard("7", "_7", "__");
	shard("AbC-_z", "_z", "C-");
	test_spread();

	CHECK(mkdtemp(root) != NULL);
	CHECK(store_path(root, "user", "avatar", "3589782", "w500.jpg", path,
			 sizeof(path), &e) == 0);
	snprintf(dir, sizeof(dir), "%s/user/avatar/82/97/3589782/w500.jpg", root);
	CHECK_STR(path, dir);
	CHECK(store_path(root, "user", "avatar", "3589782", "w500.jpg", path, 20,
			 &e) < 0, "overflow not refused");

	CHECK(!store_exists(dir));
	CHECK(store_write_atomic(dir, "hello", 5, &e) == 0, "%s", e.msg);
	CHECK(store_exists(dir));
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0644, "mode %o",
	      st.st_mode & 0777);
	snprintf(path, sizeof(path), "%s/user/avatar/82/97/3589782", root);
	CHECK_INT(count_entries(path), 1); /* no temporary file left */

	buf_init(&b);
	CHECK(store_read(dir, 100, &b, &e) == 0, "%s", e.msg);
	CHECK(b.len == 5 && memcmp(b.data, "hello", 5) == 0);
	buf_release(&b);
	CHECK(store_read(dir, 4, &b, &e) < 0 && e.code == ERR_UNPROCESSABLE);
	buf_release(&b);
	snprintf(path, sizeof(path), "%s/nope/original", root);
	CHECK(store_read(path, 100, &b, &e) < 0 && e.code == ERR_NOT_FOUND);
	buf_release(&b);

	/* Overwrite is atomic too: the new content replaces the old. */
	CHECK(store_write_atomic(dir, "bye", 3, &e) == 0);
	CHECK(store_read(dir, 100, &b, &e) == 0 && b.len == 3);
	buf_release(&b);

	/* A directory that cannot be written: an error. Root writes there
	 * all the same, so the check needs another user. */
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "%s/ro", root);
		mkdir(path, 0555);
		snprintf(path, sizeof(path), "%s/ro/x/original", root);
		CHECK(store_write_atomic(path, "x", 1, &e) < 0);
		/* Not writable on this host: 503, for another host to try. */
		CHECK(e.code == ERR_BUSY, "%s", err_name(e.code));
	} else {
		SKIP("a write under a read-only directory fails",
		     "running as root, whom permissions do not stop");
	}
	/* A file where a directory should be. */
	snprintf(path, sizeof(path), "%s/user/avatar/82/97/3589782/w500.jpg/x", root);
	CHECK(store_write_atomic(path, "x", 1, &e) < 0 && e.code == ERR_INTERNAL,
	      "%s", e.msg);

	/* The start-up probe writes as a miss would, and leaves nothing. */
	CHECK(store_probe(root, &e) == 0, "%s", e.msg);
	snprintf(path, sizeof(path), "ls -A %s | grep -q probe", root);
	CHECK(system(path) != 0, "a probe file was left in %s", root);
	snprintf(path, sizeof(path), "%s/user/avatar/82/97/3589782/w500.jpg", root);
	CHECK(store_probe(path, &e) < 0 && e.code == ERR_INTERNAL, "%s", e.msg);

	snprintf(path, sizeof(path), "rm -rf %s", root);
	CHECK(system(path) == 0);
	return TEST_END("store");
}
