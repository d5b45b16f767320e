/* template.c — Python str.format for file name templates (see template.h).
 *
 * A value is rendered in two steps, as CPython does: the digits (sign apart) for the presentation
 * type, then the padding (fill, alignment, width, with '=' putting it after the sign and prefix,
 * and zero padding that keeps digit grouping). Digits come from printf in the C locale, whose
 * %e/%f/%g agree with Python's for every finite and non-finite double; repr comes from core's
 * sp_format_python_float.
 */
#include "ckpt/template.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/json.h"
#include "core/memory.h"

typedef struct format_spec {
  char fill[5];   /* one UTF-8 character */
  char align;     /* '<', '>', '=', '^' or 0 */
  char sign;      /* '+', '-', ' ' or 0 */
  int no_negative_zero, alternate, zero;
  int width;      /* -1: none */
  char grouping;  /* ',', '_' or 0 */
  int precision;  /* -1: none */
  char type;      /* 0: none */
} format_spec;

typedef struct template_context {
  const char *template_text;
  const char *what;
  const char *field; /* the field being formatted, for messages */
} template_context;

static sp_status spec_error(const template_context *context, const char *message) {
  return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s '%s': field {%s}: %s", context->what, context->template_text,
                 context->field, message);
}

static size_t utf8_length(unsigned char first) {
  return first < 0x80 ? 1 : first < 0xE0 ? 2 : first < 0xF0 ? 3 : 4;
}

static int is_align(char c) { return c == '<' || c == '>' || c == '=' || c == '^'; }

static int read_number(const char **cursor) {
  int value = 0;
  while (**cursor >= '0' && **cursor <= '9' && value < 100000) value = value * 10 + (*(*cursor)++ - '0');
  return value;
}

/* [[fill]align][sign][z][#][0][width][grouping][.precision][type] */
static sp_status parse_spec(const char *text, const template_context *context, format_spec *spec) {
  memset(spec, 0, sizeof *spec);
  spec->width = spec->precision = -1;
  strcpy(spec->fill, " ");
  const char *cursor = text;
  size_t first = *cursor ? utf8_length((unsigned char)*cursor) : 0;
  if (first && strlen(cursor) > first && is_align(cursor[first])) {
    memcpy(spec->fill, cursor, first);
    spec->fill[first] = '\0';
    spec->align = cursor[first];
    cursor += first + 1;
  } else if (is_align(*cursor)) {
    spec->align = *cursor++;
  }
  if (*cursor == '+' || *cursor == '-' || *cursor == ' ') spec->sign = *cursor++;
  if (*cursor == 'z') spec->no_negative_zero = 1, cursor++;
  if (*cursor == '#') spec->alternate = 1, cursor++;
  if (*cursor == '0') spec->zero = 1, cursor++;
  if (*cursor >= '0' && *cursor <= '9') spec->width = read_number(&cursor);
  if (*cursor == ',' || *cursor == '_') spec->grouping = *cursor++;
  if (*cursor == '.') {
    cursor++;
    if (*cursor < '0' || *cursor > '9') return spec_error(context, "format specifier missing precision");
    spec->precision = read_number(&cursor);
  }
  if (*cursor && !cursor[1] && strchr("bdoxXneEfFgG%s", *cursor)) spec->type = *cursor++;
  if (*cursor) return spec_error(context, "invalid format specifier");
  if (spec->zero && !spec->align) {
    strcpy(spec->fill, "0");
    spec->align = '=';
  }
  return SP_OK;
}

/* ---- digits ---- */

/* Inserts separators every `every` digits into the leading run of digits of body, first padding
 * it with zeros until the grouped run is at least minimum characters long (zero padding). */
static sp_status group_digits(sp_buffer *out, const char *body, char separator, int every, int minimum) {
  size_t digits = strspn(body, "0123456789abcdefABCDEF");
  int count = (int)digits, zeros = 0;
  while (count + zeros + (count + zeros - 1) / every < minimum) zeros++;
  int total = count + zeros;
  for (int i = 0; i < total; i++) {
    SP_TRY(sp_buffer_put_u8(out, (uint8_t)(i < zeros ? '0' : body[i - zeros])));
    int left = total - i - 1;
    if (left > 0 && left % every == 0) SP_TRY(sp_buffer_put_u8(out, (uint8_t)separator));
  }
  return sp_buffer_append_text(out, body + digits);
}

