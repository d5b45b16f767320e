/* literal.h — the Python literals saved_model_cli accepts in --input_exprs and --input_examples,
 * parsed without evaluating anything: numbers, True/False, quoted strings (b'..' too), and nested
 * lists, tuples and dicts of them. Anything else (a call, a name, an operator) is refused.
 */
#ifndef SP_CLI_LITERAL_H
#define SP_CLI_LITERAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "savepoint/tensor.h"

typedef enum sp_literal_kind {
  SP_LITERAL_BOOL,
  SP_LITERAL_INT,
  SP_LITERAL_FLOAT,
  SP_LITERAL_STRING,
  SP_LITERAL_LIST,
  SP_LITERAL_DICT
} sp_literal_kind;

typedef struct sp_literal sp_literal;
struct sp_literal {
  sp_literal_kind kind;
  int64_t integer;      /* INT, BOOL */
  double number;        /* FLOAT (and INT as double) */
  char *text;           /* STRING bytes; DICT: not used */
  size_t length;        /* STRING length */
  sp_literal **items;   /* LIST elements; DICT values */
  char **keys;          /* DICT keys */
  size_t count;
};

/* Parses one literal from text (what names it in errors). */
sp_status sp_literal_parse(const char *text, const char *what, sp_literal **literal) SP_MUST_CHECK;
void sp_literal_free(sp_literal *literal);

/* A tensor from a (nested, rectangular) literal: bools -> bool, ints -> int64, any float -> float64,
 * strings -> string, as numpy.array would type them. */
sp_status sp_literal_to_tensor(const sp_literal *literal, const char *what, sp_tensor **tensor) SP_MUST_CHECK;

#endif
