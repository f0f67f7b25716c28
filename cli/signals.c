/* signals.c - SIGINT and SIGTERM blocked everywhere, taken by sigtimedwait. */
#include "signals.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int received; /* the first signal, or 0 */

static void stop_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

void signals_init(void)
{
	struct sigaction sa;
	sigset_t set;

	/* An ignored signal is dropped even while blocked: sigtimedwait
	 * would never see the SIGINT of a script's background job. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	stop_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int signals_wait(long ms, const char *prog)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	sigset_t set;
	int sig;

	stop_set(&set);
	sig = sigtimedwait(&set, NULL, &ts);
	if (sig < 0) /* EAGAIN: none came; EINTR: another signal */
		return 0;
	if (received == 0) {
		received = sig;
		return sig;
	}
	fprintf(stderr, "%s: %s again: exiting at once; locks held expire "
		"by themselves, temporary files may be left\n", prog,
		signals_name(sig));
	_exit(128 + sig);
}

const char *signals_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal";
}
