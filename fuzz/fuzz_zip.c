/* fuzz_zip.c — libFuzzer target: arbitrary bytes as a zip archive through zipio's reader.
 *
 * Every member of an archive that opens is read with a 1 MiB limit; lookups by name must
 * find the member listed at each index (names are unique once an archive opens). Viewing a
 * member (in place when STORED) must succeed exactly when reading it does, with the same bytes,
 * both synchronously and with the CRC-32 checked on a second thread (start, then finish). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/zipio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_zip_reader *reader = NULL;
  if (sp_zip_open_memory(data, size, "fuzz.zip", &reader) != SP_OK) return 0;
  for (size_t index = 0; index < sp_zip_count(reader); index++) {
    const sp_zip_member *member = sp_zip_member_at(reader, index);
    if (sp_zip_find(reader, member->name) != member) __builtin_trap();
    uint8_t *bytes = NULL;
    size_t length = 0;
    sp_status read = sp_zip_read(reader, member->name, UINT64_C(1) << 20, &bytes, &length);
    sp_zip_view view;
    sp_status viewed = sp_zip_view_member(reader, member->name, UINT64_C(1) << 20, &view);
    if (read != viewed) __builtin_trap();
    sp_zip_view background;
    sp_status started = sp_zip_view_member_start(reader, member->name, UINT64_C(1) << 20, &background);
    sp_status finished = started == SP_OK ? sp_zip_view_finish(&background) : started;
    if (finished != read) __builtin_trap();
    if (read == SP_OK) {
      if (length != member->size || view.size != length || memcmp(view.data, bytes ? bytes : view.data, length) != 0)
        __builtin_trap();
      if (background.size != length || memcmp(background.data, bytes ? bytes : background.data, length) != 0)
        __builtin_trap();
      free(bytes);
      sp_zip_view_release(&view);
    }
    if (started == SP_OK) sp_zip_view_release(&background);
  }
  sp_zip_close(reader);
  return 0;
}
