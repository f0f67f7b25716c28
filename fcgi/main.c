/*
 * main.c - image-server, the FastCGI responder: start-up, request threads
 * and signals.
 *
 * Signals: every thread blocks SIGTERM, SIGINT, SIGHUP, SIGUSR2 and
 * SIGCHLD; main() waits for them with sigwait().
 *   SIGTERM, SIGINT  stop accepting, let the requests in flight finish (up
 *                    to -drain_seconds), exit 0.
 *   SIGHUP           read the configuration again (-config FILE and the
 *                    flags) and apply what can change at run time.
 *   SIGUSR2          start a new copy of the program on the same listening
 *                    socket; once it accepts, it sends us SIGTERM.
 * Idle threads sit in accept(): SIGUSR1, whose handler does nothing and
 * does not restart system calls, makes that accept() fail so they leave.
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
#include <fcntl.h>
#include <sys/wait.h>

#include "clock.h"
#include "budget.h"
#include "conf.h"
#include "handler.h"
#include "image.h"
#include "log.h"
#include "jobs.h"
#include "listener.h"
#include "output.h"
#include "startup.h"
#include "stats.h"
#include "store.h"
#include "storefs.h"
#include "version.h"

struct thread {
	pthread_t tid;
	int listen_fd;
	struct handler handler;
	atomic_int busy;    /* serving a request: do not interrupt */
	atomic_int done;
};

static atomic_int stopping;

/* A thread that makes queued outputs (POST) until stopping. */
struct job_thread {
	pthread_t tid;
	struct jobs_worker *jw;
};

static void *job_main(void *arg)
{
	struct job_thread *t = arg;

	jobs_worker_run(t->jw, &stopping);
	return NULL;
}

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

/* Handed to a restarted copy: the listening socket, and whom to stop. */
#define ENV_LISTEN_FD "IMAGE_SERVER_LISTEN_FD"
#define ENV_PARENT "IMAGE_SERVER_PARENT"

static int inherited_fd = -1; /* from a restart */
static pid_t parent_pid;       /* the process a restarted copy replaces */
static int g_argc;
static char **g_argv;
static char self[4096]; /* this program's path, for restarts */

/* Every configuration ever in force: requests may still hold old ones. */
struct conf_node {
	struct conf conf;
	struct conf_node *next;
};
static struct conf_node *confs;

/* Loads the configuration from -config and the flags; NULL on error. */
static struct conf *load_conf(struct err *e)
{
	struct conf_node *n = calloc(1, sizeof(*n));
	int rc;

