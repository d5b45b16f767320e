/* Tests of the dataset readers: IDX raw and gzip (compressed here with zlib's gzip writer) with
 * values decoded by hand from the bytes written, every malformed-header error with its byte
 * offset, the Fashion-MNIST files when installed; and the CSV reader's header detection, label
 * selection, quoting and errors with line, column and byte. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/file.h"
#include "train/dataset.h"
#include "test_support.h"

static const uint8_t images[] = {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2,
                                 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255};

static sp_tensor *parsed_idx(const uint8_t *bytes, size_t size, int to_float32, double scale) {
  sp_tensor *tensor;
  SP_ASSERT_OK(sp_idx_parse(bytes, size, "test.idx", to_float32, scale, &tensor));
  return tensor;
}

Test(idx, raw_files_decode_big_endian_values) {
  sp_tensor *raw = parsed_idx(images, sizeof images, 0, 1);
  cr_assert(raw->dtype == SP_UINT8 && raw->rank == 3 && raw->shape[0] == 2 && raw->shape[1] == 3 && raw->shape[2] == 2);
  cr_assert_eq(((uint8_t *)raw->data)[11], 255);
  sp_tensor_free(raw);
  sp_tensor *scaled = parsed_idx(images, sizeof images, 1, 1.0 / 255.0);
  cr_assert_eq(scaled->dtype, SP_FLOAT32);
  cr_assert_float_eq(sp_tensor_floats(scaled)[5], 5.0f / 255.0f, 1e-7);
  cr_assert_eq(sp_tensor_floats(scaled)[11], 1.0f);
  sp_tensor_free(scaled);
  /* i16 -2, 300 and f32 0.5, -1.25 in big-endian byte order */
  const uint8_t shorts[] = {0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFF, 0xFE, 0x01, 0x2C};
  sp_tensor *i16 = parsed_idx(shorts, sizeof shorts, 0, 1);
  cr_assert(i16->dtype == SP_INT16 && ((int16_t *)i16->data)[0] == -2 && ((int16_t *)i16->data)[1] == 300);
  sp_tensor_free(i16);
  const uint8_t floats[] = {0, 0, 0x0D, 1, 0, 0, 0, 2, 0x3F, 0x00, 0x00, 0x00, 0xBF, 0xA0, 0x00, 0x00};
  sp_tensor *f32 = parsed_idx(floats, sizeof floats, 1, 2.0);
  cr_assert(sp_tensor_floats(f32)[0] == 1.0f && sp_tensor_floats(f32)[1] == -2.5f);
  sp_tensor_free(f32);
}

static char *gzip_file(const char *directory, const char *name, const uint8_t *bytes, size_t size) {
  char *path = sp_path_join(directory, name);
  gzFile file = gzopen(path, "wb");
  cr_assert_not_null(file);
  cr_assert_eq(gzwrite(file, bytes, (unsigned)size), (int)size);
  gzclose(file);
  return path;
}

Test(idx, gzip_files_read_like_raw_ones) {
  char *directory = sp_test_temp_dir("idx");
  char *path = gzip_file(directory, "images.gz", images, sizeof images);
  sp_tensor *tensor;
  SP_ASSERT_OK(sp_idx_read(path, 0, 1, &tensor));
  cr_assert(tensor->rank == 3 && tensor->size == 12 && memcmp(tensor->data, images + 16, 12) == 0);
  sp_tensor_free(tensor);
  /* a gzip of a truncated payload */
  char *short_path = gzip_file(directory, "short.gz", images, sizeof images - 3);
  SP_ASSERT_FAILS(sp_idx_read(short_path, 0, 1, &tensor), SP_ERROR_FORMAT, "only 9 bytes follow");
  /* trailing data inside the compressed stream */
  uint8_t longer[sizeof images + 4];
  memcpy(longer, images, sizeof images);
  memset(longer + sizeof images, 7, 4);
  char *long_path = gzip_file(directory, "long.gz", longer, sizeof longer);
  SP_ASSERT_FAILS(sp_idx_read(long_path, 0, 1, &tensor), SP_ERROR_FORMAT, "more data follows");
  /* the compressed file cut short */
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_read_file(path, 1 << 20, &data, &size));
  SP_ASSERT_FAILS(sp_idx_parse(data, size - 12, "cut.gz", 0, 1, &tensor), SP_ERROR_FORMAT, "cut.gz (gzip)");
  free(data);
  free(long_path);
  free(short_path);
  free(path);
  free(directory);
}

