/* bench_save.c — saving and loading a 1 GiB model in every Keras format and TF.js.
 *
 *   bench_save DIRECTORY [MEBIBYTES] [FORMAT ...]
 *
 * Builds a Sequential of Dense layers holding MEBIBYTES (default 1024) of float32 parameters
 * (8192x8192 kernels: 4 layers for 1 GiB, 268 M parameters), then for each format (default:
 * keras h5 weights-h5 tfjs) saves it to DIRECTORY through sp_save / sp_save_weights — the
 * durable path: temporary name, fsync, rename, directory fsync — and loads it back twice (sp_load,
 * or sp_load_weights into a freshly built model for weights-only files), copying the weights
 * ("load"), viewing them in a mapping of the file ("map", sp_load_options.map_weights), and
 * viewing them then reading every cache line of them once ("map+read": what a first prediction
 * adds), checking a weight each time. Prints one line per step with seconds and MB/s (bytes of
 * parameters / time); the files are removed.
 * Not a test: bench/bench_save.sh runs it beside dd and h5py and prints the ratios.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/file.h"
#include "core/memory.h"
#include "nn/model.h"
#include "savepoint/io.h"

enum { WIDTH = 8192 };

static double now(void) {
  struct timespec clock;
  clock_gettime(CLOCK_MONOTONIC, &clock);
  return (double)clock.tv_sec + (double)clock.tv_nsec * 1e-9;
}

static void check(sp_status status, const char *what) {
  if (status == SP_OK) return;
  fprintf(stderr, "bench_save: %s: %s\n", what, sp_last_error());
  exit(1);
}

static sp_model *build_empty(int layers) {
  sp_model *model = sp_sequential("bench");
  check(sp_model_add(model, sp_input(1, (int64_t[]){WIDTH})), "input");
  for (int i = 0; i < layers; i++) check(sp_model_add(model, sp_dense(WIDTH, NULL)), "dense");
  check(sp_model_build(model), "build");
  return model;
}

static sp_model *build(int layers) {
  sp_model *model = build_empty(layers);
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  for (int v = 0; v < count; v++) {
    float *values = sp_tensor_floats(variables[v]->value);
    int64_t elements = sp_tensor_count(variables[v]->value);
    for (int64_t i = 0; i < elements; i++) values[i] = (float)((i * 2654435761u + (uint64_t)v) % 1000) * 1e-3f;
    variables[v]->initialized = 1;
  }
  free(variables);
  return model;
}

static float last_weight(const sp_model *model) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  const sp_tensor *kernel = variables[count - 2]->value;
  float value = sp_tensor_floats(kernel)[sp_tensor_count(kernel) - 1];
  free(variables);
  return value;
}

/* Reads one float of every 64-byte line of every weight: what a first prediction does to a
 * mapped model's pages (the page tables are filled on first touch). */
static void read_every_line(const sp_model *model) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  volatile float sum = 0;
  for (int v = 0; v < count; v++) {
    const float *values = sp_tensor_floats(variables[v]->value);
    for (int64_t i = 0; i < sp_tensor_count(variables[v]->value); i += 16) sum += values[i];
  }
  free(variables);
}

static void report(const char *format, const char *step, double bytes, double seconds) {
  printf("%-12s %-8s %8.3f s %9.1f MB/s\n", format, step, seconds, bytes / seconds / 1e6);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_save DIRECTORY [MEBIBYTES] [FORMAT ...]\n");
    return 2;
  }
  const char *directory = argv[1];
  long mebibytes = argc > 2 ? atol(argv[2]) : 1024;
  int layers = (int)(mebibytes * (1 << 20) / ((int64_t)WIDTH * WIDTH * 4));
  if (layers < 1) layers = 1;
  const char *defaults[] = {"keras", "h5", "weights-h5", "tfjs"};
  const char **formats = argc > 3 ? (const char **)argv + 3 : defaults;
  int format_count = argc > 3 ? argc - 3 : 4;
  sp_model *model = build(layers);
  double bytes = (double)sp_model_parameter_count(model, 0) * 4;
  printf("model: %d Dense(%d) layers, %.0f parameters, %.3f GiB\n", layers, WIDTH, bytes / 4, bytes / (1 << 30));
  float expected = last_weight(model);
  for (int f = 0; f < format_count; f++) {
    sp_save_options save = sp_save_defaults();
    check(sp_format_from_name(formats[f], &save.format), formats[f]);
    const char *suffix = save.format == SP_FORMAT_KERAS ? ".keras" : save.format == SP_FORMAT_H5 ? ".h5"
                         : save.format == SP_FORMAT_WEIGHTS_H5 ? ".weights.h5" : "";
    char *path = sp_strdupf("%s/bench_model%s", directory, suffix);
    int weights_only = save.format == SP_FORMAT_WEIGHTS_H5;
    double start = now();
    check(weights_only ? sp_save_weights(model, path, &save) : sp_save(model, path, &save), path);
    report(formats[f], "save", bytes, now() - start);
    for (int map = 0; map <= 2; map++) { /* copy, map, map and read every cache line once */
      /* weights-only files load into a model built (not filled) beforehand, outside the timing */
      sp_model *loaded = weights_only ? build_empty(layers) : NULL;
      sp_load_options load = sp_load_defaults();
      load.format = save.format;
      load.map_weights = map > 0;
      start = now();
      check(weights_only ? sp_load_weights(loaded, path, &load) : sp_load(path, &load, &loaded), path);
      if (map == 2) read_every_line(loaded);
      report(formats[f], map == 0 ? "load" : map == 1 ? "map" : "map+read", bytes, now() - start);
      if (last_weight(loaded) != expected) {
        fprintf(stderr, "bench_save: %s read back a different weight\n", path);
        return 1;
      }
      sp_model_free(loaded);
    }
    check(sp_remove_tree(path), path);
    free(path);
  }
  sp_model_free(model);
  return 0;
}
