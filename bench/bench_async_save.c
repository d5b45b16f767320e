/* bench_async_save.c — how long training is blocked per checkpoint save: asynchronous saving
 * (copy the values, hand them to the writer thread) against a synchronous save of the same model.
 *
 *   bench_async_save DIRECTORY [MEGABYTES ...]      (default: 100 1000)
 *
 * For each size, a model Input(w) → Dense(w) → Dense(w) of about MEGABYTES of float32 weights is
 * saved SAVES times by a checkpoint manager (max_to_keep 1) in DIRECTORY, synchronously and then
 * asynchronously. Blocked time is the duration of sp_checkpoint_manager_save(); between two async
 * saves the bench waits for the writer outside the timed region, as a training interval longer
 * than one write would. The first async save also maps the snapshot buffers, so it is reported
 * apart from the steady state (median of the others), and once more after
 * sp_checkpoint_manager_prepare (which maps them before training starts). Synchronous saves
 * include the fsyncs (the durability rule). The model's weights are modified before every save so
 * that no save can reuse a previous one's bytes. Not a test: nothing is asserted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/file.h"
#include "core/memory.h"
#include "nn/model.h"
#include "savepoint/checkpoint.h"

enum { SAVES = 5 };

static double seconds_now(void) {
  struct timespec clock;
  clock_gettime(CLOCK_MONOTONIC, &clock);
  return (double)clock.tv_sec + (double)clock.tv_nsec * 1e-9;
}

static void check(sp_status status, const char *what) {
  if (status == SP_OK) return;
  fprintf(stderr, "bench_async_save: %s: %s\n", what, sp_last_error());
  exit(1);
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *values, int count) {
  qsort(values, (size_t)count, sizeof *values, compare_doubles);
  return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

/* Two w×w kernels: 8 w² bytes (plus biases). */
static sp_model *model_of(double megabytes) {
  int64_t width = (int64_t)sqrt(megabytes * 1e6 / 8.0);
  sp_model *model = sp_sequential("bench");
  check(sp_model_add(model, sp_input(1, (int64_t[]){width})), "input");
  check(sp_model_add(model, sp_dense(width, NULL)), "dense");
  check(sp_model_add(model, sp_dense(width, NULL)), "dense_1");
  check(sp_model_build(model), "build");
  return model;
}

/* Changes every weight a little (what a training step does). */
static void touch_weights(sp_model *model, float value) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  for (int v = 0; v < count; v++) {
    float *data = sp_tensor_floats(variables[v]->value);
    int64_t elements = sp_tensor_count(variables[v]->value);
    for (int64_t i = 0; i < elements; i++) data[i] = value + (float)(i & 1023) * 1e-3f;
    variables[v]->initialized = 1;
  }
  free(variables);
}

static void run_saves(sp_model *model, const char *directory, int async, int prepare, double *blocked,
                      double *written) {
  check(sp_remove_tree(directory), "clearing the directory");
  sp_checkpoint_manager_options options = sp_checkpoint_manager_defaults();
  options.max_to_keep = 1;
  options.async = async;
  sp_checkpoint_manager *manager;
  check(sp_checkpoint_manager_open(directory, &options, &manager), "opening the manager");
  if (prepare) check(sp_checkpoint_manager_prepare(manager, model), "preparing");
  for (int i = 0; i < SAVES; i++) {
    touch_weights(model, (float)i);
    double start = seconds_now();
    check(sp_checkpoint_manager_save(manager, model, NULL, NULL), "saving");
    blocked[i] = seconds_now() - start;
    check(sp_checkpoint_manager_wait(manager), "writing in the background");
    written[i] = seconds_now() - start;
  }
  check(sp_checkpoint_manager_close(manager), "closing");
  check(sp_remove_tree(directory), "clearing the directory");
}

static void bench_size(const char *root, double megabytes) {
  sp_model *model = model_of(megabytes);
  double bytes = (double)sp_model_parameter_count(model, 0) * 4;
  char *directory = sp_strdupf("%s/bench_async_save-%.0f", root, megabytes);
  double sync_blocked[SAVES], sync_written[SAVES], async_blocked[SAVES], async_written[SAVES];
  double prepared_blocked[SAVES], prepared_written[SAVES];
  run_saves(model, directory, 0, 0, sync_blocked, sync_written);
  run_saves(model, directory, 1, 0, async_blocked, async_written);
  run_saves(model, directory, 1, 1, prepared_blocked, prepared_written);
  double first_async = async_blocked[0], first_prepared = prepared_blocked[0];
  double sync = median(sync_blocked, SAVES);
  double steady = median(async_blocked + 1, SAVES - 1);
  double background = median(async_written + 1, SAVES - 1);
  printf("%6.0f MB  sync %7.3f s (%4.0f MB/s)  async: blocked %6.4f s (copy %4.1f GB/s), written in %6.3f s  "
         "blocked/sync %5.1f%%  first save %6.3f s = %5.1f%% (%5.1f%% after prepare)\n",
         bytes / 1e6, sync, bytes / sync / 1e6, steady, bytes / steady / 1e9, background, 100.0 * steady / sync,
         first_async, 100.0 * first_async / sync, 100.0 * first_prepared / sync);
  fflush(stdout);
  free(directory);
  sp_model_free(model);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_async_save DIRECTORY [MEGABYTES ...]\n");
    return 2;
  }
  printf("bench_async_save: %d saves per mode, medians (the first async save, which allocates the snapshot, "
         "apart)\n", SAVES);
  if (argc == 2) {
    bench_size(argv[1], 100);
    bench_size(argv[1], 1000);
  }
  for (int i = 2; i < argc; i++) bench_size(argv[1], atof(argv[i]));
  return 0;
}
