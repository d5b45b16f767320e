/* io_check.h — helpers for the model-format tests: the inputs PROVENANCE.md Appendix F uses and
 * a prediction check against its expected outputs (header-only; include after test_support.h). */
#ifndef SP_TEST_IO_CHECK_H
#define SP_TEST_IO_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "savepoint/io.h"
#include "test_support.h"

/* Appendix F's gen(n): three rows zeros(n), ones(n), linspace(-1, 1, n) as float32. */
static inline float *sp_test_gen(int n) {
  float *rows = calloc(3 * (size_t)n, sizeof *rows);
  for (int i = 0; i < n; i++) {
    rows[n + i] = 1.0f;
    rows[2 * n + i] = n > 1 ? (float)(-1.0 + 2.0 * i / (n - 1)) : -1.0f;
  }
  return rows;
}

/* Appendix F: keras2.15-mnist-mlp (.h5, .keras and TF.js alike) on an all-zeros and an all-ones
 * 28x28 image. */
static const float sp_test_mnist_expected[20] = {
    0.105663f,     0.064478f,     0.05333858f,   0.05122029f,  0.1581578f,     0.1650072f,     0.1641564f,
    0.09853888f,   0.06285681f,   0.07658308f,   2.535037e-07f, 3.608264e-07f, 4.294828e-09f, 0.07744481f,
    5.767885e-41f, 0.9225546f,    1.017328e-10f, 2.074359e-15f, 4.311687e-09f, 1.876934e-12f};

/* Predicts on one input of the given shape (batch first) and compares output 0 with expected to
 * Appendix F's tolerance (1e-4 relative, 1e-6 absolute near zero). */
static inline void sp_test_predict_close(sp_model *model, const float *input, int rank, const int64_t *shape,
                                         const float *expected, size_t expected_count, const char *what) {
  sp_tensor *tensor = sp_tensor_wrap(SP_FLOAT32, rank, shape, (void *)input);
  cr_assert_not_null(tensor);
  int count = 0;
  sp_tensor **outputs = NULL;
  sp_status status = sp_model_predict(model, 1, (const sp_tensor *const *)&tensor, &count, &outputs);
  cr_assert(status == SP_OK, "%s: predict failed: %s", what, sp_last_error());
  cr_assert_eq((size_t)sp_tensor_count(outputs[0]), expected_count, "%s: %lld outputs, expected %zu", what,
               (long long)sp_tensor_count(outputs[0]), expected_count);
  sp_assert_close(sp_tensor_floats(outputs[0]), expected, expected_count, 1e-4, 1e-6, what);
  for (int i = 0; i < count; i++) sp_tensor_free(outputs[i]);
  free(outputs);
  sp_tensor_free(tensor);
}

/* Loads a fixture through sp_load (path and content decide the codec); fails the test on error. */
static inline sp_model *sp_test_load_fixture(const char *relative) {
  char *path = sp_test_fixture(relative);
  sp_model *model = NULL;
  sp_status status = sp_load(path, NULL, &model);
  cr_assert(status == SP_OK, "loading %s: %s", relative, sp_last_error());
  free(path);
  return model;
}

/* Skips the running test when a layer class the fixture needs is not in this build yet. */
static inline void sp_test_require_layer(const char *class_name, const char *branch) {
  if (!sp_find_layer_class(class_name))
    cr_skip_test("layer class %s is not in this build yet (branch %s); fixture check skipped", class_name, branch);
}

/* 1 when two models' variables are bit-identical, in order. */
static inline int sp_test_same_weights(const sp_model *a, const sp_model *b) {
  sp_variable **va, **vb;
  int ca = sp_model_collect_variables(a, &va, 0), cb = sp_model_collect_variables(b, &vb, 0);
  int same = ca == cb && ca >= 0;
  for (int i = 0; same && i < ca; i++)
    same = va[i]->value->size == vb[i]->value->size && memcmp(va[i]->value->data, vb[i]->value->data, va[i]->value->size) == 0;
  free(va);
  free(vb);
  return same;
}

#endif
