/* template.h — Python str.format for file name templates, as Keras's ModelCheckpoint uses it:
 * filepath.format(epoch=epoch + 1, **logs), e.g. "weights-{epoch:02d}-{val_loss:.4f}.keras".
 *
 * Supported: literal text with "{{" and "}}"; replacement fields {name}, {name!r}, {name!s} and
 * {name:spec} with the format-spec mini-language [[fill]align][sign][#][0][width][,|_][.precision]
 * [type], types d, x, X, o, b, n for integers and e, E, f, F, g, G, %, n (and none) for both,
 * exactly as Python formats an int or a float. Values are integers (epoch, batch) or floats
 * (logged metrics); "{loss}" prints Python's repr of the float. Positional fields ("{0}"),
 * attribute and index access, and nested fields in the spec are refused with a clear error, as
 * is a name with no value: SP_ERROR_NOT_FOUND naming the key and the names that exist.
 */
#ifndef SP_CKPT_TEMPLATE_H
#define SP_CKPT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct sp_template_value {
  const char *name;
  int is_integer;
  int64_t integer;
  double real;
} sp_template_value;

/* Formats template with values; *out is a new string. what names the template in errors
 * ("ModelCheckpoint filepath"). */
sp_status sp_format_template(const char *template_text, const sp_template_value *values, size_t count,
                             const char *what, char **out) SP_MUST_CHECK;

#endif
