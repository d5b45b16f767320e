/* manager.c — the checkpoint manager (see savepoint/checkpoint.h and ckpt/manager.h).
 *
 * A save goes through these steps; after a crash at any point the directory is consistent:
 *   1. reserve: the ownership manifest gets a "pending" entry (so files under that name are ours);
 *   2. write the bundle: data files then the index, each under a temporary name, fsynced and
 *      renamed (formats/tf_bundle.c): the index is the commit point;
 *   3. write the sidecar manifest <name>.sha256 (what `savepoint verify` and sha256sum -c check);
 *   4. decide retention, replace the `checkpoint` state file (atomic): the new checkpoint becomes
 *      the latest only now, when it is durable;
 *   5. rewrite the ownership manifest: the entry is complete, evicted ones are "deleting";
 *   6. record the checkpoint in the registry, delete the evicted checkpoints' files, record each
 *      deletion.
 * A crash before 4 leaves the previous state file, which names complete checkpoints only; the
 * next manager removes the pending entry's files. A crash during 6 leaves "deleting" entries that
 * the next manager finishes. Retention only ever removes files listed by an owned entry.
 *
 * Threads: with async, steps 1–6 run on one writer thread while training continues. While a save
 * is in flight the writer owns the manager's state; every public function other than save first
 * waits for it. The values are copied on the training thread (sp_checkpoint_snapshot_capture),
 * into buffers reused from save to save.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/manager.h"
#include "core/file.h"
#include "core/memory.h"
#include "formats/checkpoint_state.h"
#include "formats/tf_bundle.h"
#include "formats/tf_checkpoint.h"
#include "savepoint/manifest.h"
#include "savepoint/version.h"

typedef struct save_job {
  char *name;
  int64_t number, step;
  double timestamp;
  int has_metric;
  double metric;
} save_job;

struct sp_checkpoint_manager {
  char *directory;
  sp_checkpoint_manager_options options;
  char *checkpoint_name;
  int lock_fd;
  sp_checkpoint_ownership known; /* every checkpoint: owned and adopted, oldest first */
  int64_t last_saved_step;
  int has_last_step;
  int manifest_stale;            /* entries were forgotten since the manifest was last written */
  /* the save in flight */
  pthread_t writer;
  int writer_started, busy, stopping;
  pthread_mutex_t mutex;
  pthread_cond_t changed;
  sp_status failure;
  char *failure_message;
  sp_checkpoint_snapshot *snapshot;
  save_job job;
};

sp_checkpoint_manager_options sp_checkpoint_manager_defaults(void) {
  sp_checkpoint_manager_options options = {0};
  options.max_to_keep = 5;
  options.checkpoint_name = "ckpt";
  options.include_optimizer = 1;
  return options;
}

static double now(const sp_checkpoint_manager *manager) {
  if (manager->options.clock) return manager->options.clock(manager->options.clock_context);
  struct timespec time;
  clock_gettime(CLOCK_REALTIME, &time);
  return (double)time.tv_sec + (double)time.tv_nsec * 1e-9;
}

/* ======================================================================================
 * Entries
 * ====================================================================================== */

static int find_entry(const sp_checkpoint_manager *manager, const char *name) {
  for (size_t i = 0; i < manager->known.count; i++)
    if (strcmp(manager->known.entries[i].name, name) == 0) return (int)i;
  return -1;
}

static void remove_entry(sp_checkpoint_manager *manager, size_t index) {
  sp_checkpoint_ownership *known = &manager->known;
  sp_checkpoint_entry_release(&known->entries[index]);
  memmove(&known->entries[index], &known->entries[index + 1], (known->count - index - 1) * sizeof *known->entries);
  known->count--;
}

static sp_status append_entry(sp_checkpoint_manager *manager, const char *name, sp_checkpoint_entry **entry) {
  sp_checkpoint_ownership *known = &manager->known;
  SP_TRY(SP_RESERVE(known->entries, known->capacity, known->count + 1));
  sp_checkpoint_entry *added = &known->entries[known->count];
  memset(added, 0, sizeof *added);
  added->name = sp_strdup(name);
  added->checkpoint_name = sp_strdup(manager->checkpoint_name);
  added->prefix = sp_path_join(manager->directory, name);
  added->step = added->number = -1;
  if (!added->name || !added->checkpoint_name || !added->prefix) {
    sp_checkpoint_entry_release(added);
    return SP_ERROR_NO_MEMORY;
  }
  known->count++;
  *entry = added;
  return SP_OK;
}

/* The n of "<checkpoint_name>-<n>", or -1. */
static int64_t number_of(const char *checkpoint_name, const char *name) {
  size_t length = strlen(checkpoint_name);
  if (strncmp(name, checkpoint_name, length) != 0 || name[length] != '-') return -1;
  const char *digits = name + length + 1;
  if (*digits < '0' || *digits > '9') return -1;
  char *end;
  long long value = strtoll(digits, &end, 10);
  return *end == '\0' ? (int64_t)value : -1;
}

static int compare_entries(const void *a, const void *b) {
  const sp_checkpoint_entry *x = a, *y = b;
  if (x->timestamp != y->timestamp) return x->timestamp < y->timestamp ? -1 : 1;
  return x->number < y->number ? -1 : x->number > y->number;
}

