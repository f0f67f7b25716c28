/*
 * storefs.h - the store's file system, held to what the store relies on.
 *
 * The store needs of its file system (see "The store on NFS" in
 * docs/deploying.md): an exclusive create, a rename (and a link) within
 * one directory that is atomic, and close-to-open consistency: a file
 * written, fsynced and closed on one host shows its whole content to a
 * host that opens it afterwards.  It takes no file locks and reads no
 * timestamps.  A local file system gives all of it; NFS gives it when
 * mounted right, and storefs_check() reads the mount options of the
 * store (from /proc/self/mountinfo) for the ones that break it: soft
 * (a write or rename can fail half-way after a timeout), nocto (no
 * close-to-open), cached negative lookups (a file made on another host
 * looks missing here for up to acdirmax seconds, so a request waiting
 * for it may make it again: lookupcache=positive), NFSv2 (no exclusive
 * create).
 * Thread-safety: no shared state.
 */
#ifndef IMGSRV_STOREFS_H
#define IMGSRV_STOREFS_H

#include <stddef.h>

#define STOREFS_WARN_MAX 6

struct storefs_report {
	char mount_point[1024];
	char fstype[32];
	char options[1024];  /* the mount's options, then the super block's */
	int nwarn;
	char warn[STOREFS_WARN_MAX][200];
};

/*
 * Finds the mount that holds dir (an absolute path without symbolic
 * links) in mountinfo, the text of /proc/self/mountinfo, and fills *rep:
 * its file system and options, and one line per option that breaks what
 * the store relies on.  Returns 0, or -1 when no mount holds dir.
 */
int storefs_check(const char *dir, const char *mountinfo,
		  struct storefs_report *rep);

/*
 * storefs_check() on this process's /proc/self/mountinfo, for dir after
 * realpath().  Returns 0, or -1 when either cannot be read.
 */
int storefs_check_self(const char *dir, struct storefs_report *rep);

#endif
