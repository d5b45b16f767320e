/* fuzz_zip.c — libFuzzer target: arbitrary bytes as a zip archive through zipio's reader.
 *
 * Every member of an archive that opens is read with a 1 MiB limit; lookups by name must
 * find the member listed at each index (names are unique once an archive opens). */
#include <stdint.h>
#include <stdlib.h>

#include "formats/zipio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_zip_reader *reader = NULL;
  if (sp_zip_open_memory(data, size, "fuzz.zip", &reader) != SP_OK) return 0;
  for (size_t index = 0; index < sp_zip_count(reader); index++) {
    const sp_zip_member *member = sp_zip_member_at(reader, index);
    if (sp_zip_find(reader, member->name) != member) __builtin_trap();
    uint8_t *bytes = NULL;
    size_t length = 0;
    if (sp_zip_read(reader, member->name, UINT64_C(1) << 20, &bytes, &length) == SP_OK) {
      if (length != member->size) __builtin_trap();
      free(bytes);
    }
  }
  sp_zip_close(reader);
  return 0;
}
