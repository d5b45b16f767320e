/* history.c — Keras's History: every epoch's logs, by key, in the order keys first appeared,
 * written as the JSON of history.history ({"loss": [...], ...}) through the atomic write path.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "train/loop.h"

typedef struct history_key {
  char *name;
  double *values; /* one per recorded epoch; NaN where an epoch lacked the key */
} history_key;

struct sp_history {
  int epoch_count;
  size_t epoch_capacity;
  int *epochs;
  int key_count;
  history_key keys[SP_LOGS_CAPACITY];
};

sp_history *sp_history_new(void) { return sp_alloc_zeroed(1, sizeof(sp_history)); }

void sp_history_free(sp_history *history) {
  if (!history) return;
  for (int k = 0; k < history->key_count; k++) {
    free(history->keys[k].name);
    free(history->keys[k].values);
  }
  free(history->epochs);
  free(history);
}

static int key_index(const sp_history *history, const char *name) {
  for (int k = 0; k < history->key_count; k++)
    if (strcmp(history->keys[k].name, name) == 0) return k;
  return -1;
}

static sp_status add_key(sp_history *history, const char *name) {
  if (history->key_count >= SP_LOGS_CAPACITY) return sp_fail(SP_ERROR_UNSUPPORTED, "history: more than %d keys", SP_LOGS_CAPACITY);
  history_key *key = &history->keys[history->key_count];
  key->name = sp_strdup(name);
  key->values = sp_alloc_zeroed(history->epoch_capacity ? history->epoch_capacity : 1, sizeof *key->values);
  if (!key->name || !key->values) {
    free(key->name);
    free(key->values);
    return SP_ERROR_NO_MEMORY;
  }
  for (int e = 0; e < history->epoch_count; e++) key->values[e] = NAN;
  history->key_count++;
  return SP_OK;
}

static sp_status grow(sp_history *history) {
  if ((size_t)history->epoch_count < history->epoch_capacity) return SP_OK;
  size_t capacity = history->epoch_capacity ? history->epoch_capacity * 2 : 16;
  int *epochs = sp_realloc_array(history->epochs, capacity, sizeof *epochs);
  if (!epochs) return SP_ERROR_NO_MEMORY;
  history->epochs = epochs;
  for (int k = 0; k < history->key_count; k++) {
    double *values = sp_realloc_array(history->keys[k].values, capacity, sizeof *values);
    if (!values) return SP_ERROR_NO_MEMORY;
    history->keys[k].values = values;
  }
  history->epoch_capacity = capacity;
  return SP_OK;
}

static sp_status record(sp_history *history, int epoch, const sp_logs *logs) {
  SP_TRY(grow(history));
  for (int i = 0; i < logs->count; i++)
    if (key_index(history, logs->entries[i].name) < 0) SP_TRY(add_key(history, logs->entries[i].name));
  int row = history->epoch_count++;
  history->epochs[row] = epoch;
  for (int k = 0; k < history->key_count; k++) history->keys[k].values[row] = sp_logs_get(logs, history->keys[k].name, NAN);
  return SP_OK;
}

static sp_status history_on_epoch_end(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs) {
  return record(self->context, epoch, logs);
}

sp_callback *sp_history_callback(sp_history *history) {
  sp_callback *callback = sp_callback_new("history", history);
  if (callback) callback->on_epoch_end = history_on_epoch_end;
  return callback;
}

int sp_history_epoch_count(const sp_history *history) { return history->epoch_count; }
int sp_history_epoch(const sp_history *history, int index) {
  return index >= 0 && index < history->epoch_count ? history->epochs[index] : -1;
}
int sp_history_key_count(const sp_history *history) { return history->key_count; }
const char *sp_history_key(const sp_history *history, int index) {
  return index >= 0 && index < history->key_count ? history->keys[index].name : NULL;
}

const double *sp_history_values(const sp_history *history, const char *key, int *count) {
  int index = key_index(history, key);
  if (count) *count = index < 0 ? 0 : history->epoch_count;
  return index < 0 ? NULL : history->keys[index].values;
}

