/* example.c — encoding and decoding tf.train.Example (see example.h). */
#include "formats/example.h"

#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "formats/proto_read.h"

typedef struct feature_storage {
  Tensorflow__Features__FeatureEntry entry;
  Tensorflow__Feature feature;
  Tensorflow__FloatList floats;
  Tensorflow__Int64List integers;
  Tensorflow__BytesList bytes;
  ProtobufCBinaryData *strings;
} feature_storage;

static sp_status prepare_feature(const sp_example_feature *source, feature_storage *storage) {
  storage->entry = (Tensorflow__Features__FeatureEntry)TENSORFLOW__FEATURES__FEATURE_ENTRY__INIT;
  storage->feature = (Tensorflow__Feature)TENSORFLOW__FEATURE__INIT;
  storage->entry.key = (char *)source->name;
  storage->entry.value = &storage->feature;
  switch (source->dtype) {
    case SP_FLOAT32:
      storage->floats = (Tensorflow__FloatList)TENSORFLOW__FLOAT_LIST__INIT;
      storage->floats.n_value = source->count;
      storage->floats.value = (float *)source->values;
      storage->feature.kind_case = TENSORFLOW__FEATURE__KIND_FLOAT_LIST;
      storage->feature.float_list = &storage->floats;
      return SP_OK;
    case SP_INT64:
      storage->integers = (Tensorflow__Int64List)TENSORFLOW__INT64_LIST__INIT;
      storage->integers.n_value = source->count;
      storage->integers.value = (int64_t *)source->values;
      storage->feature.kind_case = TENSORFLOW__FEATURE__KIND_INT64_LIST;
      storage->feature.int64_list = &storage->integers;
      return SP_OK;
    case SP_STRING: {
      storage->strings = sp_alloc_zeroed(source->count + 1, sizeof *storage->strings);
      if (!storage->strings) return SP_ERROR_NO_MEMORY;
      const sp_string *strings = source->values;
      for (size_t i = 0; i < source->count; i++) {
        storage->strings[i].data = (uint8_t *)strings[i].bytes;
        storage->strings[i].len = strings[i].length;
      }
      storage->bytes = (Tensorflow__BytesList)TENSORFLOW__BYTES_LIST__INIT;
      storage->bytes.n_value = source->count;
      storage->bytes.value = storage->strings;
      storage->feature.kind_case = TENSORFLOW__FEATURE__KIND_BYTES_LIST;
      storage->feature.bytes_list = &storage->bytes;
      return SP_OK;
    }
    default:
      return sp_fail(SP_ERROR_UNSUPPORTED, "tf.Example feature '%s': %s values are not float32, int64 or bytes",
                     source->name, sp_dtype_name(source->dtype));
  }
}

sp_status sp_example_encode(const sp_example_feature *features, size_t count, sp_buffer *out) {
  feature_storage *storage = sp_alloc_zeroed(count + 1, sizeof *storage);
  Tensorflow__Features__FeatureEntry **entries = sp_alloc_zeroed(count + 1, sizeof *entries);
  sp_status status = storage && entries ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < count && status == SP_OK; i++) {
    status = prepare_feature(&features[i], &storage[i]);
    entries[i] = &storage[i].entry;
  }
  if (status == SP_OK) {
    Tensorflow__Features map = TENSORFLOW__FEATURES__INIT;
    map.n_feature = count;
    map.feature = entries;
    Tensorflow__Example example = TENSORFLOW__EXAMPLE__INIT;
    example.features = &map;
    size_t size = tensorflow__example__get_packed_size(&example);
    status = sp_buffer_reserve(out, size);
    if (status == SP_OK) out->size += tensorflow__example__pack(&example, out->data + out->size);
  }
  for (size_t i = 0; storage && i < count; i++) free(storage[i].strings);
  free(storage);
  free(entries);
  return status;
}

sp_status sp_example_decode(const void *data, size_t size, const char *what, Tensorflow__Example **example) {
  ProtobufCMessage *message;
  *example = NULL;
  SP_TRY(sp_proto_unpack(&tensorflow__example__descriptor, data, size, what, &message));
  *example = (Tensorflow__Example *)message;
  return SP_OK;
}

const Tensorflow__Feature *sp_example_find_feature(const Tensorflow__Example *example, const char *name) {
  const Tensorflow__Features *features = example->features;
  for (size_t i = features ? features->n_feature : 0; i-- > 0;)
    if (strcmp(features->feature[i]->key, name) == 0) return features->feature[i]->value;
  return NULL;
}