static int visible(const sp_checkpoint_entry *entry) { return entry->status == SP_ENTRY_COMPLETE; }

/* ======================================================================================
 * Files
 * ====================================================================================== */

/* Removes the files an owned entry lists (only those). A file already gone is fine. */
static sp_status delete_entry_files(const sp_checkpoint_manager *manager, const sp_checkpoint_entry *entry) {
  sp_status status = SP_OK;
  for (size_t i = 0; i < entry->file_count; i++) {
    char *path = sp_path_join(manager->directory, entry->files[i]);
    if (!path) return SP_ERROR_NO_MEMORY;
    if (unlink(path) != 0 && errno != ENOENT && status == SP_OK)
      status = sp_fail(SP_ERROR_IO, "cannot remove '%s' (checkpoint '%s'): %s", path, entry->name, strerror(errno));
    free(path);
  }
  return status;
}

/* The names the bundle writer publishes for a single-shard checkpoint. */
static sp_status list_bundle_files(sp_checkpoint_entry *entry) {
  char *data = sp_bundle_data_path(entry->name, 0, 1), *index = sp_bundle_index_path(entry->name);
  sp_status status = data && index ? sp_checkpoint_entry_add_file(entry, data) : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = sp_checkpoint_entry_add_file(entry, index);
  free(data);
  free(index);
  return status;
}

static int any_file_exists(const char *prefix) {
  const char *suffixes[] = {".index", ".data-00000-of-00001", SP_MANIFEST_SIDECAR_SUFFIX};
  for (size_t i = 0; i < 3; i++) {
    char *path = sp_strdupf("%s%s", prefix, suffixes[i]);
    int exists = path && sp_path_exists(path);
    free(path);
    if (exists) return 1;
  }
  return 0;
}

static sp_status write_manifest(sp_checkpoint_manager *manager) {
  manager->manifest_stale = 0;
  return sp_error_context(sp_checkpoint_ownership_write(manager->directory, &manager->known),
                          "recording the checkpoints of '%s'", manager->directory);
}

/* The state file names the active checkpoints, oldest first, relative to the directory. */
static sp_status write_state(sp_checkpoint_manager *manager) {
  sp_checkpoint_state state = {0};
  size_t active = 0;
  for (size_t i = 0; i < manager->known.count; i++) active += manager->known.entries[i].active;
  state.all_model_checkpoint_paths = sp_alloc_zeroed(active + 1, sizeof(char *));
  state.all_model_checkpoint_timestamps = sp_alloc_zeroed(active + 1, sizeof(double));
  if (!state.all_model_checkpoint_paths || !state.all_model_checkpoint_timestamps) {
    free(state.all_model_checkpoint_paths);
    free(state.all_model_checkpoint_timestamps);
    return SP_ERROR_NO_MEMORY;
  }
  for (size_t i = 0; i < manager->known.count; i++) {
    const sp_checkpoint_entry *entry = &manager->known.entries[i];
    if (!entry->active) continue;
    state.all_model_checkpoint_paths[state.path_count++] = entry->owned ? entry->name : entry->prefix;
    state.all_model_checkpoint_timestamps[state.timestamp_count++] = entry->timestamp;
  }
  state.model_checkpoint_path = state.path_count ? state.all_model_checkpoint_paths[state.path_count - 1] : "";
  state.last_preserved_timestamp = manager->known.last_preserved_timestamp;
  sp_status status = sp_checkpoint_state_write(manager->directory, &state);
  free(state.all_model_checkpoint_paths);
  free(state.all_model_checkpoint_timestamps);
  return status;
}

/* ======================================================================================
 * Retention
 * ====================================================================================== */

static int better(const sp_checkpoint_manager *manager, const sp_checkpoint_entry *a, const sp_checkpoint_entry *b) {
  return manager->options.mode == SP_CHECKPOINT_MODE_MAX ? a->metric > b->metric : a->metric < b->metric;
}

/* Marks the keep_best best owned checkpoints by metric (ties: the newer one wins). */
static void mark_best(sp_checkpoint_manager *manager) {
  sp_checkpoint_ownership *known = &manager->known;
  for (size_t i = 0; i < known->count; i++) known->entries[i].best = 0;
  for (int k = 0; k < manager->options.keep_best; k++) {
    sp_checkpoint_entry *choice = NULL;
    for (size_t i = 0; i < known->count; i++) {
      sp_checkpoint_entry *entry = &known->entries[i];
      if (!entry->owned || !visible(entry) || !entry->has_metric || entry->best) continue;
      if (!choice || !better(manager, choice, entry)) choice = entry;
    }
    if (!choice) break;
    choice->best = 1;
  }
}

/* tf.train.CheckpointManager._sweep, extended with keep-best: the oldest active checkpoints leave
 * the active set until max_to_keep remain; one at least keep_checkpoint_every_n_hours after the
 * last preserved one is preserved; owned checkpoints neither active, best nor preserved are
 * marked for deletion; adopted (foreign) ones are simply no longer managed. */
