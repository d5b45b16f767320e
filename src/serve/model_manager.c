/* model_manager.c — polling, readiness, verified loads, availability-preserving swaps and
 * reference-counted unloads of model versions (see model_manager.h for the rules).
 *
 * Locking: `lock` guards the models array, every version entry's state/loaded/error fields, the
 * pending config and the drained list. Only the manager thread (or start/free, before and after
 * it runs) changes the arrays or the fingerprint fields, so it may read them without the lock;
 * request threads read state under the lock and hold versions by reference count only.
 * Invariant: a loaded version's `references` counts the manager's hold (while AVAILABLE) plus one
 * per in-flight request; when it drops to zero the version is queued on `drained` and freed by
 * the manager thread, never by a request thread, so unloading costs requests nothing.
 */
#include "serve/model_manager.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/memory.h"
#include "savepoint/version.h"
#include "serve/sync.h"
#include "serve/json_tensor.h"
#include "serve/version_watch.h"

enum { MAX_POLL_ROUNDS = 4, MAX_ENDED_ENTRIES = 64 };

typedef struct version_entry {
  int64_t version;
  char *path;
  sp_version_state state; /* UNKNOWN: on disk but never wanted (not shown) */
  sp_status error;        /* the last load failure, SP_OK otherwise */
  char *error_message;
  int on_disk;
  sp_directory_fingerprint fingerprint; /* the last poll's */
  int fingerprinted, stable;
  char failed_fingerprint[65]; /* the directory as it was when loading it failed */
  sp_loaded_version *loaded;   /* AVAILABLE */
  int draining;                /* unloaded versions still referenced by requests */
  char sha256[65];             /* of the last load, kept for status after unload */
} version_entry;

typedef struct served_model {
  sp_model_config config;
  version_entry *versions; /* highest version first */
  size_t count, capacity;
  int removed;     /* dropped from the config: unload everything, then forget */
  char *base_note; /* the last base-path problem, logged when it changes */
} served_model;

struct sp_model_manager {
  sp_model_manager_options options;
  char *tag_set, *instance;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  served_model **models;
  size_t model_count, model_capacity;
  sp_model_config_list *pending; /* configure() before the thread applies it */
  sp_loaded_version **drained;
  size_t drained_count, drained_capacity;
  int stopping, thread_running, wake_requested;
  pthread_t thread;
};

const char *sp_version_state_name(sp_version_state state) {
  switch (state) {
    case SP_VERSION_START: return "START";
    case SP_VERSION_LOADING: return "LOADING";
    case SP_VERSION_AVAILABLE: return "AVAILABLE";
    case SP_VERSION_UNLOADING: return "UNLOADING";
    case SP_VERSION_END: return "END";
    default: return "UNKNOWN";
  }
}

const char *sp_status_code_name(sp_status status) {
  switch (status) {
    case SP_OK: return "OK";
    case SP_ERROR_INVALID_ARGUMENT:
    case SP_ERROR_MISMATCH: return "INVALID_ARGUMENT";
    case SP_ERROR_IO: return "UNAVAILABLE";
    case SP_ERROR_FORMAT:
    case SP_ERROR_CHECKSUM: return "DATA_LOSS";
    case SP_ERROR_UNSUPPORTED: return "UNIMPLEMENTED";
    case SP_ERROR_UNSAFE: return "FAILED_PRECONDITION";
    case SP_ERROR_NOT_FOUND: return "NOT_FOUND";
    case SP_ERROR_EXISTS: return "ALREADY_EXISTS";
    case SP_ERROR_NO_MEMORY: return "RESOURCE_EXHAUSTED";
    case SP_ERROR_CANCELLED: return "CANCELLED";
    default: return "INTERNAL";
  }
}

/* ---------- logging ---------- */

static void log_message(sp_model_manager *manager, const char *format, ...) SP_PRINTF(2, 3);
static void log_message(sp_model_manager *manager, const char *format, ...) {
  char message[2048];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  if (manager->options.log)
    manager->options.log(manager->options.log_context, message);
  else
    fprintf(stderr, "savepoint serve: %s\n", message);
}

static void utc_timestamp(char *out, size_t capacity) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm parts;
  gmtime_r(&now.tv_sec, &parts);
  size_t used = strftime(out, capacity, "%Y-%m-%dT%H:%M:%S", &parts);
  snprintf(out + used, capacity - used, ".%06ldZ", now.tv_nsec / 1000);
}

/* ---------- loaded versions ---------- */

static void loaded_version_free(sp_loaded_version *loaded) {
  if (!loaded) return;
  sp_batcher_free(loaded->batcher);
  sp_servable_free(loaded->servable);
  sp_manifest_free(loaded->files);
  free(loaded->verified_against);
  free(loaded->model_name);
  free(loaded->path);
  free(loaded);
}

void sp_loaded_version_release(sp_loaded_version *loaded) {
  if (!loaded) return;
  if (atomic_fetch_sub_explicit(&loaded->references, 1, memory_order_acq_rel) != 1) return;
  sp_model_manager *manager = loaded->manager;
  pthread_mutex_lock(&manager->lock);
  if (SP_RESERVE(manager->drained, manager->drained_capacity, manager->drained_count + 1) == SP_OK)
    manager->drained[manager->drained_count++] = loaded;
  /* Out of memory here would leak one version rather than free it on a request thread. */
  manager->wake_requested = 1;
  pthread_cond_signal(&manager->wake);
  pthread_mutex_unlock(&manager->lock);
}

