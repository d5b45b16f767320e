/* bench_h5io.c — throughput of src/formats/h5io on a 1 GiB set of float32 datasets.
 *
 *   bench_h5io DIRECTORY [MEBIBYTES]
 *
 * Writes 16 datasets (layers/dense_<i>/vars/0, as Keras 3 names them) totalling 1 GiB
 * (or MEBIBYTES) to DIRECTORY/bench_h5io.h5 through the durable path (temporary file,
 * fsync, rename) and to an in-memory image, reads both back, and prints bytes per second
 * for each. The file is removed at the end. Not a test: the comparison against dd and
 * h5py on the same machine is made by bench/run.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "formats/h5io.h"

enum { DATASETS = 16 };

static double now(void) {
  struct timespec clock;
  clock_gettime(CLOCK_MONOTONIC, &clock);
  return (double)clock.tv_sec + (double)clock.tv_nsec * 1e-9;
}

static void check(sp_status status, const char *what) {
  if (status == SP_OK) return;
  fprintf(stderr, "bench_h5io: %s: %s\n", what, sp_last_error());
  exit(1);
}

static void report(const char *what, size_t bytes, double seconds) {
  printf("%-34s %7.3f GiB in %7.3f s  %8.1f MB/s\n", what, (double)bytes / (1 << 30), seconds,
         (double)bytes / seconds / 1e6);
}

static void write_all(sp_h5_file *file, sp_tensor **tensors) {
  for (int index = 0; index < DATASETS; index++) {
    char path[64];
    snprintf(path, sizeof path, "layers/dense_%d/vars/0", index);
    check(sp_h5_write_tensor(file, path, tensors[index]), path);
  }
}

static void read_all(sp_h5_file *file, sp_tensor **tensors) {
  for (int index = 0; index < DATASETS; index++) {
    char path[64];
    snprintf(path, sizeof path, "layers/dense_%d/vars/0", index);
    sp_tensor *read = NULL;
    check(sp_h5_read_tensor(file, path, SP_H5_NO_LIMIT, &read), path);
    if (read->size != tensors[index]->size || sp_tensor_floats(read)[read->size / 4 - 1] !=
                                                  sp_tensor_floats(tensors[index])[read->size / 4 - 1]) {
      fprintf(stderr, "bench_h5io: %s read back wrong\n", path);
      exit(1);
    }
    sp_tensor_free(read);
  }
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: bench_h5io DIRECTORY [MEBIBYTES]\n");
    return 2;
  }
  size_t total = (argc == 3 ? (size_t)atol(argv[2]) : 1024) << 20;
  int64_t per_dataset[2] = {(int64_t)(total / DATASETS / sizeof(float) / 1024), 1024};
  size_t bytes = (size_t)per_dataset[0] * 1024 * sizeof(float) * DATASETS;
  sp_tensor *tensors[DATASETS];
  for (int index = 0; index < DATASETS; index++) {
    tensors[index] = sp_tensor_new(SP_FLOAT32, 2, per_dataset);
    if (!tensors[index]) check(SP_ERROR_NO_MEMORY, "allocating the tensors");
    float *values = sp_tensor_floats(tensors[index]);
    for (size_t i = 0; i < tensors[index]->size / sizeof(float); i++) values[i] = (float)(i % 1000) * 0.001f + index;
  }
  char *final_path = sp_path_join(argv[1], "bench_h5io.h5"), *temp_path = NULL;
  check(sp_make_directories(argv[1]), argv[1]);

  double start = now();
  check(sp_temp_path_for(final_path, &temp_path), "temporary path");
  sp_h5_file *file = NULL;
  check(sp_h5_create(temp_path, &file), "create");
  write_all(file, tensors);
  check(sp_h5_close(file), "close");
  check(sp_publish_file(temp_path, final_path), "publish");
  report("h5io write file (fsync + rename)", bytes, now() - start);

  start = now();
  check(sp_h5_open(final_path, &file), "open");
  read_all(file, tensors);
  check(sp_h5_close(file), "close");
  report("h5io read file (page cache warm)", bytes, now() - start);

  start = now();
  check(sp_h5_create_image("bench image", &file), "create image");
  write_all(file, tensors);
  uint8_t *image = NULL;
  size_t image_size = 0;
  check(sp_h5_take_image(file, &image, &image_size), "take image");
  report("h5io write in-memory image", bytes, now() - start);

  start = now();
  check(sp_h5_open_image(image, image_size, "bench image", &file), "open image");
  read_all(file, tensors);
  check(sp_h5_close(file), "close image");
  report("h5io read in-memory image", bytes, now() - start);

  start = now();
  uint8_t *copy = malloc(image_size);
  if (!copy) check(SP_ERROR_NO_MEMORY, "copy");
  memcpy(copy, image, image_size);
  __asm__ volatile("" : : "r"(copy) : "memory"); /* keep the copy */
  report("memcpy into fresh memory (reference)", image_size, now() - start);

  free(copy);
  free(image);
  unlink(final_path);
  free(final_path);
  free(temp_path);
  for (int index = 0; index < DATASETS; index++) sp_tensor_free(tensors[index]);
  return 0;
}
