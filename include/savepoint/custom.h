/* custom.h — custom objects: layers and activations savepoint does not have built in, found by
 * the name a Keras config gives them (the analogue of Keras's register_keras_serializable and
 * of load_model(..., custom_objects=...)).
 *
 * A config names a custom object by its registered_name ("package>Name", or the bare class
 * name). Lookup order when a model is loaded: the per-load table passed in the load options,
 * then the process-wide registrations below, then the built-ins. A name found nowhere fails
 * with a message listing every name that is registered and how to register one.
 *
 *   static const sp_custom_activation squash = {"my_package>squash", squash_forward, squash_backward, NULL};
 *   sp_register_activation(&squash);                       // every load in the process
 *
 *   sp_custom_objects *objects = sp_custom_objects_new();   // or only this load
 *   sp_custom_objects_add_activation(objects, &squash);
 *   sp_load_options options = sp_load_defaults();
 *   options.custom_objects = objects;
 *
 * Registered objects are borrowed: they must outlive every model that uses them.
 */
#ifndef SAVEPOINT_CUSTOM_H
#define SAVEPOINT_CUSTOM_H

#include <stdint.h>

#include "savepoint/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A layer implementation, written against the layer contract of src/nn/layer.h (configure,
 * compute_shapes, build, forward, backward); its class_name is the name configs use. */
typedef struct sp_layer_class sp_layer_class;

/* An element-wise activation. */
typedef struct sp_custom_activation {
  const char *name; /* "package>name" or a plain name */
  void (*forward)(const float *x, float *y, int64_t count, void *context);
  /* dx from x, y and dy; may be NULL when training through it is not needed. */
  void (*backward)(const float *x, const float *y, const float *dy, float *dx, int64_t count, void *context);
  void *context;
} sp_custom_activation;

/* ---- process-wide registration (every later load sees them) ---- */

/* Registers a layer class under its class_name; SP_ERROR_EXISTS on a duplicate. */
sp_status sp_register_layer_class(const sp_layer_class *layer_class);
/* Registers an activation under its name; SP_ERROR_EXISTS on a duplicate. */
sp_status sp_register_activation(const sp_custom_activation *activation);

/* ---- a per-load table ---- */

typedef struct sp_custom_objects sp_custom_objects;

sp_custom_objects *sp_custom_objects_new(void);
/* Maps name (a registered_name such as "my_package>Block", or a class name) to a layer class. */
sp_status sp_custom_objects_add_layer(sp_custom_objects *objects, const char *name, const sp_layer_class *layer_class);
/* Adds an activation under its own name. */
sp_status sp_custom_objects_add_activation(sp_custom_objects *objects, const sp_custom_activation *activation);
void sp_custom_objects_free(sp_custom_objects *objects);

#ifdef __cplusplus
}
#endif
#endif
