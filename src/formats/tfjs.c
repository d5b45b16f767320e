/* tfjs.c — TensorFlow.js layers models: model.json + binary weight shards (formats.md §7).
 *
 * Reading accepts both producers: tensorflowjs_converter (modelTopology = {keras_version,
 * backend, model_config, training_config}) and tfjs-layers' own save (modelTopology =
 * {class_name, config, …}), shards named anything listed in weightsManifest (resolved inside
 * model.json's directory only; absolute paths, "..", backslashes and symbolic links are
 * refused), float32/int32/bool weights and the converter's uint8/uint16/float16 quantization.
 * Sizes are checked before anything is read: every weight's byte count from its shape, their
 * sum against the shards' total size, each against the load's limits. Weights are matched to
 * variables by name as tfjs-layers' loadWeights does ("<layer>/<variable>", with its rule for
 * names carrying one extra scope); every variable must receive a value. All of that — names,
 * duplicates, missing variables, shapes — is checked before any byte is read, so a manifest that
 * does not fit leaves the model as it was. Weights stored as their variables hold them are read
 * straight from the shard files into the variables' tensors (one pread per shard a weight
 * crosses, core/file_parts.h), never through a buffer the size of the model; only weights that
 * need converting (quantized, float16, bool, another dtype) pass through a buffer of their own.
 *
 * Writing produces what the converter produces from an .h5: the Keras 2 model_config, weights
 * in Keras order named "<layer>/<variable>", concatenated little-endian float32 cut into
 * group1-shard<i>of<n>.bin files of shard_bytes each (the last shorter), each piece written
 * straight from its tensor. The directory is built under a temporary name and swapped in whole
 * (core/file.h); the shards inside it are staged files (core/file_parts.h), handed to writeback
 * as each is finished and fsynced together when the directory is published, so the disk sees one
 * stream rather than a write, fsync and rename per shard.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/file_parts.h"
#include "core/json.h"
#include "core/mapping.h"
#include "core/memory.h"
#include "formats/codec.h"
#include "formats/keras_config.h"
#include "formats/keras_weights.h"
#include "savepoint/version.h"

enum { SP_TFJS_MAX_WEIGHTS = 1 << 20 };

/* ---- recognising ---- */

static int is_tfjs(const json_object *root) {
  const char *format = NULL;
  if (sp_json_get_string(root, "format", NULL, "", &format) != SP_OK) format = NULL;
  sp_clear_error();
  return sp_json_member(root, "modelTopology") != NULL || sp_json_member(root, "weightsManifest") != NULL ||
         (format && (strcmp(format, "layers-model") == 0 || strcmp(format, "graph-model") == 0));
}

static int is_graph_model(const json_object *root) {
  const char *format = NULL;
  if (sp_json_get_string(root, "format", NULL, "", &format) != SP_OK) format = NULL;
  sp_clear_error();
  const json_object *topology = sp_json_member(root, "modelTopology");
  return (format && strcmp(format, "graph-model") == 0) || (topology && sp_json_member(topology, "node"));
}

/* modelTopology's model object: the converter wraps it in model_config. Borrowed. */
static const json_object *topology_model(const json_object *root) {
  const json_object *topology = sp_json_member(root, "modelTopology");
  const json_object *wrapped = sp_json_member(topology, "model_config");
  return wrapped ? wrapped : topology;
}

static const char *topology_keras_version(const json_object *root) {
  const char *version = NULL;
  if (sp_json_get_string(sp_json_member(root, "modelTopology"), "keras_version", NULL, "", &version) != SP_OK)
    version = NULL;
  sp_clear_error();
  return version;
}

/* model.json inside a directory, or the path itself. Caller frees. */
static char *model_json_path(const char *path) {
  return sp_is_directory(path) ? sp_path_join(path, "model.json") : sp_strdup(path);
}

static int probe(const sp_probe_input *input, sp_probe_info *info) {
  if (!input->is_directory && !sp_probe_is_json_object(input)) return 0;
  char *json_path = model_json_path(input->path);
  json_object *root = NULL;
  int readable = json_path && sp_is_regular_file(json_path) &&
                 sp_codec_read_json(json_path, UINT64_C(256) << 20, &root) == SP_OK;
  sp_clear_error();
  int claimed = readable && is_tfjs(root);
  if (claimed) {
    const char *generated = NULL, *version = topology_keras_version(root);
    if (sp_json_get_string(root, "generatedBy", NULL, "", &generated) != SP_OK) generated = NULL;
    sp_clear_error();
    info->format = SP_FORMAT_TFJS;
    info->has_weights = sp_json_member(root, "weightsManifest") != NULL;
    info->has_model = !is_graph_model(root);
    sp_probe_set(info->resolved_path, sizeof info->resolved_path, "%s", json_path);
    sp_probe_set(info->keras_version, sizeof info->keras_version, "%s", version ? version : "");
    sp_probe_set(info->producer, sizeof info->producer, "%s", generated ? generated : "");
    if (is_graph_model(root))
      sp_probe_set(info->description, sizeof info->description,
                   "a TensorFlow.js graph model (a converted TensorFlow graph%s%s), not a layers model", generated ? ", generated by " : "",
                   generated ? generated : "");
    else
      sp_probe_set(info->description, sizeof info->description, "a TensorFlow.js layers model%s%s%s",
                   generated ? " (generated by " : "", generated ? generated : "", generated ? ")" : "");
  }
  json_object_put(root);
  free(json_path);
  return claimed;
}

