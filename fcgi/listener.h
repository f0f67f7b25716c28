/*
 * listener.h - the listening socket the request threads accept on.
 *
 * The responder gets it one of three ways: handed over by a restart of
 * itself (SIGUSR2), made from -socket (a unix path, or HOST:PORT), or as
 * fd 0 from whoever started it (spawn-fcgi, a systemd socket unit).
 * libfcgi's own FCGX_OpenSocket() exits the process with a bare
 * "bind/listen" on failure, so the socket is made here, with an error that
 * names it.
 * Thread-safety: call before the request threads start.
 */
#ifndef IMGSRV_LISTENER_H
#define IMGSRV_LISTENER_H

#include "err.h"

/*
 * Listens on spec: "/path/to.sock" (a unix socket, mode 0660, an old
 * socket file at the path replaced) or "HOST:PORT" (TCP; ":PORT" for all
 * addresses).  Returns the descriptor (close-on-exec), or -1 with a
 * message that names spec.
 */
int listener_open(const char *spec, int backlog, struct err *e);

/*
 * Checks that fd is a listening stream socket (what spawn-fcgi or systemd
 * give as fd 0).  Returns 0, or -1 with a message that says how to give
 * the responder one.
 */
int listener_check(int fd, struct err *e);

#endif
