/* Tests of src/core: tensors and dtypes, checked allocation, CRC32C and SHA-256 against
 * published vectors, Python-compatible JSON output, bounds-checked readers and the
 * atomic write path. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/memory.h"
#include "savepoint/tensor.h"
#include "test_support.h"

Test(tensor, new_is_zeroed_and_sized) {
  int64_t shape[] = {2, 3};
  sp_tensor *t = sp_tensor_new(SP_FLOAT32, 2, shape);
  cr_assert_not_null(t);
  cr_assert_eq(t->size, 24);
  cr_assert_eq(sp_tensor_count(t), 6);
  for (int i = 0; i < 6; i++) cr_assert_eq(sp_tensor_floats(t)[i], 0.0f);
  sp_tensor_free(t);
}

Test(tensor, refuses_negative_and_overflowing_shapes) {
  int64_t negative[] = {2, -1};
  cr_assert_null(sp_tensor_new(SP_FLOAT32, 2, negative));
  cr_assert(strstr(sp_last_error(), "negative"));
  int64_t huge[] = {INT64_C(1) << 40, INT64_C(1) << 40};
  cr_assert_null(sp_tensor_new(SP_FLOAT32, 2, huge));
  cr_assert(strstr(sp_last_error(), "2^62"));
}

Test(tensor, reshape_keeps_count) {
  int64_t shape[] = {2, 3}, flat[] = {6}, wrong[] = {5};
  sp_tensor *t = sp_tensor_new(SP_INT32, 2, shape);
  SP_ASSERT_OK(sp_tensor_reshape(t, 1, flat));
  cr_assert_eq(t->rank, 1);
  SP_ASSERT_FAILS(sp_tensor_reshape(t, 1, wrong), SP_ERROR_MISMATCH, "element counts differ");
  sp_tensor_free(t);
}

Test(tensor, strings_are_copied_and_freed) {
  int64_t shape[] = {2};
  sp_tensor *t = sp_tensor_new(SP_STRING, 1, shape);
  SP_ASSERT_OK(sp_tensor_set_string(t, 1, "abc", 3));
  sp_tensor *copy = sp_tensor_copy(t);
  sp_string *strings = copy->data;
  cr_assert_eq(strings[1].length, 3);
  cr_assert_str_eq(strings[1].bytes, "abc");
  sp_tensor_free(t);
  sp_tensor_free(copy);
}

Test(dtype, names_round_trip_in_both_spellings) {
  sp_dtype d;
  SP_ASSERT_OK(sp_dtype_from_name("DT_HALF", &d));
  cr_assert_eq(d, SP_FLOAT16);
  SP_ASSERT_OK(sp_dtype_from_name("int64", &d));
  cr_assert_eq(d, SP_INT64);
  cr_assert_str_eq(sp_dtype_tf_name(SP_FLOAT32), "DT_FLOAT");
  SP_ASSERT_FAILS(sp_dtype_from_name("float7", &d), SP_ERROR_UNSUPPORTED, "float7");
}

Test(dtype, half_and_bfloat16_match_ieee_bit_patterns) {
  /* Values from the IEEE 754 binary16 table. */
  cr_assert_eq(sp_float_to_half(1.0f), 0x3c00);
  cr_assert_eq(sp_float_to_half(-2.0f), 0xc000);
  cr_assert_eq(sp_float_to_half(65504.0f), 0x7bff);
  cr_assert_eq(sp_float_to_half(1e6f), 0x7c00);
  cr_assert_eq(sp_float_to_half(5.960464477539063e-08f), 0x0001);
  cr_assert_eq(sp_half_to_float(0x3555), 0.333251953125f);
  cr_assert_eq(sp_half_to_float(0x0001), 5.960464477539063e-08f);
  cr_assert(isinf(sp_half_to_float(0x7c00)));
  cr_assert_eq(sp_float_to_bfloat16(1.0f), 0x3f80);
  cr_assert_eq(sp_bfloat16_to_float(0x4049), 3.140625f);
}

Test(dtype, cast_saturates_integers) {
  int64_t shape[] = {3};
  sp_tensor *t = sp_tensor_new(SP_FLOAT32, 1, shape);
  float *v = sp_tensor_floats(t);
  v[0] = 300.0f; v[1] = -5.0f; v[2] = 7.9f;
  sp_tensor *u = sp_tensor_cast(t, SP_UINT8);
  const uint8_t *bytes = u->data;
  cr_assert_eq(bytes[0], 255);
  cr_assert_eq(bytes[1], 0);
  cr_assert_eq(bytes[2], 7);
  sp_tensor_free(t);
  sp_tensor_free(u);
}

