/*
 * flight.h - in-process single flight: one thread does a piece of work,
 * the others that ask for the same key meanwhile wait for its result.
 *
 * This is what keeps a process from decoding an image twice at once even
 * when Redis is away; Redis locks do the same across processes.
 * Thread-safety: internally locked.
 */
#ifndef IMGSRV_FLIGHT_H
#define IMGSRV_FLIGHT_H

#include "err.h"

struct flight;

struct flight *flight_new(void);
void flight_free(struct flight *f); /* NULL is a no-op; no flights left */

/*
 * Returns 1 when the caller leads the work for key and must call
 * flight_end() when done.  Returns 0 when another thread led it and has
 * finished: *result then holds its outcome (ERR_NONE on success).
 * Returns -1 with ERR_BUSY when the leader did not finish within
 * timeout_s seconds, or memory ran out.
 */
int flight_begin(struct flight *f, const char *key, int timeout_s,
		 struct err *result);

/* Ends the caller's lead on key and wakes its waiters with result. */
void flight_end(struct flight *f, const char *key, const struct err *result);

#endif
