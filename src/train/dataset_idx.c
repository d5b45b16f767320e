/* dataset_idx.c — IDX files (the format of MNIST and Fashion-MNIST), raw or gzip-compressed.
 *
 * Layout (big-endian): two zero bytes, a type code (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32,
 * 0x0D f32, 0x0E f64), the number of dimensions, one u32 per dimension, then the values in
 * row-major order. The declared size must match the bytes exactly. A gzip file is inflated in
 * two steps: the header first, so that the declared payload is checked (against the limit and
 * against deflate's maximal ratio of 1032:1 to the compressed size) before it is allocated.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/file.h"
#include "core/memory.h"
#include "train/dataset.h"

typedef struct idx_type {
  uint8_t code;
  sp_dtype dtype;
  const char *name;
} idx_type;

static const idx_type idx_types[] = {
    {0x08, SP_UINT8, "u8"},   {0x09, SP_INT8, "i8"},     {0x0B, SP_INT16, "i16"},
    {0x0C, SP_INT32, "i32"},  {0x0D, SP_FLOAT32, "f32"}, {0x0E, SP_FLOAT64, "f64"},
};

typedef struct idx_header {
  const idx_type *type;
  int rank;
  int64_t shape[SP_MAX_RANK];
  size_t header_bytes, data_bytes;
} idx_header;

static uint32_t load_u32be(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The first four bytes: magic, type and rank. */
static sp_status parse_prefix(const uint8_t *bytes, size_t size, const char *what, idx_header *header) {
  if (size < 4) return sp_fail(SP_ERROR_FORMAT, "%s: %zu bytes is too short for an IDX header (4 bytes at least)", what, size);
  if (bytes[0] != 0 || bytes[1] != 0)
    return sp_fail(SP_ERROR_FORMAT, "%s: byte 0: magic %02x %02x %02x %02x is not an IDX file (00 00 <type> <rank>)", what,
                   bytes[0], bytes[1], bytes[2], bytes[3]);
  header->type = NULL;
  for (size_t i = 0; i < sizeof idx_types / sizeof *idx_types; i++)
    if (idx_types[i].code == bytes[2]) header->type = &idx_types[i];
  if (!header->type)
    return sp_fail(SP_ERROR_FORMAT, "%s: byte 2: unknown IDX type code 0x%02x (known: 08 u8, 09 i8, 0B i16, 0C i32, 0D f32, 0E f64)",
                   what, bytes[2]);
  header->rank = bytes[3];
  if (header->rank < 1 || header->rank > SP_MAX_RANK)
    return sp_fail(SP_ERROR_FORMAT, "%s: byte 3: %d dimensions; savepoint reads 1 to %d", what, header->rank, SP_MAX_RANK);
  header->header_bytes = 4 + 4 * (size_t)header->rank;
  return SP_OK;
}

static sp_status parse_dimensions(const uint8_t *bytes, size_t size, const char *what, idx_header *header) {
  if (size < header->header_bytes)
    return sp_fail(SP_ERROR_FORMAT, "%s: the header declares %d dimensions (%zu header bytes) but the input has %zu bytes",
                   what, header->rank, header->header_bytes, size);
  for (int d = 0; d < header->rank; d++) header->shape[d] = load_u32be(bytes + 4 + 4 * d);
  int64_t count;
  size_t element = sp_dtype_size(header->type->dtype);
  if (sp_shape_count(header->rank, header->shape, &count) != SP_OK || !sp_multiply_size((size_t)count, element, &header->data_bytes) ||
      header->data_bytes > SP_DATASET_LIMIT) {
    char shape[128];
    return sp_fail(SP_ERROR_UNSAFE, "%s: byte 4: dimensions %s of %s values are larger than the %zu-byte limit", what,
                   sp_shape_format(header->rank, header->shape, shape, sizeof shape), header->type->name, SP_DATASET_LIMIT);
  }
  return SP_OK;
}

static sp_status check_payload(size_t available, const char *what, const idx_header *header) {
  if (available == header->data_bytes) return SP_OK;
  char shape[128];
  sp_shape_format(header->rank, header->shape, shape, sizeof shape);
  if (available < header->data_bytes)
    return sp_fail(SP_ERROR_FORMAT, "%s: byte %zu: the header declares %s %s values (%zu bytes) but only %zu bytes follow "
                   "(truncated file?)", what, header->header_bytes, shape, header->type->name, header->data_bytes, available);
  return sp_fail(SP_ERROR_FORMAT, "%s: byte %zu: %zu bytes follow the %s %s values the header declares", what,
                 header->header_bytes + header->data_bytes, available - header->data_bytes, shape, header->type->name);
}

/* Big-endian values into a tensor of their own dtype, or float32 times scale. */
static sp_status convert(const uint8_t *data, const idx_header *header, int to_float32, double scale, sp_tensor **result) {
  sp_tensor *tensor = sp_tensor_new(to_float32 ? SP_FLOAT32 : header->type->dtype, header->rank, header->shape);
  if (!tensor) return SP_ERROR_NO_MEMORY;
  size_t element = sp_dtype_size(header->type->dtype);
  int64_t count = sp_tensor_count(tensor);
  for (int64_t i = 0; i < count; i++) {
    const uint8_t *p = data + (size_t)i * element;
    double value;
    switch (header->type->dtype) {
      case SP_UINT8: value = p[0]; break;
      case SP_INT8: value = (int8_t)p[0]; break;
      case SP_INT16: value = (int16_t)(uint16_t)(p[0] << 8 | p[1]); break;
      case SP_INT32: value = (int32_t)load_u32be(p); break;
      case SP_FLOAT32: {
        uint32_t bits = load_u32be(p);
        float number;
        memcpy(&number, &bits, sizeof number);
        value = number;
        break;
      }
      default: {
        uint64_t bits = (uint64_t)load_u32be(p) << 32 | load_u32be(p + 4);
        memcpy(&value, &bits, sizeof value);
        break;
      }
    }
    if (to_float32) sp_tensor_floats(tensor)[i] = (float)(value * scale);
    else sp_tensor_set_double(tensor, i, value);
  }
  *result = tensor;
  return SP_OK;
}

