/* status.h (internal) — how library code reports failures.
 *
 *   return sp_fail(SP_ERROR_FORMAT, "%s: block at byte %llu: bad magic", path, offset);
 *   return sp_error_context(status, "loading '%s'", path);
 *
 * Rule: the function that detects a problem calls sp_fail with the facts it knows;
 * callers add context with sp_error_context on the way up and never overwrite it.
 */
#ifndef SP_CORE_STATUS_H
#define SP_CORE_STATUS_H

#include "savepoint/status.h"

#if defined(__GNUC__)
#define SP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define SP_MUST_CHECK __attribute__((warn_unused_result))
#else
#define SP_PRINTF(a, b)
#define SP_MUST_CHECK
#endif

/* Records a message for this thread and returns status. */
sp_status sp_fail(sp_status status, const char *format, ...) SP_PRINTF(2, 3);

/* Prepends "<context>: " to the current message; returns status unchanged. SP_OK passes through. */
sp_status sp_error_context(sp_status status, const char *format, ...) SP_PRINTF(2, 3);

/* The status of the last sp_fail on this thread (SP_OK after sp_clear_error). Lets an API that
 * receives a NULL from a failed constructor report that constructor's failure. */
sp_status sp_last_status(void);

/* Propagates a failure: `SP_TRY(f(x));` returns f's status from the caller when it is not SP_OK. */
#define SP_TRY(expression)                       \
  do {                                           \
    sp_status sp_try_status_ = (expression);     \
    if (sp_try_status_ != SP_OK) return sp_try_status_; \
  } while (0)

#endif
