/* artifact.c — probing what a command-line path holds (see artifact.h). */
#include "cli/artifact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "formats/checkpoint_state.h"
#include "formats/tf_bundle.h"

static sp_status found(sp_cli_artifact *artifact, sp_cli_artifact_kind kind, char *path, const char *description) {
  if (!path) return SP_ERROR_NO_MEMORY;
  artifact->kind = kind;
  artifact->path = path;
  artifact->description = description;
  return SP_OK;
}

static int file_in(const char *directory, const char *name) {
  char *path = sp_path_join(directory, name);
  int present = path && sp_is_regular_file(path);
  free(path);
  return present;
}

/* "<prefix>.data-00000-of-00001" → "<prefix>", when <prefix>.index exists. */
static char *prefix_of_data_file(const char *path) {
  const char *marker = strstr(path, ".data-");
  int shard, count, consumed = 0;
  if (!marker || sscanf(marker, ".data-%5d-of-%5d%n", &shard, &count, &consumed) != 2 || marker[consumed] != '\0')
    return NULL;
  char *prefix = sp_strndup(path, (size_t)(marker - path));
  char *index = prefix ? sp_bundle_index_path(prefix) : NULL;
  int present = index && sp_is_regular_file(index);
  free(index);
  if (!present) free(prefix);
  return present ? prefix : NULL;
}

static sp_status probe_directory(const char *path, sp_cli_artifact *artifact) {
  if (file_in(path, SP_CHECKPOINT_STATE_FILE)) {
    char *latest;
    sp_status status = sp_latest_checkpoint(path, &latest);
    if (status != SP_OK) return status;
    return found(artifact, SP_CLI_ARTIFACT_CHECKPOINT, latest, "a TensorFlow checkpoint");
  }
  if (file_in(path, "saved_model.pb") || file_in(path, "saved_model.pbtxt"))
    return found(artifact, SP_CLI_ARTIFACT_SAVED_MODEL, sp_strdup(path), "a SavedModel directory");
  if (file_in(path, "model.json"))
    return found(artifact, SP_CLI_ARTIFACT_TFJS, sp_strdup(path), "a TensorFlow.js model directory");
  return found(artifact, SP_CLI_ARTIFACT_UNKNOWN, sp_strdup(path),
               "a directory with no checkpoint state file, SavedModel or TensorFlow.js model");
}

static sp_status probe_file(const char *path, sp_cli_artifact *artifact) {
  static const unsigned char zip[] = {'P', 'K', 3, 4}, hdf5[] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  unsigned char head[8] = {0};
  FILE *file = fopen(path, "rb");
  size_t got = file ? fread(head, 1, sizeof head, file) : 0;
  if (file) fclose(file);
  if (got >= sizeof zip && memcmp(head, zip, sizeof zip) == 0)
    return found(artifact, SP_CLI_ARTIFACT_KERAS_ARCHIVE, sp_strdup(path), "a zip archive (Keras .keras file)");
  if (got == sizeof hdf5 && memcmp(head, hdf5, sizeof hdf5) == 0)
    return found(artifact, SP_CLI_ARTIFACT_HDF5, sp_strdup(path), "an HDF5 file (Keras .h5)");
  if (sp_path_has_suffix(path, ".json"))
    return found(artifact, SP_CLI_ARTIFACT_TFJS, sp_strdup(path), "a JSON file (TensorFlow.js model.json?)");
  return found(artifact, SP_CLI_ARTIFACT_UNKNOWN, sp_strdup(path), "a file savepoint does not recognise");
}

sp_status sp_cli_artifact_probe(const char *path, sp_cli_artifact *artifact) {
  memset(artifact, 0, sizeof *artifact);
  char *index = sp_bundle_index_path(path);
  if (!index) return SP_ERROR_NO_MEMORY;
  int is_prefix = sp_is_regular_file(index);
  free(index);
  if (is_prefix) return found(artifact, SP_CLI_ARTIFACT_CHECKPOINT, sp_strdup(path), "a TensorFlow checkpoint");
  if (sp_path_has_suffix(path, ".index") && sp_is_regular_file(path))
    return found(artifact, SP_CLI_ARTIFACT_CHECKPOINT, sp_strndup(path, strlen(path) - strlen(".index")),
                 "a TensorFlow checkpoint");
  char *prefix = prefix_of_data_file(path);
  if (prefix) return found(artifact, SP_CLI_ARTIFACT_CHECKPOINT, prefix, "a TensorFlow checkpoint");
  if (sp_is_directory(path)) return probe_directory(path, artifact);
  if (sp_path_exists(path)) return probe_file(path, artifact);
  return sp_fail(SP_ERROR_NOT_FOUND, "no such file, directory or checkpoint prefix '%s' (no '%s.index' either)", path,
                 path);
}

void sp_cli_artifact_free(sp_cli_artifact *artifact) {
  free(artifact->path);
  artifact->path = NULL;
}

int sp_cli_artifact_unsupported(const char *command, const sp_cli_artifact *artifact) {
  fprintf(stderr, "savepoint %s: '%s' is %s; 'savepoint %s' does not handle it yet\n", command, artifact->path,
          artifact->description, command);
  return 1;
}
