/* Tests of src/formats/checkpoint_state: the fixtures' `checkpoint` files (PROVENANCE §8, §19),
 * tf.train.latest_checkpoint's rules (relative paths joined to the directory, absent when the
 * named index is missing), the text TF's Python writer produces (formats.md §4.6 example
 * lines, Python repr of doubles), and atomic replacement. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/memory.h"
#include "formats/checkpoint_state.h"
#include "formats/tf_bundle.h"
#include "test_support.h"

static char *fixture_directory(const char *relative) {
  char *state = sp_strdupf("%s/checkpoint", relative);
  char *path = sp_test_fixture(state);
  free(state);
  path[strlen(path) - strlen("/checkpoint")] = '\0';
  return path;
}

Test(checkpoint_state, reads_the_tensorrt_fixture) {
  char *directory = fixture_directory("tf-trt-mnist-ckpt");
  sp_checkpoint_state *state;
  SP_ASSERT_OK(sp_checkpoint_state_read(directory, &state));
  cr_assert_str_eq(state->model_checkpoint_path, "model.ckpt-46900");
  cr_assert_eq(state->path_count, 2);
  cr_assert_str_eq(state->all_model_checkpoint_paths[0], "model.ckpt-0");
  cr_assert_str_eq(state->all_model_checkpoint_paths[1], "model.ckpt-46900");
  cr_assert_eq(state->timestamp_count, 0);
  cr_assert_eq(state->last_preserved_timestamp, 0);
  sp_checkpoint_state_free(state);
  free(directory);
}

Test(checkpoint_state, latest_checkpoint_follows_tensorflow) {
  char *directory = fixture_directory("tf-trt-mnist-ckpt");
  char *prefix;
  SP_ASSERT_OK(sp_latest_checkpoint(directory, &prefix));
  char *expected = sp_path_join(directory, "model.ckpt-46900");
  cr_assert_str_eq(prefix, expected);
  free(expected);
  free(prefix);
  free(directory);
  /* PROVENANCE §19: training_2/checkpoint names cp-0050.ckpt, whose files are not there. */
  directory = fixture_directory("tf-keras-save-weights-tf-format/training_2");
  SP_ASSERT_FAILS(sp_latest_checkpoint(directory, &prefix), SP_ERROR_NOT_FOUND,
                  "names checkpoint 'cp-0050.ckpt', but its .index file is missing");
  cr_assert_null(prefix);
  free(directory);
  char *empty = sp_test_temp_dir("state-none");
  SP_ASSERT_FAILS(sp_latest_checkpoint(empty, &prefix), SP_ERROR_NOT_FOUND, "has no 'checkpoint' state file");
  sp_checkpoint_state *state;
  SP_ASSERT_FAILS(sp_checkpoint_state_read(empty, &state), SP_ERROR_NOT_FOUND, "no such file");
  free(empty);
}

static void write_text(const char *directory, const char *text) {
  char *path = sp_path_join(directory, "checkpoint");
  FILE *file = fopen(path, "w");
  cr_assert_not_null(file);
  fputs(text, file);
  fclose(file);
  free(path);
}

static void touch_index(const char *prefix) {
  sp_bundle_writer *writer;
  SP_ASSERT_OK(sp_bundle_writer_open(prefix, &writer));
  SP_ASSERT_OK(sp_bundle_writer_finish(writer));
}

Test(checkpoint_state, absolute_and_relative_paths) {
  char *directory = sp_test_temp_dir("state-paths");
  char *absolute = sp_path_join(directory, "elsewhere/ckpt-3");
  touch_index(absolute);
  char *text = sp_strdupf("model_checkpoint_path: \"%s\"\n", absolute);
  write_text(directory, text);
  char *prefix;
  SP_ASSERT_OK(sp_latest_checkpoint(directory, &prefix));
  cr_assert_str_eq(prefix, absolute);
  free(prefix);
  write_text(directory, "model_checkpoint_path: \"elsewhere/ckpt-3\"\n");
  SP_ASSERT_OK(sp_latest_checkpoint(directory, &prefix));
  cr_assert_str_eq(prefix, absolute);
  free(prefix);
  write_text(directory, "all_model_checkpoint_paths: \"elsewhere/ckpt-3\"\n");
  SP_ASSERT_FAILS(sp_latest_checkpoint(directory, &prefix), SP_ERROR_NOT_FOUND, "model_checkpoint_path is empty");
  write_text(directory, "model_checkpoint_path: \"ckpt-3\"\nmodel_checkpoint_paths: \"x\"\n");
  SP_ASSERT_FAILS(sp_latest_checkpoint(directory, &prefix), SP_ERROR_FORMAT,
                  "/checkpoint:2:1: tensorflow.CheckpointState has no field named 'model_checkpoint_paths'");
  free(text);
  free(absolute);
  free(directory);
}

