/* rest_api.c — routing and handlers of TF Serving's REST API (see rest_api.h; S:model_servers/
 * http_rest_api_handler.cc and http_rest_api_util.cc read for the routes, messages and codes).
 *
 * Guarantees: a model name or label from a URL is percent-decoded into a bounded buffer and
 * checked (sp_serving_name_check) before it is used, so '/', ':', NUL, ".." and broken UTF-8
 * never reach the manager; a request holds its model version by reference for exactly the
 * duration of the handler; every path through a handler sets a status and a JSON body.
 */
#include "serve/rest_api.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/memory.h"
#include "formats/saved_model.h"
#include "savepoint/version.h"
#include "serve/sync.h"
#include "serve/json_body.h"
#include "serve/json_tensor.h"
#include "serve/model_config.h"

typedef enum route_kind { ROUTE_STATUS, ROUTE_METADATA, ROUTE_PREDICT, ROUTE_CLASSIFY, ROUTE_REGRESS } route_kind;

typedef struct route {
  route_kind kind;
  char name[SP_MODEL_NAME_MAX + 1];
  char label[SP_MODEL_NAME_MAX + 1];
  sp_version_request request;
} route;

/* ---------- responses ---------- */

int sp_http_status_for(sp_status status) {
  switch (status) {
    case SP_OK: return 200;
    case SP_ERROR_INVALID_ARGUMENT:
    case SP_ERROR_FORMAT:
    case SP_ERROR_MISMATCH:
    case SP_ERROR_UNSAFE: return 400;
    case SP_ERROR_NOT_FOUND: return 404;
    case SP_ERROR_EXISTS: return 409;
    case SP_ERROR_NO_MEMORY: return 429;
    case SP_ERROR_UNSUPPORTED: return 501;
    case SP_ERROR_CANCELLED: return 499;
    default: return 500;
  }
}

void sp_rest_response_release(sp_rest_response *response) { sp_buffer_free(&response->body); }

void sp_rest_error(sp_rest_response *response, int status, const char *message) {
  response->status = status;
  response->content_type = "application/json";
  response->body.size = 0;
  if (sp_buffer_append_text(&response->body, "{ \"error\": ") != SP_OK ||
      sp_json_append_string(&response->body, message, strlen(message)) != SP_OK ||
      sp_buffer_append_text(&response->body, " }") != SP_OK) {
    sp_buffer_free(&response->body);
    response->status = 500;
  }
}

static void fail_response(sp_rest_response *response, sp_status status) {
  sp_rest_error(response, sp_http_status_for(status), sp_last_error());
}

/* ---------- routing ---------- */

static int consume_case(const char **cursor, const char *prefix) {
  size_t length = strlen(prefix);
  if (strncasecmp(*cursor, prefix, length) != 0) return 0;
  *cursor += length;
  return 1;
}

