/* npy_print.c — NumPy's str(array) for sp_tensor (sp_npy_format in npy.h).
 *
 * Follows numpy/core/arrayprint.py (1.2x defaults): FloatingFormat in 'maxprec' mode (shortest
 * round-trip digits for the element type, at most 8 fractional digits, trailing zeros trimmed to
 * "3.", columns padded to a common width, scientific notation when the largest magnitude is
 * >= 1e8 or the ratio of largest to smallest nonzero exceeds 1000 or the smallest is < 1e-4),
 * IntegerFormat and BoolFormat padding, _formatArray's line wrapping at 75 columns with a hanging
 * indent, and summarisation ("...", 3 edge items) above 1000 elements. `savepoint run` prints
 * results with it so they read exactly as saved_model_cli's do.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "core/npy.h"

enum { LINE_WIDTH = 75, PRECISION = 8, THRESHOLD = 1000, EDGE_ITEMS = 3, ELEMENT_TEXT = 512 };

typedef enum element_kind { KIND_FLOAT, KIND_SIGNED, KIND_UNSIGNED, KIND_BOOL, KIND_BYTES } element_kind;

typedef struct float_scan {
  int any_finite, any_nonfinite, negative_infinity, any_nonzero;
  double smallest, largest; /* of nonzero finite magnitudes */
} float_scan;

typedef struct printer {
  const sp_tensor *tensor;
  float_scan scan;
  element_kind kind;
  int summarize;
  /* float layout, as FloatingFormat.fillFormat computes it */
  int exp_format;
  int precision;  /* exp mode: fractional digits of every mantissa */
  int exp_size;   /* exp mode: exponent digits */
  int pad_left;
  int pad_right;
  int int_width;  /* integers and bools */
} printer;

/* ---------- shortest digits ---------- */

static int round_trips(const sp_tensor *tensor, double value, double candidate) {
  switch (tensor->dtype) {
    case SP_FLOAT32: return (float)candidate == (float)value;
    case SP_FLOAT16: return sp_float_to_half((float)candidate) == sp_float_to_half((float)value);
    case SP_BFLOAT16: return sp_float_to_bfloat16((float)candidate) == sp_float_to_bfloat16((float)value);
    default: return candidate == value;
  }
}

/* The shortest significant digits that read back as value in its own type: digits "15", exponent 2
 * means 1.5e2. value must be finite and nonzero. */
static void shortest_digits(const sp_tensor *tensor, double value, char *digits, int *exponent) {
  char text[40];
  for (int significant = 1; significant <= 17; significant++) {
    snprintf(text, sizeof text, "%.*e", significant - 1, fabs(value));
    if (significant == 17 || round_trips(tensor, fabs(value), strtod(text, NULL))) break;
  }
  size_t used = 0;
  const char *cursor = text;
  for (; *cursor && *cursor != 'e'; cursor++)
    if (*cursor >= '0' && *cursor <= '9') digits[used++] = *cursor;
  while (used > 1 && digits[used - 1] == '0') used--;
  digits[used] = '\0';
  *exponent = atoi(cursor + 1);
}

/* Positional text of value with at most max_fraction fractional digits (rounded), trailing zeros
 * dropped: "3.", "-0.5", "1234.5678". Returns the count of fractional digits through *fraction. */
static void positional(const sp_tensor *tensor, double value, int max_fraction, char *out, size_t capacity,
                       int *integer_length, int *fraction) {
  char text[ELEMENT_TEXT];
  if (value == 0) {
    snprintf(text, sizeof text, "%s0.", signbit(value) ? "-" : "");
  } else {
    char digits[24];
    int exponent;
    shortest_digits(tensor, value, digits, &exponent);
    int fraction_digits = (int)strlen(digits) - 1 - exponent;
    if (fraction_digits < 0) fraction_digits = 0;
    if (fraction_digits > max_fraction) fraction_digits = max_fraction;
    snprintf(text, sizeof text, "%.*f", fraction_digits, value);
    if (!strchr(text, '.')) strncat(text, ".", sizeof text - strlen(text) - 1);
    size_t length = strlen(text);
    while (text[length - 1] == '0') text[--length] = '\0';
  }
  const char *point = strchr(text, '.');
  *integer_length = (int)(point - text);
  *fraction = (int)strlen(point + 1);
  snprintf(out, capacity, "%s", text);
}

