/*
 * fetch.h - images fetch: download the originals of a range of ids from
 * the source into the store, many at once.
 *
 * Every transfer runs on one libcurl multi handle, in the calling thread,
 * a->concurrency at a time; the connections are reused across ids.  An id
 * whose original is in the store already is skipped without a request.
 * Each original is taken under the responder's Redis lock on
 * "{model}/{field}/{id}/original" (when -redis is set), streamed with the
 * -max_source_bytes cap, and kept with output_commit(): checked and
 * decoded (gate.h), written atomically and recorded, as the responder
 * keeps it.  A 5xx answer (and 408, 429), a connection error or a
 * timeout is retried a->retries times, after a->retry_ms, then twice that,
 * and so on; 404 and 410 count as missing; anything else fails at once.
 * A file:// source is read directly, one id at a time.
 * Thread-safety: call once, from main, after curl_global_init().
 */
#ifndef IMAGES_FETCH_H
#define IMAGES_FETCH_H

#include "args.h"
#include "conf.h"

/*
 * Runs the job until every id is done or SIGINT/SIGTERM asks it to stop
 * (signals.h): then the transfers in flight are dropped (nothing of them
 * is written; a rerun fetches them) and the summary is printed.  Returns
 * the exit status: 0, 1 if anything failed, 128 + signal if interrupted,
 * 2 if it could not start.
 */
int fetch_run(const struct cli_args *a, const struct conf *c);

#endif
