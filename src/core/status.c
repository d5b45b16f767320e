/* status.c — thread-local error messages behind sp_status.
 *
 * sp_fail() records a message and returns its status so call sites read
 * `return sp_fail(SP_ERROR_FORMAT, "...")`. sp_error_context() prepends where the
 * failure happened as it travels up ("loading 'm.keras': member config.json: ...").
 */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { MESSAGE_CAPACITY = 2048 };

static _Thread_local char last_message[MESSAGE_CAPACITY];
static _Thread_local sp_status last_status;

const char *sp_status_name(sp_status status) {
  switch (status) {
    case SP_OK: return "SP_OK";
    case SP_ERROR_INVALID_ARGUMENT: return "SP_ERROR_INVALID_ARGUMENT";
    case SP_ERROR_IO: return "SP_ERROR_IO";
    case SP_ERROR_FORMAT: return "SP_ERROR_FORMAT";
    case SP_ERROR_CHECKSUM: return "SP_ERROR_CHECKSUM";
    case SP_ERROR_UNSUPPORTED: return "SP_ERROR_UNSUPPORTED";
    case SP_ERROR_UNSAFE: return "SP_ERROR_UNSAFE";
    case SP_ERROR_NOT_FOUND: return "SP_ERROR_NOT_FOUND";
    case SP_ERROR_EXISTS: return "SP_ERROR_EXISTS";
    case SP_ERROR_MISMATCH: return "SP_ERROR_MISMATCH";
    case SP_ERROR_NO_MEMORY: return "SP_ERROR_NO_MEMORY";
    case SP_ERROR_INTERNAL: return "SP_ERROR_INTERNAL";
    case SP_ERROR_CANCELLED: return "SP_ERROR_CANCELLED";
  }
  return "SP_ERROR_UNKNOWN";
}

const char *sp_last_error(void) { return last_message; }

void sp_clear_error(void) {
  last_message[0] = '\0';
  last_status = SP_OK;
}

sp_status sp_last_status(void) { return last_status; }

sp_status sp_fail(sp_status status, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(last_message, sizeof last_message, format, args);
  va_end(args);
  last_status = status;
  return status;
}

sp_status sp_error_context(sp_status status, const char *format, ...) {
  if (status == SP_OK) return status;
  char prefix[MESSAGE_CAPACITY];
  va_list args;
  va_start(args, format);
  vsnprintf(prefix, sizeof prefix, format, args);
  va_end(args);
  size_t prefix_length = strlen(prefix), message_length = strlen(last_message);
  if (prefix_length + 2 >= MESSAGE_CAPACITY) return status;
  if (prefix_length + 2 + message_length >= MESSAGE_CAPACITY) message_length = MESSAGE_CAPACITY - prefix_length - 3;
  memmove(last_message + prefix_length + 2, last_message, message_length);
  memcpy(last_message, prefix, prefix_length);
  memcpy(last_message + prefix_length, ": ", 2);
  last_message[prefix_length + 2 + message_length] = '\0';
  return status;
}
