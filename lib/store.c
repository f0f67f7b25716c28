/* store.c - store paths and atomic writes. */
#include "store.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void store_shard(const char *id, char s1[3], char s2[3])
{
	char pad[4] = { '_', '_', '_', '_' };
	size_t len = strlen(id), n = len < 4 ? len : 4;

	/* The last n characters of the id, right-aligned in pad. */
	memcpy(pad + 4 - n, id + len - n, n);
	s2[0] = pad[0], s2[1] = pad[1], s2[2] = '\0';
	s1[0] = pad[2], s1[1] = pad[3], s1[2] = '\0';
}

int store_path(const char *root, const char *model, const char *field,
	       const char *id, const char *name, char *buf, size_t size,
	       struct err *e)
{
	char s1[3], s2[3];
	int n;

	store_shard(id, s1, s2);
	n = snprintf(buf, size, "%s/%s/%s/%s/%s/%s/%s", root, model, field, s1,
		     s2, id, name);
	if (n < 0 || (size_t)n >= size)
		return err_set(e, ERR_INTERNAL, "store path too long");
	return 0;
}

/*
 * A full disk or quota is 507.  A store that this host may not write (a
 * read-only mount, a remount after an error, permissions) is 503: on
 * several hosts another one may well write it, a web server told so
 * tries the next responder (deploy/nginx/multi-host.conf), and no other
 * host is told this host's error (output.c leaves no error key for an
 * ERR_BUSY).
 */
static int io_error(struct err *e, int errnum, const char *what,
		    const char *path)
{
	enum err_code code = ERR_INTERNAL;

	if (errnum == ENOSPC || errnum == EDQUOT)
		code = ERR_STORAGE_FULL;
	if (errnum == EROFS || errnum == EACCES || errnum == EPERM)
		return err_set(e, ERR_BUSY, "store: %s %s: %s (not writable on "
			       "this host)", what, path, strerror(errnum));
	return err_set(e, code, "store: %s %s: %s", what, path,
		       strerror(errnum));
}

/* Creates every missing directory above the last '/' of path. */
static int make_parents(const char *path, struct err *e)
{
	char dir[4096];
	size_t len = strlen(path);

	if (len >= sizeof(dir))
		return err_set(e, ERR_INTERNAL, "store path too long");
	memcpy(dir, path, len + 1);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return io_error(e, errno, "mkdir", dir);
		*p = '/';
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : 0;
	int fd, rc;

	if (len == 0 || len >= sizeof(dir))
		return 0;
	memcpy(dir, path, len);
	dir[len] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * Writes, fsyncs and closes a temporary file beside path; its name goes
 * into tmp.  Returns 0, or -1 with nothing left behind.
 *
 * What the store relies on of its file system (local or NFS; see "The
 * store on NFS" in docs/deploying.md), and nothing more: the temporary
 * file is made in the final name's own directory, with an exclusive
 * create (mkostemp: O_EXCL, so two hosts never share one), and fsynced
 * and closed before it is renamed, so that close-to-open consistency
 * shows its whole content to any host that opens the final name; a
 * rename (or a link, for store_write_new) within one directory is atomic.
 * No file lock and no timestamp is ever read or relied on.
 */
static int write_tmp(const char *path, const void *data, size_t len,
		     char *tmp, size_t size, struct err *e)
{
	const char *slash = strrchr(path, '/');
	const unsigned char *p = data;
	int fd, n, saved;

	if (slash == NULL)
		return err_set(e, ERR_INTERNAL, "store: not a path: %s", path);
	n = snprintf(tmp, size, "%.*s/.%s.tmp.XXXXXX", (int)(slash - path), path,
		     slash + 1);
	if (n < 0 || (size_t)n >= size)
		return err_set(e, ERR_INTERNAL, "store path too long");
	if (make_parents(path, e) < 0)
		return -1;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return io_error(e, errno, "create", tmp);
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			saved = w < 0 ? errno : EIO;
			goto fail;
		}
		p += w;
		len -= (size_t)w;
	}
	/* mkstemp makes 0600; the web server must be able to read it. */
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		saved = errno;
		goto fail;
	}
	if (close(fd) < 0) {
		saved = errno;
		unlink(tmp);
		return io_error(e, saved, "write", path);
	}
	return 0;
fail:
	close(fd);
	unlink(tmp);
	return io_error(e, saved, "write", path);
}

int store_write_checked(const char *path, const void *data, size_t len,
			int create_only, store_check_fn check, void *arg,
			struct err *e)
{
	char tmp[4096];
	int rc = 0;

