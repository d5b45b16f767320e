/* runner.c — executes a model's plan: forward for inference and training, backward for
 * gradients.
 *
 * A runner owns every per-call buffer (slot values, slot gradients, per-step scratch), so
 * one model can run in many threads with one runner each. Buffers keep their capacity
 * between calls: after the first call of a given batch size, a prediction allocates nothing.
 *
 * Gradients flow backward through the steps in reverse. The first contribution to a slot's
 * gradient is written in place by the consuming layer; later contributions (a tensor read
 * by several layers) are computed into a temporary and added.
 */
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "nn/model.h"
#include "nn/plan.h"

typedef struct buffer {
  sp_tensor tensor;
  size_t capacity;
  int borrowed; /* data belongs to the caller (a float32 model input) */
} buffer;

struct sp_runner {
  sp_model *model;
  const sp_plan *plan;
  buffer *values;
  buffer *gradients;
  unsigned char *gradient_set;
  unsigned char *is_model_input;
  buffer temporaries[SP_MAX_LAYER_INPUTS];
  sp_scratch *scratch;
  sp_rng *rng;
  int trained_forward;
};

static sp_status shape_bytes(const sp_shape *shape, size_t *bytes) {
  int64_t count;
  SP_TRY(sp_shape_count(shape->rank, shape->dims, &count));
  if (!sp_multiply_size((size_t)count, sizeof(float), bytes))
    return sp_fail(SP_ERROR_NO_MEMORY, "a tensor of %lld elements is too large", (long long)count);
  return SP_OK;
}

static sp_status ensure_buffer(buffer *slot, const sp_shape *shape) {
  size_t bytes;
  SP_TRY(shape_bytes(shape, &bytes));
  if (slot->borrowed) {
    slot->tensor.data = NULL;
    slot->borrowed = 0;
    slot->capacity = 0;
  }
  if (slot->capacity < bytes || !slot->tensor.data) {
    void *grown = sp_realloc_array(slot->capacity ? slot->tensor.data : NULL, bytes ? bytes : 1, 1);
    if (!grown) return SP_ERROR_NO_MEMORY;
    slot->tensor.data = grown;
    slot->capacity = bytes;
  }
  slot->tensor.dtype = SP_FLOAT32;
  slot->tensor.rank = shape->rank;
  memcpy(slot->tensor.shape, shape->dims, (size_t)shape->rank * sizeof *shape->dims);
  slot->tensor.size = bytes;
  slot->tensor.owns_data = 0;
  return SP_OK;
}

static void release_buffer(buffer *slot) {
  if (!slot->borrowed) free(slot->tensor.data);
  memset(slot, 0, sizeof *slot);
}

sp_status sp_runner_new(sp_model *model, sp_runner **result) {
  *result = NULL;
  SP_TRY(sp_model_build(model));
  SP_TRY(sp_model_initialize(model));
  const sp_plan *plan = model->plan;
  sp_runner *runner = sp_alloc_zeroed(1, sizeof *runner);
  if (!runner) return SP_ERROR_NO_MEMORY;
  runner->model = model;
  runner->plan = plan;
  size_t slots = (size_t)plan->slot_count ? (size_t)plan->slot_count : 1;
  runner->values = sp_alloc_zeroed(slots, sizeof *runner->values);
  runner->gradients = sp_alloc_zeroed(slots, sizeof *runner->gradients);
  runner->gradient_set = sp_alloc_zeroed(slots, 1);
  runner->is_model_input = sp_alloc_zeroed(slots, 1);
  runner->scratch = sp_alloc_zeroed((size_t)(plan->step_count ? plan->step_count : 1), sizeof *runner->scratch);
  if (!runner->values || !runner->gradients || !runner->gradient_set || !runner->is_model_input || !runner->scratch) {
    sp_runner_free(runner);
    return SP_ERROR_NO_MEMORY;
  }
  for (int i = 0; i < plan->input_count; i++) runner->is_model_input[plan->input_slots[i]] = 1;
  *result = runner;
  return SP_OK;
}

void sp_runner_free(sp_runner *runner) {
  if (!runner) return;
  const sp_plan *plan = runner->plan;
  for (int i = 0; runner->values && i < plan->slot_count; i++) release_buffer(&runner->values[i]);
  for (int i = 0; runner->gradients && i < plan->slot_count; i++) release_buffer(&runner->gradients[i]);
  for (int i = 0; i < SP_MAX_LAYER_INPUTS; i++) release_buffer(&runner->temporaries[i]);
  for (int i = 0; runner->scratch && i < plan->step_count; i++) free(runner->scratch[i].data);
  free(runner->values);
  free(runner->gradients);
  free(runner->gradient_set);
  free(runner->is_model_input);
  free(runner->scratch);
  free(runner);
}

