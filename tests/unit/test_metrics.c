/* Tests of the metrics: how "accuracy" resolves (compile_utils.get_metric), each accuracy's
 * matches, loss functions as metrics, running means over batches, names and configs. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "core/json.h"
#include "nn/metric.h"
#include "layer_run.h"
#include "test_support.h"

static sp_metric metric_named(const char *spec) {
  json_object *value;
  if (spec[0] == '{') SP_ASSERT_OK(sp_json_parse(spec, strlen(spec), "test", &value));
  else value = json_object_new_string(spec);
  sp_metric metric;
  SP_ASSERT_OK(sp_metric_parse(value, "test", &metric));
  json_object_put(value);
  return metric;
}

static sp_metric_kind resolved_kind(const char *name, int true_rank, const int64_t *true_shape, int pred_rank,
                                    const int64_t *pred_shape) {
  sp_tensor *y_true = sp_tensor_new(SP_FLOAT32, true_rank, true_shape), *y_pred = sp_tensor_new(SP_FLOAT32, pred_rank, pred_shape);
  sp_metric metric = metric_named(name);
  SP_ASSERT_OK(sp_metric_resolve(&metric, y_true, y_pred));
  sp_tensor_free(y_true);
  sp_tensor_free(y_pred);
  return metric.kind;
}

Test(metrics, accuracy_resolves_like_keras) {
  /* y_pred's last axis 1 → binary */
  cr_assert_eq(resolved_kind("accuracy", 2, (int64_t[]){4, 1}, 2, (int64_t[]){4, 1}), SP_METRIC_BINARY_ACCURACY);
  cr_assert_eq(resolved_kind("acc", 1, (int64_t[]){4}, 2, (int64_t[]){4, 1}), SP_METRIC_BINARY_ACCURACY);
  /* labels of lower rank, or a last axis 1 against classes → sparse */
  cr_assert_eq(resolved_kind("accuracy", 1, (int64_t[]){4}, 2, (int64_t[]){4, 10}), SP_METRIC_SPARSE_CATEGORICAL_ACCURACY);
  cr_assert_eq(resolved_kind("Accuracy", 2, (int64_t[]){4, 1}, 2, (int64_t[]){4, 10}), SP_METRIC_SPARSE_CATEGORICAL_ACCURACY);
  /* one-hot targets → categorical */
  cr_assert_eq(resolved_kind("accuracy", 2, (int64_t[]){4, 10}, 2, (int64_t[]){4, 10}), SP_METRIC_CATEGORICAL_ACCURACY);
}

Test(metrics, accuracies_count_matches) {
  float binary_true[] = {0, 1, 1, 0}, binary_pred[] = {0.2f, 0.7f, 0.5f, 0.9f};
  sp_tensor *bt = sp_test_tensor(2, (int64_t[]){4, 1}, binary_true), *bp = sp_test_tensor(2, (int64_t[]){4, 1}, binary_pred);
  sp_metric binary = metric_named("binary_accuracy");
  SP_ASSERT_OK(sp_metric_resolve(&binary, bt, bp));
  SP_ASSERT_OK(sp_metric_update(&binary, bt, bp));
  /* 0.5 is not above the threshold: matches are 1, 1, 0, 0 */
  cr_assert_float_eq(sp_metric_result(&binary), 0.5, 1e-7);
  float probabilities[] = {0.1f, 0.7f, 0.2f, 0.3f, 0.3f, 0.4f, 0.5f, 0.5f, 0.0f}, labels[] = {1, 0, 0};
  float one_hot[] = {0, 1, 0, 1, 0, 0, 0, 1, 0};
  sp_tensor *p = sp_test_tensor(2, (int64_t[]){3, 3}, probabilities), *l = sp_test_tensor(1, (int64_t[]){3}, labels);
  sp_tensor *h = sp_test_tensor(2, (int64_t[]){3, 3}, one_hot);
  sp_metric sparse = metric_named("sparse_categorical_accuracy");
  SP_ASSERT_OK(sp_metric_resolve(&sparse, l, p));
  SP_ASSERT_OK(sp_metric_update(&sparse, l, p));
  /* argmax rows: 1, 2, 0 (ties go to the first index) against 1, 0, 0 */
  cr_assert_float_eq(sp_metric_result(&sparse), (float)(2.0 / 3), 1e-7);
  sp_metric categorical = metric_named("categorical_accuracy");
  SP_ASSERT_OK(sp_metric_resolve(&categorical, h, p));
  SP_ASSERT_OK(sp_metric_update(&categorical, h, p));
  /* one-hot argmax: 1, 0, 1 against predictions 1, 2, 0 */
  cr_assert_float_eq(sp_metric_result(&categorical), (float)(1.0 / 3), 1e-7);
  sp_tensor *tensors[] = {bt, bp, p, l, h};
  for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++) sp_tensor_free(tensors[i]);
}

