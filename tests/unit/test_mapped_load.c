/* Tests of loading with map_weights (core/mapping and the four formats that view weights in a
 * private file mapping): a mapping shows the file's bytes, writes through it never reach the
 * file, a view outlives the file's name and the caller's reference; shards join side by side
 * or are refused as documented. For .keras, .weights.h5, legacy .h5 and TF.js written here, a
 * mapped load views every weight, predicts bit for bit as a copying load, trains to the same
 * bits without changing the file (SHA-256), and a later copying load replaces the views.
 * Keras-written fixtures, a DEFLATE-compressed weights member and shards that are not whole
 * pages fall back to copying with the same results; a truncated shard fails with a clear error.
 * Expected values come from the files' bytes, a copying load and the model that was saved. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/mapping.h"
#include "core/memory.h"
#include "formats/zipio.h"
#include "io_check.h"
#include "savepoint/io.h"
#include "savepoint/train.h"

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* ---- core mapping ---- */

/* size bytes of a pattern that differs from page to page (seed picks the pattern). */
static uint8_t *pattern(size_t size, unsigned seed) {
  uint8_t *bytes = malloc(size ? size : 1);
  cr_assert_not_null(bytes);
  for (size_t i = 0; i < size; i++) bytes[i] = (uint8_t)(i * 31 + i / 4096 * 7 + seed * 101);
  return bytes;
}

/* Writes bytes to directory/name; returns the path. */
static char *write_bytes(const char *directory, const char *name, const void *bytes, size_t size) {
  char *path = sp_path_join(directory, name);
  SP_ASSERT_OK(sp_write_file_atomic(path, bytes, size));
  return path;
}

static void assert_file_holds(const char *path, const uint8_t *expected, size_t size) {
  uint8_t *bytes = NULL;
  size_t actual = 0;
  SP_ASSERT_OK(sp_read_file(path, SIZE_MAX, &bytes, &actual));
  cr_assert_eq(actual, size, "%s holds %zu bytes, expected %zu", path, actual, size);
  cr_assert_eq(memcmp(bytes, expected, size), 0, "%s changed", path);
  free(bytes);
}

Test(mapping, a_range_shows_the_file_bytes_and_writes_stay_private) {
  char *directory = sp_test_temp_dir("mapping-range");
  size_t size = 3 * page_size() + 100;
  uint8_t *bytes = pattern(size, 1);
  char *path = write_bytes(directory, "data.bin", bytes, size);
  uint64_t offset = page_size() + 13, length = page_size() + 500; /* starts and ends inside pages */
  sp_mapping *mapping = NULL;
  const uint8_t *data = NULL;
  SP_ASSERT_OK(sp_mapping_open(path, offset, length, &mapping, &data));
  cr_assert_eq(memcmp(data, bytes + offset, length), 0, "the mapping does not show the file's bytes");
  uint8_t *writable = (uint8_t *)data; /* MAP_PRIVATE with PROT_WRITE: a write copies the page */
  for (uint64_t i = 0; i < length; i += 97) writable[i] ^= 0xFF;
  cr_assert_eq(writable[0], (uint8_t)(bytes[offset] ^ 0xFF), "the write is not visible through the mapping");
  assert_file_holds(path, bytes, size);
  sp_mapping_release(mapping);
  assert_file_holds(path, bytes, size);
  free(path);
  free(bytes);
  free(directory);
}

Test(mapping, ranges_outside_the_file_are_format_errors) {
  char *directory = sp_test_temp_dir("mapping-outside");
  uint8_t *bytes = pattern(1000, 2);
  char *path = write_bytes(directory, "small.bin", bytes, 1000);
  sp_mapping *mapping = NULL;
  const uint8_t *data = NULL;
  SP_ASSERT_FAILS(sp_mapping_open(path, 990, 20, &mapping, &data), SP_ERROR_FORMAT, "not inside");
  SP_ASSERT_FAILS(sp_mapping_open(path, 1001, 1, &mapping, &data), SP_ERROR_FORMAT, "not inside");
  SP_ASSERT_FAILS(sp_mapping_open(path, UINT64_MAX, 2, &mapping, &data), SP_ERROR_FORMAT, "not inside");
  SP_ASSERT_FAILS(sp_mapping_open(path, 0, 0, &mapping, &data), SP_ERROR_FORMAT, "not inside");
  cr_assert_null(mapping);
  cr_assert_null(data);
  free(path);
  free(bytes);
  free(directory);
}