/* ---------- models and entries ---------- */

static served_model *find_model(sp_model_manager *manager, const char *name, int removed) {
  for (size_t i = 0; i < manager->model_count; i++)
    if (manager->models[i]->removed == removed && strcmp(manager->models[i]->config.name, name) == 0)
      return manager->models[i];
  return NULL;
}

static version_entry *find_entry(served_model *model, int64_t version) {
  for (size_t i = 0; i < model->count; i++)
    if (model->versions[i].version == version) return &model->versions[i];
  return NULL;
}

static void entry_release(version_entry *entry) {
  free(entry->path);
  free(entry->error_message);
}

static void set_entry_error(version_entry *entry, sp_status status, const char *message) {
  free(entry->error_message);
  entry->error = status;
  entry->error_message = status == SP_OK ? NULL : sp_strdup(message);
}

/* Inserts (under the lock) an entry for version, keeping the array sorted highest first. */
static version_entry *insert_entry(served_model *model, int64_t version, const char *path) {
  if (SP_RESERVE(model->versions, model->capacity, model->count + 1) != SP_OK) return NULL;
  char *copy = sp_strdup(path);
  if (!copy) return NULL;
  size_t at = 0;
  while (at < model->count && model->versions[at].version > version) at++;
  memmove(&model->versions[at + 1], &model->versions[at], (model->count - at) * sizeof *model->versions);
  model->count++;
  version_entry *entry = &model->versions[at];
  memset(entry, 0, sizeof *entry);
  entry->version = version;
  entry->path = copy;
  return entry;
}

/* Forgets ended versions whose directories are gone, beyond the most recent few. */
static void prune_entries(served_model *model) {
  size_t ended = 0;
  for (size_t i = 0; i < model->count;) {
    version_entry *entry = &model->versions[i];
    int forgettable = !entry->on_disk && entry->draining == 0 && !entry->loaded &&
                      (entry->state == SP_VERSION_END || entry->state == SP_VERSION_UNKNOWN);
    if (forgettable && (entry->state == SP_VERSION_UNKNOWN || ++ended > MAX_ENDED_ENTRIES)) {
      entry_release(entry);
      memmove(entry, entry + 1, (model->count - i - 1) * sizeof *entry);
      model->count--;
    } else {
      i++;
    }
  }
}

static void served_model_free(served_model *model) {
  if (!model) return;
  for (size_t i = 0; i < model->count; i++) entry_release(&model->versions[i]);
  free(model->versions);
  sp_model_config_release(&model->config);
  free(model->base_note);
  free(model);
}

static sp_status add_model(sp_model_manager *manager, const sp_model_config *config) {
  served_model *model = sp_alloc_zeroed(1, sizeof *model);
  if (!model) return SP_ERROR_NO_MEMORY;
  sp_status status = sp_model_config_copy(config, &model->config);
  if (status == SP_OK) status = SP_RESERVE(manager->models, manager->model_capacity, manager->model_count + 1);
  if (status != SP_OK) {
    served_model_free(model);
    return status;
  }
  manager->models[manager->model_count++] = model;
  char policy[256];
  log_message(manager, "serving model '%s' from '%s' (policy %s, %zu label%s)", config->name, config->base_path,
              sp_version_policy_describe(&config->policy, policy, sizeof policy), config->label_count,
              config->label_count == 1 ? "" : "s");
  return SP_OK;
}

/* ---------- verifying and loading one version ---------- */

static sp_status verify_files(sp_model_manager *manager, sp_loaded_version *loaded) {
  sp_verify_result result;
  memset(&result, 0, sizeof result);
  sp_status status = sp_verify_artifact_detailed(loaded->path, manager->options.registry, NULL, NULL, &result);
  if (status == SP_ERROR_NOT_FOUND && !result.sha256[0] && !result.manifest_checked && !result.artifact_id) {
    /* Nothing recorded to compare with: hash what is there, so status can still say what is live. */
    SP_TRY(sp_manifest_compute(loaded->path, &loaded->files));
    memcpy(loaded->sha256, loaded->files->sha256, sizeof loaded->sha256);
    loaded->verified_against = sp_strdup("nothing (no manifest, not in the registry)");
    return loaded->verified_against ? SP_OK : SP_ERROR_NO_MEMORY;
  }
  SP_TRY(status);
  memcpy(loaded->sha256, result.sha256, sizeof loaded->sha256);
  if (result.manifest_checked) {
    SP_TRY(sp_manifest_read(loaded->path, &loaded->files));
  } else if (result.artifact_id) {
    char *recorded_path = NULL;
    status =
        sp_registry_artifact_manifest(manager->options.registry, result.artifact_id, &loaded->files, &recorded_path);
    free(recorded_path);
    SP_TRY(status);
  }
  if (result.manifest_checked && result.artifact_id)
    loaded->verified_against = sp_strdupf("manifest and registry artifact %" PRId64, result.artifact_id);
  else if (result.artifact_id)
    loaded->verified_against = sp_strdupf("registry artifact %" PRId64, result.artifact_id);
  else
    loaded->verified_against = sp_strdup("manifest");
  return loaded->verified_against ? SP_OK : SP_ERROR_NO_MEMORY;
}

