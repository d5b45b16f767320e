/* csv_logger.c — Keras's CSVLogger (keras/src/callbacks/csv_logger.py).
 *
 * Columns: "epoch", then the names of the first epoch's logs sorted, plus "val_<name>" for each
 * when that epoch had no validation values yet. Rows are written by Python's csv module in Keras:
 * excel dialect ("\r\n" line ends, fields quoted only when they need it), floats as repr(), "NA"
 * for a missing value. With append, an existing file keeps its rows and gets no second header
 * (Keras writes the header only into an empty file).
 *
 * Durability: instead of appending to the final file in place, the whole content is kept in
 * memory and the file is replaced atomically (core/file.h) after every epoch, so a crash never
 * leaves a torn row. The content and columns are its save_state, so a run resumed by
 * BackupAndRestore writes the rows of the epochs before the interruption too.
 */
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/json.h"
#include "core/memory.h"
#include "train/loop.h"

enum { CSV_LIMIT = 256 << 20 };

typedef struct csv_logger {
  char *path;
  char separator;
  int append;
  sp_buffer content;
  int header_needed;
  int key_count;
  char *keys[SP_LOGS_CAPACITY * 2];
} csv_logger;

static void forget_keys(csv_logger *logger) {
  for (int i = 0; i < logger->key_count; i++) free(logger->keys[i]);
  logger->key_count = 0;
}