static void decide_retention(sp_checkpoint_manager *manager) {
  sp_checkpoint_ownership *known = &manager->known;
  const sp_checkpoint_manager_options *options = &manager->options;
  size_t active = 0;
  for (size_t i = 0; i < known->count; i++) active += known->entries[i].active;
  for (size_t i = 0; options->max_to_keep > 0 && i < known->count && active > (size_t)options->max_to_keep; i++) {
    sp_checkpoint_entry *entry = &known->entries[i];
    if (!entry->active) continue;
    entry->active = 0;
    active--;
    double hours = options->keep_checkpoint_every_n_hours;
    if (hours > 0 && entry->owned && entry->timestamp - hours * 3600.0 >= known->last_preserved_timestamp) {
      entry->preserved = 1;
      known->last_preserved_timestamp = entry->timestamp;
    }
  }
  mark_best(manager);
  for (size_t i = 0; i < known->count; i++) {
    sp_checkpoint_entry *entry = &known->entries[i];
    int kept = entry->active || entry->preserved || entry->best;
    if (!kept && entry->status == SP_ENTRY_COMPLETE) entry->status = SP_ENTRY_DELETING;
  }
}

/* The retention flags of every entry, to undo a decision whose state file could not be written. */
typedef struct retention_flags {
  int active, preserved;
  sp_entry_status status;
} retention_flags;

static retention_flags *save_flags(const sp_checkpoint_manager *manager, double *last_preserved) {
  retention_flags *flags = sp_alloc_zeroed(manager->known.count + 1, sizeof *flags);
  for (size_t i = 0; flags && i < manager->known.count; i++) {
    const sp_checkpoint_entry *entry = &manager->known.entries[i];
    flags[i] = (retention_flags){entry->active, entry->preserved, entry->status};
  }
  *last_preserved = manager->known.last_preserved_timestamp;
  return flags;
}

static void restore_flags(sp_checkpoint_manager *manager, const retention_flags *flags, double last_preserved) {
  for (size_t i = 0; i < manager->known.count; i++) {
    sp_checkpoint_entry *entry = &manager->known.entries[i];
    entry->active = flags[i].active;
    entry->preserved = flags[i].preserved;
    entry->status = flags[i].status;
  }
  manager->known.last_preserved_timestamp = last_preserved;
  mark_best(manager);
}

static void record_deletion(sp_checkpoint_manager *manager, const sp_checkpoint_entry *entry) {
  if (!manager->options.registry) return;
  char reason[160];
  snprintf(reason, sizeof reason, "checkpoint retention: max_to_keep=%d, keep_best=%d", manager->options.max_to_keep,
           manager->options.keep_best);
  /* A registry that cannot record a deletion must not stop retention; the files are gone either way
   * and `savepoint registry gc` records what is missing. */
  if (sp_registry_record_deletion(manager->options.registry, entry->prefix, reason) != SP_OK)
    fprintf(stderr, "savepoint: warning: %s\n", sp_last_error());
}

/* Deletes the files of owned entries marked for deletion and forgets them; adopted (foreign)
 * entries marked so are only forgotten. */
static sp_status delete_marked(sp_checkpoint_manager *manager) {
  sp_status status = SP_OK;
  int deleted = 0;
  for (size_t i = 0; i < manager->known.count;) {
    sp_checkpoint_entry *entry = &manager->known.entries[i];
    if (entry->status != SP_ENTRY_DELETING) {
      i++;
      continue;
    }
    if (!entry->owned) {
      remove_entry(manager, i);
      continue;
    }
    sp_status removed = delete_entry_files(manager, entry);
    if (removed != SP_OK) {
      if (status == SP_OK) status = removed;
      i++;
      continue;
    }
    record_deletion(manager, entry);
    remove_entry(manager, i);
    deleted = manager->manifest_stale = 1;
  }
  if (deleted && status == SP_OK) status = sp_fsync_directory(manager->directory);
  return status;
}

/* Persists a retention decision: state file, then manifest, then deletions. */
static sp_status commit_retention(sp_checkpoint_manager *manager) {
  SP_TRY(write_state(manager));
  SP_TRY(write_manifest(manager));
  return delete_marked(manager);
}

/* ======================================================================================
 * Opening: adopt the manifest and the state file
 * ====================================================================================== */

