/* probe.c — sp_probe: what a path holds, by name and content, without loading it.
 *
 * One answer for sp_load, `savepoint show`, `savepoint convert` and the server, so every
 * caller says the same thing about a path it cannot use. The codecs recognise their own
 * formats (codec.h probe); what follows them here names everything else a user is likely to
 * point a loader at — SavedModel directories, TF Serving base paths, checkpoints, TFLite
 * flatbuffers, stray zip or HDF5 files — so the message can say what to call instead.
 * Only the first bytes of a file are read (a few KiB), plus what a codec's probe opens.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/memory.h"
#include "formats/checkpoint_state.h"
#include "formats/codec.h"

enum { HEAD_BYTES = 4096 };

static const uint8_t hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
static const uint8_t bundle_footer_magic[8] = {0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb};

int sp_probe_is_hdf5(const sp_probe_input *input) {
  /* The superblock may follow a user block of 512, 1024, 2048 … bytes. */
  for (size_t offset = 0; input->head && offset + sizeof hdf5_signature <= input->head_size;
       offset = offset ? offset * 2 : 512)
    if (memcmp(input->head + offset, hdf5_signature, sizeof hdf5_signature) == 0) return 1;
  return 0;
}

int sp_probe_is_zip(const sp_probe_input *input) {
  return input->head && input->head_size >= 4 && input->head[0] == 'P' && input->head[1] == 'K' &&
         ((input->head[2] == 3 && input->head[3] == 4) || (input->head[2] == 5 && input->head[3] == 6));
}

