/* tf_bundle.c — tensor bundle V2 reader, verifier and writer (see tf_bundle.h; formats.md §4).
 *
 * Invariants the reader relies on: after sp_bundle_open every non-sliced entry's byte range
 * lies inside its data file as sized at open, and its size is consistent with dtype and
 * shape (so a read never allocates more than the file holds); every tensor byte handed out
 * was covered by a CRC32C that matched the index.
 */
#include "formats/tf_bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/memory.h"
#include "formats/sstable.h"
#include "tensor_bundle.pb-c.h"

enum {
  BUNDLE_VERSION = 1,      /* kTensorBundleVersion: what we write and what we consume */
  BUNDLE_MIN_PRODUCER = 0, /* kTensorBundleMinProducer */
  DT_QINT8 = 11, DT_QUINT8 = 12, DT_QINT32 = 13, DT_QINT16 = 15, DT_QUINT16 = 16, DT_RESOURCE = 20,
  DT_VARIANT = 21, DT_FLOAT8_E5M2 = 24, DT_FLOAT8_E4M3FN = 25, DT_FLOAT8_E4M3FNUZ = 26,
  DT_FLOAT8_E5M2FNUZ = 28, DT_INT4 = 29, DT_UINT4 = 30
};

static const size_t max_index_bytes = (size_t)256 << 20;

/* TF dtypes a bundle may hold that sp_tensor does not: name and fixed element size
 * (0 when the size is not fixed or not known, so no size check is made). */
static const struct {
  int dtype;
  const char *name;
  size_t size;
} other_dtypes[] = {
    {DT_QINT8, "qint8", 1},       {DT_QUINT8, "quint8", 1},   {DT_QINT32, "qint32", 4},
    {DT_QINT16, "qint16", 2},     {DT_QUINT16, "quint16", 2}, {DT_RESOURCE, "resource", 0},
    {DT_VARIANT, "variant", 0},   {DT_FLOAT8_E5M2, "float8_e5m2", 1}, {DT_FLOAT8_E4M3FN, "float8_e4m3fn", 1},
    {DT_FLOAT8_E4M3FNUZ, "float8_e4m3fnuz", 1}, {DT_FLOAT8_E5M2FNUZ, "float8_e5m2fnuz", 1},
    {DT_INT4, "int4", 0},         {DT_UINT4, "uint4", 0},
};

static int supported_dtype(sp_dtype dtype) { return sp_dtype_size(dtype) != 0; }

const char *sp_bundle_dtype_name(sp_dtype dtype) {
  if (supported_dtype(dtype)) return sp_dtype_name(dtype);
  for (size_t i = 0; i < sizeof other_dtypes / sizeof *other_dtypes; i++)
    if (other_dtypes[i].dtype == (int)dtype) return other_dtypes[i].name;
  return "unknown";
}

/* Bytes per element for the size check; 0 = not checked (string, variant, ...). */
static size_t fixed_element_size(sp_dtype dtype) {
  if (dtype == SP_STRING) return 0;
  if (supported_dtype(dtype)) return sp_dtype_size(dtype);
  for (size_t i = 0; i < sizeof other_dtypes / sizeof *other_dtypes; i++)
    if (other_dtypes[i].dtype == (int)dtype) return other_dtypes[i].size;
  return 0;
}

char *sp_bundle_index_path(const char *prefix) { return sp_strdupf("%s.index", prefix); }

char *sp_bundle_data_path(const char *prefix, int shard, int shard_count) {
  return sp_strdupf("%s.data-%05d-of-%05d", prefix, shard, shard_count);
}

/* ---- entries ---- */

static sp_status decode_shape(const char *key, const Tensorflow__TensorShapeProto *shape, sp_bundle_entry *entry) {
  entry->rank = 0;
  if (!shape) return SP_OK; /* proto3: an absent shape is the scalar shape */
  if (shape->unknown_rank) return sp_fail(SP_ERROR_FORMAT, "tensor '%s': shape has unknown rank", key);
  if (shape->n_dim > SP_MAX_RANK)
    return sp_fail(SP_ERROR_UNSUPPORTED, "tensor '%s': rank %zu exceeds savepoint's limit of %d", key, shape->n_dim,
                   (int)SP_MAX_RANK);
  entry->rank = (int)shape->n_dim;
  for (size_t i = 0; i < shape->n_dim; i++) entry->shape[i] = shape->dim[i]->size;
  int64_t count;
  return sp_error_context(sp_shape_count(entry->rank, entry->shape, &count), "tensor '%s'", key);
}

/* size must match dtype and shape: exactly for fixed-size elements, at least one length
 * byte per element plus the length checksum for strings. */
static sp_status check_entry_size(const sp_bundle_entry *entry) {
  int64_t count;
  SP_TRY(sp_shape_count(entry->rank, entry->shape, &count));
  char shape[160];
  sp_shape_format(entry->rank, entry->shape, shape, sizeof shape);
  size_t element = fixed_element_size(entry->dtype);
  uint64_t expected;
  if (element && (__builtin_mul_overflow((uint64_t)count, (uint64_t)element, &expected) || expected != entry->size))
    return sp_fail(SP_ERROR_FORMAT, "tensor '%s': %llu bytes in the data file, but %s %s needs %lld x %zu bytes",
                   entry->key, (unsigned long long)entry->size, sp_bundle_dtype_name(entry->dtype), shape,
                   (long long)count, element);
  if (entry->dtype == SP_STRING && count > 0 && entry->size < (uint64_t)count + 4)
    return sp_fail(SP_ERROR_FORMAT, "tensor '%s': %llu bytes cannot hold %lld strings", entry->key,
                   (unsigned long long)entry->size, (long long)count);
  return SP_OK;
}

