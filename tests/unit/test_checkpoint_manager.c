/* Tests of src/ckpt/manager: retention (max_to_keep, keep_checkpoint_every_n_hours with an
 * injected clock, keep-best-K), ownership (foreign files and foreign checkpoints survive),
 * restarts (adoption continues numbering and retention), crash leftovers (pending entries,
 * temporaries removed only when asked), asynchronous saving and its error reporting, the
 * directory lock and registry recording.
 *
 * Expected sets of surviving checkpoints follow from the rules written in checkpoint.h and
 * tf.train.CheckpointManager._sweep (an evicted checkpoint is preserved when its timestamp is at
 * least keep_checkpoint_every_n_hours after the last preserved one), worked out by hand below. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ckpt/manager.h"
#include "core/file.h"
#include "core/memory.h"
#include "formats/checkpoint_state.h"
#include "nn/model.h"
#include "savepoint/checkpoint.h"
#include "savepoint/manifest.h"
#include "savepoint/registry.h"
#include "test_support.h"

static sp_model *small_model(int64_t width) {
  sp_model *model = sp_sequential("small");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){4})));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(width, "relu")));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(2, NULL)));
  SP_ASSERT_OK(sp_model_build(model));
  SP_ASSERT_OK(sp_model_initialize(model));
  return model;
}

static double test_clock_value;
static double test_clock(void *context) {
  (void)context;
  return test_clock_value;
}

static sp_checkpoint_manager *open_manager(const char *directory, int max_to_keep) {
  sp_checkpoint_manager_options options = sp_checkpoint_manager_defaults();
  options.max_to_keep = max_to_keep;
  sp_checkpoint_manager *manager;
  SP_ASSERT_OK(sp_checkpoint_manager_open(directory, &options, &manager));
  return manager;
}

static void save(sp_checkpoint_manager *manager, sp_model *model) {
  SP_ASSERT_OK(sp_checkpoint_manager_save(manager, model, NULL, NULL));
}

static int exists(const char *directory, const char *name) {
  char *path = sp_path_join(directory, name);
  int result = sp_path_exists(path);
  free(path);
  return result;
}

/* Asserts exactly which of ckpt-1 … ckpt-<last> have an index, e.g. "3,6,9,10". */
static void assert_checkpoints(const char *directory, int last, const char *expected) {
  char actual[256] = "";
  for (int n = 1; n <= last; n++) {
    char name[64];
    snprintf(name, sizeof name, "ckpt-%d.index", n);
    if (exists(directory, name)) snprintf(actual + strlen(actual), sizeof actual - strlen(actual), "%s%d", *actual ? "," : "", n);
  }
  cr_assert_str_eq(actual, expected, "checkpoints on disk");
}

static sp_checkpoint_state *read_state(const char *directory) {
  sp_checkpoint_state *state;
  SP_ASSERT_OK(sp_checkpoint_state_read(directory, &state));
  return state;
}

static void touch(const char *directory, const char *name) {
  char *path = sp_path_join(directory, name);
  FILE *file = fopen(path, "w");
  cr_assert_not_null(file, "%s", path);
  fputs("not savepoint's\n", file);
  fclose(file);
  free(path);
}

Test(checkpoint_manager, max_to_keep_keeps_the_newest_and_names_them_in_the_state_file) {
  char *directory = sp_test_temp_dir("manager_max_to_keep");
  sp_model *model = small_model(3);
  sp_checkpoint_manager *manager = open_manager(directory, 3);
  for (int i = 0; i < 7; i++) save(manager, model);
  assert_checkpoints(directory, 7, "5,6,7");
  cr_assert(!exists(directory, "ckpt-4.data-00000-of-00001") && !exists(directory, "ckpt-4.sha256"));
  sp_checkpoint_state *state = read_state(directory);
  cr_assert_eq(state->path_count, 3);
  cr_assert_str_eq(state->all_model_checkpoint_paths[0], "ckpt-5");
  cr_assert_str_eq(state->model_checkpoint_path, "ckpt-7");
  cr_assert_eq(state->timestamp_count, 3);
  sp_checkpoint_state_free(state);
  cr_assert_eq(sp_checkpoint_manager_count(manager), 3);
  cr_assert(sp_path_has_suffix(sp_checkpoint_manager_latest(manager), "/ckpt-7"));
  /* Every kept checkpoint has a sidecar manifest that matches its files. */
  char *prefix = sp_path_join(directory, "ckpt-6");
  sp_manifest *recorded, *actual;
  SP_ASSERT_OK(sp_manifest_read(prefix, &recorded));
  SP_ASSERT_OK(sp_manifest_compute(prefix, &actual));
  cr_assert_eq(sp_manifest_compare(recorded, actual, prefix, "manifest", NULL, NULL), 0);
  cr_assert_eq(recorded->count, 2);
  sp_manifest_free(recorded);
  sp_manifest_free(actual);
  free(prefix);
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  sp_model_free(model);
  free(directory);
}