	if (n == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	rc = conf_load(&n->conf, g_argc, g_argv, e);
	if (rc == 1) {
		printf("usage: image-server [options]\n"
		       "A FastCGI responder that makes resized images on request.\n\n");
		conf_usage(stdout);
		exit(0);
	}
	if (rc < 0 || image_check_color(n->conf.background, e) < 0) {
		free(n);
		return NULL;
	}
	n->conf.magick_threads = startup_magick_threads(&n->conf, n->conf.threads);
	n->next = confs;
	confs = n;
	return &n->conf;
}

/* Logging and statsd as c says: debug in development, info in
 * production, unless -log_level says otherwise. */
static void apply_conf(const struct conf *c)
{
	startup_logging(c, strcmp(c->env, "production") == 0 ? LOG_INFO
							    : LOG_DEBUG);
}

/* SIGHUP: a bad file keeps the running configuration. */
static void reload(struct output_env *env)
{
	const struct conf *old = output_env_conf(env);
	struct conf *now;
	char names[256];
	struct err e;

	now = load_conf(&e);
	if (now == NULL) {
		log_error("reload refused, keeping the running configuration: %s",
			  e.msg);
		return;
	}
	if (conf_restart_needed(old, now, names, sizeof(names)) > 0) {
		log_warn("reload: %s changed; only a restart applies that", names);
		conf_keep_restart_only(now, old);
	}
	apply_conf(now);
	image_set_limits((unsigned)now->max_side);
	budget_set((size_t)now->max_memory);
	output_env_set_conf(env, now);
	log_info("configuration reloaded%s%s", now->config[0] ? " from " : "",
		 now->config);
}

/* The new copies started by SIGUSR2 not reaped yet: SIGCHLD reaps these
 * only, since other children (-purge_hook's) have their own waiters. */
static pid_t children[8];

/* SIGUSR2: starts a new copy of this program on the same socket. */
static void restart(int listen_fd)
{
	extern char **environ;
	static const char failed[] = "image-server: restart: exec failed\n";
	char fd[48], parent[48], **envp;
	size_t n = 0;
	pid_t pid;

	/* Everything the child needs is made before fork: between fork and
	 * exec a threaded process may only make async-signal-safe calls. */
	/* The child keeps the listening socket (as fd 0 under spawn-fcgi, as
	 * fd 3 otherwise) and nothing else: kept connections, Redis and curl
	 * sockets of ours must not live on in it. */
	int keep = listen_fd == 0 ? 0 : 3;

	snprintf(fd, sizeof(fd), "%s=%d", ENV_LISTEN_FD, keep);
	snprintf(parent, sizeof(parent), "%s=%d", ENV_PARENT, (int)getpid());
	while (environ[n] != NULL)
		n++;
	envp = calloc(n + 3, sizeof(*envp));
	if (envp == NULL)
		return;
	memcpy(envp, environ, n * sizeof(*envp));
	envp[n] = fd;
	envp[n + 1] = parent;
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (listen_fd != keep)
			dup2(listen_fd, keep); /* dup2 clears close-on-exec */
		else
			fcntl(keep, F_SETFD, 0);
		close_range(keep == 0 ? 3 : 4, ~0U, 0); /* 1 and 2: the log */
		execve(self, g_argv, envp);
		(void)!write(2, failed, sizeof(failed) - 1);
		_exit(127);
	}
	free(envp);
	for (size_t i = 0; pid > 0 && i < sizeof(children) / sizeof(*children);
	     i++)
		if (children[i] == 0) {
			children[i] = pid;
			break;
		}
	if (pid < 0)
		log_error("restart: fork failed: %s", strerror(errno));
	else
		log_info("restart: started %s as pid %d; it takes over once it "
			 "accepts", self, (int)pid);
}

/* The listening socket: inherited from a restart, -socket, or fd 0. */
static int open_listener(const struct conf *c, struct err *e)
{
	if (inherited_fd >= 0)
		return inherited_fd;
	if (c->socket[0] != '\0')
		return listener_open(c->socket, 128, e);
	return listener_check(0, e) < 0 ? -1 : 0;
}

/*
 * A store that this host cannot write fails every miss: say so now, by
 * writing a file as a miss would (a read-only mount, a full disk).  Then
 * its mount, held to what the store relies on (NFS options: storefs.h).
 */
static void check_store(const char *store)
{
	struct storefs_report rep;
	struct err e;

	if (access(store, F_OK) < 0)
		log_warn("store %s: %s; every miss will fail until it exists "
			 "and is writable (-store)", store, strerror(errno));
	else if (store_probe(store, &e) < 0)
		log_warn("store %s: %s; every miss will fail until it exists "
			 "and is writable (-store)", store, e.msg);
	if (storefs_check_self(store, &rep) < 0)
		return;
	log_info("store %s: %s on %s (%s)", store, rep.fstype, rep.mount_point,
		 rep.options);
	for (int i = 0; i < rep.nwarn; i++)
		log_warn("store %s: %s", store, rep.warn[i]);
}

static void write_pid_file(const char *path)
{
	char tmp[1100], pid[16];
	struct err e;

	if (path[0] == '\0')
		return;
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	snprintf(tmp, sizeof(tmp), "%s", path);
	if (store_write_atomic(tmp, pid, strlen(pid), &e) < 0)
		log_error("pid file: %s", e.msg);
}

/* Removes the pid file if it still names this process. */
static void remove_pid_file(const char *path)
{
	char buf[32] = "";
	FILE *f;

	if (path[0] == '\0' || (f = fopen(path, "r")) == NULL)
		return;
	if (fgets(buf, sizeof(buf), f) != NULL && atoi(buf) == (int)getpid())
		unlink(path);
	fclose(f);
}

