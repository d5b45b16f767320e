/* A corpus of hostile model files, each refused with a clear error before anything is built
 * or allocated: code in configs (.keras Lambda, legacy .h5 __lambda__, a foreign module), a zip
 * member escaping the archive, a weight declaring an absurd shape it never stores, a truncated
 * HDF5 file, a weight of the wrong dtype. The files are made here, byte by byte where the
 * library's own writers would refuse to make them. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/memory.h"
#include "formats/h5io.h"
#include "formats/zipio.h"
#include "io_check.h"
#include "savepoint/io.h"

static const char *lambda_config =
    "{\"module\": \"keras\", \"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": [{\"module\": "
    "\"keras.layers\", \"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 2], \"name\": \"in\"}, "
    "\"registered_name\": null}, {\"module\": \"keras.layers\", \"class_name\": \"Lambda\", \"config\": {\"name\": "
    "\"l\", \"function\": {\"class_name\": \"__lambda__\", \"config\": {\"code\": \"4wEAAAAAAAAA\", \"defaults\": null, "
    "\"closure\": null}}}, \"registered_name\": null}]}, \"registered_name\": null}";

static char *temp_path(const char *directory_name, const char *file) {
  char *directory = sp_test_temp_dir(directory_name);
  char *path = sp_path_join(directory, file);
  free(directory);
  return path;
}

Test(hostile, keras_archive_with_lambda_config) {
  char *path = temp_path("hostile-lambda", "evil.keras");
  sp_zip_writer *writer;
  SP_ASSERT_OK(sp_zip_writer_open(path, &writer));
  SP_ASSERT_OK(sp_zip_writer_add(writer, "metadata.json", "{}", 2, NULL));
  SP_ASSERT_OK(sp_zip_writer_add(writer, "config.json", lambda_config, strlen(lambda_config), NULL));
  SP_ASSERT_OK(sp_zip_writer_add(writer, "model.weights.h5", "", 0, NULL));
  SP_ASSERT_OK(sp_zip_writer_commit(writer));
  sp_model *model = NULL;
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_UNSAFE, "never runs code from a model file");
  cr_assert_null(model);
  free(path);
}

/* A STORED zip whose second member is named name (the library's writer refuses such names). */
static void write_raw_zip(const char *path, const char *name) {
  const char *names[2] = {"config.json", name};
  const char *contents[2] = {"{}", "gotcha"};
  sp_buffer zip = {0}, central = {0};
  for (int i = 0; i < 2; i++) {
    uint32_t offset = (uint32_t)zip.size, size = (uint32_t)strlen(contents[i]);
    uint32_t crc = (uint32_t)crc32(0, (const Bytef *)contents[i], size);
    uint16_t name_length = (uint16_t)strlen(names[i]);
    SP_ASSERT_OK(sp_buffer_put_u32le(&zip, 0x04034b50));
    SP_ASSERT_OK(sp_buffer_append(&zip, "\x14\x00\x00\x00\x00\x00\x00\x00\x21\x00", 10)); /* version, flags, STORED, time, date */
    SP_ASSERT_OK(sp_buffer_put_u32le(&zip, crc));
    SP_ASSERT_OK(sp_buffer_put_u32le(&zip, size));
    SP_ASSERT_OK(sp_buffer_put_u32le(&zip, size));
    SP_ASSERT_OK(sp_buffer_append(&zip, &name_length, 2));
    SP_ASSERT_OK(sp_buffer_append(&zip, "\x00\x00", 2));
    SP_ASSERT_OK(sp_buffer_append(&zip, names[i], name_length));
    SP_ASSERT_OK(sp_buffer_append(&zip, contents[i], size));
    SP_ASSERT_OK(sp_buffer_put_u32le(&central, 0x02014b50));
    SP_ASSERT_OK(sp_buffer_append(&central, "\x14\x03\x14\x00\x00\x00\x00\x00\x00\x00\x21\x00", 12));
    SP_ASSERT_OK(sp_buffer_put_u32le(&central, crc));
    SP_ASSERT_OK(sp_buffer_put_u32le(&central, size));
    SP_ASSERT_OK(sp_buffer_put_u32le(&central, size));
    SP_ASSERT_OK(sp_buffer_append(&central, &name_length, 2));
    SP_ASSERT_OK(sp_buffer_append(&central, "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x81", 12));
    SP_ASSERT_OK(sp_buffer_put_u32le(&central, offset));
    SP_ASSERT_OK(sp_buffer_append(&central, names[i], name_length));
  }
  uint32_t central_offset = (uint32_t)zip.size, central_size = (uint32_t)central.size;
  SP_ASSERT_OK(sp_buffer_append(&zip, central.data, central.size));
  SP_ASSERT_OK(sp_buffer_put_u32le(&zip, 0x06054b50));
  SP_ASSERT_OK(sp_buffer_append(&zip, "\x00\x00\x00\x00\x02\x00\x02\x00", 8));
  SP_ASSERT_OK(sp_buffer_put_u32le(&zip, central_size));
  SP_ASSERT_OK(sp_buffer_put_u32le(&zip, central_offset));
  SP_ASSERT_OK(sp_buffer_append(&zip, "\x00\x00", 2));
  SP_ASSERT_OK(sp_write_file_atomic(path, zip.data, zip.size));
  sp_buffer_free(&zip);
  sp_buffer_free(&central);
}

