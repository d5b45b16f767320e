/* sync.h — time and threads as the server uses them: the monotonic clock for latencies and
 * deadlines, condition variables that wait on CLOCK_MONOTONIC (so a wall-clock jump never
 * stretches or cuts a poll interval, a batch timeout or a drain), and stopping a worker thread. */
#ifndef SP_SERVE_SYNC_H
#define SP_SERVE_SYNC_H

#include <pthread.h>
#include <time.h>

/* Seconds on the monotonic clock (an arbitrary origin). */
double sp_clock_seconds(void);
/* The monotonic time seconds from now, for pthread_cond_timedwait on a condition from below. */
struct timespec sp_clock_deadline(double seconds);
/* Initialises a condition variable whose timed waits use the monotonic clock. */
void sp_clock_condition_init(pthread_cond_t *condition);
/* Sets *stopping under lock, wakes the thread waiting on wake, and joins it. */
void sp_thread_stop(pthread_t thread, pthread_mutex_t *lock, pthread_cond_t *wake, int *stopping);

#endif
