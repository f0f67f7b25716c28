/* jpegdc_split.c - jpegdc with two threads on one scan (see below). */
#include "jpegdc.h"
#include "jpegdc_int.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- two threads on one scan ------------------------------------------
 *
 * A scan without restart markers is one chain of codes, but Huffman codes
 * fall back into step by themselves: a decoder started anywhere soon
 * decodes the same codes as one started at the beginning.  So for a big
 * scan a second thread (the tail) starts half way, as if at an MCU, and
 * notes where each of its MCUs starts; the first thread decodes from the
 * start until it reaches an MCU start the tail noted at the very same bit.
 * From there both decode the same, so the tail's MCUs are the image's,
 * with its DC predictors off by what the first thread's tell.  Should the
 * two never meet, the first thread decodes it all: the result is exact
 * either way; only the time differs.
 */
size_t jpegdc_split_bytes = (size_t)2 << 20;

/* Decoding threads of this process; a tail is started only for a core
 * that would otherwise idle: under load it would only slow the others. */
static _Atomic int threads_busy;

void jpegdc_busy(int delta)
{
	atomic_fetch_add_explicit(&threads_busy, delta, memory_order_relaxed);
}

int jpegdc_split_wanted(size_t bytes)
{
	static _Atomic long cores;
	long n = atomic_load_explicit(&cores, memory_order_relaxed);

	if (bytes < jpegdc_split_bytes)
		return 0;
	if (jpegdc_split_bytes == 0)
		return 1;
	if (n == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		atomic_store_explicit(&cores, n, memory_order_relaxed);
	}
	return atomic_load_explicit(&threads_busy, memory_order_relaxed) < n;
}

#define CHAINS 64                 /* tail restarts after a bad code */
#define RESTART_SPAN (256 * 1024) /* ... within this many bytes of its start */

struct tail_mcu {
	uint64_t pos;     /* bit at which the MCU starts */
	uint32_t pred[3]; /* the tail's DC predictors there */
	uint32_t chain;
	uint32_t val;     /* its first AC value in the tail's vals */
};

struct tail {
	const struct job *j;
	uint8_t *buf;
	const uint8_t *src, *src_end; /* the second half, stuffed */
	size_t start;      /* where the tail unstuffs it into buf, and starts */
	size_t len;        /* the end of the unstuffed data in buf */
	int marker;        /* the marker after it */
	_Atomic int ready; /* len and marker set, the data in buf */
	unsigned cap;      /* MCUs it may note */
	unsigned bpm, cpm;  /* blocks per MCU; of them, ones with an IDCT */
	struct tail_mcu *rec;
	uint32_t *dc;       /* bpm per MCU: DC values by the tail's predictors */
	uint64_t *nz;       /* cpm per MCU: those blocks' non-zero AC ... */
	int16_t *vals;      /* ... whose values, block after block, are here */
	size_t nvals, vcap; /* values kept (all MCUs noted), room for them */
	unsigned chain_end[CHAINS]; /* first MCU a chain could not decode */
	int chain_err[CHAINS];      /* ... for a bad code or the data's end */
	unsigned chains;
	_Atomic unsigned noted; /* MCUs noted and published */
	_Atomic int quit;
	/* Once the head has met the tail (synced set, with release): tail
	 * MCU from is image MCU from + off, DC values off by delta; the tail
	 * places [mid, end) of its MCUs and the head [from, mid). */
	_Atomic int synced, decoded;
	pthread_mutex_t mu; /* with cv: waits for ready, decoded, synced, quit */
	pthread_cond_t cv;
	struct job *out;
	unsigned from;
	long off; /* may be negative: the tail counts MCUs from nowhere */
	uint32_t delta[3];
	int place_rc;
};