Test(hostile, keras_archive_with_a_member_escaping_the_archive) {
  char *path = temp_path("hostile-escape", "escape.keras");
  write_raw_zip(path, "../../tmp/evil");
  sp_model *model = NULL;
  sp_probe_info info;
  SP_ASSERT_OK(sp_probe(path, &info)); /* never fails on something that exists */
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_UNSAFE, "../../tmp/evil");
  write_raw_zip(path, "/etc/evil");
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_UNSAFE, "/etc/evil");
  free(path);
}

static sp_model *small_model(void) {
  sp_model *model = sp_sequential("m");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){2})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(3, NULL)));
  SP_ASSERT_OK(sp_model_build(model));
  SP_ASSERT_OK(sp_model_initialize(model));
  return model;
}

/* A Keras 3 weights file whose layers/dense/vars/0 is made by make(file, dataspace). */
static char *weights_file_with(const char *directory_name, hid_t type, int rank, const hsize_t *dims) {
  char *path = temp_path(directory_name, "w.weights.h5");
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t links = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(links, 1);
  hid_t space = H5Screate_simple(rank, dims, NULL);
  hid_t create = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_alloc_time(create, H5D_ALLOC_TIME_LATE);
  hid_t dataset = H5Dcreate2(file, "layers/dense/vars/0", type, space, links, create, H5P_DEFAULT);
  cr_assert(dataset >= 0);
  hsize_t bias = 3;
  hid_t bias_space = H5Screate_simple(1, &bias, NULL);
  hid_t bias_set = H5Dcreate2(file, "layers/dense/vars/1", H5T_IEEE_F32LE, bias_space, links, H5P_DEFAULT, H5P_DEFAULT);
  float zeros[3] = {0};
  H5Dwrite(bias_set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros);
  H5Dclose(bias_set);
  H5Sclose(bias_space);
  H5Dclose(dataset);
  H5Pclose(create);
  H5Sclose(space);
  H5Pclose(links);
  H5Fclose(file);
  return path;
}

Test(hostile, weight_declaring_an_absurd_shape) {
  hsize_t dims[2] = {UINT64_C(1) << 31, UINT64_C(1) << 12}; /* 32 TiB of float32 declared, nothing stored */
  char *path = weights_file_with("hostile-shape", H5T_IEEE_F32LE, 2, dims);
  sp_model *model = small_model();
  sp_status status = sp_load_weights(model, path, NULL);
  cr_assert_eq(status, SP_ERROR_UNSAFE, "%s: %s", sp_status_name(status), sp_last_error());
  cr_assert(strstr(sp_last_error(), "layers/dense/vars/0"), "%s", sp_last_error());
  sp_model_free(model);
  free(path);
}

Test(hostile, weight_of_the_wrong_dtype) {
  hid_t string = H5Tcopy(H5T_C_S1);
  H5Tset_size(string, 8);
  char *path = weights_file_with("hostile-dtype", string, 2, (hsize_t[]){2, 3});
  H5Tclose(string);
  sp_model *model = small_model();
  SP_ASSERT_FAILS(sp_load_weights(model, path, NULL), SP_ERROR_UNSUPPORTED, "layers/dense/vars/0");
  sp_model_free(model);
  free(path);
}

Test(hostile, truncated_hdf5_file) {
  char *path = temp_path("hostile-truncated", "cut.h5");
  sp_model *model = small_model();
  SP_ASSERT_OK(sp_save(model, path, NULL));
  uint64_t size;
  SP_ASSERT_OK(sp_file_size(path, &size));
  cr_assert_eq(truncate(path, (off_t)(size / 2)), 0);
  sp_model *loaded = NULL;
  sp_status status = sp_load(path, NULL, &loaded);
  cr_assert_neq(status, SP_OK);
  cr_assert(strstr(sp_last_error(), "cut.h5"), "the message names the file: %s", sp_last_error());
  cr_assert_null(loaded);
  sp_model_free(model);
  free(path);
}

static void write_legacy_model_config(const char *path, const char *config) {
  sp_h5_file *file;
  SP_ASSERT_OK(sp_h5_create(path, &file));
  SP_ASSERT_OK(sp_h5_write_string_attribute(file, "", "keras_version", "2.15.0", 6, SP_H5_STR));
  SP_ASSERT_OK(sp_h5_write_string_attribute(file, "", "model_config", config, strlen(config), SP_H5_BYTES));
  SP_ASSERT_OK(sp_h5_close(file));
}

Test(hostile, legacy_h5_with_python_code_or_a_foreign_module) {
  char *path = temp_path("hostile-legacy", "evil.h5");
  const char *keras2_lambda =
      "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": [{\"class_name\": \"Lambda\", "
      "\"config\": {\"name\": \"l\", \"function\": [\"4wEAAAAAAAAA\", null, null], \"function_type\": \"lambda\", "
      "\"batch_input_shape\": [null, 2]}}]}}";
  write_legacy_model_config(path, keras2_lambda);
  sp_model *model = NULL;
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_UNSAFE, "Lambda layer");
  const char *foreign = "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": [{\"module\": "
                        "\"subprocess\", \"class_name\": \"Popen\", \"config\": {\"args\": \"id\"}}]}}";
  write_legacy_model_config(path, foreign);
  SP_ASSERT_FAILS(sp_load(path, NULL, &model), SP_ERROR_UNSAFE, "module 'subprocess'");
  cr_assert_null(model);
  free(path);
}
