/*
 * clock.h - the one clock for timings, deadlines and waits.
 * Thread-safety: pure functions.
 */
#ifndef IMGSRV_CLOCK_H
#define IMGSRV_CLOCK_H

/* Milliseconds on a monotonic clock (never steps with the wall clock). */
double clock_now_ms(void);

/* Sleeps ms milliseconds (returns early if a signal interrupts it). */
void clock_sleep_ms(long ms);

#endif
