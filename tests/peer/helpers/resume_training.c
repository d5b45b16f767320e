/* resume_training.c — training interrupted by a save and resumed in another process, for
 * tests/integration/test_resume_cross_process.sh.
 *
 *   resume_training fresh OUT EPOCHS            builds the model, trains epochs [0, EPOCHS), saves OUT
 *   resume_training resume IN OUT FROM EPOCHS   loads IN (weights, optimizer state), trains epochs
 *                                               [FROM, EPOCHS) and saves OUT
 *   resume_training compare A B                 loads both; exit 0 when their weights and optimizer
 *                                               variables are bit-identical, 1 naming the first difference
 *
 * The model (Dense → Dropout → Dense, Adam, sparse categorical cross-entropy from logits), the data
 * and the seed are fixed here, so every process trains on the same thing; shuffling and dropout
 * are hash(seed, epoch[, batch]) (docs/ARCHITECTURE.md), so resuming at epoch FROM needs only the
 * saved weights and optimizer variables. OUT's format follows its name (.keras, .h5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "savepoint/io.h"
#include "savepoint/train.h"

enum { SAMPLES = 96, FEATURES = 8, CLASSES = 3, SEED = 2024 };

static sp_status make_data(sp_tensor **x, sp_tensor **y) {
  *x = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){SAMPLES, FEATURES});
  *y = sp_tensor_new(SP_INT64, 1, (int64_t[]){SAMPLES});
  if (!*x || !*y) return SP_ERROR_NO_MEMORY;
  int64_t *labels = (*y)->data;
  for (int i = 0; i < SAMPLES; i++) {
    float sum = 0;
    for (int j = 0; j < FEATURES; j++) {
      float value = (float)((i * 37 + j * 11) % 23) / 23.0f - 0.5f;
      sp_tensor_floats(*x)[i * FEATURES + j] = value;
      sum += value * (float)(j % 3 - 1);
    }
    labels[i] = sum < -0.2f ? 0 : sum < 0.2f ? 1 : 2;
  }
  return SP_OK;
}

static sp_status build(sp_model **model) {
  *model = sp_sequential("resumable");
  if (!*model) return SP_ERROR_NO_MEMORY;
  sp_model_set_seed(*model, SEED);
  SP_TRY(sp_model_add(*model, sp_input(1, (int64_t[]){FEATURES})));
  SP_TRY(sp_model_add(*model, sp_dense(16, "relu")));
  SP_TRY(sp_model_add(*model, sp_dropout(0.3)));
  SP_TRY(sp_model_add(*model, sp_dense(CLASSES, NULL)));
  return sp_model_compile(*model, sp_adam(0.01),
                          "{\"class_name\": \"SparseCategoricalCrossentropy\", \"config\": {\"from_logits\": true}}",
                          (const char *[]){"accuracy", NULL});
}

static sp_status train(sp_model *model, int from, int epochs) {
  sp_tensor *x = NULL, *y = NULL;
  sp_status status = make_data(&x, &y);
  sp_fit_options options = sp_fit_defaults();
  options.batch_size = 16;
  options.initial_epoch = from;
  options.epochs = epochs;
  options.seed = SEED;
  options.verbose = 0;
  if (status == SP_OK) status = sp_model_fit(model, x, y, &options, NULL);
  sp_tensor_free(x);
  sp_tensor_free(y);
  return status;
}

static int same_tensor(const sp_tensor *a, const sp_tensor *b) {
  return a->dtype == b->dtype && a->size == b->size && memcmp(a->data, b->data, a->size) == 0;
}

static int compare(sp_model *a, sp_model *b) {
  sp_variable **va, **vb;
  int ca = sp_model_collect_variables(a, &va, 0), cb = sp_model_collect_variables(b, &vb, 0);
  int differ = ca != cb;
  for (int i = 0; !differ && i < ca; i++)
    if (!same_tensor(va[i]->value, vb[i]->value)) {
      fprintf(stderr, "resume_training: weight %d ('%s' of layer '%s') differs\n", i, va[i]->name, va[i]->layer->name);
      differ = 1;
    }
  free(va);
  free(vb);
  const sp_optimizer *oa = sp_model_optimizer(a), *ob = sp_model_optimizer(b);
  if (!differ && (!oa || !ob || sp_optimizer_variable_count(oa) != sp_optimizer_variable_count(ob))) {
    fprintf(stderr, "resume_training: the optimizers differ (missing, or another variable count)\n");
    differ = 1;
  }
  for (int i = 0; !differ && i < sp_optimizer_variable_count(oa); i++)
    if (!same_tensor(sp_optimizer_variable_value(oa, i), sp_optimizer_variable_value(ob, i))) {
      fprintf(stderr, "resume_training: optimizer variable '%s' differs\n", sp_optimizer_variable_name(oa, i));
      differ = 1;
    }
  if (!differ && sp_optimizer_variable_count(oa) < 3) {
    fprintf(stderr, "resume_training: the optimizer state was not restored (%d variables)\n", sp_optimizer_variable_count(oa));
    differ = 1;
  }
  return differ;
}

static int fail(const char *what) {
  fprintf(stderr, "resume_training: %s: %s\n", what, sp_last_error());
  return 1;
}

int main(int argc, char **argv) {
  sp_model *model = NULL, *other = NULL;
  if (argc == 4 && strcmp(argv[1], "fresh") == 0) {
    sp_status status = build(&model);
    if (status == SP_OK) status = train(model, 0, atoi(argv[3]));
    if (status == SP_OK) status = sp_save(model, argv[2], NULL);
    sp_model_free(model);
    return status == SP_OK ? 0 : fail(argv[2]);
  }
  if (argc == 6 && strcmp(argv[1], "resume") == 0) {
    sp_status status = sp_load(argv[2], NULL, &model);
    if (status == SP_OK) status = train(model, atoi(argv[4]), atoi(argv[5]));
    if (status == SP_OK) status = sp_save(model, argv[3], NULL);
    sp_model_free(model);
    return status == SP_OK ? 0 : fail(argv[2]);
  }
  if (argc == 4 && strcmp(argv[1], "compare") == 0) {
    if (sp_load(argv[2], NULL, &model) != SP_OK) return fail(argv[2]);
    if (sp_load(argv[3], NULL, &other) != SP_OK) {
      sp_model_free(model);
      return fail(argv[3]);
    }
    int differ = compare(model, other);
    sp_model_free(model);
    sp_model_free(other);
    return differ;
  }
  fprintf(stderr, "usage: resume_training fresh OUT EPOCHS | resume IN OUT FROM EPOCHS | compare A B\n");
  return 2;
}
