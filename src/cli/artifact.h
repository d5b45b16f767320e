/* artifact.h — what a path given on the command line holds, for the commands that accept
 * any model artifact (show, verify, …).
 *
 * One probe, by name and content, so every command answers the same way and says what a
 * path is when it cannot handle it. A checkpoint is resolved to its bundle prefix whether
 * the user gave the prefix, its .index or .data file, or a directory with a `checkpoint`
 * state file (then the latest checkpoint). Commands dispatch on kind; a format that gains
 * support adds a kind here (if new) and a handler in the command.
 */
#ifndef SP_CLI_ARTIFACT_H
#define SP_CLI_ARTIFACT_H

#include "savepoint/status.h"

typedef enum sp_cli_artifact_kind {
  SP_CLI_ARTIFACT_CHECKPOINT,    /* TF tensor bundle; path is the prefix */
  SP_CLI_ARTIFACT_SAVED_MODEL,   /* directory with saved_model.pb or saved_model.pbtxt */
  SP_CLI_ARTIFACT_KERAS_ARCHIVE, /* zip file (.keras) */
  SP_CLI_ARTIFACT_HDF5,          /* HDF5 file (.h5, .weights.h5) */
  SP_CLI_ARTIFACT_TFJS,          /* TF.js model.json or a directory holding one */
  SP_CLI_ARTIFACT_UNKNOWN
} sp_cli_artifact_kind;

typedef struct sp_cli_artifact {
  sp_cli_artifact_kind kind;
  char *path;              /* what to open: the bundle prefix for a checkpoint, else the path */
  const char *description; /* "a TensorFlow checkpoint", "a SavedModel directory", … */
} sp_cli_artifact;

/* Fails (SP_ERROR_NOT_FOUND) only when nothing exists at path or a checkpoint directory's
 * latest checkpoint is missing; anything else that exists gets a kind, maybe UNKNOWN. */
sp_status sp_cli_artifact_probe(const char *path, sp_cli_artifact *artifact);
void sp_cli_artifact_free(sp_cli_artifact *artifact);

/* "savepoint <command>: '<path>' is <description>; <command> does not handle it yet". Returns 1. */
int sp_cli_artifact_unsupported(const char *command, const sp_cli_artifact *artifact);

#endif
