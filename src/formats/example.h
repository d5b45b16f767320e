/* example.h — tf.train.Example records: the serialized input of classify/regress signatures and
 * of ParseExample ops. */
#ifndef SP_FORMATS_EXAMPLE_H
#define SP_FORMATS_EXAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"
#include "core/status.h"
#include "example.pb-c.h"
#include "savepoint/tensor.h"

/* One feature to encode: float32 values become a float_list, int64 an int64_list, strings
 * (sp_string) a bytes_list. */
typedef struct sp_example_feature {
  const char *name;
  sp_dtype dtype;
  size_t count;
  const void *values;
} sp_example_feature;

/* Appends the serialized Example holding features to out. */
sp_status sp_example_encode(const sp_example_feature *features, size_t count, sp_buffer *out) SP_MUST_CHECK;

/* Parses a serialized Example (guarded unpacking; what names it in errors). Free with
 * protobuf_c_message_free_unpacked(&example->base, NULL). */
sp_status sp_example_decode(const void *data, size_t size, const char *what, Tensorflow__Example **example) SP_MUST_CHECK;

/* The feature called name, or NULL (the last one wins when a map key repeats, as in protobuf). */
const Tensorflow__Feature *sp_example_find_feature(const Tensorflow__Example *example, const char *name);

#endif
