/* layer_registry.h — the built-in layer classes, listed once in layer_registry.c. */
#ifndef SP_NN_LAYER_REGISTRY_H
#define SP_NN_LAYER_REGISTRY_H

#include "nn/layer.h"

/* NULL-terminated. */
extern const sp_layer_class *const sp_builtin_layer_classes[];

#endif
