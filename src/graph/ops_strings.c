/* ops_strings.c — the string and checkpoint-file ops that saver graphs use: StringJoin,
 * ShardedFilename, StaticRegexFullMatch, RestoreV2 (through graph/restore.c), and SaveV2 /
 * MergeV2Checkpoints, which are recognised (so graphs that contain them load) but refuse to run:
 * savepoint does not write checkpoints from inside a graph. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/memory.h"
#include "graph/ops.h"
#include "graph/restore.h"

/* StringJoin: element-wise concatenation; scalars broadcast against same-shaped tensors. */
static sp_status string_join(sp_kernel_context *context) {
  char separator[256];
  SP_TRY(sp_kernel_attr_string(context, "separator", "", separator, sizeof separator));
  const sp_tensor *shape_source = NULL;
  for (size_t i = 0; i < context->input_count; i++) {
    const sp_tensor *input;
    SP_TRY(sp_kernel_input_typed(context, i, SP_STRING, &input));
    if (input->rank == 0) continue;
    if (shape_source && !sp_tensor_same_shape(shape_source, input))
      return sp_kernel_fail(context, SP_ERROR_MISMATCH, "inputs must be scalars or have one shape");
    shape_source = input;
  }
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, SP_STRING, shape_source ? shape_source->rank : 0,
                              shape_source ? shape_source->shape : NULL, &out));
  int64_t count = sp_tensor_count(out);
  for (int64_t e = 0; e < count; e++) {
    sp_buffer joined = {0};
    sp_status status = SP_OK;
    for (size_t i = 0; i < context->input_count && status == SP_OK; i++) {
      const sp_tensor *input = context->inputs[i]->tensor;
      const sp_string *value = &((const sp_string *)input->data)[input->rank ? e : 0];
      if (i) status = sp_buffer_append_text(&joined, separator);
      if (status == SP_OK) status = sp_buffer_append(&joined, value->bytes, value->length);
    }
    if (status == SP_OK) status = sp_tensor_set_string(out, e, joined.data ? (char *)joined.data : "", joined.size);
    sp_buffer_free(&joined);
    SP_TRY(status);
  }
  return SP_OK;
}

/* ShardedFilename(basename, shard, num_shards) = "%s-%05d-of-%05d". */
static sp_status sharded_filename(sp_kernel_context *context) {
  const sp_tensor *base, *shard, *shards;
  SP_TRY(sp_kernel_input_typed(context, 0, SP_STRING, &base));
  SP_TRY(sp_kernel_input_typed(context, 1, SP_INT32, &shard));
  SP_TRY(sp_kernel_input_typed(context, 2, SP_INT32, &shards));
  if (base->rank || shard->rank || shards->rank) return sp_kernel_fail(context, SP_ERROR_MISMATCH, "inputs must be scalars");
  const sp_string *name = base->data;
  char suffix[64];
  int length = snprintf(suffix, sizeof suffix, "-%05d-of-%05d", ((const int32_t *)shard->data)[0],
                        ((const int32_t *)shards->data)[0]);
  sp_tensor *out;
  SP_TRY(sp_kernel_output_new(context, 0, SP_STRING, 0, NULL, &out));
  char *text = sp_alloc(name->length + (size_t)length + 1);
  if (!text) return SP_ERROR_NO_MEMORY;
  memcpy(text, name->bytes, name->length);
  memcpy(text + name->length, suffix, (size_t)length);
  sp_status status = sp_tensor_set_string(out, 0, text, name->length + (size_t)length);
  free(text);
  return status;
}

