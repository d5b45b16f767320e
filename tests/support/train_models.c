/* train_models.c — see train_models.h. */
#include "train_models.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "savepoint/train.h"
#include "test_support.h"

sp_model *sp_test_dropout_classifier(void) {
  sp_model *model = sp_sequential("classifier");
  sp_model_set_seed(model, 99);
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){8})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(16, "relu")));
  SP_ASSERT_OK(sp_model_add(model, sp_dropout(0.3)));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(4, NULL)));
  SP_ASSERT_OK(sp_model_compile(model, sp_adam(0.01),
                                "{\"class_name\": \"SparseCategoricalCrossentropy\", \"config\": {\"from_logits\": true}}",
                                (const char *[]){"accuracy", NULL}));
  return model;
}

sp_tensor *sp_test_matrix(int64_t rows, int64_t columns, int64_t first_row, float (*value)(int64_t row, int64_t column)) {
  sp_tensor *tensor = sp_tensor_new(SP_FLOAT32, columns ? 2 : 1, (int64_t[]){rows, columns});
  cr_assert_not_null(tensor);
  int64_t width = columns ? columns : 1;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < width; c++) sp_tensor_floats(tensor)[r * width + c] = value(first_row + r, c);
  return tensor;
}

int sp_test_same_weights(sp_model *a, sp_model *b) {
  sp_variable **va, **vb;
  int count = sp_model_collect_variables(a, &va, 0);
  cr_assert_eq(sp_model_collect_variables(b, &vb, 0), count);
  int same = 1;
  for (int i = 0; i < count; i++) same &= memcmp(va[i]->value->data, vb[i]->value->data, va[i]->value->size) == 0;
  free(va);
  free(vb);
  return same;
}
