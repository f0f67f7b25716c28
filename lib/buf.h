/*
 * buf.h - a growable byte buffer.
 *
 * A struct buf lives on the stack: buf_init() it, append to it, and
 * buf_release() it.  data is NULL until the first append; after an append
 * data[len] is always a NUL byte (not counted in len), so text is usable as
 * a C string.  buf_detach() hands the storage to the caller, who then owns
 * it and frees it with free().  Thread-safety: one owner at a time.
 */
#ifndef IMGSRV_BUF_H
#define IMGSRV_BUF_H

#include <stddef.h>

struct buf {
	unsigned char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);

/* Frees the storage and leaves b empty and reusable. */
void buf_release(struct buf *b);

/* Appends n bytes; returns 0, or -1 (b unaltered) when memory runs out. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Appends printf-formatted text; returns 0, or -1 (b unaltered) when
 * memory runs out. */
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Makes room for at least n more bytes; returns 0 or -1. */
int buf_reserve(struct buf *b, size_t n);

/* Returns the storage (the caller now owns it) and leaves b empty. */
unsigned char *buf_detach(struct buf *b, size_t *len);

#endif
