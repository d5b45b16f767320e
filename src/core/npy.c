/* npy.c — the .npy file format (see npy.h; numpy/lib/format.py describes the layout):
 *
 *   "\x93NUMPY" major minor | header length (u16 for 1.0, u32 for 2.0/3.0) | header | data
 *
 * The header is a Python dict literal padded with spaces and a newline so that the data starts at
 * a multiple of 64 bytes. Only the literal forms numpy itself writes are accepted.
 */
#include "core/npy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"

static const char magic[] = "\x93NUMPY";
enum { MAGIC_SIZE = 6, ALIGNMENT = 64, GROWTH_AXIS_MAX_DIGITS = 21 };

typedef struct npy_kind {
  const char *code; /* descr without the byte-order character */
  sp_dtype dtype;
} npy_kind;

static const npy_kind kinds[] = {
    {"f4", SP_FLOAT32}, {"f8", SP_FLOAT64}, {"f2", SP_FLOAT16}, {"i1", SP_INT8},   {"i2", SP_INT16},
    {"i4", SP_INT32},   {"i8", SP_INT64},   {"u1", SP_UINT8},   {"u2", SP_UINT16}, {"u4", SP_UINT32},
    {"u8", SP_UINT64},  {"b1", SP_BOOL},    {"c8", SP_COMPLEX64}, {"c16", SP_COMPLEX128},
};

/* ---------- header parsing: a strict reader of numpy's dict literal ---------- */

typedef struct header_parser {
  const char *text;
  size_t length;
  size_t position;
  const char *what;
} header_parser;

static sp_status header_error(const header_parser *parser, const char *expected) {
  size_t shown = parser->length - parser->position < 24 ? parser->length - parser->position : 24;
  return sp_fail(SP_ERROR_FORMAT, "%s: .npy header byte %zu: expected %s, found '%.*s'", parser->what,
                 parser->position, expected, (int)shown, parser->text + parser->position);
}

static void skip_spaces(header_parser *parser) {
  while (parser->position < parser->length && (parser->text[parser->position] == ' ' ||
                                              parser->text[parser->position] == '\n'))
    parser->position++;
}

static int accept(header_parser *parser, char c) {
  skip_spaces(parser);
  if (parser->position < parser->length && parser->text[parser->position] == c) {
    parser->position++;
    return 1;
  }
  return 0;
}

static sp_status expect(header_parser *parser, char c) {
  char expected[8];
  snprintf(expected, sizeof expected, "'%c'", c);
  return accept(parser, c) ? SP_OK : header_error(parser, expected);
}

/* A quoted string without escapes (numpy's keys and descrs never need them). */
static sp_status parse_string(header_parser *parser, char *out, size_t capacity) {
  skip_spaces(parser);
  if (parser->position >= parser->length) return header_error(parser, "a quoted string");
  char quote = parser->text[parser->position];
  if (quote != '\'' && quote != '"') return header_error(parser, "a quoted string");
  size_t start = ++parser->position;
  while (parser->position < parser->length && parser->text[parser->position] != quote) {
    if (parser->text[parser->position] == '\\') return header_error(parser, "a string without escapes");
    parser->position++;
  }
  if (parser->position >= parser->length) return header_error(parser, "the end of the string");
  size_t length = parser->position - start;
  parser->position++;
  if (length >= capacity) return sp_fail(SP_ERROR_FORMAT, "%s: .npy header string is too long", parser->what);
  memcpy(out, parser->text + start, length);
  out[length] = '\0';
  return SP_OK;
}

static sp_status parse_bool(header_parser *parser, int *value) {
  skip_spaces(parser);
  const char *rest = parser->text + parser->position;
  size_t left = parser->length - parser->position;
  if (left >= 4 && memcmp(rest, "True", 4) == 0) {
    parser->position += 4;
    *value = 1;
    return SP_OK;
  }
  if (left >= 5 && memcmp(rest, "False", 5) == 0) {
    parser->position += 5;
    *value = 0;
    return SP_OK;
  }
  return header_error(parser, "True or False");
}