/* ---- reading weights ---- */

typedef struct manifest_weight {
  const char *name;
  sp_dtype dtype;        /* what the values are (float32 after dequantizing) */
  sp_dtype stored;       /* what the bytes are */
  int quantized;         /* 1: affine uint8/uint16; 2: float16 */
  double min, scale;
  int rank;
  int64_t shape[SP_MAX_RANK];
  uint64_t offset, bytes; /* within its group's concatenated shards */
  int skip;              /* optimizer weights: not part of the model */
} manifest_weight;

static sp_status dtype_of(const char *name, const char *where, sp_dtype *dtype) {
  static const struct { const char *name; sp_dtype dtype; } known[] = {
      {"float32", SP_FLOAT32}, {"int32", SP_INT32}, {"bool", SP_BOOL}, {"uint8", SP_UINT8},
      {"uint16", SP_UINT16},   {"float16", SP_FLOAT16}};
  for (size_t i = 0; name && i < sizeof known / sizeof *known; i++)
    if (strcmp(name, known[i].name) == 0) {
      *dtype = known[i].dtype;
      return SP_OK;
    }
  return sp_fail(SP_ERROR_UNSUPPORTED, "%s: dtype '%s' is not supported (float32, int32, bool; quantized uint8, "
                 "uint16, float16)", where, name ? name : "(none)");
}

static sp_status parse_weight(const json_object *entry, const char *where, const sp_load_options *options,
                              manifest_weight *weight) {
  memset(weight, 0, sizeof *weight);
  const char *dtype = NULL, *group = NULL;
  SP_TRY(sp_json_get_string(entry, "name", NULL, where, &weight->name));
  if (!weight->name) return sp_fail(SP_ERROR_FORMAT, "%s: a weight has no name", where);
  SP_TRY(sp_json_get_string(entry, "dtype", "float32", where, &dtype));
  SP_TRY(sp_json_get_string(entry, "group", NULL, where, &group));
  weight->skip = group && strcmp(group, "optimizer") == 0;
  SP_TRY(dtype_of(dtype, where, &weight->dtype));
  if (!sp_json_member(entry, "shape")) return sp_fail(SP_ERROR_FORMAT, "%s: weight '%s' has no shape", where, weight->name);
  SP_TRY(sp_json_get_int_list(entry, "shape", SP_MAX_RANK, where, weight->shape, &weight->rank));
  int64_t count;
  if (sp_shape_count(weight->rank, weight->shape, &count) != SP_OK)
    return sp_fail(SP_ERROR_UNSAFE, "%s: weight '%s' has an impossible shape", where, weight->name);
  weight->stored = weight->dtype;
  const json_object *quantization = sp_json_member(entry, "quantization");
  if (quantization) {
    const char *quantized = NULL;
    SP_TRY(sp_json_get_string(quantization, "dtype", NULL, where, &quantized));
    SP_TRY(dtype_of(quantized, where, &weight->stored));
    if (weight->dtype != SP_FLOAT32 ||
        !(weight->stored == SP_UINT8 || weight->stored == SP_UINT16 || weight->stored == SP_FLOAT16))
      return sp_fail(SP_ERROR_UNSUPPORTED, "%s: weight '%s': only float32 weights quantized to uint8, uint16 or "
                     "float16 are supported", where, weight->name);
    weight->quantized = weight->stored == SP_FLOAT16 ? 2 : 1;
    if (weight->quantized == 1) {
      SP_TRY(sp_json_get_double(quantization, "min", 0, where, &weight->min));
      SP_TRY(sp_json_get_double(quantization, "scale", 1, where, &weight->scale));
    }
  }
  uint64_t element = sp_dtype_size(weight->stored);
  if ((uint64_t)count > UINT64_MAX / element)
    return sp_fail(SP_ERROR_UNSAFE, "%s: weight '%s' is too large", where, weight->name);
  weight->bytes = (uint64_t)count * element;
  uint64_t as_float = (uint64_t)count * sp_dtype_size(weight->dtype);
  if (as_float > options->max_tensor_bytes)
    return sp_fail(SP_ERROR_UNSAFE, "%s: weight '%s' would take %llu bytes, over the limit of %llu", where,
                   weight->name, (unsigned long long)as_float, (unsigned long long)options->max_tensor_bytes);
  return SP_OK;
}

