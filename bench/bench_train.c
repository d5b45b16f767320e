/* bench_train.c — savepoint's side of the training and latency benchmark (bench/run.sh runs
 * bench/torch_demo.py beside it and prints the ratios).
 *
 *   bench_train [--data-dir DIR] [--repeats N] [--latency-calls N]
 *
 * 1. Training: the demo setup (1000 Fashion-MNIST images, Dense(512, relu) → Dropout(0.2) →
 *    Dense(10), Adam(1e-3), sparse categorical cross-entropy from logits, batch 32, 10 epochs),
 *    the fastest of --repeats runs; synthetic images of the same shape when the data is absent.
 *    Timed with OpenBLAS's default threads and again with one thread (on a busy machine the
 *    single-thread figures are the steadier comparison).
 * 2. Latency: one sample through a reused sp_runner, on the demo model and on an iris-sized
 *    model (4 → Dense(10, relu) → Dense(3, softmax)); the median of --latency-calls calls.
 * 3. OpenBLAS at batch 1 for the demo's first layer: sgemv against sgemm.
 * Prints one JSON object (seconds) on stdout.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/file.h"
#include "savepoint/train.h"
#include "train/loop.h"

enum { SAMPLES = 1000, PIXELS = 784 };

static void check(sp_status status, const char *what) {
  if (status == SP_OK) return;
  fprintf(stderr, "bench_train: %s: %s\n", what, sp_last_error());
  exit(1);
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The first SAMPLES training images scaled to [0, 1] and their labels; synthetic ones (same
 * shape, deterministic) when Fashion-MNIST is not installed. */
static int load_data(const char *directory, sp_tensor **images, sp_tensor **labels) {
  *images = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){SAMPLES, PIXELS});
  *labels = sp_tensor_new(SP_FLOAT32, 1, (int64_t[]){SAMPLES});
  char *images_path = sp_path_join(directory, "train-images-idx3-ubyte.gz");
  char *labels_path = sp_path_join(directory, "train-labels-idx1-ubyte.gz");
  sp_tensor *all_images = NULL, *all_labels = NULL;
  int real = sp_idx_read(images_path, 1, 1.0 / 255.0, &all_images) == SP_OK &&
             sp_idx_read(labels_path, 1, 1.0, &all_labels) == SP_OK;
  if (real) {
    memcpy((*images)->data, all_images->data, (*images)->size);
    memcpy((*labels)->data, all_labels->data, (*labels)->size);
  } else {
    for (int64_t i = 0; i < (int64_t)SAMPLES * PIXELS; i++) sp_tensor_floats(*images)[i] = (float)((i * 2654435761u >> 7) % 256) / 255.0f;
    for (int i = 0; i < SAMPLES; i++) sp_tensor_floats(*labels)[i] = (float)(i % 10);
  }
  sp_tensor_free(all_images);
  sp_tensor_free(all_labels);
  free(images_path);
  free(labels_path);
  return real;
}

static sp_model *demo_model(void) {
  sp_model *model = sp_sequential("sequential");
  sp_model_set_seed(model, 1);
  check(sp_model_add(model, sp_input(1, (int64_t[]){PIXELS})), "input");
  check(sp_model_add(model, sp_dense(512, "relu")), "dense");
  check(sp_model_add(model, sp_dropout(0.2)), "dropout");
  check(sp_model_add(model, sp_dense(10, NULL)), "dense_1");
  check(sp_model_compile(model, sp_adam(0.001),
                         "{\"class_name\": \"SparseCategoricalCrossentropy\", \"config\": {\"from_logits\": true}}",
                         (const char *[]){"accuracy", NULL}),
        "compile");
  return model;
}

static double cpu_seconds(void) {
  struct timespec clock;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &clock);
  return (double)clock.tv_sec + (double)clock.tv_nsec * 1e-9;
}

/* Wall seconds of one training run; *cpu gets the process CPU seconds it used. */
static double train_once(const sp_tensor *images, const sp_tensor *labels, double *accuracy, double *cpu) {
  sp_model *model = demo_model();
  sp_fit_options options = sp_fit_defaults();
  options.epochs = 10;
  options.verbose = 0;
  options.seed = 1;
  sp_history *history;
  double start = sp_seconds_now(), cpu_start = cpu_seconds();
  check(sp_model_fit(model, images, labels, &options, &history), "fit");
  double seconds = sp_seconds_now() - start;
  *cpu = cpu_seconds() - cpu_start;
  int count;
  *accuracy = sp_history_values(history, "accuracy", &count)[count - 1];
  sp_history_free(history);
  sp_model_free(model);
  return seconds;
}