static sp_status csv_train_begin(sp_callback *self, sp_training *training, const sp_logs *logs) {
  csv_logger *logger = self->context;
  sp_buffer_free(&logger->content);
  forget_keys(logger);
  logger->header_needed = 1;
  if (logger->append && sp_path_exists(logger->path)) {
    uint8_t *data;
    size_t size;
    SP_TRY(sp_read_file(logger->path, CSV_LIMIT, &data, &size));
    sp_status status = sp_buffer_append(&logger->content, data, size);
    free(data);
    SP_TRY(status);
    logger->header_needed = size == 0 || logger->content.data[0] == '\n' || logger->content.data[0] == '\r';
  }
  return SP_OK;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static sp_status choose_keys(csv_logger *logger, const sp_logs *logs) {
  int has_validation = 0;
  for (int i = 0; i < logs->count; i++) {
    if (!(logger->keys[logger->key_count] = sp_strdup(logs->entries[i].name))) return SP_ERROR_NO_MEMORY;
    has_validation |= strncmp(logs->entries[i].name, "val_", 4) == 0;
    logger->key_count++;
  }
  qsort(logger->keys, (size_t)logger->key_count, sizeof *logger->keys, compare_names);
  if (has_validation) return SP_OK;
  int count = logger->key_count;
  for (int i = 0; i < count; i++)
    if (!(logger->keys[logger->key_count++] = sp_strdupf("val_%s", logger->keys[i]))) return SP_ERROR_NO_MEMORY;
  return SP_OK;
}

/* A field as csv.writer writes it: quoted (with doubled quotes) when it holds the separator,
 * a quote or a line break. */
static sp_status put_field(sp_buffer *out, const char *text, char separator) {
  if (!strchr(text, separator) && !strpbrk(text, "\"\r\n")) return sp_buffer_append_text(out, text);
  SP_TRY(sp_buffer_put_u8(out, '"'));
  for (const char *c = text; *c; c++) {
    if (*c == '"') SP_TRY(sp_buffer_put_u8(out, '"'));
    SP_TRY(sp_buffer_put_u8(out, (uint8_t)*c));
  }
  return sp_buffer_put_u8(out, '"');
}

static sp_status put_row_end(sp_buffer *out) { return sp_buffer_append_text(out, "\r\n"); }

static sp_status csv_epoch_end(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs) {
  csv_logger *logger = self->context;
  sp_buffer *out = &logger->content;
  if (logger->key_count == 0) SP_TRY(choose_keys(logger, logs));
  if (logger->header_needed) {
    SP_TRY(put_field(out, "epoch", logger->separator));
    for (int i = 0; i < logger->key_count; i++) {
      SP_TRY(sp_buffer_put_u8(out, (uint8_t)logger->separator));
      SP_TRY(put_field(out, logger->keys[i], logger->separator));
    }
    SP_TRY(put_row_end(out));
    logger->header_needed = 0;
  }
  SP_TRY(sp_buffer_printf(out, "%d", epoch));
  for (int i = 0; i < logger->key_count; i++) {
    char value[40] = "NA";
    int index = sp_logs_find(logs, logger->keys[i]);
    if (index >= 0) sp_format_python_float(logs->entries[index].value, value, sizeof value);
    SP_TRY(sp_buffer_put_u8(out, (uint8_t)logger->separator));
    SP_TRY(put_field(out, value, logger->separator));
  }
  SP_TRY(put_row_end(out));
  return sp_write_file_atomic(logger->path, out->data, out->size);
}

/* State: {"content": <the file so far>, "keys": [...], "header_needed": bool}. */
static sp_status csv_save_state(sp_callback *self, char **json) {
  const csv_logger *logger = self->context;
  json_object *root = json_object_new_object(), *keys = json_object_new_array();
  json_object_object_add(root, "content", json_object_new_string_len(logger->content.data ? (const char *)logger->content.data : "",
                                                                      (int)logger->content.size));
  for (int i = 0; i < logger->key_count; i++) json_object_array_add(keys, json_object_new_string(logger->keys[i]));
  json_object_object_add(root, "keys", keys);
  json_object_object_add(root, "header_needed", json_object_new_boolean(logger->header_needed));
  *json = sp_json_dumps(root, 0);
  json_object_put(root);
  return *json ? SP_OK : SP_ERROR_NO_MEMORY;
}

static sp_status restore_keys(csv_logger *logger, const json_object *keys) {
  size_t count = json_object_array_length(keys);
  if (count > SP_LOGS_CAPACITY * 2) return sp_fail(SP_ERROR_FORMAT, "CSVLogger state: %zu columns, more than %d", count, SP_LOGS_CAPACITY * 2);
  for (size_t i = 0; i < count; i++) {
    const char *key = json_object_get_string(json_object_array_get_idx(keys, i));
    if (!(logger->keys[logger->key_count] = sp_strdup(key ? key : ""))) return SP_ERROR_NO_MEMORY;
    logger->key_count++;
  }
  return SP_OK;
}

static sp_status csv_restore_state(sp_callback *self, const char *json) {
  csv_logger *logger = self->context;
  json_object *root, *content, *keys;
  SP_TRY(sp_json_parse(json, strlen(json), "CSVLogger state", &root));
  int header_needed = 1;
  sp_status status = sp_json_require(root, "content", json_type_string, "CSVLogger state", &content);
  if (status == SP_OK) status = sp_json_require(root, "keys", json_type_array, "CSVLogger state", &keys);
  if (status == SP_OK) status = sp_json_get_bool(root, "header_needed", 1, "CSVLogger state", &header_needed);
  if (status == SP_OK) {
    sp_buffer_free(&logger->content);
    forget_keys(logger);
    status = sp_buffer_append(&logger->content, json_object_get_string(content), (size_t)json_object_get_string_len(content));
  }
  if (status == SP_OK) status = restore_keys(logger, keys);
  if (status == SP_OK) logger->header_needed = header_needed;
  json_object_put(root);
  return status;
}

static void csv_release(sp_callback *self) {
  csv_logger *logger = self->context;
  forget_keys(logger);
  sp_buffer_free(&logger->content);
  free(logger->path);
  free(logger);
}

sp_callback *sp_csv_logger(const char *path, char separator, int append) {
  sp_callback *callback;
  if (sp_callback_with_context("csv_logger", sizeof(csv_logger), csv_release, &callback) != SP_OK) return NULL;
  csv_logger *logger = callback->context;
  logger->path = sp_strdup(path);
  logger->separator = separator ? separator : ',';
  logger->append = append;
  if (!logger->path) {
    sp_callback_free(callback);
    return NULL;
  }
  callback->on_train_begin = csv_train_begin;
  callback->on_epoch_end = csv_epoch_end;
  callback->save_state = csv_save_state;
  callback->restore_state = csv_restore_state;
  return callback;
}