/* A shard path from the manifest, resolved inside directory; refuses anything that could leave it. */
static sp_status shard_path(const char *directory, const char *name, const char *where, char **path) {
  const char *relative = name;
  while (strncmp(relative, "./", 2) == 0) relative += 2;
  int bad = !relative[0] || relative[0] == '/' || strchr(relative, '\\') || strchr(relative, ':');
  for (const char *part = relative; !bad && part;) {
    const char *slash = strchr(part, '/');
    size_t length = slash ? (size_t)(slash - part) : strlen(part);
    bad = (length == 2 && strncmp(part, "..", 2) == 0) || length == 0;
    part = slash ? slash + 1 : NULL;
  }
  if (bad)
    return sp_fail(SP_ERROR_UNSAFE, "%s: the weights path '%s' is not a plain relative name inside the model's "
                   "directory; refusing it", where, name);
  *path = sp_path_join(directory, relative);
  if (!*path) return SP_ERROR_NO_MEMORY;
  struct stat status;
  if (lstat(*path, &status) != 0) {
    sp_status failure = sp_fail(SP_ERROR_NOT_FOUND, "%s: the weights file '%s' is missing (%s)", where, *path,
                                strerror(errno));
    free(*path);
    *path = NULL;
    return failure;
  }
  if (!S_ISREG(status.st_mode)) {
    free(*path);
    *path = NULL;
    return sp_fail(SP_ERROR_UNSAFE, "%s: the weights file '%s' is not a regular file (a symbolic link or special "
                   "file); refusing it", where, name);
  }
  return SP_OK;
}

/* A group's shard files in order, each with its size and where it starts in the group's bytes.
 * The sizes were checked against the manifest when the group was opened; reads check them again. */
typedef struct shard_file {
  char *path;
  uint64_t start, size;
} shard_file;

typedef struct weight_group {
  shard_file *shards;
  size_t count;
  sp_mapping *mapping; /* with map_weights: the shards mapped one after another, from bytes */
  const uint8_t *bytes;
} weight_group;

static void close_group(weight_group *group) {
  sp_mapping_release(group->mapping);
  group->mapping = NULL;
  for (size_t i = 0; group->shards && i < group->count; i++) free(group->shards[i].path);
  free(group->shards);
  group->shards = NULL;
  group->count = 0;
}

/* Resolves a group's shards and checks that they hold exactly the expected bytes; reads nothing. */
static sp_status open_group(const char *directory, const json_object *paths, uint64_t expected, const char *where,
                            const sp_load_options *options, weight_group *group) {
  size_t count = json_object_array_length(paths);
  uint64_t total = 0;
  group->shards = sp_alloc_zeroed(count + 1, sizeof *group->shards);
  if (!group->shards) return SP_ERROR_NO_MEMORY;
  group->count = count;
  sp_status status = SP_OK;
  for (size_t i = 0; i < count && status == SP_OK; i++) {
    json_object *name = json_object_array_get_idx(paths, i);
    if (!json_object_is_type(name, json_type_string)) {
      status = sp_fail(SP_ERROR_FORMAT, "%s: paths[%zu] is not a string", where, i);
      break;
    }
    shard_file *shard = &group->shards[i];
    status = shard_path(directory, json_object_get_string(name), where, &shard->path);
    if (status == SP_OK) status = sp_file_size(shard->path, &shard->size);
    if (status == SP_OK && shard->size > UINT64_MAX - total)
      status = sp_fail(SP_ERROR_UNSAFE, "%s: the shard files' sizes overflow", where);
    shard->start = total;
    total += shard->size;
  }
  if (status == SP_OK && total != expected)
    status = sp_fail(SP_ERROR_FORMAT, "%s: the manifest's weights need %llu bytes but its %zu shard %s %llu%s",
                     where, (unsigned long long)expected, count, count == 1 ? "file holds" : "files hold",
                     (unsigned long long)total, total < expected ? " (truncated or missing shards)" : "");
  if (status == SP_OK && expected > options->max_total_bytes)
    status = sp_fail(SP_ERROR_UNSAFE, "%s: %llu bytes of weights is over the limit of %llu", where,
                     (unsigned long long)expected, (unsigned long long)options->max_total_bytes);
  if (status != SP_OK) close_group(group);
  return status;
}

/* Maps a group's shards as one region that weights can view. Shards that cannot be mapped side
 * by side (a size that is not a whole number of pages, as TF.js's default 4 MiB always is) are
 * read by copying instead, and so is everything when the mapping fails for another reason:
 * reading reports that reason as reads do. */
static void map_group(weight_group *group) {
  const char **paths = sp_alloc_zeroed(group->count + 1, sizeof *paths);
  uint64_t *sizes = sp_alloc_zeroed(group->count + 1, sizeof *sizes);
  for (size_t i = 0; paths && sizes && i < group->count; i++) {
    paths[i] = group->shards[i].path;
    sizes[i] = group->shards[i].size;
  }
  if (!paths || !sizes || sp_mapping_join(paths, sizes, group->count, &group->mapping, &group->bytes) != SP_OK)
    sp_clear_error();
  free(paths);
  free(sizes);
}