Test(checkpoint_manager, keep_checkpoint_every_n_hours_with_an_injected_clock) {
  char *directory = sp_test_temp_dir("manager_hours");
  sp_model *model = small_model(3);
  sp_checkpoint_manager_options options = sp_checkpoint_manager_defaults();
  options.max_to_keep = 2;
  options.keep_checkpoint_every_n_hours = 1.0;
  options.clock = test_clock;
  const double start = 1.7e9;
  test_clock_value = start; /* the manager opens at `start`: the first preservation window starts here */
  sp_checkpoint_manager *manager;
  SP_ASSERT_OK(sp_checkpoint_manager_open(directory, &options, &manager));
  /* Saves every 20 minutes: checkpoint k at start + 1200 k. Evicted in order 1, 2, 3, …; k is
   * preserved when 1200 k - 3600 >= the last preserved time: 3 (at 3600), 6 (7200), 9 (10800). */
  for (int k = 1; k <= 10; k++) {
    test_clock_value = start + 1200.0 * k;
    save(manager, model);
  }
  assert_checkpoints(directory, 10, "3,6,9,10"); /* 9 and 10 are the active two */
  sp_checkpoint_state *state = read_state(directory);
  cr_assert_eq(state->path_count, 2);
  cr_assert_eq(state->last_preserved_timestamp, start + 7200.0);
  sp_checkpoint_state_free(state);
  sp_checkpoint_info info;
  SP_ASSERT_OK(sp_checkpoint_manager_get(manager, 0, &info));
  cr_assert_eq(info.number, 3);
  cr_assert_eq(info.kept, SP_CHECKPOINT_KEPT_PRESERVED);
  /* Preservation survives a restart: the manifest remembers it, and the window continues. */
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  SP_ASSERT_OK(sp_checkpoint_manager_open(directory, &options, &manager));
  test_clock_value = start + 1200.0 * 11;
  save(manager, model); /* evicts 9: 10800 - 3600 >= 7200, preserved */
  test_clock_value = start + 1200.0 * 12;
  save(manager, model); /* evicts 10: 12000 - 3600 < 10800, deleted */
  assert_checkpoints(directory, 12, "3,6,9,11,12");
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  sp_model_free(model);
  free(directory);
}

Test(checkpoint_manager, keep_best_keeps_the_best_by_metric_besides_the_newest) {
  char *directory = sp_test_temp_dir("manager_best");
  sp_model *model = small_model(3);
  sp_checkpoint_manager_options options = sp_checkpoint_manager_defaults();
  options.max_to_keep = 2;
  options.keep_best = 2;
  options.mode = SP_CHECKPOINT_MODE_MIN;
  sp_checkpoint_manager *manager;
  SP_ASSERT_OK(sp_checkpoint_manager_open(directory, &options, &manager));
  const double losses[] = {0.5, 0.3, 0.4, 0.6, 0.2, 0.7, 0.8};
  for (int i = 0; i < 7; i++) {
    sp_checkpoint_save_info info = {.step = -1, .has_metric = 1, .metric = losses[i]};
    SP_ASSERT_OK(sp_checkpoint_manager_save(manager, model, &info, NULL));
  }
  /* Best two: ckpt-5 (0.2) and ckpt-2 (0.3); newest two: 6 and 7. */
  assert_checkpoints(directory, 7, "2,5,6,7");
  sp_checkpoint_info info;
  SP_ASSERT_OK(sp_checkpoint_manager_get(manager, 1, &info));
  cr_assert_eq(info.number, 5);
  cr_assert_eq(info.kept, SP_CHECKPOINT_KEPT_BEST);
  cr_assert_eq(info.metric, 0.2);
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));

  /* After a restart the metrics come from the manifest: a better one pushes out ckpt-2. */
  SP_ASSERT_OK(sp_checkpoint_manager_open(directory, &options, &manager));
  sp_checkpoint_save_info better = {.step = -1, .has_metric = 1, .metric = 0.1};
  SP_ASSERT_OK(sp_checkpoint_manager_save(manager, model, &better, NULL));
  assert_checkpoints(directory, 8, "5,7,8");
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  sp_model_free(model);
  free(directory);
}