static void binary_digits(uint64_t magnitude, char *out) {
  char reversed[72];
  int length = 0;
  do reversed[length++] = (char)('0' + (magnitude & 1)), magnitude >>= 1;
  while (magnitude);
  for (int i = 0; i < length; i++) out[i] = reversed[length - 1 - i];
  out[length] = '\0';
}

/* The unsigned digits of an integer and its prefix ("0x" with '#'). */
static sp_status integer_digits(int64_t value, const format_spec *spec, const template_context *context, char *digits,
                                const char **prefix) {
  uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
  *prefix = "";
  switch (spec->type) {
    case 0: case 'd': case 'n': snprintf(digits, 72, "%llu", (unsigned long long)magnitude); break;
    case 'x': snprintf(digits, 72, "%llx", (unsigned long long)magnitude); *prefix = spec->alternate ? "0x" : ""; break;
    case 'X': snprintf(digits, 72, "%llX", (unsigned long long)magnitude); *prefix = spec->alternate ? "0X" : ""; break;
    case 'o': snprintf(digits, 72, "%llo", (unsigned long long)magnitude); *prefix = spec->alternate ? "0o" : ""; break;
    case 'b': binary_digits(magnitude, digits); *prefix = spec->alternate ? "0b" : ""; break;
    default: return spec_error(context, "unknown format code for an integer value");
  }
  return SP_OK;
}

/* Python's general format without a type but with a precision p: like 'g', except that fixed
 * notation keeps at least one digit after the point and scientific notation starts at
 * exponent p - 1 instead of p. */
static void general_digits(double magnitude, int precision, int alternate, char *out, size_t capacity) {
  if (!isfinite(magnitude)) {
    snprintf(out, capacity, "%s", isnan(magnitude) ? "nan" : "inf");
    return;
  }
  snprintf(out, capacity, "%.*e", precision - 1, magnitude);
  int exponent = atoi(strchr(out, 'e') + 1);
  if (exponent >= -4 && exponent < precision - 1) {
    snprintf(out, capacity, alternate ? "%#.*g" : "%.*g", precision, magnitude);
    if (!strchr(out, '.')) strncat(out, ".0", capacity - strlen(out) - 1);
    return;
  }
  char *e = strchr(out, 'e'), *end = e;
  if (!alternate && strchr(out, '.')) {
    while (end[-1] == '0') end--;
    if (end[-1] == '.') end--;
    memmove(end, e, strlen(e) + 1);
  }
}

/* repr() of a float: core's shortest round-trip digits, and Python's names for the others. */
static void repr_digits(double magnitude, char *out, size_t capacity) {
  if (isfinite(magnitude)) sp_format_python_float(magnitude, out, capacity);
  else snprintf(out, capacity, "%s", isnan(magnitude) ? "nan" : "inf");
}

/* The digits of a float without its sign, and the sign flag. */
static sp_status float_digits(double value, const format_spec *spec, const template_context *context, char *out,
                              size_t capacity) {
  double magnitude = fabs(value);
  int precision = spec->precision < 0 ? 6 : spec->precision;
  const char *hash = spec->alternate ? "#" : "";
  char format[16];
  switch (spec->type) {
    case 'e': case 'E': case 'f': case 'F':
      snprintf(format, sizeof format, "%%%s.*%c", hash, spec->type);
      snprintf(out, capacity, format, precision, magnitude);
      break;
    case 'g': case 'G': case 'n':
      snprintf(format, sizeof format, "%%%s.*%c", hash, spec->type == 'G' ? 'G' : 'g');
      snprintf(out, capacity, format, precision ? precision : 1, magnitude);
      break;
    case '%':
      snprintf(format, sizeof format, "%%%s.*f%%%%", hash);
      snprintf(out, capacity, format, precision, magnitude * 100.0);
      break;
    case 0:
      if (spec->precision < 0) repr_digits(magnitude, out, capacity);
      else general_digits(magnitude, precision ? precision : 1, spec->alternate, out, capacity);
      break;
    default: return spec_error(context, "unknown format code for a float value (Python raises ValueError)");
  }
  return SP_OK;
}

