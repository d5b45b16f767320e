/* checkpoint_state.c — the `checkpoint` state file through pbtext (see checkpoint_state.h). */
#include "formats/checkpoint_state.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoint_state.pb-c.h"
#include "core/file.h"
#include "core/memory.h"
#include "formats/pbtext.h"

static const size_t max_state_bytes = (size_t)16 << 20;

void sp_checkpoint_state_free(sp_checkpoint_state *state) {
  if (!state) return;
  for (size_t i = 0; i < state->path_count; i++) free(state->all_model_checkpoint_paths[i]);
  free(state->all_model_checkpoint_paths);
  free(state->all_model_checkpoint_timestamps);
  free(state->model_checkpoint_path);
  free(state);
}

static sp_status copy_from_message(const Tensorflow__CheckpointState *message, sp_checkpoint_state *state) {
  state->model_checkpoint_path = sp_strdup(message->model_checkpoint_path ? message->model_checkpoint_path : "");
  state->all_model_checkpoint_paths = sp_alloc_zeroed(message->n_all_model_checkpoint_paths + 1, sizeof(char *));
  state->all_model_checkpoint_timestamps =
      sp_alloc_zeroed(message->n_all_model_checkpoint_timestamps + 1, sizeof(double));
  if (!state->model_checkpoint_path || !state->all_model_checkpoint_paths || !state->all_model_checkpoint_timestamps)
    return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < message->n_all_model_checkpoint_paths; i++) {
    state->all_model_checkpoint_paths[i] = sp_strdup(message->all_model_checkpoint_paths[i]);
    if (!state->all_model_checkpoint_paths[i]) return SP_ERROR_NO_MEMORY;
    state->path_count++;
  }
  state->timestamp_count = message->n_all_model_checkpoint_timestamps;
  if (state->timestamp_count)
    memcpy(state->all_model_checkpoint_timestamps, message->all_model_checkpoint_timestamps,
           state->timestamp_count * sizeof(double));
  state->last_preserved_timestamp = message->last_preserved_timestamp;
  return SP_OK;
}

sp_status sp_checkpoint_state_parse(const char *text, size_t length, const char *what, sp_checkpoint_state **result) {
  *result = NULL;
  ProtobufCMessage *message;
  SP_TRY(sp_pbtext_parse(&tensorflow__checkpoint_state__descriptor, text, length, what, &message));
  sp_checkpoint_state *state = sp_alloc_zeroed(1, sizeof *state);
  sp_status status = state ? copy_from_message((const Tensorflow__CheckpointState *)message, state) : SP_ERROR_NO_MEMORY;
  protobuf_c_message_free_unpacked(message, NULL);
  if (status != SP_OK) {
    sp_checkpoint_state_free(state);
    return status;
  }
  *result = state;
  return SP_OK;
}

sp_status sp_checkpoint_state_read(const char *directory, sp_checkpoint_state **state) {
  *state = NULL;
  char *path = sp_path_join(directory, SP_CHECKPOINT_STATE_FILE);
  if (!path) return SP_ERROR_NO_MEMORY;
  uint8_t *text;
  size_t size;
  sp_status status = sp_read_file(path, max_state_bytes, &text, &size);
  if (status == SP_OK) {
    status = sp_checkpoint_state_parse((const char *)text, size, path, state);
    free(text);
  }
  free(path);
  return status;
}

sp_status sp_checkpoint_state_format(const sp_checkpoint_state *state, sp_buffer *out) {
  Tensorflow__CheckpointState message = TENSORFLOW__CHECKPOINT_STATE__INIT;
  message.model_checkpoint_path = state->model_checkpoint_path ? state->model_checkpoint_path : "";
  message.n_all_model_checkpoint_paths = state->path_count;
  message.all_model_checkpoint_paths = state->all_model_checkpoint_paths;
  message.n_all_model_checkpoint_timestamps = state->timestamp_count;
  message.all_model_checkpoint_timestamps = state->all_model_checkpoint_timestamps;
  message.last_preserved_timestamp = state->last_preserved_timestamp;
  return sp_pbtext_print(&message.base, out);
}

sp_status sp_checkpoint_state_write(const char *directory, const sp_checkpoint_state *state) {
  sp_buffer text = {0};
  char *path = sp_path_join(directory, SP_CHECKPOINT_STATE_FILE);
  sp_status status = path ? sp_checkpoint_state_format(state, &text) : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = sp_write_file_atomic(path, text.data, text.size);
  sp_buffer_free(&text);
  free(path);
  return sp_error_context(status, "writing the checkpoint state of '%s'", directory);
}

static sp_status resolve_latest(const char *directory, const sp_checkpoint_state *state, char **prefix) {
  const char *named = state->model_checkpoint_path;
  if (!named || !*named)
    return sp_fail(SP_ERROR_NOT_FOUND, "'%s/%s' names no checkpoint (model_checkpoint_path is empty)", directory,
                   SP_CHECKPOINT_STATE_FILE);
  char *resolved = named[0] == '/' ? sp_strdup(named) : sp_path_join(directory, named);
  char *index = resolved ? sp_strdupf("%s.index", resolved) : NULL;
  if (!index) {
    free(resolved);
    return SP_ERROR_NO_MEMORY;
  }
  int present = sp_is_regular_file(index);
  free(index);
  if (!present) {
    free(resolved);
    return sp_fail(SP_ERROR_NOT_FOUND, "'%s/%s' names checkpoint '%s', but its .index file is missing", directory,
                   SP_CHECKPOINT_STATE_FILE, named);
  }
  *prefix = resolved;
  return SP_OK;
}

sp_status sp_latest_checkpoint(const char *directory, char **prefix) {
  *prefix = NULL;
  sp_checkpoint_state *state;
  sp_status status = sp_checkpoint_state_read(directory, &state);
  if (status == SP_ERROR_NOT_FOUND)
    return sp_fail(SP_ERROR_NOT_FOUND, "'%s' has no '%s' state file, so no latest checkpoint", directory,
                   SP_CHECKPOINT_STATE_FILE);
  SP_TRY(status);
  status = resolve_latest(directory, state, prefix);
  sp_checkpoint_state_free(state);
  return status;
}