static sp_status parse_raw(const uint8_t *data, size_t size, const char *what, int to_float32, double scale,
                           sp_tensor **tensor) {
  idx_header header;
  SP_TRY(parse_prefix(data, size, what, &header));
  SP_TRY(parse_dimensions(data, size, what, &header));
  SP_TRY(check_payload(size - header.header_bytes, what, &header));
  return convert(data + header.header_bytes, &header, to_float32, scale, tensor);
}

/* ---- gzip ---- */

typedef struct inflater {
  z_stream stream;
  const char *what;
  int ended;
} inflater;

/* Inflates up to capacity bytes into out (concatenated gzip members are one stream, as gunzip
 * reads them). *produced tells how many came. */
static sp_status inflate_some(inflater *z, uint8_t *out, size_t capacity, size_t *produced) {
  z_stream *stream = &z->stream;
  *produced = 0;
  while (*produced < capacity && !z->ended) {
    stream->next_out = out + *produced;
    stream->avail_out = (uInt)(capacity - *produced);
    int result = inflate(stream, Z_NO_FLUSH);
    *produced = capacity - stream->avail_out;
    if (result == Z_STREAM_END) {
      if (stream->avail_in == 0) z->ended = 1;
      else if (inflateReset(stream) != Z_OK) return sp_fail(SP_ERROR_INTERNAL, "%s: zlib reset failed", z->what);
    } else if (result == Z_BUF_ERROR && stream->avail_in == 0) {
      return sp_fail(SP_ERROR_FORMAT, "%s: the gzip stream ends early, after %lu compressed bytes (truncated file?)", z->what,
                     (unsigned long)stream->total_in);
    } else if (result != Z_OK) {
      return sp_fail(SP_ERROR_FORMAT, "%s: corrupt gzip data near compressed byte %lu: %s", z->what,
                     (unsigned long)stream->total_in, stream->msg ? stream->msg : "inflate failed");
    }
  }
  return SP_OK;
}

static sp_status parse_gzip_stream(inflater *z, size_t compressed_size, int to_float32, double scale, sp_tensor **tensor) {
  uint8_t head[4 + 4 * SP_MAX_RANK];
  size_t got;
  SP_TRY(inflate_some(z, head, 4, &got));
  idx_header header;
  SP_TRY(parse_prefix(head, got, z->what, &header));
  SP_TRY(inflate_some(z, head + 4, header.header_bytes - 4, &got));
  SP_TRY(parse_dimensions(head, 4 + got, z->what, &header));
  size_t ratio_bound;
  if (!sp_multiply_size(compressed_size, 1032, &ratio_bound) || header.data_bytes > ratio_bound)
    return sp_fail(SP_ERROR_UNSAFE, "%s: the header declares %zu bytes of data, more than %zu compressed bytes can hold "
                   "(deflate expands at most 1032 times)", z->what, header.data_bytes, compressed_size);
  uint8_t *data = sp_alloc(header.data_bytes + 1); /* one spare byte shows trailing data */
  if (!data) return SP_ERROR_NO_MEMORY;
  sp_status status = inflate_some(z, data, header.data_bytes + 1, &got);
  if (status == SP_OK && got > header.data_bytes)
    status = sp_fail(SP_ERROR_FORMAT, "%s: byte %zu (decompressed): more data follows the %zu bytes of values the header declares",
                     z->what, header.header_bytes + header.data_bytes, header.data_bytes);
  if (status == SP_OK) status = check_payload(got, z->what, &header);
  if (status == SP_OK) status = convert(data, &header, to_float32, scale, tensor);
  free(data);
  return status;
}

static sp_status parse_gzip(const uint8_t *data, size_t size, const char *what, int to_float32, double scale,
                            sp_tensor **tensor) {
  if (size > UINT32_MAX) return sp_fail(SP_ERROR_UNSAFE, "%s: compressed files over 4 GiB are not read", what);
  char name[512];
  snprintf(name, sizeof name, "%s (gzip)", what);
  inflater z = {.what = name};
  z.stream.next_in = (Bytef *)data;
  z.stream.avail_in = (uInt)size;
  if (inflateInit2(&z.stream, 16 + MAX_WBITS) != Z_OK) return sp_fail(SP_ERROR_NO_MEMORY, "%s: zlib could not start", what);
  sp_status status = parse_gzip_stream(&z, size, to_float32, scale, tensor);
  inflateEnd(&z.stream);
  return status;
}

sp_status sp_idx_parse(const uint8_t *data, size_t size, const char *what, int to_float32, double scale, sp_tensor **tensor) {
  *tensor = NULL;
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return parse_gzip(data, size, what, to_float32, scale, tensor);
  return parse_raw(data, size, what, to_float32, scale, tensor);
}

sp_status sp_idx_read(const char *path, int to_float32, double scale, sp_tensor **tensor) {
  uint8_t *data;
  size_t size;
  *tensor = NULL;
  SP_TRY(sp_read_file(path, SP_DATASET_LIMIT + 64, &data, &size));
  sp_status status = sp_idx_parse(data, size, path, to_float32, scale, tensor);
  free(data);
  return status;
}
