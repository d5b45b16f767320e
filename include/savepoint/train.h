/* train.h — compile, fit and evaluate models, as Keras does; optimizers; datasets.
 *
 *   sp_model_compile(model, sp_adam(1e-3),
 *                    "{\"class_name\": \"SparseCategoricalCrossentropy\", \"config\": {\"from_logits\": true}}",
 *                    (const char *[]){"accuracy", NULL});
 *   sp_fit_options options = sp_fit_defaults();
 *   options.epochs = 10;
 *   sp_history *history;
 *   sp_model_fit(model, x, y, &options, &history);
 *
 * Losses, metrics and optimizers are Keras 3's: the same names, configs, defaults and formulas
 * (update rules are cited in src/nn/optimizer.c), and the optimizer's variables are ordered and
 * named as Keras 3 saves them (iteration, learning_rate, then slots interleaved per variable).
 *
 * Determinism contract. A run is a pure function of the initial weights, the data, the options
 * and one 64-bit seed (sp_fit_options.seed; when it is -1, the seed is derived from the model's
 * generator state, see sp_model_set_seed, without advancing it):
 *   - the order of the samples in epoch e is a shuffle drawn from a generator seeded with
 *     hash(seed, e); it does not depend on what ran before epoch e;
 *   - the dropout (and any other training randomness) of batch b in epoch e comes from a
 *     generator seeded with hash(seed, e, b);
 *   - the optimizer's step depends only on its variables (iteration included) and the gradients.
 * So fit(epochs=5) then fit(initial_epoch=5, epochs=10), in one process or after saving and
 * reloading the weights and optimizer variables in another, gives bit-identical weights to
 * fit(epochs=10) with the same seed, on the same machine and BLAS (OpenBLAS kernels are
 * deterministic for a fixed core type and thread count). A run stopped after batch k of epoch e
 * resumes from its sp_training_state (epoch e, batch k, the metric sums) identically.
 * Validation data is never shuffled; validation_split takes the last fraction of the arrays
 * before any shuffling, as Keras does.
 *
 * Thread safety: training needs exclusive use of the model (see model.h).
 */
#ifndef SAVEPOINT_TRAIN_H
#define SAVEPOINT_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "savepoint/callbacks.h"
#include "savepoint/model.h"
#include "savepoint/status.h"
#include "savepoint/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- optimizers (Keras 3 defaults for everything not given) ---- */

typedef struct sp_optimizer sp_optimizer;

/* Constructors return NULL on failure (see sp_last_error); sp_model_compile reports that failure. */
sp_optimizer *sp_sgd(double learning_rate, double momentum, int nesterov);
sp_optimizer *sp_adam(double learning_rate);
sp_optimizer *sp_adamw(double learning_rate, double weight_decay);
sp_optimizer *sp_rmsprop(double learning_rate);
sp_optimizer *sp_adagrad(double learning_rate);
sp_optimizer *sp_nadam(double learning_rate);
/* From Keras JSON: a name ("adam") or a serialized optimizer, Keras 3 or Keras 2. */
sp_optimizer *sp_optimizer_from_config(const char *json);
/* Sets a hyperparameter by its Keras config key: "beta_1", "epsilon", "amsgrad" (0/1), "momentum",
 * "nesterov", "rho", "centered", "initial_accumulator_value", "weight_decay", "clipnorm",
 * "clipvalue", "global_clipnorm", "loss_scale_factor", "gradient_accumulation_steps", "learning_rate",
 * "use_ema" (0/1: keep moving averages of the weights, which the model takes when fit ends),
 * "ema_momentum" (0.99), "ema_overwrite_frequency" (steps between copies of the averages into
 * the model). Options that change the optimizer's variables cannot change once it has them. */
sp_status sp_optimizer_set(sp_optimizer *optimizer, const char *option, double value);
/* A learning-rate schedule as Keras serializes it: {"class_name": "ExponentialDecay" |
 * "PiecewiseConstantDecay" | "CosineDecay", "config": {...}}. */
sp_status sp_optimizer_set_learning_rate_schedule(sp_optimizer *optimizer, const char *schedule_json);
/* The optimizer as Keras 3 (keras_major 3) or tf.keras 2 (2) serializes it; caller frees. */
char *sp_optimizer_to_config(const sp_optimizer *optimizer, int keras_major);
/* Frees an optimizer that was never given to a model. */
void sp_optimizer_free(sp_optimizer *optimizer);

/* The compiled model's optimizer (NULL when not compiled), and its variables in Keras 3 order.
 * Variables exist once the model has trained, or after sp_model_build_optimizer_variables. */
sp_optimizer *sp_model_optimizer(sp_model *model);
sp_status sp_model_build_optimizer_variables(sp_model *model);
int sp_optimizer_variable_count(const sp_optimizer *optimizer);
const char *sp_optimizer_variable_name(const sp_optimizer *optimizer, int index);
const sp_tensor *sp_optimizer_variable_value(const sp_optimizer *optimizer, int index);
/* Loads a value (shape must match; iteration takes any integer dtype). */
sp_status sp_optimizer_set_variable(sp_optimizer *optimizer, int index, const sp_tensor *value);
/* Steps taken so far (the iteration variable). */
int64_t sp_optimizer_iterations(const sp_optimizer *optimizer);

