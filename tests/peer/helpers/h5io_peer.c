/* h5io_peer.c — drives src/formats/h5io for tests/peer/test_h5io_peer.py.
 *
 *   h5io_peer write OUT.h5 path|image   writes the layout the peer test also writes with
 *                                       h5py (Keras's legacy and v3 calls), to a file or
 *                                       through an in-memory image
 *   h5io_peer dump IN.h5                prints every group, dataset and Keras attribute as
 *                                       h5io reads them, values in hex, one per line
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "formats/h5io.h"

static int check(sp_status status, const char *what) {
  if (status == SP_OK) return 0;
  fprintf(stderr, "h5io_peer: %s: %s\n", what, sp_last_error());
  exit(1);
}

/* Element i of the peer test's ramp: floats i/4 - 1, signed i - 3, unsigned i, bools i%3==0. */
static sp_tensor *ramp(sp_dtype dtype, int rank, const int64_t *shape) {
  sp_tensor *tensor = sp_tensor_new(dtype, rank, shape);
  if (!tensor) check(SP_ERROR_NO_MEMORY, "ramp");
  for (int64_t i = 0; i < sp_tensor_count(tensor); i++) {
    float real = (float)i * 0.25f - 1.0f;
    switch (dtype) {
      case SP_FLOAT16: ((uint16_t *)tensor->data)[i] = sp_float_to_half(real); break;
      case SP_BFLOAT16: ((uint16_t *)tensor->data)[i] = sp_float_to_bfloat16(real); break;
      case SP_BOOL: ((uint8_t *)tensor->data)[i] = i % 3 == 0; break;
      case SP_COMPLEX64: ((float *)tensor->data)[2 * i] = (float)i, ((float *)tensor->data)[2 * i + 1] = -1; break;
      case SP_COMPLEX128: ((double *)tensor->data)[2 * i] = (double)i, ((double *)tensor->data)[2 * i + 1] = -1; break;
      case SP_FLOAT32: case SP_FLOAT64: sp_tensor_set_double(tensor, i, real); break;
      case SP_UINT8: case SP_UINT16: case SP_UINT32: case SP_UINT64: sp_tensor_set_double(tensor, i, (double)i); break;
      default: sp_tensor_set_double(tensor, i, (double)i - 3); break;
    }
  }
  return tensor;
}

static void write_tensor(sp_h5_file *file, const char *path, sp_dtype dtype, int rank, int64_t d0, int64_t d1) {
  int64_t shape[2] = {d0, d1};
  sp_tensor *tensor = ramp(dtype, rank, shape);
  check(sp_h5_write_tensor(file, path, tensor), path);
  sp_tensor_free(tensor);
}

static void write_text(sp_h5_file *file, const char *path, const char *name, const char *value, sp_h5_encoding how) {
  check(sp_h5_write_string_attribute(file, path, name, value, strlen(value), how), name);
}

static void write_list(sp_h5_file *file, const char *path, const char *name, const char *const *values, size_t count) {
  check(sp_h5_write_string_list_attribute(file, path, name, values, count, SP_H5_BYTES), name);
}

static void write_layout(sp_h5_file *file) {
  /* Keras's legacy writer (legacy_h5_format.py): str root metadata, JSON as bytes */
  write_text(file, "/", "keras_version", "3.7.0", SP_H5_STR);
  write_text(file, "/", "backend", "tensorflow", SP_H5_STR);
  write_text(file, "/", "model_config", "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\\u00e9q\"}}",
             SP_H5_BYTES);
  write_text(file, "/", "training_config", "{\"loss\": \"mse\"}", SP_H5_BYTES);
  check(sp_h5_create_group(file, "model_weights"), "model_weights");
  write_text(file, "model_weights", "backend", "tensorflow", SP_H5_BYTES);
  write_text(file, "model_weights", "keras_version", "3.7.0", SP_H5_BYTES);
  const char *layers[] = {"dense", "dropout", "big"};
  write_list(file, "model_weights", "layer_names", layers, 3);
  check(sp_h5_create_group(file, "model_weights/dense"), "dense");
  const char *weights[] = {"dense/kernel:0", "dense/bias:0"};
  write_list(file, "model_weights/dense", "weight_names", weights, 2);
  write_tensor(file, "model_weights/dense/dense/kernel:0", SP_FLOAT32, 2, 3, 4);
  write_tensor(file, "model_weights/dense/dense/bias:0", SP_FLOAT32, 1, 4, 0);
  check(sp_h5_create_group(file, "model_weights/dropout"), "dropout");
  write_list(file, "model_weights/dropout", "weight_names", NULL, 0);
  enum { MANY = 7001 };
  static char storage[MANY][16];
  const char *many[MANY];
  for (int i = 0; i < MANY; i++) snprintf(storage[i], sizeof storage[i], "weight_%05d", i), many[i] = storage[i];
  check(sp_h5_create_group(file, "model_weights/big"), "big");
  write_list(file, "model_weights/big", "weight_names", many, MANY);
  write_tensor(file, "optimizer_weights/iteration:0", SP_INT64, 0, 0, 0);
  write_tensor(file, "optimizer_weights/learning_rate:0", SP_FLOAT32, 0, 0, 0);
  /* Keras 3's H5IOStore: vars groups named by a str attribute, variables by index */
  check(sp_h5_create_group(file, "vars"), "vars");
  write_text(file, "vars", "name", "s\xc3\xa9quential", SP_H5_STR);
  check(sp_h5_create_group(file, "layers/dense/vars"), "layers/dense/vars");
  write_text(file, "layers/dense/vars", "name", "dense", SP_H5_STR);
  write_tensor(file, "layers/dense/vars/0", SP_FLOAT32, 2, 3, 4);
  static const sp_dtype dtypes[] = {SP_FLOAT16, SP_FLOAT64, SP_BFLOAT16, SP_INT8,   SP_INT16,  SP_INT32,    SP_INT64,
                                    SP_UINT8,   SP_UINT16,  SP_UINT32,   SP_UINT64, SP_BOOL,   SP_COMPLEX64, SP_COMPLEX128};
  for (size_t index = 0; index < sizeof dtypes / sizeof dtypes[0]; index++) {
    char path[64];
    snprintf(path, sizeof path, "dtypes/%s", sp_dtype_name(dtypes[index]));
    write_tensor(file, path, dtypes[index], 2, 2, 3);
  }
  write_tensor(file, "empty", SP_FLOAT32, 2, 0, 3);
}

