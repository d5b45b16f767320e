/* json.c — json-c helpers and a Python-compatible serializer (see json.h). */
#include "core/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/memory.h"

sp_status sp_json_parse(const char *text, size_t length, const char *what, json_object **value) {
  *value = NULL;
  if (length > INT32_MAX) return sp_fail(SP_ERROR_UNSAFE, "%s: JSON text of %zu bytes is too large", what, length);
  json_tokener *tokener = json_tokener_new_ex(SP_JSON_MAX_DEPTH);
  if (!tokener) return sp_fail(SP_ERROR_NO_MEMORY, "cannot allocate a JSON parser");
  json_object *parsed = json_tokener_parse_ex(tokener, text, (int)length);
  enum json_tokener_error error = json_tokener_get_error(tokener);
  size_t offset = tokener->char_offset;
  json_tokener_free(tokener);
  if (error == json_tokener_continue) {
    json_object_put(parsed);
    return sp_fail(SP_ERROR_FORMAT, "%s: JSON ends early (after %zu bytes)", what, length);
  }
  if (error != json_tokener_success) {
    json_object_put(parsed);
    return sp_fail(error == json_tokener_error_depth ? SP_ERROR_UNSAFE : SP_ERROR_FORMAT,
                   "%s: invalid JSON at byte %zu: %s", what, offset, json_tokener_error_desc(error));
  }
  for (size_t i = offset; i < length; i++) {
    if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t' && text[i] != '\0') {
      json_object_put(parsed);
      return sp_fail(SP_ERROR_FORMAT, "%s: unexpected bytes after the JSON value at byte %zu", what, i);
    }
  }
  *value = parsed;
  return SP_OK;
}

json_object *sp_json_member(const json_object *object, const char *key) {
  json_object *member = NULL;
  if (!object || !json_object_is_type(object, json_type_object)) return NULL;
  if (!json_object_object_get_ex(object, key, &member)) return NULL;
  return member;
}

const char *sp_json_preview(const json_object *value, char *out, size_t capacity) {
  const char *text = value ? json_object_to_json_string_ext((json_object *)value, JSON_C_TO_STRING_PLAIN) : "null";
  size_t length = strlen(text);
  if (length < capacity) {
    memcpy(out, text, length + 1);
  } else if (capacity > 4) {
    memcpy(out, text, capacity - 4);
    memcpy(out + capacity - 4, "...", 4);
  } else if (capacity) {
    out[0] = '\0';
  }
  return out;
}

static sp_status wrong_type(const json_object *value, const char *key, const char *expected, const char *context) {
  char preview[80];
  return sp_fail(SP_ERROR_FORMAT, "%s: '%s' must be %s, found %s", context, key, expected,
                 sp_json_preview(value, preview, sizeof preview));
}

static int is_null_or_missing(const json_object *value) { return value == NULL || json_object_is_type(value, json_type_null); }

sp_status sp_json_get_int(const json_object *object, const char *key, int64_t fallback, const char *context,
                          int64_t *value) {
  json_object *member = sp_json_member(object, key);
  if (is_null_or_missing(member)) {
    *value = fallback;
    return SP_OK;
  }
  if (json_object_is_type(member, json_type_int)) {
    *value = json_object_get_int64(member);
    return SP_OK;
  }
  if (json_object_is_type(member, json_type_double)) {
    double number = json_object_get_double(member);
    if (number == floor(number) && fabs(number) < 9.0e15) {
      *value = (int64_t)number;
      return SP_OK;
    }
  }
  return wrong_type(member, key, "an integer", context);
}

sp_status sp_json_get_double(const json_object *object, const char *key, double fallback, const char *context,
                             double *value) {
  json_object *member = sp_json_member(object, key);
  if (is_null_or_missing(member)) {
    *value = fallback;
    return SP_OK;
  }
  if (json_object_is_type(member, json_type_int) || json_object_is_type(member, json_type_double)) {
    *value = json_object_get_double(member);
    return SP_OK;
  }
  return wrong_type(member, key, "a number", context);
}

sp_status sp_json_get_bool(const json_object *object, const char *key, int fallback, const char *context,
                           int *value) {
  json_object *member = sp_json_member(object, key);
  if (is_null_or_missing(member)) {
    *value = fallback;
    return SP_OK;
  }
  if (json_object_is_type(member, json_type_boolean)) {
    *value = json_object_get_boolean(member);
    return SP_OK;
  }
  return wrong_type(member, key, "true or false", context);
}

sp_status sp_json_get_string(const json_object *object, const char *key, const char *fallback,
                             const char *context, const char **value) {
  json_object *member = sp_json_member(object, key);
  if (is_null_or_missing(member)) {
    *value = fallback;
    return SP_OK;
  }
  if (json_object_is_type(member, json_type_string)) {
    *value = json_object_get_string(member);
    return SP_OK;
  }
  return wrong_type(member, key, "a string", context);
}

