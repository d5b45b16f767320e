/* status.h — the error model of libsavepoint.
 *
 * Every fallible function returns an sp_status; SP_OK (0) is success. On failure the
 * library leaves a human-readable message, naming the file, the place in it, what was
 * expected and what was found, in a thread-local buffer that sp_last_error() returns.
 * The message stays until the next failure on the same thread.
 */
#ifndef SAVEPOINT_STATUS_H
#define SAVEPOINT_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sp_status {
  SP_OK = 0,
  SP_ERROR_INVALID_ARGUMENT = 1, /* the caller passed something unusable */
  SP_ERROR_IO = 2,               /* the operating system refused a read, write or rename */
  SP_ERROR_FORMAT = 3,           /* a file is malformed, truncated or inconsistent */
  SP_ERROR_CHECKSUM = 4,         /* a CRC or hash does not match the bytes */
  SP_ERROR_UNSUPPORTED = 5,      /* valid input that savepoint does not implement */
  SP_ERROR_UNSAFE = 6,           /* refused on purpose: code in a config, a path escape, a size limit */
  SP_ERROR_NOT_FOUND = 7,        /* a named thing (file, tensor, layer, signature) is absent */
  SP_ERROR_EXISTS = 8,           /* refusing to overwrite something that exists */
  SP_ERROR_MISMATCH = 9,         /* a model and a file (or two shapes) do not fit together */
  SP_ERROR_NO_MEMORY = 10,       /* an allocation failed */
  SP_ERROR_INTERNAL = 11,        /* a bug in savepoint */
  SP_ERROR_CANCELLED = 12        /* stopped on request (a signal, a callback) */
} sp_status;

/* The stable name of a status, e.g. "SP_ERROR_FORMAT". */
const char *sp_status_name(sp_status status);

/* The message left by the last failure on this thread ("" if none). */
const char *sp_last_error(void);

/* Forget the last message. */
void sp_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