Test(metrics, running_means_weight_every_sample) {
  sp_metric mae = metric_named("mae");
  cr_assert_eq(mae.kind, SP_METRIC_LOSS);
  cr_assert_str_eq(mae.name, "mae");
  float t1[] = {0, 0}, p1[] = {1, 3}, t2[] = {0}, p2[] = {5};
  sp_tensor *a = sp_test_tensor(2, (int64_t[]){2, 1}, t1), *b = sp_test_tensor(2, (int64_t[]){2, 1}, p1);
  sp_tensor *c = sp_test_tensor(2, (int64_t[]){1, 1}, t2), *d = sp_test_tensor(2, (int64_t[]){1, 1}, p2);
  SP_ASSERT_OK(sp_metric_resolve(&mae, a, b));
  SP_ASSERT_OK(sp_metric_update(&mae, a, b));
  SP_ASSERT_OK(sp_metric_update(&mae, c, d));
  /* three samples: (1 + 3 + 5) / 3, not the mean of the batch means */
  cr_assert_float_eq(sp_metric_result(&mae), 3.0, 1e-7);
  sp_metric loss;
  sp_metric_init_mean(&loss, "loss");
  cr_assert_eq(sp_metric_result(&loss), 0.0);
  sp_metric_add(&loss, 1.0, 32);
  sp_metric_add(&loss, 4.0, 8);
  cr_assert_float_eq(sp_metric_result(&loss), (32.0 + 32.0) / 40, 1e-7);
  sp_metric_reset(&loss);
  cr_assert_eq(sp_metric_result(&loss), 0.0);
  sp_tensor *tensors[] = {a, b, c, d};
  for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++) sp_tensor_free(tensors[i]);
}

Test(metrics, names_and_configs) {
  cr_assert_str_eq(metric_named("SparseCategoricalAccuracy").name, "sparse_categorical_accuracy");
  cr_assert_str_eq(metric_named("acc").name, "acc");
  sp_metric wrapped = metric_named("{\"class_name\": \"MeanMetricWrapper\", \"config\": {\"name\": \"accuracy\", "
                                   "\"dtype\": \"float32\", \"fn\": \"categorical_accuracy\"}}");
  cr_assert_eq(wrapped.kind, SP_METRIC_CATEGORICAL_ACCURACY);
  cr_assert_str_eq(wrapped.name, "accuracy");
  sp_metric thresholded = metric_named("{\"module\": \"keras.metrics\", \"class_name\": \"BinaryAccuracy\", "
                                       "\"config\": {\"name\": \"bin\", \"threshold\": 0.7}, \"registered_name\": null}");
  cr_assert_float_eq(thresholded.threshold, 0.7, 1e-12);
  cr_assert_str_eq(thresholded.name, "bin");
  sp_metric metric;
  json_object *unknown = json_object_new_string("f1_of_doom");
  SP_ASSERT_FAILS(sp_metric_parse(unknown, "compile", &metric), SP_ERROR_UNSUPPORTED, "accuracy");
  json_object_put(unknown);
}
