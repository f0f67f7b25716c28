/*
 * range.h - images(1) without a subcommand: make the outputs of a range
 * of ids, in parallel, exactly as the responder makes them.
 *
 * Each of a->concurrency threads has its own output_worker and takes the
 * next id from a shared counter; for every output of that id it calls
 * output_get(), so the store, the Redis locks and the registry are the
 * responder's own and a running responder is never fought: an output
 * another worker is making is waited for, not made twice.  Outputs
 * already in the store are skipped without being read.
 * Counting: made and skipped are outputs; missing counts an id whose
 * original the source does not have (ERR_NOT_FOUND); failed counts an
 * output that could not be made, or once for its id an original that
 * could not be had (corrupt, over the limits, source error), whose other
 * outputs are then not tried.
 * Thread-safety: call once, from main, after image_global_init() and
 * curl_global_init(); it starts and joins its own threads.
 */
#ifndef IMAGES_RANGE_H
#define IMAGES_RANGE_H

#include "args.h"
#include "conf.h"
#include "output.h"

/*
 * Runs the job until every id is done or SIGINT/SIGTERM asks it to stop
 * (signals.h): then each worker finishes the output in hand and the
 * summary is printed.  Returns the exit status: 0, 1 if anything failed,
 * 128 + signal if interrupted, 2 if no worker could start.
 */
int range_run(const struct cli_args *a, const struct conf *c,
	      struct output_env *env);

#endif
