/* pbtext.c — protobuf text format over protobuf-c descriptors (see pbtext.h).
 *
 * The parser never builds protobuf-c structs itself: it encodes each field straight to wire
 * format, nested messages into their own buffer, and lets protobuf_c_message_unpack build the
 * struct. That keeps it independent of protobuf-c's memory layout; only the printer reads the
 * layout, through the offsets the descriptors publish.
 */
#include "formats/pbtext.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/memory.h"

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_DELIMITED = 2, WIRE_FIXED32 = 5 };

/* ---------- tokens ---------- */

typedef enum token_kind { TOKEN_END, TOKEN_IDENTIFIER, TOKEN_NUMBER, TOKEN_STRING, TOKEN_SYMBOL } token_kind;

typedef struct token {
  token_kind kind;
  const char *start;
  size_t length;
  int line, column;
} token;

typedef struct parser {
  const char *text;
  size_t length;
  size_t position;
  int line, column;
  const char *what;
  token current;
  int depth;
} parser;

static sp_status parse_error(const parser *p, const token *at, const char *format, ...) SP_PRINTF(3, 4);

static sp_status parse_error(const parser *p, const token *at, const char *format, ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  return sp_fail(SP_ERROR_FORMAT, "%s:%d:%d: %s", p->what, at->line, at->column, message);
}

/* A token as text for messages, shortened. */
static const char *token_text(const token *t, char *out, size_t capacity) {
  if (t->kind == TOKEN_END) snprintf(out, capacity, "the end of the text");
  else snprintf(out, capacity, "'%.*s'", (int)(t->length < 40 ? t->length : 40), t->start);
  return out;
}

static int peek_char(const parser *p, size_t ahead) {
  return p->position + ahead < p->length ? (unsigned char)p->text[p->position + ahead] : -1;
}

static void advance(parser *p) {
  if (p->text[p->position] == '\n') {
    p->line++;
    p->column = 1;
  } else {
    p->column++;
  }
  p->position++;
}

static void skip_space_and_comments(parser *p) {
  for (int c = peek_char(p, 0); c != -1; c = peek_char(p, 0)) {
    if (c == '#') {
      while (peek_char(p, 0) != -1 && peek_char(p, 0) != '\n') advance(p);
    } else if (isspace(c)) {
      advance(p);
    } else {
      return;
    }
  }
}

static int is_identifier_char(int c) { return c != -1 && (isalnum(c) || c == '_'); }

static void scan_number(parser *p) {
  int hex = peek_char(p, 0) == '0' && (peek_char(p, 1) == 'x' || peek_char(p, 1) == 'X');
  for (int c = peek_char(p, 0); c != -1; c = peek_char(p, 0)) {
    int previous = p->position > 0 ? (unsigned char)p->text[p->position - 1] : 0;
    int sign_of_exponent = (c == '+' || c == '-') && !hex && (previous == 'e' || previous == 'E');
    if (!is_identifier_char(c) && c != '.' && !sign_of_exponent) return;
    advance(p);
  }
}

static sp_status scan_string(parser *p, token *t) {
  int quote = peek_char(p, 0);
  advance(p);
  for (int c = peek_char(p, 0); c != quote; c = peek_char(p, 0)) {
    if (c == -1 || c == '\n') return parse_error(p, t, "string is not closed on its line");
    if (c == '\\' && peek_char(p, 1) != -1) advance(p);
    advance(p);
  }
  advance(p);
  return SP_OK;
}

