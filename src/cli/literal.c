/* literal.c — parsing Python literals for `savepoint run` (see literal.h).
 *
 * A recursive-descent parser with a nesting limit; numbers go through strtoll/strtod, so "1e-3",
 * "-2", ".5" and "inf"-free decimals behave as in Python. Nothing is ever evaluated.
 */
#include "cli/literal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/memory.h"

enum { MAX_NESTING = 32 };

typedef struct parser {
  const char *text;
  size_t position;
  const char *what;
} parser;

static sp_status parse_value(parser *p, int depth, sp_literal **out);

static sp_status parse_error(const parser *p, const char *expected) {
  return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                 "%s: at character %zu: expected %s, found '%.20s' (only literals are accepted: numbers, "
                 "True/False, quoted strings, lists; nothing is evaluated)",
                 p->what, p->position, expected, p->text + p->position);
}

static void skip_space(parser *p) {
  while (isspace((unsigned char)p->text[p->position])) p->position++;
}

static sp_literal *new_literal(sp_literal_kind kind) {
  sp_literal *literal = sp_alloc_zeroed(1, sizeof *literal);
  if (literal) literal->kind = kind;
  return literal;
}

void sp_literal_free(sp_literal *literal) {
  if (!literal) return;
  for (size_t i = 0; i < literal->count; i++) {
    sp_literal_free(literal->items[i]);
    if (literal->keys) free(literal->keys[i]);
  }
  free(literal->items);
  free(literal->keys);
  free(literal->text);
  free(literal);
}

static sp_status parse_string(parser *p, sp_literal **out) {
  if (p->text[p->position] == 'b') p->position++;
  char quote = p->text[p->position++];
  sp_buffer bytes = {0};
  sp_status status = SP_OK;
  while (status == SP_OK && p->text[p->position] && p->text[p->position] != quote) {
    char c = p->text[p->position++];
    if (c == '\\' && p->text[p->position]) {
      char escaped = p->text[p->position++];
      c = escaped == 'n' ? '\n' : escaped == 't' ? '\t' : escaped == 'r' ? '\r' : escaped == '0' ? '\0' : escaped;
    }
    status = sp_buffer_put_u8(&bytes, (uint8_t)c);
  }
  if (status == SP_OK && p->text[p->position] != quote) status = parse_error(p, "a closing quote");
  sp_literal *literal = status == SP_OK ? new_literal(SP_LITERAL_STRING) : NULL;
  if (status == SP_OK && !literal) status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = sp_buffer_put_u8(&bytes, 0);
  if (status != SP_OK) {
    sp_buffer_free(&bytes);
    free(literal);
    return status;
  }
  p->position++;
  literal->length = bytes.size - 1;
  literal->text = (char *)sp_buffer_detach(&bytes, NULL);
  *out = literal;
  return SP_OK;
}

static sp_status parse_number(parser *p, sp_literal **out) {
  const char *start = p->text + p->position;
  char *end;
  errno = 0;
  long long integer = strtoll(start, &end, 10);
  int is_integer = end != start && errno == 0 && *end != '.' && *end != 'e' && *end != 'E';
  double number = strtod(start, &end);
  if (end == start || strspn(start, "0123456789+-.eE") < (size_t)(end - start)) return parse_error(p, "a number");
  if (isalpha((unsigned char)*end) || *end == '(' || *end == '_') return parse_error(p, "a literal, not a name or call");
  sp_literal *literal = new_literal(is_integer ? SP_LITERAL_INT : SP_LITERAL_FLOAT);
  if (!literal) return SP_ERROR_NO_MEMORY;
  literal->integer = integer;
  literal->number = is_integer ? (double)integer : number;
  p->position += (size_t)(end - start);
  *out = literal;
  return SP_OK;
}

static int accept_word(parser *p, const char *word) {
  size_t length = strlen(word);
  if (strncmp(p->text + p->position, word, length) != 0) return 0;
  char next = p->text[p->position + length];
  if (isalnum((unsigned char)next) || next == '_' || next == '.' || next == '(') return 0;
  p->position += length;
  return 1;
}

static sp_status add_item(sp_literal *container, sp_literal *item, char *key) {
  sp_literal **items = sp_realloc_array(container->items, container->count + 1, sizeof *items);
  if (!items) return SP_ERROR_NO_MEMORY;
  container->items = items;
  if (container->kind == SP_LITERAL_DICT) {
    char **keys = sp_realloc_array(container->keys, container->count + 1, sizeof *keys);
    if (!keys) return SP_ERROR_NO_MEMORY;
    container->keys = keys;
    keys[container->count] = key;
  }
  items[container->count++] = item;
  return SP_OK;
}

static sp_status parse_entry(parser *p, int depth, sp_literal *container) {
  char *key = NULL;
  if (container->kind == SP_LITERAL_DICT) {
    sp_literal *key_literal;
    skip_space(p);
    char c = p->text[p->position];
    if (c != '\'' && c != '"') return parse_error(p, "a quoted dict key");
    SP_TRY(parse_string(p, &key_literal));
    key = key_literal->text;
    key_literal->text = NULL;
    sp_literal_free(key_literal);
    skip_space(p);
    if (p->text[p->position] != ':') {
      free(key);
      return parse_error(p, "':'");
    }
    p->position++;
  }
  sp_literal *item;
  sp_status status = parse_value(p, depth + 1, &item);
  if (status == SP_OK && (status = add_item(container, item, key)) != SP_OK) sp_literal_free(item);
  if (status != SP_OK) free(key);
  return status;
}

