/* Tests of artifact hashing and manifests (savepoint/manifest.h) and of registry-less
 * verification: expected hashes come from coreutils sha256sum (a peer), the listing format from
 * its documentation; tampering (one flipped byte, a missing file, an extra file, a replaced
 * directory) must be reported naming the file. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/memory.h"
#include "savepoint/manifest.h"
#include "savepoint/registry.h"
#include "test_support.h"

static void write_text(const char *directory, const char *name, const char *text) {
  char *path = sp_path_join(directory, name);
  char *parent = sp_path_dirname(path);
  SP_ASSERT_OK(sp_make_directories(parent));
  FILE *file = fopen(path, "wb");
  cr_assert_not_null(file, "cannot create %s", path);
  fputs(text, file);
  fclose(file);
  free(parent);
  free(path);
}

/* Flips the lowest bit of the byte at offset. */
static void flip_byte(const char *path, long offset) {
  FILE *file = fopen(path, "r+b");
  cr_assert_not_null(file, "cannot open %s", path);
  fseek(file, offset, SEEK_SET);
  int byte = fgetc(file);
  fseek(file, offset, SEEK_SET);
  fputc(byte ^ 1, file);
  fclose(file);
}

/* The first word printed by a shell command (sha256sum's digest). */
static char *command_word(const char *command) {
  FILE *pipe = popen(command, "r");
  cr_assert_not_null(pipe);
  char buffer[256] = {0};
  cr_assert(fgets(buffer, sizeof buffer, pipe) != NULL, "no output from: %s", command);
  cr_assert_eq(pclose(pipe), 0, "failed: %s", command);
  buffer[strcspn(buffer, " \n")] = '\0';
  return sp_strdup(buffer);
}

static char *make_saved_model(const char *root, const char *name, const char *weights) {
  char *directory = sp_path_join(root, name);
  write_text(directory, "saved_model.pb", "graph bytes");
  write_text(directory, "variables/variables.index", "index bytes");
  write_text(directory, "variables/variables.data-00000-of-00001", weights);
  write_text(directory, "assets/vocabulary.txt", "a\nb\n");
  return directory;
}

typedef struct collected {
  int count;
  sp_integrity_problem_kind kinds[16];
  char files[16][128];
  char sources[16][64];
} collected;

static void collect(const sp_integrity_problem *problem, void *context) {
  collected *problems = context;
  cr_assert_lt(problems->count, 16);
  problems->kinds[problems->count] = problem->kind;
  snprintf(problems->files[problems->count], sizeof problems->files[0], "%s", problem->file);
  snprintf(problems->sources[problems->count], sizeof problems->sources[0], "%s", problem->source);
  problems->count++;
}

Test(manifest, directory_manifest_is_what_sha256sum_checks) {
  char *root = sp_test_temp_dir("manifest-directory");
  char *model = make_saved_model(root, "1", "weights v1");
  sp_manifest *manifest = NULL;
  SP_ASSERT_OK(sp_manifest_create(model, &manifest));
  cr_assert_eq(manifest->layout, SP_ARTIFACT_LAYOUT_DIRECTORY);
  cr_assert_eq(manifest->count, 4);
  cr_assert_str_eq(manifest->entries[0].path, "assets/vocabulary.txt"); /* sorted bytewise */
  cr_assert_str_eq(manifest->entries[3].path, "variables/variables.index");
  cr_assert_eq(manifest->size, strlen("graph bytes") + strlen("index bytes") + strlen("weights v1") + 4);
  /* The peer: sha256sum checks the manifest, and its hash of the manifest is the artifact hash. */
  char *check = sp_strdupf("cd '%s' && sha256sum --check --strict --quiet savepoint.sha256", model);
  cr_assert_eq(system(check), 0, "sha256sum -c rejected the manifest");
  char *hash_command = sp_strdupf("sha256sum '%s/savepoint.sha256'", model);
  char *expected = command_word(hash_command);
  cr_assert_str_eq(manifest->sha256, expected);
  char *file_command = sp_strdupf("sha256sum '%s/saved_model.pb'", model);
  char *file_hash = command_word(file_command);
  cr_assert_str_eq(manifest->entries[1].sha256, file_hash);
  sp_manifest *read_back = NULL;
  SP_ASSERT_OK(sp_manifest_read(model, &read_back));
  cr_assert_str_eq(read_back->sha256, manifest->sha256);
  cr_assert_eq(sp_manifest_compare(read_back, manifest, model, "manifest", NULL, NULL), 0);
  sp_manifest_free(read_back);
  sp_manifest_free(manifest);
  free(check), free(hash_command), free(expected), free(file_command), free(file_hash), free(model), free(root);
}

