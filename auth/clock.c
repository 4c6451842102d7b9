/* auth/clock.c - the monotonic clock in milliseconds. */
#include <time.h>

#include "auth/clock.h"

long long
mc_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
