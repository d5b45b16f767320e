/* json.h — JSON over json-c: guarded parsing, typed lookups with precise errors, and
 * output that matches Python's json.dumps (the writer of every Keras and TF.js JSON file).
 *
 * Parsed numbers keep their original text (json-c stores it), so a config loaded and
 * written back keeps "0.0010000000474974513" exactly as Keras wrote it.
 */
#ifndef SP_CORE_JSON_H
#define SP_CORE_JSON_H

#include <json.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

enum { SP_JSON_MAX_DEPTH = 64 };

/* Parses text (length bytes) as one JSON value; what names the text in errors.
 * Nesting deeper than SP_JSON_MAX_DEPTH and trailing non-space bytes are refused. */
sp_status sp_json_parse(const char *text, size_t length, const char *what, json_object **value) SP_MUST_CHECK;

/* object[key] or NULL when object is not an object or lacks key. Borrowed. */
json_object *sp_json_member(const json_object *object, const char *key);

/* Typed lookups. A missing key or a JSON null gives the fallback; a value of the wrong
 * type is an SP_ERROR_FORMAT naming context and key ("layer 'dense': 'units' must be
 * an integer, found \"ten\""). */
sp_status sp_json_get_int(const json_object *object, const char *key, int64_t fallback, const char *context,
                          int64_t *value) SP_MUST_CHECK;
sp_status sp_json_get_double(const json_object *object, const char *key, double fallback, const char *context,
                             double *value) SP_MUST_CHECK;
sp_status sp_json_get_bool(const json_object *object, const char *key, int fallback, const char *context,
                           int *value) SP_MUST_CHECK;
/* The string is borrowed from object. */
sp_status sp_json_get_string(const json_object *object, const char *key, const char *fallback,
                             const char *context, const char **value) SP_MUST_CHECK;
/* Like the above but a missing key is an error. */
sp_status sp_json_require(const json_object *object, const char *key, json_type type, const char *context,
                          json_object **value) SP_MUST_CHECK;
/* A list of integers (a shape); JSON null entries become -1. At most capacity entries. */
sp_status sp_json_get_int_list(const json_object *object, const char *key, int capacity, const char *context,
                               int64_t *values, int *count) SP_MUST_CHECK;

/* A short rendering of a value for error messages (truncated). */
const char *sp_json_preview(const json_object *value, char *out, size_t capacity);

/* Serializes like Python json.dumps(value) (indent 0: ", " and ": " separators on one line)
 * or json.dumps(value, indent=N). Non-ASCII is escaped as \uXXXX, floats print as Python's
 * repr, NaN/Infinity as Python writes them. Returns a new string (NULL on failure). */
char *sp_json_dumps(const json_object *value, int indent);

/* Python repr() of a double into out (at least 32 bytes): "0.1", "1e-07", "1.0", "inf" forms. */
void sp_format_python_float(double value, char *out, size_t capacity);
/* The same for a float32: the shortest digits that round-trip as float32, in repr style
 * (what numpy prints for a float32 scalar: 0.1f gives "0.1", not "0.10000000149011612"). */
void sp_format_python_float32(float value, char *out, size_t capacity);

#endif
