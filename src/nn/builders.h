/* builders.h (internal) — what the layer builder files (builders.c, builders_*.c) share. */
#ifndef SP_NN_BUILDERS_H
#define SP_NN_BUILDERS_H

#include <json.h>

#include "savepoint/model.h"

/* The config keys every Keras 3 layer has: trainable and a float32 DTypePolicy. */
json_object *sp_builder_base_config(void);
/* Creates a Keras 3 layer of class_name from config (consumed; NULL means out of memory).
 * NULL on failure, with the error set. */
sp_layer *sp_builder_create(const char *class_name, json_object *config);
/* The activation config value: the name, "linear" for NULL. */
json_object *sp_builder_activation(const char *activation);

#endif
