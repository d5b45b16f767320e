/* demo.c — `savepoint demo`: TensorFlow's "Save and load models" tutorial, in C, end to end.
 *
 * The tutorial's setup: the first 1000 training and first 1000 test images of Fashion-MNIST,
 * flattened to 784 values in [0, 1]; Dense(512, relu) → Dropout(0.2) → Dense(10); Adam(1e-3),
 * sparse categorical cross-entropy from logits, accuracy; batch 32, 10 epochs. It prints the
 * untrained model's accuracy, trains with progress, and prints the trained accuracy.
 *
 * Each step is one function over the demo's state, in the tutorial's order; the steps that
 * save, restore, export and register the model join the list in run_steps().
 */
#include <getopt.h>
#include <stdarg.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/training_data.h"
#include "cli/training_output.h"
#include "core/file.h"
#include "core/memory.h"
#include "savepoint/train.h"
#include "train/loop.h"

enum { DEMO_SAMPLES = 1000, DEMO_PIXELS = 28 * 28 };

typedef struct demo_options {
  const char *data_directory;
  int64_t seed;
  int epochs, json, verbose;
} demo_options;

typedef struct demo {
  demo_options options;
  sp_tensor *train_images, *train_labels, *test_images, *test_labels;
  sp_model *model;
  sp_history *history;
  double untrained_accuracy, untrained_loss, trained_accuracy, trained_loss, train_seconds;
} demo;

static void print_help(void) {
  printf("usage: savepoint demo [--seed N] [--epochs N] [--data-dir DIR] [--json]\n\n"
         "TensorFlow's save-point tutorial in C on Fashion-MNIST: 1000 training and 1000 test images,\n"
         "Dense(512, relu) → Dropout(0.2) → Dense(10), Adam(1e-3), sparse categorical cross-entropy\n"
         "from logits, batch 32. Prints the accuracy before and after training.\n\n"
         "  --seed N        seed of the weights, shuffling and dropout (default 1337)\n"
         "  --epochs N      epochs to train (default 10)\n"
         "  --data-dir DIR  the Fashion-MNIST IDX files (default $SP_FASHION_MNIST or\n"
         "                  /usr/share/datasets/fashion-mnist)\n"
         "  --verbose 0|1|2 training progress (default 1; 0 with --json)\n"
         "  --json          print {\"untrained_accuracy\", \"trained_accuracy\", …} only\n");
}

enum { OPTION_SEED = 1500, OPTION_EPOCHS, OPTION_DATA_DIR, OPTION_VERBOSE, OPTION_JSON, OPTION_HELP };

static int parse_arguments(int argc, char **argv, demo_options *options) {
  static const struct option long_options[] = {{"seed", required_argument, NULL, OPTION_SEED},
                                               {"epochs", required_argument, NULL, OPTION_EPOCHS},
                                               {"data-dir", required_argument, NULL, OPTION_DATA_DIR},
                                               {"verbose", required_argument, NULL, OPTION_VERBOSE},
                                               {"json", no_argument, NULL, OPTION_JSON},
                                               {"help", no_argument, NULL, OPTION_HELP},
                                               {NULL, 0, NULL, 0}};
  const char *environment = getenv("SP_FASHION_MNIST");
  *options = (demo_options){.data_directory = environment && *environment ? environment : "/usr/share/datasets/fashion-mnist",
                            .seed = 1337, .epochs = 10, .verbose = -1};
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
      case OPTION_JSON: options->json = 1; break;
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

static sp_status create_model(demo *d) {
  sp_model *model = sp_sequential("sequential");
  if (!model) return SP_ERROR_NO_MEMORY;
  d->model = model;
  sp_model_set_seed(model, (uint64_t)d->options.seed);
  SP_TRY(sp_model_add(model, sp_input(1, (int64_t[]){DEMO_PIXELS})));
  SP_TRY(sp_model_add(model, sp_dense(512, "relu")));
  SP_TRY(sp_model_add(model, sp_dropout(0.2)));
  SP_TRY(sp_model_add(model, sp_dense(10, NULL)));
  return sp_model_compile(model, sp_adam(0.001),
                          "{\"module\": \"keras.losses\", \"class_name\": \"SparseCategoricalCrossentropy\", "
                          "\"config\": {\"name\": \"sparse_categorical_crossentropy\", \"reduction\": \"sum_over_batch_size\", "
                          "\"from_logits\": true, \"ignore_class\": null}, \"registered_name\": null}",
                          (const char *[]){"accuracy", NULL});
}

/* ---- steps 3 and 5: evaluate on the test images ---- */

static sp_status evaluate(demo *d, const char *which, double *accuracy, double *loss) {
  sp_logs results;
  SP_TRY(sp_model_evaluate(d->model, d->test_images, d->test_labels, NULL, &results));
  *accuracy = sp_logs_get(&results, "accuracy", 0);
  *loss = sp_logs_get(&results, "loss", 0);
  say(d, "%s model, accuracy: %5.2f%%\n", which, 100 * *accuracy);
  return SP_OK;
}

static sp_status evaluate_untrained(demo *d) { return evaluate(d, "Untrained", &d->untrained_accuracy, &d->untrained_loss); }

/* ---- step 4: train ---- */

static sp_status train(demo *d) {
  sp_fit_options options = sp_fit_defaults();
  options.epochs = d->options.epochs;
  options.batch_size = 32;
  options.seed = d->options.seed;
  options.verbose = d->options.verbose >= 0 ? d->options.verbose : d->options.json ? 0 : 1;
  options.progress = d->options.json ? stderr : stdout;
  double start = sp_seconds_now();
  SP_TRY(sp_model_fit(d->model, d->train_images, d->train_labels, &options, &d->history));
  d->train_seconds = sp_seconds_now() - start;
  return SP_OK;
}

static sp_status evaluate_trained(demo *d) { return evaluate(d, "Trained", &d->trained_accuracy, &d->trained_loss); }

/* ---- the steps in order ---- */

static sp_status run_steps(demo *d) {
  sp_status (*const steps[])(demo *) = {load_data, create_model, evaluate_untrained, train, evaluate_trained};
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
  json_object_object_add(root, "train_seconds", json_object_new_double(d->train_seconds));
  json_object_object_add(root, "history", sp_cli_history_json(d->history, 0));
  sp_cli_print_json(root);
}

int sp_cli_demo(int argc, char **argv) {
  demo d = {0};
  int exit_code = parse_arguments(argc, argv, &d.options);
  if (exit_code >= 0) return exit_code;
  sp_status status = run_steps(&d);
  if (status == SP_OK && d.options.json) print_json(&d);
  sp_history_free(d.history);
  sp_model_free(d.model);
  sp_tensor *tensors[] = {d.train_images, d.train_labels, d.test_images, d.test_labels};
  for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++) sp_tensor_free(tensors[i]);
  return sp_cli_report("demo", status);
}