/* Binds caller input i to its slot after checking it against the model's input shape. */
static sp_status bind_input(sp_runner *runner, int index, const sp_tensor *input) {
  const sp_plan *plan = runner->plan;
  int slot = plan->input_slots[index];
  const sp_shape *expected = &plan->slot_shapes[slot];
  sp_shape actual = sp_shape_of(input);
  int compatible = actual.rank == expected->rank;
  for (int d = 1; compatible && d < actual.rank; d++)
    compatible = expected->dims[d] < 0 || expected->dims[d] == actual.dims[d];
  if (!compatible) {
    char want[128], got[128];
    return sp_fail(SP_ERROR_MISMATCH, "input '%s' of model '%s' expects shape %s, got %s",
                   sp_model_input_name(runner->model, index), runner->model->name,
                   sp_shape_describe(expected, want, sizeof want), sp_shape_describe(&actual, got, sizeof got));
  }
  buffer *value = &runner->values[slot];
  if (input->dtype == SP_FLOAT32) {
    if (!value->borrowed) free(value->tensor.data);
    value->tensor = *input;
    value->tensor.owns_data = 0;
    value->borrowed = 1;
    value->capacity = 0;
    return SP_OK;
  }
  if (input->dtype == SP_STRING)
    return sp_fail(SP_ERROR_MISMATCH, "input '%s' of model '%s' is a string tensor; the model takes numbers",
                   sp_model_input_name(runner->model, index), runner->model->name);
  SP_TRY(ensure_buffer(value, &actual));
  float *data = sp_tensor_floats(&value->tensor);
  int64_t count = sp_tensor_count(input);
  for (int64_t i = 0; i < count; i++) data[i] = (float)sp_tensor_get_double(input, i);
  return SP_OK;
}

static sp_status run_step(sp_runner *runner, int step_index, int training) {
  const sp_step *step = &runner->plan->steps[step_index];
  const sp_layer *layer = step->layer;
  sp_tensor *inputs[SP_MAX_LAYER_INPUTS];
  sp_shape input_shapes[SP_MAX_LAYER_INPUTS], output_shapes[SP_MAX_LAYER_OUTPUTS];
  for (int i = 0; i < step->input_count; i++) {
    inputs[i] = &runner->values[step->input_slots[i]].tensor;
    input_shapes[i] = sp_shape_of(inputs[i]);
  }
  int output_count = 0;
  SP_TRY(layer->class->compute_shapes(layer, step->input_count, input_shapes, &output_count, output_shapes));
  if (output_count != step->output_count)
    return sp_fail(SP_ERROR_INTERNAL, "%s gave %d outputs at run time and %d at build time", sp_layer_describe(layer),
                   output_count, step->output_count);
  sp_tensor *outputs[SP_MAX_LAYER_OUTPUTS];
  for (int o = 0; o < output_count; o++) {
    for (int d = 0; d < output_shapes[o].rank; d++)
      if (output_shapes[o].dims[d] < 0)
        return sp_fail(SP_ERROR_MISMATCH, "%s cannot determine dimension %d of its output", sp_layer_describe(layer), d);
    SP_TRY(ensure_buffer(&runner->values[step->output_slots[o]], &output_shapes[o]));
    outputs[o] = &runner->values[step->output_slots[o]].tensor;
  }
  sp_call call = {.training = training,
                  .input_count = step->input_count,
                  .inputs = inputs,
                  .output_count = output_count,
                  .outputs = outputs,
                  .scratch = &runner->scratch[step_index],
                  .rng = runner->rng};
  return layer->class->forward(layer, &call);
}

sp_status sp_runner_forward(sp_runner *runner, int training, sp_rng *rng, int input_count,
                            const sp_tensor *const *inputs) {
  const sp_plan *plan = runner->plan;
  if (input_count != plan->input_count)
    return sp_fail(SP_ERROR_MISMATCH, "model '%s' takes %d input%s, got %d", runner->model->name, plan->input_count,
                   plan->input_count == 1 ? "" : "s", input_count);
  if (training && !rng) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "training needs a random generator");
  int64_t batch = input_count ? inputs[0]->shape[0] : 0;
  for (int i = 0; i < input_count; i++) {
    if (inputs[i]->rank < 1 || inputs[i]->shape[0] != batch)
      return sp_fail(SP_ERROR_MISMATCH, "inputs of model '%s' must share their first (batch) dimension: input 0 has "
                     "%lld rows, input %d has %lld", runner->model->name, (long long)batch, i,
                     (long long)(inputs[i]->rank ? inputs[i]->shape[0] : 0));
    SP_TRY(bind_input(runner, i, inputs[i]));
  }
  runner->rng = rng;
  runner->trained_forward = 0;
  for (int s = 0; s < plan->step_count; s++) {
    sp_status status = run_step(runner, s, training);
    if (status != SP_OK) return sp_error_context(status, "running %s", sp_layer_describe(plan->steps[s].layer));
  }
  runner->trained_forward = training;
  return SP_OK;
}