/* Median seconds of one single-sample prediction through a reused runner. */
static double latency(sp_model *model, int features, int calls) {
  sp_runner *runner;
  check(sp_runner_new(model, &runner), "runner");
  float *values = calloc((size_t)features, sizeof *values);
  for (int i = 0; i < features; i++) values[i] = (float)(i % 17) / 17.0f;
  sp_tensor *input = sp_tensor_wrap(SP_FLOAT32, 2, (int64_t[]){1, features}, values);
  double *times = calloc((size_t)calls, sizeof *times);
  int count;
  sp_tensor *const *outputs;
  for (int i = 0; i < 200; i++) check(sp_runner_predict(runner, 1, (const sp_tensor *const *)&input, &count, &outputs), "warm-up");
  for (int i = 0; i < calls; i++) {
    double start = sp_seconds_now();
    check(sp_runner_predict(runner, 1, (const sp_tensor *const *)&input, &count, &outputs), "predict");
    times[i] = sp_seconds_now() - start;
  }
  qsort(times, (size_t)calls, sizeof *times, compare_doubles);
  double median = times[calls / 2];
  free(times);
  sp_tensor_free(input);
  free(values);
  sp_runner_free(runner);
  return median;
}

static sp_model *iris_model(void) {
  sp_model *model = sp_sequential("iris");
  check(sp_model_add(model, sp_input(1, (int64_t[]){4})), "input");
  check(sp_model_add(model, sp_dense(10, "relu")), "dense");
  check(sp_model_add(model, sp_dense(3, "softmax")), "dense_1");
  return model;
}

/* y = x W for the demo's first layer at batch 1, as sgemv and as sgemm; median seconds. */
static void blas_batch_one(int calls, double *gemv, double *gemm) {
  float *w = calloc(PIXELS * 512, sizeof *w), *x = calloc(PIXELS, sizeof *x), *y = calloc(512, sizeof *y);
  double *times = calloc((size_t)calls, sizeof *times);
  for (int kind = 0; kind < 2; kind++) {
    for (int i = 0; i < calls + 100; i++) {
      double start = sp_seconds_now();
      if (kind == 0) cblas_sgemv(CblasRowMajor, CblasTrans, PIXELS, 512, 1.0f, w, 512, x, 1, 0.0f, y, 1);
      else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 512, PIXELS, 1.0f, x, PIXELS, w, 512, 0.0f, y, 512);
      if (i >= 100) times[i - 100] = sp_seconds_now() - start;
    }
    qsort(times, (size_t)calls, sizeof *times, compare_doubles);
    *(kind == 0 ? gemv : gemm) = times[calls / 2];
  }
  free(times);
  free(w);
  free(x);
  free(y);
}

int main(int argc, char **argv) {
  const char *directory = "/usr/share/datasets/fashion-mnist";
  int repeats = 3, calls = 5000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--data-dir") == 0) directory = argv[i + 1];
    else if (strcmp(argv[i], "--repeats") == 0) repeats = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--latency-calls") == 0) calls = atoi(argv[i + 1]);
  }
  if (repeats < 1 || calls < 1) {
    fprintf(stderr, "usage: bench_train [--data-dir DIR] [--repeats N] [--latency-calls N]\n");
    return 2;
  }
  sp_tensor *images, *labels;
  int real = load_data(directory, &images, &labels), threads = openblas_get_num_threads();
  double best = 1e30, best_single = 1e30, best_cpu = 1e30, accuracy = 0, cpu;
  for (int r = 0; r < repeats; r++) {
    double seconds = train_once(images, labels, &accuracy, &cpu);
    if (seconds < best) best = seconds;
  }
  openblas_set_num_threads(1);
  for (int r = 0; r < repeats; r++) {
    double seconds = train_once(images, labels, &accuracy, &cpu);
    if (seconds < best_single) best_single = seconds;
    if (cpu < best_cpu) best_cpu = cpu;
  }
  openblas_set_num_threads(threads);
  sp_model *demo = demo_model(), *iris = iris_model();
  double demo_latency = latency(demo, PIXELS, calls), iris_latency = latency(iris, 4, calls), gemv, gemm;
  blas_batch_one(calls, &gemv, &gemm);
  printf("{\"corename\": \"%s\", \"blas_threads\": %d, \"real_data\": %s, \"train_seconds\": %.6f, "
         "\"train_seconds_1thread\": %.6f, \"train_cpu_seconds_1thread\": %.6f, \"train_accuracy\": %.4f, \"demo_latency\": %.9f, \"iris_latency\": %.9f, "
         "\"sgemv_batch1\": %.9f, \"sgemm_batch1\": %.9f}\n",
         openblas_get_corename(), threads, real ? "true" : "false", best, best_single, best_cpu, accuracy, demo_latency,
         iris_latency, gemv, gemm);
  sp_model_free(demo);
  sp_model_free(iris);
  sp_tensor_free(images);
  sp_tensor_free(labels);
  return 0;
}