/* StaticRegexFullMatch: the pattern (RE2 syntax in TF) compiled as a POSIX extended regex, anchored. */
static sp_status static_regex_full_match(sp_kernel_context *context) {
  char pattern[1024], anchored[1040];
  SP_TRY(sp_kernel_attr_string(context, "pattern", "", pattern, sizeof pattern));
  snprintf(anchored, sizeof anchored, "^(%s)$", pattern);
  const sp_tensor *input;
  SP_TRY(sp_kernel_input_typed(context, 0, SP_STRING, &input));
  regex_t regex;
  if (regcomp(&regex, anchored, REG_EXTENDED | REG_NOSUB) != 0)
    return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "pattern '%s' is not a POSIX extended regex", pattern);
  sp_tensor *out;
  sp_status status = sp_kernel_output_new(context, 0, SP_BOOL, input->rank, input->shape, &out);
  for (int64_t i = 0; status == SP_OK && i < sp_tensor_count(input); i++) {
    const sp_string *value = &((const sp_string *)input->data)[i];
    int matched = strlen(value->bytes) == value->length && regexec(&regex, value->bytes, 0, NULL, 0) == 0;
    ((uint8_t *)out->data)[i] = (uint8_t)matched;
  }
  regfree(&regex);
  return status;
}

/* RestoreV2(prefix, tensor_names, shape_and_slices) -> tensors (attr dtypes). */
static sp_status restore_v2(sp_kernel_context *context) {
  const sp_tensor *prefix, *names, *slices;
  SP_TRY(sp_kernel_input_typed(context, 0, SP_STRING, &prefix));
  SP_TRY(sp_kernel_input_typed(context, 1, SP_STRING, &names));
  SP_TRY(sp_kernel_input_typed(context, 2, SP_STRING, &slices));
  size_t count = (size_t)sp_tensor_count(names);
  if (prefix->rank != 0 || names->rank != 1 || !sp_tensor_same_shape(names, slices) || count != context->output_count)
    return sp_kernel_fail(context, SP_ERROR_MISMATCH, "needs a scalar prefix and %zu names and slices",
                          context->output_count);
  const Tensorflow__AttrValue *dtypes = sp_kernel_attr(context, "dtypes");
  if (!dtypes || dtypes->value_case != TENSORFLOW__ATTR_VALUE__VALUE_LIST || dtypes->list->n_type != count)
    return sp_kernel_fail(context, SP_ERROR_FORMAT, "attr 'dtypes' must list %zu types", count);
  const char **keys = sp_alloc_zeroed(count + 1, sizeof *keys);
  sp_dtype *types = sp_alloc_zeroed(count + 1, sizeof *types);
  sp_tensor **tensors = sp_alloc_zeroed(count + 1, sizeof *tensors);
  sp_status status = keys && types && tensors ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < count && status == SP_OK; i++) {
    const sp_string *slice = &((const sp_string *)slices->data)[i];
    if (slice->length)
      status = sp_kernel_fail(context, SP_ERROR_UNSUPPORTED, "restoring a slice ('%s') of a partitioned variable",
                              slice->bytes);
    keys[i] = ((const sp_string *)names->data)[i].bytes;
    types[i] = (sp_dtype)dtypes->list->type[i];
  }
  if (status == SP_OK) {
    const char *path = ((const sp_string *)prefix->data)[0].bytes;
    status = sp_graph_restore_tensors(path, count, keys, types, tensors);
    if (status != SP_OK) status = sp_kernel_fail(context, status, "%s", sp_last_error());
  }
  for (size_t i = 0; i < count && status == SP_OK; i++) {
    status = sp_kernel_output_tensor(context, i, tensors[i]);
    tensors[i] = NULL;
  }
  for (size_t i = 0; tensors && i < count; i++) sp_tensor_free(tensors[i]);
  free(keys);
  free(types);
  free(tensors);
  return status;
}

static sp_status refuse_writing(sp_kernel_context *context) {
  return sp_kernel_fail(context, SP_ERROR_UNSUPPORTED,
                        "writing checkpoints from a graph is not supported (savepoint serves and runs SavedModels)");
}

const sp_op sp_graph_ops_strings[] = {
    {"StringJoin", string_join, NULL, 0},
    {"ShardedFilename", sharded_filename, NULL, 0},
    {"StaticRegexFullMatch", static_regex_full_match, NULL, 0},
    {"RestoreV2", restore_v2, "tensors*dtypes", 0},
    {"SaveV2", refuse_writing, "", SP_OP_SIDE_EFFECT},
    {"MergeV2Checkpoints", refuse_writing, "", SP_OP_SIDE_EFFECT},
    {NULL, NULL, NULL, 0},
};
