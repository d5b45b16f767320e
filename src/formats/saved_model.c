/* saved_model.c — reading a SavedModel directory (see saved_model.h).
 *
 * Guarantees: every string the later layers use as a path component (asset file names) is a plain
 * name; tag lists and signature maps have no duplicate keys; every pointer in the meta graph views
 * points into memory owned by the model. The variables listing is the only part that needs the
 * tensor-bundle reader, and it lives in list_variables().
 */
#include "formats/saved_model.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/memory.h"
#include "formats/pbtext.h"
#include "formats/proto_read.h"
#include "formats/tf_bundle.h"

static const char asset_type_url_suffix[] = "/tensorflow.AssetFileDef";

/* ---------- meta graph views ---------- */

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *join_tags(const Tensorflow__MetaGraphDef__MetaInfoDef *info) {
  sp_buffer buffer = {0};
  size_t count = info ? info->n_tags : 0;
  for (size_t i = 0; i < count; i++)
    if (sp_buffer_printf(&buffer, i ? ",%s" : "%s", info->tags[i]) != SP_OK) {
      sp_buffer_free(&buffer);
      return NULL;
    }
  if (sp_buffer_append(&buffer, "", 1) != SP_OK) {
    sp_buffer_free(&buffer);
    return NULL;
  }
  return (char *)sp_buffer_detach(&buffer, NULL);
}

static sp_status check_asset_filename(const char *filename, const char *what) {
  if (!filename || !*filename || strchr(filename, '/') || strcmp(filename, ".") == 0 || strcmp(filename, "..") == 0)
    return sp_fail(SP_ERROR_UNSAFE, "%s: asset file name '%s' is not a plain name inside assets/", what,
                   filename ? filename : "");
  return SP_OK;
}

static sp_status add_asset(sp_saved_model_meta_graph *view, size_t *capacity, const Tensorflow__AssetFileDef *asset,
                           const char *what) {
  SP_TRY(check_asset_filename(asset->filename, what));
  const Tensorflow__TensorInfo *info = asset->tensor_info;
  if (!info || info->encoding_case != TENSORFLOW__TENSOR_INFO__ENCODING_NAME || !*info->name)
    return sp_fail(SP_ERROR_FORMAT, "%s: asset '%s' names no tensor to feed its path to", what, asset->filename);
  SP_TRY(SP_RESERVE(view->assets, *capacity, view->asset_count + 1));
  view->assets[view->asset_count].filename = asset->filename;
  view->assets[view->asset_count].tensor_name = info->name;
  view->asset_count++;
  return SP_OK;
}

/* TF1 exports keep AssetFileDefs packed in Any messages of collection "saved_model_assets". */
static sp_status collect_legacy_assets(sp_saved_model *model, sp_saved_model_meta_graph *view, size_t *capacity,
                                       const char *what) {
  const Tensorflow__MetaGraphDef *meta_graph = view->proto;
  for (size_t i = 0; i < meta_graph->n_collection_def; i++) {
    const Tensorflow__MetaGraphDef__CollectionDefEntry *entry = meta_graph->collection_def[i];
    if (strcmp(entry->key, "saved_model_assets") != 0 || !entry->value ||
        entry->value->kind_case != TENSORFLOW__COLLECTION_DEF__KIND_ANY_LIST)
      continue;
    const Tensorflow__CollectionDef__AnyList *list = entry->value->any_list;
    for (size_t j = 0; j < list->n_value; j++) {
      const Google__Protobuf__Any *any = list->value[j];
      if (!sp_path_has_suffix(any->type_url, asset_type_url_suffix)) continue;
      ProtobufCMessage *unpacked;
      SP_TRY(sp_proto_unpack(&tensorflow__asset_file_def__descriptor, any->value.data, any->value.len,
                             "collection saved_model_assets", &unpacked));
      sp_status status = SP_RESERVE(model->owned_assets, model->owned_asset_capacity, model->owned_asset_count + 1);
      if (status != SP_OK) {
        protobuf_c_message_free_unpacked(unpacked, NULL);
        return status;
      }
      model->owned_assets[model->owned_asset_count++] = (Tensorflow__AssetFileDef *)unpacked;
      SP_TRY(add_asset(view, capacity, (Tensorflow__AssetFileDef *)unpacked, what));
    }
  }
  return SP_OK;
}

