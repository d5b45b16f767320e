/* Inference from many threads on one loaded model: four threads run sp_model_predict (whole
 * batches) and their own sp_runner (one sample at a time) on the same model at once, and every
 * result must equal the single-thread result for the same call. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "savepoint/model.h"
#include "test_support.h"

enum { SAMPLES = 48, FEATURES = 784, CLASSES = 10, THREADS = 4, ROUNDS = 6 };

typedef struct shared {
  sp_model *model;
  sp_tensor *inputs;
  float batch_reference[SAMPLES * CLASSES];
  float single_reference[SAMPLES * CLASSES];
} shared;

typedef struct worker {
  shared *data;
  int mismatches;
  sp_status status;
} worker;

static sp_tensor *sample(const sp_tensor *inputs, int row) {
  return sp_tensor_wrap(SP_FLOAT32, 2, (int64_t[]){1, FEATURES}, sp_tensor_floats(inputs) + (size_t)row * FEATURES);
}

static sp_status predict_batch(sp_model *model, const sp_tensor *inputs, float *out) {
  int count;
  sp_tensor **outputs;
  SP_TRY(sp_model_predict(model, 1, &inputs, &count, &outputs));
  memcpy(out, outputs[0]->data, outputs[0]->size);
  sp_tensor_free(outputs[0]);
  free(outputs);
  return SP_OK;
}

static sp_status predict_singles(sp_model *model, const sp_tensor *inputs, float *out) {
  sp_runner *runner;
  SP_TRY(sp_runner_new(model, &runner));
  sp_status status = SP_OK;
  for (int row = 0; row < SAMPLES && status == SP_OK; row++) {
    sp_tensor *one = sample(inputs, row);
    int count;
    sp_tensor *const *outputs;
    status = sp_runner_predict(runner, 1, (const sp_tensor *const *)&one, &count, &outputs);
    if (status == SP_OK) memcpy(out + row * CLASSES, outputs[0]->data, CLASSES * sizeof(float));
    sp_tensor_free(one);
  }
  sp_runner_free(runner);
  return status;
}

static int differences(const float *a, const float *b) {
  int count = 0;
  for (int i = 0; i < SAMPLES * CLASSES; i++) count += fabsf(a[i] - b[i]) > 1e-6f * fmaxf(1.0f, fabsf(b[i]));
  return count;
}

static void *work(void *argument) {
  worker *w = argument;
  float batch[SAMPLES * CLASSES], single[SAMPLES * CLASSES];
  for (int round = 0; round < ROUNDS && w->status == SP_OK; round++) {
    w->status = predict_batch(w->data->model, w->data->inputs, batch);
    if (w->status == SP_OK) w->status = predict_singles(w->data->model, w->data->inputs, single);
    if (w->status == SP_OK)
      w->mismatches += differences(batch, w->data->batch_reference) + differences(single, w->data->single_reference);
  }
  return NULL;
}

Test(inference, four_threads_share_one_model) {
  shared data = {0};
  data.model = sp_sequential("demo");
  sp_model_set_seed(data.model, 5);
  SP_ASSERT_OK(sp_model_add(data.model, sp_input(1, (int64_t[]){FEATURES})));
  SP_ASSERT_OK(sp_model_add(data.model, sp_dense(128, "relu")));
  SP_ASSERT_OK(sp_model_add(data.model, sp_dropout(0.2)));
  SP_ASSERT_OK(sp_model_add(data.model, sp_dense(CLASSES, "softmax")));
  SP_ASSERT_OK(sp_model_build(data.model));
  data.inputs = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){SAMPLES, FEATURES});
  for (int i = 0; i < SAMPLES * FEATURES; i++) sp_tensor_floats(data.inputs)[i] = (float)((i * 37 % 255) / 255.0);
  /* the first prediction initializes the weights; afterwards the model is only read */
  SP_ASSERT_OK(predict_batch(data.model, data.inputs, data.batch_reference));
  SP_ASSERT_OK(predict_singles(data.model, data.inputs, data.single_reference));
  pthread_t threads[THREADS];
  worker workers[THREADS];
  for (int t = 0; t < THREADS; t++) {
    workers[t] = (worker){&data, 0, SP_OK};
    cr_assert_eq(pthread_create(&threads[t], NULL, work, &workers[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
  for (int t = 0; t < THREADS; t++) {
    cr_assert_eq(workers[t].status, SP_OK, "thread %d failed", t);
    cr_assert_eq(workers[t].mismatches, 0, "thread %d saw %d values differ from the single-thread result", t,
                 workers[t].mismatches);
  }
  sp_tensor_free(data.inputs);
  sp_model_free(data.model);
}