/* Percent-decodes the path component at *cursor (up to '/', ':' or the end) into out and checks it. */
static sp_status decode_component(const char **cursor, char *out, size_t capacity, const char *what) {
  size_t used = 0;
  const char *c = *cursor;
  for (; *c && *c != '/' && *c != ':'; c++) {
    char byte = *c;
    if (byte == '%') {
      int high = sp_hex_digit_value((unsigned char)c[1]), low = high < 0 ? -1 : sp_hex_digit_value((unsigned char)c[2]);
      if (low < 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: bad percent-encoding in the URL", what);
      byte = (char)(high << 4 | low);
      c += 2;
    }
    if (used + 1 >= capacity)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s is longer than %zu bytes", what, capacity - 1);
    out[used++] = byte;
  }
  out[used] = '\0';
  *cursor = c;
  SP_TRY(sp_serving_name_check(out, used, what));
  if (memchr(out, '\0', used)) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s may not contain NUL bytes", what);
  return SP_OK;
}

static sp_status malformed(const char *method, const char *path) {
  char shown[160];
  snprintf(shown, sizeof shown, "%s", path);
  for (char *c = shown; *c; c++)
    if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
  return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Malformed request: %s %s", method, shown);
}

static sp_status parse_version(const char *method, const char *path, const char **cursor, int64_t *version) {
  const char *c = *cursor;
  int64_t value = 0;
  size_t digits = 0;
  for (; *c >= '0' && *c <= '9'; c++, digits++) {
    if (value > (INT64_MAX - (*c - '0')) / 10)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Failed to convert version to numeric: it is out of range");
    value = value * 10 + (*c - '0');
  }
  if (digits == 0 || (*c && *c != '/' && *c != ':')) return malformed(method, path);
  *cursor = c;
  *version = value;
  return SP_OK;
}

/* Parses "/v1/models/…" (the caller checked the prefix) into route. */
static sp_status parse_route(const char *method, const char *path, route *parsed) {
  memset(parsed, 0, sizeof *parsed);
  const char *cursor = path + strlen("/v1/models");
  if (*cursor == '\0' || strcmp(cursor, "/") == 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Missing model name in request.");
  if (*cursor++ != '/') return malformed(method, path);
  SP_TRY(decode_component(&cursor, parsed->name, sizeof parsed->name, "model name"));
  if (consume_case(&cursor, "/versions/")) {
    parsed->request.choice = SP_CHOOSE_VERSION;
    SP_TRY(parse_version(method, path, &cursor, &parsed->request.version));
  } else if (consume_case(&cursor, "/labels/")) {
    parsed->request.choice = SP_CHOOSE_LABEL;
    SP_TRY(decode_component(&cursor, parsed->label, sizeof parsed->label, "version label"));
    parsed->request.label = parsed->label;
  }
  int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
  if (*cursor == '\0' && get)
    parsed->kind = ROUTE_STATUS;
  else if (strcasecmp(cursor, "/metadata") == 0 && get)
    parsed->kind = ROUTE_METADATA;
  else if (strcasecmp(cursor, ":predict") == 0 && post)
    parsed->kind = ROUTE_PREDICT;
  else if (strcasecmp(cursor, ":classify") == 0 && post)
    parsed->kind = ROUTE_CLASSIFY;
  else if (strcasecmp(cursor, ":regress") == 0 && post)
    parsed->kind = ROUTE_REGRESS;
  else
    return malformed(method, path);
  return SP_OK;
}

/* ---------- status ---------- */

static void handle_status(const sp_rest_context *context, const route *parsed, sp_rest_response *response) {
  sp_status status = sp_model_manager_status_json(context->manager, parsed->name, &parsed->request, &response->body);
  if (status != SP_OK) fail_response(response, status);
}

/* ---------- metadata ---------- */

static sp_status append_tensor_info(sp_buffer *out, const sp_tensor_spec *spec) {
  char dtype[32];
  SP_TRY(sp_buffer_printf(out, "{\n        \"dtype\": \"%s\",\n        \"tensor_shape\": {\n         \"dim\": [",
                          sp_data_type_name(spec->dtype, dtype, sizeof dtype)));
  for (int d = 0; d < spec->rank; d++)
    SP_TRY(sp_buffer_printf(
        out, "%s\n          {\n           \"size\": \"%" PRId64 "\",\n           \"name\": \"\"\n          }",
        d ? "," : "", spec->dims[d]));
  SP_TRY(sp_buffer_printf(out, "%s],\n         \"unknown_rank\": %s\n        }", spec->rank > 0 ? "\n         " : "",
                          spec->rank < 0 ? "true" : "false"));
  if (spec->tensor_name[0]) {
    SP_TRY(sp_buffer_append_text(out, ",\n        \"name\": "));
    SP_TRY(sp_json_append_string(out, spec->tensor_name, strlen(spec->tensor_name)));
  }
  return sp_buffer_append_text(out, "\n       }");
}

static sp_status append_tensor_map(sp_buffer *out, const char *field, const sp_tensor_spec *specs, size_t count) {
  SP_TRY(sp_buffer_printf(out, "      \"%s\": {", field));
  for (size_t i = 0; i < count; i++) {
    SP_TRY(sp_buffer_append_text(out, i ? ",\n       " : "\n       "));
    SP_TRY(sp_json_append_string(out, specs[i].key, strlen(specs[i].key)));
    SP_TRY(sp_buffer_append_text(out, ": "));
    SP_TRY(append_tensor_info(out, &specs[i]));
  }
  return sp_buffer_append_text(out, count ? "\n      }" : "}");
}

static sp_status append_signature_defs(sp_buffer *out, const sp_servable *servable) {
  SP_TRY(sp_buffer_append_text(out, "  \"signature_def\": {\n   \"signature_def\": {"));
  for (size_t i = 0; i < servable->signature_count; i++) {
    const sp_signature *signature = &servable->signatures[i];
    SP_TRY(sp_buffer_append_text(out, i ? ",\n    " : "\n    "));
    SP_TRY(sp_json_append_string(out, signature->key, strlen(signature->key)));
    SP_TRY(sp_buffer_append_text(out, ": {\n"));
    SP_TRY(append_tensor_map(out, "inputs", signature->inputs, signature->input_count));
    SP_TRY(sp_buffer_append_text(out, ",\n"));
    SP_TRY(append_tensor_map(out, "outputs", signature->outputs, signature->output_count));
    SP_TRY(sp_buffer_append_text(out, ",\n      \"method_name\": "));
    SP_TRY(sp_json_append_string(out, signature->method_name, strlen(signature->method_name)));
    SP_TRY(sp_buffer_append_text(out, ",\n      \"defaults\": {}\n    }"));
  }
  return sp_buffer_append_text(out, "\n   }\n  }");
}

/* What savepoint adds to the metadata map: which bytes are live and who loaded them. */
static sp_status append_artifact(sp_buffer *out, const sp_loaded_version *loaded) {
  SP_TRY(sp_buffer_printf(out,
                          ",\n  \"savepoint\": {\n   \"sha256\": \"%s\",\n   \"loaded_by\": \"savepoint %s\",\n   "
                          "\"format\": \"%s\",\n   \"description\": ",
                          loaded->sha256, SP_VERSION, loaded->servable->format));
  SP_TRY(sp_json_append_string(out, loaded->servable->description, strlen(loaded->servable->description)));
  SP_TRY(sp_buffer_append_text(out, ",\n   \"path\": "));
  SP_TRY(sp_json_append_string(out, loaded->path, strlen(loaded->path)));
  SP_TRY(sp_buffer_append_text(out, ",\n   \"verified_against\": "));
  SP_TRY(sp_json_append_string(out, loaded->verified_against, strlen(loaded->verified_against)));
  SP_TRY(sp_buffer_printf(out, ",\n   \"loaded_at\": \"%s\",\n   \"files\": [", loaded->loaded_at));
  for (size_t i = 0; loaded->files && i < loaded->files->count; i++) {
    const sp_manifest_entry *entry = &loaded->files->entries[i];
    SP_TRY(sp_buffer_append_text(out, i ? ",\n    {\"path\": " : "\n    {\"path\": "));
    SP_TRY(sp_json_append_string(out, entry->path, strlen(entry->path)));
    if (entry->size != SP_MANIFEST_SIZE_UNKNOWN) SP_TRY(sp_buffer_printf(out, ", \"size\": %" PRIu64, entry->size));
    SP_TRY(sp_buffer_printf(out, ", \"sha256\": \"%s\"}", entry->sha256));
  }
  return sp_buffer_append_text(out, loaded->files && loaded->files->count ? "\n   ]\n  }" : "]\n  }");
}

static sp_status render_metadata(const route *parsed, const sp_loaded_version *loaded, sp_buffer *out) {
  SP_TRY(sp_buffer_append_text(out, "{\n \"model_spec\": {\n  \"name\": "));
  SP_TRY(sp_json_append_string(out, parsed->name, strlen(parsed->name)));
  SP_TRY(sp_buffer_printf(
      out, ",\n  \"signature_name\": \"\",\n  \"version\": \"%" PRId64 "\"\n },\n \"metadata\": {\n", loaded->version));
  SP_TRY(append_signature_defs(out, loaded->servable));
  SP_TRY(append_artifact(out, loaded));
  return sp_buffer_append_text(out, "\n }\n}\n");
}

/* ---------- inference ---------- */

static sp_status find_signature(const sp_loaded_version *loaded, const char *name, const sp_signature **signature) {
  const char *key = name && *name ? name : SP_DEFAULT_SIGNATURE;
  *signature = sp_servable_signature(loaded->servable, key);
  if (!*signature)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Serving signature name: \"%s\" not found in signature def", key);
  return SP_OK;
}

static sp_status check_method(const sp_signature *signature, route_kind kind) {
  const char *method = signature->method_name;
  if (kind == ROUTE_PREDICT) {
    if (strcmp(method, SP_METHOD_PREDICT) == 0 || strcmp(method, SP_METHOD_CLASSIFY) == 0 ||
        strcmp(method, SP_METHOD_REGRESS) == 0)
      return SP_OK;
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "Expected prediction signature method_name to be one of {%s, %s, %s}. Was: %s", SP_METHOD_PREDICT,
                   SP_METHOD_CLASSIFY, SP_METHOD_REGRESS, method);
  }
  const char *wanted = kind == ROUTE_CLASSIFY ? SP_METHOD_CLASSIFY : SP_METHOD_REGRESS;
  if (strcmp(method, wanted) != 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Expected %s signature method_name to be %s. Was: %s",
                   kind == ROUTE_CLASSIFY ? "classification" : "regression", wanted, method);
  if (signature->input_count != 1) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Expected one input Tensor.");
  if (sp_data_type_value(signature->inputs[0].dtype) != SP_STRING)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "signature '%s' takes %s, not serialized tf.Example records; call :predict instead", signature->key,
                   sp_dtype_tf_name((sp_dtype)sp_data_type_value(signature->inputs[0].dtype)));
  return SP_OK;
}