static sp_status next_token(parser *p) {
  skip_space_and_comments(p);
  token *t = &p->current;
  t->start = p->text + p->position;
  t->line = p->line;
  t->column = p->column;
  int c = peek_char(p, 0);
  if (c == -1) {
    t->kind = TOKEN_END;
    t->length = 0;
    return SP_OK;
  }
  if (isalpha(c) || c == '_') {
    t->kind = TOKEN_IDENTIFIER;
    while (is_identifier_char(peek_char(p, 0))) advance(p);
  } else if (isdigit(c) || (c == '.' && peek_char(p, 1) != -1 && isdigit(peek_char(p, 1)))) {
    t->kind = TOKEN_NUMBER;
    scan_number(p);
  } else if (c == '"' || c == '\'') {
    t->kind = TOKEN_STRING;
    SP_TRY(scan_string(p, t));
  } else if (strchr("{}<>[]:;,-/", c)) {
    t->kind = TOKEN_SYMBOL;
    advance(p);
  } else {
    return parse_error(p, t, isprint(c) ? "unexpected character '%c'" : "unexpected byte 0x%02x", c);
  }
  t->length = (size_t)(p->text + p->position - t->start);
  return SP_OK;
}

static int is_symbol(const token *t, char symbol) {
  return t->kind == TOKEN_SYMBOL && t->length == 1 && t->start[0] == symbol;
}

static int is_identifier(const token *t, const char *word) {
  return t->kind == TOKEN_IDENTIFIER && t->length == strlen(word) && memcmp(t->start, word, t->length) == 0;
}

static int token_equals_nocase(const token *t, const char *word) {
  return t->length == strlen(word) && strncasecmp(t->start, word, t->length) == 0;
}

/* ---------- wire encoding ---------- */

static sp_status put_tag(sp_buffer *out, uint32_t number, int wire_type) {
  return sp_buffer_put_varint64(out, ((uint64_t)number << 3) | (uint64_t)wire_type);
}

static sp_status put_delimited(sp_buffer *out, uint32_t number, const void *bytes, size_t size) {
  SP_TRY(put_tag(out, number, WIRE_DELIMITED));
  SP_TRY(sp_buffer_put_varint64(out, size));
  return sp_buffer_append(out, bytes, size);
}

/* ---------- values ---------- */

typedef struct field_context {
  parser *p;
  const ProtobufCFieldDescriptor *field;
  const ProtobufCMessageDescriptor *message;
} field_context;

static sp_status field_error(const field_context *f, const token *at, const char *problem) {
  char found[64];
  return parse_error(f->p, at, "field '%s' of %s: %s, found %s", f->field->name, f->message->name, problem,
                     token_text(at, found, sizeof found));
}

/* Integer token → magnitude. Decimal, 0x hex, or 0-prefixed octal as protobuf accepts. */
static int parse_magnitude(const token *t, uint64_t *magnitude) {
  char digits[72];
  if (t->kind != TOKEN_NUMBER || t->length >= sizeof digits) return 0;
  memcpy(digits, t->start, t->length);
  digits[t->length] = '\0';
  int base = 10;
  const char *start = digits;
  if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    start += 2;
  } else if (digits[0] == '0' && digits[1] != '\0') {
    base = 8;
  }
  if (*start == '\0') return 0;
  char *end;
  errno = 0;
  unsigned long long value = strtoull(start, &end, base);
  if (errno == ERANGE || *end != '\0' || *start == '-' || *start == '+') return 0;
  *magnitude = value;
  return 1;
}

/* A possibly negative integer within [minimum, maximum], as 64-bit two's complement bits. */
static sp_status parse_integer(field_context *f, int64_t minimum, uint64_t maximum, uint64_t *bits) {
  parser *p = f->p;
  int negative = is_symbol(&p->current, '-');
  if (negative) SP_TRY(next_token(p));
  token number = p->current;
  uint64_t magnitude;
  if (!parse_magnitude(&number, &magnitude)) return field_error(f, &number, "expected an integer");
  uint64_t negative_limit = minimum == 0 ? 0 : (uint64_t)(-(minimum + 1)) + 1;
  if (negative && magnitude > negative_limit)
    return field_error(f, &number, minimum == 0 ? "expected a non-negative integer" : "integer is out of range");
  if (!negative && magnitude > maximum) return field_error(f, &number, "integer is out of range");
  *bits = negative ? 0 - magnitude : magnitude;
  return next_token(p);
}