Test(mapping, a_tensor_view_outlives_the_file_name_and_the_caller_reference) {
  char *directory = sp_test_temp_dir("mapping-view");
  float values[1000];
  for (int i = 0; i < 1000; i++) values[i] = (float)i * 0.5f - 7.0f;
  char *path = write_bytes(directory, "floats.bin", values, sizeof values);
  sp_mapping *mapping = NULL;
  const uint8_t *data = NULL;
  SP_ASSERT_OK(sp_mapping_open(path, 0, sizeof values, &mapping, &data));
  sp_tensor *tensor = sp_tensor_new_unfaulted(SP_FLOAT32, 1, (int64_t[]){1000});
  cr_assert_not_null(tensor);
  sp_tensor_view(tensor, mapping, data);
  cr_assert_eq(tensor->mapping, mapping);
  cr_assert(!tensor->owns_data);
  sp_mapping_release(mapping);
  cr_assert_eq(unlink(path), 0);
  cr_assert_eq(memcmp(tensor->data, values, sizeof values), 0, "the view lost its bytes");
  /* Viewing the same mapping again keeps it alive (retained before the old view is dropped). */
  sp_tensor_view(tensor, tensor->mapping, data);
  cr_assert_eq(memcmp(tensor->data, values, sizeof values), 0, "re-viewing the same mapping lost its bytes");
  /* Preparing to overwrite gives the tensor private storage with the same bytes unchanged. */
  SP_ASSERT_OK(sp_tensor_prepare_overwrite(tensor));
  cr_assert_null(tensor->mapping);
  cr_assert(tensor->owns_data);
  sp_tensor_free(tensor);
  free(path);
  free(directory);
}

/* Writes files of the given sizes (pattern seeded by their index) and joins them. */
static sp_status join_files(const char *directory, const size_t *file_sizes, const uint64_t *claimed, size_t count,
                            uint8_t **concatenated, sp_mapping **mapping, const uint8_t **data) {
  char *paths[8];
  cr_assert(count <= 8);
  size_t total = 0;
  for (size_t i = 0; i < count; i++) total += file_sizes[i];
  *concatenated = malloc(total);
  cr_assert_not_null(*concatenated);
  size_t at = 0;
  for (size_t i = 0; i < count; i++) {
    uint8_t *bytes = pattern(file_sizes[i], (unsigned)i + 3);
    char name[32];
    snprintf(name, sizeof name, "part%zu.bin", i);
    paths[i] = write_bytes(directory, name, bytes, file_sizes[i]);
    memcpy(*concatenated + at, bytes, file_sizes[i]);
    at += file_sizes[i];
    free(bytes);
  }
  sp_status status = sp_mapping_join((const char *const *)paths, claimed, count, mapping, data);
  for (size_t i = 0; i < count; i++) free(paths[i]);
  return status;
}

Test(mapping, join_lays_page_multiple_files_side_by_side) {
  char *directory = sp_test_temp_dir("mapping-join");
  size_t page = page_size();
  const size_t sizes[] = {page, 2 * page, 100};
  const uint64_t claimed[] = {page, 2 * page, 100};
  uint8_t *expected = NULL;
  sp_mapping *mapping = NULL;
  const uint8_t *data = NULL;
  SP_ASSERT_OK(join_files(directory, sizes, claimed, 3, &expected, &mapping, &data));
  cr_assert_eq(memcmp(data, expected, 3 * page + 100), 0, "the joined mapping is not the files concatenated");
  ((uint8_t *)data)[page] ^= 0xFF; /* private: the second file keeps its bytes */
  char *second = sp_path_join(directory, "part1.bin");
  assert_file_holds(second, expected + page, 2 * page);
  sp_mapping_release(mapping);
  free(second);
  free(expected);
  free(directory);
}

