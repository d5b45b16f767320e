/* demo.c — `savepoint demo`: TensorFlow's "Save and load models" tutorial, in C, end to end.
 *
 * The tutorial's setup: the first 1000 training and first 1000 test images of Fashion-MNIST,
 * flattened to 784 values in [0, 1]; Dense(512, relu) → Dropout(0.2) → Dense(10); Adam(1e-3),
 * sparse categorical cross-entropy from logits, accuracy; batch 32, 10 epochs. It prints the
 * untrained model's accuracy, trains with progress, and prints the trained accuracy. The Adam
 * keeps Keras's weight averages (use_ema=True, ema_momentum 0.99), which the model takes when
 * training ends: the last step's weights of this small run swing by several points of accuracy
 * from one step to the next (below 0.76 for about 5% of seeds, as in PyTorch), their average
 * does not. --no-ema trains with the tutorial's plain Adam instead. While it trains,
 * SwapEMAWeights(swap_on_epoch=True) puts the averages in the model at each epoch's end and
 * ModelCheckpoint after it saves a TF checkpoint into OUTPUT/training_N/ (the tutorial's
 * cp_callback; a new N per run, five kept by the checkpoint manager); the latest is restored
 * into a freshly built model whose accuracy must equal the trained one. Then, in
 * the output directory (--output, default ./savepoint-demo): the trained model saved as .keras,
 * legacy .h5 and .weights.h5 + its JSON architecture, each restored into a fresh model whose test
 * accuracy must equal the trained one exactly (the tutorial's "Restored model, accuracy"); an
 * export to models/demo/<next version>/ with the commands that serve and query it; every file
 * recorded in a registry (--registry, $SAVEPOINT_REGISTRY, else OUTPUT/registry.db), listed at
 * the end as `savepoint registry list` prints it.
 *
 * Each step is one function over the demo's state, in the tutorial's order (run_steps()).
 */
#include <getopt.h>
#include <stdarg.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/export_saved_model.h"
#include "cli/recording.h"
#include "cli/training_data.h"
#include "cli/training_output.h"
#include "core/file.h"
#include "core/memory.h"
#include "savepoint/checkpoint.h"
#include "savepoint/io.h"
#include "savepoint/saved_model.h"
#include "savepoint/train.h"
#include "train/loop.h"

enum { DEMO_SAMPLES = 1000, DEMO_PIXELS = 28 * 28 };

#define DEMO_MODEL_NAME "demo"

typedef struct demo_options {
  const char *data_directory, *output, *registry;
  int64_t seed;
  int epochs, json, verbose;
  int plain_adam; /* --no-ema */
  int argc; /* the command line, recorded with the run */
  char **argv;
} demo_options;

/* The files the demo saves, restores and records, in order. */
enum { SAVED_KERAS, SAVED_H5, SAVED_WEIGHTS, SAVED_ARCHITECTURE, SAVED_COUNT };

typedef struct saved_file {
  const char *label;   /* ".keras" */
  const char *name;    /* file name in the output directory */
  sp_artifact_kind kind;
  char *path;
  double restored_accuracy, restored_loss;
  int restored;
} saved_file;

typedef struct demo {
  demo_options options;
  sp_tensor *train_images, *train_labels, *test_images, *test_labels;
  sp_model *model;
  sp_history *history;
  double untrained_accuracy, untrained_loss, trained_accuracy, trained_loss, train_seconds;
  char *output;          /* absolute output directory */
  char *registry_url;
  sp_cli_recorder recorder;
  saved_file saved[SAVED_COUNT];
  char *export_base, *export_path;
  int64_t export_version;
  char *checkpoint_directory, *checkpoint_prefix; /* OUTPUT/training_N/, its latest checkpoint */
  double checkpoint_accuracy, checkpoint_loss;
} demo;