static sp_status parse_floating(field_context *f, double *value) {
  parser *p = f->p;
  int negative = is_symbol(&p->current, '-');
  if (negative) SP_TRY(next_token(p));
  token t = p->current;
  if (t.kind == TOKEN_IDENTIFIER && (token_equals_nocase(&t, "inf") || token_equals_nocase(&t, "infinity"))) {
    *value = INFINITY;
  } else if (t.kind == TOKEN_IDENTIFIER && token_equals_nocase(&t, "nan")) {
    *value = NAN;
  } else if (t.kind == TOKEN_NUMBER) {
    uint64_t magnitude;
    char text[72];
    if (t.length >= sizeof text) return field_error(f, &t, "expected a number");
    memcpy(text, t.start, t.length);
    text[t.length] = '\0';
    int hex = text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
    if (hex) {
      if (!parse_magnitude(&t, &magnitude)) return field_error(f, &t, "expected a number");
      *value = (double)magnitude;
    } else {
      size_t length = t.length;
      if (length > 1 && (text[length - 1] == 'f' || text[length - 1] == 'F')) text[--length] = '\0';
      char *end;
      *value = strtod(text, &end);
      if (*end != '\0' || end == text) return field_error(f, &t, "expected a number");
    }
  } else {
    return field_error(f, &t, "expected a number");
  }
  if (negative) *value = -*value;
  return next_token(p);
}

static sp_status parse_bool(field_context *f, int *value) {
  token t = f->p->current;
  if (is_identifier(&t, "true") || is_identifier(&t, "True") || is_identifier(&t, "t")) *value = 1;
  else if (is_identifier(&t, "false") || is_identifier(&t, "False") || is_identifier(&t, "f")) *value = 0;
  else if (t.kind == TOKEN_NUMBER && t.length == 1 && (t.start[0] == '0' || t.start[0] == '1')) *value = t.start[0] == '1';
  else return field_error(f, &t, "expected true or false");
  return next_token(f->p);
}

static sp_status parse_enum(field_context *f, int64_t *value) {
  const ProtobufCEnumDescriptor *type = f->field->descriptor;
  token t = f->p->current;
  if (t.kind != TOKEN_IDENTIFIER) {
    uint64_t bits;
    SP_TRY(parse_integer(f, INT32_MIN, INT32_MAX, &bits));
    *value = (int64_t)bits;
    return SP_OK;
  }
  char name[128];
  snprintf(name, sizeof name, "%.*s", (int)(t.length < 127 ? t.length : 127), t.start);
  const ProtobufCEnumValue *found = protobuf_c_enum_descriptor_get_value_by_name(type, name);
  if (!found || t.length >= sizeof name) {
    char problem[160];
    snprintf(problem, sizeof problem, "expected a value of enum %s", type->name);
    return field_error(f, &t, problem);
  }
  *value = found->value;
  return next_token(f->p);
}

