/* callback_context.h (internal) — the one way the saving callbacks of src/ckpt are made: a
 * callback with a zeroed context of its own, freed by its release hook. */
#ifndef SP_CKPT_CALLBACK_CONTEXT_H
#define SP_CKPT_CALLBACK_CONTEXT_H

#include <stddef.h>

#include "core/status.h"
#include "savepoint/callbacks.h"

/* *callback gets a callback named name whose context is context_size zeroed bytes; release must
 * free that context (sp_callback_free calls it, also on a constructor's failure path). */
sp_status sp_callback_with_context(const char *name, size_t context_size, void (*release)(sp_callback *self),
                                   sp_callback **callback) SP_MUST_CHECK;

#endif