static sp_status parse_dimension(header_parser *parser, int64_t *value) {
  skip_spaces(parser);
  int64_t result = 0;
  size_t digits = 0;
  while (parser->position < parser->length && isdigit((unsigned char)parser->text[parser->position])) {
    if (result > (INT64_MAX - 9) / 10) return sp_fail(SP_ERROR_FORMAT, "%s: .npy dimension is too large", parser->what);
    result = result * 10 + (parser->text[parser->position++] - '0');
    digits++;
  }
  if (!digits) return header_error(parser, "a dimension");
  /* numpy 1.x on Windows wrote "3L" for longs */
  if (parser->position < parser->length && parser->text[parser->position] == 'L') parser->position++;
  *value = result;
  return SP_OK;
}

static sp_status parse_shape(header_parser *parser, int *rank, int64_t *shape) {
  SP_TRY(expect(parser, '('));
  *rank = 0;
  if (accept(parser, ')')) return SP_OK;
  for (;;) {
    if (*rank == SP_MAX_RANK)
      return sp_fail(SP_ERROR_UNSUPPORTED, "%s: .npy array has more than %d dimensions", parser->what, SP_MAX_RANK);
    SP_TRY(parse_dimension(parser, &shape[(*rank)++]));
    if (accept(parser, ')')) return SP_OK;
    SP_TRY(expect(parser, ','));
    if (accept(parser, ')')) return SP_OK;
  }
}

typedef struct npy_header {
  char descr[32];
  int fortran_order;
  int rank;
  int64_t shape[SP_MAX_RANK];
} npy_header;

static sp_status parse_header_dict(header_parser *parser, npy_header *header) {
  int seen_descr = 0, seen_order = 0, seen_shape = 0;
  SP_TRY(expect(parser, '{'));
  while (!accept(parser, '}')) {
    char key[32];
    SP_TRY(parse_string(parser, key, sizeof key));
    SP_TRY(expect(parser, ':'));
    skip_spaces(parser);
    if (strcmp(key, "descr") == 0 && !seen_descr) {
      if (parser->position < parser->length && parser->text[parser->position] == '[')
        return sp_fail(SP_ERROR_UNSUPPORTED, "%s: structured .npy arrays (a list descr) are not supported",
                       parser->what);
      SP_TRY(parse_string(parser, header->descr, sizeof header->descr));
      seen_descr = 1;
    } else if (strcmp(key, "fortran_order") == 0 && !seen_order) {
      SP_TRY(parse_bool(parser, &header->fortran_order));
      seen_order = 1;
    } else if (strcmp(key, "shape") == 0 && !seen_shape) {
      SP_TRY(parse_shape(parser, &header->rank, header->shape));
      seen_shape = 1;
    } else {
      return sp_fail(SP_ERROR_FORMAT, "%s: .npy header has an unexpected or repeated key '%s'", parser->what, key);
    }
    if (!accept(parser, ',')) {
      SP_TRY(expect(parser, '}'));
      break;
    }
  }
  skip_spaces(parser);
  if (parser->position != parser->length) return header_error(parser, "only spaces after the header dict");
  if (!seen_descr || !seen_order || !seen_shape)
    return sp_fail(SP_ERROR_FORMAT, "%s: .npy header lacks '%s'", parser->what,
                   !seen_descr ? "descr" : !seen_order ? "fortran_order" : "shape");
  return SP_OK;
}

/* ---------- descr ---------- */

typedef struct npy_type {
  sp_dtype dtype;
  char text_kind;     /* 0, 'S' (bytes) or 'U' (UTF-32 text) */
  size_t item_size;   /* bytes per element in the file */
} npy_type;

static sp_status parse_descr(const char *descr, const char *what, npy_type *type) {
  char order = descr[0];
  const char *code = descr + 1;
  if (order == '>')
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: big-endian .npy data ('%s') is not supported; save it little-endian "
                   "(array.astype(array.dtype.newbyteorder('<')))", what, descr);
  if (order != '<' && order != '|' && order != '=')
    return sp_fail(SP_ERROR_FORMAT, "%s: .npy descr '%s' has no byte-order character", what, descr);
  if (code[0] == 'O')
    return sp_fail(SP_ERROR_UNSAFE, "%s: object arrays ('%s') are stored with pickle, which savepoint never "
                   "loads; save a numeric or fixed-width bytes array instead", what, descr);
  if (code[0] == 'S' || code[0] == 'U') {
    char *end;
    unsigned long width = strtoul(code + 1, &end, 10);
    if (end == code + 1 || *end || width == 0 || width > (1u << 24))
      return sp_fail(SP_ERROR_FORMAT, "%s: .npy descr '%s' has no valid width", what, descr);
    type->dtype = SP_STRING;
    type->text_kind = code[0];
    type->item_size = code[0] == 'U' ? width * 4 : width;
    return SP_OK;
  }
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
    if (strcmp(code, kinds[i].code) == 0) {
      type->dtype = kinds[i].dtype;
      type->text_kind = 0;
      type->item_size = sp_dtype_size(kinds[i].dtype);
      return SP_OK;
    }
  return sp_fail(SP_ERROR_UNSUPPORTED, "%s: .npy dtype '%s' is not supported", what, descr);
}