static const char *type_phrase(json_type type) {
  switch (type) {
    case json_type_object: return "an object";
    case json_type_array: return "a list";
    case json_type_string: return "a string";
    case json_type_int: return "an integer";
    case json_type_double: return "a number";
    case json_type_boolean: return "true or false";
    default: return "null";
  }
}

sp_status sp_json_require(const json_object *object, const char *key, json_type type, const char *context,
                          json_object **value) {
  json_object *member = sp_json_member(object, key);
  if (!member) return sp_fail(SP_ERROR_FORMAT, "%s: missing required key '%s'", context, key);
  int numeric_ok = type == json_type_double && json_object_is_type(member, json_type_int);
  if (!json_object_is_type(member, type) && !numeric_ok) return wrong_type(member, key, type_phrase(type), context);
  *value = member;
  return SP_OK;
}

sp_status sp_json_get_int_list(const json_object *object, const char *key, int capacity, const char *context,
                               int64_t *values, int *count) {
  json_object *list = sp_json_member(object, key);
  if (!list || !json_object_is_type(list, json_type_array)) return wrong_type(list, key, "a list of integers", context);
  size_t length = json_object_array_length(list);
  if (length > (size_t)capacity)
    return sp_fail(SP_ERROR_FORMAT, "%s: '%s' has %zu entries, at most %d are allowed", context, key, length, capacity);
  for (size_t i = 0; i < length; i++) {
    json_object *item = json_object_array_get_idx(list, i);
    if (is_null_or_missing(item)) {
      values[i] = -1;
    } else if (json_object_is_type(item, json_type_int)) {
      values[i] = json_object_get_int64(item);
    } else {
      return wrong_type(list, key, "a list of integers", context);
    }
  }
  *count = (int)length;
  return SP_OK;
}

/* ---- Python-compatible output ---- */

void sp_format_python_float(double value, char *out, size_t capacity) {
  if (isnan(value)) {
    snprintf(out, capacity, "NaN");
    return;
  }
  if (isinf(value)) {
    snprintf(out, capacity, value > 0 ? "Infinity" : "-Infinity");
    return;
  }
  /* Shortest digits that round-trip, as Python's repr picks them. */
  char scientific[40];
  for (int precision = 0; precision < 17; precision++) {
    snprintf(scientific, sizeof scientific, "%.*e", precision, value);
    if (strtod(scientific, NULL) == value) break;
  }
  /* scientific = [-]d[.ddd]e[+-]XX */
  char digits[24];
  size_t digit_count = 0;
  const char *cursor = scientific;
  int negative = *cursor == '-';
  if (negative) cursor++;
  for (; *cursor && *cursor != 'e'; cursor++)
    if (*cursor != '.') digits[digit_count++] = *cursor;
  digits[digit_count] = '\0';
  int exponent = atoi(cursor + 1);
  while (digit_count > 1 && digits[digit_count - 1] == '0') digits[--digit_count] = '\0';
  char body[64];
  if (exponent < -4 || exponent >= 16) {
    if (digit_count == 1)
      snprintf(body, sizeof body, "%se%c%02d", digits, exponent < 0 ? '-' : '+', abs(exponent));
    else
      snprintf(body, sizeof body, "%c.%se%c%02d", digits[0], digits + 1, exponent < 0 ? '-' : '+', abs(exponent));
  } else if (exponent < 0) {
    snprintf(body, sizeof body, "0.%0*d%s", -exponent - 1, 0, digits);
    if (exponent == -1) snprintf(body, sizeof body, "0.%s", digits);
  } else if ((int)digit_count <= exponent + 1) {
    snprintf(body, sizeof body, "%s%0*d.0", digits, exponent + 1 - (int)digit_count, 0);
    if ((int)digit_count == exponent + 1) snprintf(body, sizeof body, "%s.0", digits);
  } else {
    snprintf(body, sizeof body, "%.*s.%s", exponent + 1, digits, digits + exponent + 1);
  }
  snprintf(out, capacity, "%s%s", negative ? "-" : "", body);
}

void sp_format_python_float32(float value, char *out, size_t capacity) {
  if (!isfinite(value)) {
    sp_format_python_float(value, out, capacity);
    return;
  }
  /* The shortest float32 digits, read back as a double, have those same digits as their repr. */
  char scientific[40];
  for (int precision = 0; precision < 9; precision++) {
    snprintf(scientific, sizeof scientific, "%.*e", precision, (double)value);
    if (strtof(scientific, NULL) == value) break;
  }
  sp_format_python_float(strtod(scientific, NULL), out, capacity);
}

/* Decodes one UTF-8 sequence; invalid bytes decode as U+FFFD and consume one byte. */
static uint32_t next_code_point(const unsigned char **cursor) {
  const unsigned char *p = *cursor;
  uint32_t code;
  int extra;
  if (p[0] < 0x80) {
    *cursor = p + 1;
    return p[0];
  }
  if ((p[0] & 0xe0) == 0xc0) { code = p[0] & 0x1f; extra = 1; }
  else if ((p[0] & 0xf0) == 0xe0) { code = p[0] & 0x0f; extra = 2; }
  else if ((p[0] & 0xf8) == 0xf0) { code = p[0] & 0x07; extra = 3; }
  else { *cursor = p + 1; return 0xfffd; }
  for (int i = 1; i <= extra; i++) {
    if ((p[i] & 0xc0) != 0x80) { *cursor = p + 1; return 0xfffd; }
    code = (code << 6) | (p[i] & 0x3f);
  }
  *cursor = p + 1 + extra;
  return code;
}

