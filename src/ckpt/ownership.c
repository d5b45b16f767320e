/* ownership.c — the checkpoint manager's ownership manifest, DIR/.savepoint-checkpoints.json
 * (layout in manager.h).
 *
 * The manifest decides which files retention may delete, so reading it is strict: a file name
 * that is not "<entry name>.<suffix>" (no '/', no "..") is refused rather than trusted, and so is
 * an entry whose name does not belong to the directory.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/manager.h"
#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"

static const size_t max_manifest_bytes = (size_t)64 << 20;

const char *sp_checkpoint_mode_name(sp_checkpoint_mode mode) { return mode == SP_CHECKPOINT_MODE_MAX ? "max" : "min"; }

sp_status sp_checkpoint_mode_from_name(const char *name, sp_checkpoint_mode *mode) {
  if (strcmp(name, "min") == 0) *mode = SP_CHECKPOINT_MODE_MIN;
  else if (strcmp(name, "max") == 0) *mode = SP_CHECKPOINT_MODE_MAX;
  else return sp_fail(SP_ERROR_INVALID_ARGUMENT, "mode must be \"min\" or \"max\", not \"%s\"", name);
  return SP_OK;
}

void sp_checkpoint_entry_release(sp_checkpoint_entry *entry) {
  free(entry->name);
  free(entry->checkpoint_name);
  free(entry->prefix);
  for (size_t i = 0; i < entry->file_count; i++) free(entry->files[i]);
  free(entry->files);
  memset(entry, 0, sizeof *entry);
}

sp_status sp_checkpoint_entry_add_file(sp_checkpoint_entry *entry, const char *name) {
  for (size_t i = 0; i < entry->file_count; i++)
    if (strcmp(entry->files[i], name) == 0) return SP_OK; /* listed once */
  char **files = sp_realloc_array(entry->files, entry->file_count + 1, sizeof *files);
  if (!files) return SP_ERROR_NO_MEMORY;
  entry->files = files;
  entry->files[entry->file_count] = sp_strdup(name);
  if (!entry->files[entry->file_count]) return SP_ERROR_NO_MEMORY;
  entry->file_count++;
  return SP_OK;
}

void sp_checkpoint_ownership_release(sp_checkpoint_ownership *ownership) {
  for (size_t i = 0; i < ownership->count; i++) sp_checkpoint_entry_release(&ownership->entries[i]);
  free(ownership->entries);
  free(ownership->policy.checkpoint_name);
  memset(ownership, 0, sizeof *ownership);
}

/* ---- reading ---- */

static const char *const status_names[] = {"complete", "pending", "deleting"};

static int safe_file_name(const char *entry_name, const char *file) {
  size_t length = strlen(entry_name);
  return strchr(file, '/') == NULL && strncmp(file, entry_name, length) == 0 && file[length] == '.' &&
         file[length + 1] != '\0' && strstr(file, "..") == NULL && !sp_path_is_temporary(file);
}

static int safe_entry_name(const char *name) {
  return *name && *name != '.' && strchr(name, '/') == NULL && strchr(name, '\\') == NULL;
}

static sp_status read_files(json_object *list, sp_checkpoint_entry *entry, const char *context) {
  size_t length = json_object_array_length(list);
  for (size_t i = 0; i < length; i++) {
    json_object *item = json_object_array_get_idx(list, i);
    const char *file = json_object_is_type(item, json_type_string) ? json_object_get_string(item) : NULL;
    if (!file || !safe_file_name(entry->name, file))
      return sp_fail(SP_ERROR_UNSAFE, "%s: file %zu is not a file of checkpoint '%s'", context, i, entry->name);
    SP_TRY(sp_checkpoint_entry_add_file(entry, file));
  }
  return SP_OK;
}