static sp_status run_signature(const sp_loaded_version *loaded, const sp_signature *signature,
                               const sp_named_tensors *inputs, size_t *count, char ***keys, sp_tensor ***outputs) {
  const sp_tensor *const *tensors = (const sp_tensor *const *)inputs->tensors;
  sp_status status = loaded->batcher ? sp_batcher_run(loaded->batcher, loaded->servable, signature, inputs->count,
                                                      inputs->keys, tensors, count, keys, outputs)
                                     : sp_servable_run(loaded->servable, signature, inputs->count, inputs->keys,
                                                       tensors, count, keys, outputs);
  if (status != SP_OK && !strstr(sp_last_error(), signature->key))
    status = sp_error_context(status, "signature '%s'", signature->key);
  return status;
}

static sp_status predict(const sp_loaded_version *loaded, const sp_json_node *root, const char *signature_name,
                         sp_buffer *out) {
  const sp_signature *signature;
  SP_TRY(find_signature(loaded, signature_name, &signature));
  SP_TRY(check_method(signature, ROUTE_PREDICT));
  sp_predict_format format;
  sp_named_tensors inputs;
  SP_TRY(sp_json_predict_inputs(root, signature, &format, &inputs));
  size_t count = 0;
  char **keys = NULL;
  sp_tensor **outputs = NULL;
  sp_status status = run_signature(loaded, signature, &inputs, &count, &keys, &outputs);
  sp_named_tensors_free(&inputs);
  if (status == SP_OK) status = sp_json_predict_outputs(format, count, keys, outputs, out);
  sp_servable_outputs_free(count, keys, outputs);
  return status;
}