/* Joins files of file_sizes bytes, claimed to hold claimed bytes, and expects the join to fail. */
static void assert_join_fails(const char *name, const size_t *file_sizes, const uint64_t *claimed, size_t count,
                              sp_status expected_status, const char *fragment) {
  char *directory = sp_test_temp_dir(name);
  uint8_t *concatenated = NULL;
  sp_mapping *mapping = NULL;
  const uint8_t *data = NULL;
  SP_ASSERT_FAILS(join_files(directory, file_sizes, claimed, count, &concatenated, &mapping, &data), expected_status,
                  fragment);
  cr_assert_null(mapping);
  cr_assert_null(data);
  free(concatenated);
  free(directory);
}

Test(mapping, join_refuses_a_middle_file_that_is_not_whole_pages) {
  size_t page = page_size();
  assert_join_fails("mapping-join-unaligned", (const size_t[]){page, 100, page}, (const uint64_t[]){page, 100, page}, 3,
                    SP_ERROR_UNSUPPORTED, "not a whole number of pages");
}

Test(mapping, join_refuses_files_whose_size_changed) {
  size_t page = page_size();
  assert_join_fails("mapping-join-longer-last", (const size_t[]){page, 100}, (const uint64_t[]){page, 101}, 2,
                    SP_ERROR_FORMAT, "changed while being read");
  assert_join_fails("mapping-join-longer-first", (const size_t[]){page, 100}, (const uint64_t[]){2 * page, 100}, 2,
                    SP_ERROR_FORMAT, "changed while being read");
}

/* ---- the formats, with files written here ---- */

/* Input(64) → Dense(256, relu) → Dense(10): 76,840 bytes of float32 weights, 19 TF.js shards of 4 KiB. */
static sp_model *mlp(uint64_t seed) {
  sp_model *model = sp_sequential("mlp");
  cr_assert_not_null(model);
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){64})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(256, "relu")));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(10, NULL)));
  sp_model_set_seed(model, seed);
  SP_ASSERT_OK(sp_model_build(model));
  SP_ASSERT_OK(sp_model_initialize(model));
  return model;
}

typedef struct saved_format {
  const char *name;  /* file or directory name, which picks the format */
  int weights_only;  /* saved with sp_save_weights, loaded with sp_load_weights into mlp(2) */
} saved_format;

static const saved_format keras_format = {"m.keras", 0}, weights_format = {"m.weights.h5", 1},
                          legacy_format = {"m.h5", 0}, tfjs_format = {"web", 0};
static const saved_format *const every_format[] = {&keras_format, &weights_format, &legacy_format, &tfjs_format};

static char *save_as(const sp_model *model, const char *directory, const saved_format *format) {
  char *path = sp_path_join(directory, format->name);
  sp_save_options options = sp_save_defaults();
  if (format == &tfjs_format) {
    options.format = SP_FORMAT_TFJS;
    options.tfjs_shard_bytes = 4096; /* a page: the shards can be mapped side by side */
  }
  SP_ASSERT_OK(format->weights_only ? sp_save_weights(model, path, &options) : sp_save(model, path, &options));
  return path;
}

static sp_load_options load_options(int map_weights) {
  sp_load_options options = sp_load_defaults();
  options.map_weights = map_weights;
  return options;
}

static sp_model *load_model(const char *path, int map_weights) {
  sp_load_options options = load_options(map_weights);
  sp_model *model = NULL;
  SP_ASSERT_OK(sp_load(path, &options, &model));
  return model;
}

static sp_model *load_as(const char *path, const saved_format *format, int map_weights) {
  if (!format->weights_only) return load_model(path, map_weights);
  sp_load_options options = load_options(map_weights);
  sp_model *model = mlp(2);
  SP_ASSERT_OK(sp_load_weights(model, path, &options));
  return model;
}