static sp_status read_entry(json_object *object, const char *directory, sp_checkpoint_entry *entry,
                            const char *context) {
  const char *name, *checkpoint_name, *status;
  json_object *files;
  int64_t number, step;
  SP_TRY(sp_json_get_string(object, "name", NULL, context, &name));
  SP_TRY(sp_json_get_string(object, "checkpoint_name", "", context, &checkpoint_name));
  SP_TRY(sp_json_get_string(object, "status", "complete", context, &status));
  SP_TRY(sp_json_get_int(object, "number", -1, context, &number));
  SP_TRY(sp_json_get_int(object, "step", -1, context, &step));
  SP_TRY(sp_json_get_double(object, "timestamp", 0, context, &entry->timestamp));
  SP_TRY(sp_json_get_bool(object, "preserved", 0, context, &entry->preserved));
  SP_TRY(sp_json_require(object, "files", json_type_array, context, &files));
  if (!name || !safe_entry_name(name))
    return sp_fail(SP_ERROR_UNSAFE, "%s: a checkpoint name must be a plain file name", context);
  entry->status = SP_ENTRY_COMPLETE;
  int known = 0;
  for (int s = 0; s < 3; s++)
    if (strcmp(status, status_names[s]) == 0) entry->status = (sp_entry_status)s, known = 1;
  if (!known) return sp_fail(SP_ERROR_FORMAT, "%s: unknown status \"%s\"", context, status);
  json_object *metric = sp_json_member(object, "metric");
  if (metric && !json_object_is_type(metric, json_type_null)) {
    SP_TRY(sp_json_get_double(object, "metric", 0, context, &entry->metric));
    entry->has_metric = !isnan(entry->metric);
  }
  entry->number = number;
  entry->step = step;
  entry->owned = 1;
  entry->name = sp_strdup(name);
  entry->checkpoint_name = sp_strdup(checkpoint_name);
  entry->prefix = sp_path_join(directory, name);
  if (!entry->name || !entry->checkpoint_name || !entry->prefix) return SP_ERROR_NO_MEMORY;
  return read_files(files, entry, context);
}

static sp_status read_policy(json_object *root, sp_checkpoint_ownership *ownership, const char *context) {
  json_object *policy = sp_json_member(root, "policy");
  if (!policy || !json_object_is_type(policy, json_type_object)) return SP_OK;
  const char *name, *mode;
  int64_t max_to_keep, keep_best;
  SP_TRY(sp_json_get_string(policy, "checkpoint_name", "ckpt", context, &name));
  SP_TRY(sp_json_get_int(policy, "max_to_keep", 5, context, &max_to_keep));
  SP_TRY(sp_json_get_int(policy, "keep_best", 0, context, &keep_best));
  SP_TRY(sp_json_get_double(policy, "keep_checkpoint_every_n_hours", 0, context,
                            &ownership->policy.keep_checkpoint_every_n_hours));
  SP_TRY(sp_json_get_string(policy, "mode", "min", context, &mode));
  SP_TRY(sp_checkpoint_mode_from_name(mode, &ownership->policy.mode));
  if (max_to_keep < 0 || max_to_keep > INT32_MAX || keep_best < 0 || keep_best > INT32_MAX)
    return sp_fail(SP_ERROR_FORMAT, "%s: policy counts out of range", context);
  ownership->policy.max_to_keep = (int)max_to_keep;
  ownership->policy.keep_best = (int)keep_best;
  ownership->policy.checkpoint_name = sp_strdup(name);
  ownership->has_policy = 1;
  return ownership->policy.checkpoint_name ? SP_OK : SP_ERROR_NO_MEMORY;
}

static sp_status read_root(json_object *root, const char *directory, sp_checkpoint_ownership *ownership,
                           const char *context) {
  const char *format;
  json_object *list;
  SP_TRY(sp_json_get_string(root, "format", NULL, context, &format));
  if (!format || strcmp(format, SP_CHECKPOINT_MANIFEST_FORMAT) != 0)
    return sp_fail(SP_ERROR_FORMAT, "%s: not a savepoint checkpoint manifest (format \"%s\")", context,
                   format ? format : "");
  SP_TRY(sp_json_get_int(root, "next_number", 1, context, &ownership->next_number));
  SP_TRY(sp_json_get_double(root, "last_preserved_timestamp", 0, context, &ownership->last_preserved_timestamp));
  SP_TRY(read_policy(root, ownership, context));
  SP_TRY(sp_json_require(root, "checkpoints", json_type_array, context, &list));
  size_t length = json_object_array_length(list);
  for (size_t i = 0; i < length; i++) {
    json_object *item = json_object_array_get_idx(list, i);
    char where[512];
    snprintf(where, sizeof where, "%s: checkpoints[%zu]", context, i);
    if (!json_object_is_type(item, json_type_object)) return sp_fail(SP_ERROR_FORMAT, "%s is not an object", where);
    SP_TRY(SP_RESERVE(ownership->entries, ownership->capacity, ownership->count + 1));
    sp_checkpoint_entry *entry = &ownership->entries[ownership->count];
    memset(entry, 0, sizeof *entry);
    sp_status status = read_entry(item, directory, entry, where);
    if (status != SP_OK) {
      sp_checkpoint_entry_release(entry);
      return status;
    }
    ownership->count++;
  }
  return SP_OK;
}