int sp_probe_is_json_object(const sp_probe_input *input) {
  for (size_t i = 0; input->head && i < input->head_size; i++) {
    uint8_t c = input->head[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{';
  }
  return 0;
}

static int read_head(const char *path, uint8_t *head, size_t capacity, size_t *size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t got = read(fd, head, capacity);
  close(fd);
  if (got < 0) return 0;
  *size = (size_t)got;
  return 1;
}

static int tail_is_bundle_index(const char *path, uint64_t size) {
  uint8_t tail[8];
  if (size < 48) return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t got = pread(fd, tail, sizeof tail, (off_t)(size - sizeof tail));
  close(fd);
  return got == (ssize_t)sizeof tail && memcmp(tail, bundle_footer_magic, sizeof tail) == 0;
}

static int file_in(const char *directory, const char *name) {
  char *path = sp_path_join(directory, name);
  int present = path && sp_is_regular_file(path);
  free(path);
  return present;
}

/* A whole name of decimal digits as TF Serving accepts versions (SimpleAtoi into int64). */
static int parse_version(const char *name, long long *version) {
  if (!name[0] || strlen(name) > 18) return 0;
  for (const char *c = name; *c; c++)
    if (*c < '0' || *c > '9') return 0;
  *version = atoll(name);
  return 1;
}

static int probe_serving_base(const char *path, sp_probe_info *info) {
  DIR *directory = opendir(path);
  if (!directory) return 0;
  long long best = -1;
  char best_name[256] = "";
  int versions = 0;
  for (struct dirent *entry; (entry = readdir(directory));) {
    long long version;
    if (!parse_version(entry->d_name, &version)) continue;
    char *child = sp_path_join(path, entry->d_name);
    int is_directory = child && sp_is_directory(child);
    free(child);
    if (!is_directory) continue;
    versions++;
    if (version > best) {
      best = version;
      snprintf(best_name, sizeof best_name, "%s", entry->d_name);
    }
  }
  closedir(directory);
  if (versions == 0) return 0;
  info->format = SP_FORMAT_SERVING_BASE;
  sp_probe_set(info->resolved_path, sizeof info->resolved_path, "%s/%s", path, best_name);
  sp_probe_set(info->description, sizeof info->description,
               "a versioned model base path (TF Serving layout, %d version%s); the highest version is %lld", versions,
               versions == 1 ? "" : "s", best);
  return 1;
}

static void probe_directory(const char *path, sp_probe_info *info) {
  if (file_in(path, "saved_model.pb") || file_in(path, "saved_model.pbtxt")) {
    info->format = SP_FORMAT_SAVED_MODEL;
    info->has_model = info->has_weights = 1;
    sp_probe_set(info->description, sizeof info->description, "a SavedModel directory");
    return;
  }
  if (probe_serving_base(path, info)) return;
  if (file_in(path, SP_CHECKPOINT_STATE_FILE)) {
    char *latest = NULL;
    info->format = SP_FORMAT_CHECKPOINT;
    info->has_weights = 1;
    if (sp_latest_checkpoint(path, &latest) == SP_OK) {
      sp_probe_set(info->resolved_path, sizeof info->resolved_path, "%s", latest);
      sp_probe_set(info->description, sizeof info->description,
                   "a TensorFlow checkpoint directory; its 'checkpoint' file names the latest checkpoint '%s'", latest);
    } else {
      sp_probe_set(info->description, sizeof info->description,
                   "a TensorFlow checkpoint directory whose 'checkpoint' file names no usable checkpoint (%s)",
                   sp_last_error());
      sp_clear_error();
    }
    free(latest);
    return;
  }
  sp_probe_set(info->description, sizeof info->description,
               "a directory holding no model savepoint recognises (no saved_model.pb, config.json, model.json or "
               "checkpoint file)");
}

/* Name-based facts about a checkpoint file: "x.index" or "x.data-00000-of-00001" → prefix "x". */
static int checkpoint_prefix_of(const char *path, char *prefix, size_t capacity) {
  size_t length = strlen(path);
  if (sp_path_has_suffix(path, ".index")) {
    snprintf(prefix, capacity, "%.*s", (int)(length - 6), path);
    return 1;
  }
  const char *data = strstr(sp_path_basename(path), ".data-");
  unsigned shard, shards;
  char tail;
  if (data && sscanf(data, ".data-%5u-of-%5u%c", &shard, &shards, &tail) == 2) {
    snprintf(prefix, capacity, "%.*s", (int)(data - path), path);
    return 1;
  }
  return 0;
}

static void probe_file(const sp_probe_input *input, sp_probe_info *info) {
  const char *path = input->path;
  char prefix[4096];
  if (input->file_size == 0) {
    sp_probe_set(info->description, sizeof info->description, "an empty file");
    return;
  }
  if (input->head_size >= 8 && memcmp(input->head + 4, "TFL3", 4) == 0) {
    info->format = SP_FORMAT_TFLITE;
    info->has_model = info->has_weights = 1;
    sp_probe_set(info->description, sizeof info->description,
                 "a TensorFlow Lite flatbuffer (file identifier TFL3); savepoint reads and writes Keras and "
                 "TensorFlow formats, not TFLite");
    return;
  }
  if (checkpoint_prefix_of(path, prefix, sizeof prefix) &&
      (!sp_path_has_suffix(path, ".index") || tail_is_bundle_index(path, input->file_size))) {
    info->format = SP_FORMAT_CHECKPOINT;
    info->has_weights = 1;
    sp_probe_set(info->resolved_path, sizeof info->resolved_path, "%s", prefix);
    sp_probe_set(info->description, sizeof info->description,
                 "a file of the TensorFlow checkpoint '%s' (a checkpoint is named by its prefix)", prefix);
    return;
  }
  if (strcmp(sp_path_basename(path), "saved_model.pb") == 0 || strcmp(sp_path_basename(path), "saved_model.pbtxt") == 0) {
    char *directory = sp_path_dirname(path);
    info->format = SP_FORMAT_SAVED_MODEL;
    info->has_model = info->has_weights = 1;
    sp_probe_set(info->resolved_path, sizeof info->resolved_path, "%s", directory ? directory : ".");
    sp_probe_set(info->description, sizeof info->description,
                 "the graph file of the SavedModel directory '%s' (a SavedModel is loaded by its directory)",
                 directory ? directory : ".");
    free(directory);
    return;
  }
  if (sp_probe_is_hdf5(input)) {
    sp_probe_set(info->description, sizeof info->description,
                 "an HDF5 file holding no Keras model or weights (no model_config, layer_names, model_weights, "
                 "vars or layers)");
  } else if (sp_probe_is_zip(input)) {
    sp_probe_set(info->description, sizeof info->description,
                 "a zip archive that is not a Keras archive (it has no config.json)");
  } else if (sp_probe_is_json_object(input)) {
    sp_probe_set(info->description, sizeof info->description,
                 "a JSON file that is neither a Keras model config nor a TensorFlow.js layers model");
  } else {
    sp_probe_set(info->description, sizeof info->description,
                 "a file savepoint does not recognise (first bytes %02x %02x %02x %02x)", input->head[0],
                 input->head_size > 1 ? input->head[1] : 0, input->head_size > 2 ? input->head[2] : 0,
                 input->head_size > 3 ? input->head[3] : 0);
  }
}

sp_status sp_probe(const char *path, sp_probe_info *info) {
  memset(info, 0, sizeof *info);
  info->format = SP_FORMAT_UNKNOWN;
  if (!path || !path[0]) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "probing needs a path");
  sp_probe_set(info->resolved_path, sizeof info->resolved_path, "%s", path);
  struct stat status;
  if (stat(path, &status) != 0) {
    char *index = sp_strdupf("%s.index", path);
    int prefix = index && sp_is_regular_file(index);
    free(index);
    if (!prefix) return sp_fail(SP_ERROR_NOT_FOUND, "nothing exists at '%s'", path);
    info->format = SP_FORMAT_CHECKPOINT;
    info->has_weights = 1;
    sp_probe_set(info->description, sizeof info->description, "a TensorFlow checkpoint (the prefix of '%s.index')",
                 path);
    return SP_OK;
  }
  uint8_t head[HEAD_BYTES];
  sp_probe_input input = {.path = path, .is_directory = S_ISDIR(status.st_mode), .file_size = (uint64_t)status.st_size};
  if (!input.is_directory) {
    if (!S_ISREG(status.st_mode)) {
      sp_probe_set(info->description, sizeof info->description, "a special file (not a regular file or directory)");
      return SP_OK;
    }
    if (!read_head(path, head, sizeof head, &input.head_size))
      return sp_fail(SP_ERROR_IO, "cannot read '%s': %s", path, strerror(errno));
    input.head = head;
  }
  for (const sp_codec *const *codec = sp_codecs; *codec; codec++)
    if ((*codec)->probe && (*codec)->probe(&input, info)) return SP_OK;
  if (input.is_directory) probe_directory(path, info);
  else probe_file(&input, info);
  return SP_OK;
}