static sp_status dump_string(sp_buffer *out, const char *text, size_t length) {
  SP_TRY(sp_buffer_put_u8(out, '"'));
  const unsigned char *cursor = (const unsigned char *)text, *end = cursor + length;
  while (cursor < end) {
    uint32_t code = next_code_point(&cursor);
    switch (code) {
      case '"': SP_TRY(sp_buffer_append_text(out, "\\\"")); continue;
      case '\\': SP_TRY(sp_buffer_append_text(out, "\\\\")); continue;
      case '\n': SP_TRY(sp_buffer_append_text(out, "\\n")); continue;
      case '\r': SP_TRY(sp_buffer_append_text(out, "\\r")); continue;
      case '\t': SP_TRY(sp_buffer_append_text(out, "\\t")); continue;
      case '\b': SP_TRY(sp_buffer_append_text(out, "\\b")); continue;
      case '\f': SP_TRY(sp_buffer_append_text(out, "\\f")); continue;
      default: break;
    }
    if (code >= 0x20 && code < 0x7f) {
      SP_TRY(sp_buffer_put_u8(out, (uint8_t)code));
    } else if (code < 0x10000) {
      SP_TRY(sp_buffer_printf(out, "\\u%04x", code));
    } else {
      code -= 0x10000;
      SP_TRY(sp_buffer_printf(out, "\\u%04x\\u%04x", 0xd800 + (code >> 10), 0xdc00 + (code & 0x3ff)));
    }
  }
  return sp_buffer_put_u8(out, '"');
}

static sp_status dump_newline(sp_buffer *out, int indent, int depth) {
  SP_TRY(sp_buffer_put_u8(out, '\n'));
  for (int i = 0; i < indent * depth; i++) SP_TRY(sp_buffer_put_u8(out, ' '));
  return SP_OK;
}

static sp_status dump_value(sp_buffer *out, const json_object *value, int indent, int depth) {
  const char *separator = indent ? "," : ", ";
  switch (json_object_get_type(value)) {
    case json_type_null: return sp_buffer_append_text(out, "null");
    case json_type_boolean: return sp_buffer_append_text(out, json_object_get_boolean(value) ? "true" : "false");
    case json_type_int: return sp_buffer_printf(out, "%lld", (long long)json_object_get_int64(value));
    case json_type_double: {
      const char *original = json_object_get_userdata((json_object *)value);
      if (original) return sp_buffer_append_text(out, original);
      char text[40];
      sp_format_python_float(json_object_get_double(value), text, sizeof text);
      return sp_buffer_append_text(out, text);
    }
    case json_type_string:
      return dump_string(out, json_object_get_string((json_object *)value), (size_t)json_object_get_string_len(value));
    case json_type_array: {
      size_t length = json_object_array_length(value);
      if (length == 0) return sp_buffer_append_text(out, "[]");
      SP_TRY(sp_buffer_put_u8(out, '['));
      for (size_t i = 0; i < length; i++) {
        if (i) SP_TRY(sp_buffer_append_text(out, separator));
        if (indent) SP_TRY(dump_newline(out, indent, depth + 1));
        SP_TRY(dump_value(out, json_object_array_get_idx(value, i), indent, depth + 1));
      }
      if (indent) SP_TRY(dump_newline(out, indent, depth));
      return sp_buffer_put_u8(out, ']');
    }
    case json_type_object: {
      if (json_object_object_length(value) == 0) return sp_buffer_append_text(out, "{}");
      SP_TRY(sp_buffer_put_u8(out, '{'));
      int first = 1;
      json_object_object_foreach((json_object *)value, key, member) {
        if (!first) SP_TRY(sp_buffer_append_text(out, separator));
        first = 0;
        if (indent) SP_TRY(dump_newline(out, indent, depth + 1));
        SP_TRY(dump_string(out, key, strlen(key)));
        SP_TRY(sp_buffer_append_text(out, ": "));
        SP_TRY(member ? dump_value(out, member, indent, depth + 1) : sp_buffer_append_text(out, "null"));
      }
      if (indent) SP_TRY(dump_newline(out, indent, depth));
      return sp_buffer_put_u8(out, '}');
    }
  }
  return sp_fail(SP_ERROR_INTERNAL, "unknown JSON type");
}

char *sp_json_dumps(const json_object *value, int indent) {
  sp_buffer out = {0};
  sp_status status = value ? dump_value(&out, value, indent, 0) : sp_buffer_append_text(&out, "null");
  if (status == SP_OK) status = sp_buffer_put_u8(&out, '\0');
  if (status != SP_OK) {
    sp_buffer_free(&out);
    return NULL;
  }
  return (char *)sp_buffer_detach(&out, NULL);
}