/* Scientific text "d.ddd" mantissa + exponent with the shortest digits (at most max_fraction). */
static void scientific(const sp_tensor *tensor, double value, int max_fraction, char *mantissa, size_t capacity,
                       int *exponent, int *fraction) {
  if (value == 0) {
    snprintf(mantissa, capacity, "%s0.", signbit(value) ? "-" : "");
    *exponent = 0;
    *fraction = 0;
    return;
  }
  char digits[24];
  shortest_digits(tensor, value, digits, exponent);
  int fraction_digits = (int)strlen(digits) - 1;
  if (fraction_digits > max_fraction) fraction_digits = max_fraction;
  char text[64];
  snprintf(text, sizeof text, "%.*e", fraction_digits, value);
  char *e = strchr(text, 'e');
  *exponent = atoi(e + 1);
  *e = '\0';
  if (!strchr(text, '.')) strcat(text, ".");
  size_t length = strlen(text);
  while (text[length - 1] == '0') text[--length] = '\0';
  *fraction = (int)strlen(strchr(text, '.') + 1);
  snprintf(mantissa, capacity, "%s", text);
}

/* ---------- element access ---------- */

static int64_t signed_value(const sp_tensor *tensor, int64_t i) {
  switch (tensor->dtype) {
    case SP_INT8: return ((const int8_t *)tensor->data)[i];
    case SP_INT16: return ((const int16_t *)tensor->data)[i];
    case SP_INT32: return ((const int32_t *)tensor->data)[i];
    default: return ((const int64_t *)tensor->data)[i];
  }
}

static uint64_t unsigned_value(const sp_tensor *tensor, int64_t i) {
  switch (tensor->dtype) {
    case SP_UINT8: return ((const uint8_t *)tensor->data)[i];
    case SP_UINT16: return ((const uint16_t *)tensor->data)[i];
    case SP_UINT32: return ((const uint32_t *)tensor->data)[i];
    default: return ((const uint64_t *)tensor->data)[i];
  }
}

/* Python's repr(bytes). */
static sp_status bytes_repr(const sp_string *value, sp_buffer *out) {
  int has_single = memchr(value->bytes, '\'', value->length) != NULL;
  int has_double = memchr(value->bytes, '"', value->length) != NULL;
  char quote = has_single && !has_double ? '"' : '\'';
  SP_TRY(sp_buffer_printf(out, "b%c", quote));
  for (size_t i = 0; i < value->length; i++) {
    unsigned char c = (unsigned char)value->bytes[i];
    if (c == quote || c == '\\') SP_TRY(sp_buffer_printf(out, "\\%c", c));
    else if (c == '\t') SP_TRY(sp_buffer_append_text(out, "\\t"));
    else if (c == '\n') SP_TRY(sp_buffer_append_text(out, "\\n"));
    else if (c == '\r') SP_TRY(sp_buffer_append_text(out, "\\r"));
    else if (c < 0x20 || c >= 0x7f) SP_TRY(sp_buffer_printf(out, "\\x%02x", c));
    else SP_TRY(sp_buffer_put_u8(out, c));
  }
  return sp_buffer_put_u8(out, (uint8_t)quote);
}

/* ---------- which elements are shown ---------- */

typedef void (*element_visitor)(printer *p, int64_t index);

static int64_t stride_of(const sp_tensor *tensor, int axis) {
  int64_t stride = 1;
  for (int i = axis + 1; i < tensor->rank; i++) stride *= tensor->shape[i];
  return stride;
}

static void visit_shown(printer *p, int axis, int64_t offset, element_visitor visit) {
  if (axis == p->tensor->rank) {
    visit(p, offset);
    return;
  }
  int64_t length = p->tensor->shape[axis], stride = stride_of(p->tensor, axis);
  int skip = p->summarize && length > 2 * EDGE_ITEMS;
  for (int64_t i = 0; i < length; i++) {
    if (skip && i == EDGE_ITEMS) i = length - EDGE_ITEMS;
    visit_shown(p, axis + 1, offset + i * stride, visit);
  }
}

