/* json_body.c — strict, bounded JSON parsing of request bodies into an arena (see json_body.h).
 *
 * Invariants: `position` never passes `length`, every read of text[position] is preceded by a
 * bounds check (peek() returns -1 at the end), and recursion depth is bounded by
 * SP_JSON_BODY_MAX_DEPTH. Children of an array or object are gathered on a scratch stack and
 * copied into the arena once their count is known, so no node moves after it is linked.
 */
#include "serve/json_body.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"

/* ---------- arena ---------- */

typedef struct arena_block {
  struct arena_block *next;
  size_t used, capacity;
  _Alignas(16) unsigned char data[];
} arena_block;

struct sp_json_document {
  arena_block *blocks;
  sp_json_node root;
};

static void *arena_allocate(sp_json_document *document, size_t size) {
  size = (size + 15) & ~(size_t)15;
  arena_block *block = document->blocks;
  if (!block || block->capacity - block->used < size) {
    size_t capacity = size > 65536 ? size : 65536;
    block = sp_alloc(sizeof *block + capacity);
    if (!block) return NULL;
    block->used = 0;
    block->capacity = capacity;
    block->next = document->blocks;
    document->blocks = block;
  }
  void *memory = block->data + block->used;
  block->used += size;
  return memory;
}

/* A copy of count elements of size bytes in the arena (children leaving the scratch stack);
 * NULL for none, or when out of memory. */
static void *arena_copy(sp_json_document *document, const void *source, size_t count, size_t size) {
  if (count == 0) return NULL;
  void *copy = arena_allocate(document, count * size);
  if (copy) memcpy(copy, source, count * size);
  return copy;
}

/* ---------- parser state ---------- */

typedef struct parser {
  const char *text;
  size_t length, position;
  sp_json_document *document;
  sp_json_node *items; /* scratch stack of array elements */
  size_t item_count, item_capacity;
  sp_json_member *members; /* scratch stack of object members */
  size_t member_count, member_capacity;
} parser;

static sp_status parse_error(const parser *state, const char *what) {
  return sp_fail(SP_ERROR_FORMAT, "JSON Parse error: %s at offset: %zu", what, state->position);
}

static int peek(const parser *state) {
  return state->position < state->length ? (unsigned char)state->text[state->position] : -1;
}

static void skip_whitespace(parser *state) {
  while (state->position < state->length) {
    char c = state->text[state->position];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    state->position++;
  }
}

static int consume_literal(parser *state, const char *literal) {
  size_t size = strlen(literal);
  if (state->length - state->position < size || memcmp(state->text + state->position, literal, size) != 0) return 0;
  state->position += size;
  return 1;
}

static sp_status parse_value(parser *state, sp_json_node *node, int depth);

/* ---------- numbers ---------- */

static size_t count_digits(const parser *state, size_t position) {
  size_t start = position;
  while (position < state->length && state->text[position] >= '0' && state->text[position] <= '9') position++;
  return position - start;
}

static int parse_special_number(parser *state, sp_json_node *node) {
  int negative = peek(state) == '-';
  size_t start = state->position;
  if (negative) state->position++;
  node->type = SP_JSON_NUMBER;
  if (!negative && consume_literal(state, "NaN")) {
    node->number_kind = SP_JSON_NAN;
    node->value.number = NAN;
    return 1;
  }
  if (consume_literal(state, "Infinity") || consume_literal(state, "Inf")) {
    node->number_kind = negative ? SP_JSON_NEGATIVE_INFINITY : SP_JSON_INFINITY;
    node->value.number = negative ? -INFINITY : INFINITY;
    return 1;
  }
  state->position = start;
  return 0;
}