/* A prediction with zeros through serving_default, so the first request is not the one that pays
 * for lazy initialisation, and a version that cannot predict never serves. Signatures with inputs
 * JSON cannot build zeros for (strings) are not warmed up. */
static sp_status warm_up(const sp_servable *servable) {
  const sp_signature *signature = sp_servable_signature(servable, SP_DEFAULT_SIGNATURE);
  if (!signature) return SP_OK;
  for (size_t i = 0; i < signature->input_count; i++) {
    sp_dtype dtype = (sp_dtype)sp_data_type_value(signature->inputs[i].dtype);
    if (dtype == SP_STRING || sp_dtype_size(dtype) == 0 || signature->inputs[i].rank > SP_MAX_RANK) return SP_OK;
  }
  sp_named_tensors inputs = {0};
  inputs.count = signature->input_count;
  inputs.keys = sp_alloc_zeroed(inputs.count + 1, sizeof *inputs.keys);
  inputs.tensors = sp_alloc_zeroed(inputs.count + 1, sizeof *inputs.tensors);
  sp_status status = inputs.keys && inputs.tensors ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; status == SP_OK && i < inputs.count; i++) {
    const sp_tensor_spec *spec = &signature->inputs[i];
    int64_t shape[SP_MAX_RANK];
    int rank = spec->rank < 0 ? 1 : spec->rank;
    for (int d = 0; d < rank; d++) shape[d] = spec->rank < 0 || spec->dims[d] < 0 ? 1 : spec->dims[d];
    inputs.keys[i] = spec->key;
    inputs.tensors[i] = sp_tensor_new((sp_dtype)sp_data_type_value(spec->dtype), rank, shape);
    if (!inputs.tensors[i]) status = sp_last_status();
  }
  size_t count = 0;
  char **keys = NULL;
  sp_tensor **outputs = NULL;
  if (status == SP_OK)
    status = sp_servable_run(servable, signature, inputs.count, inputs.keys, (const sp_tensor *const *)inputs.tensors,
                             &count, &keys, &outputs);
  sp_servable_outputs_free(count, keys, outputs);
  sp_named_tensors_free(&inputs);
  return status == SP_OK ? SP_OK
                         : sp_error_context(status, "warm-up prediction with zeros on '%s'", SP_DEFAULT_SIGNATURE);
}

static sp_status build_version(sp_model_manager *manager, const served_model *model, const version_entry *entry,
                               sp_loaded_version **result) {
  sp_loaded_version *loaded = sp_alloc_zeroed(1, sizeof *loaded);
  if (!loaded) return SP_ERROR_NO_MEMORY;
  *result = loaded;
  loaded->manager = manager;
  loaded->version = entry->version;
  loaded->model_name = sp_strdup(model->config.name);
  loaded->path = sp_strdup(entry->path);
  if (!loaded->model_name || !loaded->path) return SP_ERROR_NO_MEMORY;
  SP_TRY(verify_files(manager, loaded));
  sp_servable_options options = {manager->tag_set};
  SP_TRY(sp_servable_load(loaded->path, &options, &loaded->servable));
  if (manager->options.warm_up) SP_TRY(warm_up(loaded->servable));
  if (manager->options.enable_batching)
    SP_TRY(sp_batcher_new(&manager->options.batching, manager->options.metrics, &loaded->batcher));
  for (int api = 0; api < SP_API_COUNT; api++)
    loaded->series[api] = sp_metrics_series(manager->options.metrics, loaded->model_name, loaded->version, (sp_api)api);
  utc_timestamp(loaded->loaded_at, sizeof loaded->loaded_at);
  return SP_OK;
}

static void record_serving(sp_model_manager *manager, sp_registry_event_type type, const char *model, int64_t version,
                           const char *path, const char *sha256, const char *reason) {
  if (!manager->options.registry) return;
  sp_status status = sp_registry_record_serving(manager->options.registry, type, model, version, path,
                                                sha256 && sha256[0] ? sha256 : NULL, manager->instance, reason);
  if (status != SP_OK)
    log_message(manager, "could not record '%s' version %" PRId64 " %s in the registry: %s", model, version,
                sp_registry_event_type_name(type), sp_last_error());
}

/* Loads entry (state START) on this thread; the lock is not held. Returns 1 when it loaded, 0
 * when it failed (recorded in the entry) or must wait (the directory changed meanwhile). */