static sp_status check_entry_location(const sp_bundle_entry *entry, const Tensorflow__BundleEntryProto *proto,
                                      int shard_count, const uint64_t *shard_sizes) {
  if (proto->shard_id < 0 || proto->shard_id >= shard_count)
    return sp_fail(SP_ERROR_FORMAT, "tensor '%s': data file %d does not exist (the header says %d)", entry->key,
                   (int)proto->shard_id, shard_count);
  if (proto->offset < 0 || proto->size < 0)
    return sp_fail(SP_ERROR_FORMAT, "tensor '%s': negative offset %lld or size %lld", entry->key,
                   (long long)proto->offset, (long long)proto->size);
  uint64_t file_size = shard_sizes[proto->shard_id];
  if (entry->offset > file_size || entry->size > file_size - entry->offset)
    return sp_fail(SP_ERROR_FORMAT,
                   "tensor '%s': bytes %llu..%llu run past the end of data file %d (%llu bytes; truncated?)",
                   entry->key, (unsigned long long)entry->offset,
                   (unsigned long long)entry->offset + (unsigned long long)entry->size, (int)proto->shard_id,
                   (unsigned long long)file_size);
  return check_entry_size(entry);
}

static sp_status check_entry_dtype(const sp_bundle_entry *entry) {
  if (!supported_dtype(entry->dtype) && strcmp(sp_bundle_dtype_name(entry->dtype), "unknown") == 0)
    return sp_fail(SP_ERROR_FORMAT, "tensor '%s': dtype %d is not a TensorFlow DataType a checkpoint can hold",
                   entry->key, (int)entry->dtype);
  return SP_OK;
}

sp_status sp_bundle_decode_entry(const char *key, const uint8_t *value, size_t length, int shard_count,
                                 const uint64_t *shard_sizes, sp_bundle_entry *entry) {
  memset(entry, 0, sizeof *entry);
  entry->key = key;
  Tensorflow__BundleEntryProto *proto = tensorflow__bundle_entry_proto__unpack(NULL, length, value);
  if (!proto)
    return sp_fail(SP_ERROR_FORMAT, "tensor '%s': its %zu-byte index entry is not a BundleEntryProto", key, length);
  entry->dtype = (sp_dtype)proto->dtype;
  entry->shard_id = proto->shard_id;
  entry->offset = (uint64_t)proto->offset;
  entry->size = (uint64_t)proto->size;
  entry->masked_crc32c = proto->crc32c;
  entry->sliced = proto->n_slices > 0;
  sp_status status = check_entry_dtype(entry);
  if (status == SP_OK) status = decode_shape(key, proto->shape, entry);
  if (status == SP_OK && !entry->sliced) status = check_entry_location(entry, proto, shard_count, shard_sizes);
  tensorflow__bundle_entry_proto__free_unpacked(proto, NULL);
  return status;
}

/* ---- the reader ---- */

struct sp_bundle_reader {
  char *prefix;
  int shard_count;
  uint64_t *shard_sizes;
  int *shard_files; /* descriptors, -1 until first read */
  sp_bundle_entry *entries;
  size_t count;
  size_t capacity;
};

/* How the index is loaded: strictly (first problem fails the open) or for verification
 * (problems are reported and loading goes on where it can). */
typedef struct index_loader {
  sp_bundle_reader *reader;
  const char *index_path;
  int have_header;
  sp_bundle_problem_fn report; /* NULL: strict */
  void *context;
  size_t problems;
} index_loader;

static void report_problem(index_loader *loader, const char *name) {
  loader->problems++;
  if (loader->report) loader->report(loader->context, name, sp_last_error());
}

static sp_status check_header(const char *index_path, const Tensorflow__BundleHeaderProto *header) {
  if (header->num_shards < 1 || header->num_shards > SP_BUNDLE_MAX_SHARDS)
    return sp_fail(SP_ERROR_FORMAT, "%s: header says %d data files (expected 1..%d)", index_path,
                   (int)header->num_shards, (int)SP_BUNDLE_MAX_SHARDS);
  if (header->endianness != TENSORFLOW__BUNDLE_HEADER_PROTO__ENDIANNESS__LITTLE)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: tensor data is big-endian; savepoint reads little-endian bundles only",
                   index_path);
  const Tensorflow__VersionDef *version = header->version;
  int producer = version ? version->producer : 0, min_consumer = version ? version->min_consumer : 0;
  if (producer < BUNDLE_MIN_PRODUCER || min_consumer > BUNDLE_VERSION)
    return sp_fail(SP_ERROR_UNSUPPORTED,
                   "%s: bundle format version %d needs a reader of version %d or newer (savepoint reads version %d)",
                   index_path, producer, min_consumer, BUNDLE_VERSION);
  for (size_t i = 0; version && i < version->n_bad_consumers; i++)
    if (version->bad_consumers[i] == BUNDLE_VERSION)
      return sp_fail(SP_ERROR_UNSUPPORTED, "%s: the bundle marks reader version %d as bad", index_path, BUNDLE_VERSION);
  return SP_OK;
}