Test(manifest, single_file_hash_is_the_files_own) {
  char *root = sp_test_temp_dir("manifest-file");
  write_text(root, "model.keras", "PK zip bytes");
  char *path = sp_path_join(root, "model.keras");
  sp_manifest *manifest = NULL;
  SP_ASSERT_OK(sp_manifest_create(path, &manifest));
  char *command = sp_strdupf("sha256sum '%s'", path);
  char *expected = command_word(command);
  cr_assert_eq(manifest->layout, SP_ARTIFACT_LAYOUT_FILE);
  cr_assert_str_eq(manifest->sha256, expected);
  cr_assert_str_eq(manifest->entries[0].path, "model.keras");
  char *check = sp_strdupf("cd '%s' && sha256sum --check --strict --quiet model.keras.sha256", root);
  cr_assert_eq(system(check), 0, "sha256sum -c rejected the sidecar");
  sp_manifest_free(manifest);
  free(check), free(command), free(expected), free(path), free(root);
}

Test(manifest, checkpoint_prefix_lists_only_its_own_files) {
  char *root = sp_test_temp_dir("manifest-prefix");
  write_text(root, "ckpt-1.index", "index 1");
  write_text(root, "ckpt-1.data-00000-of-00001", "data 1");
  write_text(root, "ckpt-10.index", "index 10");
  write_text(root, "checkpoint", "model_checkpoint_path: \"ckpt-10\"\n");
  write_text(root, ".ckpt-1.index.tmp-AbC123", "half written");
  char *prefix = sp_path_join(root, "ckpt-1");
  sp_manifest *manifest = NULL;
  SP_ASSERT_OK(sp_manifest_create(prefix, &manifest));
  cr_assert_eq(manifest->layout, SP_ARTIFACT_LAYOUT_PREFIX);
  cr_assert_eq(manifest->count, 2);
  cr_assert_str_eq(manifest->entries[0].path, "ckpt-1.data-00000-of-00001");
  cr_assert_str_eq(manifest->entries[1].path, "ckpt-1.index");
  char *check = sp_strdupf("cd '%s' && sha256sum --check --strict --quiet ckpt-1.sha256", root);
  cr_assert_eq(system(check), 0);
  /* Writing the manifest did not make it part of the artifact. */
  sp_manifest *again = NULL;
  SP_ASSERT_OK(sp_manifest_compute(prefix, &again));
  cr_assert_eq(again->count, 2);
  cr_assert_str_eq(again->sha256, manifest->sha256);
  sp_manifest_free(again);
  sp_manifest_free(manifest);
  free(check), free(prefix), free(root);
}

Test(manifest, temporary_names_are_ignored) {
  char *root = sp_test_temp_dir("manifest-temporary");
  char *model = make_saved_model(root, "1", "w");
  sp_manifest *before = NULL, *after = NULL;
  SP_ASSERT_OK(sp_manifest_compute(model, &before));
  write_text(model, ".saved_model.pb.tmp-x1y2z3", "partial");
  write_text(model, "variables/.variables.index.tmp-Q9w8e7", "partial");
  write_text(model, ".2.tmp-ABCDEF/saved_model.pb", "a whole directory being written");
  SP_ASSERT_OK(sp_manifest_compute(model, &after));
  cr_assert_eq(after->count, before->count);
  cr_assert_str_eq(after->sha256, before->sha256);
  sp_manifest_free(before);
  sp_manifest_free(after);
  free(model), free(root);
}