static sp_status build_meta_graph_view(sp_saved_model *model, size_t index, const char *what) {
  sp_saved_model_meta_graph *view = &model->meta_graphs[index];
  const Tensorflow__MetaGraphDef *meta_graph = model->proto->meta_graphs[index];
  view->proto = meta_graph;
  if (!(view->tag_set = join_tags(meta_graph->meta_info_def))) return SP_ERROR_NO_MEMORY;

  if (meta_graph->n_signature_def) {
    view->signature_keys = sp_alloc_zeroed(meta_graph->n_signature_def, sizeof *view->signature_keys);
    if (!view->signature_keys) return SP_ERROR_NO_MEMORY;
  }
  for (size_t i = 0; i < meta_graph->n_signature_def; i++) {
    if (!meta_graph->signature_def[i]->value)
      return sp_fail(SP_ERROR_FORMAT, "%s: meta graph %zu: signature '%s' is empty", what, index,
                     meta_graph->signature_def[i]->key);
    view->signature_keys[i] = meta_graph->signature_def[i]->key;
  }
  view->signature_count = meta_graph->n_signature_def;
  if (view->signature_count) qsort(view->signature_keys, view->signature_count, sizeof *view->signature_keys, compare_strings);
  for (size_t i = 1; i < view->signature_count; i++)
    if (strcmp(view->signature_keys[i - 1], view->signature_keys[i]) == 0)
      return sp_fail(SP_ERROR_FORMAT, "%s: meta graph [%s]: signature key '%s' appears twice", what, view->tag_set,
                     view->signature_keys[i]);

  size_t capacity = 0;
  for (size_t i = 0; i < meta_graph->n_asset_file_def; i++)
    SP_TRY(add_asset(view, &capacity, meta_graph->asset_file_def[i], what));
  if (meta_graph->n_asset_file_def == 0) SP_TRY(collect_legacy_assets(model, view, &capacity, what));
  return SP_OK;
}

static sp_status build_views(sp_saved_model *model, const char *what) {
  sp_saved_model_proto *proto = model->proto;
  if (proto->n_meta_graphs == 0) return sp_fail(SP_ERROR_FORMAT, "%s: the SavedModel holds no meta graph", what);
  model->meta_graphs = sp_alloc_zeroed(proto->n_meta_graphs, sizeof *model->meta_graphs);
  if (!model->meta_graphs) return SP_ERROR_NO_MEMORY;
  model->meta_graph_count = proto->n_meta_graphs;
  for (size_t i = 0; i < proto->n_meta_graphs; i++) SP_TRY(build_meta_graph_view(model, i, what));
  return SP_OK;
}

/* ---------- what a path holds, for errors ---------- */

static int all_digits(const char *name) {
  if (!*name) return 0;
  for (const char *p = name; *p; p++)
    if (!isdigit((unsigned char)*p)) return 0;
  return 1;
}

static const char *describe_bytes(const char *path, const uint8_t *head, size_t length) {
  const char *name = sp_path_basename(path);
  if (length >= 4 && memcmp(head, "PK\003\004", 4) == 0)
    return sp_path_has_suffix(name, ".keras") ? "a Keras .keras archive" : "a zip archive";
  if (length >= 8 && memcmp(head, "\211HDF\r\n\032\n", 8) == 0) return "an HDF5 file: a Keras .h5 model or weights";
  if (length >= 8 && memcmp(head + 4, "TFL3", 4) == 0) return "a TensorFlow Lite flatbuffer";
  if (strcmp(name, "export.meta") == 0) return "the meta graph of a legacy SessionBundle export";
  if (strcmp(name, "saved_model.pb") == 0 || strcmp(name, "saved_model.pbtxt") == 0)
    return "the SavedModel protobuf itself: pass its directory";
  if (sp_path_has_suffix(name, ".index")) return "the index of a TensorFlow checkpoint, whose prefix is the name without .index";
  if (strstr(name, ".data-") != NULL) return "a data shard of a TensorFlow checkpoint";
  if (strcmp(name, "model.json") == 0 || sp_path_has_suffix(name, ".json"))
    return "a JSON file: a TF.js model.json or a Keras config";
  if (strcmp(name, "checkpoint") == 0) return "a TensorFlow checkpoint state file";
  if (sp_path_has_suffix(name, ".npy")) return "a NumPy array";
  return NULL;
}