static int hex_value(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static sp_status put_utf8(sp_buffer *out, uint32_t code) {
  uint8_t bytes[4];
  size_t length;
  if (code < 0x80) {
    bytes[0] = (uint8_t)code;
    length = 1;
  } else if (code < 0x800) {
    bytes[0] = (uint8_t)(0xc0 | (code >> 6));
    bytes[1] = (uint8_t)(0x80 | (code & 0x3f));
    length = 2;
  } else if (code < 0x10000) {
    bytes[0] = (uint8_t)(0xe0 | (code >> 12));
    bytes[1] = (uint8_t)(0x80 | ((code >> 6) & 0x3f));
    bytes[2] = (uint8_t)(0x80 | (code & 0x3f));
    length = 3;
  } else {
    bytes[0] = (uint8_t)(0xf0 | (code >> 18));
    bytes[1] = (uint8_t)(0x80 | ((code >> 12) & 0x3f));
    bytes[2] = (uint8_t)(0x80 | ((code >> 6) & 0x3f));
    bytes[3] = (uint8_t)(0x80 | (code & 0x3f));
    length = 4;
  }
  return sp_buffer_append(out, bytes, length);
}

/* Decodes the escape after a backslash at s[*i] (s[*i] is the escape letter). */
static sp_status unescape_one(field_context *f, const token *t, const char *s, size_t end, size_t *i, sp_buffer *out) {
  static const char simple_from[] = "abfnrtv\\'\"?", simple_to[] = "\a\b\f\n\r\t\v\\'\"?";
  char c = s[*i];
  const char *simple = strchr(simple_from, c);
  if (simple && c) {
    (*i)++;
    return sp_buffer_put_u8(out, (uint8_t)simple_to[simple - simple_from]);
  }
  if (c >= '0' && c <= '7') {
    unsigned code = 0;
    for (int digits = 0; digits < 3 && *i < end && s[*i] >= '0' && s[*i] <= '7'; digits++) code = code * 8 + (unsigned)(s[(*i)++] - '0');
    if (code > 0xff) return field_error(f, t, "octal escape is above \\377");
    return sp_buffer_put_u8(out, (uint8_t)code);
  }
  int wanted = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
  if (!wanted) return field_error(f, t, "unknown escape in string");
  (*i)++;
  uint32_t code = 0;
  int digits = 0;
  for (; digits < wanted && *i < end && hex_value((unsigned char)s[*i]) >= 0; digits++)
    code = code * 16 + (uint32_t)hex_value((unsigned char)s[(*i)++]);
  if (digits == 0 || (c != 'x' && digits != wanted)) return field_error(f, t, "malformed hex or unicode escape");
  if (c == 'x') return sp_buffer_put_u8(out, (uint8_t)code);
  if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return field_error(f, t, "unicode escape is not a code point");
  return put_utf8(out, code);
}

/* One or more adjacent string tokens, unescaped and concatenated. */
static sp_status parse_string(field_context *f, sp_buffer *out) {
  parser *p = f->p;
  out->size = 0;
  if (p->current.kind != TOKEN_STRING) return field_error(f, &p->current, "expected a quoted string");
  while (p->current.kind == TOKEN_STRING) {
    token t = p->current;
    const char *s = t.start;
    size_t end = t.length - 1;
    for (size_t i = 1; i < end;) {
      if (s[i] != '\\') {
        SP_TRY(sp_buffer_put_u8(out, (uint8_t)s[i++]));
        continue;
      }
      i++;
      SP_TRY(unescape_one(f, &t, s, end, &i, out));
    }
    SP_TRY(next_token(p));
  }
  return SP_OK;
}

static sp_status put_varint_field(sp_buffer *out, uint32_t number, uint64_t value) {
  SP_TRY(put_tag(out, number, WIRE_VARINT));
  return sp_buffer_put_varint64(out, value);
}

static sp_status put_fixed_field(sp_buffer *out, uint32_t number, uint64_t value, int bytes) {
  SP_TRY(put_tag(out, number, bytes == 4 ? WIRE_FIXED32 : WIRE_FIXED64));
  return bytes == 4 ? sp_buffer_put_u32le(out, (uint32_t)value) : sp_buffer_put_u64le(out, value);
}

typedef enum integer_encoding { ENCODE_VARINT, ENCODE_ZIGZAG32, ENCODE_ZIGZAG64, ENCODE_FIXED32, ENCODE_FIXED64 } integer_encoding;

static const struct {
  ProtobufCType type;
  int64_t minimum;
  uint64_t maximum;
  integer_encoding encoding;
} integer_types[] = {
    {PROTOBUF_C_TYPE_INT32, INT32_MIN, INT32_MAX, ENCODE_VARINT},
    {PROTOBUF_C_TYPE_SINT32, INT32_MIN, INT32_MAX, ENCODE_ZIGZAG32},
    {PROTOBUF_C_TYPE_SFIXED32, INT32_MIN, INT32_MAX, ENCODE_FIXED32},
    {PROTOBUF_C_TYPE_INT64, INT64_MIN, INT64_MAX, ENCODE_VARINT},
    {PROTOBUF_C_TYPE_SINT64, INT64_MIN, INT64_MAX, ENCODE_ZIGZAG64},
    {PROTOBUF_C_TYPE_SFIXED64, INT64_MIN, INT64_MAX, ENCODE_FIXED64},
    {PROTOBUF_C_TYPE_UINT32, 0, UINT32_MAX, ENCODE_VARINT},
    {PROTOBUF_C_TYPE_FIXED32, 0, UINT32_MAX, ENCODE_FIXED32},
    {PROTOBUF_C_TYPE_UINT64, 0, UINT64_MAX, ENCODE_VARINT},
    {PROTOBUF_C_TYPE_FIXED64, 0, UINT64_MAX, ENCODE_FIXED64},
};

static sp_status put_integer_field(sp_buffer *out, uint32_t number, uint64_t bits, integer_encoding encoding) {
  switch (encoding) {
    case ENCODE_ZIGZAG32: {
      uint32_t narrow = (uint32_t)bits;
      return put_varint_field(out, number, (narrow << 1) ^ (0u - (narrow >> 31)));
    }
    case ENCODE_ZIGZAG64: return put_varint_field(out, number, (bits << 1) ^ (UINT64_C(0) - (bits >> 63)));
    case ENCODE_FIXED32: return put_fixed_field(out, number, bits & UINT32_MAX, 4);
    case ENCODE_FIXED64: return put_fixed_field(out, number, bits, 8);
    default: return put_varint_field(out, number, bits); /* negative int32 as 10 bytes, as protobuf does */
  }
}

static sp_status parse_integer_value(field_context *f, sp_buffer *out) {
  for (size_t i = 0; i < sizeof integer_types / sizeof *integer_types; i++) {
    if (integer_types[i].type != f->field->type) continue;
    uint64_t bits = 0;
    SP_TRY(parse_integer(f, integer_types[i].minimum, integer_types[i].maximum, &bits));
    return put_integer_field(out, f->field->id, bits, integer_types[i].encoding);
  }
  return sp_fail(SP_ERROR_INTERNAL, "pbtext: field type %d is not an integer", (int)f->field->type);
}

static sp_status parse_scalar_value(field_context *f, sp_buffer *out) {
  const ProtobufCFieldDescriptor *field = f->field;
  switch (field->type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
      double value = 0;
      SP_TRY(parse_floating(f, &value));
      uint64_t bits;
      if (field->type == PROTOBUF_C_TYPE_FLOAT) {
        float narrow = (float)value;
        uint32_t narrow_bits;
        memcpy(&narrow_bits, &narrow, 4);
        return put_fixed_field(out, field->id, narrow_bits, 4);
      }
      memcpy(&bits, &value, 8);
      return put_fixed_field(out, field->id, bits, 8);
    }
    case PROTOBUF_C_TYPE_BOOL: {
      int value = 0;
      SP_TRY(parse_bool(f, &value));
      return put_varint_field(out, field->id, (uint64_t)value);
    }
    case PROTOBUF_C_TYPE_ENUM: {
      int64_t value = 0;
      SP_TRY(parse_enum(f, &value));
      return put_varint_field(out, field->id, (uint64_t)value);
    }
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES: {
      sp_buffer bytes = {0};
      sp_status status = parse_string(f, &bytes);
      if (status == SP_OK) status = put_delimited(out, field->id, bytes.data, bytes.size);
      sp_buffer_free(&bytes);
      return status;
    }
    default:
      return parse_integer_value(f, out);
  }
}