/* How many of the model's variables view a mapping; *total receives how many there are. */
static int mapped_variables(const sp_model *model, int *total) {
  sp_variable **variables;
  *total = sp_model_collect_variables(model, &variables, 0);
  cr_assert(*total > 0);
  int mapped = 0;
  for (int i = 0; i < *total; i++) mapped += variables[i]->value->mapping != NULL;
  free(variables);
  return mapped;
}

static void assert_mapped(const sp_model *model, int expect_all, const char *what) {
  int total, mapped = mapped_variables(model, &total);
  cr_assert_eq(mapped, expect_all ? total : 0, "%s: %d of %d variables view a mapping, expected %s", what, mapped,
               total, expect_all ? "all" : "none");
}

/* The SHA-256 of a file, or of every file in a directory (names and digests, in name order). */
static void artifact_digest(const char *path, char digest[SP_SHA256_HEX]) {
  if (!sp_is_directory(path)) {
    SP_ASSERT_OK(sp_sha256_file(path, digest));
    return;
  }
  char **names = NULL;
  size_t count = 0;
  SP_ASSERT_OK(sp_list_directory(path, 1024, &names, &count));
  sp_sha256 *hash = sp_sha256_new();
  cr_assert_not_null(hash);
  for (size_t i = 0; i < count; i++) {
    char *file = sp_path_join(path, names[i]), one[SP_SHA256_HEX];
    SP_ASSERT_OK(sp_sha256_file(file, one));
    sp_sha256_update(hash, names[i], strlen(names[i]) + 1);
    sp_sha256_update(hash, one, sizeof one);
    free(file);
  }
  uint8_t bytes[SP_SHA256_BYTES];
  sp_sha256_finish(hash, bytes);
  sp_sha256_hex(bytes, digest);
  sp_free_names(names, count);
}

static void assert_digest_unchanged(const char *path, const char *before, const char *what) {
  char after[SP_SHA256_HEX];
  artifact_digest(path, after);
  cr_assert_str_eq(after, before, "%s: '%s' changed on disk", what, path);
}

/* Appendix F's three gen(n) rows through the model; a new copy of output 0 (count floats). */
static float *predictions(sp_model *model, int features, size_t *count) {
  float *rows = sp_test_gen(features);
  sp_tensor *input = sp_tensor_wrap(SP_FLOAT32, 2, (int64_t[]){3, features}, rows);
  cr_assert_not_null(input);
  int output_count = 0;
  sp_tensor **outputs = NULL;
  SP_ASSERT_OK(sp_model_predict(model, 1, (const sp_tensor *const *)&input, &output_count, &outputs));
  *count = (size_t)sp_tensor_count(outputs[0]);
  float *copy = malloc(outputs[0]->size);
  cr_assert_not_null(copy);
  memcpy(copy, outputs[0]->data, outputs[0]->size);
  for (int i = 0; i < output_count; i++) sp_tensor_free(outputs[i]);
  free(outputs);
  sp_tensor_free(input);
  free(rows);
  return copy;
}

static void assert_same_predictions(sp_model *copied, sp_model *mapped, int features, const char *what) {
  size_t copied_count, mapped_count;
  float *expected = predictions(copied, features, &copied_count), *actual = predictions(mapped, features, &mapped_count);
  cr_assert_eq(mapped_count, copied_count);
  cr_assert_eq(memcmp(actual, expected, copied_count * sizeof *actual), 0,
               "%s: the mapped model predicts differently from the copied one", what);
  free(expected);
  free(actual);
}

static float training_feature(int64_t row, int64_t column) { return (float)sin(0.37 * (double)row + 1.3 * (double)column); }