/* Copies [offset, offset + size) of a group's bytes into buffer, straight from the shard files
 * the span crosses (the caller checked the span against the group's total). */
static sp_status read_span(const weight_group *group, uint64_t offset, uint64_t size, uint8_t *buffer,
                           const char *where) {
  for (size_t i = 0; i < group->count && size > 0; i++) {
    const shard_file *shard = &group->shards[i];
    if (offset >= shard->start + shard->size) continue;
    uint64_t within = offset - shard->start, room = shard->size - within, chunk = size < room ? size : room;
    sp_status status = sp_read_file_span(shard->path, shard->size, within, buffer, (size_t)chunk);
    if (status != SP_OK) return sp_error_context(status, "%s", where);
    buffer += chunk;
    offset += chunk;
    size -= chunk;
  }
  return size == 0 ? SP_OK : sp_fail(SP_ERROR_IO, "%s: the shard files changed while they were read", where);
}

/* The values of one weight as a new tensor (dequantized to float32 where quantized). */
static sp_tensor *decode(const manifest_weight *weight, const uint8_t *bytes) {
  sp_tensor *tensor = sp_tensor_new(weight->dtype, weight->rank, weight->shape);
  if (!tensor) return NULL;
  int64_t count = sp_tensor_count(tensor);
  if (!weight->quantized) {
    memcpy(tensor->data, bytes, tensor->size);
    if (weight->dtype == SP_BOOL)
      for (int64_t i = 0; i < count; i++) ((uint8_t *)tensor->data)[i] = ((uint8_t *)tensor->data)[i] != 0;
    return tensor;
  }
  float *out = sp_tensor_floats(tensor);
  for (int64_t i = 0; i < count; i++) {
    if (weight->stored == SP_FLOAT16) out[i] = sp_half_to_float((uint16_t)(bytes[2 * i] | bytes[2 * i + 1] << 8));
    else if (weight->stored == SP_UINT16) out[i] = (float)((bytes[2 * i] | bytes[2 * i + 1] << 8) * weight->scale + weight->min);
    else out[i] = (float)(bytes[i] * weight->scale + weight->min);
  }
  return tensor;
}

typedef struct named_variable {
  char *name;
  sp_variable *variable;
  int assigned;
} named_variable;

static sp_status collect_named(const sp_model *model, named_variable **list, int *count) {
  sp_variable **variables;
  int total = sp_model_collect_variables(model, &variables, 0);
  if (total < 0) return SP_ERROR_NO_MEMORY;
  *list = sp_alloc_zeroed((size_t)total + 1, sizeof **list);
  sp_status status = *list ? SP_OK : SP_ERROR_NO_MEMORY;
  for (int i = 0; i < total && status == SP_OK; i++) {
    (*list)[i] = (named_variable){sp_tfjs_weight_name(variables[i]), variables[i], 0};
    if (!(*list)[i].name) status = SP_ERROR_NO_MEMORY;
  }
  free(variables);
  *count = total;
  return status;
}

static void free_named(named_variable *list, int count) {
  for (int i = 0; list && i < count; i++) free(list[i].name);
  free(list);
}

/* tfjs-layers' loadWeights: the exact name, else the name without its second-to-last scope. */
static named_variable *match(named_variable *list, int count, const char *name) {
  for (int i = 0; i < count; i++)
    if (strcmp(list[i].name, name) == 0) return &list[i];
  const char *last = strrchr(name, '/');
  if (!last || last == name) return NULL;
  const char *before = last - 1;
  while (before > name && *before != '/') before--;
  if (before == name) return NULL; /* only two components: nothing to shorten */
  char shortened[1024];
  snprintf(shortened, sizeof shortened, "%.*s%s", (int)(before - name), name, last);
  for (int i = 0; i < count; i++)
    if (strcmp(list[i].name, shortened) == 0) return &list[i];
  return NULL;
}

/* Weights that can be read straight into their variable: stored as the variable holds them
 * (match_weights has already checked the shape). */
static int reads_directly(const manifest_weight *weight, const sp_tensor *destination) {
  return !weight->quantized && weight->dtype == destination->dtype;
}

/* Matches every manifest weight to its variable before any bytes are read, so a manifest that
 * names the wrong variables, names one twice, leaves one out or has the wrong shapes changes
 * nothing in the model. targets[i] is NULL for skipped (optimizer) weights. */