char *sp_history_to_json(const sp_history *history) {
  json_object *root = json_object_new_object();
  for (int k = 0; root && k < history->key_count; k++) {
    json_object *values = json_object_new_array();
    for (int e = 0; values && e < history->epoch_count; e++)
      json_object_array_add(values, json_object_new_double(history->keys[k].values[e]));
    json_object_object_add(root, history->keys[k].name, values);
  }
  char *text = root ? sp_json_dumps(root, 0) : NULL;
  json_object_put(root);
  if (!text) sp_fail(SP_ERROR_NO_MEMORY, "cannot serialize the training history");
  return text;
}

sp_status sp_history_save(const sp_history *history, const char *path) {
  char *text = sp_history_to_json(history);
  if (!text) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_write_file_atomic(path, text, strlen(text));
  free(text);
  return status == SP_OK ? SP_OK : sp_error_context(status, "saving the training history to '%s'", path);
}

/* ---- the History file, written after every epoch (sp_history_logger) ---- */

typedef struct history_logger {
  char *path;
  sp_history *history;
} history_logger;

static sp_status logger_epoch_end(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs) {
  (void)training;
  history_logger *logger = self->context;
  SP_TRY(record(logger->history, epoch, logs));
  return sp_history_save(logger->history, logger->path);
}

/* State: {"epochs": [...], "history": <sp_history_to_json>}, so a resumed run writes every epoch. */
static sp_status logger_save_state(sp_callback *self, char **json) {
  const history_logger *logger = self->context;
  char *history = sp_history_to_json(logger->history);
  json_object *root = json_object_new_object(), *epochs = json_object_new_array(), *parsed = NULL;
  sp_status status = history ? sp_json_parse(history, strlen(history), "history", &parsed) : SP_ERROR_NO_MEMORY;
  for (int e = 0; status == SP_OK && e < logger->history->epoch_count; e++)
    json_object_array_add(epochs, json_object_new_int(logger->history->epochs[e]));
  json_object_object_add(root, "epochs", epochs);
  json_object_object_add(root, "history", parsed);
  *json = status == SP_OK ? sp_json_dumps(root, 0) : NULL;
  json_object_put(root);
  free(history);
  return status == SP_OK && !*json ? SP_ERROR_NO_MEMORY : status;
}

static sp_status restore_history(sp_history *history, const json_object *root) {
  json_object *epochs, *keys;
  SP_TRY(sp_json_require(root, "epochs", json_type_array, "history state", &epochs));
  SP_TRY(sp_json_require(root, "history", json_type_object, "history state", &keys));
  size_t count = json_object_array_length(epochs);
  for (size_t e = 0; e < count; e++) {
    SP_TRY(grow(history));
    history->epochs[history->epoch_count++] = json_object_get_int(json_object_array_get_idx(epochs, e));
  }
  json_object_object_foreach(keys, name, values) {
    if (!json_object_is_type(values, json_type_array) || json_object_array_length(values) != count)
      return sp_fail(SP_ERROR_FORMAT, "history state: '%s' does not hold one value per epoch", name);
    SP_TRY(add_key(history, name));
    for (size_t e = 0; e < count; e++)
      history->keys[history->key_count - 1].values[e] = json_object_get_double(json_object_array_get_idx(values, e));
  }
  return SP_OK;
}

static sp_status logger_restore_state(sp_callback *self, const char *json) {
  history_logger *logger = self->context;
  json_object *root;
  SP_TRY(sp_json_parse(json, strlen(json), "history state", &root));
  sp_history *history = sp_history_new();
  sp_status status = history ? restore_history(history, root) : SP_ERROR_NO_MEMORY;
  json_object_put(root);
  if (status != SP_OK) {
    sp_history_free(history);
    return status;
  }
  sp_history_free(logger->history);
  logger->history = history;
  return SP_OK;
}

static void logger_release(sp_callback *self) {
  history_logger *logger = self->context;
  if (!logger) return;
  sp_history_free(logger->history);
  free(logger->path);
  free(logger);
}

sp_callback *sp_history_logger(const char *path) {
  sp_callback *callback;
  if (sp_callback_with_context("history_logger", sizeof(history_logger), logger_release, &callback) != SP_OK) return NULL;
  history_logger *logger = callback->context;
  logger->path = sp_strdup(path);
  logger->history = sp_history_new();
  if (!logger->path || !logger->history) {
    sp_callback_free(callback);
    return NULL;
  }
  callback->on_epoch_end = logger_epoch_end;
  callback->save_state = logger_save_state;
  callback->restore_state = logger_restore_state;
  return callback;
}