Test(manifest, compare_names_changed_missing_and_unexpected_files) {
  char *root = sp_test_temp_dir("manifest-compare");
  char *model = make_saved_model(root, "1", "0123456789");
  sp_manifest *recorded = NULL, *now = NULL;
  SP_ASSERT_OK(sp_manifest_compute(model, &recorded));
  char *weights = sp_path_join(model, "variables/variables.data-00000-of-00001");
  char *vocabulary = sp_path_join(model, "assets/vocabulary.txt");
  flip_byte(weights, 5);
  cr_assert_eq(unlink(vocabulary), 0);
  write_text(model, "extra.bin", "not in the manifest");
  SP_ASSERT_OK(sp_manifest_compute(model, &now));
  collected problems = {0};
  cr_assert_eq(sp_manifest_compare(recorded, now, model, "manifest", collect, &problems), 3);
  cr_assert_eq(problems.kinds[0], SP_INTEGRITY_MISSING);
  cr_assert_str_eq(problems.files[0], "assets/vocabulary.txt");
  cr_assert_eq(problems.kinds[1], SP_INTEGRITY_UNEXPECTED);
  cr_assert_str_eq(problems.files[1], "extra.bin");
  cr_assert_eq(problems.kinds[2], SP_INTEGRITY_CHANGED);
  cr_assert_str_eq(problems.files[2], "variables/variables.data-00000-of-00001");
  cr_assert_str_eq(problems.sources[2], "manifest");
  sp_manifest_free(recorded);
  sp_manifest_free(now);
  free(weights), free(vocabulary), free(model), free(root);
}

