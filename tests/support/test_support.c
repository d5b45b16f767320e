/* test_support.c — fixture paths, temporary directories and numeric comparisons for tests. */
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/memory.h"

static const char *environment_or(const char *name, const char *fallback) {
  const char *value = getenv(name);
  return value && *value ? value : fallback;
}

char *sp_test_fixture(const char *relative_path) {
  const char *root = environment_or("SP_FIXTURES", "../shared/fixtures");
  if (!sp_is_directory(root)) cr_skip_test("fixtures folder '%s' is absent: conformance test skipped", root);
  char *path = sp_path_join(root, relative_path);
  cr_assert(path != NULL);
  cr_assert(sp_path_exists(path), "fixture '%s' is missing", path);
  return path;
}

char *sp_test_temp_dir(const char *name) {
  const char *root = environment_or("SP_TEST_TMP", "/tmp");
  char *path = sp_strdupf("%s/%s-%d", root, name, (int)getpid());
  cr_assert(path != NULL);
  cr_assert(sp_remove_tree(path) == SP_OK, "%s", sp_last_error());
  cr_assert(sp_make_directories(path) == SP_OK, "%s", sp_last_error());
  return path;
}

char *sp_test_source_path(const char *relative_path) {
  return sp_path_join(environment_or("SP_SOURCE_DIR", "."), relative_path);
}

void sp_assert_close(const float *actual, const float *expected, size_t count, double relative, double absolute,
                     const char *what) {
  for (size_t i = 0; i < count; i++) {
    double difference = fabs((double)actual[i] - (double)expected[i]);
    double allowed = absolute + relative * fabs((double)expected[i]);
    cr_assert(difference <= allowed && !isnan(actual[i]), "%s: element %zu is %.9g, expected %.9g (difference %.3g > %.3g)",
              what, i, actual[i], expected[i], difference, allowed);
  }
}