/* ---- compile ---- */

/* Keras's model.compile(optimizer, loss, metrics). loss is a name ("mse",
 * "sparse_categorical_crossentropy") or Keras JSON (an object, or a list/dict with one loss per
 * output); metrics is a NULL-terminated list of names or JSON objects (may be NULL). The model
 * takes the optimizer, also on failure. */
sp_status sp_model_compile(sp_model *model, sp_optimizer *optimizer, const char *loss, const char *const *metrics);
/* (For several outputs, metrics may hold one entry: a JSON list with one entry per output, or a
 * dict keyed by output names.) */
/* Compiles from a Keras 3 compile_config or a Keras 2/3 training_config JSON text. */
sp_status sp_model_compile_json(sp_model *model, const char *config_json);
/* The Keras 3 compile_config of a compiled model (caller frees); NULL if not compiled. */
char *sp_model_compile_config(const sp_model *model);

/* ---- history ---- */

typedef struct sp_history sp_history;

int sp_history_epoch_count(const sp_history *history);
/* The epoch number of row i (initial_epoch-based). */
int sp_history_epoch(const sp_history *history, int index);
int sp_history_key_count(const sp_history *history);
const char *sp_history_key(const sp_history *history, int index);
/* The values of one key, one per epoch (NULL when the key is absent). */
const double *sp_history_values(const sp_history *history, const char *key, int *count);
/* {"loss": [...], "accuracy": [...], "val_loss": [...]} as Keras's history.history, via json.dumps. */
char *sp_history_to_json(const sp_history *history);
/* Writes that JSON atomically (temporary file, fsync, rename). */
sp_status sp_history_save(const sp_history *history, const char *path);
void sp_history_free(sp_history *history);

/* ---- fit and evaluate ---- */

typedef struct sp_fit_options {
  int64_t batch_size;         /* 32 */
  int epochs;                 /* 1: train until this epoch index (exclusive) */
  int initial_epoch;          /* 0 */
  int verbose;                /* 1: a live progress bar on a terminal, one line per epoch otherwise;
                                 2: one line per epoch; 0: silent */
  int shuffle;                /* 1 */
  double validation_split;    /* 0: fraction of the arrays, taken from their end, to validate on */
  int validation_input_count; /* validation_data = (validation_x, validation_y); overrides the split */
  const sp_tensor *const *validation_x;
  int validation_target_count;
  const sp_tensor *const *validation_y;
  int64_t seed;               /* -1: derived from the model's generator (see the contract above) */
  int callback_count;
  sp_callback *const *callbacks;
  FILE *progress;             /* where progress goes; NULL = stdout */
  const sp_training_state *resume; /* start from this state instead of initial_epoch */
  sp_training_state *final_state;  /* if set, receives the state when fit returns */
} sp_fit_options;

sp_fit_options sp_fit_defaults(void);

/* Keras's model.fit for one input and one output. history may be NULL. */
sp_status sp_model_fit(sp_model *model, const sp_tensor *x, const sp_tensor *y, const sp_fit_options *options,
                       sp_history **history);
/* The same for several inputs (model input order) and outputs (model output order). */
sp_status sp_model_fit_arrays(sp_model *model, int input_count, const sp_tensor *const *x, int target_count,
                              const sp_tensor *const *y, const sp_fit_options *options, sp_history **history);

typedef struct sp_evaluate_options {
  int64_t batch_size; /* 32 */
  int verbose;        /* 0 */
  FILE *progress;     /* NULL = stdout */
  int callback_count;
  sp_callback *const *callbacks;
} sp_evaluate_options;

sp_evaluate_options sp_evaluate_defaults(void);

/* Keras's model.evaluate: loss (including regularization) and metrics over the data. */
sp_status sp_model_evaluate(sp_model *model, const sp_tensor *x, const sp_tensor *y, const sp_evaluate_options *options,
                            sp_logs *results);
sp_status sp_model_evaluate_arrays(sp_model *model, int input_count, const sp_tensor *const *x, int target_count,
                                   const sp_tensor *const *y, const sp_evaluate_options *options, sp_logs *results);

/* ---- datasets ---- */

/* An IDX file (MNIST's format), gzip-compressed or raw. With to_float32, values become float32
 * multiplied by scale (1/255.0 maps bytes to [0, 1]); otherwise they keep the file's dtype. */
sp_status sp_idx_read(const char *path, int to_float32, double scale, sp_tensor **tensor);

enum { SP_CSV_HEADER_AUTO = -1, SP_CSV_LAST_COLUMN = -1, SP_CSV_NO_LABEL = -2 };

typedef struct sp_csv_options {
  int header;             /* SP_CSV_HEADER_AUTO (a first row with a non-number is a header), 0, 1 */
  int label_column;       /* 0-based; SP_CSV_LAST_COLUMN; SP_CSV_NO_LABEL (y is not produced) */
  const char *label_name; /* select the label column by its header name instead */
  char separator;         /* ',' */
} sp_csv_options;

sp_csv_options sp_csv_defaults(void);
/* Numeric CSV: x is float32 [rows, columns - 1], y is float32 [rows] (the label column). */
sp_status sp_csv_read(const char *path, const sp_csv_options *options, sp_tensor **x, sp_tensor **y);

#ifdef __cplusplus
}
#endif
#endif
