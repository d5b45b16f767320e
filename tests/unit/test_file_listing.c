/* Tests of sp_list_directory: sorted names, no dot entries, the entry limit, missing directories. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/memory.h"
#include "test_support.h"

Test(list_directory, sorted_without_dot_entries) {
  char *directory = sp_test_temp_dir("listing");
  const char *names[] = {"b.txt", "a", "C"};
  for (int i = 0; i < 3; i++) {
    char *path = sp_path_join(directory, names[i]);
    SP_ASSERT_OK(sp_write_file_atomic(path, "x", 1));
    free(path);
  }
  char **listed;
  size_t count;
  SP_ASSERT_OK(sp_list_directory(directory, 100, &listed, &count));
  cr_assert_eq(count, 3);
  cr_assert_str_eq(listed[0], "C");
  cr_assert_str_eq(listed[1], "a");
  cr_assert_str_eq(listed[2], "b.txt");
  sp_free_names(listed, count);
  SP_ASSERT_FAILS(sp_list_directory(directory, 2, &listed, &count), SP_ERROR_UNSAFE, "more than 2 entries");
  cr_assert_null(listed);
  sp_remove_tree(directory);
  free(directory);
}

Test(list_directory, missing_directory_is_not_found) {
  char **listed;
  size_t count;
  SP_ASSERT_FAILS(sp_list_directory("/nonexistent/savepoint", 10, &listed, &count), SP_ERROR_NOT_FOUND,
                  "no such directory");
}