static sp_status match_weights(const sp_model *model, named_variable *named, int named_count,
                               const manifest_weight *weights, int weight_count, const char *where,
                               named_variable **targets) {
  for (int i = 0; i < weight_count; i++) {
    const manifest_weight *weight = &weights[i];
    targets[i] = NULL;
    if (weight->skip) continue;
    named_variable *target = match(named, named_count, weight->name);
    if (!target) {
      char known[2048] = "";
      for (int k = 0; k < named_count && strlen(known) + 64 < sizeof known; k++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "", named[k].name);
      return sp_fail(SP_ERROR_MISMATCH, "%s: the weight '%s' matches no variable of model '%s' (its variables: %s)",
                     where, weight->name, model->name, known);
    }
    if (target->assigned) return sp_fail(SP_ERROR_FORMAT, "%s: two weights give a value to '%s'", where, target->name);
    const sp_tensor *destination = target->variable->value;
    if (weight->rank != destination->rank ||
        memcmp(weight->shape, destination->shape, (size_t)weight->rank * sizeof *weight->shape) != 0) {
      sp_shape expected = sp_shape_of(destination), found = {.rank = weight->rank};
      memcpy(found.dims, weight->shape, (size_t)weight->rank * sizeof *weight->shape);
      char found_text[160], expected_text[160];
      return sp_fail(SP_ERROR_MISMATCH, "%s weight '%s' has shape %s but %s variable '%s' has shape %s", where,
                     weight->name, sp_shape_describe(&found, found_text, sizeof found_text),
                     sp_layer_describe(target->variable->layer), target->variable->name,
                     sp_shape_describe(&expected, expected_text, sizeof expected_text));
    }
    target->assigned = 1;
    targets[i] = target;
  }
  for (int i = 0; i < named_count; i++)
    if (!named[i].assigned)
      return sp_fail(SP_ERROR_MISMATCH, "%s: no weight in the manifest gives a value to '%s' of %s", where,
                     named[i].name, sp_layer_describe(named[i].variable->layer));
  return SP_OK;
}

/* Fills one variable: weights stored as the variable holds them are viewed in the group's
 * mapping (map_weights) or read straight from the shards into its tensor (no copy of the
 * model's bytes in between); quantized, float16, bool or
 * differently typed weights are read into a buffer of their stored size and converted. */
static sp_status read_weight(const manifest_weight *weight, const weight_group *group, sp_variable *variable,
                             const char *where) {
  sp_tensor *destination = variable->value;
  if (reads_directly(weight, destination)) {
    const uint8_t *stored = group->mapping ? group->bytes + weight->offset : NULL;
    if (stored && destination->size && (uintptr_t)stored % sp_dtype_size(destination->dtype) == 0) {
      sp_tensor_view(destination, group->mapping, stored);
    } else {
      SP_TRY(sp_tensor_prepare_overwrite(destination));
      SP_TRY(read_span(group, weight->offset, weight->bytes, destination->data, where));
    }
    variable->initialized = 1;
    return SP_OK;
  }
  uint8_t *bytes = sp_alloc(weight->bytes ? (size_t)weight->bytes : 1);
  if (!bytes) return SP_ERROR_NO_MEMORY;
  sp_status status = read_span(group, weight->offset, weight->bytes, bytes, where);
  sp_tensor *value = status == SP_OK ? decode(weight, bytes) : NULL;
  if (status == SP_OK && !value) status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK) {
    char source[5400];
    snprintf(source, sizeof source, "%s weight '%s'", where, weight->name);
    status = sp_variable_assign(variable, value, source);
  }
  sp_tensor_free(value);
  free(bytes);
  return status;
}

static sp_status assign_weights(sp_model *model, const manifest_weight *weights, const weight_group *groups,
                                const int *group_of, int weight_count, const char *where) {
  named_variable *named = NULL;
  int named_count = 0;
  named_variable **targets = sp_alloc_zeroed((size_t)weight_count + 1, sizeof *targets);
  sp_status status = targets ? collect_named(model, &named, &named_count) : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = match_weights(model, named, named_count, weights, weight_count, where, targets);
  for (int i = 0; i < weight_count && status == SP_OK; i++)
    if (targets[i]) status = read_weight(&weights[i], &groups[group_of[i]], targets[i]->variable, where);
  free_named(named, named_count);
  free(targets);
  return status;
}