static const char *describe_file(const char *path) {
  uint8_t head[16] = {0};
  size_t length = 0;
  FILE *file = fopen(path, "rb");
  if (file) {
    length = fread(head, 1, sizeof head, file);
    fclose(file);
  }
  return describe_bytes(path, head, length);
}

static sp_status explain_file(const char *path) {
  const char *description = describe_file(path);
  uint64_t size = 0;
  (void)sp_file_size(path, &size);
  if (description)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "'%s' is a file, %s, not a SavedModel directory; a SavedModel is a directory holding "
                   "saved_model.pb (for other formats use `savepoint show %s`)",
                   path, description, path);
  return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                 "'%s' is a file of %llu bytes, not a SavedModel directory (a directory holding saved_model.pb)",
                 path, (unsigned long long)size);
}

static int has_saved_model(const char *directory) {
  char *pb = sp_path_join(directory, "saved_model.pb");
  char *pbtxt = sp_path_join(directory, "saved_model.pbtxt");
  int found = (pb && sp_is_regular_file(pb)) || (pbtxt && sp_is_regular_file(pbtxt));
  free(pb);
  free(pbtxt);
  return found;
}

static int contains_name(char *const *names, size_t count, const char *name) {
  for (size_t i = 0; i < count; i++)
    if (strcmp(names[i], name) == 0) return 1;
  return 0;
}

/* Versions a TF Serving base path holds: numeric subdirectories that contain a SavedModel. */
static sp_status describe_versions(const char *directory, char *const *names, size_t count, sp_buffer *versions) {
  for (size_t i = 0; i < count; i++) {
    if (!all_digits(names[i])) continue;
    char *child = sp_path_join(directory, names[i]);
    if (!child) return SP_ERROR_NO_MEMORY;
    int found = sp_is_directory(child) && has_saved_model(child);
    free(child);
    if (found) SP_TRY(sp_buffer_printf(versions, versions->size ? ", %s" : "%s", names[i]));
  }
  return SP_OK;
}

static const char *describe_subdirectory(const char *path) {
  if (!sp_is_directory(path)) return NULL;
  if (has_saved_model(path)) return "a SavedModel directory: pass this one";
  char *json = sp_path_join(path, "model.json");
  int tfjs = json && sp_is_regular_file(json);
  free(json);
  return tfjs ? "a directory holding a TF.js model.json" : NULL;
}

/* "a.h5 (an HDF5 file ...); TensorFlow checkpoint 'model.ckpt-1'" for what a directory holds. */
static sp_status describe_contents(const char *directory, char *const *names, size_t count, sp_buffer *out) {
  size_t described = 0;
  for (size_t i = 0; i < count && described < 12; i++) {
    const char *separator = described ? "; " : "";
    if (strstr(names[i], ".data-") || strcmp(names[i], "checkpoint") == 0) continue; /* told by the .index */
    if (sp_path_has_suffix(names[i], ".index")) {
      SP_TRY(sp_buffer_printf(out, "%sTensorFlow checkpoint '%.*s'", separator, (int)(strlen(names[i]) - 6), names[i]));
      described++;
      continue;
    }
    char *child = sp_path_join(directory, names[i]);
    if (!child) return SP_ERROR_NO_MEMORY;
    const char *description = sp_is_regular_file(child) ? describe_file(child) : describe_subdirectory(child);
    free(child);
    if (!description) continue;
    SP_TRY(sp_buffer_printf(out, "%s%s (%s)", separator, names[i], description));
    described++;
  }
  for (size_t i = 0; i < count && described == 0 && i < 8; i++)
    SP_TRY(sp_buffer_printf(out, "%s%s", i ? ", " : "", names[i]));
  if (count > 8 && described == 0) SP_TRY(sp_buffer_printf(out, ", ... (%zu entries)", count));
  return sp_buffer_append(out, "", 1);
}