sp_status sp_checkpoint_ownership_read(const char *directory, sp_checkpoint_ownership *ownership) {
  memset(ownership, 0, sizeof *ownership);
  ownership->next_number = 1;
  char *path = sp_path_join(directory, SP_CHECKPOINT_MANIFEST_NAME);
  if (!path) return SP_ERROR_NO_MEMORY;
  if (!sp_path_exists(path)) {
    free(path);
    return SP_OK;
  }
  uint8_t *text = NULL;
  size_t size;
  sp_status status = sp_read_file(path, max_manifest_bytes, &text, &size);
  json_object *root = NULL;
  if (status == SP_OK) status = sp_json_parse((const char *)text, size, path, &root);
  if (status == SP_OK && !json_object_is_type(root, json_type_object))
    status = sp_fail(SP_ERROR_FORMAT, "'%s' is not a JSON object", path);
  if (status == SP_OK) status = read_root(root, directory, ownership, path);
  json_object_put(root);
  free(text);
  if (status != SP_OK) sp_checkpoint_ownership_release(ownership);
  free(path);
  return status;
}

/* ---- writing ---- */

static json_object *entry_json(const sp_checkpoint_entry *entry) {
  json_object *object = json_object_new_object(), *files = json_object_new_array();
  if (!object || !files) {
    json_object_put(object);
    json_object_put(files);
    return NULL;
  }
  json_object_object_add(object, "name", json_object_new_string(entry->name));
  json_object_object_add(object, "checkpoint_name", json_object_new_string(entry->checkpoint_name));
  json_object_object_add(object, "number", json_object_new_int64(entry->number));
  json_object_object_add(object, "step", json_object_new_int64(entry->step));
  json_object_object_add(object, "timestamp", json_object_new_double(entry->timestamp));
  json_object_object_add(object, "metric", entry->has_metric ? json_object_new_double(entry->metric) : NULL);
  json_object_object_add(object, "status", json_object_new_string(status_names[entry->status]));
  json_object_object_add(object, "preserved", json_object_new_boolean(entry->preserved));
  for (size_t i = 0; i < entry->file_count; i++) json_object_array_add(files, json_object_new_string(entry->files[i]));
  json_object_object_add(object, "files", files);
  return object;
}

static json_object *policy_json(const sp_checkpoint_policy *policy) {
  json_object *object = json_object_new_object();
  if (!object) return NULL;
  json_object_object_add(object, "checkpoint_name", json_object_new_string(policy->checkpoint_name));
  json_object_object_add(object, "max_to_keep", json_object_new_int(policy->max_to_keep));
  json_object_object_add(object, "keep_checkpoint_every_n_hours",
                         json_object_new_double(policy->keep_checkpoint_every_n_hours));
  json_object_object_add(object, "keep_best", json_object_new_int(policy->keep_best));
  json_object_object_add(object, "mode", json_object_new_string(sp_checkpoint_mode_name(policy->mode)));
  return object;
}

static json_object *ownership_json(const sp_checkpoint_ownership *ownership) {
  json_object *root = json_object_new_object(), *list = json_object_new_array();
  if (!root || !list) {
    json_object_put(root);
    json_object_put(list);
    return NULL;
  }
  json_object_object_add(root, "format", json_object_new_string(SP_CHECKPOINT_MANIFEST_FORMAT));
  json_object_object_add(root, "version", json_object_new_int(1));
  json_object_object_add(root, "next_number", json_object_new_int64(ownership->next_number));
  json_object_object_add(root, "last_preserved_timestamp", json_object_new_double(ownership->last_preserved_timestamp));
  if (ownership->has_policy) json_object_object_add(root, "policy", policy_json(&ownership->policy));
  for (size_t i = 0; i < ownership->count; i++)
    if (ownership->entries[i].owned) json_object_array_add(list, entry_json(&ownership->entries[i]));
  json_object_object_add(root, "checkpoints", list);
  return root;
}

sp_status sp_checkpoint_ownership_write(const char *directory, const sp_checkpoint_ownership *ownership) {
  json_object *root = ownership_json(ownership);
  char *text = root ? sp_json_dumps(root, 2) : NULL;
  json_object_put(root);
  char *path = sp_path_join(directory, SP_CHECKPOINT_MANIFEST_NAME);
  sp_status status = text && path ? sp_write_file_atomic(path, text, strlen(text)) : SP_ERROR_NO_MEMORY;
  if (status == SP_ERROR_NO_MEMORY && (!text || !path)) sp_fail(status, "cannot serialize the checkpoint manifest");
  free(text);
  free(path);
  return status;
}