/* ---------- strings ---------- */

static size_t encode_utf8(uint32_t code_point, char *out) {
  if (code_point < 0x80) {
    out[0] = (char)code_point;
    return 1;
  }
  if (code_point < 0x800) {
    out[0] = (char)(0xc0 | (code_point >> 6));
    out[1] = (char)(0x80 | (code_point & 0x3f));
    return 2;
  }
  if (code_point < 0x10000) {
    out[0] = (char)(0xe0 | (code_point >> 12));
    out[1] = (char)(0x80 | ((code_point >> 6) & 0x3f));
    out[2] = (char)(0x80 | (code_point & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | (code_point >> 18));
  out[1] = (char)(0x80 | ((code_point >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((code_point >> 6) & 0x3f));
  out[3] = (char)(0x80 | (code_point & 0x3f));
  return 4;
}

/* One fixed-width element: bytes lose trailing NULs (numpy does the same); UTF-32 becomes UTF-8. */
static sp_status decode_string(sp_tensor *tensor, int64_t index, const uint8_t *item, const npy_type *type,
                               const char *what) {
  if (type->text_kind == 'S') {
    size_t length = type->item_size;
    while (length && item[length - 1] == 0) length--;
    return sp_tensor_set_string(tensor, index, item, length);
  }
  size_t characters = type->item_size / 4;
  while (characters && sp_load_u32le(item + 4 * (characters - 1)) == 0) characters--;
  char *text = sp_alloc(characters * 4 + 1);
  if (!text) return SP_ERROR_NO_MEMORY;
  size_t length = 0;
  for (size_t i = 0; i < characters; i++) {
    uint32_t code_point = sp_load_u32le(item + 4 * i);
    if (code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff)) {
      free(text);
      return sp_fail(SP_ERROR_FORMAT, "%s: element %lld holds an invalid code point U+%X", what, (long long)index,
                     code_point);
    }
    length += encode_utf8(code_point, text + length);
  }
  sp_status status = sp_tensor_set_string(tensor, index, text, length);
  free(text);
  return status;
}

/* ---------- reading ---------- */

static sp_status read_preamble(sp_reader *reader, const char *what, const char **header, size_t *header_length,
                               int *major) {
  const uint8_t *bytes;
  if (sp_read_bytes(reader, MAGIC_SIZE, &bytes) != SP_OK || memcmp(bytes, magic, MAGIC_SIZE) != 0)
    return sp_fail(SP_ERROR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", what);
  uint8_t minor, version;
  if (sp_read_u8(reader, &version) != SP_OK || sp_read_u8(reader, &minor) != SP_OK)
    return sp_fail(SP_ERROR_FORMAT, "%s: .npy file ends inside its version", what);
  if (version < 1 || version > 3 || minor != 0)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: .npy format version %u.%u is not supported (1.0, 2.0, 3.0 are)", what,
                   version, minor);
  uint32_t length;
  if (version == 1) {
    const uint8_t *two;
    if (sp_read_bytes(reader, 2, &two) != SP_OK) return sp_fail(SP_ERROR_FORMAT, "%s: .npy header truncated", what);
    length = (uint32_t)two[0] | (uint32_t)two[1] << 8;
  } else if (sp_read_u32le(reader, &length) != SP_OK) {
    return sp_fail(SP_ERROR_FORMAT, "%s: .npy header truncated", what);
  }
  if (length > SP_NPY_MAX_HEADER)
    return sp_fail(SP_ERROR_UNSAFE, "%s: .npy header of %u bytes is over the %d-byte limit", what, length,
                   SP_NPY_MAX_HEADER);
  if (sp_read_bytes(reader, length, &bytes) != SP_OK)
    return sp_fail(SP_ERROR_FORMAT, "%s: .npy header says %u bytes but the file is shorter", what, length);
  for (uint32_t i = 0; i < length; i++)
    if (bytes[i] == 0 || (version < 3 && bytes[i] >= 0x80))
      return sp_fail(SP_ERROR_FORMAT, "%s: .npy header byte %u is not ASCII text", what, i);
  *header = (const char *)bytes;
  *header_length = length;
  *major = version;
  return SP_OK;
}

static sp_status read_elements(sp_reader *reader, const npy_header *header, const npy_type *type, const char *what,
                               sp_tensor **tensor) {
  int64_t count;
  SP_TRY(sp_shape_count(header->rank, header->shape, &count));
  size_t bytes;
  if (!sp_multiply_size((size_t)count, type->item_size, &bytes) || bytes != sp_reader_remaining(reader))
    return sp_fail(SP_ERROR_FORMAT, "%s: .npy data holds %zu bytes but shape and dtype need %lld x %zu", what,
                   sp_reader_remaining(reader), (long long)count, type->item_size);
  sp_tensor *result = sp_tensor_new(type->dtype, header->rank, header->shape);
  if (!result) return SP_ERROR_NO_MEMORY;
  const uint8_t *data = reader->data + reader->position;
  sp_status status = SP_OK;
  if (type->dtype != SP_STRING) {
    if (bytes) memcpy(result->data, data, bytes);
    if (type->dtype == SP_BOOL)
      for (size_t i = 0; i < bytes; i++) ((uint8_t *)result->data)[i] = data[i] != 0;
  } else {
    for (int64_t i = 0; i < count && status == SP_OK; i++)
      status = decode_string(result, i, data + (size_t)i * type->item_size, type, what);
  }
  if (status != SP_OK) {
    sp_tensor_free(result);
    return status;
  }
  *tensor = result;
  return SP_OK;
}

sp_status sp_npy_parse(const uint8_t *data, size_t size, const char *what, sp_tensor **tensor) {
  *tensor = NULL;
  sp_reader reader = sp_reader_make(data, size, what);
  const char *header_text = NULL;
  size_t header_length = 0;
  int major = 0;
  SP_TRY(read_preamble(&reader, what, &header_text, &header_length, &major));
  header_parser parser = {header_text, header_length, 0, what};
  npy_header header = {0};
  SP_TRY(parse_header_dict(&parser, &header));
  if (header.fortran_order && header.rank > 1)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: the .npy array is in Fortran (column-major) order; save it in C order "
                   "(numpy.ascontiguousarray)", what);
  npy_type type = {0};
  SP_TRY(parse_descr(header.descr, what, &type));
  return read_elements(&reader, &header, &type, what, tensor);
}

sp_status sp_npy_read(const char *path, size_t limit, sp_tensor **tensor) {
  uint8_t *data;
  size_t size;
  *tensor = NULL;
  SP_TRY(sp_read_file(path, limit, &data, &size));
  sp_status status = sp_npy_parse(data, size, path, tensor);
  free(data);
  return status;
}

/* ---------- writing ---------- */

static const char *descr_for(sp_dtype dtype) {
  switch (dtype) {
    case SP_FLOAT32: return "<f4";
    case SP_FLOAT64: return "<f8";
    case SP_FLOAT16: return "<f2";
    case SP_INT8: return "|i1";
    case SP_INT16: return "<i2";
    case SP_INT32: return "<i4";
    case SP_INT64: return "<i8";
    case SP_UINT8: return "|u1";
    case SP_UINT16: return "<u2";
    case SP_UINT32: return "<u4";
    case SP_UINT64: return "<u8";
    case SP_BOOL: return "|b1";
    case SP_COMPLEX64: return "<c8";
    case SP_COMPLEX128: return "<c16";
    default: return NULL;
  }
}

static size_t longest_string(const sp_tensor *tensor) {
  size_t longest = 0;
  const sp_string *strings = tensor->data;
  for (int64_t i = 0; i < sp_tensor_count(tensor); i++)
    if (strings[i].length > longest) longest = strings[i].length;
  return longest;
}

/* The dict numpy writes, e.g. "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }". */
static sp_status format_header(const sp_tensor *tensor, size_t string_width, sp_buffer *header) {
  char descr[32];
  if (tensor->dtype == SP_STRING) {
    snprintf(descr, sizeof descr, "|S%zu", string_width);
  } else {
    const char *known = descr_for(tensor->dtype);
    if (!known)
      return sp_fail(SP_ERROR_UNSUPPORTED, "numpy has no dtype for %s tensors", sp_dtype_name(tensor->dtype));
    snprintf(descr, sizeof descr, "%s", known);
  }
  SP_TRY(sp_buffer_printf(header, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr));
  for (int i = 0; i < tensor->rank; i++) SP_TRY(sp_buffer_printf(header, i ? ", %lld" : "%lld", (long long)tensor->shape[i]));
  return sp_buffer_append_text(header, tensor->rank == 1 ? ",), }" : "), }");
}

/* numpy (>= 1.23) leaves room after the dict for the first dimension to grow to 21 digits. */
static sp_status add_growth_space(const sp_tensor *tensor, sp_buffer *header) {
  if (tensor->rank == 0) return SP_OK;
  char digits[24];
  int used = snprintf(digits, sizeof digits, "%lld", (long long)tensor->shape[0]);
  for (int i = used; i < GROWTH_AXIS_MAX_DIGITS; i++) SP_TRY(sp_buffer_put_u8(header, ' '));
  return SP_OK;
}

/* Magic, version, length, header, spaces and '\n', laid out as numpy's _wrap_header does: the padding
 * brings the whole preamble to a multiple of 64 bytes and is never empty. */
static sp_status put_preamble(const sp_buffer *header, sp_buffer *out) {
  size_t text_length = header->size + 1;
  int version = 1;
  size_t padding = ALIGNMENT - (MAGIC_SIZE + 2 + 2 + text_length) % ALIGNMENT;
  if (text_length + padding > 65535) {
    version = 2;
    padding = ALIGNMENT - (MAGIC_SIZE + 2 + 4 + text_length) % ALIGNMENT;
  }
  size_t length = text_length + padding;
  SP_TRY(sp_buffer_append(out, magic, MAGIC_SIZE));
  SP_TRY(sp_buffer_put_u8(out, (uint8_t)version));
  SP_TRY(sp_buffer_put_u8(out, 0));
  if (version == 1) {
    SP_TRY(sp_buffer_put_u8(out, (uint8_t)(length & 0xff)));
    SP_TRY(sp_buffer_put_u8(out, (uint8_t)(length >> 8)));
  } else {
    SP_TRY(sp_buffer_put_u32le(out, (uint32_t)length));
  }
  SP_TRY(sp_buffer_append(out, header->data, header->size));
  for (size_t i = 0; i < padding; i++) SP_TRY(sp_buffer_put_u8(out, ' '));
  return sp_buffer_put_u8(out, '\n');
}

static sp_status put_strings(const sp_tensor *tensor, size_t width, sp_buffer *out) {
  const sp_string *strings = tensor->data;
  for (int64_t i = 0; i < sp_tensor_count(tensor); i++) {
    SP_TRY(sp_buffer_reserve(out, width));
    memset(out->data + out->size, 0, width);
    if (strings[i].length) memcpy(out->data + out->size, strings[i].bytes, strings[i].length);
    out->size += width;
  }
  return SP_OK;
}

sp_status sp_npy_encode(const sp_tensor *tensor, sp_buffer *out) {
  size_t width = 0;
  if (tensor->dtype == SP_STRING && (width = longest_string(tensor)) == 0) width = 1; /* numpy's '|S1' */
  sp_buffer header = {0};
  sp_status status = format_header(tensor, width, &header);
  if (status == SP_OK) status = add_growth_space(tensor, &header);
  if (status == SP_OK) status = put_preamble(&header, out);
  sp_buffer_free(&header);
  SP_TRY(status);
  if (tensor->dtype == SP_STRING) return put_strings(tensor, width, out);
  return sp_buffer_append(out, tensor->data, tensor->size);
}

sp_status sp_npy_write(const char *path, const sp_tensor *tensor) {
  sp_buffer encoded = {0};
  sp_status status = sp_npy_encode(tensor, &encoded);
  if (status == SP_OK) status = sp_write_file_atomic(path, encoded.data, encoded.size);
  sp_buffer_free(&encoded);
  return status == SP_OK ? SP_OK : sp_error_context(status, "writing '%s'", path);
}
