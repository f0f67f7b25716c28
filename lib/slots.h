/*
 * slots.h - a counting limit on work that may be slow, such as fetching a
 * client's source= URL: at most N at once, and who finds them all taken
 * waits a short while, then gives up (the caller answers 503), so the
 * threads that serve everything else are never all tied up in it.
 * Thread-safety: internally locked.
 */
#ifndef IMGSRV_SLOTS_H
#define IMGSRV_SLOTS_H

struct slots;

/* A limit with no slot taken.  NULL when out of memory. */
struct slots *slots_new(void);

/* Frees s, which no one may hold; slots_free(NULL) is a no-op. */
void slots_free(struct slots *s);

/*
 * Takes a slot when fewer than limit are taken (limit may change from one
 * call to the next, as a reload changes it), waiting up to wait_ms for
 * one.  Returns 0 with a slot to give back with slots_give(), or -1 when
 * none came free in time.
 */
int slots_take(struct slots *s, int limit, int wait_ms);

/* Gives back a slot taken with slots_take(). */
void slots_give(struct slots *s);

/* Slots taken now. */
int slots_taken(struct slots *s);

#endif