static sp_status explain_directory(const char *directory) {
  char **names;
  size_t count;
  SP_TRY(sp_list_directory(directory, SP_SAVED_MODEL_MAX_LISTING, &names, &count));
  sp_status status;
  sp_buffer text = {0};
  if (contains_name(names, count, "saved_model.cpb")) {
    status = sp_fail(SP_ERROR_UNSUPPORTED,
                     "'%s' holds a chunked SavedModel (saved_model.cpb, written by TF >= 2.15 for protos over "
                     "2 GB), which savepoint does not read",
                     directory);
  } else if (contains_name(names, count, "export.meta")) {
    status = sp_fail(SP_ERROR_UNSUPPORTED,
                     "'%s' is a legacy SessionBundle export (export.meta with export-* checkpoint files), not a "
                     "SavedModel; re-export it as a SavedModel (in TF 1.x: load it with session_bundle and save "
                     "with tf.saved_model.simple_save or SavedModelBuilder)",
                     directory);
  } else if ((status = describe_versions(directory, names, count, &text)) == SP_OK && text.size) {
    status = sp_buffer_append(&text, "", 1);
    if (status == SP_OK)
      status = sp_fail(SP_ERROR_NOT_FOUND,
                       "'%s' holds no saved_model.pb; it looks like a TF Serving model base path with versions "
                       "%s: pass one version directory, e.g. '%s/%s'",
                       directory, (char *)text.data, directory, names[count - 1]);
  } else if (status == SP_OK && count == 0) {
    status = sp_fail(SP_ERROR_NOT_FOUND, "'%s' is an empty directory, not a SavedModel (no saved_model.pb)", directory);
  } else if (status == SP_OK && (status = describe_contents(directory, names, count, &text)) == SP_OK) {
    status = sp_fail(SP_ERROR_NOT_FOUND,
                     "'%s' holds no saved_model.pb, so it is not a SavedModel; it contains: %s (for a Keras file, "
                     "a checkpoint prefix or a TF.js model.json use `savepoint show <path>`)",
                     directory, (char *)text.data);
  }
  sp_buffer_free(&text);
  sp_free_names(names, count);
  return status;
}

static sp_status explain_missing_path(const char *path) {
  char *index = sp_strdupf("%s.index", path);
  if (!index) return SP_ERROR_NO_MEMORY;
  int checkpoint = sp_is_regular_file(index);
  free(index);
  if (checkpoint)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "'%s' is a TensorFlow checkpoint prefix, not a SavedModel directory (use `savepoint show %s`)",
                   path, path);
  return sp_fail(SP_ERROR_NOT_FOUND, "no such SavedModel directory '%s'", path);
}

/* ---------- reading ---------- */

static sp_status parse_text(const char *path, sp_saved_model_proto **proto) {
  uint8_t *text;
  size_t size;
  SP_TRY(sp_read_file(path, SP_SAVED_MODEL_MAX_BYTES, &text, &size));
  ProtobufCMessage *message = NULL;
  sp_status status = sp_pbtext_parse(&tensorflow__saved_model__descriptor, (const char *)text, size, path, &message);
  free(text);
  *proto = (sp_saved_model_proto *)message;
  return status;
}

static sp_status read_side_file(const char *directory, const char *name, const ProtobufCMessageDescriptor *descriptor,
                                ProtobufCMessage **message) {
  *message = NULL;
  char *path = sp_path_join(directory, name);
  if (!path) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  if (sp_path_exists(path)) status = sp_proto_read_file(descriptor, path, SP_SAVED_MODEL_MAX_SIDE_FILE_BYTES, message);
  free(path);
  return status;
}

static sp_status list_subdirectory(const char *directory, const char *name, char ***names, size_t *count) {
  *names = NULL;
  *count = 0;
  char *path = sp_path_join(directory, name);
  if (!path) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_OK;
  if (sp_is_directory(path)) status = sp_list_directory(path, SP_SAVED_MODEL_MAX_LISTING, names, count);
  free(path);
  return status;
}

char *sp_saved_model_variables_prefix(const sp_saved_model *model) {
  return sp_strdupf("%s/variables/variables", model->directory);
}

/* The keys, dtypes and shapes in variables/ (the bundle's index only; no tensor data is read). */
static sp_status list_variables(sp_saved_model *model) {
  char *prefix = sp_saved_model_variables_prefix(model);
  if (!prefix) return SP_ERROR_NO_MEMORY;
  sp_bundle_reader *reader;
  sp_status status = sp_bundle_open(prefix, &reader);
  free(prefix);
  SP_TRY(status);
  size_t count = sp_bundle_count(reader);
  model->variables = sp_alloc_zeroed(count + 1, sizeof *model->variables);
  status = model->variables ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < count && status == SP_OK; i++) {
    const sp_bundle_entry *entry = sp_bundle_entry_at(reader, i);
    sp_saved_model_variable *variable = &model->variables[i];
    if (!(variable->key = sp_strdup(entry->key))) status = SP_ERROR_NO_MEMORY;
    variable->dtype = entry->dtype;
    variable->rank = entry->rank;
    memcpy(variable->shape, entry->shape, sizeof variable->shape);
    model->variable_count = i + 1;
  }
  sp_bundle_close(reader);
  model->variables_listed = status == SP_OK;
  return status;
}