static int load_version(sp_model_manager *manager, served_model *model, version_entry *entry) {
  pthread_mutex_lock(&manager->lock);
  entry->state = SP_VERSION_LOADING;
  pthread_mutex_unlock(&manager->lock);
  log_message(manager, "loading model '%s' version %" PRId64 " from '%s'", model->config.name, entry->version,
              entry->path);
  double started = sp_clock_seconds();
  sp_loaded_version *loaded = NULL;
  sp_status status = build_version(manager, model, entry, &loaded);
  sp_directory_fingerprint after;
  int changed = 0;
  if (status == SP_OK && sp_watch_fingerprint(entry->path, &after) == SP_OK)
    changed = strcmp(after.sha256, entry->fingerprint.sha256) != 0;
  double seconds = sp_clock_seconds() - started;
  if (status == SP_OK && changed) {
    loaded_version_free(loaded);
    pthread_mutex_lock(&manager->lock);
    entry->state = SP_VERSION_START;
    pthread_mutex_unlock(&manager->lock);
    log_message(manager,
                "model '%s' version %" PRId64 ": the directory changed while loading; waiting until it is stable",
                model->config.name, entry->version);
    entry->stable = 0;
    return 0;
  }
  if (status != SP_OK) {
    char *message = sp_strdup(sp_last_error());
    loaded_version_free(loaded);
    pthread_mutex_lock(&manager->lock);
    entry->state = SP_VERSION_END;
    set_entry_error(entry, status, message ? message : "load failed");
    memcpy(entry->failed_fingerprint, entry->fingerprint.sha256, sizeof entry->failed_fingerprint);
    pthread_mutex_unlock(&manager->lock);
    log_message(manager, "model '%s' version %" PRId64 " was not loaded (%s): %s", model->config.name, entry->version,
                sp_status_code_name(status), message ? message : "?");
    sp_metrics_record_load(manager->options.metrics, model->config.name, entry->version, 0, seconds);
    record_serving(manager, SP_EVENT_LOAD_REFUSED, model->config.name, entry->version, entry->path, NULL, message);
    free(message);
    return 0;
  }
  loaded->load_seconds = seconds;
  atomic_store(&loaded->references, 1); /* the manager's hold while it serves */
  pthread_mutex_lock(&manager->lock);
  entry->loaded = loaded;
  entry->state = SP_VERSION_AVAILABLE;
  set_entry_error(entry, SP_OK, NULL);
  memcpy(entry->sha256, loaded->sha256, sizeof entry->sha256);
  pthread_mutex_unlock(&manager->lock);
  log_message(manager,
              "model '%s' version %" PRId64 " is AVAILABLE: %s, sha256 %s (verified against %s), loaded in %.1f ms",
              model->config.name, entry->version, loaded->servable->description, loaded->sha256,
              loaded->verified_against, seconds * 1e3);
  sp_metrics_record_load(manager->options.metrics, model->config.name, entry->version, 1, seconds);
  record_serving(manager, SP_EVENT_LOADED, model->config.name, entry->version, entry->path, loaded->sha256, NULL);
  return 1;
}

/* Stops giving entry's version to new requests; it is freed when its last request ends. */
static void unload_version(sp_model_manager *manager, served_model *model, version_entry *entry) {
  pthread_mutex_lock(&manager->lock);
  sp_loaded_version *loaded = entry->loaded;
  entry->loaded = NULL;
  entry->state = SP_VERSION_UNLOADING;
  entry->draining++;
  pthread_mutex_unlock(&manager->lock);
  log_message(manager, "unloading model '%s' version %" PRId64 " (waiting for its requests in flight)",
              model->config.name, entry->version);
  sp_loaded_version_release(loaded);
}

/* Frees drained versions (no request holds them any more) and ends their entries. */
static void free_drained(sp_model_manager *manager) {
  pthread_mutex_lock(&manager->lock);
  while (manager->drained_count > 0) {
    sp_loaded_version *loaded = manager->drained[--manager->drained_count];
    pthread_mutex_unlock(&manager->lock);
    char sha256[65];
    memcpy(sha256, loaded->sha256, sizeof sha256);
    char *name = sp_strdup(loaded->model_name), *path = sp_strdup(loaded->path);
    int64_t version = loaded->version;
    loaded_version_free(loaded);
    malloc_trim(0); /* give the freed model back to the system now, not at some later allocation */
    pthread_mutex_lock(&manager->lock);
    for (size_t m = 0; name && m < manager->model_count; m++) {
      if (strcmp(manager->models[m]->config.name, name) != 0) continue;
      version_entry *entry = find_entry(manager->models[m], version);
      if (!entry || entry->draining == 0) continue;
      if (--entry->draining == 0 && entry->state == SP_VERSION_UNLOADING) entry->state = SP_VERSION_END;
      break;
    }
    pthread_mutex_unlock(&manager->lock);
    if (name) {
      log_message(manager, "model '%s' version %" PRId64 " unloaded", name, version);
      record_serving(manager, SP_EVENT_UNLOADED, name, version, path, sha256, NULL);
    }
    free(name);
    free(path);
    pthread_mutex_lock(&manager->lock);
  }
  pthread_mutex_unlock(&manager->lock);
}

/* ---------- one poll of one model ---------- */

static int policy_lists(const sp_version_policy *policy, int64_t version) {
  for (size_t i = 0; i < policy->version_count; i++)
    if (policy->versions[i] == version) return 1;
  return 0;
}

/* Updates which entries are on disk from a fresh listing. Returns 0 when the listing failed for
 * a reason other than absence (then nothing changes this poll). */