static int count_entries(const char *directory) {
  DIR *listing = opendir(directory);
  int count = 0;
  struct dirent *entry;
  while ((entry = readdir(listing)) != NULL) count += entry->d_name[0] != '.' || sp_path_is_temporary(entry->d_name);
  closedir(listing);
  return count;
}

Test(checkpoint_state, writes_what_tensorflow_writes_atomically) {
  char *directory = sp_test_temp_dir("state-write");
  char *paths[] = {"ckpt-1", "ckpt-2"};
  double timestamps[] = {1700000000.5, 1700000100.0};
  sp_checkpoint_state state = {"ckpt-2", paths, 2, timestamps, 2, 1699999999.25};
  SP_ASSERT_OK(sp_checkpoint_state_write(directory, &state));
  SP_ASSERT_OK(sp_checkpoint_state_write(directory, &state)); /* replaces */
  cr_assert_eq(count_entries(directory), 1, "only the state file remains (no temporaries)");
  char *path = sp_path_join(directory, "checkpoint");
  uint8_t *text;
  size_t size;
  SP_ASSERT_OK(sp_read_file(path, 4096, &text, &size));
  cr_assert_str_eq((const char *)text,
                   "model_checkpoint_path: \"ckpt-2\"\n"
                   "all_model_checkpoint_paths: \"ckpt-1\"\n"
                   "all_model_checkpoint_paths: \"ckpt-2\"\n"
                   "all_model_checkpoint_timestamps: 1700000000.5\n"
                   "all_model_checkpoint_timestamps: 1700000100.0\n"
                   "last_preserved_timestamp: 1699999999.25\n");
  sp_checkpoint_state *back;
  SP_ASSERT_OK(sp_checkpoint_state_read(directory, &back));
  cr_assert_str_eq(back->model_checkpoint_path, "ckpt-2");
  cr_assert_eq(back->path_count, 2);
  cr_assert_str_eq(back->all_model_checkpoint_paths[0], "ckpt-1");
  cr_assert_eq(back->timestamp_count, 2);
  cr_assert_eq(back->all_model_checkpoint_timestamps[0], 1700000000.5);
  cr_assert_eq(back->all_model_checkpoint_timestamps[1], 1700000100.0);
  cr_assert_eq(back->last_preserved_timestamp, 1699999999.25);
  sp_checkpoint_state_free(back);
  sp_checkpoint_state empty = {0};
  sp_buffer out = {0};
  SP_ASSERT_OK(sp_checkpoint_state_format(&empty, &out));
  cr_assert_eq(out.size, 0, "an empty state prints nothing, as proto3 text format does");
  sp_buffer_free(&out);
  free(text);
  free(path);
  free(directory);
}

Test(checkpoint_state, latest_after_writing_a_bundle_and_its_state) {
  char *directory = sp_test_temp_dir("state-latest");
  char *prefix = sp_path_join(directory, "ckpt-7");
  touch_index(prefix);
  char *paths[] = {"ckpt-7"};
  sp_checkpoint_state state = {"ckpt-7", paths, 1, NULL, 0, 0};
  SP_ASSERT_OK(sp_checkpoint_state_write(directory, &state));
  char *latest;
  SP_ASSERT_OK(sp_latest_checkpoint(directory, &latest));
  cr_assert_str_eq(latest, prefix);
  free(latest);
  free(prefix);
  free(directory);
}