static void print_help(void) {
  printf("usage: savepoint demo [--output DIR] [--registry URL] [--seed N] [--epochs N] [--data-dir DIR] [--no-ema] [--json]\n\n"
         "TensorFlow's save-point tutorial in C on Fashion-MNIST: 1000 training and 1000 test images,\n"
         "Dense(512, relu) → Dropout(0.2) → Dense(10), Adam(1e-3) keeping weight averages (Keras's\n"
         "use_ema=True; the model ends with them), sparse categorical cross-entropy from logits,\n"
         "batch 32. Prints the accuracy before and after training, saves the model as\n"
         "model.keras, model.h5, model.weights.h5 + model.json, restores each and prints its accuracy\n"
         "(equal to the trained one), exports models/demo/<next version>/ for TensorFlow Serving, and\n"
         "records everything in a registry.\n\n"
         "  --output DIR    where the files go (default ./savepoint-demo; created)\n"
         "  --registry URL  the registry (default $SAVEPOINT_REGISTRY, else sqlite:///OUTPUT/registry.db)\n"
         "  --seed N        seed of the weights, shuffling and dropout (default 1337)\n"
         "  --epochs N      epochs to train (default 10)\n"
         "  --data-dir DIR  the Fashion-MNIST IDX files (default $SP_FASHION_MNIST or\n"
         "                  /usr/share/datasets/fashion-mnist)\n"
         "  --no-ema        the tutorial's plain Adam: the model keeps its last step's weights, whose\n"
         "                  accuracy swings with the seed (below 76%% for about one seed in 20)\n"
         "  --verbose 0|1|2 training progress (default 1; 0 with --json)\n"
         "  --json          print {\"untrained_accuracy\", \"trained_accuracy\", \"restored\", …} only\n");
}

enum { OPTION_SEED = 1500, OPTION_EPOCHS, OPTION_DATA_DIR, OPTION_VERBOSE, OPTION_JSON, OPTION_HELP, OPTION_OUTPUT,
       OPTION_REGISTRY, OPTION_NO_EMA };