static int refresh_listing(sp_model_manager *manager, served_model *model) {
  sp_version_directory *directories = NULL;
  size_t count = 0;
  char *note = NULL;
  sp_status status = model->removed ? SP_OK : sp_watch_versions(model->config.base_path, &directories, &count, &note);
  if (status != SP_OK && status != SP_ERROR_NOT_FOUND)
    note = sp_strdup(sp_last_error());
  else if (status == SP_ERROR_NOT_FOUND)
    note = sp_strdupf("no versions: base path '%s' does not exist", model->config.base_path);
  if (note && (!model->base_note || strcmp(note, model->base_note) != 0))
    log_message(manager, "model '%s': %s", model->config.name, note);
  free(model->base_note);
  model->base_note = note;
  if (status != SP_OK && status != SP_ERROR_NOT_FOUND) return 0;
  pthread_mutex_lock(&manager->lock);
  for (size_t i = 0; i < model->count; i++) model->versions[i].on_disk = 0;
  for (size_t i = 0; i < count; i++) {
    version_entry *entry = find_entry(model, directories[i].version);
    if (!entry) entry = insert_entry(model, directories[i].version, directories[i].path);
    if (!entry) continue;
    entry->on_disk = 1;
    if (strcmp(entry->path, directories[i].path) != 0 && !entry->loaded && entry->draining == 0) {
      char *path = sp_strdup(directories[i].path);
      if (path) {
        free(entry->path);
        entry->path = path;
      }
    }
  }
  prune_entries(model);
  pthread_mutex_unlock(&manager->lock);
  sp_version_directories_free(directories, count);
  return 1;
}

/* Marks the versions the policy wants (aspired) among those on disk, highest first, skipping
 * versions whose load failed with their directory as it still is. *held_back says whether a
 * failure made the policy skip one. */
static size_t choose_versions(sp_model_manager *manager, served_model *model, int *aspired, int *held_back) {
  size_t chosen = 0;
  *held_back = 0;
  const sp_version_policy *policy = &model->config.policy;
  for (size_t i = 0; i < model->count; i++) {
    version_entry *entry = &model->versions[i];
    aspired[i] = 0;
    if (model->removed || !entry->on_disk) continue;
    if (policy->kind == SP_POLICY_SPECIFIC && !policy_lists(policy, entry->version)) continue;
    if (policy->kind == SP_POLICY_LATEST && chosen == policy->num_versions) continue;
    if (entry->state != SP_VERSION_AVAILABLE) {
      sp_directory_fingerprint now;
      if (sp_watch_fingerprint(entry->path, &now) != SP_OK) {
        entry->fingerprinted = 0;
        continue;
      }
      entry->stable = entry->fingerprinted && strcmp(now.sha256, entry->fingerprint.sha256) == 0;
      entry->fingerprint = now;
      entry->fingerprinted = 1;
      if (strcmp(entry->failed_fingerprint, now.sha256) == 0) {
        *held_back = 1;
        continue;
      }
    }
    aspired[i] = 1;
    chosen++;
  }
  (void)manager;
  return chosen;
}

/* One poll: listing, policy, loads of ready versions, unloads. Returns 1 when another round is
 * useful at once (a load failed, so a lower version may now be wanted). */
static int poll_model(sp_model_manager *manager, served_model *model, int *waiting) {
  if (!refresh_listing(manager, model)) return 0;
  int *aspired = sp_alloc_zeroed(model->count + 1, sizeof *aspired);
  if (!aspired) return 0;
  int held_back = 0, again = 0;
  choose_versions(manager, model, aspired, &held_back);
  pthread_mutex_lock(&manager->lock);
  for (size_t i = 0; i < model->count; i++) {
    version_entry *entry = &model->versions[i];
    if (aspired[i] && entry->state != SP_VERSION_START && entry->state != SP_VERSION_LOADING &&
        entry->state != SP_VERSION_AVAILABLE) {
      entry->state = SP_VERSION_START;
      set_entry_error(entry, SP_OK, NULL);
    }
  }
  pthread_mutex_unlock(&manager->lock);
  for (size_t i = 0; i < model->count; i++) {
    version_entry *entry = &model->versions[i];
    if (!aspired[i] || entry->state != SP_VERSION_START) continue;
    if (!entry->stable && !entry->fingerprint.has_manifest) {
      (*waiting)++;
      continue;
    }
    if (!load_version(manager, model, entry) && entry->state == SP_VERSION_END) again = 1;
  }
  if (again) {
    /* A wanted version just failed: choose again (a lower version may be wanted now) before
     * unloading anything, or the version that keeps serving could be the one unloaded. */
    free(aspired);
    return again;
  }
  int pending = 0, available = 0;
  for (size_t i = 0; i < model->count; i++) {
    if (!aspired[i]) continue;
    pending |= model->versions[i].state == SP_VERSION_START || model->versions[i].state == SP_VERSION_LOADING;
    available |= model->versions[i].state == SP_VERSION_AVAILABLE;
  }
  for (size_t i = 0; i < model->count; i++) {
    version_entry *entry = &model->versions[i];
    if (aspired[i] || entry->state != SP_VERSION_AVAILABLE) continue;
    if (model->removed || (!pending && (available || !entry->on_disk || !held_back)))
      unload_version(manager, model, entry);
  }
  free(aspired);
  return again;
}

/* ---------- configuration changes (manager thread) ---------- */