/* ---------- messages ---------- */

static sp_status parse_fields(parser *p, const ProtobufCMessageDescriptor *descriptor, char closing, sp_buffer *out);

static sp_status parse_message_value(field_context *f, sp_buffer *out) {
  parser *p = f->p;
  char closing = is_symbol(&p->current, '{') ? '}' : is_symbol(&p->current, '<') ? '>' : 0;
  if (!closing) return field_error(f, &p->current, "expected '{' or '<' to open the message");
  if (p->depth >= SP_PBTEXT_MAX_DEPTH)
    return parse_error(p, &p->current, "messages are nested deeper than %d levels", SP_PBTEXT_MAX_DEPTH);
  SP_TRY(next_token(p));
  p->depth++;
  sp_buffer body = {0};
  sp_status status = parse_fields(p, f->field->descriptor, closing, &body);
  p->depth--;
  if (status == SP_OK) status = put_delimited(out, f->field->id, body.data, body.size);
  sp_buffer_free(&body);
  if (status == SP_OK) status = next_token(p); /* the closing brace */
  return status;
}

static sp_status parse_value(field_context *f, sp_buffer *out) {
  if (f->field->type == PROTOBUF_C_TYPE_MESSAGE) return parse_message_value(f, out);
  return parse_scalar_value(f, out);
}