static sp_status parse_container(parser *p, int depth, char open, sp_literal **out) {
  char close = open == '[' ? ']' : open == '(' ? ')' : '}';
  sp_literal *container = new_literal(open == '{' ? SP_LITERAL_DICT : SP_LITERAL_LIST);
  if (!container) return SP_ERROR_NO_MEMORY;
  p->position++;
  sp_status status = SP_OK;
  for (;;) {
    skip_space(p);
    if (p->text[p->position] == close) break;
    if ((status = parse_entry(p, depth, container)) != SP_OK) break;
    skip_space(p);
    if (p->text[p->position] == ',') {
      p->position++;
      continue;
    }
    if (p->text[p->position] != close) status = parse_error(p, close == ']' ? "',' or ']'" : "',' or a closing bracket");
    break;
  }
  if (status != SP_OK) {
    sp_literal_free(container);
    return status;
  }
  p->position++;
  *out = container;
  return SP_OK;
}

static sp_status parse_value(parser *p, int depth, sp_literal **out) {
  if (depth > MAX_NESTING) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: lists nest deeper than %d", p->what, MAX_NESTING);
  skip_space(p);
  char c = p->text[p->position];
  if (c == '[' || c == '(' || c == '{') return parse_container(p, depth, c, out);
  if (c == '\'' || c == '"' || (c == 'b' && (p->text[p->position + 1] == '\'' || p->text[p->position + 1] == '"')))
    return parse_string(p, out);
  int truth = accept_word(p, "True");
  if (truth || accept_word(p, "False")) {
    if (!(*out = new_literal(SP_LITERAL_BOOL))) return SP_ERROR_NO_MEMORY;
    (*out)->integer = truth;
    (*out)->number = truth;
    return SP_OK;
  }
  if (c == '-' || c == '+' || c == '.' || isdigit((unsigned char)c)) return parse_number(p, out);
  return parse_error(p, "a literal");
}

sp_status sp_literal_parse(const char *text, const char *what, sp_literal **literal) {
  parser p = {text, 0, what};
  SP_TRY(parse_value(&p, 0, literal));
  skip_space(&p);
  if (p.text[p.position]) {
    sp_literal_free(*literal);
    *literal = NULL;
    return parse_error(&p, "the end of the value");
  }
  return SP_OK;
}

/* ---------- to tensors ---------- */

typedef struct layout {
  int rank;
  int64_t shape[SP_MAX_RANK];
  sp_dtype dtype;
  int has_string, has_number;
} layout;

static int promotion_rank(sp_dtype dtype) {
  return dtype == SP_BOOL ? 1 : dtype == SP_INT64 ? 2 : dtype == SP_FLOAT64 ? 3 : dtype == SP_STRING ? 4 : 0;
}

static sp_status measure(const sp_literal *literal, int depth, const char *what, layout *out) {
  if (literal->kind == SP_LITERAL_DICT) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: a dict is not an array", what);
  if (literal->kind == SP_LITERAL_LIST) {
    if (depth >= SP_MAX_RANK) return sp_fail(SP_ERROR_UNSUPPORTED, "%s: more than %d dimensions", what, SP_MAX_RANK);
    if (depth == out->rank) {
      out->shape[out->rank++] = (int64_t)literal->count;
    } else if (out->shape[depth] != (int64_t)literal->count) {
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: rows of different lengths (%lld and %zu) do not make an array",
                     what, (long long)out->shape[depth], literal->count);
    }
    for (size_t i = 0; i < literal->count; i++) SP_TRY(measure(literal->items[i], depth + 1, what, out));
    return SP_OK;
  }
  if (depth != out->rank) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: a value sits beside a list (ragged)", what);
  if (literal->kind == SP_LITERAL_STRING) out->has_string = 1;
  else out->has_number = 1;
  /* numpy's promotion: bool < int64 < float64 */
  static const sp_dtype by_kind[] = {[SP_LITERAL_BOOL] = SP_BOOL, [SP_LITERAL_INT] = SP_INT64,
                                     [SP_LITERAL_FLOAT] = SP_FLOAT64, [SP_LITERAL_STRING] = SP_STRING};
  sp_dtype kind = by_kind[literal->kind];
  if (promotion_rank(kind) > promotion_rank(out->dtype)) out->dtype = kind;
  return SP_OK;
}

static sp_status fill(const sp_literal *literal, sp_tensor *tensor, int64_t *index) {
  if (literal->kind == SP_LITERAL_LIST) {
    for (size_t i = 0; i < literal->count; i++) SP_TRY(fill(literal->items[i], tensor, index));
    return SP_OK;
  }
  int64_t i = (*index)++;
  switch (tensor->dtype) {
    case SP_STRING: return sp_tensor_set_string(tensor, i, literal->text, literal->length);
    case SP_INT64: ((int64_t *)tensor->data)[i] = literal->integer; break;
    case SP_BOOL: ((uint8_t *)tensor->data)[i] = literal->integer != 0; break;
    default: ((double *)tensor->data)[i] = literal->number; break;
  }
  return SP_OK;
}

sp_status sp_literal_to_tensor(const sp_literal *literal, const char *what, sp_tensor **tensor) {
  *tensor = NULL;
  layout shape = {0};
  SP_TRY(measure(literal, 0, what, &shape));
  if (shape.has_string && shape.has_number)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: mixes strings and numbers", what);
  if (shape.dtype == SP_DTYPE_INVALID) shape.dtype = SP_FLOAT64; /* [] is float64 in numpy */
  sp_tensor *result = sp_tensor_new(shape.dtype, shape.rank, shape.shape);
  if (!result) return SP_ERROR_NO_MEMORY;
  int64_t index = 0;
  sp_status status = fill(literal, result, &index);
  if (status != SP_OK) {
    sp_tensor_free(result);
    return status;
  }
  *tensor = result;
  return SP_OK;
}
