/* timestamp.c — the registry's one time format: UTC ISO-8601 with microseconds and a "Z",
 * fixed width, so that text comparison is time comparison on both backends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/registry_internal.h"

static void format_timestamp(time_t seconds, long microseconds, char out[SP_TIMESTAMP_SIZE]) {
  struct tm parts;
  char date_and_time[32];
  gmtime_r(&seconds, &parts);
  strftime(date_and_time, sizeof date_and_time, "%Y-%m-%dT%H:%M:%S", &parts);
  snprintf(out, SP_TIMESTAMP_SIZE, "%.19s.%06uZ", date_and_time, (unsigned)(microseconds % 1000000) % 1000000u);
}

void sp_registry_timestamp_now(char out[SP_TIMESTAMP_SIZE]) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  format_timestamp(now.tv_sec, now.tv_nsec / 1000, out);
}

/* Reads exactly count digits at *cursor. */
static int read_digits(const char **cursor, int count, int *value) {
  *value = 0;
  for (int i = 0; i < count; i++) {
    char c = (*cursor)[i];
    if (c < '0' || c > '9') return 0;
    *value = *value * 10 + (c - '0');
  }
  *cursor += count;
  return 1;
}

static int read_time_of_day(const char **cursor, struct tm *parts, long *microseconds) {
  const char *p = *cursor;
  if (!read_digits(&p, 2, &parts->tm_hour) || *p++ != ':' || !read_digits(&p, 2, &parts->tm_min)) return 0;
  if (*p == ':') {
    p++;
    if (!read_digits(&p, 2, &parts->tm_sec)) return 0;
    if (*p == '.' || *p == ',') {
      p++;
      long scale = 100000;
      if (*p < '0' || *p > '9') return 0;
      for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
        if (scale > 0) *microseconds += (*p - '0') * scale;
    }
  }
  *cursor = p;
  return parts->tm_hour <= 23 && parts->tm_min <= 59 && parts->tm_sec <= 60;
}

/* "", "Z", "+HH", "+HH:MM", "+HHMM" (and "-"): the offset east of UTC in seconds. */
static int read_zone(const char *p, long *offset) {
  *offset = 0;
  if (*p == '\0') return 1;
  if ((*p == 'Z' || *p == 'z') && p[1] == '\0') return 1;
  if (*p != '+' && *p != '-') return 0;
  int sign = *p++ == '-' ? -1 : 1, hours = 0, minutes = 0;
  if (!read_digits(&p, 2, &hours)) return 0;
  if (*p == ':') p++;
  if (*p && !read_digits(&p, 2, &minutes)) return 0;
  if (*p || hours > 23 || minutes > 59) return 0;
  *offset = sign * (hours * 3600L + minutes * 60L);
  return 1;
}

sp_status sp_registry_timestamp_normalize(const char *text, char out[SP_TIMESTAMP_SIZE]) {
  if (strcmp(text, "now") == 0) {
    sp_registry_timestamp_now(out);
    return SP_OK;
  }
  struct tm parts = {0};
  long microseconds = 0, offset = 0;
  const char *p = text;
  int valid = read_digits(&p, 4, &parts.tm_year) && *p++ == '-' && read_digits(&p, 2, &parts.tm_mon) &&
              *p++ == '-' && read_digits(&p, 2, &parts.tm_mday) && parts.tm_mon >= 1 && parts.tm_mon <= 12 &&
              parts.tm_mday >= 1 && parts.tm_mday <= 31;
  if (valid && (*p == 'T' || *p == 't' || *p == ' ')) {
    p++;
    valid = read_time_of_day(&p, &parts, &microseconds);
  }
  if (valid) valid = read_zone(p, &offset);
  if (!valid)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "'%s' is not a time: expected ISO-8601 such as 2025-01-31, "
                   "2025-01-31T12:00:00Z, 2025-01-31 12:00:00.5+02:00 or 'now' (no zone means UTC)", text);
  parts.tm_year -= 1900;
  parts.tm_mon -= 1;
  time_t seconds = timegm(&parts) - offset;
  format_timestamp(seconds, microseconds, out);
  return SP_OK;
}
