/* fuzz_tfjs.c — libFuzzer target for the TF.js layers reader (tfjs.c).
 *
 * The input is model.json, then optionally a NUL byte and the bytes of one weights file; the
 * weights are written under every shard name the fixtures use (weights.bin,
 * group1-shard1of1.bin, bundle_model_test_weights.bin) in a scratch directory, so manifests that
 * name them find data and manifests that name anything else exercise the path checks. Seeds:
 * the fixtures' model.json files. An input of odd length loads with map_weights (weights viewed
 * in a mapping of the shards), and every weight of a loaded model is then read whole. Properties:
 * no crash, no leak, nothing read outside the scratch directory or past a mapping, no
 * allocation past the limits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/model.h"
#include "savepoint/io.h"

static char directory[64];

static void remove_scratch(void) {
  const char *names[] = {"model.json", "weights.bin", "group1-shard1of1.bin", "bundle_model_test_weights.bin"};
  char path[128];
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    snprintf(path, sizeof path, "%s/%s", directory, names[i]);
    unlink(path);
  }
  rmdir(directory);
}

static void write_file(const char *name, const uint8_t *data, size_t size) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", directory, name);
  FILE *file = fopen(path, "wb");
  if (!file) abort();
  if (size && fwrite(data, 1, size, file) != size) abort();
  fclose(file);
}

static void quiet(const char *message, void *context) {
  (void)message;
  (void)context;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!directory[0]) {
    snprintf(directory, sizeof directory, "/tmp/fuzz-tfjs-%d", (int)getpid());
    if (!mkdtemp(strcat(directory, "-XXXXXX"))) abort();
    atexit(remove_scratch);
  }
  const uint8_t *separator = memchr(data, 0, size);
  size_t json_size = separator ? (size_t)(separator - data) : size;
  const uint8_t *weights = separator ? separator + 1 : data + size;
  size_t weights_size = size - json_size - (separator ? 1 : 0);
  write_file("model.json", data, json_size);
  write_file("weights.bin", weights, weights_size);
  write_file("group1-shard1of1.bin", weights, weights_size);
  write_file("bundle_model_test_weights.bin", weights, weights_size);
  char path[128];
  snprintf(path, sizeof path, "%s/model.json", directory);
  sp_load_options options = sp_load_defaults();
  options.format = SP_FORMAT_TFJS;
  options.max_tensor_bytes = UINT64_C(1) << 20;
  options.max_total_bytes = UINT64_C(16) << 20;
  options.max_config_bytes = UINT64_C(1) << 20;
  options.warning = quiet;
  options.map_weights = size & 1;
  sp_model *model = NULL;
  if (sp_load(path, &options, &model) == SP_OK) {
    sp_variable **variables;
    int count = sp_model_collect_variables(model, &variables, 0);
    volatile uint8_t sum = 0; /* a view past its mapping faults here */
    for (int v = 0; v < count; v++)
      for (size_t i = 0; i < variables[v]->value->size; i++) sum += ((const uint8_t *)variables[v]->value->data)[i];
    free(variables);
    sp_model_free(model);
  }
  return 0;
}