/* ---- padding ---- */

static sp_status pad(sp_buffer *out, const char *fill, int count) {
  for (int i = 0; i < count; i++) SP_TRY(sp_buffer_append_text(out, fill));
  return SP_OK;
}

/* Writes sign + prefix + body padded to spec->width; default_align is '>' for numbers. */
static sp_status write_padded(sp_buffer *out, const format_spec *spec, const char *sign, const char *prefix,
                              const char *body, char default_align) {
  char align = spec->align ? spec->align : default_align;
  int length = (int)(strlen(sign) + strlen(prefix) + strlen(body));
  int padding = spec->width > length ? spec->width - length : 0;
  int before = align == '>' || align == '=' ? padding : align == '^' ? padding / 2 : 0;
  if (align != '=') SP_TRY(pad(out, spec->fill, before));
  SP_TRY(sp_buffer_append_text(out, sign));
  SP_TRY(sp_buffer_append_text(out, prefix));
  if (align == '=') SP_TRY(pad(out, spec->fill, before));
  SP_TRY(sp_buffer_append_text(out, body));
  return pad(out, spec->fill, padding - before);
}

static const char *sign_text(int negative, char sign) {
  if (negative) return "-";
  return sign == '+' ? "+" : sign == ' ' ? " " : "";
}

/* Grouping, and zero padding that keeps it: the digits' share of the width is filled with
 * grouped zeros rather than by write_padded. */
static sp_status group_body(const format_spec *spec, const char *sign, const char *prefix, const char *digits,
                            sp_buffer *body) {
  int every = spec->grouping == '_' && spec->type && strchr("xXob", spec->type) ? 4 : 3;
  int zero_grouped = spec->grouping && spec->align == '=' && strcmp(spec->fill, "0") == 0;
  size_t run = strspn(digits, "0123456789abcdefABCDEF");
  int minimum = zero_grouped ? spec->width - (int)(strlen(sign) + strlen(prefix) + strlen(digits + run)) : 0;
  if (!spec->grouping || run == 0) return sp_buffer_append_text(body, digits);
  return group_digits(body, digits, spec->grouping, every, minimum);
}

static sp_status format_number(sp_buffer *out, const format_spec *spec, int negative, const char *prefix,
                               const char *digits) {
  const char *sign = sign_text(negative, spec->sign);
  sp_buffer body = {0};
  sp_status status = group_body(spec, sign, prefix, digits, &body);
  if (status == SP_OK) status = sp_buffer_put_u8(&body, 0);
  if (status == SP_OK) status = write_padded(out, spec, sign, prefix, (const char *)body.data, '>');
  sp_buffer_free(&body);
  return status;
}

static int is_float_type(char type) { return type && strchr("eEfFgG%", type) != NULL; }

static sp_status format_value(sp_buffer *out, const sp_template_value *value, const format_spec *spec,
                              const template_context *context) {
  if (spec->type == 's') return spec_error(context, "unknown format code 's' for a number (Python raises ValueError)");
  char digits[512];
  if (value->is_integer && !is_float_type(spec->type)) {
    if (spec->precision >= 0) return spec_error(context, "precision not allowed in integer format specifier");
    if (spec->no_negative_zero) return spec_error(context, "negative zero coercion (z) not allowed for an integer");
    const char *prefix;
    SP_TRY(integer_digits(value->integer, spec, context, digits, &prefix));
    return format_number(out, spec, value->integer < 0, prefix, digits);
  }
  double real = value->is_integer ? (double)value->integer : value->real;
  SP_TRY(float_digits(real, spec, context, digits, sizeof digits));
  int negative = signbit(real) && !isnan(real);
  if (negative && spec->no_negative_zero && strspn(digits, "0.%") == strlen(digits)) negative = 0;
  return format_number(out, spec, negative, "", digits);
}