static sp_status take_lock(sp_checkpoint_manager *manager) {
  manager->lock_fd = open(manager->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (manager->lock_fd < 0)
    return sp_fail(SP_ERROR_IO, "cannot open checkpoint directory '%s': %s", manager->directory, strerror(errno));
  if (flock(manager->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    return sp_fail(error == EWOULDBLOCK ? SP_ERROR_EXISTS : SP_ERROR_IO,
                   "checkpoint directory '%s' is in use by another checkpoint manager (%s)", manager->directory,
                   error == EWOULDBLOCK ? "it holds the directory's lock" : strerror(error));
  }
  return SP_OK;
}

/* 1 when the state file lists name: its save got past step 4, so it is durable and complete. */
static int listed_in_state(const sp_checkpoint_state *state, const char *name) {
  if (!state) return 0;
  if (strcmp(sp_path_basename(state->model_checkpoint_path), name) == 0) return 1;
  for (size_t i = 0; i < state->path_count; i++)
    if (strcmp(sp_path_basename(state->all_model_checkpoint_paths[i]), name) == 0) return 1;
  return 0;
}

/* What an earlier manager left unfinished: pending saves and deletions. A pending save that the
 * state file already names was killed between steps 4 and 5: it is complete. Any other pending
 * save never committed: its files (the sidecar too, which step 3 may have written) are removed. */
static void finish_interrupted(sp_checkpoint_manager *manager, int *changed) {
  sp_checkpoint_state *state = NULL;
  if (sp_checkpoint_state_read(manager->directory, &state) != SP_OK) state = NULL;
  for (size_t i = 0; i < manager->known.count; i++) {
    sp_checkpoint_entry *entry = &manager->known.entries[i];
    if (entry->status != SP_ENTRY_PENDING) continue;
    int committed = listed_in_state(state, entry->name) && sp_checkpoint_exists(entry->prefix);
    entry->status = committed ? SP_ENTRY_COMPLETE : SP_ENTRY_DELETING;
    if (entry->file_count == 0) (void)list_bundle_files(entry); /* reserved before its files were listed */
    char *sidecar = sp_strdupf("%s%s", entry->name, SP_MANIFEST_SIDECAR_SUFFIX);
    sp_status ignored = sidecar ? sp_checkpoint_entry_add_file(entry, sidecar) : SP_ERROR_NO_MEMORY;
    (void)ignored; /* without it, the sidecar is left behind: harmless, and only under memory failure */
    free(sidecar);
    *changed = 1;
  }
  sp_checkpoint_state_free(state);
}

/* An owned checkpoint whose index someone removed can no longer be restored: forget it. */
static void forget_missing(sp_checkpoint_manager *manager, int *changed) {
  for (size_t i = 0; i < manager->known.count;) {
    sp_checkpoint_entry *entry = &manager->known.entries[i];
    if (entry->status == SP_ENTRY_COMPLETE && !sp_checkpoint_exists(entry->prefix)) {
      remove_entry(manager, i);
      *changed = 1;
      continue;
    }
    i++;
  }
}

static sp_status adopt_path(sp_checkpoint_manager *manager, const char *path, double timestamp) {
  const char *name = sp_path_basename(path);
  char *resolved = path[0] == '/' ? sp_strdup(path) : sp_path_join(manager->directory, path);
  char *parent = resolved ? sp_path_dirname(resolved) : NULL;
  int here = parent && strcmp(parent, manager->directory) == 0;
  free(parent);
  if (!resolved) return SP_ERROR_NO_MEMORY;
  int index = here ? find_entry(manager, name) : -1;
  if (index >= 0 && manager->known.entries[index].owned) {
    manager->known.entries[index].active = visible(&manager->known.entries[index]);
    free(resolved);
    return SP_OK;
  }
  if (index >= 0 || !sp_checkpoint_exists(resolved)) { /* listed twice, or gone */
    free(resolved);
    return SP_OK;
  }
  sp_checkpoint_entry *entry;
  sp_status status = append_entry(manager, here ? name : path, &entry);
  if (status == SP_OK) {
    free(entry->prefix);
    entry->prefix = resolved;
    entry->number = number_of(manager->checkpoint_name, name);
    entry->timestamp = timestamp;
    entry->active = 1;
  } else {
    free(resolved);
  }
  return status;
}

static sp_status adopt_state(sp_checkpoint_manager *manager) {
  sp_checkpoint_state *state;
  sp_status status = sp_checkpoint_state_read(manager->directory, &state);
  if (status == SP_ERROR_NOT_FOUND) return SP_OK;
  SP_TRY(sp_error_context(status, "adopting checkpoint directory '%s'", manager->directory));
  int latest_listed = 0;
  for (size_t i = 0; status == SP_OK && i < state->path_count; i++) {
    double timestamp = i < state->timestamp_count ? state->all_model_checkpoint_timestamps[i] : 0;
    status = adopt_path(manager, state->all_model_checkpoint_paths[i], timestamp);
    latest_listed |= strcmp(state->all_model_checkpoint_paths[i], state->model_checkpoint_path) == 0;
  }
  if (status == SP_OK && !latest_listed && *state->model_checkpoint_path)
    status = adopt_path(manager, state->model_checkpoint_path, 0);
  if (state->last_preserved_timestamp > 0) manager->known.last_preserved_timestamp = state->last_preserved_timestamp;
  sp_checkpoint_state_free(state);
  return status;
}

/* Numbering continues after every number in use: manifest, state file, and files on disk. */
static sp_status continue_numbering(sp_checkpoint_manager *manager) {
  int64_t next = manager->known.next_number > 0 ? manager->known.next_number : 1;
  for (size_t i = 0; i < manager->known.count; i++)
    if (manager->known.entries[i].number >= next) next = manager->known.entries[i].number + 1;
  DIR *directory = opendir(manager->directory);
  if (!directory) return sp_fail(SP_ERROR_IO, "cannot list '%s': %s", manager->directory, strerror(errno));
  struct dirent *item;
  while ((item = readdir(directory)) != NULL) {
    if (!sp_path_has_suffix(item->d_name, ".index")) continue;
    char *stem = sp_strndup(item->d_name, strlen(item->d_name) - strlen(".index"));
    int64_t number = stem ? number_of(manager->checkpoint_name, stem) : -1;
    free(stem);
    if (number >= next) next = number + 1;
  }
  closedir(directory);
  manager->known.next_number = next;
  return SP_OK;
}

static void record_policy(sp_checkpoint_manager *manager) {
  sp_checkpoint_policy *policy = &manager->known.policy;
  free(policy->checkpoint_name);
  policy->checkpoint_name = sp_strdup(manager->checkpoint_name);
  policy->max_to_keep = manager->options.max_to_keep;
  policy->keep_checkpoint_every_n_hours = manager->options.keep_checkpoint_every_n_hours;
  policy->keep_best = manager->options.keep_best;
  policy->mode = manager->options.mode;
  manager->known.has_policy = policy->checkpoint_name != NULL;
}

static sp_status adopt(sp_checkpoint_manager *manager) {
  SP_TRY(sp_checkpoint_ownership_read(manager->directory, &manager->known));
  int changed = 0;
  if (!manager->options.read_only) finish_interrupted(manager, &changed);
  forget_missing(manager, &changed);
  SP_TRY(adopt_state(manager));
  if (manager->known.count > 1)
    qsort(manager->known.entries, manager->known.count, sizeof *manager->known.entries, compare_entries);
  SP_TRY(continue_numbering(manager));
  if (manager->known.last_preserved_timestamp <= 0) manager->known.last_preserved_timestamp = now(manager);
  mark_best(manager);
  if (manager->options.read_only) return SP_OK;
  record_policy(manager);
  if (changed) SP_TRY(write_manifest(manager));
  return delete_marked(manager);
}

static sp_status check_options(const char *directory, const sp_checkpoint_manager_options *options) {
  const char *name = options->checkpoint_name;
  if (!directory || !*directory) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "a checkpoint manager needs a directory");
  if (!name || !*name || strchr(name, '/') || name[0] == '.')
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "checkpoint_name must be a plain file name, not '%s'", name ? name : "");
  if (options->max_to_keep < 0 || options->keep_best < 0 || options->keep_checkpoint_every_n_hours < 0 ||
      options->checkpoint_interval < 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT,
                   "max_to_keep, keep_best, keep_checkpoint_every_n_hours and checkpoint_interval cannot be negative");
  return SP_OK;
}

