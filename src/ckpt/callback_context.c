/* callback_context.c — see callback_context.h. */
#include "ckpt/callback_context.h"

#include <stdlib.h>

#include "core/memory.h"

sp_status sp_callback_with_context(const char *name, size_t context_size, void (*release)(sp_callback *self),
                                   sp_callback **callback) {
  *callback = NULL;
  void *context = sp_alloc_zeroed(1, context_size);
  sp_callback *made = context ? sp_callback_new(name, context) : NULL;
  if (!made) {
    free(context);
    return sp_fail(SP_ERROR_NO_MEMORY, "cannot allocate callback '%s'", name);
  }
  made->release = release;
  *callback = made;
  return SP_OK;
}