static sp_status load_weights_from(sp_model *model, const json_object *root, const char *json_path,
                                   const sp_load_options *options) {
  char where[4200];
  snprintf(where, sizeof where, "'%s'", json_path);
  const json_object *manifest = sp_json_member(root, "weightsManifest");
  if (!manifest || !json_object_is_type(manifest, json_type_array))
    return sp_fail(SP_ERROR_FORMAT, "%s: there is no weightsManifest list", where);
  size_t group_count = json_object_array_length(manifest);
  size_t weight_total = 0;
  for (size_t g = 0; g < group_count; g++) {
    const json_object *weights = sp_json_member(json_object_array_get_idx(manifest, g), "weights");
    if (!weights || !json_object_is_type(weights, json_type_array))
      return sp_fail(SP_ERROR_FORMAT, "%s: weightsManifest[%zu] has no weights list", where, g);
    weight_total += json_object_array_length(weights);
  }
  if (weight_total > SP_TFJS_MAX_WEIGHTS || group_count > SP_TFJS_MAX_WEIGHTS)
    return sp_fail(SP_ERROR_UNSAFE, "%s: %zu weights in %zu groups is more than savepoint accepts", where, weight_total,
                   group_count);
  manifest_weight *weights = sp_alloc_zeroed(weight_total + 1, sizeof *weights);
  int *group_of = sp_alloc_zeroed(weight_total + 1, sizeof *group_of);
  weight_group *groups = sp_alloc_zeroed(group_count + 1, sizeof *groups);
  char *directory = sp_path_dirname(json_path);
  sp_status status = weights && group_of && groups && directory ? SP_OK : SP_ERROR_NO_MEMORY;
  size_t next = 0;
  uint64_t grand_total = 0;
  for (size_t g = 0; g < group_count && status == SP_OK; g++) {
    const json_object *group = json_object_array_get_idx(manifest, g);
    const json_object *list = sp_json_member(group, "weights"), *paths = sp_json_member(group, "paths");
    if (!paths || !json_object_is_type(paths, json_type_array)) {
      status = sp_fail(SP_ERROR_FORMAT, "%s: weightsManifest[%zu] has no paths list", where, g);
      break;
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < json_object_array_length(list) && status == SP_OK; i++, next++) {
      status = parse_weight(json_object_array_get_idx(list, i), where, options, &weights[next]);
      weights[next].offset = offset;
      group_of[next] = (int)g;
      if (status == SP_OK && weights[next].bytes > UINT64_MAX - offset)
        status = sp_fail(SP_ERROR_UNSAFE, "%s: the weights' sizes overflow", where);
      offset += weights[next].bytes;
    }
    grand_total += offset;
    if (status == SP_OK && grand_total > options->max_total_bytes)
      status = sp_fail(SP_ERROR_UNSAFE, "%s: %llu bytes of weights is over the limit of %llu", where,
                       (unsigned long long)grand_total, (unsigned long long)options->max_total_bytes);
    if (status == SP_OK) status = open_group(directory, paths, offset, where, options, &groups[g]);
    if (status == SP_OK && options->map_weights && offset > 0) map_group(&groups[g]);
  }
  if (status == SP_OK) status = assign_weights(model, weights, groups, group_of, (int)weight_total, where);
  for (size_t g = 0; groups && g < group_count; g++) close_group(&groups[g]);
  free(groups);
  free(group_of);
  free(weights);
  free(directory);
  return status;
}

/* ---- reading the model ---- */

/* tfjs-layers writes GRU without reset_after and means False (its GRU has no reset_after); the
 * Keras 2 default would be True. Make the tfjs meaning explicit before nn reads it. */
static void write_tfjs_defaults(const char *class_name, json_object *config) {
  if (strcmp(class_name, "GRU") == 0 && !sp_json_member(config, "reset_after"))
    json_object_object_add(config, "reset_after", json_object_new_boolean(0));
}

static sp_status read_model_json(const char *path, const sp_load_options *options, char **json_path, json_object **root) {
  *json_path = model_json_path(path);
  if (!*json_path) return SP_ERROR_NO_MEMORY;
  SP_TRY(sp_codec_read_json(*json_path, options->max_config_bytes, root));
  if (!is_tfjs(*root))
    return sp_fail(SP_ERROR_FORMAT, "'%s' is JSON but not a TensorFlow.js model (no modelTopology or weightsManifest)",
                   *json_path);
  if (is_graph_model(*root))
    return sp_fail(SP_ERROR_UNSUPPORTED, "'%s' is a TensorFlow.js graph model (a converted TensorFlow graph); savepoint "
                   "loads TensorFlow.js layers models", *json_path);
  return SP_OK;
}

static sp_status load(const char *path, const sp_load_options *options, sp_model **model) {
  char *json_path = NULL;
  json_object *root = NULL;
  *model = NULL;
  sp_status status = read_model_json(path, options, &json_path, &root);
  json_object *topology = NULL;
  if (status == SP_OK) {
    const json_object *object = topology_model(root);
    if (!object || !sp_json_member(object, "class_name"))
      status = sp_fail(SP_ERROR_FORMAT, "'%s': modelTopology holds no model (class_name/config)", json_path);
    else if (json_object_deep_copy((json_object *)object, &topology, NULL) != 0)
      status = SP_ERROR_NO_MEMORY;
  }
  if (status == SP_OK) {
    sp_keras_config_visit_layers(topology, write_tfjs_defaults);
    char context[4200];
    snprintf(context, sizeof context, "'%s' modelTopology", json_path);
    status = sp_keras_model_from_object(topology, 2, context, model);
  }
  if (status == SP_OK) status = load_weights_from(*model, root, json_path, options);
  if (status != SP_OK) {
    sp_model_free(*model);
    *model = NULL;
  }
  json_object_put(topology);
  json_object_put(root);
  free(json_path);
  return status;
}

static sp_status load_weights(sp_model *model, const char *path, const sp_load_options *options) {
  char *json_path = NULL;
  json_object *root = NULL;
  sp_status status = read_model_json(path, options, &json_path, &root);
  if (status == SP_OK) status = load_weights_from(model, root, json_path, options);
  json_object_put(root);
  free(json_path);
  return status;
}

