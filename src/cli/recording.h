/* recording.h — the one way the commands that write models (demo, convert) record what they
 * wrote in the artifact registry: open the registry the user configured (--registry URL, else
 * $SAVEPOINT_REGISTRY), begin a run for the command, record each file with its hashes, format,
 * producer, signature and metrics, end the run.
 *
 * With no registry configured every call succeeds and records nothing (recorder.registry is
 * NULL), so a command calls these unconditionally.
 */
#ifndef SP_CLI_RECORDING_H
#define SP_CLI_RECORDING_H

#include <stdint.h>

#include "core/status.h"
#include "savepoint/model.h"
#include "savepoint/registry.h"

typedef struct sp_cli_recorder {
  sp_registry *registry; /* NULL: recording is off */
  int64_t run_id;
} sp_cli_recorder;

/* Opens url (NULL: $SAVEPOINT_REGISTRY) and begins a run for argv. hyperparameters_json may be NULL. */
sp_status sp_cli_recorder_open(sp_cli_recorder *recorder, const char *url, int argc, char **argv,
                               const char *hyperparameters_json) SP_MUST_CHECK;
/* Ends the run ("completed" when status is SP_OK, else "failed") and closes the registry. */
void sp_cli_recorder_close(sp_cli_recorder *recorder, sp_status status, const char *metrics_json);

/* What is being recorded; zero fields mean "none". */
typedef struct sp_cli_recording {
  const char *path;          /* the file or directory written */
  sp_artifact_kind kind;
  const sp_model *model;     /* gives the signature (inputs/outputs with dtypes and shapes) */
  const char *name;          /* model name; NULL: the model's */
  int64_t version;           /* serving version directory number */
  const char *metrics_json;
  int64_t parent_id;         /* the artifact it was converted from */
} sp_cli_recording;

/* Records an artifact savepoint wrote; the format comes from what the path holds. */
sp_status sp_cli_record(sp_cli_recorder *recorder, const sp_cli_recording *recording, int64_t *artifact_id) SP_MUST_CHECK;

/* The artifact recorded for a model file a command read (the newest with its path and hash), or
 * a new record of it (producer from the file: "keras 3.7.0", or "unknown"). */
sp_status sp_cli_record_source(sp_cli_recorder *recorder, const char *path, int64_t *artifact_id) SP_MUST_CHECK;

#endif
