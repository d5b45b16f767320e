/* json_tensor.h — TF Serving's JSON encoding of tensors (formats.md §6.3), both ways.
 *
 * Requests: the row format ("instances": one element per batch row; objects when the
 * signature has several inputs) and the columnar format ("inputs": a tensor, or an object of
 * named tensors) become tensors of the signature's dtypes. Shapes come from the nesting of the
 * lists (all lists at one level must have the same length), strings are JSON strings or
 * {"b64": "..."}, floats accept NaN / Infinity / -Infinity, integers must be integer literals
 * within the dtype's range. Every error names the input and says what was expected.
 *
 * Responses: row requests get {"predictions": …}, columnar ones {"outputs": …}; floats are
 * written as TF Serving writes them (shortest of %g / full precision, ".0" on whole numbers,
 * NaN, Infinity); int64 as JSON numbers; outputs whose key ends in "_bytes", and strings that
 * are not valid UTF-8, as {"b64": …}.
 *
 * Classify and regress: "examples" (and an optional "context" merged into each) become
 * serialized tf.Example records; results are rendered under "results".
 */
#ifndef SP_SERVE_JSON_TENSOR_H
#define SP_SERVE_JSON_TENSOR_H

#include <stddef.h>

#include "core/bytes.h"
#include "core/status.h"
#include "savepoint/tensor.h"
#include "serve/json_body.h"
#include "serve/servable.h"

typedef enum sp_predict_format {
  SP_PREDICT_ROW = 1,     /* "instances" → "predictions" */
  SP_PREDICT_COLUMNAR = 2 /* "inputs" → "outputs" */
} sp_predict_format;

/* Tensors with the signature keys they feed. keys are borrowed from the signature. */
typedef struct sp_named_tensors {
  size_t count;
  const char **keys;
  sp_tensor **tensors;
} sp_named_tensors;

void sp_named_tensors_free(sp_named_tensors *tensors);

/* The request body must be a JSON object; "signature_name", when present, a string
 * (*name NULL when absent). */
sp_status sp_json_request_signature(const sp_json_node *root, const char **name) SP_MUST_CHECK;

/* The predict inputs of a request body for signature. */
sp_status sp_json_predict_inputs(const sp_json_node *root, const sp_signature *signature, sp_predict_format *format,
                                 sp_named_tensors *inputs) SP_MUST_CHECK;

/* Appends the predict response for outputs (sorted by key here) to out. */
sp_status sp_json_predict_outputs(sp_predict_format format, size_t count, char **keys, sp_tensor **outputs,
                                  sp_buffer *out) SP_MUST_CHECK;

/* The "examples" of a classify/regress body, "context" merged in, as a string tensor [n] of
 * serialized tf.Example records. */
sp_status sp_json_examples(const sp_json_node *root, sp_tensor **examples) SP_MUST_CHECK;

/* {"results": [[[label, score], …], …]} from a classify signature's "classes" and/or "scores". */
sp_status sp_json_classify_results(size_t count, char **keys, sp_tensor **outputs, int64_t examples,
                                   sp_buffer *out) SP_MUST_CHECK;
/* {"results": [value, …]} from a regress signature's "outputs" ([n] or [n, 1]). */
sp_status sp_json_regress_results(size_t count, char **keys, sp_tensor **outputs, int64_t examples,
                                  sp_buffer *out) SP_MUST_CHECK;

/* A float or double as TF Serving writes it: "2.5", "3.0", "0.333333343", "1e+06", "NaN",
 * "-Infinity". out holds at least 32 bytes. */
void sp_json_format_decimal(double value, int single_precision, char *out, size_t capacity);
/* Appends text as a JSON string (quotes, escapes; the bytes must be valid UTF-8). */
sp_status sp_json_append_string(sp_buffer *out, const char *text, size_t length) SP_MUST_CHECK;

#endif
