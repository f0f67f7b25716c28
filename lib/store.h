/*
 * store.h - the store: where files live, and writing them atomically.
 *
 * Layout (the web server computes the same path from the URL):
 *
 *   {root}/{model}/{field}/{s1}/{s2}/{id}/{name}
 *
 * where, with the id left-padded with '_' to 4 characters, s1 is its last
 * two characters and s2 the two before them: id 3589782 -> 82/97/3589782,
 * id 7 -> _7/__/7.  For 10 million sequential ids of one model/field no
 * directory holds more than 1,000 entries.  Outputs are named as in the URL
 * ("w500.jpg"), the original is "original".  A file being written is
 * ".{name}.tmp.XXXXXX" in the same directory and is renamed into place only
 * once complete and fsynced, so readers never see a partial file.
 * Thread-safety: no shared state.
 */
#ifndef IMGSRV_STORE_H
#define IMGSRV_STORE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

#define STORE_ORIGINAL "original"

/*
 * Writes the path of file name for (model, field, id) under root into buf.
 * Returns 0, or -1 (ERR_INTERNAL) if it does not fit in size bytes.
 */
int store_path(const char *root, const char *model, const char *field,
	       const char *id, const char *name, char *buf, size_t size,
	       struct err *e);

/* Writes the two shard directory names of id ("82", "97") into s1, s2. */
void store_shard(const char *id, char s1[3], char s2[3]);

/*
 * Writes len bytes to path atomically: creates the parent directories,
 * writes a temporary file beside it, fsyncs it, renames it to path and
 * fsyncs the directory.  On error nothing is left behind (the temporary
 * file is removed) and -1 is returned with ERR_STORAGE_FULL when the disk
 * or quota is full, ERR_BUSY when this host may not write the store (a
 * read-only mount, permissions), else ERR_INTERNAL.
 */
int store_write_atomic(const char *path, const void *data, size_t len,
		       struct err *e);

/*
 * As store_write_atomic(), but never replaces a file: returns 0 when data
 * was written, 1 when a file was at path already (nothing written), -1 on
 * error.  Of several writers at once, exactly one writes.
 */
int store_write_new(const char *path, const void *data, size_t len,
		    struct err *e);

/* A check made between the write of the temporary file and its rename:
 * 0 to go on, anything else drops the write. */
typedef int (*store_check_fn)(void *arg);

/*
 * store_write_atomic() (create_only 0) or store_write_new() (1), with
 * check(arg) (unless NULL) run once the temporary file is complete, just
 * before its rename or link.  Returns 0 when written, 1 when create_only
 * found a file at path, 2 when check dropped the write (nothing left
 * behind), -1 on error.
 */
int store_write_checked(const char *path, const void *data, size_t len,
			int create_only, store_check_fn check, void *arg,
			struct err *e);

/*
 * Writes, renames and removes a file ".probe.HOST.PID" in root as
 * store_write_atomic() would, to find at start-up a store that this host
 * cannot write.  Returns 0, or -1 with store_write_atomic()'s errors.
 */
int store_probe(const char *root, struct err *e);

/*
 * Reads the whole file at path into out (appending).  Returns 0, or -1 with
 * ERR_NOT_FOUND when there is no such file, ERR_UNPROCESSABLE when it is
 * larger than max bytes, else ERR_INTERNAL.
 */
int store_read(const char *path, size_t max, struct buf *out, struct err *e);

/* Returns 1 if a regular file exists at path, else 0. */
int store_exists(const char *path);

/* Called by store_list() for each regular file: its path, its name in the
 * directory (temporary files too: ".w500.jpg.tmp.Ab12Cd") and its mtime;
 * nonzero stops the listing and is returned. */
typedef int (*store_entry_fn)(void *arg, const char *path, const char *name,
			      long long mtime);

/*
 * Calls fn for each file in the directory of (model, field, id): its
 * original, outputs and temporary files.  No directory is no files.
 * Returns 0, fn's nonzero, or -1 with the error.
 */
int store_list(const char *root, const char *model, const char *field,
	       const char *id, store_entry_fn fn, void *arg, struct err *e);

/* Removes the file at path; one already gone is fine.  Returns 0 or -1. */
int store_remove(const char *path, struct err *e);

#endif
