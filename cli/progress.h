/*
 * progress.h - the running display of a range job on stderr, and its
 * closing summary.
 *
 * On a terminal (isatty(2)) a bar is redrawn in place at most five times
 * a second: ids done of the total, rate, time left, and the counts.
 * Otherwise a plain line is written every interval seconds, so that a log
 * file gets whole lines.  Messages go through progress_note(), which
 * clears the bar first so that a message and the bar never share a line.
 * Thread-safety: progress_note() from any thread (internally locked);
 * the other functions from the one thread that owns the display.
 */
#ifndef IMAGES_PROGRESS_H
#define IMAGES_PROGRESS_H

/* What a job has done so far; a snapshot, filled by the caller. */
struct progress_counts {
	long long done;    /* ids finished */
	long long made;    /* outputs made, or originals fetched */
	long long skipped; /* already in the store */
	long long missing; /* originals not found at the source */
	long long failed;
};

struct progress;

/*
 * Makes a display for a job that goes over total ids.  name starts every
 * line ("images", "images fetch"); made names the first count ("made",
 * "fetched").  interval: seconds between plain lines; 0 shows no progress
 * at all (notes and the summary are still written).  Both strings must
 * outlive the display.  Returns NULL when out of memory.
 */
struct progress *progress_new(const char *name, const char *made,
			      long long total, int interval);

/* Clears the bar and frees p; NULL is a no-op. */
void progress_free(struct progress *p);

/* Shows c if it is time to: call it often, it draws only now and then. */
void progress_update(struct progress *p, const struct progress_counts *c);

/* Writes one line "NAME: message" to stderr, above the bar. */
void progress_note(struct progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Clears the bar and writes the summary line: "NAME: done: made 5,
 * skipped 0, missing 1, failed 0; 6 of 6 ids in 1.2 s".  interrupted
 * says "interrupted" instead of "done", and that a rerun resumes.
 */
void progress_summary(struct progress *p, const struct progress_counts *c,
		      int interrupted);

#endif