Test(checkpoint_manager, foreign_files_and_foreign_checkpoints_survive_retention) {
  char *directory = sp_test_temp_dir("manager_foreign");
  sp_model *model = small_model(3);
  /* Another program's checkpoint, named in the state file, and stray files with our names. */
  char *other = sp_path_join(directory, "other-1");
  SP_ASSERT_OK(sp_checkpoint_write(model, other, NULL));
  sp_checkpoint_state state = {0};
  char *paths[] = {"other-1"};
  double timestamps[] = {1.0};
  state.model_checkpoint_path = "other-1";
  state.all_model_checkpoint_paths = paths;
  state.path_count = 1;
  state.all_model_checkpoint_timestamps = timestamps;
  state.timestamp_count = 1;
  SP_ASSERT_OK(sp_checkpoint_state_write(directory, &state));
  touch(directory, "notes.txt");
  touch(directory, "ckpt-1.index.bak");
  touch(directory, "ckpt-2.data-00000-of-00002");
  char *foreign = sp_path_join(directory, "ckpt-9");
  SP_ASSERT_OK(sp_checkpoint_write(model, foreign, NULL));

  sp_checkpoint_manager *manager = open_manager(directory, 1);
  cr_assert(sp_path_has_suffix(sp_checkpoint_manager_latest(manager), "/other-1"), "the state file is adopted");
  char *prefix;
  SP_ASSERT_OK(sp_checkpoint_manager_save(manager, model, NULL, &prefix));
  cr_assert(sp_path_has_suffix(prefix, "/ckpt-10"), "numbering continues after the foreign ckpt-9: %s", prefix);
  free(prefix);
  for (int i = 0; i < 3; i++) save(manager, model);
  assert_checkpoints(directory, 13, "9,13");
  cr_assert(exists(directory, "other-1.index") && exists(directory, "other-1.data-00000-of-00001"));
  cr_assert(exists(directory, "notes.txt") && exists(directory, "ckpt-1.index.bak") &&
            exists(directory, "ckpt-2.data-00000-of-00002"));
  sp_checkpoint_state *after = read_state(directory);
  cr_assert_eq(after->path_count, 1);
  cr_assert_str_eq(after->model_checkpoint_path, "ckpt-13");
  sp_checkpoint_state_free(after);
  /* A step that would overwrite a checkpoint this manager did not write is refused. */
  sp_checkpoint_save_info info = {.step = 9};
  SP_ASSERT_FAILS(sp_checkpoint_manager_save(manager, model, &info, NULL), SP_ERROR_EXISTS,
                  "ckpt-9' exists and was not written by this checkpoint manager");
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  sp_model_free(model);
  free(other);
  free(foreign);
  free(directory);
}

Test(checkpoint_manager, a_new_manager_adopts_the_directory_and_continues) {
  char *directory = sp_test_temp_dir("manager_restart");
  sp_model *model = small_model(3);
  sp_checkpoint_manager *manager = open_manager(directory, 2);
  for (int i = 0; i < 3; i++) save(manager, model);
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  manager = open_manager(directory, 2);
  cr_assert_eq(sp_checkpoint_manager_count(manager), 2);
  cr_assert(sp_path_has_suffix(sp_checkpoint_manager_latest(manager), "/ckpt-3"));
  char *prefix;
  SP_ASSERT_OK(sp_checkpoint_manager_save(manager, model, NULL, &prefix));
  cr_assert(sp_path_has_suffix(prefix, "/ckpt-4"), "%s", prefix);
  free(prefix);
  assert_checkpoints(directory, 4, "3,4"); /* ckpt-2, written before the restart, was deleted */
  /* The directory is locked while a manager has it. */
  sp_checkpoint_manager *second;
  SP_ASSERT_FAILS(sp_checkpoint_manager_open(directory, NULL, &second), SP_ERROR_EXISTS, "in use by another");
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  sp_model_free(model);
  free(directory);
}

