/* keras_v3.h (internal) — the .keras codec's entry for archives held in memory (fuzzing, a
 * server receiving a model). Everything else goes through sp_load (io.h). */
#ifndef SP_FORMATS_KERAS_V3_H
#define SP_FORMATS_KERAS_V3_H

#include <stddef.h>

#include "core/status.h"
#include "nn/model.h"
#include "savepoint/io.h"

/* Loads a whole model from the bytes of a .keras archive; name is used in messages. */
sp_status sp_keras_archive_load_memory(const void *data, size_t size, const char *name, const sp_load_options *options,
                                       sp_model **model) SP_MUST_CHECK;

#endif