static sp_status classify_or_regress(const sp_loaded_version *loaded, route_kind kind, const sp_json_node *root,
                                     const char *signature_name, sp_buffer *out) {
  const sp_signature *signature;
  SP_TRY(find_signature(loaded, signature_name, &signature));
  SP_TRY(check_method(signature, kind));
  sp_named_tensors inputs = {0};
  sp_tensor *examples = NULL;
  SP_TRY(sp_json_examples(root, &examples));
  inputs.count = 1;
  inputs.keys = (const char *[]){signature->inputs[0].key};
  inputs.tensors = &examples;
  size_t count = 0;
  char **keys = NULL;
  sp_tensor **outputs = NULL;
  sp_status status = run_signature(loaded, signature, &inputs, &count, &keys, &outputs);
  int64_t rows = examples->shape[0];
  sp_tensor_free(examples);
  if (status == SP_OK)
    status = kind == ROUTE_CLASSIFY ? sp_json_classify_results(count, keys, outputs, rows, out)
                                    : sp_json_regress_results(count, keys, outputs, rows, out);
  sp_servable_outputs_free(count, keys, outputs);
  return status;
}

static sp_api api_of(route_kind kind) {
  return kind == ROUTE_CLASSIFY   ? SP_API_CLASSIFY
         : kind == ROUTE_REGRESS  ? SP_API_REGRESS
         : kind == ROUTE_METADATA ? SP_API_METADATA
                                  : SP_API_PREDICT;
}