sp_tensor *sp_runner_output(const sp_runner *runner, int index) {
  return &runner->values[runner->plan->output_slots[index]].tensor;
}

sp_status sp_runner_predict(sp_runner *runner, int input_count, const sp_tensor *const *inputs, int *output_count,
                            sp_tensor *const **outputs) {
  SP_TRY(sp_runner_forward(runner, 0, NULL, input_count, inputs));
  static _Thread_local sp_tensor *views[64];
  const sp_plan *plan = runner->plan;
  if (plan->output_count > 64) return sp_fail(SP_ERROR_UNSUPPORTED, "more than 64 model outputs");
  for (int i = 0; i < plan->output_count; i++) views[i] = sp_runner_output(runner, i);
  *output_count = plan->output_count;
  *outputs = views;
  return SP_OK;
}

/* ---- backward ---- */

static void add_into(sp_tensor *destination, const sp_tensor *source) {
  float *d = sp_tensor_floats(destination);
  const float *s = sp_tensor_floats(source);
  int64_t count = sp_tensor_count(destination);
  for (int64_t i = 0; i < count; i++) d[i] += s[i];
}

/* Gives slot's gradient buffer the slot's shape; zero-filled when zero is asked. */
static sp_status prepare_gradient(sp_runner *runner, int slot, int zero) {
  sp_shape shape = sp_shape_of(&runner->values[slot].tensor);
  SP_TRY(ensure_buffer(&runner->gradients[slot], &shape));
  if (zero) memset(runner->gradients[slot].tensor.data, 0, runner->gradients[slot].tensor.size);
  return SP_OK;
}

static sp_status backward_step(sp_runner *runner, int step_index) {
  const sp_step *step = &runner->plan->steps[step_index];
  const sp_layer *layer = step->layer;
  int any_output = 0;
  for (int o = 0; o < step->output_count; o++) any_output |= runner->gradient_set[step->output_slots[o]];
  if (!any_output) return SP_OK;
  sp_tensor *output_gradients[SP_MAX_LAYER_OUTPUTS], *input_gradients[SP_MAX_LAYER_INPUTS];
  for (int o = 0; o < step->output_count; o++) {
    int slot = step->output_slots[o];
    if (!runner->gradient_set[slot]) {
      SP_TRY(prepare_gradient(runner, slot, 1));
      runner->gradient_set[slot] = 1;
    }
    output_gradients[o] = &runner->gradients[slot].tensor;
  }
  enum { NOT_NEEDED, DIRECT, ACCUMULATE } route[SP_MAX_LAYER_INPUTS];
  int needs_any = 0;
  for (int i = 0; i < step->input_count; i++) {
    int slot = step->input_slots[i], claimed = 0;
    for (int j = 0; j < i; j++) claimed |= route[j] == DIRECT && step->input_slots[j] == slot;
    if (runner->is_model_input[slot]) {
      route[i] = NOT_NEEDED;
      input_gradients[i] = NULL;
    } else if (!runner->gradient_set[slot] && !claimed) {
      route[i] = DIRECT;
      SP_TRY(prepare_gradient(runner, slot, 0));
      input_gradients[i] = &runner->gradients[slot].tensor;
    } else {
      route[i] = ACCUMULATE;
      sp_shape shape = sp_shape_of(&runner->values[slot].tensor);
      SP_TRY(ensure_buffer(&runner->temporaries[i], &shape));
      input_gradients[i] = &runner->temporaries[i].tensor;
    }
    needs_any |= route[i] != NOT_NEEDED;
  }
  if (!layer->class->backward) {
    if (!needs_any && layer->variable_count == 0) return SP_OK;
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s cannot be trained through: it has no backward pass", sp_layer_describe(layer));
  }
  sp_tensor *inputs[SP_MAX_LAYER_INPUTS], *outputs[SP_MAX_LAYER_OUTPUTS];
  for (int i = 0; i < step->input_count; i++) inputs[i] = &runner->values[step->input_slots[i]].tensor;
  for (int o = 0; o < step->output_count; o++) outputs[o] = &runner->values[step->output_slots[o]].tensor;
  sp_call call = {.training = 1,
                  .input_count = step->input_count,
                  .inputs = inputs,
                  .output_count = step->output_count,
                  .outputs = outputs,
                  .output_gradients = output_gradients,
                  .input_gradients = input_gradients,
                  .scratch = &runner->scratch[step_index],
                  .rng = runner->rng};
  SP_TRY(layer->class->backward(layer, &call));
  for (int i = 0; i < step->input_count; i++)
    if (route[i] == DIRECT) runner->gradient_set[step->input_slots[i]] = 1;
  for (int i = 0; i < step->input_count; i++)
    if (route[i] == ACCUMULATE) add_into(&runner->gradients[step->input_slots[i]].tensor, input_gradients[i]);
  return SP_OK;
}