/* Sets *flag and wakes whoever waits for it. */
static void tail_signal(struct tail *t, _Atomic int *flag)
{
	pthread_mutex_lock(&t->mu);
	atomic_store_explicit(flag, 1, memory_order_release);
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* Waits (asleep: the other thread has work to do) until *a or *b is set. */
static void tail_wait(struct tail *t, _Atomic int *a, _Atomic int *b)
{
	pthread_mutex_lock(&t->mu);
	while (!atomic_load_explicit(a, memory_order_acquire) &&
	       !atomic_load_explicit(b, memory_order_acquire))
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

static uint64_t bit_pos(const struct bits *b, const uint8_t *buf)
{
	return (uint64_t)(b->p - buf) * 8 - b->n;
}

/* ---- the tail ---------------------------------------------------------- */

/* Decodes MCU m of the tail; -1 on a bad code or past the data. */
static int tail_mcu(struct tail *t, struct bits *b, uint32_t *pred, unsigned m)
{
	uint32_t *dc = t->dc + (size_t)m * t->bpm;
	uint64_t *nz = t->nz + (size_t)m * t->cpm;
	size_t nv = t->nvals;

	for (unsigned c = 0; c < t->j->ncomp; c++) {
		const struct comp *cp = &t->j->comp[c];

		for (unsigned i = 0; i < cp->h * cp->v; i++) {
			int16_t blk[64];

			if (dc_decode(b, cp->dc, &pred[c]) < 0)
				return -1;
			*dc++ = pred[c];
			if (cp->sz == 1) {
				if (ac_skip(b, cp->ac) < 0)
					return -1;
				continue;
			}
			memset(blk, 0, sizeof(blk));
			if (ac_values(b, cp->ac, blk, nz) < 0)
				return -1;
			/* The non-zero values only: a few per block. */
			for (uint64_t bits = *nz++; bits != 0; bits &= bits - 1)
				t->vals[nv++] = blk[__builtin_ctzll(bits)];
		}
	}
	if (bit_pos(b, t->buf) > (uint64_t)t->len * 8)
		return -1;
	t->nvals = nv;
	return 0;
}

/* Unstuffs the second half of the data into t->buf from t->start on,
 * while the head does the first, and tells the head it is there. */
static void tail_unstuff(struct tail *t)
{
	struct scan u;

	memset(&u, 0, sizeof(u));
	u.src = t->src;
	u.end = t->src_end;
	u.buf = t->buf + t->start;
	u.cend = u.buf;
	u.cap = (size_t)(t->src_end - t->src);
	jpegdc_unstuff(&u);
	t->len = (size_t)(u.cend - t->buf);
	t->marker = u.marker;
	tail_signal(t, &t->ready);
}

/* Decodes one more chain from byte at of t->buf, as if an MCU started
 * there, noting its MCUs as the tail's MCUs m on, until a bad code, the
 * data's end, a full t->rec or quit.  Returns the first MCU it did not
 * note, and in *stopped the bit where it stopped. */
static unsigned tail_chain(struct tail *t, size_t at, unsigned m,
			   uint64_t *stopped)
{
	struct bits b = { 0, load_be(t->buf + at), 0, t->buf + at };
	uint32_t pred[3] = { 0, 0, 0 };
	unsigned k = t->chains++;

	for (; m < t->cap; m++) {
		if ((m & 63) == 0 &&
		    atomic_load_explicit(&t->quit, memory_order_relaxed))
			break;
		if (t->nvals + (size_t)t->cpm * 63 > t->vcap)
			break; /* out of room, as at t->cap */
		t->rec[m].pos = bit_pos(&b, t->buf);
		memcpy(t->rec[m].pred, pred, sizeof(pred));
		t->rec[m].chain = k;
		t->rec[m].val = (uint32_t)t->nvals;
		if (tail_mcu(t, &b, pred, m) < 0) {
			t->chain_err[k] = 1;
			break;
		}
		atomic_store_explicit(&t->noted, m + 1, memory_order_release);
	}
	t->chain_end[k] = m;
	*stopped = bit_pos(&b, t->buf);
	return m;
}

/* Notes the tail's MCUs from t->start on, in chains: one lost early
 * (still out of step) is followed by another from further on. */
static void tail_note(struct tail *t)
{
	size_t at = t->start;
	unsigned m = 0;

	while (t->chains < CHAINS) {
		uint64_t stopped;

		m = tail_chain(t, at, m, &stopped);
		at = (size_t)(stopped / 8) + 1;
		if (m >= t->cap || at >= t->len || at > t->start + RESTART_SPAN ||
		    atomic_load_explicit(&t->quit, memory_order_relaxed))
			return;
	}
}

/* Writes tail MCU m (DC values shifted by t->delta) as image MCU
 * m + t->off: 0, or -1 when a block is refused. */
static int tail_place(const struct tail *t, unsigned m)
{
	struct job *j = t->out;
	const uint32_t *dc = t->dc + (size_t)m * t->bpm;
	const uint64_t *nz = t->nz + (size_t)m * t->cpm;
	const int16_t *val = t->vals + t->rec[m].val;
	unsigned to = (unsigned)((long)m + t->off);
	unsigned mx = to % j->mcus_x, my = to / j->mcus_x;

	for (unsigned c = 0; c < j->ncomp; c++) {
		struct comp *cp = &j->comp[c];

		for (unsigned by = 0; by < cp->v; by++)
			for (unsigned bx = 0; bx < cp->h; bx++) {
				size_t y = (size_t)(my * cp->v + by) * cp->sz;
				size_t x = (size_t)(mx * cp->h + bx) * cp->sz;
				uint8_t *out = cp->plane + y * cp->stride + x;
				int16_t v = (int16_t)(*dc++ + t->delta[c]);

				int16_t blk[64];

				if (cp->sz == 1) {
					*out = idct_1x1(v, cp->q[0]);
					continue;
				}
				memset(blk, 0, sizeof(blk));
				for (uint64_t bits = *nz; bits != 0; bits &= bits - 1)
					blk[__builtin_ctzll(bits)] = *val++;
				blk[0] = v;
				if ((cp->sz == 2 ? jpegdc_idct_2x2(blk, cp->q, *nz,
								   out, cp->stride)
						 : jpegdc_idct_4x4(blk, cp->q, *nz,
								   out, cp->stride)) < 0)
					return -1;
				nz++;
			}
	}
	return 0;
}

/* tail_place() for tail MCUs [from, to): 0, or -1 at the first refused. */
static int tail_place_range(const struct tail *t, unsigned from, unsigned to)
{
	for (unsigned m = from; m < to; m++)
		if (tail_place(t, m) < 0)
			return -1;
	return 0;
}

/* The tail MCUs that are the image's: [t->from, *end); the tail places
 * from *mid on, the head before. */
static void tail_range(const struct tail *t, unsigned *end, unsigned *mid)
{
	*end = (unsigned)((long)(t->j->mcus_x * t->j->mcus_y) - t->off);
	*mid = t->from + (*end - t->from) / 2;
}

/* The tail's thread: unstuffs and notes its half, then places its share
 * of the image's MCUs if the head met it. */
static void *tail_run(void *arg)
{
	struct tail *t = arg;

	jpegdc_busy(1);
	tail_unstuff(t);
	tail_note(t);
	tail_signal(t, &t->decoded);
	/* The head has either met us already or gives up on us now. */
	tail_wait(t, &t->synced, &t->quit);
	if (atomic_load_explicit(&t->synced, memory_order_acquire)) {
		unsigned end, mid;

		tail_range(t, &end, &mid);
		t->place_rc = tail_place_range(t, mid, end);
	}
	jpegdc_busy(-1);
	return NULL;
}

/* Sets t up to decode s's data from byte half on, into s->buf: 0, or -1
 * out of memory.  tail_release() it either way. */
static int tail_init(struct tail *t, const struct job *j, const struct scan *s,
		     size_t half)
{
	unsigned total = j->mcus_x * j->mcus_y;

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->j = j;
	t->buf = s->buf;
	t->src = s->src + half;
	t->src_end = s->end;
	t->start = half;
	t->cap = total + total / 4 + 64; /* room for MCUs out of step */
	for (unsigned c = 0; c < j->ncomp; c++) {
		t->bpm += j->comp[c].h * j->comp[c].v;
		if (j->comp[c].sz > 1)
			t->cpm += j->comp[c].h * j->comp[c].v;
	}
	t->rec = malloc(sizeof(*t->rec) * t->cap);
	t->dc = malloc(sizeof(*t->dc) * t->cap * t->bpm);
	t->nz = malloc(sizeof(*t->nz) * t->cap * t->cpm + 1);
	/* A non-zero AC value takes 2 bits or more (its code, its extra
	 * bits): at most 4 a byte of the half, and a block's worth. */
	t->vcap = (size_t)(s->end - t->src) * 4 + 64 * (size_t)t->cpm;
	if (t->vcap > UINT32_MAX) /* rec[].val's range */
		t->vcap = UINT32_MAX;
	t->vals = malloc(sizeof(*t->vals) * t->vcap);
	if (t->rec == NULL || t->dc == NULL || t->nz == NULL || t->vals == NULL)
		return -1;
	return 0;
}

/* Frees what tail_init() made; its thread, if any, has been joined. */
static void tail_release(struct tail *t)
{
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t->rec);
	free(t->dc);
	free(t->nz);
	free(t->vals);
}

/* ---- the head ---------------------------------------------------------- */

/* Looks for a tail MCU starting at bit pos, waiting for the tail as
 * needed; *cur is where the last look stopped.  Returns its index or -1. */
static long tail_find(struct tail *t, uint64_t pos, unsigned *cur)
{
	for (;;) {
		unsigned noted = atomic_load_explicit(&t->noted, memory_order_acquire);

		while (*cur < noted && t->rec[*cur].pos < pos)
			(*cur)++;
		if (*cur < noted)
			return t->rec[*cur].pos == pos ? (long)*cur : -1;
		if (atomic_load_explicit(&t->decoded, memory_order_acquire)) {
			/* the last notes may have come with the end */
			if (*cur < atomic_load_explicit(&t->noted, memory_order_acquire))
				continue;
			return -1;
		}
		sched_yield();
	}
}

/* The first thread's side: it decodes the image from its first MCU. */
struct head {
	struct job *j;
	struct scan *s;
	struct tail *t;
	pthread_t th; /* the tail's thread */
	int (*stop)(void *);
	void *arg;
	unsigned m;   /* the next image MCU to decode */
	unsigned cur; /* the tail MCU where tail_find() last stopped */
	long sync;    /* once met: the tail MCU that image MCU m is */
	int ready;    /* the tail's half is in s->buf */
	int alone;    /* the tail has quit: decode the rest alone */
};

/* What head_decode() and head_meet() return besides decode_scan()'s 0, 1
 * and -1. */
enum { HEAD_MET = 2, HEAD_ALONE = 3 };

/* Unstuffs the first half of the data (up to byte half) into s->buf so
 * that it ends where the tail's half will start, and sets the reader at
 * its start.  -1 when a marker ends the segment in the first half. */
static int head_start(struct scan *s, size_t half)
{
	size_t a;

	s->end = s->src + half;
	s->cap = half;
	s->no_pad = 1;
	s->cend = s->buf;
	jpegdc_unstuff(s);
	if (s->marker >= 0)
		return -1;
	a = (size_t)(s->cend - s->buf);
	memmove(s->buf + half - a, s->buf, a);
	s->b.acc = 0, s->b.n = 0, s->b.p = s->buf + half - a;
	/* Not yet into the tail's half (loaded when the head gets there). */
	s->b.next = s->b.p + MARGIN < s->buf + half ? load_be(s->b.p) : 0;
	s->cend = s->buf + half;
	s->done = 0;
	return 0;
}

/* The head is about to read the tail's half: waits until the tail has
 * unstuffed it, then reads on into it to the segment's end. */
static void head_reach_half(struct head *h)
{
	struct tail *t = h->t;
	struct scan *s = h->s;

	tail_wait(t, &t->ready, &t->ready);
	s->cend = s->buf + t->len;
	s->marker = t->marker;
	s->done = 1;
	h->ready = 1;
	/* the look-ahead may have read the half unwritten */
	s->b.next = load_be(s->b.p);
}

/*
 * Decodes image MCUs from h->m on into the planes.  Unless h->alone,
 * returns HEAD_MET as soon as the next MCU starts at a bit where a tail
 * MCU does (h->m the next image MCU, h->sync that tail MCU); else returns
 * as decode_scan(): 0, 1 or -1.
 */
static int head_decode(struct head *h)
{
	struct job *j = h->j;
	struct scan *s = h->s;
	unsigned total = j->mcus_x * j->mcus_y;

	for (; h->m < total; h->m++) {
		unsigned mx = h->m % j->mcus_x, my = h->m / j->mcus_x;
		uint64_t pos;

		if (mx == 0 && h->stop != NULL && h->stop(h->arg))
			return -1;
		if (!h->ready && s->b.p + MARGIN >= s->buf + h->t->start)
			head_reach_half(h);
		if (jpegdc_mcu(j, s, mx, my) < 0 || jpegdc_overrun(s))
			return 1;
		pos = bit_pos(&s->b, s->buf);
		if (h->alone || pos < (uint64_t)h->t->start * 8 ||
		    h->m + 1 >= total)
			continue;
		h->sync = tail_find(h->t, pos, &h->cur);
		if (h->sync >= 0) {
			h->m++;
			return HEAD_MET;
		}
	}
	return jpegdc_segment_end(s) == 0xD9 ? 0 : 1;
}

/* Tells the tail to quit and waits for it. */
static void head_stop_tail(struct head *h)
{
	tail_signal(h->t, &h->t->quit);
	pthread_join(h->th, NULL);
}

/*
 * The head has met the tail.  Waits for it to finish noting; if the chain
 * met runs to the image's end, the two place half of its MCUs each and
 * the tail is joined.  Returns 0 or 1 as decode_scan(), or HEAD_ALONE
 * (h->alone set, the tail joined) when the chain stops short for want of
 * room: then the head is to go on alone.
 */
static int head_meet(struct head *h)
{
	struct job *j = h->j;
	struct tail *t = h->t;
	unsigned k = t->rec[h->sync].chain, end, mid;
	int placed;

	t->out = j;
	t->from = (unsigned)h->sync;
	t->off = (long)h->m - (long)t->from;
	for (unsigned c = 0; c < j->ncomp; c++)
		t->delta[c] = j->comp[c].pred - t->rec[t->from].pred[c];
	tail_wait(t, &t->decoded, &t->decoded);
	if ((long)t->chain_end[k] + t->off < (long)(j->mcus_x * j->mcus_y)) {
		/* The chain met stops short of the image's end: at a bad
		 * code or the data's end (libjpeg would have to repair it
		 * too), or for want of room (then go on alone). */
		head_stop_tail(h);
		if (t->chain_err[k])
			return 1;
		h->alone = 1;
		return HEAD_ALONE;
	}
	tail_signal(t, &t->synced);
	tail_range(t, &end, &mid);
	placed = tail_place_range(t, t->from, mid);
	pthread_join(h->th, NULL);
	if (placed != 0 || t->place_rc != 0 || jpegdc_segment_end(h->s) != 0xD9)
		return 1;
	j->threads = 2;
	return 0;
}

/* Where the tail's half of s's data starts: half way, but not after an
 * FF (a stuffed FF 00 must not straddle the halves).  0: nowhere. */
static size_t split_point(const struct scan *s)
{
	size_t slen = (size_t)(s->end - s->src), half = slen / 2;

	if (half == 0)
		return 0;
	while (half < slen && s->src[half - 1] == 0xFF)
		half++;
	return half < slen ? half : 0;
}

/*
 * decode_scan() for a scan without restart markers, with the tail's help.
 * s->buf has room for all the data; the head unstuffs the first half and
 * moves it to end where the tail's half starts.  Same returns, and -2
 * when it cannot help (decode it the plain way).
 */
int jpegdc_decode_split(struct job *j, struct scan *s, int (*stop)(void *),
			void *arg)
{
	size_t half = split_point(s);
	struct tail t;
	struct head h = { .j = j, .s = s, .t = &t, .stop = stop, .arg = arg };
	int rc;

	if (half == 0)
		return -2;
	if (tail_init(&t, j, s, half) < 0 ||
	    pthread_create(&h.th, NULL, tail_run, &t) != 0) {
		rc = -2;
		goto out;
	}
	if (head_start(s, half) < 0) {
		/* a marker in the first half: leave it to the plain way */
		head_stop_tail(&h);
		rc = -2;
		goto out;
	}
	rc = head_decode(&h);
	if (rc != HEAD_MET) {
		head_stop_tail(&h);
		goto out;
	}
	rc = head_meet(&h);
	if (rc == HEAD_ALONE)
		rc = head_decode(&h);
out:
	tail_release(&t);
	return rc;
}