/* Metadata, predict, classify, regress: everything that runs against one loaded version. */
static void handle_version_request(const sp_rest_context *context, const route *parsed, const char *body,
                                   size_t body_length, sp_rest_response *response) {
  double started = sp_clock_seconds();
  sp_json_document *document = NULL;
  const char *signature_name = NULL;
  sp_status status = SP_OK;
  if (parsed->kind != ROUTE_METADATA) {
    status = sp_json_document_parse(body, body_length, &document);
    if (status == SP_OK) status = sp_json_request_signature(sp_json_document_root(document), &signature_name);
  }
  sp_loaded_version *loaded = NULL;
  if (status == SP_OK) status = sp_model_manager_acquire(context->manager, parsed->name, &parsed->request, &loaded);
  if (status == SP_OK) {
    response->model_version = loaded->version;
    memcpy(response->sha256, loaded->sha256, sizeof response->sha256);
    const sp_json_node *root = document ? sp_json_document_root(document) : NULL;
    if (parsed->kind == ROUTE_METADATA)
      status = render_metadata(parsed, loaded, &response->body);
    else if (parsed->kind == ROUTE_PREDICT)
      status = predict(loaded, root, signature_name, &response->body);
    else
      status = classify_or_regress(loaded, parsed->kind, root, signature_name, &response->body);
  }
  if (status != SP_OK) fail_response(response, status);
  sp_metrics_record_request(context->metrics, loaded ? loaded->series[api_of(parsed->kind)] : NULL, response->status,
                            sp_clock_seconds() - started);
  sp_loaded_version_release(loaded);
  sp_json_document_free(document);
}

static void handle_metrics(const sp_rest_context *context, sp_rest_response *response) {
  response->content_type = "text/plain; version=0.0.4";
  sp_status status = sp_metrics_render(context->metrics, &response->body);
  if (status == SP_OK) status = sp_model_manager_metrics(context->manager, &response->body);
  if (status != SP_OK) fail_response(response, status);
}

void sp_rest_handle(const sp_rest_context *context, const char *method, const char *path, const char *body,
                    size_t body_length, sp_rest_response *response) {
  memset(response, 0, sizeof *response);
  response->status = 200;
  response->content_type = "application/json";
  response->model_version = -1;
  if (strcasecmp(path, SP_PROMETHEUS_PATH) == 0 && strcmp(method, "GET") == 0) {
    handle_metrics(context, response);
    return;
  }
  if (strncasecmp(path, "/v1/models", strlen("/v1/models")) != 0) {
    sp_status status = strncasecmp(path, "/v1/", 4) == 0
                           ? malformed(method, path)
                           : sp_fail(SP_ERROR_NOT_FOUND, "Not found: %s", "no such endpoint");
    fail_response(response, status);
    sp_metrics_record_request(context->metrics, NULL, response->status, 0);
    return;
  }
  route parsed;
  sp_status status = parse_route(method, path, &parsed);
  if (status != SP_OK) {
    fail_response(response, status);
    sp_metrics_record_request(context->metrics, NULL, response->status, 0);
    return;
  }
  if (parsed.kind == ROUTE_STATUS) {
    handle_status(context, &parsed, response);
    sp_metrics_record_request(context->metrics, NULL, response->status, 0);
    return;
  }
  handle_version_request(context, &parsed, body, body_length, response);
}