/* {name!r} / {name!s}: the value becomes its str(), then the spec formats a string. */
static sp_status format_converted(sp_buffer *out, const sp_template_value *value, const format_spec *spec,
                                  const template_context *context) {
  if (spec->type && spec->type != 's') return spec_error(context, "unknown format code for a string");
  if (spec->sign) return spec_error(context, "sign not allowed in string format specifier");
  if (spec->align == '=') return spec_error(context, "'=' alignment not allowed in string format specifier");
  char text[64];
  if (value->is_integer) snprintf(text, sizeof text, "%lld", (long long)value->integer);
  else if (signbit(value->real) && !isnan(value->real)) {
    text[0] = '-';
    repr_digits(-value->real, text + 1, sizeof text - 1);
  } else {
    repr_digits(value->real, text, sizeof text);
  }
  if (spec->precision >= 0 && (size_t)spec->precision < strlen(text)) text[spec->precision] = '\0';
  return write_padded(out, spec, "", "", text, '<');
}

/* ---- fields ---- */

static sp_status missing_value(const template_context *context, const char *name, const sp_template_value *values,
                               size_t count) {
  char names[1024];
  size_t used = 0;
  names[0] = '\0';
  for (size_t i = 0; i < count && used < sizeof names; i++)
    used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", values[i].name);
  return sp_fail(SP_ERROR_NOT_FOUND, "%s '%s': no value named '%s' to fill {%s} (available: %s)", context->what,
                 context->template_text, name, context->field, count ? names : "none");
}

static sp_status format_field(sp_buffer *out, char *field, const sp_template_value *values, size_t count,
                              template_context *context) {
  context->field = field;
  char *colon = strchr(field, ':');
  char *bang = strchr(field, '!');
  if (bang && colon && bang > colon) bang = NULL;
  const char *spec_text = colon ? colon + 1 : "";
  char conversion = 0;
  if (bang) {
    if ((bang[1] != 'r' && bang[1] != 's' && bang[1] != 'a') || (bang[2] != ':' && bang[2] != '\0'))
      return spec_error(context, "expected ':' after conversion specifier (!r, !s or !a)");
    conversion = bang[1];
  }
  size_t name_length = bang ? (size_t)(bang - field) : colon ? (size_t)(colon - field) : strlen(field);
  char name[256];
  if (name_length == 0 || name_length >= sizeof name || strspn(field, "0123456789") == name_length)
    return spec_error(context, "positional fields are not supported: name the value, e.g. {epoch}");
  memcpy(name, field, name_length);
  name[name_length] = '\0';
  if (strpbrk(name, ".[")) return spec_error(context, "attribute and index access are not supported");
  if (strchr(spec_text, '{')) return spec_error(context, "nested replacement fields are not supported");
  format_spec spec;
  SP_TRY(parse_spec(spec_text, context, &spec));
  for (size_t i = 0; i < count; i++)
    if (strcmp(values[i].name, name) == 0)
      return conversion ? format_converted(out, &values[i], &spec, context) : format_value(out, &values[i], &spec, context);
  return missing_value(context, name, values, count);
}

sp_status sp_format_template(const char *template_text, const sp_template_value *values, size_t count,
                             const char *what, char **result) {
  *result = NULL;
  template_context context = {template_text, what, ""};
  sp_buffer out = {0};
  sp_status status = SP_OK;
  for (const char *cursor = template_text; status == SP_OK && *cursor;) {
    if ((cursor[0] == '{' && cursor[1] == '{') || (cursor[0] == '}' && cursor[1] == '}')) {
      status = sp_buffer_put_u8(&out, (uint8_t)cursor[0]);
      cursor += 2;
    } else if (*cursor == '}') {
      status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s '%s': single '}' encountered in format string", what, template_text);
    } else if (*cursor == '{') {
      const char *end = strchr(cursor, '}');
      char *field = end ? sp_strndup(cursor + 1, (size_t)(end - cursor - 1)) : NULL;
      if (!end) status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s '%s': '{' without its '}'", what, template_text);
      else status = field ? format_field(&out, field, values, count, &context) : SP_ERROR_NO_MEMORY;
      free(field);
      cursor = end ? end + 1 : cursor;
    } else {
      status = sp_buffer_put_u8(&out, (uint8_t)*cursor++);
    }
  }
  if (status == SP_OK) status = sp_buffer_put_u8(&out, 0);
  if (status != SP_OK) {
    sp_buffer_free(&out);
    return status;
  }
  *result = (char *)sp_buffer_detach(&out, NULL);
  return SP_OK;
}