/* ---------- FloatingFormat.fillFormat ---------- */

static void scan_float(printer *p, int64_t index) {
  float_scan *scan = &p->scan;
  double value = sp_tensor_get_double(p->tensor, index);
  if (!isfinite(value)) {
    scan->any_nonfinite = 1;
    if (isinf(value) && value < 0) scan->negative_infinity = 1;
    return;
  }
  scan->any_finite = 1;
  double magnitude = fabs(value);
  if (magnitude == 0) return;
  if (!scan->any_nonzero || magnitude < scan->smallest) scan->smallest = magnitude;
  if (!scan->any_nonzero || magnitude > scan->largest) scan->largest = magnitude;
  scan->any_nonzero = 1;
}

static void measure_float(printer *p, int64_t index) {
  double value = sp_tensor_get_double(p->tensor, index);
  if (!isfinite(value)) return;
  char text[ELEMENT_TEXT];
  int integer_length, fraction, exponent;
  if (p->exp_format) {
    scientific(p->tensor, value, PRECISION, text, sizeof text, &exponent, &fraction);
    char exponent_text[16];
    int digits = snprintf(exponent_text, sizeof exponent_text, "%02d", abs(exponent));
    integer_length = (int)(strchr(text, '.') - text);
    if (digits > p->exp_size) p->exp_size = digits;
    if (fraction > p->precision) p->precision = fraction;
  } else {
    positional(p->tensor, value, PRECISION, text, sizeof text, &integer_length, &fraction);
    if (fraction > p->pad_right) p->pad_right = fraction;
  }
  if (integer_length > p->pad_left) p->pad_left = integer_length;
}

static void fill_float_format(printer *p) {
  visit_shown(p, 0, 0, scan_float);
  const float_scan scan = p->scan;
  p->exp_format = scan.any_nonzero && (scan.largest >= 1e8 || scan.smallest < 1e-4 || scan.largest / scan.smallest > 1000.);
  p->precision = 0;
  p->exp_size = 0;
  p->pad_left = p->pad_right = 0;
  if (scan.any_finite) visit_shown(p, 0, 0, measure_float);
  if (p->exp_format) p->pad_right = p->exp_size + 2 + p->precision;
  if (scan.any_nonfinite) {
    int offset = p->pad_right + 1;
    int infinity_length = 3 + scan.negative_infinity;
    if (3 - offset > p->pad_left) p->pad_left = 3 - offset;
    if (infinity_length - offset > p->pad_left) p->pad_left = infinity_length - offset;
  }
}

static sp_status format_float(const printer *p, double value, sp_buffer *out) {
  char text[ELEMENT_TEXT];
  if (!isfinite(value)) {
    const char *word = isnan(value) ? "nan" : value < 0 ? "-inf" : "inf";
    return sp_buffer_printf(out, "%*s", p->pad_left + p->pad_right + 1, word);
  }
  int integer_length, fraction;
  if (p->exp_format) {
    /* numpy's min_digits: digits past the shortest ones are the exact value's, rounded */
    snprintf(text, sizeof text, "%.*e", p->precision, value);
    char *e = strchr(text, 'e');
    int exponent = atoi(e + 1);
    *e = '\0';
    if (!strchr(text, '.')) strcat(text, ".");
    integer_length = (int)(strchr(text, '.') - text);
    return sp_buffer_printf(out, "%*s%se%c%0*d", p->pad_left - integer_length, "", text, exponent < 0 ? '-' : '+',
                            p->exp_size, abs(exponent));
  }
  positional(p->tensor, value, PRECISION, text, sizeof text, &integer_length, &fraction);
  return sp_buffer_printf(out, "%*s%s%*s", p->pad_left - integer_length, "", text, p->pad_right - fraction, "");
}

/* ---------- integers and bools ---------- */