Test(idx, a_gzip_header_cannot_ask_for_more_than_deflate_can_hold) {
  /* 00 00 08 03 with dimensions 1000 x 1000 x 100: 100 MB, below the limit but far beyond 1032
     times the few compressed bytes */
  const uint8_t header[] = {0, 0, 0x08, 3, 0, 0, 0x03, 0xE8, 0, 0, 0x03, 0xE8, 0, 0, 0, 100};
  uint8_t compressed[128];
  uLongf length = sizeof compressed;
  z_stream stream = {0};
  cr_assert_eq(deflateInit2(&stream, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  stream.next_in = (Bytef *)header;
  stream.avail_in = sizeof header;
  stream.next_out = compressed;
  stream.avail_out = (uInt)length;
  cr_assert_eq(deflate(&stream, Z_FINISH), Z_STREAM_END);
  length = stream.total_out;
  deflateEnd(&stream);
  sp_tensor *tensor;
  SP_ASSERT_FAILS(sp_idx_parse(compressed, length, "bomb.gz", 0, 1, &tensor), SP_ERROR_UNSAFE, "1032");
}

Test(idx, malformed_headers_are_refused_with_their_offset) {
  sp_tensor *tensor;
  SP_ASSERT_FAILS(sp_idx_parse(images, 3, "t", 0, 1, &tensor), SP_ERROR_FORMAT, "too short");
  const uint8_t magic[] = {1, 0, 8, 1, 0, 0, 0, 0};
  SP_ASSERT_FAILS(sp_idx_parse(magic, sizeof magic, "t", 0, 1, &tensor), SP_ERROR_FORMAT, "byte 0: magic 01 00 08 01");
  const uint8_t type[] = {0, 0, 0x07, 1, 0, 0, 0, 0};
  SP_ASSERT_FAILS(sp_idx_parse(type, sizeof type, "t", 0, 1, &tensor), SP_ERROR_FORMAT, "byte 2: unknown IDX type code 0x07");
  const uint8_t rank[] = {0, 0, 0x08, 9};
  SP_ASSERT_FAILS(sp_idx_parse(rank, sizeof rank, "t", 0, 1, &tensor), SP_ERROR_FORMAT, "byte 3: 9 dimensions");
  const uint8_t dims[] = {0, 0, 0x08, 2, 0, 0, 0, 1};
  SP_ASSERT_FAILS(sp_idx_parse(dims, sizeof dims, "t", 0, 1, &tensor), SP_ERROR_FORMAT, "12 header bytes");
  const uint8_t huge[] = {0, 0, 0x0E, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  SP_ASSERT_FAILS(sp_idx_parse(huge, sizeof huge, "t", 0, 1, &tensor), SP_ERROR_UNSAFE, "limit");
  SP_ASSERT_FAILS(sp_idx_parse(images, sizeof images - 1, "t", 0, 1, &tensor), SP_ERROR_FORMAT, "byte 16: the header declares [2, 3, 2] u8");
  uint8_t extra[sizeof images + 2];
  memcpy(extra, images, sizeof images);
  SP_ASSERT_FAILS(sp_idx_parse(extra, sizeof extra, "t", 0, 1, &tensor), SP_ERROR_FORMAT, "byte 28: 2 bytes follow");
}

Test(idx, fashion_mnist_when_installed) {
  const char *directory = "/usr/share/datasets/fashion-mnist";
  if (!sp_is_directory(directory)) cr_skip_test("Fashion-MNIST is not installed (dataset-fashion-mnist)");
  sp_tensor *images_tensor, *labels;
  SP_ASSERT_OK(sp_idx_read("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", 1, 1.0 / 255.0, &images_tensor));
  SP_ASSERT_OK(sp_idx_read("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", 0, 1, &labels));
  cr_assert(images_tensor->rank == 3 && images_tensor->shape[0] == 10000 && images_tensor->shape[1] == 28 && images_tensor->shape[2] == 28);
  cr_assert(labels->rank == 1 && labels->shape[0] == 10000 && labels->dtype == SP_UINT8);
  int histogram[10] = {0};
  for (int i = 0; i < 10000; i++) {
    cr_assert(((uint8_t *)labels->data)[i] < 10);
    histogram[((uint8_t *)labels->data)[i]]++;
  }
  for (int c = 0; c < 10; c++) cr_assert_eq(histogram[c], 1000, "the test set has 1000 images of each class");
  for (int64_t i = 0; i < sp_tensor_count(images_tensor); i++)
    cr_assert(sp_tensor_floats(images_tensor)[i] >= 0 && sp_tensor_floats(images_tensor)[i] <= 1);
  sp_tensor_free(images_tensor);
  sp_tensor_free(labels);
}

/* ---- CSV ---- */

static void parse_csv(const char *text, const sp_csv_options *options, sp_tensor **x, sp_tensor **y) {
  SP_ASSERT_OK(sp_csv_parse((const uint8_t *)text, strlen(text), "data.csv", options, x, y));
}

Test(csv, header_detection_and_label_selection) {
  sp_tensor *x, *y;
  parse_csv("a,b,label\r\n1.5,2,0\r\n-3e2,4,1\r\n", NULL, &x, &y);
  cr_assert(x->rank == 2 && x->shape[0] == 2 && x->shape[1] == 2 && y->rank == 1 && y->shape[0] == 2);
  const float features[] = {1.5f, 2, -300, 4}, labels[] = {0, 1};
  sp_assert_close(sp_tensor_floats(x), features, 4, 0, 0, "features");
  sp_assert_close(sp_tensor_floats(y), labels, 2, 0, 0, "labels");
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_csv_options by_name = sp_csv_defaults();
  by_name.label_name = "a";
  parse_csv("a,b,c\n1,2,3\n\n4,5,6", &by_name, &x, &y);
  const float rest[] = {2, 3, 5, 6}, first[] = {1, 4};
  sp_assert_close(sp_tensor_floats(x), rest, 4, 0, 0, "features without column a");
  sp_assert_close(sp_tensor_floats(y), first, 2, 0, 0, "column a");
  sp_tensor_free(x);
  sp_tensor_free(y);
  parse_csv("1;2\n3;4\n", &(sp_csv_options){.header = 0, .label_column = SP_CSV_NO_LABEL, .separator = ';'}, &x, &y);
  cr_assert(x->shape[0] == 2 && x->shape[1] == 2 && y == NULL);
  sp_tensor_free(x);
  sp_csv_options first_column = sp_csv_defaults();
  first_column.label_column = 0;
  parse_csv("7,8,9\n", &first_column, &x, &y);
  cr_assert(sp_tensor_floats(y)[0] == 7 && sp_tensor_floats(x)[0] == 8 && x->shape[1] == 2);
  sp_tensor_free(x);
  sp_tensor_free(y);
}

Test(csv, quoted_fields_follow_python_csv) {
  sp_tensor *x, *y;
  sp_csv_options options = sp_csv_defaults();
  options.label_name = "y \"q\"";
  parse_csv("\"x\",\"y \"\"q\"\"\"\n\"1\",\" 2 \"\n", &options, &x, &y);
  cr_assert(sp_tensor_floats(x)[0] == 1 && sp_tensor_floats(y)[0] == 2);
  sp_tensor_free(x);
  sp_tensor_free(y);
}

Test(csv, errors_name_line_column_and_byte) {
  sp_tensor *x, *y;
  const char *bad_number = "a,b\n1,2\n3,abc\n";
  SP_ASSERT_FAILS(sp_csv_parse((const uint8_t *)bad_number, strlen(bad_number), "data.csv", NULL, &x, &y), SP_ERROR_FORMAT,
                  "data.csv: line 3, column 2 (byte 10): 'abc' is not a number");
  const char *ragged = "1,2\n3,4,5\n";
  SP_ASSERT_FAILS(sp_csv_parse((const uint8_t *)ragged, strlen(ragged), "data.csv", NULL, &x, &y), SP_ERROR_FORMAT,
                  "line 2 has 3 fields, the first line has 2");
  const char *unclosed = "1,\"2\n";
  SP_ASSERT_FAILS(sp_csv_parse((const uint8_t *)unclosed, strlen(unclosed), "data.csv", NULL, &x, &y), SP_ERROR_FORMAT,
                  "not closed");
  sp_csv_options options = sp_csv_defaults();
  options.label_name = "target";
  const char *header = "a,b\n1,2\n";
  SP_ASSERT_FAILS(sp_csv_parse((const uint8_t *)header, strlen(header), "data.csv", &options, &x, &y), SP_ERROR_NOT_FOUND,
                  "columns: a, b");
  SP_ASSERT_FAILS(sp_csv_parse((const uint8_t *)"", 0, "data.csv", NULL, &x, &y), SP_ERROR_FORMAT, "no data");
  options = sp_csv_defaults();
  options.label_column = 5;
  SP_ASSERT_FAILS(sp_csv_parse((const uint8_t *)header, strlen(header), "data.csv", &options, &x, &y),
                  SP_ERROR_INVALID_ARGUMENT, "label column 5");
}