sp_status sp_runner_backward(sp_runner *runner, sp_tensor *const *output_gradients) {
  const sp_plan *plan = runner->plan;
  if (!runner->trained_forward)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "backward needs a preceding forward pass in training mode");
  memset(runner->gradient_set, 0, (size_t)plan->slot_count);
  for (int o = 0; o < plan->output_count; o++) {
    int slot = plan->output_slots[o];
    if (!output_gradients[o]) continue;
    if (!sp_tensor_same_shape(output_gradients[o], &runner->values[slot].tensor))
      return sp_fail(SP_ERROR_MISMATCH, "the gradient of output %d does not have the output's shape", o);
    if (runner->gradient_set[slot]) {
      add_into(&runner->gradients[slot].tensor, output_gradients[o]);
      continue;
    }
    SP_TRY(prepare_gradient(runner, slot, 0));
    memcpy(runner->gradients[slot].tensor.data, output_gradients[o]->data, output_gradients[o]->size);
    runner->gradient_set[slot] = 1;
  }
  for (int s = plan->step_count - 1; s >= 0; s--) {
    sp_status status = backward_step(runner, s);
    if (status != SP_OK) return sp_error_context(status, "backward through %s", sp_layer_describe(plan->steps[s].layer));
  }
  return SP_OK;
}

/* ---- whole-batch prediction ---- */

enum { PREDICT_CHUNK = 4096 };

sp_status sp_model_predict(sp_model *model, int input_count, const sp_tensor *const *inputs, int *output_count,
                           sp_tensor ***outputs) {
  *outputs = NULL;
  *output_count = 0;
  sp_runner *runner;
  SP_TRY(sp_runner_new(model, &runner));
  int64_t rows = input_count > 0 && inputs[0]->rank > 0 ? inputs[0]->shape[0] : 0;
  int count = model->plan->output_count;
  sp_tensor **results = sp_alloc_zeroed((size_t)count, sizeof *results);
  sp_status status = results ? SP_OK : SP_ERROR_NO_MEMORY;
  for (int64_t start = 0; status == SP_OK && (start < rows || (rows == 0 && start == 0)); start += PREDICT_CHUNK) {
    int64_t take = rows - start < PREDICT_CHUNK ? rows - start : PREDICT_CHUNK;
    sp_tensor views[SP_MAX_LAYER_INPUTS];
    const sp_tensor *chunk[SP_MAX_LAYER_INPUTS];
    if (input_count > SP_MAX_LAYER_INPUTS) status = sp_fail(SP_ERROR_UNSUPPORTED, "too many model inputs");
    for (int i = 0; i < input_count && status == SP_OK; i++) {
      views[i] = *inputs[i];
      if (views[i].rank > 0 && inputs[i]->shape[0] == rows) {
        size_t row_bytes = rows ? inputs[i]->size / (size_t)rows : 0;
        views[i].shape[0] = take;
        views[i].data = (char *)inputs[i]->data + (size_t)start * row_bytes;
        views[i].size = (size_t)take * row_bytes;
      }
      chunk[i] = &views[i];
    }
    if (status == SP_OK) status = sp_runner_forward(runner, 0, NULL, input_count, chunk);
    for (int o = 0; o < count && status == SP_OK; o++) {
      const sp_tensor *piece = sp_runner_output(runner, o);
      if (!results[o]) {
        int64_t shape[SP_MAX_RANK];
        memcpy(shape, piece->shape, sizeof shape);
        shape[0] = rows;
        results[o] = sp_tensor_new(SP_FLOAT32, piece->rank, shape);
        if (!results[o]) status = SP_ERROR_NO_MEMORY;
      }
      if (status == SP_OK && piece->size) {
        size_t row_bytes = piece->size / (size_t)piece->shape[0];
        memcpy((char *)results[o]->data + (size_t)start * row_bytes, piece->data, piece->size);
      }
    }
    if (rows == 0) break;
  }
  sp_runner_free(runner);
  if (status != SP_OK) {
    for (int o = 0; results && o < count; o++) sp_tensor_free(results[o]);
    free(results);
    return status;
  }
  *outputs = results;
  *output_count = count;
  return SP_OK;
}