static void manager_free(sp_checkpoint_manager *manager);

sp_status sp_checkpoint_manager_open(const char *directory, const sp_checkpoint_manager_options *options,
                                     sp_checkpoint_manager **result) {
  *result = NULL;
  sp_checkpoint_manager_options defaults = sp_checkpoint_manager_defaults();
  if (!options) options = &defaults;
  SP_TRY(check_options(directory, options));
  sp_checkpoint_manager *manager = sp_alloc_zeroed(1, sizeof *manager);
  if (!manager) return SP_ERROR_NO_MEMORY;
  manager->lock_fd = -1;
  manager->options = *options;
  manager->directory = sp_strdup(directory);
  manager->checkpoint_name = sp_strdup(options->checkpoint_name);
  manager->options.checkpoint_name = manager->checkpoint_name;
  pthread_mutex_init(&manager->mutex, NULL);
  pthread_cond_init(&manager->changed, NULL);
  sp_status status = manager->directory && manager->checkpoint_name ? SP_OK : SP_ERROR_NO_MEMORY;
  if (status == SP_OK && !options->read_only) status = sp_make_directories(directory);
  if (status == SP_OK && options->read_only && !sp_is_directory(directory))
    status = sp_fail(SP_ERROR_NOT_FOUND, "no checkpoint directory '%s'", directory);
  if (status == SP_OK && !options->read_only) status = take_lock(manager);
  if (status == SP_OK) status = adopt(manager);
  if (status != SP_OK) {
    manager_free(manager);
    return sp_error_context(status, "opening checkpoint directory '%s'", directory);
  }
  *result = manager;
  return SP_OK;
}

/* ======================================================================================
 * Saving
 * ====================================================================================== */

/* A save that failed: remove whatever it published under its name (ours: the entry was pending
 * and no foreign file had the name) and forget it. The first error is what the caller sees. */
static void abandon_save(sp_checkpoint_manager *manager, const char *name) {
  int index = find_entry(manager, name);
  if (index < 0) return;
  sp_checkpoint_entry *entry = &manager->known.entries[index];
  char *sidecar = sp_strdupf("%s%s", name, SP_MANIFEST_SIDECAR_SUFFIX);
  sp_status ignored = sidecar ? sp_checkpoint_entry_add_file(entry, sidecar) : SP_ERROR_NO_MEMORY;
  free(sidecar);
  ignored = delete_entry_files(manager, entry);
  remove_entry(manager, (size_t)index);
  ignored = sp_checkpoint_ownership_write(manager->directory, &manager->known); /* else the next open cleans up */
  (void)ignored;
}