static const char *const keras_attributes[] = {"keras_version", "backend", "model_config", "training_config",
                                               "layer_names",   "weight_names", "name", "dtype"};

static void print_hex(const void *bytes, size_t length) {
  for (size_t i = 0; i < length; i++) printf("%02x", ((const uint8_t *)bytes)[i]);
}

static void dump_attributes(sp_h5_file *file, const char *path) {
  for (size_t index = 0; index < sizeof keras_attributes / sizeof keras_attributes[0]; index++) {
    const char *name = keras_attributes[index];
    char *value = NULL;
    size_t length = 0;
    sp_tensor *list = NULL;
    if (sp_h5_read_string_attribute(file, path, name, &value, &length) == SP_OK) {
      printf("attr %s %s str ", path, name);
      print_hex(value, length);
      printf("\n");
      free(value);
    } else if (sp_h5_read_string_list_attribute(file, path, name, &list) == SP_OK) {
      printf("attr %s %s list %lld", path, name, (long long)list->shape[0]);
      for (int64_t i = 0; i < list->shape[0]; i++) {
        printf(i ? "," : " ");
        print_hex(((sp_string *)list->data)[i].bytes, ((sp_string *)list->data)[i].length);
      }
      printf("\n");
      sp_tensor_free(list);
    }
  }
}

static void dump(sp_h5_file *file, const char *group) {
  printf("group %s\n", *group ? group : "/");
  dump_attributes(file, *group ? group : "/");
  sp_h5_child *children = NULL;
  size_t count = 0;
  check(sp_h5_list(file, group, &children, &count), group);
  for (size_t index = 0; index < count; index++) {
    char *path = sp_path_join(group, children[index].name);
    if (children[index].kind == SP_H5_GROUP) dump(file, path);
    if (children[index].kind == SP_H5_DATASET) {
      sp_tensor *tensor = NULL;
      check(sp_h5_read_tensor(file, path, SP_H5_NO_LIMIT, &tensor), path);
      printf("dataset %s %s ", path, sp_dtype_name(tensor->dtype));
      for (int axis = 0; axis < tensor->rank; axis++) printf(axis ? ",%lld" : "%lld", (long long)tensor->shape[axis]);
      printf(" ");
      print_hex(tensor->data, tensor->size);
      printf("\n");
      dump_attributes(file, path);
      sp_tensor_free(tensor);
    }
    free(path);
  }
  sp_h5_children_free(children, count);
}

int main(int argc, char **argv) {
  sp_h5_file *file = NULL;
  if (argc == 4 && strcmp(argv[1], "write") == 0 && strcmp(argv[3], "path") == 0) {
    check(sp_h5_create(argv[2], &file), "create");
    write_layout(file);
    return check(sp_h5_close(file), "close");
  }
  if (argc == 4 && strcmp(argv[1], "write") == 0 && strcmp(argv[3], "image") == 0) {
    check(sp_h5_create_image("peer image", &file), "create image");
    write_layout(file);
    uint8_t *image = NULL;
    size_t size = 0;
    check(sp_h5_take_image(file, &image, &size), "take image");
    check(sp_write_file_atomic(argv[2], image, size), "write image");
    free(image);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "dump") == 0) {
    check(sp_h5_open(argv[2], &file), "open");
    dump(file, "");
    return check(sp_h5_close(file), "close");
  }
  fprintf(stderr, "usage: h5io_peer write OUT.h5 path|image | h5io_peer dump IN.h5\n");
  return 2;
}