static sp_status size_shards(sp_bundle_reader *reader) {
  reader->shard_sizes = sp_alloc_zeroed((size_t)reader->shard_count, sizeof *reader->shard_sizes);
  reader->shard_files = sp_alloc_zeroed((size_t)reader->shard_count, sizeof *reader->shard_files);
  if (!reader->shard_sizes || !reader->shard_files) return SP_ERROR_NO_MEMORY;
  for (int shard = 0; shard < reader->shard_count; shard++) reader->shard_files[shard] = -1;
  for (int shard = 0; shard < reader->shard_count; shard++) {
    char *path = sp_bundle_data_path(reader->prefix, shard, reader->shard_count);
    if (!path) return SP_ERROR_NO_MEMORY;
    sp_status status = sp_file_size(path, &reader->shard_sizes[shard]);
    if (status == SP_ERROR_NOT_FOUND)
      status = sp_fail(SP_ERROR_NOT_FOUND, "data file '%s' is missing (the index names %d data files)", path,
                       reader->shard_count);
    free(path);
    SP_TRY(status);
  }
  return SP_OK;
}

static sp_status load_header(index_loader *loader, const uint8_t *key, size_t key_length, const uint8_t *value,
                             size_t length) {
  if (key_length != 0)
    return sp_fail(SP_ERROR_FORMAT, "%s: the first key is '%.*s', not the header entry \"\" (not a tensor bundle?)",
                   loader->index_path, (int)(key_length < 100 ? key_length : 100), (const char *)key);
  Tensorflow__BundleHeaderProto *header = tensorflow__bundle_header_proto__unpack(NULL, length, value);
  if (!header) return sp_fail(SP_ERROR_FORMAT, "%s: the header entry is not a BundleHeaderProto", loader->index_path);
  sp_status status = check_header(loader->index_path, header);
  loader->reader->shard_count = header->num_shards;
  tensorflow__bundle_header_proto__free_unpacked(header, NULL);
  SP_TRY(status);
  loader->have_header = 1;
  return size_shards(loader->reader);
}

static sp_status add_entry(sp_bundle_reader *reader, const uint8_t *key, size_t key_length, const uint8_t *value,
                           size_t length) {
  if (memchr(key, '\0', key_length))
    return sp_fail(SP_ERROR_FORMAT, "a tensor name holds a NUL byte ('%s...')", (const char *)key);
  char *name = sp_strndup((const char *)key, key_length);
  if (!name) return SP_ERROR_NO_MEMORY;
  sp_status status = SP_RESERVE(reader->entries, reader->capacity, reader->count + 1);
  if (status == SP_OK)
    status = sp_bundle_decode_entry(name, value, length, reader->shard_count, reader->shard_sizes,
                                    &reader->entries[reader->count]);
  if (status != SP_OK) {
    free(name);
    return status;
  }
  reader->count++;
  return SP_OK;
}

static sp_status load_entry(void *context, const uint8_t *key, size_t key_length, const uint8_t *value,
                            size_t length) {
  index_loader *loader = context;
  if (!loader->have_header) return load_header(loader, key, key_length, value, length);
  sp_status status = add_entry(loader->reader, key, key_length, value, length);
  if (status == SP_OK || !loader->report || status == SP_ERROR_NO_MEMORY) return status;
  char *name = sp_strndup((const char *)key, key_length);
  report_problem(loader, name ? name : "?");
  free(name);
  return SP_OK; /* verifying: a bad entry is reported, the rest still gets checked */
}

/* Visits every data block; when verifying, a bad block is reported and skipped, except the
 * one that should hold the header, without which nothing else can be checked. */
static sp_status load_blocks(index_loader *loader, const sp_table *table) {
  size_t blocks = sp_table_block_count(table);
  for (size_t block = 0; block < blocks; block++) {
    sp_status status = sp_table_visit_block(table, block, load_entry, loader);
    if (status == SP_OK) continue;
    if (!loader->report || !loader->have_header || status == SP_ERROR_NO_MEMORY) return status;
    char name[160], block_name[96];
    snprintf(name, sizeof name, "%s %s", loader->index_path, sp_table_block_name(table, block, block_name,
                                                                                  sizeof block_name));
    report_problem(loader, name);
  }
  if (!loader->have_header)
    return sp_fail(SP_ERROR_FORMAT, "%s: the index is empty: no header entry (not a tensor bundle?)",
                   loader->index_path);
  return SP_OK;
}

static sp_status load_index(index_loader *loader) {
  uint8_t *data;
  size_t size;
  SP_TRY(sp_read_file(loader->index_path, max_index_bytes, &data, &size));
  sp_table *table;
  sp_status status = sp_table_open(data, size, loader->index_path, &table);
  if (status == SP_OK) {
    status = load_blocks(loader, table);
    sp_table_close(table);
  }
  free(data);
  return status;
}

static sp_status new_reader(const char *prefix, sp_bundle_reader **result) {
  sp_bundle_reader *reader = sp_alloc_zeroed(1, sizeof *reader);
  if (!reader) return SP_ERROR_NO_MEMORY;
  reader->prefix = sp_strdup(prefix);
  if (!reader->prefix) {
    free(reader);
    return SP_ERROR_NO_MEMORY;
  }
  *result = reader;
  return SP_OK;
}

