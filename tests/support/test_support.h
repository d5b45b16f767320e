/* test_support.h — helpers shared by the Criterion unit tests.
 *
 * Fixtures come from ../shared/fixtures (SP_FIXTURES); a test that needs one calls
 * sp_test_fixture() and is skipped, with a message, when the folder is absent.
 */
#ifndef SP_TEST_SUPPORT_H
#define SP_TEST_SUPPORT_H

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>

#include "savepoint/status.h"

/* Absolute path of a fixture file (static buffer per call site is not needed: returns a new string).
 * Skips the running test when the fixtures folder is missing. */
char *sp_test_fixture(const char *relative_path);
/* A fresh empty directory under the build tree for this test; removed by the caller if wanted. */
char *sp_test_temp_dir(const char *name);
/* Source-tree path (SP_SOURCE_DIR + relative). */
char *sp_test_source_path(const char *relative_path);

/* Fails the test with sp_last_error() when status is not SP_OK. */
#define SP_ASSERT_OK(expression)                                                              \
  do {                                                                                        \
    sp_status sp_assert_status_ = (expression);                                               \
    cr_assert(sp_assert_status_ == SP_OK, "%s failed: %s: %s", #expression,                   \
              sp_status_name(sp_assert_status_), sp_last_error());                            \
  } while (0)

/* Expects a specific failure and that the message contains a fragment. */
#define SP_ASSERT_FAILS(expression, expected_status, fragment)                                \
  do {                                                                                        \
    sp_status sp_assert_status_ = (expression);                                               \
    cr_assert(sp_assert_status_ == (expected_status), "%s: expected %s, got %s (%s)",         \
              #expression, sp_status_name(expected_status), sp_status_name(sp_assert_status_), \
              sp_last_error());                                                               \
    cr_assert(strstr(sp_last_error(), (fragment)) != NULL,                                    \
              "%s: message '%s' does not mention '%s'", #expression, sp_last_error(), (fragment)); \
  } while (0)

/* |actual - expected| <= absolute + relative * |expected| for every element. */
void sp_assert_close(const float *actual, const float *expected, size_t count, double relative, double absolute,
                     const char *what);

#endif
