/*
 * jobs.h - the queue's workers: take a job, make its output, report.
 * Thread-safety: one call at a time per output_worker (one per thread).
 */
#ifndef IMGSRV_JOBS_H
#define IMGSRV_JOBS_H

#include "output.h"

/*
 * Takes one job from the queue as worker (a name unique to this thread,
 * e.g. "host:pid:2"), makes its output and marks it done, or failed (back
 * to the queue, or dead after -job_attempts).  Returns 1 when a job was
 * handled, 0 when the queue was empty, -1 when Redis is down.
 */
int jobs_run_one(struct output_worker *w, const char *worker);

/*
 * Splits a job name "model/field/id/file" into *r (validated like a URL).
 * Returns 0, or -1 with ERR_BAD_REQUEST.
 */
int jobs_parse_name(const char *name, struct url_request *r, struct err *e);

#endif