static void record_checkpoint(sp_checkpoint_manager *manager, const sp_checkpoint_entry *entry,
                              const sp_manifest *manifest) {
  if (!manager->options.registry) return;
  char metrics[96];
  if (entry->has_metric) snprintf(metrics, sizeof metrics, "{\"metric\": %.17g}", entry->metric);
  sp_artifact_record record = {0};
  record.run_id = manager->options.registry_run_id;
  record.kind = SP_ARTIFACT_CHECKPOINT;
  record.name = manager->checkpoint_name;
  record.format = "tf_checkpoint";
  record.producer = "savepoint";
  record.producer_version = SP_VERSION;
  record.path = entry->prefix;
  record.manifest = manifest;
  record.metrics_json = entry->has_metric ? metrics : NULL;
  if (sp_registry_record_artifact(manager->options.registry, &record, NULL) != SP_OK)
    fprintf(stderr, "savepoint: warning: checkpoint '%s' is saved, but recording it in the registry failed: %s\n",
            entry->prefix, sp_last_error());
}

/* Step 3: the sidecar manifest, and the entry's file list from it. */
static sp_status write_sidecar(sp_checkpoint_entry *entry, sp_manifest **manifest) {
  SP_TRY(sp_error_context(sp_manifest_create(entry->prefix, manifest), "checkpoint '%s'", entry->prefix));
  for (size_t f = 0; f < entry->file_count; f++) free(entry->files[f]);
  entry->file_count = 0;
  sp_status status = SP_OK;
  for (size_t f = 0; status == SP_OK && f < (*manifest)->count; f++)
    status = sp_checkpoint_entry_add_file(entry, (*manifest)->entries[f].path);
  char *sidecar = sp_strdupf("%s%s", entry->name, SP_MANIFEST_SIDECAR_SUFFIX);
  if (status == SP_OK) status = sidecar ? sp_checkpoint_entry_add_file(entry, sidecar) : SP_ERROR_NO_MEMORY;
  free(sidecar);
  return status;
}

/* Steps 4–6 once the bundle is published. *committed tells whether the state file names the
 * new checkpoint (after that, a failure no longer undoes the save). */
static sp_status complete_save(sp_checkpoint_manager *manager, const char *name, int *committed) {
  *committed = 0;
  sp_checkpoint_entry *entry = &manager->known.entries[find_entry(manager, name)];
  sp_manifest *manifest = NULL;
  sp_status status = write_sidecar(entry, &manifest);
  double last_preserved;
  retention_flags *flags = status == SP_OK ? save_flags(manager, &last_preserved) : NULL;
  if (status == SP_OK && !flags) status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK) {
    entry->status = SP_ENTRY_COMPLETE;
    entry->active = 1;
    decide_retention(manager);
    status = write_state(manager);
    if (status != SP_OK) restore_flags(manager, flags, last_preserved);
    *committed = status == SP_OK;
  }
  free(flags);
  if (status == SP_OK) status = write_manifest(manager);
  if (status == SP_OK) {
    record_checkpoint(manager, &manager->known.entries[find_entry(manager, name)], manifest);
    status = delete_marked(manager);
  }
  sp_manifest_free(manifest);
  return status;
}

/* A checkpoint of the same name that this manager wrote before is replaced: it leaves the state
 * file and its files are removed before the new ones are written. */
static sp_status drop_previous(sp_checkpoint_manager *manager, const char *name) {
  int index = find_entry(manager, name);
  if (index < 0) return SP_OK;
  sp_checkpoint_entry *entry = &manager->known.entries[index];
  entry->active = 0;
  entry->status = SP_ENTRY_DELETING;
  return commit_retention(manager);
}

static sp_status run_save(sp_checkpoint_manager *manager) {
  const save_job *job = &manager->job;
  SP_TRY(drop_previous(manager, job->name));
  sp_checkpoint_entry *entry;
  SP_TRY(append_entry(manager, job->name, &entry));
  entry->owned = 1;
  entry->status = SP_ENTRY_PENDING;
  entry->number = job->number;
  entry->step = job->step;
  entry->timestamp = job->timestamp;
  entry->has_metric = job->has_metric;
  entry->metric = job->metric;
  if (job->number >= manager->known.next_number) manager->known.next_number = job->number + 1;
  sp_status status = list_bundle_files(entry);
  char *prefix = sp_strdup(entry->prefix);
  if (!prefix) status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = write_manifest(manager);
  if (status == SP_OK) status = sp_checkpoint_snapshot_write(manager->snapshot, prefix);
  int committed = 0;
  if (status == SP_OK) status = complete_save(manager, job->name, &committed);
  if (status != SP_OK && !committed) abandon_save(manager, job->name);
  free(prefix);
  return sp_error_context(status, "saving checkpoint '%s/%s'", manager->directory, job->name);
}

static void *writer_main(void *argument) {
  sp_checkpoint_manager *manager = argument;
  pthread_mutex_lock(&manager->mutex);
  for (;;) {
    while (!manager->busy && !manager->stopping) pthread_cond_wait(&manager->changed, &manager->mutex);
    if (!manager->busy) break;
    pthread_mutex_unlock(&manager->mutex);
    sp_status status = run_save(manager);
    char *message = status != SP_OK ? sp_strdup(sp_last_error()) : NULL;
    pthread_mutex_lock(&manager->mutex);
    manager->failure = status;
    free(manager->failure_message);
    manager->failure_message = message;
    manager->busy = 0;
    pthread_cond_broadcast(&manager->changed);
  }
  pthread_mutex_unlock(&manager->mutex);
  return NULL;
}