Test(checkpoint_manager, steps_name_checkpoints_and_checkpoint_interval_skips) {
  char *directory = sp_test_temp_dir("manager_steps");
  sp_model *model = small_model(3);
  sp_checkpoint_manager_options options = sp_checkpoint_manager_defaults();
  options.checkpoint_interval = 5;
  options.max_to_keep = 0; /* keep all */
  sp_checkpoint_manager *manager;
  SP_ASSERT_OK(sp_checkpoint_manager_open(directory, &options, &manager));
  int saved = 0;
  for (int64_t step = 0; step <= 12; step++) {
    sp_checkpoint_save_info info = {.step = step};
    char *prefix;
    SP_ASSERT_OK(sp_checkpoint_manager_save(manager, model, &info, &prefix));
    saved += prefix != NULL;
    free(prefix);
  }
  cr_assert_eq(saved, 3); /* steps 0, 5, 10 */
  cr_assert(exists(directory, "ckpt-0.index") && exists(directory, "ckpt-5.index") && exists(directory, "ckpt-10.index"));
  /* Saving a step again replaces the manager's own checkpoint. */
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  options.checkpoint_interval = 0;
  SP_ASSERT_OK(sp_checkpoint_manager_open(directory, &options, &manager));
  sp_checkpoint_save_info again = {.step = 5};
  SP_ASSERT_OK(sp_checkpoint_manager_save(manager, model, &again, NULL));
  cr_assert_eq(sp_checkpoint_manager_count(manager), 3);
  cr_assert(sp_path_has_suffix(sp_checkpoint_manager_latest(manager), "/ckpt-5"));
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  sp_model_free(model);
  free(directory);
}

Test(checkpoint_manager, leftovers_of_a_crash_are_cleaned_and_temporaries_only_when_asked) {
  char *directory = sp_test_temp_dir("manager_leftovers");
  sp_model *model = small_model(3);
  sp_checkpoint_manager *manager = open_manager(directory, 5);
  save(manager, model);
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  /* A crash after reserving ckpt-2 and publishing its data file, before its index: the manifest
   * lists ckpt-2 as pending with the files the writer publishes. */
  sp_checkpoint_ownership ownership;
  SP_ASSERT_OK(sp_checkpoint_ownership_read(directory, &ownership));
  cr_assert_eq(ownership.count, 1);
  sp_checkpoint_entry pending = {0};
  pending.name = sp_strdup("ckpt-2");
  pending.checkpoint_name = sp_strdup("ckpt");
  pending.prefix = sp_path_join(directory, "ckpt-2");
  pending.number = 2;
  pending.step = -1;
  pending.owned = 1;
  pending.status = SP_ENTRY_PENDING;
  SP_ASSERT_OK(sp_checkpoint_entry_add_file(&pending, "ckpt-2.data-00000-of-00001"));
  SP_ASSERT_OK(sp_checkpoint_entry_add_file(&pending, "ckpt-2.index"));
  ownership.entries = sp_realloc_array(ownership.entries, 2, sizeof *ownership.entries);
  ownership.entries[ownership.count++] = pending;
  ownership.next_number = 3;
  SP_ASSERT_OK(sp_checkpoint_ownership_write(directory, &ownership));
  sp_checkpoint_ownership_release(&ownership);
  touch(directory, "ckpt-2.data-00000-of-00001");
  touch(directory, ".ckpt-3.index.tmp-a1b2c3");
  touch(directory, ".checkpoint.tmp-d4e5f6");
  touch(directory, ".model.keras.tmp-g7h8i9"); /* someone else's temporary */

  manager = open_manager(directory, 5);
  cr_assert(!exists(directory, "ckpt-2.data-00000-of-00001"), "the pending save's file was removed");
  cr_assert(exists(directory, "ckpt-1.index"));
  cr_assert(exists(directory, ".ckpt-3.index.tmp-a1b2c3"), "temporaries stay until asked");
  char *prefix;
  SP_ASSERT_OK(sp_checkpoint_manager_save(manager, model, NULL, &prefix));
  cr_assert(sp_path_has_suffix(prefix, "/ckpt-3"), "numbers are never reused: %s", prefix);
  free(prefix);
  cr_assert(exists(directory, ".ckpt-3.index.tmp-a1b2c3"));
  size_t removed;
  SP_ASSERT_OK(sp_checkpoint_manager_remove_temporaries(manager, &removed));
  cr_assert_eq(removed, 2);
  cr_assert(!exists(directory, ".ckpt-3.index.tmp-a1b2c3") && !exists(directory, ".checkpoint.tmp-d4e5f6"));
  cr_assert(exists(directory, ".model.keras.tmp-g7h8i9"));
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  sp_model_free(model);
  free(directory);
}

