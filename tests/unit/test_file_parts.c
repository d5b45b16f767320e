/* Tests of core/file_parts: a span read copies exactly the asked bytes and refuses a file that
 * is not the size it was checked at, a link, or a span outside it; staged files are written only
 * inside temporary directories, hold what was written, and vanish when aborted. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/file_parts.h"
#include "core/memory.h"
#include "test_support.h"

static const char digits[] = "0123456789";

static char *ten_bytes(const char *name) {
  char *directory = sp_test_temp_dir(name);
  char *path = sp_path_join(directory, "ten.bin");
  SP_ASSERT_OK(sp_write_file_atomic(path, digits, 10));
  free(directory);
  return path;
}

Test(file_parts, a_span_read_copies_exactly_that_span) {
  char *path = ten_bytes("parts-span");
  char buffer[8] = "xxxxxxx";
  SP_ASSERT_OK(sp_read_file_span(path, 10, 3, buffer, 4));
  cr_assert_eq(memcmp(buffer, "3456xxx", 7), 0, "read '%s'", buffer);
  SP_ASSERT_OK(sp_read_file_span(path, 10, 10, buffer, 0));
  free(path);
}

Test(file_parts, a_span_read_refuses_a_changed_file_a_link_or_a_span_outside) {
  char *path = ten_bytes("parts-refuse");
  char buffer[16];
  SP_ASSERT_FAILS(sp_read_file_span(path, 12, 0, buffer, 4), SP_ERROR_IO, "changed while it was read");
  SP_ASSERT_FAILS(sp_read_file_span(path, 10, 8, buffer, 4), SP_ERROR_INVALID_ARGUMENT, "holds 10");
  char *directory = sp_path_dirname(path), *link = sp_path_join(directory, "link.bin");
  cr_assert_eq(symlink("ten.bin", link), 0);
  SP_ASSERT_FAILS(sp_read_file_span(link, 10, 0, buffer, 4), SP_ERROR_IO, "cannot open");
  free(link);
  free(directory);
  free(path);
}

Test(file_parts, staged_files_are_written_only_inside_temporary_directories) {
  char *directory = sp_test_temp_dir("parts-staged");
  sp_staged_file file;
  SP_ASSERT_FAILS(sp_staged_file_open(directory, "plain.bin", &file), SP_ERROR_INVALID_ARGUMENT,
                  "not a temporary directory");
  char *final = sp_path_join(directory, "model"), *temp = NULL;
  SP_ASSERT_OK(sp_temp_directory_for(final, &temp));
  SP_ASSERT_OK(sp_staged_file_open(temp, "kept.bin", &file));
  SP_ASSERT_OK(sp_staged_file_write(&file, digits, 4));
  SP_ASSERT_OK(sp_staged_file_write(&file, digits + 4, 6));
  SP_ASSERT_OK(sp_staged_file_close(&file));
  SP_ASSERT_OK(sp_staged_file_open(temp, "dropped.bin", &file));
  SP_ASSERT_OK(sp_staged_file_write(&file, digits, 10));
  sp_staged_file_abort(&file);
  SP_ASSERT_FAILS(sp_staged_file_open(temp, "kept.bin", &file), SP_ERROR_IO, "cannot create");
  SP_ASSERT_OK(sp_publish_directory(temp, final, 0));
  char *kept = sp_path_join(final, "kept.bin"), *dropped = sp_path_join(final, "dropped.bin");
  uint8_t *bytes = NULL;
  size_t size = 0;
  SP_ASSERT_OK(sp_read_file(kept, 64, &bytes, &size));
  cr_assert_eq(size, 10);
  cr_assert_eq(memcmp(bytes, digits, 10), 0);
  cr_assert(!sp_path_exists(dropped), "an aborted staged file survived");
  free(bytes);
  free(dropped);
  free(kept);
  free(temp);
  free(final);
  free(directory);
}