/* Waits for the save in flight; returns (and clears) its failure. */
static sp_status finish_in_flight(sp_checkpoint_manager *manager) {
  if (!manager->writer_started) return SP_OK;
  pthread_mutex_lock(&manager->mutex);
  while (manager->busy) pthread_cond_wait(&manager->changed, &manager->mutex);
  sp_status status = manager->failure;
  char *message = manager->failure_message;
  manager->failure = SP_OK;
  manager->failure_message = NULL;
  pthread_mutex_unlock(&manager->mutex);
  if (status != SP_OK)
    sp_fail(status, "a checkpoint save that ran in the background failed: %s", message ? message : "(no message)");
  free(message);
  return status;
}

static void wait_idle(const sp_checkpoint_manager *manager) {
  sp_checkpoint_manager *mutable = (sp_checkpoint_manager *)manager; /* the lock is not state */
  if (!mutable->writer_started) return;
  pthread_mutex_lock(&mutable->mutex);
  while (mutable->busy) pthread_cond_wait(&mutable->changed, &mutable->mutex);
  pthread_mutex_unlock(&mutable->mutex);
}

static sp_status start_writer(sp_checkpoint_manager *manager) {
  if (manager->writer_started) return SP_OK;
  int error = pthread_create(&manager->writer, NULL, writer_main, manager);
  if (error != 0) return sp_fail(SP_ERROR_IO, "cannot start the checkpoint writer thread: %s", strerror(error));
  manager->writer_started = 1;
  return SP_OK;
}

/* The name of the next checkpoint, refusing names whose files this manager did not write. */
static sp_status choose_name(sp_checkpoint_manager *manager, int64_t step, char **name, int64_t *number) {
  *number = step >= 0 ? step : manager->known.next_number;
  *name = sp_strdupf("%s-%" PRId64, manager->checkpoint_name, *number);
  if (!*name) return SP_ERROR_NO_MEMORY;
  int index = find_entry(manager, *name);
  char *prefix = sp_path_join(manager->directory, *name);
  int foreign = index >= 0 ? !manager->known.entries[index].owned : (prefix && any_file_exists(prefix));
  free(prefix);
  if (!foreign) return SP_OK;
  sp_status status = sp_fail(SP_ERROR_EXISTS,
                             "checkpoint '%s/%s' exists and was not written by this checkpoint manager; refusing to "
                             "overwrite it (choose another step or checkpoint_name)",
                             manager->directory, *name);
  free(*name);
  *name = NULL;
  return status;
}

static sp_checkpoint_options snapshot_options(const sp_checkpoint_manager *manager, const sp_checkpoint_save_info *info) {
  sp_checkpoint_options options = sp_checkpoint_defaults();
  options.include_optimizer = manager->options.include_optimizer;
  options.save_counter = manager->job.number > 0 ? manager->job.number : 1;
  options.training_state = info ? info->training_state : NULL;
  return options;
}

sp_status sp_checkpoint_manager_save(sp_checkpoint_manager *manager, const sp_model *model,
                                     const sp_checkpoint_save_info *info, char **prefix) {
  if (prefix) *prefix = NULL;
  if (manager->options.read_only)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "checkpoint manager of '%s' was opened read-only", manager->directory);
  SP_TRY(finish_in_flight(manager));
  int64_t step = info ? info->step : -1;
  if (step >= 0 && manager->options.checkpoint_interval > 0 && manager->has_last_step &&
      step < manager->last_saved_step + manager->options.checkpoint_interval)
    return SP_OK;
  save_job *job = &manager->job;
  free(job->name);
  memset(job, 0, sizeof *job);
  SP_TRY(choose_name(manager, step, &job->name, &job->number));
  job->step = step;
  job->timestamp = now(manager);
  job->has_metric = info && info->has_metric;
  job->metric = info ? info->metric : 0;
  sp_checkpoint_options options = snapshot_options(manager, info);
  SP_TRY(sp_checkpoint_snapshot_capture(model, &options, manager->options.async, &manager->snapshot));
  sp_status status = SP_OK;
  if (manager->options.async) {
    SP_TRY(start_writer(manager));
    pthread_mutex_lock(&manager->mutex);
    manager->busy = 1;
    pthread_cond_broadcast(&manager->changed);
    pthread_mutex_unlock(&manager->mutex);
  } else {
    status = run_save(manager);
  }
  if (status != SP_OK) return status;
  if (step >= 0) {
    manager->last_saved_step = step;
    manager->has_last_step = 1;
  }
  if (prefix) {
    *prefix = sp_path_join(manager->directory, job->name);
    if (!*prefix) return SP_ERROR_NO_MEMORY;
  }
  return SP_OK;
}

sp_status sp_checkpoint_manager_prepare(sp_checkpoint_manager *manager, const sp_model *model) {
  if (!manager->options.async || manager->options.read_only) return SP_OK;
  SP_TRY(finish_in_flight(manager));
  sp_checkpoint_options options = snapshot_options(manager, NULL);
  return sp_checkpoint_snapshot_capture(model, &options, 1, &manager->snapshot);
}

sp_status sp_checkpoint_manager_wait(sp_checkpoint_manager *manager) { return finish_in_flight(manager); }

