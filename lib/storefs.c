/* storefs.c - the store's mount, against what the store relies on. */
#include "storefs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Copies a mountinfo field, undoing its octal escapes ("\040" is a
 * space). */
static void unescape(char *out, size_t size, const char *in, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < size; i++) {
		if (in[i] == '\\' && i + 3 < len &&
		    in[i + 1] >= '0' && in[i + 1] <= '3') {
			out[o++] = (char)((in[i + 1] - '0') * 64 +
					  (in[i + 2] - '0') * 8 + (in[i + 3] - '0'));
			i += 3;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
}

/* 1 if mount point mp holds dir: equal, or a whole-component prefix. */
static int holds(const char *mp, const char *dir)
{
	size_t n = strlen(mp);

	if (strcmp(mp, "/") == 0)
		return 1;
	return strncmp(mp, dir, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

/* 1 if the comma-separated list opts has option o (or "o=..." when o ends
 * with '='). */
static int has(const char *opts, const char *o)
{
	size_t n = strlen(o);

	for (const char *p = opts; *p;) {
		size_t len = strcspn(p, ",");
		if (o[n - 1] == '=' ? len >= n && strncmp(p, o, n) == 0
				    : len == n && strncmp(p, o, n) == 0)
			return 1;
		p += len;
		p += *p == ',';
	}
	return 0;
}

static void warn(struct storefs_report *rep, const char *msg)
{
	if (rep->nwarn < STOREFS_WARN_MAX)
		snprintf(rep->warn[rep->nwarn++], sizeof(rep->warn[0]), "%s", msg);
}

/* Splits one mountinfo line into mount point, fstype and options;
 * returns 0, or -1 for a line it cannot read. */
static int parse_line(const char *line, size_t len, char *mp, size_t mpsize,
		      char *fstype, size_t fssize, char *opts, size_t osize)
{
	const char *f[6], *sep, *end = line + len;
	size_t flen[6];
	const char *p = line;

	for (int i = 0; i < 6; i++) { /* id parent dev root mp opts */
		while (p < end && *p == ' ')
			p++;
		f[i] = p;
		while (p < end && *p != ' ')
			p++;
		flen[i] = (size_t)(p - f[i]);
		if (flen[i] == 0)
			return -1;
	}
	/* Optional fields up to " - ", then fstype, source, super options. */
	sep = strstr(p, " - ");
	if (sep == NULL || sep >= end)
		return -1;
	p = sep + 3;
	{
		const char *t = p, *src, *sup;
		size_t tlen = strcspn(t, " \n"), suplen;
		src = t + tlen + (t[tlen] == ' ');
		sup = src + strcspn(src, " \n");
		sup += *sup == ' ';
		suplen = strcspn(sup, " \n");
		if (tlen == 0 || tlen >= fssize)
			return -1;
		memcpy(fstype, t, tlen);
		fstype[tlen] = '\0';
		unescape(mp, mpsize, f[4], flen[4]);
		snprintf(opts, osize, "%.*s%s%.*s", (int)flen[5], f[5],
			 suplen ? "," : "", (int)suplen, sup);
	}
	return 0;
}

/* The warnings for the options of an NFS mount. */
static void check_nfs(const char *opts, struct storefs_report *rep)
{
	if (has(opts, "soft") || has(opts, "softerr"))
		warn(rep, "soft: a write or a rename may fail half-way after a "
		     "timeout; mount with hard");
	if (has(opts, "nocto"))
		warn(rep, "nocto: another host may open a file before its data "
		     "is there; mount without nocto");
	if (!has(opts, "lookupcache=pos") && !has(opts, "lookupcache=positive") &&
	    !has(opts, "lookupcache=none"))
		warn(rep, "negative lookups are cached: a file made on another "
		     "host may look missing here for up to acdirmax seconds, and "
		     "be made again; mount with lookupcache=positive");
	if (has(opts, "vers=2") || has(opts, "nfsvers=2"))
		warn(rep, "NFSv2 has no exclusive create; mount with vers=3 or 4");
}

int storefs_check(const char *dir, const char *mountinfo,
		  struct storefs_report *rep)
{
	char mp[1024], fstype[32], opts[1024];
	size_t best = 0;
	int found = 0;

	memset(rep, 0, sizeof(*rep));
	for (const char *line = mountinfo; *line;) {
		size_t len = strcspn(line, "\n");

		if (parse_line(line, len, mp, sizeof(mp), fstype, sizeof(fstype),
			       opts, sizeof(opts)) == 0 &&
		    holds(mp, dir) && (!found || strlen(mp) >= best)) {
			/* The longest mount point wins; of equals, the last
			 * (mounted over the others). */
			best = strlen(mp);
			found = 1;
			snprintf(rep->mount_point, sizeof(rep->mount_point), "%s", mp);
			snprintf(rep->fstype, sizeof(rep->fstype), "%s", fstype);
			snprintf(rep->options, sizeof(rep->options), "%s", opts);
		}
		line += len;
		line += *line == '\n';
	}
	if (!found)
		return -1;
	if (strcmp(rep->fstype, "nfs") == 0 || strcmp(rep->fstype, "nfs4") == 0)
		check_nfs(rep->options, rep);
	if (has(rep->options, "ro"))
		warn(rep, "mounted read-only: this host cannot make anything");
	return 0;
}

int storefs_check_self(const char *dir, struct storefs_report *rep)
{
	char real[PATH_MAX];
	struct buf text;
	FILE *f;
	char chunk[4096];
	size_t n;
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	if (realpath(dir, real) == NULL)
		return -1;
	f = fopen("/proc/self/mountinfo", "r");
	if (f == NULL)
		return -1;
	buf_init(&text);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&text, chunk, n) < 0)
			goto out;
	if (text.len > 0)
		rc = storefs_check(real, (const char *)text.data, rep);
out:
	fclose(f);
	buf_release(&text);
	return rc;
}
