/*
 * budget.h - the memory the images being made may hold at once
 * (-max_memory).  Each make estimates, from the original's header alone,
 * what its decode and the rest will hold (decode.h), and reserves that
 * before it decodes: while others hold the room it waits (not fails), up
 * to a deadline.  An estimate larger than the whole budget is let in when
 * nothing else is: one big image at a time, never none.
 * Thread-safety: internally locked; call from any thread.
 */
#ifndef IMGSRV_BUDGET_H
#define IMGSRV_BUDGET_H

#include <stddef.h>

#include "err.h"

/* Sets the budget (0: none, every reservation is granted at once); a
 * reload may change it while reservations are held. */
void budget_set(size_t bytes);

/*
 * Reserves bytes, waiting up to timeout_ms for room.  Returns 0 (give the
 * bytes back with budget_release()), or -1 with ERR_BUSY when the wait
 * ran out.
 */
int budget_reserve(size_t bytes, long timeout_ms, struct err *e);

/* Gives back what budget_reserve() granted. */
void budget_release(size_t bytes);

/* The bytes reserved now. */
size_t budget_in_use(void);

#endif