/* ---- writing ---- */

/* Cuts the concatenated tensor bytes into shards, writing each piece straight from its tensor
 * into the shard file (no shard-sized buffer). The shards are staged files inside the temporary
 * directory: each is handed to writeback as it is finished, and the directory's publication
 * fsyncs them all once (core/file_parts.h). */
typedef struct shard_writer {
  const char *directory;
  uint64_t shard_bytes;
  int shard_count, shard;   /* shard is 1-based; 0 before the first */
  uint64_t written;         /* into the current shard */
  sp_staged_file file;
  int open;
} shard_writer;

static char *shard_name(int index, int count) { return sp_strdupf("group1-shard%dof%d.bin", index, count); }

static sp_status finish_shard(shard_writer *writer) {
  if (!writer->open) return SP_OK;
  writer->open = 0;
  return sp_staged_file_close(&writer->file);
}

static sp_status next_shard(shard_writer *writer) {
  SP_TRY(finish_shard(writer));
  writer->shard++;
  writer->written = 0;
  char *name = shard_name(writer->shard, writer->shard_count);
  sp_status status = name ? sp_staged_file_open(writer->directory, name, &writer->file) : SP_ERROR_NO_MEMORY;
  writer->open = status == SP_OK;
  free(name);
  return status;
}

static sp_status write_bytes(shard_writer *writer, const uint8_t *data, uint64_t size) {
  while (size > 0) {
    if (!writer->open || writer->written == writer->shard_bytes) SP_TRY(next_shard(writer));
    uint64_t room = writer->shard_bytes - writer->written, chunk = size < room ? size : room;
    SP_TRY(sp_staged_file_write(&writer->file, data, (size_t)chunk));
    writer->written += chunk;
    data += chunk;
    size -= chunk;
  }
  return SP_OK;
}

/* The variables in converter order (per top-level layer, Keras 2 weight order). */
static sp_status ordered_variables(const sp_model *model, sp_variable ***list, int *count) {
  size_t capacity = 0;
  *list = NULL;
  *count = 0;
  for (int l = 0; l < model->layer_count; l++) {
    sp_variable **variables;
    int layer_count;
    SP_TRY(sp_keras2_layer_weights(model->layers[l], &variables, &layer_count));
    sp_status status = SP_RESERVE(*list, capacity, (size_t)*count + (size_t)layer_count + 1);
    for (int i = 0; i < layer_count && status == SP_OK; i++) (*list)[(*count)++] = variables[i];
    free(variables);
    SP_TRY(status);
  }
  return SP_OK;
}

static json_object *model_json(const sp_model *model, sp_variable **variables, int count, int shard_count) {
  json_object *root = json_object_new_object();
  json_object_object_add(root, "format", json_object_new_string("layers-model"));
  json_object_object_add(root, "generatedBy", json_object_new_string("savepoint v" SP_VERSION));
  json_object_object_add(root, "convertedBy", NULL);
  json_object *topology = json_object_new_object();
  json_object_object_add(topology, "keras_version", json_object_new_string(SP_KERAS2_VERSION));
  json_object_object_add(topology, "backend", json_object_new_string("tensorflow"));
  json_object_object_add(topology, "model_config", sp_keras2_model_config(model));
  json_object_object_add(root, "modelTopology", topology);
  json_object *group = json_object_new_object(), *paths = json_object_new_array(), *weights = json_object_new_array();
  for (int i = 1; i <= shard_count; i++) {
    char *name = shard_name(i, shard_count);
    json_object_array_add(paths, json_object_new_string(name ? name : ""));
    free(name);
  }
  for (int i = 0; i < count; i++) {
    json_object *weight = json_object_new_object(), *shape = json_object_new_array();
    char *name = sp_tfjs_weight_name(variables[i]);
    json_object_object_add(weight, "name", json_object_new_string(name ? name : ""));
    free(name);
    for (int d = 0; d < variables[i]->value->rank; d++) json_object_array_add(shape, json_object_new_int64(variables[i]->value->shape[d]));
    json_object_object_add(weight, "shape", shape);
    json_object_object_add(weight, "dtype", json_object_new_string("float32"));
    json_object_array_add(weights, weight);
  }
  json_object_object_add(group, "paths", paths);
  json_object_object_add(group, "weights", weights);
  json_object *manifest = json_object_new_array();
  json_object_array_add(manifest, group);
  json_object_object_add(root, "weightsManifest", manifest);
  return root;
}

/* Layers TF.js cannot run, refused before anything is written (tfjs-layers 4.x has no GRU with
 * reset_after=True, Keras 3's and tf.keras 2's default). */