/* Serves signals until SIGTERM or SIGINT, which it returns. */
static int serve_signals(const sigset_t *set, struct output_env *env,
			 int listen_fd)
{
	for (;;) {
		int sig, status;
		pid_t pid;

		if (sigwait(set, &sig) != 0)
			continue;
		switch (sig) {
		case SIGTERM:
		case SIGINT:
			return sig;
		case SIGHUP:
			reload(env);
			break;
		case SIGUSR2:
			restart(listen_fd);
			break;
		case SIGCHLD:
			/* A new copy that died before taking over. */
			for (size_t i = 0; i < sizeof(children) / sizeof(*children);
			     i++) {
				if (children[i] == 0 ||
				    (pid = waitpid(children[i], &status, WNOHANG)) <= 0)
					continue;
				children[i] = 0;
				log_error("restart: pid %d exited (status %d) before "
					  "taking over; still serving",
					  (int)pid, WIFEXITED(status)
							    ? WEXITSTATUS(status)
							    : -WTERMSIG(status));
			}
			break;
		}
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

/*
 * First of all, before any library starts a thread: every thread must
 * block the signals that main() takes with sigwait().  A signal ignored
 * by whoever started us (a background job's SIGINT) would never reach
 * sigwait: take the defaults back first.
 */
static void block_signals(sigset_t *set)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR2, SIGCHLD };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigs[i] != SIGCHLD)
			sigaction(sigs[i], &sa, NULL);
		sigaddset(set, sigs[i]);
	}
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* What a restart hands over, read (and removed) while no other thread
 * can be reading the environment. */
static void take_handover(void)
{
	if (getenv(ENV_LISTEN_FD) != NULL)
		inherited_fd = atoi(getenv(ENV_LISTEN_FD));
	if (getenv(ENV_PARENT) != NULL)
		parent_pid = (pid_t)atoi(getenv(ENV_PARENT));
	unsetenv(ENV_LISTEN_FD);
	unsetenv(ENV_PARENT);
}

/* Says which formats of -formats cannot be encoded here (AVIF without
 * MagickCore's heic coder): their URLs get 415. */
static void warn_formats(const struct conf *conf, unsigned available)
{
	unsigned enabled = 0;

	(void)conf_format_mask(conf->formats, &enabled, NULL);
	for (int f = 0; f < URL_FMT_COUNT; f++)
		if ((enabled & (1u << f)) && !(available & (1u << f)))
			log_warn("-formats: %s cannot be encoded here (no "
				 "encoder in this MagickCore): its URLs get 415",
				 url_format_ext((enum url_format)f));
}

/* MagickCore, the shared output state, libcurl and libfcgi; before any
 * thread of ours.  Returns 0, or -1 with a message in *e. */
static int start_libraries(const struct conf *conf, const char *argv0,
			   struct server *server, struct err *e)
{
	if (image_global_init(argv0, conf->magick_threads,
			      (unsigned)conf->max_side, e) < 0 ||
	    (server->env = output_env_new(conf, e)) == NULL)
		return -1;
	budget_set((size_t)conf->max_memory);
	server->formats_available = image_formats_available();
	warn_formats(conf, server->formats_available);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return err_set(e, ERR_INTERNAL, "curl_global_init failed");
	if (FCGX_Init() != 0)
		return err_set(e, ERR_INTERNAL, "FCGX_Init failed");
	return 0;
}

/* After FCGX_Init: our handlers replace libfcgi's. */
static void install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_wake; /* no SA_RESTART: accept() returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* The threads of the process, and how many of each started. */
struct threads {
	struct thread *requests;
	int nrequests;
	struct job_thread *jobs;
	int njobs;
};

/* Starts conf->threads request threads accepting on listen_fd; 0, or -1
 * when one could not start (those started are in *t). */
static int start_request_threads(struct threads *t, const struct conf *conf,
				 struct server *server, int listen_fd)
{
	t->requests = calloc((size_t)conf->threads, sizeof(*t->requests));
	if (t->requests == NULL)
		return -1;
	for (int i = 0; i < conf->threads; i++) {
		struct thread *th = &t->requests[i];

		th->listen_fd = listen_fd;
		th->handler.server = server;
		th->handler.worker = output_worker_new(server->env);
		if (th->handler.worker == NULL ||
		    pthread_create(&th->tid, NULL, thread_main, th) != 0) {
			log_error("cannot start request thread %d", i);
			output_worker_free(th->handler.worker);
			th->handler.worker = NULL;
			return -1;
		}
		t->nrequests++;
	}
	return 0;
}