/* Opens with the given loader settings; on failure *result is NULL. */
static sp_status open_bundle(const char *prefix, index_loader *loader, sp_bundle_reader **result) {
  *result = NULL;
  SP_TRY(new_reader(prefix, &loader->reader));
  char *index_path = sp_bundle_index_path(prefix);
  sp_status status = index_path ? SP_OK : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) {
    loader->index_path = index_path;
    status = load_index(loader);
    loader->index_path = NULL;
  }
  free(index_path);
  if (status != SP_OK) {
    sp_bundle_close(loader->reader);
    loader->reader = NULL;
    return status;
  }
  *result = loader->reader;
  return SP_OK;
}

sp_status sp_bundle_open(const char *prefix, sp_bundle_reader **reader) {
  index_loader loader = {0};
  return sp_error_context(open_bundle(prefix, &loader, reader), "opening checkpoint '%s'", prefix);
}

void sp_bundle_close(sp_bundle_reader *reader) {
  if (!reader) return;
  for (size_t i = 0; i < reader->count; i++) free((char *)reader->entries[i].key);
  for (int shard = 0; reader->shard_files && shard < reader->shard_count; shard++)
    if (reader->shard_files[shard] >= 0) close(reader->shard_files[shard]);
  free(reader->entries);
  free(reader->shard_sizes);
  free(reader->shard_files);
  free(reader->prefix);
  free(reader);
}

size_t sp_bundle_count(const sp_bundle_reader *reader) { return reader->count; }

const sp_bundle_entry *sp_bundle_entry_at(const sp_bundle_reader *reader, size_t index) {
  return index < reader->count ? &reader->entries[index] : NULL;
}

int sp_bundle_shard_count(const sp_bundle_reader *reader) { return reader->shard_count; }

const sp_bundle_entry *sp_bundle_find(const sp_bundle_reader *reader, const char *key) {
  size_t low = 0, high = reader->count;
  while (low < high) { /* entries are in bytewise order, which strcmp follows */
    size_t middle = low + (high - low) / 2;
    int order = strcmp(reader->entries[middle].key, key);
    if (order == 0) return &reader->entries[middle];
    if (order < 0) low = middle + 1;
    else high = middle;
  }
  return NULL;
}

/* ---- reading tensor bytes ---- */

static sp_status shard_file(sp_bundle_reader *reader, int shard, int *fd, char **path) {
  *path = sp_bundle_data_path(reader->prefix, shard, reader->shard_count);
  if (!*path) return SP_ERROR_NO_MEMORY;
  if (reader->shard_files[shard] < 0) {
    reader->shard_files[shard] = open(*path, O_RDONLY | O_CLOEXEC);
    if (reader->shard_files[shard] < 0)
      return sp_fail(SP_ERROR_IO, "cannot open data file '%s': %s", *path, strerror(errno));
  }
  *fd = reader->shard_files[shard];
  return SP_OK;
}