/* Marks the manifest entry of name pending again, as if the process died before step 5. */
static void mark_pending(const char *directory, const char *name) {
  sp_checkpoint_ownership ownership;
  SP_ASSERT_OK(sp_checkpoint_ownership_read(directory, &ownership));
  for (size_t i = 0; i < ownership.count; i++)
    if (strcmp(ownership.entries[i].name, name) == 0) ownership.entries[i].status = SP_ENTRY_PENDING;
  SP_ASSERT_OK(sp_checkpoint_ownership_write(directory, &ownership));
  sp_checkpoint_ownership_release(&ownership);
}

Test(checkpoint_manager, a_save_killed_after_the_state_file_is_kept_and_one_killed_before_is_removed_whole) {
  char *directory = sp_test_temp_dir("manager_killed_saves");
  sp_model *model = small_model(3);
  sp_checkpoint_manager *manager = open_manager(directory, 5);
  save(manager, model);
  save(manager, model);
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  /* Killed between step 4 (the state file names ckpt-2) and step 5 (its entry complete): ckpt-2
   * is durable and the latest, and must stay so. */
  mark_pending(directory, "ckpt-2");
  manager = open_manager(directory, 5);
  cr_assert(exists(directory, "ckpt-2.index") && exists(directory, "ckpt-2.sha256"));
  cr_assert(sp_path_has_suffix(sp_checkpoint_manager_latest(manager), "/ckpt-2"));
  save(manager, model);
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  /* Killed between step 3 (ckpt-3.sha256 written) and step 4: the state file still names ckpt-2,
   * so ckpt-3 never committed; all its files go, the sidecar too, and its name is free again. */
  mark_pending(directory, "ckpt-3");
  sp_checkpoint_state *state = read_state(directory);
  free(state->model_checkpoint_path);
  state->model_checkpoint_path = sp_strdup("ckpt-2");
  cr_assert_eq(state->path_count, 3);
  free(state->all_model_checkpoint_paths[2]);
  state->path_count = 2;
  if (state->timestamp_count > 2) state->timestamp_count = 2;
  SP_ASSERT_OK(sp_checkpoint_state_write(directory, state));
  sp_checkpoint_state_free(state);
  manager = open_manager(directory, 5);
  cr_assert(!exists(directory, "ckpt-3.index") && !exists(directory, "ckpt-3.sha256"), "ckpt-3 is removed whole");
  sp_checkpoint_save_info info = {.step = 3};
  SP_ASSERT_OK(sp_checkpoint_manager_save(manager, model, &info, NULL));
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  sp_model_free(model);
  free(directory);
}

static float first_kernel_value(const char *prefix) {
  sp_model *model = small_model(3);
  SP_ASSERT_OK(sp_checkpoint_read(model, prefix, NULL));
  float value = sp_tensor_floats(model->layers[1]->variables[0]->value)[0];
  sp_model_free(model);
  return value;
}