/* Starts the queue workers (-queue_workers, with -redis). */
static void start_job_threads(struct threads *t, const struct conf *conf,
			      struct output_env *env)
{
	if (conf->redis[0] == '\0' || conf->queue_workers == 0)
		return;
	t->jobs = calloc((size_t)conf->queue_workers, sizeof(*t->jobs));
	for (int i = 0; t->jobs != NULL && i < conf->queue_workers; i++) {
		struct job_thread *j = &t->jobs[i];

		j->jw = jobs_worker_new(env, i);
		if (j->jw == NULL ||
		    pthread_create(&j->tid, NULL, job_main, j) != 0) {
			log_error("cannot start queue worker %d", i);
			jobs_worker_free(j->jw);
			break;
		}
		t->njobs++;
	}
}

/* Stops every thread: requests in flight finish (up to -drain_seconds,
 * else the process exits at once), then the queue workers finish the job
 * in hand. */
static void stop_threads(struct threads *t, const struct conf *conf)
{
	atomic_store(&stopping, 1);
	FCGX_ShutdownPending();
	if (drain(t->requests, t->nrequests, conf->drain_seconds) < 0) {
		log_error("requests still running after %d s; exiting anyway",
			  conf->drain_seconds);
		_exit(1);
	}
	for (int i = 0; i < t->nrequests; i++) {
		pthread_join(t->requests[i].tid, NULL);
		output_worker_free(t->requests[i].handler.worker);
	}
	free(t->requests);
	/* A job in hand is finished first: its output's own time limit
	 * bounds the wait. */
	for (int i = 0; i < t->njobs; i++) {
		pthread_join(t->jobs[i].tid, NULL);
		jobs_worker_free(t->jobs[i].jw);
	}
	free(t->jobs);
}

static void free_confs(void)
{
	while (confs != NULL) {
		struct conf_node *next = confs->next;
		free(confs);
		confs = next;
	}
}

int main(int argc, char **argv)
{
	struct server server = { 0 };
	struct threads threads = { 0 };
	const struct conf *conf;
	sigset_t set;
	struct err e;
	int listen_fd, sig, rc = 1;

	block_signals(&set);
	take_handover();
	g_argc = argc, g_argv = argv;
	if (realpath("/proc/self/exe", self) == NULL)
		snprintf(self, sizeof(self), "%s", argv[0]);
	conf = load_conf(&e);
	if (conf == NULL) {
		fprintf(stderr, "image-server: %s\n", e.msg);
		return 2;
	}
	apply_conf(conf);
	if (start_libraries(conf, argv[0], &server, &e) < 0) {
		log_error("%s", e.msg);
		return 2;
	}
	listen_fd = open_listener(conf, &e);
	if (listen_fd < 0) {
		/* Whoever started us reads why on stderr, named. */
		fprintf(stderr, "image-server: %s\n", e.msg);
		if (strcmp(conf->log, "syslog") == 0)
			log_error("%s", e.msg);
		return 2;
	}
	check_store(conf->store);
	install_handlers();
	if (start_request_threads(&threads, conf, &server, listen_fd) < 0)
		goto stop;
	start_job_threads(&threads, conf, server.env);
	write_pid_file(conf->pid_file);
	log_info("image-server %s started: pid %d, %d threads, %d OpenMP threads "
		 "per image, store %s, source %s, redis %s, %s",
		 IMGSRV_VERSION, (int)getpid(), conf->threads,
		 conf->magick_threads, conf->store,
		 conf->source[0] ? conf->source : "(none)",
		 conf->redis[0] ? conf->redis : "(none)", conf->env);
	/* A restarted copy: we accept now, so the old one may go. */
	if (parent_pid > 0)
		kill(parent_pid, SIGTERM);

	sig = serve_signals(&set, server.env, listen_fd);
	log_info("signal %d: finishing requests in flight", sig);
	rc = 0;
stop:
	conf = output_env_conf(server.env);
	stop_threads(&threads, conf);
	remove_pid_file(conf->pid_file);
	output_env_free(server.env);
	curl_global_cleanup();
	image_global_release();
	log_info("image-server stopped");
	free_confs();
	return rc;
}