/* Reads the entry's byte range into buffer (entry->size bytes). */
static sp_status read_range(sp_bundle_reader *reader, const sp_bundle_entry *entry, void *buffer) {
  int fd = -1;
  char *path = NULL;
  sp_status status = shard_file(reader, entry->shard_id, &fd, &path);
  for (uint64_t done = 0; status == SP_OK && done < entry->size;) {
    ssize_t got = pread(fd, (uint8_t *)buffer + done, (size_t)(entry->size - done), (off_t)(entry->offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) status = sp_fail(SP_ERROR_IO, "reading tensor '%s' from '%s': %s", entry->key, path, strerror(errno));
    else if (got == 0)
      status = sp_fail(SP_ERROR_IO, "reading tensor '%s': '%s' ended at byte %llu, before the tensor's end", entry->key,
                       path, (unsigned long long)(entry->offset + done));
    else done += (uint64_t)got;
  }
  free(path);
  return status;
}

static sp_status checksum_mismatch(const sp_bundle_reader *reader, const sp_bundle_entry *entry, uint32_t crc) {
  return sp_fail(SP_ERROR_CHECKSUM,
                 "tensor '%s' (data file %d of '%s', bytes %llu..%llu): checksum mismatch: the index says 0x%08x, "
                 "the data gives 0x%08x (corrupted data file?)",
                 entry->key, (int)entry->shard_id, reader->prefix, (unsigned long long)entry->offset,
                 (unsigned long long)(entry->offset + entry->size), entry->masked_crc32c, sp_crc32c_mask(crc));
}

/* The length checksum covers each length as uint32 LE, or uint64 LE when it does not fit:
 * the same bytes whether lengths were written as varint32 (old bundles) or varint64. */
static uint32_t extend_with_length(uint32_t crc, uint64_t length) {
  uint8_t bytes[8];
  for (int i = 0; i < 8; i++) bytes[i] = (uint8_t)(length >> (8 * i));
  return sp_crc32c_extend(crc, bytes, length <= UINT32_MAX ? 4 : 8);
}

/* Decodes [varint64 lengths][masked length CRC][bytes] into tensor (which may be NULL to
 * only check), returning the running CRC the index entry stores. */
static sp_status decode_strings(const sp_bundle_entry *entry, const uint8_t *bytes, int64_t count, sp_tensor *tensor,
                                uint32_t *crc) {
  *crc = 0;
  if (entry->size == 0 && count == 0) return SP_OK;
  uint64_t *lengths = sp_alloc_zeroed((size_t)count, sizeof *lengths); /* count <= size: checked at open */
  if (!lengths) return SP_ERROR_NO_MEMORY;
  char what[320];
  snprintf(what, sizeof what, "tensor '%s' string data", entry->key);
  sp_reader reader = sp_reader_make(bytes, (size_t)entry->size, what);
  sp_status status = SP_OK;
  for (int64_t i = 0; status == SP_OK && i < count; i++) {
    status = sp_read_varint64(&reader, &lengths[i]);
    if (status == SP_OK) *crc = extend_with_length(*crc, lengths[i]);
  }
  uint32_t stored = 0;
  if (status == SP_OK) status = sp_read_u32le(&reader, &stored);
  if (status == SP_OK && sp_crc32c_unmask(stored) != *crc)
    status = sp_fail(SP_ERROR_CHECKSUM, "tensor '%s': string length checksum mismatch (stored 0x%08x, computed 0x%08x)",
                     entry->key, sp_crc32c_unmask(stored), *crc);
  if (status == SP_OK) *crc = sp_crc32c_extend(*crc, bytes + reader.position - 4, 4);
  for (int64_t i = 0; status == SP_OK && i < count; i++) {
    const uint8_t *string;
    status = sp_read_bytes(&reader, (size_t)lengths[i], &string);
    if (status == SP_OK) *crc = sp_crc32c_extend(*crc, string, (size_t)lengths[i]);
    if (status == SP_OK && tensor) status = sp_tensor_set_string(tensor, i, string, (size_t)lengths[i]);
  }
  if (status == SP_OK && sp_reader_remaining(&reader) != 0)
    status = sp_fail(SP_ERROR_FORMAT, "tensor '%s': %zu bytes left over after %lld strings", entry->key,
                     sp_reader_remaining(&reader), (long long)count);
  free(lengths);
  return status;
}

/* DT_VARIANT: per element [varint64 length][bytes][masked running CRC]; the running CRC
 * covers each length as uint64 LE, the bytes and each stored CRC (formats.md §4.5). */
static sp_status check_variants(const sp_bundle_entry *entry, const uint8_t *bytes, int64_t count, uint32_t *crc) {
  *crc = 0;
  char what[320];
  snprintf(what, sizeof what, "tensor '%s' variant data", entry->key);
  sp_reader reader = sp_reader_make(bytes, (size_t)entry->size, what);
  for (int64_t i = 0; i < count && entry->size > 0; i++) {
    uint64_t length;
    const uint8_t *element;
    uint32_t stored;
    SP_TRY(sp_read_varint64(&reader, &length));
    uint8_t length_bytes[8];
    for (int b = 0; b < 8; b++) length_bytes[b] = (uint8_t)(length >> (8 * b));
    *crc = sp_crc32c_extend(*crc, length_bytes, 8);
    SP_TRY(sp_read_bytes(&reader, (size_t)length, &element));
    *crc = sp_crc32c_extend(*crc, element, (size_t)length);
    SP_TRY(sp_read_u32le(&reader, &stored));
    if (sp_crc32c_unmask(stored) != *crc)
      return sp_fail(SP_ERROR_CHECKSUM, "tensor '%s': checksum after variant element %lld does not match", entry->key,
                     (long long)i);
    *crc = sp_crc32c_extend(*crc, bytes + reader.position - 4, 4);
  }
  return SP_OK;
}

static sp_status read_numeric(sp_bundle_reader *reader, const sp_bundle_entry *entry, sp_tensor **result) {
  sp_tensor *tensor = sp_tensor_new(entry->dtype, entry->rank, entry->shape);
  if (!tensor) return sp_error_context(SP_ERROR_NO_MEMORY, "reading tensor '%s'", entry->key);
  sp_status status = read_range(reader, entry, tensor->data);
  if (status == SP_OK) {
    uint32_t crc = sp_crc32c(tensor->data, tensor->size);
    if (sp_crc32c_mask(crc) != entry->masked_crc32c) status = checksum_mismatch(reader, entry, crc);
  }
  if (status != SP_OK) {
    sp_tensor_free(tensor);
    return status;
  }
  *result = tensor;
  return SP_OK;
}

/* Reads the raw bytes and checks them against the entry's CRC; decodes strings into
 * tensor when given. Used for strings and for the dtypes only verify can check. */
static sp_status read_checked_bytes(sp_bundle_reader *reader, const sp_bundle_entry *entry, sp_tensor *tensor) {
  uint8_t *bytes = sp_alloc((size_t)entry->size);
  if (!bytes) return sp_error_context(SP_ERROR_NO_MEMORY, "reading tensor '%s'", entry->key);
  int64_t count;
  sp_status status = sp_shape_count(entry->rank, entry->shape, &count);
  if (status == SP_OK) status = read_range(reader, entry, bytes);
  uint32_t crc = 0;
  if (status == SP_OK) {
    if (entry->dtype == SP_STRING) status = decode_strings(entry, bytes, count, tensor, &crc);
    else if (entry->dtype == (sp_dtype)DT_VARIANT) status = check_variants(entry, bytes, count, &crc);
    else crc = sp_crc32c(bytes, (size_t)entry->size);
  }
  if (status == SP_OK && sp_crc32c_mask(crc) != entry->masked_crc32c) status = checksum_mismatch(reader, entry, crc);
  free(bytes);
  return status;
}

static sp_status read_entry(sp_bundle_reader *reader, const sp_bundle_entry *entry, sp_tensor **result) {
  *result = NULL;
  if (entry->sliced)
    return sp_fail(SP_ERROR_UNSUPPORTED, "tensor '%s' is partitioned into slices, which savepoint does not assemble",
                   entry->key);
  if (!supported_dtype(entry->dtype))
    return sp_fail(SP_ERROR_UNSUPPORTED, "tensor '%s' has dtype %s, which savepoint cannot hold", entry->key,
                   sp_bundle_dtype_name(entry->dtype));
  if (entry->dtype != SP_STRING) return read_numeric(reader, entry, result);
  sp_tensor *tensor = sp_tensor_new(SP_STRING, entry->rank, entry->shape);
  if (!tensor) return sp_error_context(SP_ERROR_NO_MEMORY, "reading tensor '%s'", entry->key);
  sp_status status = read_checked_bytes(reader, entry, tensor);
  if (status != SP_OK) {
    sp_tensor_free(tensor);
    return status;
  }
  *result = tensor;
  return SP_OK;
}

sp_status sp_bundle_read(sp_bundle_reader *reader, const char *key, sp_tensor **tensor) {
  *tensor = NULL;
  const sp_bundle_entry *entry = sp_bundle_find(reader, key);
  if (!entry)
    return sp_fail(SP_ERROR_NOT_FOUND, "checkpoint '%s' has no tensor named '%s' (it holds %zu tensors)",
                   reader->prefix, key, reader->count);
  return sp_error_context(read_entry(reader, entry, tensor), "checkpoint '%s'", reader->prefix);
}

/* ---- verification ---- */

static sp_status verify_entry(sp_bundle_reader *reader, const sp_bundle_entry *entry) {
  if (entry->sliced) return SP_OK; /* no bytes of its own: the slices are entries */
  if (entry->dtype != SP_STRING && supported_dtype(entry->dtype)) {
    sp_tensor *tensor = NULL;
    sp_status status = read_numeric(reader, entry, &tensor);
    sp_tensor_free(tensor);
    return status;
  }
  return read_checked_bytes(reader, entry, NULL);
}

sp_status sp_bundle_verify(const char *prefix, sp_bundle_problem_fn report, void *context, size_t *problem_count) {
  index_loader loader = {.report = report, .context = context};
  sp_bundle_reader *reader;
  *problem_count = 0;
  sp_status status = open_bundle(prefix, &loader, &reader);
  if (status != SP_OK) {
    char *index_path = sp_bundle_index_path(prefix);
    sp_error_context(status, "verifying checkpoint '%s'", prefix);
    report_problem(&loader, index_path ? index_path : prefix);
    free(index_path);
    *problem_count = loader.problems;
    return status;
  }
  for (size_t i = 0; i < reader->count; i++) {
    status = verify_entry(reader, &reader->entries[i]);
    if (status == SP_ERROR_NO_MEMORY) break;
    if (status != SP_OK) report_problem(&loader, reader->entries[i].key);
  }
  sp_bundle_close(reader);
  *problem_count = loader.problems;
  if (status == SP_ERROR_NO_MEMORY) return status;
  if (loader.problems)
    return sp_fail(SP_ERROR_CHECKSUM, "checkpoint '%s': %zu damaged blocks or tensors", prefix, loader.problems);
  return SP_OK;
}

/* ---- the writer ---- */

typedef struct written_entry {
  char *key;
  sp_dtype dtype;
  int rank;
  int64_t shape[SP_MAX_RANK];
  int shard;
  uint64_t offset, size;
  uint32_t masked_crc32c;
} written_entry;

struct sp_bundle_writer {
  char *prefix;
  int shard_count;
  sp_atomic_file *shards;
  uint64_t *shard_sizes;
  written_entry *entries;
  size_t count;
  size_t capacity;
  sp_status failure; /* sticky after an I/O failure */
};

static void writer_free(sp_bundle_writer *writer) {
  for (int shard = 0; writer->shards && shard < writer->shard_count; shard++) sp_atomic_abort(&writer->shards[shard]);
  for (size_t i = 0; i < writer->count; i++) free(writer->entries[i].key);
  free(writer->entries);
  free(writer->shards);
  free(writer->shard_sizes);
  free(writer->prefix);
  free(writer);
}

static sp_status open_shards(sp_bundle_writer *writer) {
  char *directory = sp_path_dirname(writer->prefix);
  if (!directory) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_make_directories(directory);
  free(directory);
  SP_TRY(status);
  writer->shards = sp_alloc_zeroed((size_t)writer->shard_count, sizeof *writer->shards);
  writer->shard_sizes = sp_alloc_zeroed((size_t)writer->shard_count, sizeof *writer->shard_sizes);
  if (!writer->shards || !writer->shard_sizes) return SP_ERROR_NO_MEMORY;
  for (int shard = 0; shard < writer->shard_count; shard++) writer->shards[shard].fd = -1;
  for (int shard = 0; shard < writer->shard_count; shard++) {
    char *path = sp_bundle_data_path(writer->prefix, shard, writer->shard_count);
    if (!path) return SP_ERROR_NO_MEMORY;
    status = sp_atomic_open(path, &writer->shards[shard]);
    free(path);
    SP_TRY(status);
  }
  return SP_OK;
}

sp_status sp_bundle_writer_open_with(const char *prefix, const sp_bundle_writer_options *options,
                                     sp_bundle_writer **result) {
  *result = NULL;
  int shard_count = options && options->shard_count ? options->shard_count : 1;
  if (!prefix || !*prefix || sp_path_has_suffix(prefix, "/"))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "a checkpoint prefix must name files, got '%s'", prefix ? prefix : "");
  if (shard_count < 1 || shard_count > SP_BUNDLE_MAX_SHARDS)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "a bundle has 1..%d data files, not %d", (int)SP_BUNDLE_MAX_SHARDS,
                   shard_count);
  sp_bundle_writer *writer = sp_alloc_zeroed(1, sizeof *writer);
  if (!writer) return SP_ERROR_NO_MEMORY;
  writer->shard_count = shard_count;
  writer->prefix = sp_strdup(prefix);
  sp_status status = writer->prefix ? open_shards(writer) : SP_ERROR_NO_MEMORY;
  if (status != SP_OK) {
    writer_free(writer);
    return sp_error_context(status, "writing checkpoint '%s'", prefix);
  }
  *result = writer;
  return SP_OK;
}

