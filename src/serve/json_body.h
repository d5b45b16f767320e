/* json_body.h — the JSON reader for REST request bodies: strict, bounded, and aware of the
 * tokens TF Serving accepts (NaN, Infinity, -Infinity; also Inf and -Inf, as rapidjson does).
 *
 * json-c cannot parse those bare tokens, and a request body is hostile input, so the server
 * reads bodies with this small recursive-descent parser instead:
 *   - every byte is consumed through bounds checks; nesting deeper than SP_JSON_BODY_MAX_DEPTH,
 *     numbers longer than SP_JSON_BODY_MAX_NUMBER_LENGTH characters and counts beyond 2^32-1
 *     are refused;
 *   - strings must be valid UTF-8 (overlong forms, surrogates and code points past U+10FFFF
 *     refused) and \u escapes must pair surrogates;
 *   - integers keep their exact value (int64, or uint64 above INT64_MAX), so int64 tensors lose
 *     nothing; other numbers are doubles;
 *   - one value, then only whitespace.
 * The whole document lives in one arena (a node is 16 bytes), freed at once.
 * Errors are SP_ERROR_FORMAT with TF Serving's prefix: "JSON Parse error: <what> at offset: N".
 */
#ifndef SP_SERVE_JSON_BODY_H
#define SP_SERVE_JSON_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

enum { SP_JSON_BODY_MAX_DEPTH = 64, SP_JSON_BODY_MAX_NUMBER_LENGTH = 400 };

typedef enum sp_json_type {
  SP_JSON_NULL = 0,
  SP_JSON_FALSE,
  SP_JSON_TRUE,
  SP_JSON_NUMBER,
  SP_JSON_STRING,
  SP_JSON_ARRAY,
  SP_JSON_OBJECT
} sp_json_type;

typedef enum sp_json_number_kind {
  SP_JSON_INTEGER = 0, /* an integer literal that fits int64: value.integer */
  SP_JSON_UNSIGNED,    /* an integer literal in (INT64_MAX, UINT64_MAX]: value.unsigned_integer */
  SP_JSON_DECIMAL,     /* anything else, including integers past uint64: value.number */
  SP_JSON_NAN,
  SP_JSON_INFINITY,
  SP_JSON_NEGATIVE_INFINITY
} sp_json_number_kind;

typedef struct sp_json_member sp_json_member;

typedef struct sp_json_node {
  uint8_t type;        /* sp_json_type */
  uint8_t number_kind; /* sp_json_number_kind, for numbers */
  uint32_t length;     /* elements of an array, members of an object, bytes of a string */
  union {
    int64_t integer;
    uint64_t unsigned_integer;
    double number;
    const char *string;         /* decoded UTF-8, NUL-terminated (may contain NULs) */
    struct sp_json_node *items; /* arrays */
    sp_json_member *members;    /* objects, in document order */
  } value;
} sp_json_node;

struct sp_json_member {
  const char *key;
  uint32_t key_length;
  sp_json_node node;
};

typedef struct sp_json_document sp_json_document;

/* Parses text[0..length). */
sp_status sp_json_document_parse(const char *text, size_t length, sp_json_document **document) SP_MUST_CHECK;
const sp_json_node *sp_json_document_root(const sp_json_document *document);
void sp_json_document_free(sp_json_document *document);

/* The first member called key, or NULL (also when node is not an object). */
const sp_json_node *sp_json_node_member(const sp_json_node *node, const char *key);
/* The number as a double (integers converted, NaN and the infinities as such). */
double sp_json_node_double(const sp_json_node *node);
/* "Number", "String", "Array", "Object", "True", "False", "Null" (rapidjson's names, as in TF
 * Serving's messages). */
const char *sp_json_type_name(const sp_json_node *node);
/* A short rendering for error messages: the number as written back, a truncated string, or
 * "[...]" / "{...}" with the element count. Returns out. */
const char *sp_json_node_preview(const sp_json_node *node, char *out, size_t capacity);

/* The value of the hexadecimal digit c, or -1. */
int sp_hex_digit_value(int c);
/* 1 when bytes[0..length) is valid UTF-8 (the rules strings in a body must follow). */
int sp_utf8_valid(const char *bytes, size_t length);

#endif
