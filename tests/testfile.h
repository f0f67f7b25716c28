/*
 * testfile.h - a whole file into memory, for the test and bench programs
 * that read real files (ICC profiles, photographs).
 */
#ifndef IMGSRV_TESTFILE_H
#define IMGSRV_TESTFILE_H

#include <stdio.h>
#include <stdlib.h>

/* The file at path, malloc'd (free() it), its size in *len; NULL (and
 * *len 0) when it cannot be read or is empty. */
static unsigned char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *d = NULL;
	long n = 0;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (d = malloc((size_t)n)) != NULL &&
	    fread(d, 1, (size_t)n, f) != (size_t)n) {
		free(d);
		d = NULL;
	}
	if (d != NULL)
		*len = (size_t)n;
	fclose(f);
	return d;
}

#endif