	if (write_tmp(path, data, len, tmp, sizeof(tmp), e) < 0)
		return -1;
	if (check != NULL && check(arg) != 0) {
		unlink(tmp);
		return 2;
	}
	if (create_only) {
		/* link() never replaces: of two writers, exactly one wins. */
		if (link(tmp, path) < 0)
			rc = errno == EEXIST ? 1 : io_error(e, errno, "link", path);
		unlink(tmp);
	} else if (rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		/* Both names are in one directory: EXDEV would mean a mount
		 * under the store that breaks the atomic rename. */
		if (saved == EXDEV)
			return err_set(e, ERR_INTERNAL, "store: rename %s: the "
				       "temporary file is on another file system",
				       path);
		return io_error(e, saved, "rename", path);
	}
	/* Make the rename itself durable before anyone is told the file exists. */
	if (rc == 0)
		(void)fsync_parent(path);
	return rc;
}

int store_write_atomic(const char *path, const void *data, size_t len,
		       struct err *e)
{
	return store_write_checked(path, data, len, 0, NULL, NULL, e);
}

int store_write_new(const char *path, const void *data, size_t len,
		    struct err *e)
{
	return store_write_checked(path, data, len, 1, NULL, NULL, e);
}

int store_probe(const char *root, struct err *e)
{
	char path[4096], host[64] = "host";
	int n;

	(void)gethostname(host, sizeof(host) - 1);
	n = snprintf(path, sizeof(path), "%s/.probe.%s.%d", root, host,
		     (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(path))
		return err_set(e, ERR_INTERNAL, "store path too long");
	if (store_write_atomic(path, "probe\n", 6, e) < 0)
		return -1;
	if (unlink(path) < 0)
		return io_error(e, errno, "unlink", path);
	return 0;
}

int store_read(const char *path, size_t max, struct buf *out, struct err *e)
{
	struct stat st;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return err_set(e, ERR_NOT_FOUND, "no such file: %s", path);
		return io_error(e, errno, "open", path);
	}
	if (fstat(fd, &st) < 0) {
		io_error(e, errno, "stat", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, ERR_NOT_FOUND, "not a regular file: %s", path);
		goto out;
	}
	if ((unsigned long long)st.st_size > max) {
		err_set(e, ERR_UNPROCESSABLE,
			"original is %lld bytes, over the limit of %zu",
			(long long)st.st_size, max);
		goto out;
	}
	if (buf_reserve(out, (size_t)st.st_size) < 0) {
		err_set(e, ERR_INTERNAL, "out of memory reading %s", path);
		goto out;
	}
	for (;;) {
		ssize_t r;
		/* Room was made for the whole file: grow only if it grew. */
		if (out->cap - out->len - 1 == 0 && buf_reserve(out, 65536) < 0) {
			err_set(e, ERR_INTERNAL, "out of memory reading %s", path);
			goto out;
		}
		r = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			io_error(e, errno, "read", path);
			goto out;
		}
		if (r == 0)
			break;
		out->len += (size_t)r;
		if (out->len > max) {
			err_set(e, ERR_UNPROCESSABLE,
				"original is over the limit of %zu bytes", max);
			goto out;
		}
	}
	out->data[out->len] = '\0';
	rc = 0;
out:
	close(fd);
	return rc;
}

int store_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int store_list(const char *root, const char *model, const char *field,
	       const char *id, store_entry_fn fn, void *arg, struct err *e)
{
	char dir[4096], *slash;
	struct dirent *d;
	DIR *dp;
	int rc = 0;

	if (store_path(root, model, field, id, STORE_ORIGINAL, dir, sizeof(dir),
		       e) < 0)
		return -1;
	slash = strrchr(dir, '/');
	*slash = '\0';
	dp = opendir(dir);
	if (dp == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return io_error(e, errno, "open directory", dir);
	}
	while (rc == 0 && (errno = 0, d = readdir(dp)) != NULL) {
		struct stat st;
		char path[4096];
		int n;

		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (n < 0 || (size_t)n >= sizeof(path) ||
		    lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		rc = fn(arg, path, d->d_name, st.st_mtime);
	}
	if (d == NULL && errno != 0 && rc == 0)
		rc = io_error(e, errno, "read directory", dir);
	closedir(dp);
	return rc;
}

int store_remove(const char *path, struct err *e)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return io_error(e, errno, "remove", path);
	return 0;
}
