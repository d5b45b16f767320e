/* custom_objects.h (internal) — the per-load custom-objects table as a thread-local scope.
 *
 * Keras resolves custom objects through a thread-local scope (custom_object_scope) that
 * load_model enters with its custom_objects argument; savepoint does the same, so the layer
 * and activation registries (sp_find_layer_class, sp_activation_from_name) consult the
 * table of the load running on this thread first, without every config function carrying it.
 * Scopes nest: enter returns the previous table, leave restores it.
 */
#ifndef SP_NN_CUSTOM_OBJECTS_H
#define SP_NN_CUSTOM_OBJECTS_H

#include <stddef.h>

#include "nn/activation.h"
#include "nn/layer.h"
#include "savepoint/custom.h"

/* Makes table (may be NULL) current on this thread; returns the table it replaces. */
const sp_custom_objects *sp_custom_objects_enter(const sp_custom_objects *table);
/* Restores the table enter returned. */
void sp_custom_objects_leave(const sp_custom_objects *previous);

/* Lookups in the current thread's table (NULL when absent or no table is current). */
const sp_layer_class *sp_custom_objects_find_layer(const char *name);
const sp_custom_activation *sp_custom_objects_find_activation(const char *name);
/* Appends ", name" for every layer (layers = 1) or activation (layers = 0) name in the current
 * table to out (NUL-terminated, capacity bytes in all), for messages that list what is known. */
void sp_custom_objects_append_names(int layers, char *out, size_t capacity);

#endif