/* Two SGD steps with momentum (32 rows, batches of 16, no shuffling): the same bits every run. */
static void train(sp_model *model) {
  SP_ASSERT_OK(sp_model_compile(model, sp_sgd(0.05, 0.9, 0), "mse", NULL));
  sp_tensor *x = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){32, 64}), *y = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){32, 10});
  cr_assert(x && y);
  for (int64_t r = 0; r < 32; r++) {
    for (int64_t c = 0; c < 64; c++) sp_tensor_floats(x)[r * 64 + c] = training_feature(r, c);
    for (int64_t c = 0; c < 10; c++) sp_tensor_floats(y)[r * 10 + c] = training_feature(r, c + 100);
  }
  sp_fit_options options = sp_fit_defaults();
  options.epochs = 1;
  options.batch_size = 16;
  options.shuffle = 0;
  options.seed = 7;
  options.verbose = 0;
  SP_ASSERT_OK(sp_model_fit(model, x, y, &options, NULL));
  sp_tensor_free(x);
  sp_tensor_free(y);
}

/* Save, load copied and mapped, compare, train both, compare, and check the file never changed. */
static void check_round_trip(const saved_format *format) {
  sp_model *original = mlp(1);
  char *directory = sp_test_temp_dir("mapped-round-trip");
  char *path = save_as(original, directory, format);
  char before[SP_SHA256_HEX];
  artifact_digest(path, before);
  sp_model *copied = load_as(path, format, 0), *mapped = load_as(path, format, 1);
  cr_assert(sp_test_same_weights(copied, original), "%s: the copying load differs from the saved model", format->name);
  cr_assert(sp_test_same_weights(mapped, original), "%s: the mapped load differs from the saved model", format->name);
  assert_mapped(copied, 0, format->name);
  assert_mapped(mapped, 1, format->name);
  assert_same_predictions(copied, mapped, 64, format->name);
  train(copied);
  train(mapped);
  cr_assert(!sp_test_same_weights(mapped, original), "%s: training changed no weight", format->name);
  cr_assert(sp_test_same_weights(mapped, copied), "%s: mapped and copied models trained to different weights",
            format->name);
  assert_digest_unchanged(path, before, format->name);
  /* Saved over the file it views: the file is replaced by rename, the views keep their bytes. */
  free(save_as(mapped, directory, format));
  cr_assert(sp_test_same_weights(mapped, copied), "%s: saving over the viewed file changed the model", format->name);
  sp_model *reloaded = load_as(path, format, 0);
  cr_assert(sp_test_same_weights(reloaded, copied), "%s: the file saved over the viewed one differs", format->name);
  sp_model_free(reloaded);
  sp_model_free(mapped);
  sp_model_free(copied);
  sp_model_free(original);
  free(path);
  free(directory);
}

Test(mapped_load, keras_archive_views_trains_privately_and_matches_a_copy) { check_round_trip(&keras_format); }
Test(mapped_load, weights_h5_views_trains_privately_and_matches_a_copy) { check_round_trip(&weights_format); }
Test(mapped_load, legacy_h5_views_trains_privately_and_matches_a_copy) { check_round_trip(&legacy_format); }
Test(mapped_load, tfjs_views_trains_privately_and_matches_a_copy) { check_round_trip(&tfjs_format); }

Test(mapped_load, tfjs_export_is_cut_into_page_sized_shards) {
  sp_model *model = mlp(1);
  char *directory = sp_test_temp_dir("mapped-shards");
  char *path = save_as(model, directory, &tfjs_format);
  /* (64 * 256 + 256 + 256 * 10 + 10) floats = 76,840 bytes: 18 shards of 4096 and one of 3112. */
  char *last = sp_strdupf("%s/group1-shard19of19.bin", path);
  uint64_t size = 0;
  SP_ASSERT_OK(sp_file_size(last, &size));
  cr_assert_eq(size, 76840 - 18 * 4096);
  free(last);
  free(path);
  free(directory);
  sp_model_free(model);
}