static void manager_free(sp_checkpoint_manager *manager) {
  if (manager->writer_started) {
    pthread_mutex_lock(&manager->mutex);
    manager->stopping = 1;
    pthread_cond_broadcast(&manager->changed);
    pthread_mutex_unlock(&manager->mutex);
    pthread_join(manager->writer, NULL);
  }
  if (manager->lock_fd >= 0) close(manager->lock_fd); /* releases the flock */
  sp_checkpoint_ownership_release(&manager->known);
  sp_checkpoint_snapshot_free(manager->snapshot);
  free(manager->job.name);
  free(manager->failure_message);
  free(manager->directory);
  free(manager->checkpoint_name);
  pthread_mutex_destroy(&manager->mutex);
  pthread_cond_destroy(&manager->changed);
  free(manager);
}

sp_status sp_checkpoint_manager_close(sp_checkpoint_manager *manager) {
  if (!manager) return SP_OK;
  sp_status status = finish_in_flight(manager);
  if (status == SP_OK && manager->manifest_stale && !manager->options.read_only) status = write_manifest(manager);
  manager_free(manager);
  return status;
}

/* ======================================================================================
 * Listing and maintenance
 * ====================================================================================== */

static const sp_checkpoint_entry *visible_entry(const sp_checkpoint_manager *manager, size_t index) {
  for (size_t i = 0; i < manager->known.count; i++) {
    const sp_checkpoint_entry *entry = &manager->known.entries[i];
    if (!visible(entry)) continue;
    if (index-- == 0) return entry;
  }
  return NULL;
}

size_t sp_checkpoint_manager_count(const sp_checkpoint_manager *manager) {
  wait_idle(manager);
  size_t count = 0;
  for (size_t i = 0; i < manager->known.count; i++) count += visible(&manager->known.entries[i]);
  return count;
}

sp_status sp_checkpoint_manager_get(const sp_checkpoint_manager *manager, size_t index, sp_checkpoint_info *info) {
  wait_idle(manager);
  const sp_checkpoint_entry *entry = visible_entry(manager, index);
  if (!entry) return sp_fail(SP_ERROR_NOT_FOUND, "checkpoint %zu of '%s' does not exist", index, manager->directory);
  info->prefix = entry->prefix;
  info->number = entry->number;
  info->step = entry->step;
  info->timestamp = entry->timestamp;
  info->has_metric = entry->has_metric;
  info->metric = entry->metric;
  info->owned = entry->owned;
  info->kept = (entry->active ? SP_CHECKPOINT_KEPT_RECENT : 0) | (entry->best ? SP_CHECKPOINT_KEPT_BEST : 0) |
               (entry->preserved ? SP_CHECKPOINT_KEPT_PRESERVED : 0);
  return SP_OK;
}

const char *sp_checkpoint_manager_directory(const sp_checkpoint_manager *manager) { return manager->directory; }

const char *sp_checkpoint_manager_latest(const sp_checkpoint_manager *manager) {
  wait_idle(manager);
  for (size_t i = manager->known.count; i > 0; i--)
    if (manager->known.entries[i - 1].active) return manager->known.entries[i - 1].prefix;
  return NULL;
}

sp_status sp_checkpoint_manager_prune(sp_checkpoint_manager *manager) {
  if (manager->options.read_only)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "checkpoint manager of '%s' was opened read-only", manager->directory);
  SP_TRY(finish_in_flight(manager));
  record_policy(manager);
  decide_retention(manager);
  return sp_error_context(commit_retention(manager), "pruning '%s'", manager->directory);
}

/* Temporary names of files this manager writes: its checkpoints, the state file, its manifest. */
static int our_temporary(const sp_checkpoint_manager *manager, const char *name) {
  if (!sp_path_is_temporary(name)) return 0;
  size_t length = strlen(manager->checkpoint_name);
  if (strncmp(name + 1, manager->checkpoint_name, length) == 0 && name[1 + length] == '-') return 1;
  return strncmp(name + 1, SP_CHECKPOINT_STATE_FILE ".tmp-", strlen(SP_CHECKPOINT_STATE_FILE ".tmp-")) == 0 ||
         strncmp(name + 1, SP_CHECKPOINT_MANIFEST_NAME ".tmp-", strlen(SP_CHECKPOINT_MANIFEST_NAME ".tmp-")) == 0;
}

sp_status sp_checkpoint_manager_remove_temporaries(sp_checkpoint_manager *manager, size_t *removed) {
  if (removed) *removed = 0;
  if (manager->options.read_only)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "checkpoint manager of '%s' was opened read-only", manager->directory);
  wait_idle(manager);
  DIR *directory = opendir(manager->directory);
  if (!directory) return sp_fail(SP_ERROR_IO, "cannot list '%s': %s", manager->directory, strerror(errno));
  sp_status status = SP_OK;
  struct dirent *item;
  while (status == SP_OK && (item = readdir(directory)) != NULL) {
    if (!our_temporary(manager, item->d_name)) continue;
    char *path = sp_path_join(manager->directory, item->d_name);
    if (!path) status = SP_ERROR_NO_MEMORY;
    else if (unlink(path) != 0 && errno != ENOENT)
      status = sp_fail(SP_ERROR_IO, "cannot remove '%s': %s", path, strerror(errno));
    else if (removed)
      (*removed)++;
    free(path);
  }
  closedir(directory);
  return status;
}