static sp_status parse_number(parser *state, sp_json_node *node) {
  if (parse_special_number(state, node)) return SP_OK;
  size_t start = state->position, position = start;
  if (position < state->length && state->text[position] == '-') position++;
  size_t integer_digits = count_digits(state, position);
  if (integer_digits == 0) return parse_error(state, "Invalid value.");
  if (integer_digits > 1 && state->text[position] == '0') {
    state->position = position + 1;
    return parse_error(state, "Invalid number (leading zero).");
  }
  position += integer_digits;
  int integral = 1;
  if (position < state->length && state->text[position] == '.') {
    size_t fraction = count_digits(state, position + 1);
    if (fraction == 0) {
      state->position = position + 1;
      return parse_error(state, "Missing fraction part in number.");
    }
    position += 1 + fraction;
    integral = 0;
  }
  if (position < state->length && (state->text[position] == 'e' || state->text[position] == 'E')) {
    position++;
    if (position < state->length && (state->text[position] == '+' || state->text[position] == '-')) position++;
    size_t exponent = count_digits(state, position);
    if (exponent == 0) {
      state->position = position;
      return parse_error(state, "Missing exponent in number.");
    }
    position += exponent;
    integral = 0;
  }
  size_t size = position - start;
  if (size > SP_JSON_BODY_MAX_NUMBER_LENGTH) return parse_error(state, "Number too long.");
  char digits[SP_JSON_BODY_MAX_NUMBER_LENGTH + 1];
  memcpy(digits, state->text + start, size);
  digits[size] = '\0';
  node->type = SP_JSON_NUMBER;
  state->position = position;
  if (integral) {
    errno = 0;
    long long value = strtoll(digits, NULL, 10);
    if (errno == 0) {
      node->number_kind = SP_JSON_INTEGER;
      node->value.integer = value;
      return SP_OK;
    }
    if (digits[0] != '-') {
      errno = 0;
      unsigned long long unsigned_value = strtoull(digits, NULL, 10);
      if (errno == 0) {
        node->number_kind = SP_JSON_UNSIGNED;
        node->value.unsigned_integer = unsigned_value;
        return SP_OK;
      }
    }
  }
  node->number_kind = SP_JSON_DECIMAL;
  node->value.number = strtod(digits, NULL);
  if (isinf(node->value.number)) {
    state->position = start;
    return parse_error(state, "Number too big to be stored in double.");
  }
  return SP_OK;
}

/* ---------- strings ---------- */