Test(hash, crc32c_matches_rfc3720_vectors) {
  cr_assert_eq(sp_crc32c("123456789", 9), 0xe3069283u);
  uint8_t zeros[32] = {0}, ones[32], ascending[32];
  memset(ones, 0xff, sizeof ones);
  for (int i = 0; i < 32; i++) ascending[i] = (uint8_t)i;
  cr_assert_eq(sp_crc32c(zeros, 32), 0x8a9136aau);
  cr_assert_eq(sp_crc32c(ones, 32), 0x62a8ab43u);
  cr_assert_eq(sp_crc32c(ascending, 32), 0x46dd794eu);
  /* Extending in pieces equals one pass. */
  cr_assert_eq(sp_crc32c_extend(sp_crc32c("1234", 4), "56789", 5), 0xe3069283u);
}

Test(hash, crc_mask_round_trips_and_matches_tensorflow_entry) {
  for (uint32_t crc = 0; crc < 100000; crc += 977) cr_assert_eq(sp_crc32c_unmask(sp_crc32c_mask(crc)), crc);
  /* formats.md §4.4: a float scalar 0.5 stored with masked crc 0x1f273806 (half_plus_two 'a'). */
  float half = 0.5f;
  cr_assert_eq(sp_crc32c_mask(sp_crc32c(&half, 4)), 0x1f273806u);
}

