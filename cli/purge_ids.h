/*
 * purge_ids.h - images purge: purge_image() (lib/purge.h) over a range of
 * ids, or over the ids read from standard input, one after the other,
 * with the range tool's progress display.
 *
 * Counting: "purged" an id that had something stored, "missing" one that
 * had nothing, "failed" one whose purge failed (Redis down, the store):
 * running the command again finishes it.
 * Thread-safety: call once, from main.
 */
#ifndef IMAGES_PURGE_IDS_H
#define IMAGES_PURGE_IDS_H

#include "args.h"
#include "output.h"

/*
 * Purges every id of a, stopping after the id in hand on SIGINT or
 * SIGTERM.  Returns the exit status: 0, 1 if anything failed, 2 when it
 * could not start (a terminal without -yes, bad input lines),
 * 128 + signal if interrupted.
 */
int purge_run(const struct cli_args *a, struct output_env *env);

#endif