Test(mapped_load, loading_again_replaces_or_renews_the_views) {
  sp_model *original = mlp(1), *other = mlp(3);
  char *directory = sp_test_temp_dir("mapped-reload");
  char *other_path = save_as(other, directory, &(saved_format){"other.weights.h5", 1});
  for (size_t f = 0; f < sizeof every_format / sizeof *every_format; f++) {
    const saved_format *format = every_format[f];
    char *path = save_as(original, directory, format);
    char before[SP_SHA256_HEX];
    artifact_digest(path, before);
    sp_model *model = load_as(path, format, 1);
    assert_mapped(model, 1, format->name);
    /* Mapped again: the old views are dropped, the new ones view the same bytes. */
    sp_load_options map = load_options(1), copy = load_options(0);
    SP_ASSERT_OK(sp_load_weights(model, path, &map));
    assert_mapped(model, 1, format->name);
    cr_assert(sp_test_same_weights(model, original), "%s: mapping again changed the weights", format->name);
    /* Copied: every view gets private storage holding the file's bytes. */
    SP_ASSERT_OK(sp_load_weights(model, path, &copy));
    assert_mapped(model, 0, format->name);
    cr_assert(sp_test_same_weights(model, original), "%s: copying over the views changed the weights", format->name);
    /* Copied from another file: the first file stays as it was. */
    SP_ASSERT_OK(sp_load_weights(model, path, &map));
    SP_ASSERT_OK(sp_load_weights(model, other_path, &copy));
    assert_mapped(model, 0, format->name);
    cr_assert(sp_test_same_weights(model, other), "%s: the second file's weights were not loaded", format->name);
    assert_digest_unchanged(path, before, format->name);
    sp_model_free(model);
    free(path);
  }
  free(other_path);
  sp_model_free(other);
  sp_model_free(original);
  free(directory);
}

/* ---- copies where views are impossible ---- */

/* Loads path copied and mapped (into fresh loads of architecture when it is given) and checks
 * the two predict alike on gen(features); returns how many variables the mapped load views. */
static int check_fallback(const char *relative, const char *architecture, int features) {
  char *path = sp_test_fixture(relative);
  sp_model *copied = NULL, *mapped = NULL;
  if (architecture) {
    copied = sp_test_load_fixture(architecture);
    mapped = sp_test_load_fixture(architecture);
    sp_load_options copy = load_options(0), map = load_options(1);
    SP_ASSERT_OK(sp_load_weights(copied, path, &copy));
    SP_ASSERT_OK(sp_load_weights(mapped, path, &map));
  } else {
    copied = load_model(path, 0);
    mapped = load_model(path, 1);
  }
  cr_assert(sp_test_same_weights(copied, mapped), "%s: the mapped load holds other weights", relative);
  assert_same_predictions(copied, mapped, features, relative);
  int total, views = mapped_variables(mapped, &total);
  cr_log_info("%s: %d of %d variables viewed", relative, views, total);
  sp_model_free(copied);
  sp_model_free(mapped);
  free(path);
  return views;
}

Test(mapped_load, keras_written_fixtures_load_mapped_as_copied) {
  /* Python's zipfile puts this archive's model.weights.h5 bytes at 3789 + 30 + 16 = 3835, an odd
   * offset: no float can be viewed there, every weight is copied. */
  cr_assert_eq(check_fallback("keras3.7-churn-keras-and-h5-same-model/my_model.keras", NULL, 19), 0);
  check_fallback("keras3.7-churn-keras-and-h5-same-model/my_model.h5", NULL, 19);
  check_fallback("keras3-weights-h5-diabetes/model.weights.h5", "keras3-weights-h5-diabetes/model.json", 8);
  check_fallback("tfjs-layers-abalone-tfjs1.3.2/abalone-node/trainedModel/model.json", NULL, 8);
  check_fallback("tfjs-layers-from-keras2.15-maternal-health/tfjs_model/model.json", NULL, 5);
}

/* Loads path copied and with map_weights, expects no view and the same weights and predictions
 * from both; returns the mapped model (the caller frees it). */
static sp_model *assert_copied_alike(const char *path, const saved_format *format) {
  sp_model *copied = load_as(path, format, 0), *mapped = load_as(path, format, 1);
  assert_mapped(mapped, 0, path);
  cr_assert(sp_test_same_weights(mapped, copied), "%s: the mapped load differs from the copying one", path);
  assert_same_predictions(copied, mapped, 64, path);
  sp_model_free(copied);
  return mapped;
}

