/* custom_objects.c — per-load tables of custom layers and activations (custom_objects.h).
 *
 * A table only maps names to borrowed implementations; the current one is a thread-local
 * pointer, so loads on different threads with different tables never see each other's.
 */
#include "nn/custom_objects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"

typedef struct custom_entry {
  char *name;
  const sp_layer_class *layer;           /* exactly one of layer / activation is set */
  const sp_custom_activation *activation;
} custom_entry;

struct sp_custom_objects {
  custom_entry *entries;
  size_t count, capacity;
};

static _Thread_local const sp_custom_objects *current_table;

sp_custom_objects *sp_custom_objects_new(void) { return sp_alloc_zeroed(1, sizeof(sp_custom_objects)); }

void sp_custom_objects_free(sp_custom_objects *objects) {
  if (!objects) return;
  for (size_t i = 0; i < objects->count; i++) free(objects->entries[i].name);
  free(objects->entries);
  free(objects);
}

static const custom_entry *find(const sp_custom_objects *objects, const char *name, int layers) {
  for (size_t i = 0; objects && i < objects->count; i++) {
    const custom_entry *entry = &objects->entries[i];
    if ((layers ? entry->layer != NULL : entry->activation != NULL) && strcmp(entry->name, name) == 0) return entry;
  }
  return NULL;
}

static sp_status add(sp_custom_objects *objects, const char *name, const sp_layer_class *layer,
                     const sp_custom_activation *activation) {
  if (!objects || !name || !name[0])
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "a custom object needs a table and a non-empty name");
  if (find(objects, name, layer != NULL))
    return sp_fail(SP_ERROR_EXISTS, "the custom-objects table already has a %s named '%s'",
                   layer ? "layer" : "activation", name);
  SP_TRY(SP_RESERVE(objects->entries, objects->capacity, objects->count + 1));
  char *copy = sp_strdup(name);
  if (!copy) return SP_ERROR_NO_MEMORY;
  objects->entries[objects->count++] = (custom_entry){copy, layer, activation};
  return SP_OK;
}

sp_status sp_custom_objects_add_layer(sp_custom_objects *objects, const char *name, const sp_layer_class *layer_class) {
  if (!layer_class || !layer_class->compute_shapes || !layer_class->forward)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "custom layer '%s': a layer class needs compute_shapes and forward",
                   name ? name : "?");
  return add(objects, name, layer_class, NULL);
}

sp_status sp_custom_objects_add_activation(sp_custom_objects *objects, const sp_custom_activation *activation) {
  if (!activation || !activation->forward)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "a custom activation needs a name and a forward function");
  return add(objects, activation->name, NULL, activation);
}

const sp_custom_objects *sp_custom_objects_enter(const sp_custom_objects *table) {
  const sp_custom_objects *previous = current_table;
  current_table = table;
  return previous;
}

void sp_custom_objects_leave(const sp_custom_objects *previous) { current_table = previous; }

const sp_layer_class *sp_custom_objects_find_layer(const char *name) {
  const custom_entry *entry = find(current_table, name, 1);
  return entry ? entry->layer : NULL;
}

const sp_custom_activation *sp_custom_objects_find_activation(const char *name) {
  const custom_entry *entry = find(current_table, name, 0);
  return entry ? entry->activation : NULL;
}

void sp_custom_objects_append_names(int layers, char *out, size_t capacity) {
  size_t used = strlen(out);
  for (size_t i = 0; current_table && i < current_table->count && used + 1 < capacity; i++) {
    const custom_entry *entry = &current_table->entries[i];
    if (layers ? !entry->layer : !entry->activation) continue;
    int written = snprintf(out + used, capacity - used, "%s%s", used ? ", " : "", entry->name);
    if (written < 0) break;
    used += (size_t)written < capacity - used ? (size_t)written : capacity - used - 1;
  }
}