static sp_status check_exportable(const sp_model *model) {
  for (int i = 0; i < model->layer_count; i++) {
    const sp_layer *layer = model->layers[i];
    if (layer->inner_model) {
      SP_TRY(check_exportable(layer->inner_model));
      continue;
    }
    if (strcmp(layer->class->class_name, "GRU") != 0) continue;
    int reset_after = 0;
    SP_TRY(sp_json_get_bool(layer->config, "reset_after", layer->keras_major >= 3, sp_layer_describe(layer),
                            &reset_after));
    if (reset_after)
      return sp_fail(SP_ERROR_UNSUPPORTED, "%s has reset_after=True, which TensorFlow.js does not implement; a model "
                     "using it cannot be exported to TF.js (build the GRU with reset_after=False)", sp_layer_describe(layer));
  }
  return SP_OK;
}

/* Where the model goes: DIR/NAME.json for a .json path, else DIR/model.json. */
static sp_status split_target(const char *path, char **directory, char **json_name) {
  if (sp_path_has_suffix(path, ".json")) {
    *directory = sp_path_dirname(path);
    *json_name = sp_strdup(sp_path_basename(path));
  } else {
    size_t length = strlen(path);
    while (length > 1 && path[length - 1] == '/') length--; /* "web/" names the directory "web" */
    *directory = sp_strndup(path, length);
    *json_name = sp_strdup("model.json");
  }
  return *directory && *json_name ? SP_OK : SP_ERROR_NO_MEMORY;
}

/* Replacing a directory is only safe when it is a TF.js model (or empty, or absent). */
static sp_status check_replaceable(const char *directory, const char *json_name) {
  if (!sp_path_exists(directory)) return SP_OK;
  if (!sp_is_directory(directory))
    return sp_fail(SP_ERROR_EXISTS, "'%s' exists and is not a directory; a TensorFlow.js model is a directory", directory);
  char *json_path = sp_path_join(directory, json_name);
  int is_model = json_path && sp_is_regular_file(json_path);
  free(json_path);
  if (is_model) return SP_OK;
  sp_probe_info info;
  SP_TRY(sp_probe(directory, &info));
  if (info.format == SP_FORMAT_TFJS || sp_directory_is_empty(directory)) return SP_OK;
  return sp_fail(SP_ERROR_EXISTS, "'%s' already exists and is not a TensorFlow.js model (%s); savepoint replaces a "
                 "TF.js directory whole, so it will not overwrite this one — choose a new directory",
                 directory, info.description);
}

static sp_status save_to(const sp_model *model, const char *path, const sp_save_options *options) {
  char *directory = NULL, *json_name = NULL, *temp = NULL;
  sp_variable **variables = NULL;
  int count = 0;
  sp_status status = check_exportable(model);
  if (status == SP_OK) status = split_target(path, &directory, &json_name);
  if (status == SP_OK) status = check_replaceable(directory, json_name);
  if (status == SP_OK) status = ordered_variables(model, &variables, &count);
  uint64_t total = 0;
  for (int i = 0; i < count; i++) total += variables[i]->value->size;
  uint64_t shard_bytes = options->tfjs_shard_bytes;
  int shard_count = total ? (int)((total + shard_bytes - 1) / shard_bytes) : 0;
  if (status == SP_OK && total && (total + shard_bytes - 1) / shard_bytes > 99999)
    status = sp_fail(SP_ERROR_INVALID_ARGUMENT, "%llu bytes in shards of %llu would need over 99999 files; use a larger "
                     "shard size", (unsigned long long)total, (unsigned long long)shard_bytes);
  char *parent = status == SP_OK ? sp_path_dirname(directory) : NULL;
  if (status == SP_OK) status = parent ? sp_make_directories(parent) : SP_ERROR_NO_MEMORY;
  free(parent);
  if (status == SP_OK) status = sp_temp_directory_for(directory, &temp);
  shard_writer writer = {.directory = temp, .shard_bytes = shard_bytes, .shard_count = shard_count};
  for (int i = 0; i < count && status == SP_OK; i++)
    status = write_bytes(&writer, variables[i]->value->data, variables[i]->value->size);
  if (status == SP_OK) status = finish_shard(&writer);
  else if (writer.open) sp_staged_file_abort(&writer.file);
  if (status == SP_OK) {
    json_object *root = model_json(model, variables, count, shard_count);
    char *text = root ? sp_json_dumps(root, 0) : NULL;
    char *json_path = sp_path_join(temp, json_name);
    status = text && json_path ? sp_write_file_atomic(json_path, text, strlen(text)) : SP_ERROR_NO_MEMORY;
    free(json_path);
    free(text);
    json_object_put(root);
  }
  if (status == SP_OK) {
    status = sp_publish_directory(temp, directory, 1);
  } else if (temp) {
    sp_remove_tree(temp);
  }
  free(temp);
  free(variables);
  free(directory);
  free(json_name);
  return status;
}

static sp_status save(const sp_model *model, const char *path, const sp_save_options *options) {
  return save_to(model, path, options);
}

const sp_codec sp_tfjs_codec = {
    .format = SP_FORMAT_TFJS,
    .name = "tfjs",
    .description = "a TensorFlow.js layers model (model.json + weight shards)",
    .probe = probe,
    .load = load,
    .save = save,
    .load_weights = load_weights,
    .save_weights = save,
};