static void apply_pending_config(sp_model_manager *manager) {
  pthread_mutex_lock(&manager->lock);
  sp_model_config_list *configs = manager->pending;
  manager->pending = NULL;
  pthread_mutex_unlock(&manager->lock);
  if (!configs) return;
  for (size_t i = 0; i < manager->model_count; i++) {
    served_model *model = manager->models[i];
    if (model->removed) continue;
    const sp_model_config *wanted = NULL;
    for (size_t j = 0; j < configs->count && !wanted; j++)
      if (strcmp(configs->models[j].name, model->config.name) == 0) wanted = &configs->models[j];
    if (wanted && strcmp(wanted->base_path, model->config.base_path) == 0) {
      if (sp_model_config_equal(wanted, &model->config)) continue;
      sp_model_config updated;
      if (sp_model_config_copy(wanted, &updated) != SP_OK) continue;
      pthread_mutex_lock(&manager->lock);
      sp_model_config_release(&model->config);
      model->config = updated;
      pthread_mutex_unlock(&manager->lock);
      char policy[256];
      log_message(manager, "model '%s': policy is now %s with %zu label%s", updated.name,
                  sp_version_policy_describe(&updated.policy, policy, sizeof policy), updated.label_count,
                  updated.label_count == 1 ? "" : "s");
      continue;
    }
    /* Gone from the config, or moved to another base path: the old one drains away while a new
     * one (if any) loads; requests fall back to it until the new one has a version. */
    pthread_mutex_lock(&manager->lock);
    model->removed = 1;
    pthread_mutex_unlock(&manager->lock);
    log_message(manager, "model '%s' (base path '%s') is no longer configured; unloading it", model->config.name,
                model->config.base_path);
  }
  for (size_t j = 0; j < configs->count; j++) {
    if (find_model(manager, configs->models[j].name, 0)) continue;
    pthread_mutex_lock(&manager->lock);
    sp_status status = add_model(manager, &configs->models[j]);
    pthread_mutex_unlock(&manager->lock);
    if (status != SP_OK) log_message(manager, "cannot add model '%s': %s", configs->models[j].name, sp_last_error());
  }
  sp_model_config_list_free(configs);
}

/* Drops removed models whose versions have all drained. */
static void forget_removed_models(sp_model_manager *manager) {
  pthread_mutex_lock(&manager->lock);
  for (size_t i = 0; i < manager->model_count;) {
    served_model *model = manager->models[i];
    int busy = 0;
    for (size_t v = 0; v < model->count && !busy; v++) busy = model->versions[v].loaded || model->versions[v].draining;
    if (model->removed && !busy) {
      served_model_free(model);
      memmove(&manager->models[i], &manager->models[i + 1], (manager->model_count - i - 1) * sizeof *manager->models);
      manager->model_count--;
    } else {
      i++;
    }
  }
  pthread_mutex_unlock(&manager->lock);
}

/* One full round over every model; returns how many versions wait for a second look. */
static int poll_all(sp_model_manager *manager) {
  apply_pending_config(manager);
  int waiting = 0;
  for (size_t i = 0; i < manager->model_count; i++)
    for (int round = 0; round < MAX_POLL_ROUNDS && poll_model(manager, manager->models[i], &waiting); round++) {
    }
  free_drained(manager);
  forget_removed_models(manager);
  return waiting;
}

/* ---------- the manager thread ---------- */

