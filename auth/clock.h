/*
 * auth/clock.h - the monotonic clock in milliseconds, for deadlines.
 *
 * Deadlines (the loopback listener, the lock, network reads and writes,
 * the doctor's probes) are measured on CLOCK_MONOTONIC, so a wall clock
 * set back or forward (NTP, suspend) neither stretches nor cuts them.
 */
#ifndef MAILCRED_AUTH_CLOCK_H
#define MAILCRED_AUTH_CLOCK_H

/* Milliseconds on CLOCK_MONOTONIC since an arbitrary point. */
long long mc_clock_ms(void);

#endif
