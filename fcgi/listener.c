/* listener.c - make or check the socket the responder accepts on. */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int listen_unix(const char *path, int backlog, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, ERR_INTERNAL, "-socket %s: path too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* A socket file left by an earlier run: bind() would refuse it. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, ERR_INTERNAL, "-socket %s: %s", path,
			       strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, backlog) < 0) {
		err_set(e, ERR_INTERNAL, "cannot listen on %s: %s", path,
			strerror(errno));
		close(fd);
		return -1;
	}
	/* The web server's user, in our group, must be able to connect (as
	 * spawn-fcgi -M 0660 allows). */
	(void)chmod(path, 0660);
	return fd;
}

static int listen_tcp(const char *spec, int backlog, struct err *e)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL, *a;
	const char *colon = strrchr(spec, ':');
	char host[256];
	int fd = -1, rc, one = 1, saved = 0;
	size_t hlen;

	if (colon == NULL || colon[1] == '\0')
		return err_set(e, ERR_INTERNAL,
			       "-socket %s: want /path/to.sock or HOST:PORT", spec);
	hlen = (size_t)(colon - spec);
	if (hlen >= sizeof(host))
		return err_set(e, ERR_INTERNAL, "-socket %s: host too long", spec);
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	/* "[::1]:9000" */
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
	}
	rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
	if (rc != 0)
		return err_set(e, ERR_INTERNAL, "-socket %s: %s", spec,
			       gai_strerror(rc));
	for (a = res; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
			    a->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return err_set(e, ERR_INTERNAL, "cannot listen on %s: %s", spec,
			       strerror(saved));
	return fd;
}

int listener_open(const char *spec, int backlog, struct err *e)
{
	if (spec[0] == '/')
		return listen_unix(spec, backlog, e);
	return listen_tcp(spec, backlog, e);
}

int listener_check(int fd, struct err *e)
{
	int type = 0, listening = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM ||
	    (len = sizeof(listening),
	     getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) ||
	    !listening)
		return err_set(e, ERR_INTERNAL,
			       "no socket to listen on: fd %d is not a listening "
			       "socket; give -socket /run/image-server.sock (or "
			       "HOST:PORT), or start it under spawn-fcgi or the "
			       "systemd socket unit, which pass one as fd 0",
			       fd);
	return 0;
}
