/*
 * main.c - image-server, the FastCGI responder: start-up, request threads
 * and signals.
 *
 * Signals: every thread blocks SIGTERM, SIGINT and SIGHUP; main() waits for
 * them with sigwait().  On SIGTERM or SIGINT it stops accepting, lets the
 * requests in flight finish (up to -drain_seconds) and exits 0.  Idle
 * threads sit in accept(): SIGUSR1, whose handler does nothing and does not
 * restart system calls, makes that accept() fail so they can leave.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "handler.h"
#include "image.h"
#include "log.h"
#include "output.h"

struct thread {
	pthread_t tid;
	int listen_fd;
	struct handler handler;
	atomic_int busy;    /* serving a request: do not interrupt */
	atomic_int done;
};

static atomic_int stopping;

static void on_wake(int sig)
{
	(void)sig; /* only interrupts accept() */
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	FCGX_Request req;

	if (FCGX_InitRequest(&req, t->listen_fd, 0) != 0) {
		log_error("FCGX_InitRequest failed");
		atomic_store(&t->done, 1);
		return NULL;
	}
	while (!atomic_load(&stopping)) {
		int rc = FCGX_Accept_r(&req);

		if (rc < 0) {
			if (!atomic_load(&stopping))
				log_error("accept failed (%d): %s", rc, strerror(errno));
			break;
		}
		atomic_store(&t->busy, 1);
		handler_serve(&t->handler, &req);
		FCGX_Finish_r(&req);
		atomic_store(&t->busy, 0);
	}
	FCGX_Free(&req, 0);
	atomic_store(&t->done, 1);
	return NULL;
}

/* Fills s->format_enabled from the -formats list. */
static int setup_formats(struct server *s, const char *list, struct err *e)
{
	char copy[sizeof(((struct conf *)0)->formats)], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *t = strtok_r(copy, ", ", &save); t != NULL;
	     t = strtok_r(NULL, ", ", &save)) {
		enum url_format f;
		if (url_format_from_ext(t, &f) < 0)
			return err_set(e, ERR_BAD_REQUEST,
				       "-formats: unknown format '%s'", t);
		if (!image_format_available(f)) {
			log_warn("format %s: MagickCore has no encoder here; disabled",
				 t);
			continue;
		}
		s->format_enabled[f] = 1;
	}
	return 0;
}

static int configure(struct conf *c, int argc, char **argv)
{
	struct err e;
	enum log_level level;
	int rc;

	conf_defaults(c);
	rc = conf_parse_args(c, argc, argv, &e);
	if (rc == 1) {
		printf("usage: image-server [options]\n"
		       "A FastCGI responder that makes resized images on request.\n\n");
		conf_usage(stdout);
		exit(0);
	}
	if (rc < 0 || conf_check(c, &e) < 0 ||
	    image_check_color(c->background, &e) < 0) {
		fprintf(stderr, "image-server: %s\n", e.msg);
		return -1;
	}
	if (c->log_level[0] == '\0')
		level = strcmp(c->env, "production") == 0 ? LOG_INFO : LOG_DEBUG;
	else if (log_level_parse(c->log_level, &level) < 0) {
		fprintf(stderr, "image-server: -log_level: unknown level '%s'\n",
			c->log_level);
		return -1;
	}
	log_set_level(level);
	if (c->magick_threads == 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		c->magick_threads = cores > c->threads ? (int)(cores / c->threads) : 1;
	}
	return 0;
}

/* Waits for SIGTERM or SIGINT; returns the signal. */
static int wait_for_stop(const sigset_t *set)
{
	for (;;) {
		int sig;
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		log_info("signal %d ignored", sig);
	}
}

/* Wakes idle threads until all have left, or the drain time is up. */
static int drain(struct thread *ts, int n, int seconds)
{
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	long rounds = seconds * 20L;

	for (long i = 0; i <= rounds; i++) {
		int left = 0;
		for (int k = 0; k < n; k++) {
			if (atomic_load(&ts[k].done))
				continue;
			left++;
			if (!atomic_load(&ts[k].busy))
				pthread_kill(ts[k].tid, SIGUSR1);
		}
		if (left == 0)
			return 0;
		nanosleep(&tick, NULL);
	}
	return -1;
}

int main(int argc, char **argv)
{
	static struct conf conf;
	struct server server = { .conf = &conf };
	struct sigaction sa;
	struct thread *ts;
	sigset_t set;
	struct output_env *env = NULL;
	struct err e;
	int listen_fd = 0, started = 0, sig, rc = 1;

	if (configure(&conf, argc, argv) < 0)
		return 2;
	if (image_global_init(argv[0], conf.magick_threads,
			      (unsigned)conf.max_side, &e) < 0 ||
	    setup_formats(&server, conf.formats, &e) < 0 ||
	    (env = output_env_new(&conf, &e)) == NULL) {
		log_error("%s", e.msg);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		log_error("curl_global_init failed");
		return 2;
	}
	if (FCGX_Init() != 0) {
		log_error("FCGX_Init failed");
		return 2;
	}
	if (conf.socket[0] != '\0') {
		listen_fd = FCGX_OpenSocket(conf.socket, 128);
		if (listen_fd < 0) {
			log_error("cannot listen on %s: %s", conf.socket,
				  strerror(errno));
			return 2;
		}
		/* A unix socket: the web server's user, in our group, must be
		 * able to connect (as spawn-fcgi -M 0660 does). */
		if (conf.socket[0] == '/' && chmod(conf.socket, 0660) < 0)
			log_warn("chmod %s: %s", conf.socket, strerror(errno));
	}

	/* After FCGX_Init: our handlers replace libfcgi's. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_wake; /* no SA_RESTART: accept() returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	ts = calloc((size_t)conf.threads, sizeof(*ts));
	if (ts == NULL)
		return 2;
	for (int i = 0; i < conf.threads; i++) {
		ts[i].listen_fd = listen_fd;
		ts[i].handler.server = &server;
		ts[i].handler.worker = output_worker_new(env);
		if (ts[i].handler.worker == NULL ||
		    pthread_create(&ts[i].tid, NULL, thread_main, &ts[i]) != 0) {
			log_error("cannot start request thread %d", i);
			output_worker_free(ts[i].handler.worker);
			ts[i].handler.worker = NULL;
			goto stop;
		}
		started++;
	}
	log_info("image-server started: %d threads, %d OpenMP threads per image, "
		 "store %s, source %s, redis %s, %s",
		 conf.threads, conf.magick_threads, conf.store,
		 conf.source[0] ? conf.source : "(none)",
		 conf.redis[0] ? conf.redis : "(none)", conf.env);

	sig = wait_for_stop(&set);
	log_info("signal %d: finishing requests in flight", sig);
	rc = 0;
stop:
	atomic_store(&stopping, 1);
	FCGX_ShutdownPending();
	if (drain(ts, started, conf.drain_seconds) < 0) {
		log_error("requests still running after %d s; exiting anyway",
			  conf.drain_seconds);
		_exit(1);
	}
	for (int i = 0; i < started; i++) {
		pthread_join(ts[i].tid, NULL);
		output_worker_free(ts[i].handler.worker);
	}
	free(ts);
	output_env_free(env);
	curl_global_cleanup();
	image_global_release();
	log_info("image-server stopped");
	return rc;
}