sp_status sp_bundle_writer_open(const char *prefix, sp_bundle_writer **writer) {
  return sp_bundle_writer_open_with(prefix, NULL, writer);
}

static sp_status check_tensor(const char *key, const sp_tensor *tensor) {
  if (!key || !*key)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "a tensor needs a non-empty name (\"\" is the bundle header)");
  if (!tensor || !supported_dtype(tensor->dtype))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "tensor '%s': no tensor or an unknown dtype", key);
  int64_t count;
  SP_TRY(sp_error_context(sp_shape_count(tensor->rank, tensor->shape, &count), "tensor '%s'", key));
  size_t expected;
  if (!sp_multiply_size((size_t)count, sp_dtype_size(tensor->dtype), &expected) || expected != tensor->size ||
      (expected && !tensor->data))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "tensor '%s': holds %zu bytes, its dtype and shape need %zu", key,
                   tensor->size, expected);
  return SP_OK;
}

/* [varint64 lengths][masked CRC of the lengths][bytes], returning the running CRC. */
static sp_status encode_strings(const sp_tensor *tensor, sp_buffer *out, uint32_t *crc) {
  const sp_string *strings = tensor->data;
  int64_t count = sp_tensor_count(tensor);
  *crc = 0;
  for (int64_t i = 0; i < count; i++) {
    SP_TRY(sp_buffer_put_varint64(out, strings[i].length));
    *crc = extend_with_length(*crc, strings[i].length);
  }
  SP_TRY(sp_buffer_put_u32le(out, sp_crc32c_mask(*crc)));
  *crc = sp_crc32c_extend(*crc, out->data + out->size - 4, 4);
  for (int64_t i = 0; i < count; i++) {
    SP_TRY(sp_buffer_append(out, strings[i].bytes, strings[i].length));
    *crc = sp_crc32c_extend(*crc, strings[i].bytes, strings[i].length);
  }
  return SP_OK;
}