static sp_status read_listings(sp_saved_model *model) {
  SP_TRY(list_subdirectory(model->directory, "assets", &model->asset_files, &model->asset_file_count));
  SP_TRY(list_subdirectory(model->directory, "variables", &model->variable_files, &model->variable_file_count));
  model->has_variables = contains_name(model->variable_files, model->variable_file_count, "variables.index");
  if (model->has_variables) SP_TRY(list_variables(model));
  return SP_OK;
}

static sp_status read_directory(const char *directory, sp_saved_model *model) {
  if (!(model->directory = sp_strdup(directory))) return SP_ERROR_NO_MEMORY;
  char *binary = sp_path_join(directory, "saved_model.pb");
  char *text = sp_path_join(directory, "saved_model.pbtxt");
  if (!binary || !text) {
    free(binary);
    free(text);
    return SP_ERROR_NO_MEMORY;
  }
  sp_status status;
  ProtobufCMessage *message = NULL;
  if (sp_path_exists(binary)) {
    model->source_path = binary;
    free(text);
    status = sp_proto_read_file(&tensorflow__saved_model__descriptor, binary, SP_SAVED_MODEL_MAX_BYTES, &message);
    model->proto = (sp_saved_model_proto *)message;
  } else if (sp_path_exists(text)) {
    model->source_path = text;
    model->text_format = 1;
    free(binary);
    status = parse_text(text, &model->proto);
  } else {
    free(binary);
    free(text);
    return sp_fail(SP_ERROR_NOT_FOUND, "'%s' lost its saved_model.pb while being read", directory);
  }
  SP_TRY(status);
  SP_TRY(build_views(model, model->source_path));
  SP_TRY(read_side_file(directory, "fingerprint.pb", &tensorflow__fingerprint_def__descriptor, &message));
  model->fingerprint = (sp_fingerprint_proto *)message;
  SP_TRY(read_side_file(directory, "keras_metadata.pb", &third_party__py__keras__protobuf__saved_metadata__descriptor,
                        &message));
  model->keras_metadata = (sp_keras_metadata_proto *)message;
  return read_listings(model);
}

sp_status sp_saved_model_read(const char *directory, sp_saved_model **model) {
  *model = NULL;
  if (!sp_path_exists(directory)) return explain_missing_path(directory);
  if (!sp_is_directory(directory)) return explain_file(directory);
  if (!has_saved_model(directory)) return explain_directory(directory);
  sp_saved_model *result = sp_alloc_zeroed(1, sizeof *result);
  if (!result) return SP_ERROR_NO_MEMORY;
  sp_status status = read_directory(directory, result);
  if (status != SP_OK) {
    sp_saved_model_free(result);
    return sp_error_context(status, "reading SavedModel '%s'", directory);
  }
  *model = result;
  return SP_OK;
}

sp_status sp_saved_model_parse(const uint8_t *data, size_t size, const char *what, sp_saved_model **model) {
  *model = NULL;
  sp_saved_model *result = sp_alloc_zeroed(1, sizeof *result);
  if (!result) return SP_ERROR_NO_MEMORY;
  ProtobufCMessage *message = NULL;
  sp_status status = SP_ERROR_NO_MEMORY;
  if ((result->directory = sp_strdup("")) && (result->source_path = sp_strdup(what)))
    status = sp_proto_unpack(&tensorflow__saved_model__descriptor, data, size, what, &message);
  result->proto = (sp_saved_model_proto *)message;
  if (status == SP_OK) status = build_views(result, what);
  if (status != SP_OK) {
    sp_saved_model_free(result);
    return status;
  }
  *model = result;
  return SP_OK;
}

