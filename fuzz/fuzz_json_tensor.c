/* fuzz_json_tensor.c — libFuzzer target for the model server's request parser: a request body
 * (hostile bytes) through the bounded JSON reader, then TF Serving's JSON→tensor conversion for
 * three signatures (one float input; named int32/string/bool inputs; a classify input of
 * tf.Example records), and whatever converts back through the response writer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "serve/json_body.h"
#include "serve/json_tensor.h"
#include "serve/servable.h"

static sp_tensor_spec spec(const char *key, int dtype, int rank, int64_t *dims) {
  sp_tensor_spec result = {(char *)key, (char *)"", dtype, rank, dims};
  return result;
}

static void round_trip(const sp_json_node *root, const sp_signature *signature) {
  sp_predict_format format;
  sp_named_tensors inputs;
  if (sp_json_predict_inputs(root, signature, &format, &inputs) != SP_OK) return;
  sp_buffer out = {0};
  char **keys = calloc(inputs.count + 1, sizeof *keys);
  for (size_t i = 0; keys && i < inputs.count; i++) keys[i] = (char *)inputs.keys[i];
  if (keys) (void)sp_json_predict_outputs(format, inputs.count, keys, inputs.tensors, &out);
  free(keys);
  sp_buffer_free(&out);
  sp_named_tensors_free(&inputs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_json_document *document = NULL;
  if (sp_json_document_parse((const char *)data, size, &document) != SP_OK) return 0;
  const sp_json_node *root = sp_json_document_root(document);
  const char *name = NULL;
  if (sp_json_request_signature(root, &name) == SP_OK) {
    int64_t column[] = {-1, 1};
    sp_tensor_spec single[] = {spec("x", 1 /* DT_FLOAT */, 2, column)};
    sp_tensor_spec named[] = {spec("a", 3 /* DT_INT32 */, -1, NULL), spec("b_bytes", 7 /* DT_STRING */, -1, NULL),
                              spec("c", 10 /* DT_BOOL */, -1, NULL)};
    sp_signature one = {(char *)"serving_default", (char *)SP_METHOD_PREDICT, single, 1, NULL, 0};
    sp_signature three = {(char *)"named", (char *)SP_METHOD_PREDICT, named, 3, NULL, 0};
    round_trip(root, &one);
    round_trip(root, &three);
    sp_tensor *examples = NULL;
    if (sp_json_examples(root, &examples) == SP_OK) sp_tensor_free(examples);
  }
  sp_json_document_free(document);
  return 0;
}