static int lightest_shard(const sp_bundle_writer *writer) {
  int best = 0;
  for (int shard = 1; shard < writer->shard_count; shard++)
    if (writer->shard_sizes[shard] < writer->shard_sizes[best]) best = shard;
  return best;
}

static sp_status append_tensor(sp_bundle_writer *writer, const sp_tensor *tensor, written_entry *entry) {
  sp_atomic_file *file = &writer->shards[entry->shard];
  uint32_t crc;
  if (tensor->dtype != SP_STRING) {
    crc = sp_crc32c(tensor->data, tensor->size);
    entry->size = tensor->size;
    SP_TRY(sp_atomic_write(file, tensor->data, tensor->size));
  } else {
    sp_buffer encoded = {0};
    sp_status status = encode_strings(tensor, &encoded, &crc);
    if (status == SP_OK) status = sp_atomic_write(file, encoded.data, encoded.size);
    entry->size = encoded.size;
    sp_buffer_free(&encoded);
    SP_TRY(status);
  }
  entry->masked_crc32c = sp_crc32c_mask(crc);
  writer->shard_sizes[entry->shard] += entry->size;
  return SP_OK;
}

sp_status sp_bundle_add(sp_bundle_writer *writer, const char *key, const sp_tensor *tensor) {
  if (writer->failure != SP_OK)
    return sp_fail(writer->failure, "checkpoint '%s': the writer failed earlier", writer->prefix);
  SP_TRY(sp_error_context(check_tensor(key, tensor), "checkpoint '%s'", writer->prefix));
  SP_TRY(SP_RESERVE(writer->entries, writer->capacity, writer->count + 1));
  written_entry *entry = &writer->entries[writer->count];
  memset(entry, 0, sizeof *entry);
  entry->key = sp_strdup(key);
  if (!entry->key) return SP_ERROR_NO_MEMORY;
  entry->dtype = tensor->dtype;
  entry->rank = tensor->rank;
  memcpy(entry->shape, tensor->shape, sizeof entry->shape);
  entry->shard = lightest_shard(writer);
  entry->offset = writer->shard_sizes[entry->shard];
  sp_status status = append_tensor(writer, tensor, entry);
  if (status != SP_OK) {
    free(entry->key);
    writer->failure = status;
    return sp_error_context(status, "checkpoint '%s': tensor '%s'", writer->prefix, key);
  }
  writer->count++;
  return SP_OK;
}