void sp_saved_model_free(sp_saved_model *model) {
  if (!model) return;
  for (size_t i = 0; i < model->meta_graph_count; i++) {
    free(model->meta_graphs[i].tag_set);
    free(model->meta_graphs[i].signature_keys);
    free(model->meta_graphs[i].assets);
  }
  free(model->meta_graphs);
  for (size_t i = 0; i < model->owned_asset_count; i++)
    protobuf_c_message_free_unpacked(&model->owned_assets[i]->base, NULL);
  free(model->owned_assets);
  if (model->proto) protobuf_c_message_free_unpacked(&model->proto->base, NULL);
  if (model->fingerprint) protobuf_c_message_free_unpacked(&model->fingerprint->base, NULL);
  if (model->keras_metadata) protobuf_c_message_free_unpacked(&model->keras_metadata->base, NULL);
  sp_free_names(model->asset_files, model->asset_file_count);
  sp_free_names(model->variable_files, model->variable_file_count);
  for (size_t i = 0; i < model->variable_count; i++) free(model->variables[i].key);
  free(model->variables);
  free(model->variables_note);
  free(model->directory);
  free(model->source_path);
  free(model);
}

/* ---------- lookups ---------- */

enum { MAX_REQUESTED_TAGS = 64 };

typedef struct tag_span {
  const char *text;
  size_t length;
} tag_span;

/* Splits "train, serve" into trimmed, non-empty tags. Returns the count, or -1 when there are too many. */
static int split_tags(const char *tag_set, tag_span *tags) {
  int count = 0;
  for (const char *cursor = tag_set; *cursor;) {
    while (*cursor == ' ' || *cursor == ',') cursor++;
    const char *end = cursor;
    while (*end && *end != ',') end++;
    size_t length = (size_t)(end - cursor);
    while (length && cursor[length - 1] == ' ') length--;
    if (length) {
      if (count == MAX_REQUESTED_TAGS) return -1;
      tags[count].text = cursor;
      tags[count].length = length;
      count++;
    }
    cursor = end;
  }
  return count;
}

static int span_equals(tag_span span, const char *text) {
  return strlen(text) == span.length && memcmp(text, span.text, span.length) == 0;
}

/* Set equality of the requested tags and the meta graph's tags (order and repeats ignored). */
static int tag_set_matches(const Tensorflow__MetaGraphDef__MetaInfoDef *info, const tag_span *tags, int count) {
  size_t stored = info ? info->n_tags : 0;
  for (int i = 0; i < count; i++) {
    int found = 0;
    for (size_t j = 0; j < stored && !found; j++) found = span_equals(tags[i], info->tags[j]);
    if (!found) return 0;
  }
  for (size_t j = 0; j < stored; j++) {
    int found = 0;
    for (int i = 0; i < count && !found; i++) found = span_equals(tags[i], info->tags[j]);
    if (!found) return 0;
  }
  return 1;
}

sp_status sp_saved_model_find_meta_graph(const sp_saved_model *model, const char *tag_set,
                                         const sp_saved_model_meta_graph **meta_graph) {
  *meta_graph = NULL;
  tag_span tags[MAX_REQUESTED_TAGS];
  int count = split_tags(tag_set, tags);
  if (count < 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "tag-set '%.60s...' has too many tags", tag_set);
  for (size_t i = 0; i < model->meta_graph_count; i++)
    if (tag_set_matches(model->meta_graphs[i].proto->meta_info_def, tags, count)) {
      *meta_graph = &model->meta_graphs[i];
      return SP_OK;
    }
  sp_buffer available = {0};
  for (size_t i = 0; i < model->meta_graph_count; i++)
    if (sp_buffer_printf(&available, "%s'%s'", i ? ", " : "", model->meta_graphs[i].tag_set) != SP_OK) break;
  sp_status status = sp_fail(SP_ERROR_NOT_FOUND, "%s: no MetaGraphDef has the tag-set '%s'; it has: %.*s",
                             model->source_path, tag_set, (int)available.size, available.data ? (char *)available.data : "");
  sp_buffer_free(&available);
  return status;
}

const sp_signature_proto *sp_meta_graph_signature(const sp_saved_model_meta_graph *meta_graph, const char *key) {
  const Tensorflow__MetaGraphDef *proto = meta_graph->proto;
  for (size_t i = 0; i < proto->n_signature_def; i++)
    if (strcmp(proto->signature_def[i]->key, key) == 0) return proto->signature_def[i]->value;
  return NULL;
}