/* Length of the valid UTF-8 sequence at bytes[0..available), or 0 when it is not valid. */
static size_t utf8_sequence_length(const unsigned char *bytes, size_t available) {
  unsigned char lead = bytes[0];
  if (lead < 0x80) return 1;
  size_t length;
  uint32_t minimum, code;
  if ((lead & 0xe0) == 0xc0)
    length = 2, minimum = 0x80, code = lead & 0x1f;
  else if ((lead & 0xf0) == 0xe0)
    length = 3, minimum = 0x800, code = lead & 0x0f;
  else if ((lead & 0xf8) == 0xf0)
    length = 4, minimum = 0x10000, code = lead & 0x07;
  else
    return 0;
  if (available < length) return 0;
  for (size_t i = 1; i < length; i++) {
    if ((bytes[i] & 0xc0) != 0x80) return 0;
    code = code << 6 | (bytes[i] & 0x3f);
  }
  if (code < minimum || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return length;
}

int sp_utf8_valid(const char *bytes, size_t length) {
  for (size_t i = 0; i < length;) {
    size_t size = utf8_sequence_length((const unsigned char *)bytes + i, length - i);
    if (size == 0) return 0;
    i += size;
  }
  return 1;
}

int sp_hex_digit_value(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static sp_status read_hex4(parser *state, uint32_t *code) {
  if (state->length - state->position < 4) return parse_error(state, "Incorrect hex digit after \\u escape in string.");
  uint32_t value = 0;
  for (int i = 0; i < 4; i++) {
    int digit = sp_hex_digit_value((unsigned char)state->text[state->position + i]);
    if (digit < 0) return parse_error(state, "Incorrect hex digit after \\u escape in string.");
    value = value << 4 | (uint32_t)digit;
  }
  state->position += 4;
  *code = value;
  return SP_OK;
}

static size_t encode_utf8(uint32_t code, char *out) {
  if (code < 0x80) {
    out[0] = (char)code;
    return 1;
  }
  if (code < 0x800) {
    out[0] = (char)(0xc0 | code >> 6);
    out[1] = (char)(0x80 | (code & 0x3f));
    return 2;
  }
  if (code < 0x10000) {
    out[0] = (char)(0xe0 | code >> 12);
    out[1] = (char)(0x80 | (code >> 6 & 0x3f));
    out[2] = (char)(0x80 | (code & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | code >> 18);
  out[1] = (char)(0x80 | (code >> 12 & 0x3f));
  out[2] = (char)(0x80 | (code >> 6 & 0x3f));
  out[3] = (char)(0x80 | (code & 0x3f));
  return 4;
}

static sp_status read_escape(parser *state, char *out, size_t *written) {
  int c = peek(state);
  static const char simple_from[] = "\"\\/bfnrt", simple_to[] = "\"\\/\b\f\n\r\t";
  const char *simple = c > 0 ? strchr(simple_from, c) : NULL;
  if (simple) {
    state->position++;
    out[0] = simple_to[simple - simple_from];
    *written = 1;
    return SP_OK;
  }
  if (c != 'u') return parse_error(state, "Invalid escape character in string.");
  state->position++;
  uint32_t code = 0;
  SP_TRY(read_hex4(state, &code));
  if (code >= 0xdc00 && code <= 0xdfff) return parse_error(state, "The surrogate pair in string is invalid.");
  if (code >= 0xd800 && code <= 0xdbff) {
    uint32_t low = 0;
    if (!consume_literal(state, "\\u")) return parse_error(state, "The surrogate pair in string is invalid.");
    SP_TRY(read_hex4(state, &low));
    if (low < 0xdc00 || low > 0xdfff) return parse_error(state, "The surrogate pair in string is invalid.");
    code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
  }
  *written = encode_utf8(code, out);
  return SP_OK;
}

/* The opening quote is at position. Decodes into the arena; the result is never longer than the
 * quoted source, so one allocation of the source length suffices. */
static sp_status parse_string(parser *state, const char **string, uint32_t *string_length) {
  size_t start = ++state->position, end = start;
  while (end < state->length && state->text[end] != '"') end += state->text[end] == '\\' ? 2 : 1;
  if (end >= state->length) return parse_error(state, "Missing a closing quotation mark in string.");
  if (end - start > UINT32_MAX) return parse_error(state, "String too long.");
  char *out = arena_allocate(state->document, end - start + 1);
  if (!out) return SP_ERROR_NO_MEMORY;
  size_t written = 0;
  while (state->position < end) {
    unsigned char c = (unsigned char)state->text[state->position];
    if (c == '\\') {
      state->position++;
      size_t size = 0;
      SP_TRY(read_escape(state, out + written, &size));
      written += size;
    } else if (c < 0x20) {
      return parse_error(state, "Invalid control character in string.");
    } else {
      size_t size = utf8_sequence_length((const unsigned char *)state->text + state->position, end - state->position);
      if (size == 0) return parse_error(state, "Invalid encoding in string (not UTF-8).");
      memcpy(out + written, state->text + state->position, size);
      written += size;
      state->position += size;
    }
  }
  state->position = end + 1;
  out[written] = '\0';
  *string = out;
  *string_length = (uint32_t)written;
  return SP_OK;
}

/* ---------- arrays and objects ---------- */

static sp_status parse_array(parser *state, sp_json_node *node, int depth) {
  state->position++;
  size_t first = state->item_count;
  skip_whitespace(state);
  if (peek(state) != ']') {
    for (;;) {
      sp_json_node item;
      SP_TRY(parse_value(state, &item, depth + 1));
      if (state->item_count - first >= UINT32_MAX) return parse_error(state, "Too many array elements.");
      SP_TRY(SP_RESERVE(state->items, state->item_capacity, state->item_count + 1));
      state->items[state->item_count++] = item;
      skip_whitespace(state);
      int c = peek(state);
      if (c == ']') break;
      if (c != ',') return parse_error(state, "Missing a comma or ']' after an array element.");
      state->position++;
    }
  }
  state->position++;
  node->type = SP_JSON_ARRAY;
  node->length = (uint32_t)(state->item_count - first);
  node->value.items =
      arena_copy(state->document, node->length ? state->items + first : NULL, node->length, sizeof *state->items);
  state->item_count = first;
  return node->length && !node->value.items ? SP_ERROR_NO_MEMORY : SP_OK;
}

static sp_status parse_object(parser *state, sp_json_node *node, int depth) {
  state->position++;
  size_t first = state->member_count;
  skip_whitespace(state);
  if (peek(state) != '}') {
    for (;;) {
      skip_whitespace(state);
      if (peek(state) != '"') return parse_error(state, "Missing a name for object member.");
      sp_json_member member;
      SP_TRY(parse_string(state, &member.key, &member.key_length));
      skip_whitespace(state);
      if (peek(state) != ':') return parse_error(state, "Missing a colon after a name of object member.");
      state->position++;
      SP_TRY(parse_value(state, &member.node, depth + 1));
      if (state->member_count - first >= UINT32_MAX) return parse_error(state, "Too many object members.");
      SP_TRY(SP_RESERVE(state->members, state->member_capacity, state->member_count + 1));
      state->members[state->member_count++] = member;
      skip_whitespace(state);
      int c = peek(state);
      if (c == '}') break;
      if (c != ',') return parse_error(state, "Missing a comma or '}' after an object member.");
      state->position++;
    }
  }
  state->position++;
  node->type = SP_JSON_OBJECT;
  node->length = (uint32_t)(state->member_count - first);
  node->value.members =
      arena_copy(state->document, node->length ? state->members + first : NULL, node->length, sizeof *state->members);
  state->member_count = first;
  return node->length && !node->value.members ? SP_ERROR_NO_MEMORY : SP_OK;
}

static sp_status parse_value(parser *state, sp_json_node *node, int depth) {
  if (depth > SP_JSON_BODY_MAX_DEPTH) return parse_error(state, "Nesting too deep.");
  skip_whitespace(state);
  memset(node, 0, sizeof *node);
  int c = peek(state);
  switch (c) {
    case '{': return parse_object(state, node, depth);
    case '[': return parse_array(state, node, depth);
    case '"': node->type = SP_JSON_STRING; return parse_string(state, &node->value.string, &node->length);
    case 't':
      if (!consume_literal(state, "true")) return parse_error(state, "Invalid value.");
      node->type = SP_JSON_TRUE;
      return SP_OK;
    case 'f':
      if (!consume_literal(state, "false")) return parse_error(state, "Invalid value.");
      node->type = SP_JSON_FALSE;
      return SP_OK;
    case 'n':
      if (!consume_literal(state, "null")) return parse_error(state, "Invalid value.");
      node->type = SP_JSON_NULL;
      return SP_OK;
    case -1: return parse_error(state, "The document is empty.");
    default:
      if (c == '-' || c == 'N' || c == 'I' || (c >= '0' && c <= '9')) return parse_number(state, node);
      return parse_error(state, "Invalid value.");
  }
}

sp_status sp_json_document_parse(const char *text, size_t length, sp_json_document **document) {
  *document = NULL;
  parser state = {.text = text, .length = length};
  state.document = sp_alloc_zeroed(1, sizeof *state.document);
  if (!state.document) return SP_ERROR_NO_MEMORY;
  sp_status status = parse_value(&state, &state.document->root, 1);
  if (status == SP_OK) {
    skip_whitespace(&state);
    if (state.position != length)
      status = parse_error(&state, "The document root must not be followed by other values.");
  }
  free(state.items);
  free(state.members);
  if (status != SP_OK) {
    sp_json_document_free(state.document);
    return status;
  }
  *document = state.document;
  return SP_OK;
}

const sp_json_node *sp_json_document_root(const sp_json_document *document) { return &document->root; }

void sp_json_document_free(sp_json_document *document) {
  if (!document) return;
  for (arena_block *block = document->blocks, *next; block; block = next) {
    next = block->next;
    free(block);
  }
  free(document);
}

/* ---------- access ---------- */

const sp_json_node *sp_json_node_member(const sp_json_node *node, const char *key) {
  if (!node || node->type != SP_JSON_OBJECT) return NULL;
  size_t key_length = strlen(key);
  for (uint32_t i = 0; i < node->length; i++) {
    const sp_json_member *member = &node->value.members[i];
    if (member->key_length == key_length && memcmp(member->key, key, key_length) == 0) return &member->node;
  }
  return NULL;
}

double sp_json_node_double(const sp_json_node *node) {
  switch (node->number_kind) {
    case SP_JSON_INTEGER: return (double)node->value.integer;
    case SP_JSON_UNSIGNED: return (double)node->value.unsigned_integer;
    default: return node->value.number;
  }
}

const char *sp_json_type_name(const sp_json_node *node) {
  static const char *const names[] = {"Null", "False", "True", "Number", "String", "Array", "Object"};
  return node->type <= SP_JSON_OBJECT ? names[node->type] : "?";
}

const char *sp_json_node_preview(const sp_json_node *node, char *out, size_t capacity) {
  switch (node->type) {
    case SP_JSON_NUMBER:
      switch (node->number_kind) {
        case SP_JSON_INTEGER: snprintf(out, capacity, "%" PRId64, node->value.integer); break;
        case SP_JSON_UNSIGNED: snprintf(out, capacity, "%" PRIu64, node->value.unsigned_integer); break;
        case SP_JSON_NAN: snprintf(out, capacity, "NaN"); break;
        case SP_JSON_INFINITY: snprintf(out, capacity, "Infinity"); break;
        case SP_JSON_NEGATIVE_INFINITY: snprintf(out, capacity, "-Infinity"); break;
        default: snprintf(out, capacity, "%.17g", node->value.number); break;
      }
      break;
    case SP_JSON_STRING: {
      /* Printable ASCII only, so a message never carries control bytes or broken UTF-8. */
      size_t used = 0;
      if (capacity < 8) {
        snprintf(out, capacity, "\"\"");
        break;
      }
      out[used++] = '"';
      for (uint32_t i = 0; i < node->length && used + 5 < capacity; i++) {
        unsigned char c = (unsigned char)node->value.string[i];
        out[used++] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
      }
      if (node->length > 0 && used + 5 >= capacity) {
        memcpy(out + used - 3, "...", 3);
      }
      out[used++] = '"';
      out[used] = '\0';
      break;
    }
    case SP_JSON_ARRAY: snprintf(out, capacity, "[...] (a list of %u)", node->length); break;
    case SP_JSON_OBJECT: snprintf(out, capacity, "{...} (an object with %u members)", node->length); break;
    case SP_JSON_TRUE: snprintf(out, capacity, "true"); break;
    case SP_JSON_FALSE: snprintf(out, capacity, "false"); break;
    default: snprintf(out, capacity, "null"); break;
  }
  return out;
}