static int parse_arguments(int argc, char **argv, demo_options *options) {
  static const struct option long_options[] = {{"seed", required_argument, NULL, OPTION_SEED},
                                               {"epochs", required_argument, NULL, OPTION_EPOCHS},
                                               {"data-dir", required_argument, NULL, OPTION_DATA_DIR},
                                               {"verbose", required_argument, NULL, OPTION_VERBOSE},
                                               {"json", no_argument, NULL, OPTION_JSON},
                                               {"output", required_argument, NULL, OPTION_OUTPUT},
                                               {"registry", required_argument, NULL, OPTION_REGISTRY},
                                               {"no-ema", no_argument, NULL, OPTION_NO_EMA},
                                               {"help", no_argument, NULL, OPTION_HELP},
                                               {NULL, 0, NULL, 0}};
  const char *environment = getenv("SP_FASHION_MNIST");
  *options = (demo_options){.data_directory = environment && *environment ? environment : "/usr/share/datasets/fashion-mnist",
                            .output = "savepoint-demo", .seed = 1337, .epochs = 10, .verbose = -1,
                            .argc = argc, .argv = argv};
  opterr = 0;
  optind = 1;
  int option;
  int64_t value;
  while ((option = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
    switch (option) {
      case OPTION_SEED:
      case OPTION_EPOCHS:
      case OPTION_VERBOSE:
        if (!sp_cli_parse_int(optarg, &value) || value > INT32_MAX || (option == OPTION_VERBOSE && value > 2))
          return sp_cli_usage_error("demo", "%s: '%s' is not a valid value", argv[optind - 1], optarg);
        if (option == OPTION_SEED) options->seed = value;
        else if (option == OPTION_EPOCHS) options->epochs = (int)value;
        else options->verbose = (int)value;
        break;
      case OPTION_DATA_DIR: options->data_directory = optarg; break;
      case OPTION_OUTPUT: options->output = optarg; break;
      case OPTION_REGISTRY: options->registry = optarg; break;
      case OPTION_JSON: options->json = 1; break;
      case OPTION_NO_EMA: options->plain_adam = 1; break;
      case 'h':
      case OPTION_HELP: print_help(); return 0;
      case ':': return sp_cli_usage_error("demo", "%s needs a value", argv[optind - 1]);
      default: return sp_cli_usage_error("demo", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return sp_cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
  return -1;
}

/* Prints a line unless --json asked for the summary only. */
static void say(const demo *d, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void say(const demo *d, const char *format, ...) {
  if (d->options.json) return;
  va_list args;
  va_start(args, format);
  vprintf(format, args);
  va_end(args);
  fflush(stdout);
}

/* ---- step 1: the data ---- */

/* The first DEMO_SAMPLES images of an IDX file, flattened and scaled to [0, 1], and their labels. */
static sp_status load_split(const demo *d, const char *images_name, const char *labels_name, sp_tensor **images,
                            sp_tensor **labels) {
  char *images_path = sp_path_join(d->options.data_directory, images_name);
  char *labels_path = sp_path_join(d->options.data_directory, labels_name);
  sp_tensor *all_images = NULL, *all_labels = NULL;
  sp_status status = images_path && labels_path ? SP_OK : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = sp_idx_read(images_path, 0, 1, &all_images); /* u8: only the first images become floats */
  if (status == SP_OK) status = sp_idx_read(labels_path, 0, 1, &all_labels);
  if (status == SP_OK && (all_images->rank != 3 || all_images->dtype != SP_UINT8 || all_images->shape[0] < DEMO_SAMPLES ||
                          all_images->shape[1] * all_images->shape[2] != DEMO_PIXELS || all_labels->rank != 1 ||
                          all_labels->shape[0] != all_images->shape[0]))
    status = sp_fail(SP_ERROR_FORMAT, "'%s' and '%s' are not Fashion-MNIST images (N×28×28) and labels (N)", images_path,
                     labels_path);
  if (status == SP_OK) {
    *images = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){DEMO_SAMPLES, DEMO_PIXELS});
    *labels = sp_tensor_new(all_labels->dtype, 1, (int64_t[]){DEMO_SAMPLES});
    if (!*images || !*labels) status = SP_ERROR_NO_MEMORY;
  }
  if (status == SP_OK) {
    const uint8_t *pixels = all_images->data;
    for (int64_t i = 0; i < (int64_t)DEMO_SAMPLES * DEMO_PIXELS; i++) sp_tensor_floats(*images)[i] = (float)(pixels[i] / 255.0);
    memcpy((*labels)->data, all_labels->data, (*labels)->size);
  }
  sp_tensor_free(all_images);
  sp_tensor_free(all_labels);
  free(images_path);
  free(labels_path);
  return status;
}

static sp_status load_data(demo *d) {
  if (!sp_is_directory(d->options.data_directory))
    return sp_fail(SP_ERROR_NOT_FOUND, "Fashion-MNIST is not in '%s': install the Debian package dataset-fashion-mnist, "
                   "or point --data-dir (or SP_FASHION_MNIST) at its IDX files", d->options.data_directory);
  SP_TRY(load_split(d, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", &d->train_images, &d->train_labels));
  SP_TRY(load_split(d, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", &d->test_images, &d->test_labels));
  say(d, "Fashion-MNIST from %s: %d training and %d test images\n", d->options.data_directory, DEMO_SAMPLES, DEMO_SAMPLES);
  return SP_OK;
}

/* ---- step 2: the model (the tutorial's create_model) ---- */

static sp_status compile_model(const demo *d, sp_model *model) {
  sp_optimizer *adam = sp_adam(0.001);
  if (adam && !d->options.plain_adam && sp_optimizer_set(adam, "use_ema", 1) != SP_OK) {
    sp_optimizer_free(adam);
    adam = NULL;
  }
  return sp_model_compile(model, adam,
                          "{\"module\": \"keras.losses\", \"class_name\": \"SparseCategoricalCrossentropy\", "
                          "\"config\": {\"name\": \"sparse_categorical_crossentropy\", \"reduction\": \"sum_over_batch_size\", "
                          "\"from_logits\": true, \"ignore_class\": null}, \"registered_name\": null}",
                          (const char *[]){"accuracy", NULL});
}

static sp_status create_model(demo *d) {
  sp_model *model = sp_sequential("sequential");
  if (!model) return SP_ERROR_NO_MEMORY;
  d->model = model;
  sp_model_set_seed(model, (uint64_t)d->options.seed);
  SP_TRY(sp_model_add(model, sp_input(1, (int64_t[]){DEMO_PIXELS})));
  SP_TRY(sp_model_add(model, sp_dense(512, "relu")));
  SP_TRY(sp_model_add(model, sp_dropout(0.2)));
  SP_TRY(sp_model_add(model, sp_dense(10, NULL)));
  return compile_model(d, model);
}

/* ---- steps 3 and 6: evaluate on the test images ---- */

static sp_status evaluate_model(demo *d, sp_model *model, const char *which, double *accuracy, double *loss) {
  sp_logs results;
  SP_TRY(sp_model_evaluate(model, d->test_images, d->test_labels, NULL, &results));
  *accuracy = sp_logs_get(&results, "accuracy", 0);
  *loss = sp_logs_get(&results, "loss", 0);
  say(d, "%s, accuracy: %5.2f%%\n", which, 100 * *accuracy);
  return SP_OK;
}

static sp_status evaluate(demo *d, const char *which, double *accuracy, double *loss) {
  return evaluate_model(d, d->model, which, accuracy, loss);
}

static sp_status evaluate_untrained(demo *d) { return evaluate(d, "Untrained model", &d->untrained_accuracy, &d->untrained_loss); }

/* ---- step 4: the output directory and the registry ---- */

static char *metrics_json(const demo *d) {
  return sp_strdupf("{\"accuracy\": %.17g, \"loss\": %.17g}", d->trained_accuracy, d->trained_loss);
}

static sp_status open_output(demo *d) {
  SP_TRY(sp_make_directories(d->options.output));
  if (!(d->output = realpath(d->options.output, NULL)))
    return sp_fail(SP_ERROR_IO, "cannot resolve the output directory '%s'", d->options.output);
  const char *environment = getenv(SP_REGISTRY_ENVIRONMENT);
  if (d->options.registry && *d->options.registry) d->registry_url = sp_strdup(d->options.registry);
  else if (environment && *environment) d->registry_url = sp_strdup(environment);
  else d->registry_url = sp_strdupf("sqlite://%s/registry.db", d->output);
  if (!d->registry_url) return SP_ERROR_NO_MEMORY;
  char *hyperparameters = sp_strdupf("{\"seed\": %lld, \"epochs\": %d, \"batch_size\": 32, \"optimizer\": \"adam\", "
                                     "\"learning_rate\": 0.001, \"use_ema\": %s, \"train_samples\": %d}",
                                     (long long)d->options.seed, d->options.epochs, d->options.plain_adam ? "false" : "true",
                                     DEMO_SAMPLES);
  if (!hyperparameters) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_cli_recorder_open(&d->recorder, d->registry_url, d->options.argc, d->options.argv, hyperparameters);
  free(hyperparameters);
  return status;
}

/* The first number above every entry of base named prefix + a number (1 in a new directory), so
 * that running the demo again publishes a new version (or checkpoint directory) instead of failing. */
static int64_t next_version(const char *base, const char *prefix) {
  char **names = NULL;
  size_t count = 0;
  int64_t highest = 0;
  if (!sp_is_directory(base) || sp_list_directory(base, 1 << 20, &names, &count) != SP_OK) {
    sp_clear_error();
    return 1;
  }
  for (size_t i = 0; i < count; i++) {
    size_t length = strlen(prefix);
    const char *number = strncmp(names[i], prefix, length) == 0 ? names[i] + length : "";
    char *end;
    long long value = strtoll(number, &end, 10);
    if (*number && !*end && value > highest) highest = value;
    free(names[i]);
  }
  free(names);
  return highest + 1;
}

/* ---- step 5: train, saving a checkpoint after every epoch ---- */

/* The tutorial's cp_callback: ModelCheckpoint(checkpoint_path, save_weights_only=True, verbose=1),
 * here through a checkpoint manager so that retention and the registry see every checkpoint. */
static sp_status open_checkpoints(demo *d, sp_checkpoint_manager **manager, sp_callback **callback) {
  char name[64];
  snprintf(name, sizeof name, "training_%lld", (long long)next_version(d->output, "training_"));
  if (!(d->checkpoint_directory = sp_path_join(d->output, name))) return SP_ERROR_NO_MEMORY;
  sp_checkpoint_manager_options manager_options = sp_checkpoint_manager_defaults();
  manager_options.checkpoint_name = "cp";
  manager_options.registry = d->recorder.registry;
  manager_options.registry_run_id = d->recorder.run_id;
  SP_TRY(sp_checkpoint_manager_open(d->checkpoint_directory, &manager_options, manager));
  sp_model_checkpoint_options options = sp_model_checkpoint_defaults();
  options.manager = *manager;
  options.monitor = "loss";
  options.save_weights_only = 1;
  return sp_model_checkpoint(&options, callback);
}

/* "Checkpoints in OUTPUT/training_1 (one per epoch; the newest 5 kept): cp-192 cp-224 … cp-320" */
static void say_checkpoints(const demo *d, const sp_checkpoint_manager *manager) {
  say(d, "Checkpoints in %s (one per epoch; the newest %d kept):", d->checkpoint_directory,
      sp_checkpoint_manager_defaults().max_to_keep);
  for (size_t i = 0; i < sp_checkpoint_manager_count(manager); i++) {
    sp_checkpoint_info info;
    if (sp_checkpoint_manager_get(manager, i, &info) != SP_OK) continue;
    const char *name = strrchr(info.prefix, '/');
    say(d, " %s", name ? name + 1 : info.prefix);
  }
  say(d, "\n");
}

static sp_status train(demo *d) {
  sp_checkpoint_manager *manager = NULL;
  sp_callback *checkpoint = NULL, *swap = d->options.plain_adam ? NULL : sp_swap_ema_weights(1);
  sp_status status = d->options.plain_adam || swap ? open_checkpoints(d, &manager, &checkpoint) : SP_ERROR_NO_MEMORY;
  sp_callback *callbacks[] = {swap, checkpoint}; /* the averages in the model before ModelCheckpoint saves it */
  sp_fit_options options = sp_fit_defaults();
  options.callback_count = swap ? 2 : 1;
  options.callbacks = swap ? callbacks : &checkpoint;
  options.epochs = d->options.epochs;
  options.batch_size = 32;
  options.seed = d->options.seed;
  options.verbose = d->options.verbose >= 0 ? d->options.verbose : d->options.json ? 0 : 1;
  options.progress = d->options.json ? stderr : stdout;
  double start = sp_seconds_now();
  if (status == SP_OK) status = sp_model_fit(d->model, d->train_images, d->train_labels, &options, &d->history);
  d->train_seconds = sp_seconds_now() - start;
  const char *latest = manager ? sp_checkpoint_manager_latest(manager) : NULL;
  if (status == SP_OK && latest && !(d->checkpoint_prefix = sp_strdup(latest))) status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK) say_checkpoints(d, manager);
  sp_callback_free(checkpoint);
  sp_callback_free(swap);
  if (manager) {
    sp_status closed = sp_checkpoint_manager_close(manager);
    if (status == SP_OK) status = closed;
  }
  return status;
}

static sp_status evaluate_trained(demo *d) { return evaluate(d, "Trained model", &d->trained_accuracy, &d->trained_loss); }

/* ---- step 7: the tutorial's "create a new, untrained model; load the weights from the checkpoint" ---- */
static sp_status restore_checkpoint(demo *d) {
  if (!d->checkpoint_prefix) return sp_fail(SP_ERROR_NOT_FOUND, "training wrote no checkpoint in '%s'", d->checkpoint_directory);
  sp_model *trained = d->model;
  d->model = NULL;
  sp_status status = create_model(d);
  if (status == SP_OK) status = sp_load_weights(d->model, d->checkpoint_prefix, NULL);
  char label[4200];
  snprintf(label, sizeof label, "Restored model (checkpoint %s)", d->checkpoint_prefix);
  if (status == SP_OK) status = evaluate(d, label, &d->checkpoint_accuracy, &d->checkpoint_loss);
  sp_model_free(d->model);
  d->model = trained;
  SP_TRY(sp_error_context(status, "restoring the checkpoint '%s'", d->checkpoint_prefix));
  if (d->checkpoint_accuracy != d->trained_accuracy)
    return sp_fail(SP_ERROR_MISMATCH, "the model restored from '%s' has accuracy %.6f, the trained one %.6f",
                   d->checkpoint_prefix, d->checkpoint_accuracy, d->trained_accuracy);
  return SP_OK;
}

/* ---- step 8: save (the tutorial's model.save / save_weights / to_json) ---- */

static sp_status record_saved(demo *d, const char *path, sp_artifact_kind kind, int64_t version) {
  char *metrics = metrics_json(d);
  if (!metrics) return SP_ERROR_NO_MEMORY;
  sp_cli_recording recording = {.path = path, .kind = kind, .model = d->model, .name = DEMO_MODEL_NAME,
                                .version = version, .metrics_json = metrics};
  sp_status status = sp_cli_record(&d->recorder, &recording, NULL);
  free(metrics);
  return status;
}

static sp_status save_model(demo *d) {
  const saved_file files[SAVED_COUNT] = {
      [SAVED_KERAS] = {".keras", "model.keras", SP_ARTIFACT_MODEL},
      [SAVED_H5] = {".h5", "model.h5", SP_ARTIFACT_MODEL},
      [SAVED_WEIGHTS] = {".weights.h5", "model.weights.h5", SP_ARTIFACT_WEIGHTS},
      [SAVED_ARCHITECTURE] = {".json", "model.json", SP_ARTIFACT_MODEL},
  };
  for (int i = 0; i < SAVED_COUNT; i++) {
    d->saved[i] = files[i];
    if (!(d->saved[i].path = sp_path_join(d->output, files[i].name))) return SP_ERROR_NO_MEMORY;
    /* A path named model.json is TF.js by Keras's rule; the architecture is asked for by format. */
    sp_save_options options = sp_save_defaults();
    if (i == SAVED_ARCHITECTURE) options.format = SP_FORMAT_JSON;
    SP_TRY(i == SAVED_WEIGHTS ? sp_save_weights(d->model, d->saved[i].path, &options)
                              : sp_save(d->model, d->saved[i].path, &options));
    SP_TRY(record_saved(d, d->saved[i].path, files[i].kind, 0));
    say(d, "Saved %s\n", d->saved[i].path);
  }
  return SP_OK;
}

/* ---- step 9: restore each file into a fresh model and evaluate it ---- */

static sp_status load_fresh(demo *d, int which, sp_model **model) {
  sp_load_options options = sp_load_defaults();
  if (which != SAVED_WEIGHTS) return sp_load(d->saved[which].path, &options, model);
  /* The tutorial's create_model() + load_weights: the architecture from the JSON, then the weights. */
  options.format = SP_FORMAT_JSON;
  SP_TRY(sp_load(d->saved[SAVED_ARCHITECTURE].path, &options, model));
  sp_status status = sp_model_optimizer(*model) ? SP_OK : compile_model(d, *model);
  if (status == SP_OK) status = sp_load_weights(*model, d->saved[which].path, NULL);
  return status;
}

static sp_status restore_models(demo *d) {
  for (int i = 0; i < SAVED_COUNT; i++) {
    if (i == SAVED_ARCHITECTURE) continue; /* restored with the weights */
    sp_model *model = NULL;
    char label[64];
    snprintf(label, sizeof label, "Restored model (%s)", d->saved[i].label);
    sp_status status = load_fresh(d, i, &model);
    if (status == SP_OK) status = evaluate_model(d, model, label, &d->saved[i].restored_accuracy, &d->saved[i].restored_loss);
    sp_model_free(model);
    SP_TRY(sp_error_context(status, "restoring '%s'", d->saved[i].path));
    d->saved[i].restored = 1;
    if (d->saved[i].restored_accuracy != d->trained_accuracy)
      return sp_fail(SP_ERROR_MISMATCH, "the model restored from '%s' has accuracy %.6f, the trained one %.6f",
                     d->saved[i].path, d->saved[i].restored_accuracy, d->trained_accuracy);
  }
  return SP_OK;
}

/* ---- step 10: export for TensorFlow Serving ---- */

static sp_status export_model(demo *d) {
  char *models = sp_path_join(d->output, "models");
  d->export_base = models ? sp_path_join(models, DEMO_MODEL_NAME) : NULL;
  free(models);
  if (!d->export_base) return SP_ERROR_NO_MEMORY;
  sp_export_options options = sp_export_defaults();
  options.version = d->export_version = next_version(d->export_base, "");
  SP_TRY(sp_export_saved_model(d->model, d->export_base, &options));
  if (!(d->export_path = sp_export_path(d->export_base, &options))) return SP_ERROR_NO_MEMORY;
  SP_TRY(record_saved(d, d->export_path, SP_ARTIFACT_EXPORT, d->export_version));
  say(d, "Exported the SavedModel %s\n", d->export_path);
  if (!d->options.json) sp_cli_print_serving_commands(stdout, d->model, d->export_base, DEMO_MODEL_NAME, NULL);
  return SP_OK;
}

/* ---- step 11: what the registry holds ---- */

static sp_status list_registry(demo *d) {
  char *metrics = metrics_json(d);
  sp_cli_recorder_close(&d->recorder, SP_OK, metrics);
  free(metrics);
  if (d->options.json) return SP_OK;
  say(d, "\nThe registry %s (savepoint registry list):\n", d->registry_url);
  char *argv[] = {(char *)"registry", (char *)"--registry", d->registry_url, (char *)"list", NULL};
  return sp_cli_registry(4, argv) == 0 ? SP_OK : sp_fail(SP_ERROR_IO, "listing the registry '%s' failed", d->registry_url);
}

/* ---- the steps in order ---- */

static sp_status run_steps(demo *d) {
  sp_status (*const steps[])(demo *) = {load_data,  create_model,   evaluate_untrained, open_output,  train,
                                       evaluate_trained, restore_checkpoint, save_model, restore_models,
                                       export_model, list_registry};
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) SP_TRY(steps[i](d));
  return SP_OK;
}

static void print_json(const demo *d) {
  json_object *root = json_object_new_object();
  json_object_object_add(root, "seed", json_object_new_int64(d->options.seed));
  json_object_object_add(root, "epochs", json_object_new_int(d->options.epochs));
  json_object_object_add(root, "train_samples", json_object_new_int(DEMO_SAMPLES));
  json_object_object_add(root, "test_samples", json_object_new_int(DEMO_SAMPLES));
  json_object_object_add(root, "untrained_accuracy", json_object_new_double(d->untrained_accuracy));
  json_object_object_add(root, "untrained_loss", json_object_new_double(d->untrained_loss));
  json_object_object_add(root, "trained_accuracy", json_object_new_double(d->trained_accuracy));
  json_object_object_add(root, "trained_loss", json_object_new_double(d->trained_loss));
  json_object_object_add(root, "use_ema", json_object_new_boolean(!d->options.plain_adam));
  json_object_object_add(root, "train_seconds", json_object_new_double(d->train_seconds));
  json_object_object_add(root, "history", sp_cli_history_json(d->history, 0));
  json_object_object_add(root, "output", json_object_new_string(d->output));
  json_object *restored = json_object_new_array();
  for (int i = 0; i < SAVED_COUNT; i++) {
    json_object *entry = json_object_new_object();
    json_object_object_add(entry, "format", json_object_new_string(d->saved[i].label));
    json_object_object_add(entry, "path", json_object_new_string(d->saved[i].path));
    if (d->saved[i].restored) {
      json_object_object_add(entry, "accuracy", json_object_new_double(d->saved[i].restored_accuracy));
      json_object_object_add(entry, "loss", json_object_new_double(d->saved[i].restored_loss));
    }
    json_object_array_add(restored, entry);
  }
  json_object_object_add(root, "restored", restored);
  json_object *checkpoint = json_object_new_object();
  json_object_object_add(checkpoint, "directory", json_object_new_string(d->checkpoint_directory));
  json_object_object_add(checkpoint, "latest", json_object_new_string(d->checkpoint_prefix));
  json_object_object_add(checkpoint, "accuracy", json_object_new_double(d->checkpoint_accuracy));
  json_object_object_add(checkpoint, "loss", json_object_new_double(d->checkpoint_loss));
  json_object_object_add(root, "checkpoint", checkpoint);
  json_object *exported = json_object_new_object();
  json_object_object_add(exported, "base_path", json_object_new_string(d->export_base));
  json_object_object_add(exported, "path", json_object_new_string(d->export_path));
  json_object_object_add(exported, "version", json_object_new_int64(d->export_version));
  json_object_object_add(exported, "model_name", json_object_new_string(DEMO_MODEL_NAME));
  json_object_object_add(root, "export", exported);
  json_object_object_add(root, "registry", json_object_new_string(d->registry_url));
  sp_cli_print_json(root);
}

int sp_cli_demo(int argc, char **argv) {
  demo d = {0};
  int exit_code = parse_arguments(argc, argv, &d.options);
  if (exit_code >= 0) return exit_code;
  sp_status status = run_steps(&d);
  if (status == SP_OK && d.options.json) print_json(&d);
  sp_cli_recorder_close(&d.recorder, status, NULL); /* after a failure; list_registry closed it otherwise */
  for (int i = 0; i < SAVED_COUNT; i++) free(d.saved[i].path);
  free(d.export_base);
  free(d.export_path);
  free(d.checkpoint_directory);
  free(d.checkpoint_prefix);
  free(d.registry_url);
  free(d.output);
  sp_history_free(d.history);
  sp_model_free(d.model);
  sp_tensor *tensors[] = {d.train_images, d.train_labels, d.test_images, d.test_labels};
  for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++) sp_tensor_free(tensors[i]);
  return sp_cli_report("demo", status);
}