sp_status sp_meta_graph_find_signature(const sp_saved_model_meta_graph *meta_graph, const char *key,
                                       const sp_signature_proto **signature) {
  if ((*signature = sp_meta_graph_signature(meta_graph, key)) != NULL) return SP_OK;
  sp_buffer available = {0};
  for (size_t i = 0; i < meta_graph->signature_count; i++)
    if (sp_buffer_printf(&available, "%s'%s'", i ? ", " : "", meta_graph->signature_keys[i]) != SP_OK) break;
  sp_status status = sp_fail(SP_ERROR_NOT_FOUND, "no signature '%s' in the meta graph with tag-set '%s'; it has: %.*s",
                             key, meta_graph->tag_set, (int)available.size,
                             available.data ? (char *)available.data : "(none)");
  sp_buffer_free(&available);
  return status;
}

static int compare_signature_tensors(const void *a, const void *b) {
  return strcmp(((const sp_signature_tensor *)a)->key, ((const sp_signature_tensor *)b)->key);
}

/* A map entry without a value holds the default TensorInfo, as protobuf reads it (found by
 * fuzz_saved_model: callers may dereference what they get). */
static const sp_tensor_info_proto *entry_info(const sp_tensor_info_proto *value) {
  static const sp_tensor_info_proto empty = TENSORFLOW__TENSOR_INFO__INIT;
  return value ? value : &empty;
}

sp_status sp_signature_tensors(const sp_signature_proto *signature, int outputs, sp_signature_tensor **list,
                               size_t *count) {
  size_t n = outputs ? signature->n_outputs : signature->n_inputs;
  *list = NULL;
  *count = 0;
  sp_signature_tensor *result = sp_alloc_zeroed(n ? n : 1, sizeof *result);
  if (!result) return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < n; i++) {
    result[i].key = outputs ? signature->outputs[i]->key : signature->inputs[i]->key;
    result[i].info = entry_info(outputs ? signature->outputs[i]->value : signature->inputs[i]->value);
  }
  if (n) qsort(result, n, sizeof *result, compare_signature_tensors);
  *list = result;
  *count = n;
  return SP_OK;
}

const sp_tensor_info_proto *sp_signature_tensor_info(const sp_signature_proto *signature, int outputs,
                                                     const char *key) {
  size_t n = outputs ? signature->n_outputs : signature->n_inputs;
  for (size_t i = 0; i < n; i++) {
    const char *entry_key = outputs ? signature->outputs[i]->key : signature->inputs[i]->key;
    if (strcmp(entry_key, key) == 0) return entry_info(outputs ? signature->outputs[i]->value : signature->inputs[i]->value);
  }
  return NULL;
}

static sp_status collection_node(const sp_saved_model_meta_graph *meta_graph, const char *key, const char **name) {
  const Tensorflow__MetaGraphDef *proto = meta_graph->proto;
  for (size_t i = 0; i < proto->n_collection_def; i++) {
    const Tensorflow__MetaGraphDef__CollectionDefEntry *entry = proto->collection_def[i];
    if (strcmp(entry->key, key) != 0) continue;
    const Tensorflow__CollectionDef *collection = entry->value;
    if (!collection || collection->kind_case != TENSORFLOW__COLLECTION_DEF__KIND_NODE_LIST ||
        collection->node_list->n_value != 1)
      return sp_fail(SP_ERROR_FORMAT, "meta graph [%s]: collection '%s' must hold exactly one node name",
                     meta_graph->tag_set, key);
    *name = collection->node_list->value[0];
    return SP_OK;
  }
  return SP_OK;
}

sp_status sp_meta_graph_init_op(const sp_saved_model_meta_graph *meta_graph, const char **name) {
  *name = NULL;
  const sp_signature_proto *signature = sp_meta_graph_signature(meta_graph, "__saved_model_init_op");
  if (signature) {
    const sp_tensor_info_proto *info = sp_signature_tensor_info(signature, 1, "__saved_model_init_op");
    if (!info || info->encoding_case != TENSORFLOW__TENSOR_INFO__ENCODING_NAME || !*info->name)
      return sp_fail(SP_ERROR_FORMAT, "meta graph [%s]: signature __saved_model_init_op names no init op",
                     meta_graph->tag_set);
    *name = info->name;
    return SP_OK;
  }
  SP_TRY(collection_node(meta_graph, "saved_model_main_op", name));
  if (!*name) SP_TRY(collection_node(meta_graph, "legacy_init_op", name));
  return SP_OK;
}

const char *sp_data_type_name(int data_type, char *out, size_t capacity) {
  const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value(&tensorflow__data_type__descriptor, data_type);
  if (value) return value->name;
  snprintf(out, capacity, "DT_%d", data_type);
  return out;
}