Test(hash, sha256_of_abc) {
  uint8_t digest[SP_SHA256_BYTES];
  char hex[SP_SHA256_HEX];
  sp_sha256_bytes("abc", 3, digest);
  sp_sha256_hex(digest, hex);
  cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(hash, sha256_file_streams) {
  char *dir = sp_test_temp_dir("sha");
  char *path = sp_path_join(dir, "x");
  SP_ASSERT_OK(sp_write_file_atomic(path, "abc", 3));
  char hex[SP_SHA256_HEX];
  SP_ASSERT_OK(sp_sha256_file(path, hex));
  cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  sp_remove_tree(dir);
  free(path);
  free(dir);
}

static void expect_python_float(double value, const char *expected) {
  char text[40];
  sp_format_python_float(value, text, sizeof text);
  cr_assert_str_eq(text, expected, "repr(%.17g): got %s, Python writes %s", value, text, expected);
}

Test(json, floats_print_like_python_repr) {
  /* Expected strings are what CPython's repr()/json.dumps prints for these doubles. */
  expect_python_float(0.1, "0.1");
  expect_python_float(1.0, "1.0");
  expect_python_float(-2.5, "-2.5");
  expect_python_float(1e-07, "1e-07");
  expect_python_float(1.5e-07, "1.5e-07");
  expect_python_float(0.0001, "0.0001");
  expect_python_float(1e16, "1e+16");
  expect_python_float(123456789.0, "123456789.0");
  expect_python_float(0.0010000000474974513, "0.0010000000474974513");
  expect_python_float(1234.5678, "1234.5678");
  expect_python_float(0.0, "0.0");
  expect_python_float(NAN, "NaN");
}

Test(json, float32_prints_like_numpy_str) {
  /* Expected strings are str(numpy.float32(x)) from Debian's numpy 1.24. */
  const struct {
    float value;
    const char *expected;
  } cases[] = {{0.1f, "0.1"},           {1.0f, "1.0"},         {16777216.0f, "16777216.0"}, {1e-7f, "1e-07"},
               {0.001f, "0.001"},       {3.4028235e38f, "3.4028235e+38"}, {1.4e-45f, "1e-45"},
               {-2.5f, "-2.5"},         {0.33333334f, "0.33333334"},    {123456.79f, "123456.79"},
               {1e16f, "1e+16"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char text[40];
    sp_format_python_float32(cases[i].value, text, sizeof text);
    cr_assert_str_eq(text, cases[i].expected, "str(float32(%.9g))", (double)cases[i].value);
  }
}

Test(json, dumps_matches_python_separators_and_escapes) {
  json_object *value;
  const char *text = "{\"b\":[1,2.50,null,true],\"a\":\"caf\xc3\xa9\\n\",\"e\":{}}";
  SP_ASSERT_OK(sp_json_parse(text, strlen(text), "test", &value));
  char *dumped = sp_json_dumps(value, 0);
  /* json.dumps keeps key order, writes ", " and ": ", escapes non-ASCII; 2.50 keeps its text. */
  cr_assert_str_eq(dumped, "{\"b\": [1, 2.50, null, true], \"a\": \"caf\\u00e9\\n\", \"e\": {}}");
  free(dumped);
  dumped = sp_json_dumps(value, 4);
  cr_assert_str_eq(dumped, "{\n    \"b\": [\n        1,\n        2.50,\n        null,\n        true\n    ],\n"
                           "    \"a\": \"caf\\u00e9\\n\",\n    \"e\": {}\n}");
  free(dumped);
  json_object_put(value);
}

Test(json, parse_refuses_depth_bombs_and_trailing_bytes) {
  char deep[400];
  memset(deep, '[', 200);
  memset(deep + 200, ']', 200);
  json_object *value;
  SP_ASSERT_FAILS(sp_json_parse(deep, sizeof deep, "deep.json", &value), SP_ERROR_UNSAFE, "deep.json");
  SP_ASSERT_FAILS(sp_json_parse("{} x", 4, "t.json", &value), SP_ERROR_FORMAT, "after the JSON value");
  SP_ASSERT_FAILS(sp_json_parse("{\"a\":", 5, "t.json", &value), SP_ERROR_FORMAT, "ends early");
}

Test(json, typed_getters_name_the_key) {
  json_object *value;
  const char *text = "{\"units\":\"ten\",\"rate\":0.5,\"shape\":[null,3]}";
  SP_ASSERT_OK(sp_json_parse(text, strlen(text), "t", &value));
  int64_t units;
  SP_ASSERT_FAILS(sp_json_get_int(value, "units", 0, "layer 'dense'", &units), SP_ERROR_FORMAT,
                  "layer 'dense': 'units' must be an integer, found \"ten\"");
  double rate;
  SP_ASSERT_OK(sp_json_get_double(value, "rate", 0, "x", &rate));
  cr_assert_eq(rate, 0.5);
  int64_t shape[4];
  int rank;
  SP_ASSERT_OK(sp_json_get_int_list(value, "shape", 4, "x", shape, &rank));
  cr_assert_eq(rank, 2);
  cr_assert_eq(shape[0], -1);
  cr_assert_eq(shape[1], 3);
  SP_ASSERT_OK(sp_json_get_int(value, "missing", 7, "x", &units));
  cr_assert_eq(units, 7);
  json_object_put(value);
}

Test(bytes, reader_refuses_reads_past_the_end) {
  uint8_t data[] = {0x96, 0x01, 0xff, 0xff};
  sp_reader reader = sp_reader_make(data, sizeof data, "sample");
  uint64_t v;
  SP_ASSERT_OK(sp_read_varint64(&reader, &v));
  cr_assert_eq(v, 150);
  uint32_t word;
  SP_ASSERT_FAILS(sp_read_u32le(&reader, &word), SP_ERROR_FORMAT, "sample: truncated at byte 2");
  uint8_t endless[12];
  memset(endless, 0xff, sizeof endless);
  reader = sp_reader_make(endless, sizeof endless, "varint");
  SP_ASSERT_FAILS(sp_read_varint64(&reader, &v), SP_ERROR_FORMAT, "longer than 10 bytes");
}

Test(bytes, buffer_encodes_varints_like_protobuf) {
  sp_buffer buffer = {0};
  SP_ASSERT_OK(sp_buffer_put_varint64(&buffer, 300));
  cr_assert_eq(buffer.size, 2);
  cr_assert_eq(buffer.data[0], 0xac);
  cr_assert_eq(buffer.data[1], 0x02);
  sp_buffer_free(&buffer);
}

Test(file, atomic_write_replaces_whole_file_and_leaves_no_temporaries) {
  char *dir = sp_test_temp_dir("atomic");
  char *path = sp_path_join(dir, "model.bin");
  SP_ASSERT_OK(sp_write_file_atomic(path, "old", 3));
  sp_atomic_file file;
  SP_ASSERT_OK(sp_atomic_open(path, &file));
  cr_assert(sp_path_is_temporary(file.temp_path));
  SP_ASSERT_OK(sp_atomic_write(&file, "new!", 4));
  /* Before commit the old content is what readers see. */
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_read_file(path, 100, &data, &size));
  cr_assert_eq(size, 3);
  free(data);
  SP_ASSERT_OK(sp_atomic_commit(&file));
  SP_ASSERT_OK(sp_read_file(path, 100, &data, &size));
  cr_assert_eq(size, 4);
  cr_assert_eq(memcmp(data, "new!", 4), 0);
  free(data);
  /* An aborted write leaves the committed file and removes its temporary. */
  SP_ASSERT_OK(sp_atomic_open(path, &file));
  char *temp = sp_strdup(file.temp_path);
  sp_atomic_abort(&file);
  cr_assert(!sp_path_exists(temp));
  SP_ASSERT_FAILS(sp_read_file(path, 2, &data, &size), SP_ERROR_UNSAFE, "over the limit");
  free(temp);
  sp_remove_tree(dir);
  free(path);
  free(dir);
}

/* sp_atomic_write_at patches bytes already written without moving where the next write goes. */
Test(file, atomic_write_at_patches_in_place) {
  char *dir = sp_test_temp_dir("atomic-write-at");
  char *path = sp_path_join(dir, "archive.zip");
  sp_atomic_file file;
  SP_ASSERT_OK(sp_atomic_open(path, &file));
  SP_ASSERT_OK(sp_atomic_write(&file, "hello world", 11));
  SP_ASSERT_OK(sp_atomic_write_at(&file, 0, "J", 1));
  SP_ASSERT_OK(sp_atomic_write_at(&file, 6, "W", 1));
  SP_ASSERT_OK(sp_atomic_write(&file, "!", 1));
  SP_ASSERT_OK(sp_atomic_commit(&file));
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_read_file(path, 100, &data, &size));
  cr_assert_eq(size, 12);
  cr_assert_eq(memcmp(data, "Jello World!", 12), 0);
  free(data);
  sp_remove_tree(dir);
  free(path);
  free(dir);
}

