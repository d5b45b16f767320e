/* swap_ema_weights.c — Keras's SwapEMAWeights (keras/src/callbacks/swap_ema_weights.py): with an
 * optimizer that keeps weight averages (use_ema), evaluation runs on the averages, and with
 * swap_on_epoch so do the callbacks after it at epoch end (a ModelCheckpoint placed after it
 * saves the averages). The swap exchanges values exactly, as Keras's JAX and torch backends do
 * (TensorFlow's exchanges them by additions, which can round). Whether the averages are in the
 * model is the callback's resumable state.
 */
#include <string.h>

#include "core/json.h"
#include "core/memory.h"
#include "nn/optimizer.h"
#include "train/loop.h"

typedef struct swap_state {
  int swap_on_epoch;
  int averages_in_model;
} swap_state;

static sp_status swap(sp_training *training, swap_state *state, int into_model) {
  if (state->averages_in_model == into_model) return SP_OK;
  sp_optimizer *optimizer = sp_model_optimizer(training->model);
  if (!optimizer) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "SwapEMAWeights needs a compiled model with use_ema=True");
  SP_TRY(sp_optimizer_swap_averages(optimizer));
  state->averages_in_model = into_model;
  return SP_OK;
}

static sp_status swap_epoch_begin(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs) {
  swap_state *state = self->context;
  return state->swap_on_epoch ? swap(training, state, 0) : SP_OK;
}

/* In the last epoch the averages also take the values now in the model, so that fit's final
 * overwrite with the averages leaves the model as the callbacks saw it. */
static sp_status swap_epoch_end(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs) {
  swap_state *state = self->context;
  if (!state->swap_on_epoch || state->averages_in_model) return SP_OK;
  SP_TRY(swap(training, state, 1));
  if (epoch == training->epochs - 1) SP_TRY(sp_optimizer_set_averages_from_variables(sp_model_optimizer(training->model)));
  return SP_OK;
}

static sp_status swap_test_begin(sp_callback *self, sp_training *training, const sp_logs *logs) {
  return swap(training, self->context, 1);
}

static sp_status swap_test_end(sp_callback *self, sp_training *training, const sp_logs *logs) {
  return swap(training, self->context, 0);
}

static sp_status swap_save_state(sp_callback *self, char **json) {
  const swap_state *state = self->context;
  *json = sp_strdupf("{\"averages_in_model\": %s}", state->averages_in_model ? "true" : "false");
  return *json ? SP_OK : SP_ERROR_NO_MEMORY;
}

static sp_status swap_restore_state(sp_callback *self, const char *json) {
  swap_state *state = self->context;
  json_object *root;
  SP_TRY(sp_json_parse(json, strlen(json), "SwapEMAWeights state", &root));
  int in_model = 0;
  sp_status status = sp_json_get_bool(root, "averages_in_model", 0, "SwapEMAWeights state", &in_model);
  json_object_put(root);
  if (status == SP_OK) state->averages_in_model = in_model;
  return status;
}

sp_callback *sp_swap_ema_weights(int swap_on_epoch) {
  sp_callback *callback;
  if (sp_callback_with_context("swap_ema_weights", sizeof(swap_state), sp_callback_free_context, &callback) != SP_OK) return NULL;
  ((swap_state *)callback->context)->swap_on_epoch = swap_on_epoch != 0;
  callback->on_epoch_begin = swap_epoch_begin;
  callback->on_epoch_end = swap_epoch_end;
  callback->on_test_begin = swap_test_begin;
  callback->on_test_end = swap_test_end;
  callback->save_state = swap_save_state;
  callback->restore_state = swap_restore_state;
  return callback;
}