static void lower_priority(void) {
  /* Loads run here: keep them from competing with request threads for the CPU (TF Serving's p99
   * complaint). Failure is harmless. */
  (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
}

static void *manager_main(void *argument) {
  sp_model_manager *manager = argument;
  lower_priority();
  pthread_mutex_lock(&manager->lock);
  while (!manager->stopping) {
    if (!manager->wake_requested) {
      if (manager->options.poll_seconds > 0) {
        struct timespec deadline = sp_clock_deadline(manager->options.poll_seconds);
        while (!manager->stopping && !manager->wake_requested &&
               pthread_cond_timedwait(&manager->wake, &manager->lock, &deadline) != ETIMEDOUT) {
        }
      } else {
        while (!manager->stopping && !manager->wake_requested) pthread_cond_wait(&manager->wake, &manager->lock);
      }
    }
    if (manager->stopping) break;
    manager->wake_requested = 0;
    int reconfigured = manager->pending != NULL;
    pthread_mutex_unlock(&manager->lock);
    if (manager->options.poll_seconds > 0 || reconfigured)
      poll_all(manager);
    else {
      apply_pending_config(manager);
      free_drained(manager);
      forget_removed_models(manager);
    }
    pthread_mutex_lock(&manager->lock);
  }
  pthread_mutex_unlock(&manager->lock);
  return NULL;
}

/* ---------- public ---------- */

sp_status sp_model_manager_new(const sp_model_manager_options *options, sp_model_manager **manager) {
  *manager = sp_alloc_zeroed(1, sizeof **manager);
  if (!*manager) return SP_ERROR_NO_MEMORY;
  sp_model_manager *created = *manager;
  created->options = *options;
  created->tag_set = sp_strdup(options->tag_set ? options->tag_set : "serve");
  created->instance = options->instance ? sp_strdup(options->instance) : NULL;
  created->options.tag_set = created->tag_set;
  created->options.instance = created->instance;
  pthread_mutex_init(&created->lock, NULL);
  sp_clock_condition_init(&created->wake);
  if (!created->tag_set || (options->instance && !created->instance)) {
    sp_model_manager_free(created);
    *manager = NULL;
    return SP_ERROR_NO_MEMORY;
  }
  return SP_OK;
}

sp_status sp_model_manager_configure(sp_model_manager *manager, const sp_model_config_list *configs) {
  sp_model_config_list *copy = sp_alloc_zeroed(1, sizeof *copy);
  if (!copy) return SP_ERROR_NO_MEMORY;
  copy->models = sp_alloc_zeroed(configs->count + 1, sizeof *copy->models);
  sp_status status = copy->models ? SP_OK : SP_ERROR_NO_MEMORY;
  for (size_t i = 0; status == SP_OK && i < configs->count; i++) {
    status = sp_model_config_copy(&configs->models[i], &copy->models[i]);
    if (status == SP_OK) copy->count++;
  }
  if (status != SP_OK) {
    sp_model_config_list_free(copy);
    return status;
  }
  pthread_mutex_lock(&manager->lock);
  sp_model_config_list_free(manager->pending);
  manager->pending = copy;
  manager->wake_requested = 1;
  pthread_cond_signal(&manager->wake);
  pthread_mutex_unlock(&manager->lock);
  return SP_OK;
}

void sp_model_manager_wake(sp_model_manager *manager) {
  pthread_mutex_lock(&manager->lock);
  manager->wake_requested = 1;
  pthread_cond_signal(&manager->wake);
  pthread_mutex_unlock(&manager->lock);
}

sp_status sp_model_manager_start(sp_model_manager *manager) {
  /* Before serving: load what is ready; a directory seen for the first time gets its second look
   * one poll interval later, so a server started while a version is being copied does not load
   * it half-copied, and one started on a finished directory serves it when the port opens. */
  if (poll_all(manager) > 0) {
    double pause = manager->options.poll_seconds > 0 ? manager->options.poll_seconds : 1.0;
    struct timespec interval = {(time_t)pause, (long)((pause - floor(pause)) * 1e9)};
    while (nanosleep(&interval, &interval) != 0 && errno == EINTR) {
    }
    poll_all(manager);
  }
  if (pthread_create(&manager->thread, NULL, manager_main, manager) != 0)
    return sp_fail(SP_ERROR_INTERNAL, "cannot start the model manager thread");
  manager->thread_running = 1;
  return SP_OK;
}

void sp_model_manager_free(sp_model_manager *manager) {
  if (!manager) return;
  if (manager->thread_running) sp_thread_stop(manager->thread, &manager->lock, &manager->wake, &manager->stopping);
  /* Unload everything; requests are over (the HTTP server stops first), so each drains at once. */
  for (size_t i = 0; i < manager->model_count; i++) {
    served_model *model = manager->models[i];
    for (size_t v = 0; v < model->count; v++)
      if (model->versions[v].loaded) unload_version(manager, model, &model->versions[v]);
  }
  free_drained(manager);
  for (size_t i = 0; i < manager->model_count; i++) served_model_free(manager->models[i]);
  free(manager->models);
  sp_model_config_list_free(manager->pending);
  free(manager->drained);
  free(manager->tag_set);
  free(manager->instance);
  pthread_cond_destroy(&manager->wake);
  pthread_mutex_destroy(&manager->lock);
  free(manager);
}

/* ---------- the request path ---------- */

static sp_status resolve_label(const served_model *model, const char *label, int64_t *version) {
  for (size_t i = 0; i < model->config.label_count; i++)
    if (strcmp(model->config.labels[i].label, label) == 0) {
      *version = model->config.labels[i].version;
      return SP_OK;
    }
  return sp_fail(SP_ERROR_INVALID_ARGUMENT, "Unrecognized servable version label: %s", label);
}

static sp_loaded_version *latest_available(const served_model *model) {
  for (size_t i = 0; model && i < model->count; i++)
    if (model->versions[i].state == SP_VERSION_AVAILABLE && model->versions[i].loaded) return model->versions[i].loaded;
  return NULL;
}

sp_status sp_model_manager_acquire(sp_model_manager *manager, const char *name, const sp_version_request *request,
                                   sp_loaded_version **version) {
  *version = NULL;
  pthread_mutex_lock(&manager->lock);
  served_model *model = find_model(manager, name, 0);
  sp_loaded_version *chosen = NULL;
  int64_t wanted = request->version;
  sp_status status = SP_OK;
  if (request->choice == SP_CHOOSE_LABEL) {
    status = model ? resolve_label(model, request->label, &wanted)
                   : sp_fail(SP_ERROR_NOT_FOUND, "Servable not found for request: Label(%s, %s)", name, request->label);
  }
  if (status == SP_OK && request->choice == SP_CHOOSE_LATEST) {
    chosen = latest_available(model);
    if (!chosen) chosen = latest_available(find_model(manager, name, 1)); /* a replaced model still draining */
    if (!chosen) status = sp_fail(SP_ERROR_NOT_FOUND, "Servable not found for request: Latest(%s)", name);
  } else if (status == SP_OK) {
    version_entry *entry = model ? find_entry(model, wanted) : NULL;
    if (entry && entry->state == SP_VERSION_AVAILABLE) chosen = entry->loaded;
    if (!chosen)
      status = sp_fail(SP_ERROR_NOT_FOUND, "Servable not found for request: Specific(%s, %" PRId64 ")", name, wanted);
  }
  if (chosen) atomic_fetch_add_explicit(&chosen->references, 1, memory_order_relaxed);
  pthread_mutex_unlock(&manager->lock);
  *version = chosen;
  return status;
}

static sp_status append_version_status(sp_buffer *out, const version_entry *entry, int first) {
  SP_TRY(sp_buffer_printf(out,
                          "%s\n  {\n   \"version\": \"%" PRId64 "\",\n   \"state\": \"%s\",\n   \"status\": {\n"
                          "    \"error_code\": \"%s\",\n    \"error_message\": ",
                          first ? "" : ",", entry->version, sp_version_state_name(entry->state),
                          sp_status_code_name(entry->error)));
  const char *message = entry->error_message ? entry->error_message : "";
  SP_TRY(sp_json_append_string(out, message, strlen(message)));
  SP_TRY(sp_buffer_append_text(out, "\n   }"));
  if (entry->sha256[0]) {
    /* Which bytes answer (or answered) for this version, and who loaded them. */
    const sp_loaded_version *loaded = entry->loaded;
    SP_TRY(sp_buffer_printf(
        out, ",\n   \"savepoint\": {\n    \"sha256\": \"%s\",\n    \"loaded_by\": \"savepoint %s\",\n    \"path\": ",
        entry->sha256, SP_VERSION));
    SP_TRY(sp_json_append_string(out, entry->path, strlen(entry->path)));
    if (loaded) {
      SP_TRY(sp_buffer_append_text(out, ",\n    \"verified_against\": "));
      SP_TRY(sp_json_append_string(out, loaded->verified_against, strlen(loaded->verified_against)));
      SP_TRY(sp_buffer_printf(out, ",\n    \"loaded_at\": \"%s\",\n    \"load_seconds\": %.6f", loaded->loaded_at,
                              loaded->load_seconds));
    }
    SP_TRY(sp_buffer_append_text(out, "\n   }"));
  }
  return sp_buffer_append_text(out, "\n  }");
}

sp_status sp_model_manager_status_json(sp_model_manager *manager, const char *name, const sp_version_request *request,
                                       sp_buffer *out) {
  pthread_mutex_lock(&manager->lock);
  served_model *model = find_model(manager, name, 0);
  int64_t wanted = request->version;
  sp_status status = SP_OK;
  if (request->choice == SP_CHOOSE_LABEL)
    status = model ? resolve_label(model, request->label, &wanted)
                   : sp_fail(SP_ERROR_NOT_FOUND, "Could not find any versions of model %s", name);
  size_t shown = 0;
  for (size_t i = 0; status == SP_OK && model && i < model->count; i++) {
    const version_entry *entry = &model->versions[i];
    if (entry->state == SP_VERSION_UNKNOWN) continue;
    if (request->choice != SP_CHOOSE_LATEST && entry->version != wanted) continue;
    if (shown == 0) status = sp_buffer_append_text(out, "{\n \"model_version_status\": [");
    if (status == SP_OK) status = append_version_status(out, entry, shown == 0);
    shown++;
  }
  if (status == SP_OK && shown == 0) {
    if (request->choice == SP_CHOOSE_LATEST)
      status = sp_fail(SP_ERROR_NOT_FOUND, "Could not find any versions of model %s", name);
    else
      status = sp_fail(SP_ERROR_NOT_FOUND, "Could not find version %" PRId64 " of model %s", wanted, name);
  }
  if (status == SP_OK) status = sp_buffer_append_text(out, "\n ]\n}\n");
  pthread_mutex_unlock(&manager->lock);
  return status;
}

sp_status sp_model_manager_metrics(sp_model_manager *manager, sp_buffer *out) {
  pthread_mutex_lock(&manager->lock);
  sp_status status = sp_buffer_append_text(
      out,
      "# HELP savepoint_serving_model_version_state State of each model version (10 START, 20 LOADING, 30 "
      "AVAILABLE, 40 UNLOADING, 50 END), with the SHA-256 of the files it serves.\n"
      "# TYPE savepoint_serving_model_version_state gauge\n");
  for (size_t i = 0; status == SP_OK && i < manager->model_count; i++) {
    const served_model *model = manager->models[i];
    for (size_t v = 0; status == SP_OK && v < model->count; v++) {
      const version_entry *entry = &model->versions[v];
      if (entry->state == SP_VERSION_UNKNOWN) continue;
      status = sp_buffer_append_text(out, "savepoint_serving_model_version_state{model_name=\"");
      if (status == SP_OK) status = sp_metrics_append_label(out, model->config.name);
      if (status == SP_OK)
        status =
            sp_buffer_printf(out, "\",model_version=\"%" PRId64 "\",state=\"%s\",sha256=\"%s\"} %d\n", entry->version,
                             sp_version_state_name(entry->state), entry->sha256, (int)entry->state);
    }
  }
  pthread_mutex_unlock(&manager->lock);
  return status;
}