/* Rewrites a .keras archive with model.weights.h5 DEFLATE-compressed, the rest as it was. */
static void deflate_weights_member(const char *source, const char *target) {
  sp_zip_reader *reader = NULL;
  sp_zip_writer *writer = NULL;
  SP_ASSERT_OK(sp_zip_open(source, &reader));
  SP_ASSERT_OK(sp_zip_writer_open(target, &writer));
  for (size_t i = 0; i < sp_zip_count(reader); i++) {
    const char *name = sp_zip_member_at(reader, i)->name;
    uint8_t *data = NULL;
    size_t size = 0;
    SP_ASSERT_OK(sp_zip_read(reader, name, UINT64_MAX, &data, &size));
    sp_zip_entry_options options = {.method = strcmp(name, "model.weights.h5") == 0 ? SP_ZIP_DEFLATED : SP_ZIP_STORED};
    SP_ASSERT_OK(sp_zip_writer_add_owned(writer, name, data, size, &options));
  }
  SP_ASSERT_OK(sp_zip_writer_commit(writer));
  sp_zip_close(reader);
}

Test(mapped_load, a_deflated_weights_member_is_copied) {
  sp_model *original = mlp(1);
  char *directory = sp_test_temp_dir("mapped-deflated");
  char *stored = save_as(original, directory, &keras_format), *deflated = sp_path_join(directory, "deflated.keras");
  deflate_weights_member(stored, deflated);
  sp_zip_reader *reader = NULL;
  SP_ASSERT_OK(sp_zip_open(deflated, &reader));
  cr_assert_eq(sp_zip_find(reader, "model.weights.h5")->method, SP_ZIP_DEFLATED);
  sp_zip_close(reader);
  sp_model *mapped = assert_copied_alike(deflated, &keras_format);
  cr_assert(sp_test_same_weights(mapped, original), "the deflated archive's mapped load differs from the saved model");
  sp_model_free(mapped);
  sp_model_free(original);
  free(deflated);
  free(stored);
  free(directory);
}

/* Resizes one shard of a TF.js export in place. */
static void resize_shard(const char *export_path, int shard, off_t size) {
  char *path = sp_strdupf("%s/group1-shard%dof19.bin", export_path, shard);
  cr_assert_eq(truncate(path, size), 0, "truncating %s", path);
  free(path);
}

Test(mapped_load, shards_that_are_not_whole_pages_are_copied) {
  /* Shard 2 shortened by 100 bytes and the last one lengthened by as many: the manifest's total
   * still holds, the shards cannot be mapped side by side, so a mapped load copies exactly what a
   * copying load reads. */
  sp_model *original = mlp(1);
  char *directory = sp_test_temp_dir("mapped-uneven-shards");
  char *path = save_as(original, directory, &tfjs_format);
  resize_shard(path, 2, 4096 - 100);
  resize_shard(path, 19, 76840 - 18 * 4096 + 100);
  sp_model_free(assert_copied_alike(path, &tfjs_format));
  sp_model_free(original);
  free(path);
  free(directory);
}

Test(mapped_load, a_truncated_shard_fails_clearly) {
  sp_model *original = mlp(1);
  char *directory = sp_test_temp_dir("mapped-truncated");
  char *path = save_as(original, directory, &tfjs_format);
  sp_load_options map = load_options(1);
  sp_model *model = NULL;
  resize_shard(path, 5, 1000);
  SP_ASSERT_FAILS(sp_load(path, &map, &model), SP_ERROR_FORMAT, "need 76840 bytes but its 19 shard files hold 73744");
  cr_assert(strstr(sp_last_error(), "truncated"), "%s", sp_last_error());
  cr_assert_null(model);
  resize_shard(path, 5, 4096);
  resize_shard(path, 19, 0);
  sp_model *target = mlp(2), *untouched = mlp(2);
  SP_ASSERT_FAILS(sp_load_weights(target, path, &map), SP_ERROR_FORMAT, "shard files hold 73728");
  cr_assert(sp_test_same_weights(target, untouched), "a refused load changed the model's weights");
  sp_model_free(untouched);
  sp_model_free(target);
  sp_model_free(original);
  free(path);
  free(directory);
}