Test(checkpoint_manager, async_saves_write_the_values_of_save_time) {
  char *directory = sp_test_temp_dir("manager_async");
  sp_model *model = small_model(3);
  sp_checkpoint_manager_options options = sp_checkpoint_manager_defaults();
  options.async = 1;
  options.max_to_keep = 0;
  sp_checkpoint_manager *manager;
  SP_ASSERT_OK(sp_checkpoint_manager_open(directory, &options, &manager));
  float *kernel = sp_tensor_floats(model->layers[1]->variables[0]->value);
  for (int i = 0; i < 5; i++) {
    kernel[0] = (float)i;
    save(manager, model);
    kernel[0] = -1.0f; /* changed while the writer may still be writing */
  }
  SP_ASSERT_OK(sp_checkpoint_manager_wait(manager));
  cr_assert_eq(sp_checkpoint_manager_count(manager), 5);
  for (int i = 0; i < 5; i++) {
    char name[32];
    snprintf(name, sizeof name, "ckpt-%d", i + 1);
    char *prefix = sp_path_join(directory, name);
    cr_assert_eq(first_kernel_value(prefix), (float)i, "%s", name);
    free(prefix);
  }
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  sp_model_free(model);
  free(directory);
}

Test(checkpoint_manager, an_async_failure_surfaces_at_the_next_save_and_keeps_the_previous_checkpoint) {
  char *directory = sp_test_temp_dir("manager_async_failure");
  sp_model *model = small_model(4000); /* 4 * 4000 + 4000 * 2 floats: about 100 KB of values */
  sp_checkpoint_manager_options options = sp_checkpoint_manager_defaults();
  options.async = 1;
  sp_checkpoint_manager *manager;
  SP_ASSERT_OK(sp_checkpoint_manager_open(directory, &options, &manager));
  save(manager, model);
  SP_ASSERT_OK(sp_checkpoint_manager_wait(manager));
  /* Files may now grow to 40 KB only: the next data file cannot be written (EFBIG). */
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = {40000, 40000};
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
  save(manager, model); /* handed to the writer: returns at once */
  SP_ASSERT_FAILS(sp_checkpoint_manager_save(manager, model, NULL, NULL), SP_ERROR_IO,
                  "a checkpoint save that ran in the background failed");
  cr_assert(strstr(sp_last_error(), "ckpt-2.data-00000-of-00001") != NULL, "%s", sp_last_error());
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  char *latest;
  SP_ASSERT_OK(sp_latest_checkpoint(directory, &latest));
  cr_assert(sp_path_has_suffix(latest, "/ckpt-1"), "%s", latest);
  cr_assert(!exists(directory, "ckpt-2.data-00000-of-00001") && !exists(directory, "ckpt-2.index"));
  free(latest);
  sp_model_free(model);
  free(directory);
}

Test(checkpoint_manager, records_checkpoints_and_deletions_in_the_registry) {
  char *directory = sp_test_temp_dir("manager_registry");
  char *url = sp_path_join(directory, "registry.db");
  sp_registry *registry;
  SP_ASSERT_OK(sp_registry_open(url, &registry));
  char *checkpoints = sp_path_join(directory, "checkpoints");
  sp_model *model = small_model(3);
  sp_checkpoint_manager_options options = sp_checkpoint_manager_defaults();
  options.max_to_keep = 1;
  options.registry = registry;
  sp_checkpoint_manager *manager;
  SP_ASSERT_OK(sp_checkpoint_manager_open(checkpoints, &options, &manager));
  for (int i = 0; i < 3; i++) save(manager, model);
  SP_ASSERT_OK(sp_checkpoint_manager_close(manager));
  sp_registry_table *table;
  sp_registry_filter filter = {.kind = "checkpoint"};
  SP_ASSERT_OK(sp_registry_list_artifacts(registry, &filter, &table));
  cr_assert_eq(table->row_count, 3);
  int deleted = 0;
  for (size_t row = 0; row < table->row_count; row++) deleted += sp_registry_table_get(table, row, "deleted_at") != NULL;
  cr_assert_eq(deleted, 2);
  sp_registry_table_free(table);
  sp_registry_close(registry);
  sp_model_free(model);
  free(checkpoints);
  free(url);
  free(directory);
}