static int compare_entries(const void *a, const void *b) {
  return strcmp(((const written_entry *)a)->key, ((const written_entry *)b)->key);
}

static sp_status pack_message(const ProtobufCMessage *message, sp_buffer *out) {
  out->size = 0;
  size_t size = protobuf_c_message_get_packed_size(message);
  SP_TRY(sp_buffer_reserve(out, size));
  out->size = protobuf_c_message_pack(message, out->data);
  return SP_OK;
}

static sp_status add_header(sp_table_builder *table, int shard_count, sp_buffer *scratch) {
  Tensorflow__VersionDef version = TENSORFLOW__VERSION_DEF__INIT;
  version.producer = BUNDLE_VERSION;
  Tensorflow__BundleHeaderProto header = TENSORFLOW__BUNDLE_HEADER_PROTO__INIT;
  header.num_shards = shard_count;
  header.endianness = TENSORFLOW__BUNDLE_HEADER_PROTO__ENDIANNESS__LITTLE;
  header.version = &version;
  SP_TRY(pack_message(&header.base, scratch));
  return sp_table_builder_add(table, "", 0, scratch->data, scratch->size);
}

static sp_status add_index_entry(sp_table_builder *table, const written_entry *entry, sp_buffer *scratch) {
  Tensorflow__TensorShapeProto__Dim dims[SP_MAX_RANK], *dim_pointers[SP_MAX_RANK];
  Tensorflow__TensorShapeProto shape = TENSORFLOW__TENSOR_SHAPE_PROTO__INIT;
  for (int i = 0; i < entry->rank; i++) {
    tensorflow__tensor_shape_proto__dim__init(&dims[i]);
    dims[i].size = entry->shape[i];
    dim_pointers[i] = &dims[i];
  }
  shape.n_dim = (size_t)entry->rank;
  shape.dim = dim_pointers;
  Tensorflow__BundleEntryProto proto = TENSORFLOW__BUNDLE_ENTRY_PROTO__INIT;
  proto.dtype = (Tensorflow__DataType)entry->dtype;
  proto.shape = &shape;
  proto.shard_id = entry->shard;
  proto.offset = (int64_t)entry->offset;
  proto.size = (int64_t)entry->size;
  proto.crc32c = entry->masked_crc32c;
  SP_TRY(pack_message(&proto.base, scratch));
  return sp_table_builder_add(table, entry->key, strlen(entry->key), scratch->data, scratch->size);
}

static sp_status build_index(sp_bundle_writer *writer, uint8_t **data, size_t *size) {
  if (writer->count > 1) qsort(writer->entries, writer->count, sizeof *writer->entries, compare_entries);
  for (size_t i = 1; i < writer->count; i++)
    if (strcmp(writer->entries[i - 1].key, writer->entries[i].key) == 0)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "tensor '%s' was added twice", writer->entries[i].key);
  sp_table_builder *table;
  SP_TRY(sp_table_builder_new(NULL, &table));
  sp_buffer scratch = {0};
  sp_status status = add_header(table, writer->shard_count, &scratch);
  for (size_t i = 0; status == SP_OK && i < writer->count; i++)
    status = add_index_entry(table, &writer->entries[i], &scratch);
  if (status == SP_OK) status = sp_table_builder_finish(table, data, size);
  sp_buffer_free(&scratch);
  sp_table_builder_free(table);
  return status;
}

/* The old index goes first, so that no reader pairs it with the new data files. */
static sp_status remove_old_index(const char *index_path) {
  if (unlink(index_path) != 0) {
    if (errno == ENOENT) return SP_OK;
    return sp_fail(SP_ERROR_IO, "cannot remove the old index '%s': %s", index_path, strerror(errno));
  }
  char *directory = sp_path_dirname(index_path);
  if (!directory) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_fsync_directory(directory);
  free(directory);
  return status;
}

static sp_status publish(sp_bundle_writer *writer, const uint8_t *index, size_t index_size) {
  char *index_path = sp_bundle_index_path(writer->prefix);
  if (!index_path) return SP_ERROR_NO_MEMORY;
  sp_status status = remove_old_index(index_path);
  for (int shard = 0; status == SP_OK && shard < writer->shard_count; shard++)
    status = sp_atomic_commit(&writer->shards[shard]);
  if (status == SP_OK) status = sp_write_file_atomic(index_path, index, index_size);
  free(index_path);
  return status;
}

sp_status sp_bundle_writer_finish(sp_bundle_writer *writer) {
  sp_status status = writer->failure;
  if (status != SP_OK) sp_fail(status, "the writer failed earlier");
  uint8_t *index = NULL;
  size_t index_size = 0;
  if (status == SP_OK) status = build_index(writer, &index, &index_size);
  if (status == SP_OK) status = publish(writer, index, index_size);
  status = sp_error_context(status, "writing checkpoint '%s'", writer->prefix);
  free(index);
  writer_free(writer);
  return status;
}

void sp_bundle_writer_abort(sp_bundle_writer *writer) {
  if (writer) writer_free(writer);
}