static void measure_integer(printer *p, int64_t index) {
  char text[32];
  int length = p->kind == KIND_SIGNED ? snprintf(text, sizeof text, "%lld", (long long)signed_value(p->tensor, index))
                                      : snprintf(text, sizeof text, "%llu", (unsigned long long)unsigned_value(p->tensor, index));
  if (length > p->int_width) p->int_width = length;
}

static sp_status format_element(const printer *p, int64_t index, sp_buffer *out) {
  switch (p->kind) {
    case KIND_FLOAT:
      return format_float(p, sp_tensor_get_double(p->tensor, index), out);
    case KIND_SIGNED:
      return sp_buffer_printf(out, "%*lld", p->int_width, (long long)signed_value(p->tensor, index));
    case KIND_UNSIGNED:
      return sp_buffer_printf(out, "%*llu", p->int_width, (unsigned long long)unsigned_value(p->tensor, index));
    case KIND_BOOL:
      return sp_buffer_append_text(out, ((const uint8_t *)p->tensor->data)[index] ? " True" : "False");
    case KIND_BYTES:
      return bytes_repr(&((const sp_string *)p->tensor->data)[index], out);
  }
  return SP_OK;
}

/* ---------- _formatArray ---------- */

/* _extendLine: wraps before word when the line would pass width (unless wrapping cannot help). */
static sp_status extend_line(sp_buffer *s, sp_buffer *line, const char *word, size_t word_length, size_t width,
                             size_t indent_length, const char *indent) {
  if (line->size + word_length > width && line->size > indent_length) {
    size_t keep = line->size;
    while (keep && line->data[keep - 1] == ' ') keep--;
    SP_TRY(sp_buffer_append(s, line->data, keep));
    SP_TRY(sp_buffer_append_text(s, "\n"));
    line->size = 0;
    SP_TRY(sp_buffer_append(line, indent, indent_length));
  }
  return sp_buffer_append(line, word, word_length);
}

static sp_status recurse(const printer *p, int axis, int64_t offset, const char *indent, size_t width,
                         sp_buffer *result);

static sp_status row(const printer *p, int axis, int64_t offset, const char *indent, size_t width, sp_buffer *s) {
  size_t indent_length = strlen(indent);
  int64_t length = p->tensor->shape[axis], stride = stride_of(p->tensor, axis);
  int summary = p->summarize && length > 2 * EDGE_ITEMS;
  size_t element_width = width - 1; /* room for ']' */
  sp_buffer line = {0}, word = {0};
  sp_status status = sp_buffer_append(&line, indent, indent_length);
  for (int64_t i = 0; i < length && status == SP_OK; i++) {
    if (summary && i == EDGE_ITEMS) {
      status = extend_line(s, &line, "...", 3, element_width, indent_length, indent);
      if (status == SP_OK) status = sp_buffer_append_text(&line, " ");
      i = length - EDGE_ITEMS;
    }
    word.size = 0;
    if (status == SP_OK) status = format_element(p, offset + i * stride, &word);
    if (status == SP_OK) status = extend_line(s, &line, (const char *)word.data, word.size, element_width, indent_length, indent);
    if (status == SP_OK && i + 1 < length) status = sp_buffer_append_text(&line, " ");
  }
  if (status == SP_OK) status = sp_buffer_append(s, line.data, line.size);
  sp_buffer_free(&line);
  sp_buffer_free(&word);
  return status;
}

static sp_status rows(const printer *p, int axis, int64_t offset, const char *indent, size_t width, sp_buffer *s) {
  int64_t length = p->tensor->shape[axis], stride = stride_of(p->tensor, axis);
  int summary = p->summarize && length > 2 * EDGE_ITEMS;
  int blank_lines = p->tensor->rank - axis - 1;
  char *next_indent = sp_strdupf("%s ", indent);
  if (!next_indent) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  sp_buffer nested = {0};
  for (int64_t i = 0; i < length && status == SP_OK; i++) {
    if (summary && i == EDGE_ITEMS) {
      status = sp_buffer_printf(s, "%s...", indent);
      for (int n = 0; n < blank_lines && status == SP_OK; n++) status = sp_buffer_append_text(s, "\n");
      i = length - EDGE_ITEMS;
    }
    nested.size = 0;
    if (status == SP_OK) status = recurse(p, axis + 1, offset + i * stride, next_indent, width - 1, &nested);
    if (status == SP_OK) status = sp_buffer_append_text(s, indent);
    if (status == SP_OK) status = sp_buffer_append(s, nested.data, nested.size);
    for (int n = 0; i + 1 < length && n < blank_lines && status == SP_OK; n++) status = sp_buffer_append_text(s, "\n");
  }
  sp_buffer_free(&nested);
  free(next_indent);
  return status;
}