/* `[v, v, …]` for repeated fields. */
static sp_status parse_list(field_context *f, sp_buffer *out) {
  parser *p = f->p;
  token open = p->current;
  if (f->field->label != PROTOBUF_C_LABEL_REPEATED)
    return field_error(f, &open, "a list '[…]' needs a repeated field");
  SP_TRY(next_token(p));
  if (is_symbol(&p->current, ']')) return next_token(p);
  for (;;) {
    SP_TRY(parse_value(f, out));
    if (is_symbol(&p->current, ']')) return next_token(p);
    if (!is_symbol(&p->current, ',')) return field_error(f, &p->current, "expected ',' or ']' in the list");
    SP_TRY(next_token(p));
  }
}

/* Refuses a singular field given twice and two members of one oneof. */
static sp_status note_field(field_context *f, const token *name, unsigned char *seen) {
  const ProtobufCMessageDescriptor *descriptor = f->message;
  size_t index = (size_t)(f->field - descriptor->fields);
  if (f->field->label == PROTOBUF_C_LABEL_REPEATED) return SP_OK;
  if (seen[index]) return parse_error(f->p, name, "field '%s' of %s is not repeated but is given twice", f->field->name,
                                      descriptor->name);
  seen[index] = 1;
  if (!(f->field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) return SP_OK;
  for (unsigned i = 0; i < descriptor->n_fields; i++) {
    const ProtobufCFieldDescriptor *other = &descriptor->fields[i];
    if (i != index && seen[i] && (other->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        other->quantifier_offset == f->field->quantifier_offset)
      return parse_error(f->p, name, "fields '%s' and '%s' of %s belong to one oneof; give only one", other->name,
                         f->field->name, descriptor->name);
  }
  return SP_OK;
}

static sp_status find_field(parser *p, const ProtobufCMessageDescriptor *descriptor, const token *name,
                            const ProtobufCFieldDescriptor **field) {
  char text[256];
  if (is_symbol(name, '['))
    return parse_error(p, name, "extensions and Any expansions ('[…]') are not supported in %s", descriptor->name);
  if (name->kind != TOKEN_IDENTIFIER) {
    char found[64];
    return parse_error(p, name, "expected a field name of %s, found %s", descriptor->name,
                       token_text(name, found, sizeof found));
  }
  snprintf(text, sizeof text, "%.*s", (int)(name->length < 255 ? name->length : 255), name->start);
  *field = name->length < sizeof text ? protobuf_c_message_descriptor_get_field_by_name(descriptor, text) : NULL;
  if (!*field) return parse_error(p, name, "%s has no field named '%s'", descriptor->name, text);
  return SP_OK;
}

static sp_status parse_field(parser *p, const ProtobufCMessageDescriptor *descriptor, unsigned char *seen,
                             sp_buffer *out) {
  token name = p->current;
  const ProtobufCFieldDescriptor *field;
  SP_TRY(find_field(p, descriptor, &name, &field));
  field_context f = {p, field, descriptor};
  SP_TRY(note_field(&f, &name, seen));
  SP_TRY(next_token(p));
  int colon = is_symbol(&p->current, ':');
  if (colon) SP_TRY(next_token(p));
  else if (field->type != PROTOBUF_C_TYPE_MESSAGE) return field_error(&f, &p->current, "expected ':' after the name");
  if (is_symbol(&p->current, '[')) return parse_list(&f, out);
  return parse_value(&f, out);
}

/* Fields up to the closing symbol (0: the end of the text), which is left as the current token. */
static sp_status parse_fields(parser *p, const ProtobufCMessageDescriptor *descriptor, char closing, sp_buffer *out) {
  unsigned char *seen = sp_alloc_zeroed(descriptor->n_fields ? descriptor->n_fields : 1, 1);
  if (!seen) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  while (status == SP_OK) {
    token *t = &p->current;
    if (closing ? is_symbol(t, closing) : t->kind == TOKEN_END) break;
    if (t->kind == TOKEN_END) {
      status = parse_error(p, t, "%s is not closed: expected '%c'", descriptor->name, closing);
      break;
    }
    status = parse_field(p, descriptor, seen, out);
    if (status == SP_OK && (is_symbol(&p->current, ';') || is_symbol(&p->current, ','))) status = next_token(p);
  }
  free(seen);
  return status;
}

sp_status sp_pbtext_parse(const ProtobufCMessageDescriptor *descriptor, const char *text, size_t length,
                          const char *what, ProtobufCMessage **message) {
  *message = NULL;
  parser p = {text ? text : "", text ? length : 0, 0, 1, 1, what ? what : "text", {0}, 0};
  sp_buffer wire = {0};
  sp_status status = next_token(&p);
  if (status == SP_OK) status = parse_fields(&p, descriptor, 0, &wire);
  if (status == SP_OK) {
    *message = protobuf_c_message_unpack(descriptor, NULL, wire.size, wire.data);
    if (!*message)
      status = sp_fail(SP_ERROR_FORMAT, "%s: the fields do not form a valid %s (a required field missing?)", p.what,
                       descriptor->name);
  }
  sp_buffer_free(&wire);
  return status;
}

/* ---------- printing ---------- */

static sp_status print_message(const ProtobufCMessage *message, int indent, sp_buffer *out);

static const void *member(const ProtobufCMessage *message, unsigned offset) {
  return (const uint8_t *)message + offset;
}

static size_t element_size(ProtobufCType type) {
  switch (type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_ENUM:
      return 4;
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    default: return 8;
  }
}

static sp_status print_escaped(const uint8_t *bytes, size_t length, sp_buffer *out) {
  SP_TRY(sp_buffer_put_u8(out, '"'));
  for (size_t i = 0; i < length; i++) {
    uint8_t c = bytes[i];
    const char *escape = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '"' ? "\\\""
                       : c == '\'' ? "\\'" : c == '\\' ? "\\\\" : NULL;
    if (escape) SP_TRY(sp_buffer_append_text(out, escape));
    else if (c < 0x20 || c >= 0x7f) SP_TRY(sp_buffer_printf(out, "\\%03o", c));
    else SP_TRY(sp_buffer_put_u8(out, c));
  }
  return sp_buffer_put_u8(out, '"');
}

/* Python's str() of a double: repr digits, and "inf", "-inf", "nan" (which text format reads back). */
static void format_double(double value, char *out, size_t capacity) {
  if (isnan(value)) snprintf(out, capacity, "nan");
  else if (isinf(value)) snprintf(out, capacity, value > 0 ? "inf" : "-inf");
  else sp_format_python_float(value, out, capacity);
}

/* Python's str() of a float32 field: its shortest round-tripping digits, in repr style. */
static void format_float(float value, char *out, size_t capacity) {
  if (isfinite(value)) sp_format_python_float32(value, out, capacity);
  else format_double(value, out, capacity);
}

static sp_status print_scalar(const ProtobufCFieldDescriptor *field, const void *value, sp_buffer *out) {
  char number[64];
  switch (field->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
      return sp_buffer_printf(out, "%d", *(const int32_t *)value);
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
      return sp_buffer_printf(out, "%u", *(const uint32_t *)value);
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
      return sp_buffer_printf(out, "%lld", (long long)*(const int64_t *)value);
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
      return sp_buffer_printf(out, "%llu", (unsigned long long)*(const uint64_t *)value);
    case PROTOBUF_C_TYPE_FLOAT:
      format_float(*(const float *)value, number, sizeof number);
      return sp_buffer_append_text(out, number);
    case PROTOBUF_C_TYPE_DOUBLE:
      format_double(*(const double *)value, number, sizeof number);
      return sp_buffer_append_text(out, number);
    case PROTOBUF_C_TYPE_BOOL:
      return sp_buffer_append_text(out, *(const protobuf_c_boolean *)value ? "true" : "false");
    case PROTOBUF_C_TYPE_ENUM: {
      const ProtobufCEnumValue *named = protobuf_c_enum_descriptor_get_value(field->descriptor, *(const int *)value);
      return named ? sp_buffer_append_text(out, named->name) : sp_buffer_printf(out, "%d", *(const int *)value);
    }
    case PROTOBUF_C_TYPE_STRING: {
      const char *text = *(char *const *)value;
      return print_escaped((const uint8_t *)(text ? text : ""), text ? strlen(text) : 0, out);
    }
    case PROTOBUF_C_TYPE_BYTES: {
      const ProtobufCBinaryData *bytes = value;
      return print_escaped(bytes->data, bytes->len, out);
    }
    default:
      return sp_fail(SP_ERROR_INTERNAL, "pbtext: cannot print field type %d", (int)field->type);
  }
}

static sp_status print_element(const ProtobufCFieldDescriptor *field, const void *value, int indent, sp_buffer *out) {
  SP_TRY(sp_buffer_printf(out, "%*s%s", indent, "", field->name));
  if (field->type == PROTOBUF_C_TYPE_MESSAGE) {
    SP_TRY(sp_buffer_append_text(out, " {\n"));
    SP_TRY(print_message(*(ProtobufCMessage *const *)value, indent + 2, out));
    return sp_buffer_printf(out, "%*s}\n", indent, "");
  }
  SP_TRY(sp_buffer_append_text(out, ": "));
  SP_TRY(print_scalar(field, value, out));
  return sp_buffer_put_u8(out, '\n');
}

/* Whether a singular field is set: by oneof case, has_ flag, pointer, or (proto3) non-zero value. */
static int field_is_set(const ProtobufCMessage *message, const ProtobufCFieldDescriptor *field) {
  const void *value = member(message, field->offset);
  if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
    return *(const uint32_t *)member(message, field->quantifier_offset) == field->id;
  if (field->type == PROTOBUF_C_TYPE_MESSAGE) return *(ProtobufCMessage *const *)value != NULL;
  if (field->label == PROTOBUF_C_LABEL_REQUIRED) return 1;
  if (field->type == PROTOBUF_C_TYPE_STRING) {
    const char *text = *(char *const *)value;
    if (field->label == PROTOBUF_C_LABEL_OPTIONAL) return text != NULL && text != field->default_value;
    return text != NULL && text[0] != '\0';
  }
  if (field->label == PROTOBUF_C_LABEL_OPTIONAL)
    return *(const protobuf_c_boolean *)member(message, field->quantifier_offset);
  if (field->type == PROTOBUF_C_TYPE_BYTES) return ((const ProtobufCBinaryData *)value)->len > 0;
  static const uint8_t zeros[8];
  return memcmp(value, zeros, element_size(field->type)) != 0;
}

static sp_status print_message(const ProtobufCMessage *message, int indent, sp_buffer *out) {
  const ProtobufCMessageDescriptor *descriptor = message->descriptor;
  for (unsigned i = 0; i < descriptor->n_fields; i++) {
    const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t count = *(const size_t *)member(message, field->quantifier_offset);
      const uint8_t *array = *(const uint8_t *const *)member(message, field->offset);
      for (size_t k = 0; k < count; k++) SP_TRY(print_element(field, array + k * element_size(field->type), indent, out));
    } else if (field_is_set(message, field)) {
      SP_TRY(print_element(field, member(message, field->offset), indent, out));
    }
  }
  return SP_OK;
}

sp_status sp_pbtext_print(const ProtobufCMessage *message, sp_buffer *out) { return print_message(message, 0, out); }