Test(file, read_into_needs_the_exact_size) {
  char *dir = sp_test_temp_dir("read-into");
  char *path = sp_path_join(dir, "w.bin");
  SP_ASSERT_OK(sp_write_file_atomic(path, "abcdef", 6));
  char buffer[8] = {0};
  SP_ASSERT_OK(sp_read_file_into(path, buffer, 6));
  cr_assert_str_eq(buffer, "abcdef");
  SP_ASSERT_FAILS(sp_read_file_into(path, buffer, 5), SP_ERROR_FORMAT, "is 6 bytes, expected 5");
  SP_ASSERT_FAILS(sp_read_file_into(dir, buffer, 5), SP_ERROR_INVALID_ARGUMENT, "not a regular file");
  sp_remove_tree(dir);
  free(path);
  free(dir);
}

Test(file, publish_directory_refuses_or_swaps) {
  char *dir = sp_test_temp_dir("publish");
  char *final = sp_path_join(dir, "1");
  char *temp;
  SP_ASSERT_OK(sp_temp_directory_for(final, &temp));
  char *inner = sp_path_join(temp, "saved_model.pb");
  SP_ASSERT_OK(sp_write_file_atomic(inner, "a", 1));
  SP_ASSERT_OK(sp_publish_directory(temp, final, 0));
  cr_assert(sp_is_directory(final));
  free(inner);
  free(temp);
  SP_ASSERT_OK(sp_temp_directory_for(final, &temp));
  SP_ASSERT_FAILS(sp_publish_directory(temp, final, 0), SP_ERROR_EXISTS, "refusing to overwrite");
  inner = sp_path_join(temp, "new.pb");
  SP_ASSERT_OK(sp_write_file_atomic(inner, "b", 1));
  SP_ASSERT_OK(sp_publish_directory(temp, final, 1));
  char *published = sp_path_join(final, "new.pb");
  cr_assert(sp_path_exists(published));
  cr_assert(!sp_path_exists(temp));
  free(published);
  free(inner);
  free(temp);
  sp_remove_tree(dir);
  free(final);
  free(dir);
}

Test(memory, array_allocation_refuses_overflow) {
  cr_assert_null(sp_alloc_zeroed(SIZE_MAX / 2, 4));
  cr_assert(strstr(sp_last_error(), "overflows"));
}

Test(memory, populated_buffers_are_zeroed_and_writable) {
  size_t size = (size_t)3 << 20;
  uint8_t *block = sp_alloc_populated(size);
  cr_assert_not_null(block, "%s", sp_last_error());
  for (size_t i = 0; i < size; i += 4096) cr_assert_eq(block[i], 0);
  memset(block, 0xab, size);
  cr_assert_eq(block[size - 1], 0xab);
  sp_free_populated(block, size);
  cr_assert_null(sp_alloc_populated(SIZE_MAX / 2));
  cr_assert(strstr(sp_last_error(), "out of memory mapping"));
}