static sp_status recurse(const printer *p, int axis, int64_t offset, const char *indent, size_t width,
                         sp_buffer *result) {
  sp_buffer s = {0};
  sp_status status = axis == p->tensor->rank - 1 ? row(p, axis, offset, indent, width, &s)
                                                 : rows(p, axis, offset, indent, width, &s);
  size_t indent_length = strlen(indent);
  if (status == SP_OK) status = sp_buffer_append_text(result, "[");
  if (status == SP_OK && s.size > indent_length)
    status = sp_buffer_append(result, s.data + indent_length, s.size - indent_length);
  if (status == SP_OK) status = sp_buffer_append_text(result, "]");
  sp_buffer_free(&s);
  return status;
}

/* ---------- scalars ---------- */

/* str() of a NumPy scalar: Python's float repr rules (scientific below 1e-4 or from 1e16). */
static sp_status format_scalar(const sp_tensor *tensor, element_kind kind, sp_buffer *out) {
  printer p = {.tensor = tensor, .kind = kind};
  if (kind != KIND_FLOAT) {
    if (kind == KIND_BOOL) return sp_buffer_append_text(out, ((const uint8_t *)tensor->data)[0] ? "True" : "False");
    return format_element(&p, 0, out);
  }
  double value = sp_tensor_get_double(tensor, 0);
  if (isnan(value)) return sp_buffer_append_text(out, "nan");
  if (isinf(value)) return sp_buffer_append_text(out, value < 0 ? "-inf" : "inf");
  char text[ELEMENT_TEXT];
  int integer_length, fraction, exponent;
  double magnitude = fabs(value);
  if (magnitude != 0 && (magnitude < 1e-4 || magnitude >= 1e16)) {
    scientific(tensor, value, 17, text, sizeof text, &exponent, &fraction);
    size_t length = strlen(text);
    if (text[length - 1] == '.') text[length - 1] = '\0';
    return sp_buffer_printf(out, "%se%c%02d", text, exponent < 0 ? '-' : '+', abs(exponent));
  }
  positional(tensor, value, 17, text, sizeof text, &integer_length, &fraction);
  return sp_buffer_printf(out, "%s%s", text, fraction ? "" : "0");
}

sp_status sp_npy_format(const sp_tensor *tensor, sp_buffer *out) {
  element_kind kind;
  switch (tensor->dtype) {
    case SP_FLOAT32: case SP_FLOAT64: case SP_FLOAT16: case SP_BFLOAT16: kind = KIND_FLOAT; break;
    case SP_INT8: case SP_INT16: case SP_INT32: case SP_INT64: kind = KIND_SIGNED; break;
    case SP_UINT8: case SP_UINT16: case SP_UINT32: case SP_UINT64: kind = KIND_UNSIGNED; break;
    case SP_BOOL: kind = KIND_BOOL; break;
    case SP_STRING: kind = KIND_BYTES; break;
    default:
      return sp_fail(SP_ERROR_UNSUPPORTED, "printing %s tensors is not supported", sp_dtype_name(tensor->dtype));
  }
  if (tensor->rank == 0) return format_scalar(tensor, kind, out);
  int64_t count = sp_tensor_count(tensor);
  if (count == 0) return sp_buffer_append_text(out, "[]");
  printer p = {.tensor = tensor, .kind = kind, .summarize = count > THRESHOLD};
  if (kind == KIND_FLOAT) fill_float_format(&p);
  if (kind == KIND_SIGNED || kind == KIND_UNSIGNED) visit_shown(&p, 0, 0, measure_integer);
  return recurse(&p, 0, 0, " ", LINE_WIDTH, out);
}
