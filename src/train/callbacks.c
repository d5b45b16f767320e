/* callbacks.c — logs, callback objects and calling hooks in order (see savepoint/callbacks.h).
 *
 * A failing hook stops the run: its status comes back to fit's caller with the callback and the
 * hook named, so that (for example) a checkpoint that cannot be written is never silently lost.
 */
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "train/loop.h"

int sp_logs_find(const sp_logs *logs, const char *name) {
  for (int i = 0; i < logs->count; i++)
    if (strcmp(logs->entries[i].name, name) == 0) return i;
  return -1;
}

double sp_logs_get(const sp_logs *logs, const char *name, double fallback) {
  int index = sp_logs_find(logs, name);
  return index < 0 ? fallback : logs->entries[index].value;
}

sp_status sp_logs_set(sp_logs *logs, const char *name, double value) {
  int index = sp_logs_find(logs, name);
  if (index >= 0) {
    logs->entries[index].value = value;
    return SP_OK;
  }
  if (strlen(name) >= SP_LOG_NAME_MAX)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "log name '%.40s…' is longer than %d characters", name, SP_LOG_NAME_MAX - 1);
  if (logs->count >= SP_LOGS_CAPACITY)
    return sp_fail(SP_ERROR_UNSUPPORTED, "more than %d logged values (adding '%s')", SP_LOGS_CAPACITY, name);
  sp_log_entry *entry = &logs->entries[logs->count++];
  memcpy(entry->name, name, strlen(name) + 1);
  entry->value = value;
  return SP_OK;
}

sp_callback *sp_callback_new(const char *name, void *context) {
  sp_callback *callback = sp_alloc_zeroed(1, sizeof *callback);
  if (!callback) return NULL;
  callback->name = name ? name : "callback";
  callback->context = context;
  return callback;
}

void sp_callback_free(sp_callback *callback) {
  if (!callback) return;
  if (callback->release) callback->release(callback);
  free(callback);
}

void sp_callback_free_context(sp_callback *self) { free(self->context); }

sp_status sp_callback_with_context(const char *name, size_t context_size, void (*release)(sp_callback *self),
                                   sp_callback **callback) {
  *callback = NULL;
  void *context = sp_alloc_zeroed(1, context_size);
  sp_callback *made = context ? sp_callback_new(name, context) : NULL;
  if (!made) {
    free(context);
    return sp_fail(SP_ERROR_NO_MEMORY, "cannot allocate callback '%s'", name);
  }
  made->release = release;
  *callback = made;
  return SP_OK;
}

sp_status sp_callback_list_add(sp_callback_list *list, sp_callback *callback) {
  if (!callback) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "a NULL callback was given");
  if (list->count >= SP_LOGS_CAPACITY) return sp_fail(SP_ERROR_UNSUPPORTED, "more than %d callbacks", SP_LOGS_CAPACITY);
  list->items[list->count++] = callback;
  return SP_OK;
}

static const char *hook_name(sp_hook hook) {
  static const char *const names[] = {"on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
                                      "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
                                      "on_test_batch_begin", "on_test_batch_end"};
  return names[hook];
}

static sp_status run_one(sp_callback *c, sp_hook hook, sp_training *training, int64_t index, const sp_logs *logs) {
  switch (hook) {
    case SP_HOOK_TRAIN_BEGIN: return c->on_train_begin ? c->on_train_begin(c, training, logs) : SP_OK;
    case SP_HOOK_TRAIN_END: return c->on_train_end ? c->on_train_end(c, training, logs) : SP_OK;
    case SP_HOOK_EPOCH_BEGIN: return c->on_epoch_begin ? c->on_epoch_begin(c, training, (int)index, logs) : SP_OK;
    case SP_HOOK_EPOCH_END: return c->on_epoch_end ? c->on_epoch_end(c, training, (int)index, logs) : SP_OK;
    case SP_HOOK_TRAIN_BATCH_BEGIN: return c->on_train_batch_begin ? c->on_train_batch_begin(c, training, index, logs) : SP_OK;
    case SP_HOOK_TRAIN_BATCH_END: return c->on_train_batch_end ? c->on_train_batch_end(c, training, index, logs) : SP_OK;
    case SP_HOOK_TEST_BEGIN: return c->on_test_begin ? c->on_test_begin(c, training, logs) : SP_OK;
    case SP_HOOK_TEST_END: return c->on_test_end ? c->on_test_end(c, training, logs) : SP_OK;
    case SP_HOOK_TEST_BATCH_BEGIN: return c->on_test_batch_begin ? c->on_test_batch_begin(c, training, index, logs) : SP_OK;
    case SP_HOOK_TEST_BATCH_END: return c->on_test_batch_end ? c->on_test_batch_end(c, training, index, logs) : SP_OK;
  }
  return SP_OK;
}

sp_status sp_callbacks_run(const sp_callback_list *list, sp_hook hook, sp_training *training, int64_t index,
                           const sp_logs *logs) {
  static const sp_logs empty;
  for (int i = 0; list && i < list->count; i++) {
    sp_clear_error(); /* so that a hook failing without a message can be told apart */
    sp_status status = run_one(list->items[i], hook, training, index, logs ? logs : &empty);
    if (status != SP_OK) {
      if (sp_last_status() == SP_OK) sp_fail(status, "it returned %s", sp_status_name(status));
      return sp_error_context(status, "callback '%s' %s", list->items[i]->name, hook_name(hook));
    }
  }
  return SP_OK;
}
