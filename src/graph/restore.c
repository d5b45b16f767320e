/* restore.c — RestoreV2's access to variables/variables.* through the tensor-bundle reader
 * (formats/tf_bundle.h). Only this file depends on it. */
#include "graph/restore.h"

#include <stdlib.h>

#if __has_include("formats/tf_bundle.h")
#include "formats/tf_bundle.h"
#define SP_HAVE_BUNDLE 1
#endif

int sp_graph_can_restore(void) {
#ifdef SP_HAVE_BUNDLE
  return 1;
#else
  return 0;
#endif
}

sp_status sp_graph_restore_tensors(const char *prefix, size_t count, const char *const *keys, const sp_dtype *dtypes,
                                   sp_tensor **tensors) {
  for (size_t i = 0; i < count; i++) tensors[i] = NULL;
#ifdef SP_HAVE_BUNDLE
  (void)keys;
  (void)dtypes;
  return sp_fail(SP_ERROR_INTERNAL, "restore not wired");
#else
  (void)keys;
  (void)dtypes;
  return sp_fail(SP_ERROR_UNSUPPORTED,
                 "restoring variables from '%s' needs the tensor-bundle reader, which this build lacks", prefix);
#endif
}
