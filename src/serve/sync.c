/* sync.c — monotonic time, monotonic condition variables, stopping threads (see sync.h). */
#include "serve/sync.h"

#include <math.h>

double sp_clock_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

struct timespec sp_clock_deadline(double seconds) {
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  double whole = floor(seconds);
  deadline.tv_sec += (time_t)whole;
  deadline.tv_nsec += (long)((seconds - whole) * 1e9);
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  return deadline;
}

void sp_clock_condition_init(pthread_cond_t *condition) {
  pthread_condattr_t attributes;
  pthread_condattr_init(&attributes);
  pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
  pthread_cond_init(condition, &attributes);
  pthread_condattr_destroy(&attributes);
}

void sp_thread_stop(pthread_t thread, pthread_mutex_t *lock, pthread_cond_t *wake, int *stopping) {
  pthread_mutex_lock(lock);
  *stopping = 1;
  pthread_cond_signal(wake);
  pthread_mutex_unlock(lock);
  pthread_join(thread, NULL);
}