Test(manifest, parser_accepts_sha256sum_output_and_refuses_escapes) {
  static const char digest[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  char *text = sp_strdupf("%s  b.txt\n%s *./a.bin\n", digest, "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");
  sp_manifest *manifest = NULL;
  SP_ASSERT_OK(sp_manifest_parse(text, strlen(text), "test", &manifest));
  cr_assert_eq(manifest->count, 2);
  cr_assert_str_eq(manifest->entries[0].path, "a.bin");
  cr_assert_str_eq(manifest->entries[0].sha256, digest);
  cr_assert_eq(manifest->entries[0].size, SP_MANIFEST_SIZE_UNKNOWN);
  sp_manifest_free(manifest);
  free(text);
  struct {
    const char *line;
    sp_status status;
    const char *fragment;
  } bad[] = {
      {"%s  ../outside\n", SP_ERROR_UNSAFE, "'..'"},
      {"%s  /etc/passwd\n", SP_ERROR_UNSAFE, "absolute"},
      {"%s  a//b\n", SP_ERROR_UNSAFE, "empty"},
      {"%s  a\n%s  a\n", SP_ERROR_FORMAT, "listed twice"},
      {"\\%s  a\\nb\n", SP_ERROR_UNSUPPORTED, "escaped"},
      {"%s  a\n\n", SP_ERROR_FORMAT, "line 2"},
      {"%.63s  a\n", SP_ERROR_FORMAT, "line 1"},
      {"%s\ta\n", SP_ERROR_FORMAT, "line 1"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *line = sp_strdupf(bad[i].line, digest, digest);
    SP_ASSERT_FAILS(sp_manifest_parse(line, strlen(line), "manifest", &manifest), bad[i].status, bad[i].fragment);
    cr_assert_null(manifest);
    free(line);
  }
  char bad_digest[80];
  snprintf(bad_digest, sizeof bad_digest, "%.63sg  a\n", digest);
  SP_ASSERT_FAILS(sp_manifest_parse(bad_digest, strlen(bad_digest), "m", &manifest), SP_ERROR_FORMAT, "byte 64");
}

Test(manifest, symbolic_links_inside_an_artifact_are_refused) {
  char *root = sp_test_temp_dir("manifest-symlink");
  char *model = make_saved_model(root, "1", "w");
  char *link = sp_path_join(model, "elsewhere");
  cr_assert_eq(symlink("/etc/hostname", link), 0);
  sp_manifest *manifest = NULL;
  SP_ASSERT_FAILS(sp_manifest_compute(model, &manifest), SP_ERROR_UNSAFE, "symbolic link");
  free(link), free(model), free(root);
}

Test(verify, manifest_alone_catches_a_flipped_byte_and_names_the_file) {
  char *root = sp_test_temp_dir("verify-manifest");
  char *model = make_saved_model(root, "1", "0123456789abcdef");
  SP_ASSERT_OK(sp_manifest_create(model, NULL));
  size_t problems = 99;
  SP_ASSERT_OK(sp_verify_artifact(model, NULL, NULL, NULL, &problems));
  cr_assert_eq(problems, 0);
  char *weights = sp_path_join(model, "variables/variables.data-00000-of-00001");
  flip_byte(weights, 0);
  collected seen = {0};
  SP_ASSERT_FAILS(sp_verify_artifact(model, NULL, collect, &seen, &problems), SP_ERROR_CHECKSUM,
                  "'variables/variables.data-00000-of-00001' changed (per manifest)");
  cr_assert_eq(problems, 1);
  cr_assert_eq(seen.count, 1);
  free(weights), free(model), free(root);
}

Test(verify, checkpoint_directory_is_checked_through_its_sidecars) {
  char *root = sp_test_temp_dir("verify-checkpoints");
  for (int step = 1; step <= 2; step++) {
    char name[64], data[32];
    snprintf(name, sizeof name, "ckpt-%d.index", step);
    write_text(root, name, "index");
    snprintf(name, sizeof name, "ckpt-%d.data-00000-of-00001", step);
    snprintf(data, sizeof data, "tensor bytes %d", step);
    write_text(root, name, data);
    char *prefix = sp_strdupf("%s/ckpt-%d", root, step);
    SP_ASSERT_OK(sp_manifest_create(prefix, NULL));
    free(prefix);
  }
  write_text(root, "checkpoint", "model_checkpoint_path: \"ckpt-2\"\n");
  size_t problems = 0;
  SP_ASSERT_OK(sp_verify_artifact(root, NULL, NULL, NULL, &problems));
  char *data = sp_path_join(root, "ckpt-2.data-00000-of-00001");
  flip_byte(data, 3);
  SP_ASSERT_FAILS(sp_verify_artifact(root, NULL, NULL, NULL, &problems), SP_ERROR_CHECKSUM,
                  "ckpt-2.data-00000-of-00001");
  char *prefix = sp_path_join(root, "ckpt-2");
  SP_ASSERT_FAILS(sp_verify_artifact(prefix, NULL, NULL, NULL, &problems), SP_ERROR_CHECKSUM,
                  "'ckpt-2.data-00000-of-00001' changed");
  char *first = sp_path_join(root, "ckpt-1");
  SP_ASSERT_OK(sp_verify_artifact(first, NULL, NULL, NULL, &problems));
  free(first), free(prefix), free(data), free(root);
}

Test(verify, nothing_to_compare_with_is_an_error_not_a_pass) {
  char *root = sp_test_temp_dir("verify-nothing");
  char *model = make_saved_model(root, "1", "w");
  size_t problems = 0;
  SP_ASSERT_FAILS(sp_verify_artifact(model, NULL, NULL, NULL, &problems), SP_ERROR_NOT_FOUND, "nothing to verify");
  char *absent = sp_path_join(root, "absent");
  SP_ASSERT_FAILS(sp_verify_artifact(absent, NULL, NULL, NULL, &problems), SP_ERROR_NOT_FOUND, "checkpoint prefix");
  free(absent), free(model), free(root);
}

Test(verify, single_file_sidecar_catches_a_flipped_byte_in_a_keras_file) {
  char *root = sp_test_temp_dir("verify-keras");
  write_text(root, "model.keras", "PK\003\004 config.json model.weights.h5 metadata.json");
  char *path = sp_path_join(root, "model.keras");
  SP_ASSERT_OK(sp_manifest_create(path, NULL));
  size_t problems = 0;
  sp_verify_result result;
  SP_ASSERT_OK(sp_verify_artifact_detailed(path, NULL, NULL, NULL, &result));
  cr_assert_eq(result.manifest_checked, 1);
  char *command = sp_strdupf("sha256sum '%s'", path);
  char *expected = command_word(command);
  cr_assert_str_eq(result.sha256, expected);
  flip_byte(path, 10);
  SP_ASSERT_FAILS(sp_verify_artifact(path, NULL, NULL, NULL, &problems), SP_ERROR_CHECKSUM,
                  "'model.keras' changed (per manifest)");
  cr_assert_eq(problems, 1);
  free(command), free(expected), free(path), free(root);
}
