/* Tests of src/formats/zipio: both .keras fixtures read as PROVENANCE.md Appendix C and
 * Python's zipfile describe them, archives we write read back with the attributes Keras's
 * zipfile calls give, and hostile archives (path escapes, NUL and duplicate names, symbolic
 * links, bombs, oversized and truncated members, corrupt bytes) crafted byte by byte here
 * and refused with the member named. Python's view of what we write is checked by
 * tests/peer/test_zipio_peer.py. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zip.h>
#include <zlib.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/memory.h"
#include "formats/zipio.h"
#include "test_support.h"

static sp_zip_reader *open_archive(const char *fixture) {
  sp_zip_reader *reader = NULL;
  char *path = sp_test_fixture(fixture);
  sp_status status = sp_zip_open(path, &reader);
  free(path);
  SP_ASSERT_OK(status);
  return reader;
}

/* A path in a fresh scratch directory for this test; *directory is set to that directory. */
static char *scratch_file(const char *test, const char *name, char **directory) {
  *directory = sp_test_temp_dir(test);
  return sp_path_join(*directory, name);
}

static uint8_t *read_fixture_bytes(const char *fixture, size_t *size) {
  char *path = sp_test_fixture(fixture);
  uint8_t *bytes = NULL;
  SP_ASSERT_OK(sp_read_file(path, SIZE_MAX, &bytes, size));
  free(path);
  return bytes;
}

static char *read_text(sp_zip_reader *reader, const char *name) {
  uint8_t *data = NULL;
  size_t size = 0;
  SP_ASSERT_OK(sp_zip_read(reader, name, SP_ZIP_DEFAULT_MEMBER_LIMIT, &data, &size));
  char *text = sp_strndup((const char *)data, size);
  free(data);
  return text;
}

static int is_dos_epoch(time_t modified) {
  struct tm local;
  localtime_r(&modified, &local);
  return local.tm_year == 80 && local.tm_mon == 0 && local.tm_mday == 1 && local.tm_hour == 0 && local.tm_min == 0 &&
         local.tm_sec == 0;
}

/* ------------------------------------------------------------ fixtures ---- */

Test(zip_fixtures, keras_3_7_archive_members_as_zipfile_lists_them) {
  sp_zip_reader *reader = open_archive("keras3.7-churn-keras-and-h5-same-model/my_model.keras");
  cr_assert_eq(sp_zip_count(reader), 3);
  static const struct {
    const char *name;
    uint64_t size;
    uint32_t crc;
  } expected[] = {{"metadata.json", 63, 0x7561b13b}, {"config.json", 3642, 0x4b60307a},
                  {"model.weights.h5", 180920, 0x5e48acea}};
  for (size_t index = 0; index < 3; index++) {
    const sp_zip_member *member = sp_zip_member_at(reader, index);
    cr_assert_str_eq(member->name, expected[index].name);
    cr_assert_eq(member->size, expected[index].size);
    cr_assert_eq(member->compressed_size, expected[index].size);
    cr_assert_eq(member->method, SP_ZIP_STORED);
    cr_assert_eq(member->crc32, expected[index].crc);
    cr_assert_eq(member->external_attributes >> 16, 0600);
    cr_assert_not(member->is_directory);
  }
  cr_assert(is_dos_epoch(sp_zip_member_at(reader, 0)->modified), "zf.open(name, 'w') members carry 1980-01-01");
  cr_assert(is_dos_epoch(sp_zip_member_at(reader, 1)->modified));
  cr_assert_not(is_dos_epoch(sp_zip_member_at(reader, 2)->modified), "writestr members carry the save time");
  char *metadata = read_text(reader, "metadata.json");
  cr_assert_str_eq(metadata, "{\"keras_version\": \"3.7.0\", \"date_saved\": \"2025-01-03@12:42:26\"}");
  free(metadata);
  char *config = read_text(reader, "config.json");
  cr_assert(strncmp(config, "{\"module\": \"keras\", \"class_name\": \"Sequential\"", 45) == 0, "%.60s", config);
  free(config);
  cr_assert_eq(sp_zip_find(reader, "config.json"), sp_zip_member_at(reader, 1));
  cr_assert_null(sp_zip_find(reader, "model.weights.npz"));
  uint8_t *data = NULL;
  size_t size = 0;
  SP_ASSERT_FAILS(sp_zip_read(reader, "model.weights.npz", SP_ZIP_NO_LIMIT, &data, &size), SP_ERROR_NOT_FOUND,
                  "no member 'model.weights.npz'");
  SP_ASSERT_FAILS(sp_zip_read(reader, "model.weights.h5", 180919, &data, &size), SP_ERROR_UNSAFE,
                  "'model.weights.h5' is 180920 bytes, over the limit of 180919");
  cr_assert_null(data);
  sp_zip_close(reader);
}

Test(zip_fixtures, windows_tf_keras_archive_and_extraction) {
  sp_zip_reader *reader = open_archive("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model.keras");
  cr_assert_eq(sp_zip_count(reader), 3);
  cr_assert_eq(sp_zip_find(reader, "metadata.json")->size, 64);
  cr_assert_eq(sp_zip_find(reader, "config.json")->size, 3346);
  cr_assert_eq(sp_zip_find(reader, "model.weights.h5")->size, 489848);
  char *metadata = read_text(reader, "metadata.json");
  cr_assert_str_eq(metadata, "{\"keras_version\": \"2.15.0\", \"date_saved\": \"2024-01-30@18:10:19\"}");
  free(metadata);
  char *directory = sp_test_temp_dir("zip-extract");
  SP_ASSERT_OK(sp_zip_extract(reader, "config.json", directory, SP_ZIP_DEFAULT_MEMBER_LIMIT));
  char *extracted_path = sp_path_join(directory, "config.json");
  uint8_t *extracted = NULL, *read = NULL;
  size_t extracted_size = 0, read_size = 0;
  SP_ASSERT_OK(sp_read_file(extracted_path, SIZE_MAX, &extracted, &extracted_size));
  SP_ASSERT_OK(sp_zip_read(reader, "config.json", SP_ZIP_NO_LIMIT, &read, &read_size));
  cr_assert_eq(extracted_size, 3346);
  cr_assert(extracted_size == read_size && memcmp(extracted, read, read_size) == 0);
  free(extracted);
  free(read);
  free(extracted_path);
  free(directory);
  sp_zip_close(reader);
}

Test(zip_fixtures, archive_held_in_memory) {
  size_t size = 0;
  uint8_t *bytes = read_fixture_bytes("keras2.15-mnist-mlp-h5-keras-tfjs-savedmodel/my_model.keras", &size);
  sp_zip_reader *reader = NULL;
  SP_ASSERT_OK(sp_zip_open_memory(bytes, size, "my_model.keras", &reader));
  cr_assert_eq(sp_zip_count(reader), 3);
  char *metadata = read_text(reader, "metadata.json");
  cr_assert(strstr(metadata, "\"2.15.0\""));
  free(metadata);
  sp_zip_close(reader);
  free(bytes);
}

/* A STORED member is lent in place (mapped from disk, or inside the archive in memory), with
 * the bytes the copying read gives. */
Test(zip_fixtures, stored_member_viewed_in_place) {
  const char *relative = "keras3.7-churn-keras-and-h5-same-model/my_model.keras";
  char *path = sp_test_fixture(relative);
  size_t size = 0;
  uint8_t *bytes = read_fixture_bytes(relative, &size);
  sp_zip_reader *on_disk = NULL, *in_memory = NULL;
  SP_ASSERT_OK(sp_zip_open(path, &on_disk));
  SP_ASSERT_OK(sp_zip_open_memory(bytes, size, "my_model.keras", &in_memory));
  uint8_t *copy = NULL;
  size_t copy_size = 0;
  SP_ASSERT_OK(sp_zip_read(on_disk, "model.weights.h5", SP_ZIP_NO_LIMIT, &copy, &copy_size));
  sp_zip_view mapped, pointed;
  SP_ASSERT_OK(sp_zip_view_member(on_disk, "model.weights.h5", SP_ZIP_NO_LIMIT, &mapped));
  SP_ASSERT_OK(sp_zip_view_member(in_memory, "model.weights.h5", SP_ZIP_NO_LIMIT, &pointed));
  cr_assert_eq(mapped.size, copy_size);
  cr_assert_eq(pointed.size, copy_size);
  cr_assert(memcmp(mapped.data, copy, copy_size) == 0);
  cr_assert(pointed.data > bytes && pointed.data + pointed.size <= bytes + size, "lent from the archive itself");
  sp_zip_view refused;
  SP_ASSERT_FAILS(sp_zip_view_member(on_disk, "model.weights.h5", 10, &refused), SP_ERROR_UNSAFE, "over the limit");
  sp_zip_view_release(&mapped);
  sp_zip_view_release(&pointed);
  sp_zip_close(in_memory);
  bytes[0xecd + 30 + 16 + 1000] ^= 0x40; /* a byte inside model.weights.h5's data */
  SP_ASSERT_OK(sp_zip_open_memory(bytes, size, "corrupt.keras", &in_memory));
  SP_ASSERT_FAILS(sp_zip_view_member(in_memory, "model.weights.h5", SP_ZIP_NO_LIMIT, &pointed), SP_ERROR_CHECKSUM,
                  "corrupt.keras: member 'model.weights.h5': its bytes do not match its CRC-32 (the archive is corrupt)");
  cr_assert_null(pointed.copy);
  sp_zip_close(in_memory);
  sp_zip_close(on_disk);
  free(copy);
  free(bytes);
  free(path);
}

/* sp_zip_view_member_start lends the same bytes while the CRC-32 runs on another thread;
 * sp_zip_view_finish then reports a corrupt member with sp_zip_read's own error, and a view
 * released without finishing waits for its check (ASan: nothing leaks, nothing is unmapped
 * under the thread). */
Test(zip_fixtures, stored_member_checked_in_the_background) {
  const char *relative = "keras3.7-churn-keras-and-h5-same-model/my_model.keras";
  char *path = sp_test_fixture(relative);
  size_t size = 0;
  uint8_t *bytes = read_fixture_bytes(relative, &size);
  sp_zip_reader *on_disk = NULL, *in_memory = NULL;
  SP_ASSERT_OK(sp_zip_open(path, &on_disk));
  uint8_t *copy = NULL;
  size_t copy_size = 0;
  SP_ASSERT_OK(sp_zip_read(on_disk, "model.weights.h5", SP_ZIP_NO_LIMIT, &copy, &copy_size));
  sp_zip_view mapped, unfinished;
  SP_ASSERT_OK(sp_zip_view_member_start(on_disk, "model.weights.h5", SP_ZIP_NO_LIMIT, &mapped));
  cr_assert_eq(mapped.size, copy_size);
  cr_assert(memcmp(mapped.data, copy, copy_size) == 0);
  SP_ASSERT_OK(sp_zip_view_finish(&mapped));
  SP_ASSERT_OK(sp_zip_view_finish(&mapped)); /* finishing twice is harmless */
  cr_assert(memcmp(mapped.data, copy, copy_size) == 0, "still lent after the check");
  sp_zip_view_release(&mapped);
  SP_ASSERT_OK(sp_zip_view_member_start(on_disk, "model.weights.h5", SP_ZIP_NO_LIMIT, &unfinished));
  sp_zip_view_release(&unfinished);
  sp_zip_view refused;
  SP_ASSERT_FAILS(sp_zip_view_member_start(on_disk, "model.weights.h5", 10, &refused), SP_ERROR_UNSAFE,
                  "over the limit");
  SP_ASSERT_OK(sp_zip_view_finish(&refused)); /* nothing was started */
  sp_zip_view_release(&refused);

  bytes[0xecd + 30 + 16 + 1000] ^= 0x40; /* a byte inside model.weights.h5's data */
  SP_ASSERT_OK(sp_zip_open_memory(bytes, size, "corrupt.keras", &in_memory));
  sp_zip_view pointed;
  SP_ASSERT_OK(sp_zip_view_member_start(in_memory, "model.weights.h5", SP_ZIP_NO_LIMIT, &pointed));
  cr_assert(pointed.data > bytes && pointed.data + pointed.size <= bytes + size, "lent before the check ends");
  SP_ASSERT_FAILS(sp_zip_view_finish(&pointed), SP_ERROR_CHECKSUM,
                  "corrupt.keras: member 'model.weights.h5': its bytes do not match its CRC-32 (the archive is corrupt)");
  cr_assert_null(pointed.copy);
  cr_assert_eq(pointed.size, 0);
  sp_zip_view_release(&pointed);
  sp_zip_close(in_memory);
  sp_zip_close(on_disk);
  free(copy);
  free(bytes);
  free(path);
}

/* ------------------------------------------------------------- writing ---- */

Test(zip_write, round_trip_with_keras_defaults_and_options) {
  char *directory = NULL, *path = scratch_file("zip-write", "model.keras", &directory);
  char *asset = sp_path_join(directory, "vocabulary.txt");
  SP_ASSERT_OK(sp_write_file_atomic(asset, "alpha\nbeta\n", 11));
  SP_ASSERT_OK(sp_write_file_atomic(path, "the previous archive", 20));
  size_t weights_size = 3 << 20;
  uint8_t *weights = malloc(weights_size);
  for (size_t i = 0; i < weights_size; i++) weights[i] = (uint8_t)(i * 2654435761u >> 24);
  uint8_t *weights_copy = malloc(weights_size);
  memcpy(weights_copy, weights, weights_size);
  time_t saved = 1735907546; /* 2025-01-03 12:32:26 UTC */
  sp_zip_writer *writer = NULL;
  SP_ASSERT_OK(sp_zip_writer_open(path, &writer));
  SP_ASSERT_OK(sp_zip_writer_add(writer, "metadata.json", "{\"keras_version\": \"3.7.0\"}", 26, NULL));
  SP_ASSERT_OK(sp_zip_writer_add(writer, "config.json", "{}", 2, NULL));
  sp_zip_entry_options written_now = {SP_ZIP_STORED, 1, saved, 0};
  SP_ASSERT_OK(sp_zip_writer_add_owned(writer, "model.weights.h5", weights, weights_size, &written_now));
  sp_zip_entry_options deflated = {SP_ZIP_DEFLATED, 0, 0, 0644};
  SP_ASSERT_OK(sp_zip_writer_add(writer, "assets/notes.txt", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 32, &deflated));
  SP_ASSERT_OK(sp_zip_writer_add_file(writer, "assets/vocabulary.txt", asset, NULL));
  SP_ASSERT_FAILS(sp_zip_writer_add(writer, "config.json", "x", 1, NULL), SP_ERROR_EXISTS, "config.json");
  SP_ASSERT_FAILS(sp_zip_writer_add(writer, "assets/../../x", "x", 1, NULL), SP_ERROR_UNSAFE, "'..'");
  SP_ASSERT_FAILS(sp_zip_writer_add_owned(writer, "/abs", sp_strdup("x"), 1, NULL), SP_ERROR_UNSAFE, "absolute");
  SP_ASSERT_OK(sp_zip_writer_commit(writer));

  DIR *listing = opendir(directory);
  int entries = 0;
  for (struct dirent *entry; (entry = readdir(listing));) {
    cr_assert_not(sp_path_is_temporary(entry->d_name), "left behind: %s", entry->d_name);
    entries += entry->d_name[0] != '.';
  }
  closedir(listing);
  cr_assert_eq(entries, 2);

  sp_zip_reader *reader = NULL;
  SP_ASSERT_OK(sp_zip_open(path, &reader));
  cr_assert_eq(sp_zip_count(reader), 5);
  const char *order[] = {"metadata.json", "config.json", "model.weights.h5", "assets/notes.txt",
                         "assets/vocabulary.txt"};
  for (size_t index = 0; index < 5; index++) cr_assert_str_eq(sp_zip_member_at(reader, index)->name, order[index]);
  const sp_zip_member *metadata = sp_zip_find(reader, "metadata.json");
  cr_assert_eq(metadata->method, SP_ZIP_STORED);
  cr_assert_eq(metadata->external_attributes >> 16, 0600);
  cr_assert(is_dos_epoch(metadata->modified));
  const sp_zip_member *stored = sp_zip_find(reader, "model.weights.h5");
  cr_assert_eq(stored->compressed_size, weights_size);
  cr_assert_eq(stored->crc32, (uint32_t)crc32(0, weights_copy, (uInt)weights_size));
  cr_assert_eq(stored->modified / 2, saved / 2, "DOS time keeps even seconds");
  const sp_zip_member *notes = sp_zip_find(reader, "assets/notes.txt");
  cr_assert_eq(notes->method, SP_ZIP_DEFLATED);
  cr_assert_lt(notes->compressed_size, 32);
  cr_assert_eq(notes->external_attributes >> 16, 0644);
  cr_assert_eq(sp_zip_find(reader, "assets/vocabulary.txt")->external_attributes >> 16 & 0170000, 0100000,
               "files added from disk keep their mode, as zipfile.write does");
  uint8_t *data = NULL;
  size_t size = 0;
  SP_ASSERT_OK(sp_zip_read(reader, "model.weights.h5", SP_ZIP_NO_LIMIT, &data, &size));
  cr_assert(size == weights_size && memcmp(data, weights_copy, size) == 0);
  free(data);
  char *text = read_text(reader, "assets/notes.txt");
  cr_assert_str_eq(text, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  free(text);
  text = read_text(reader, "assets/vocabulary.txt");
  cr_assert_str_eq(text, "alpha\nbeta\n");
  free(text);
  sp_zip_close(reader);
  free(weights_copy);
  free(asset);
  free(path);
  free(directory);
}

/* Archives of STORED members held in memory (every .keras save) are written by zipio itself,
 * with the CRC-32 of large members computed while they are written; the bytes must be exactly
 * those libzip writes when given the same members with the same calls zipio makes of it. */
typedef struct libzip_member {
  const char *name;
  const void *data;
  size_t size;
  int has_time;
  time_t modified;
  uint32_t mode;
} libzip_member;

static void write_with_libzip(const char *path, const libzip_member *members, size_t count) {
  int error = 0;
  zip_t *archive = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &error);
  cr_assert_not_null(archive);
  for (size_t i = 0; i < count; i++) {
    zip_source_t *source = zip_source_buffer(archive, members[i].size ? members[i].data : NULL, members[i].size, 0);
    zip_int64_t index = zip_file_add(archive, members[i].name, source, ZIP_FL_ENC_GUESS);
    cr_assert_geq(index, 0);
    zip_uint64_t at = (zip_uint64_t)index;
    cr_assert_eq(members[i].has_time ? zip_file_set_mtime(archive, at, members[i].modified, 0)
                                     : zip_file_set_dostime(archive, at, 0, 0x0021, 0), 0);
    cr_assert_eq(zip_set_file_compression(archive, at, ZIP_CM_STORE, 0), 0);
    cr_assert_eq(zip_file_set_external_attributes(archive, at, 0, ZIP_OPSYS_UNIX, members[i].mode << 16), 0);
  }
  cr_assert_eq(zip_close(archive), 0);
}

Test(zip_write, stored_archives_are_byte_identical_to_libzip) {
  char *directory = NULL, *ours = scratch_file("zip-stored-writer", "ours.keras", &directory);
  char *theirs = sp_path_join(directory, "libzip.keras");
  size_t weights_size = (5 << 20) + 3; /* over the floor for a background CRC-32 */
  uint8_t *weights = malloc(weights_size);
  for (size_t i = 0; i < weights_size; i++) weights[i] = (uint8_t)(i * 2654435761u >> 24);
  const char *metadata = "{\"keras_version\": \"3.7.0\"}";
  libzip_member members[] = {
      {"metadata.json", metadata, strlen(metadata), 0, 0, 0600},
      {"config.json", "{}", 2, 0, 0, 0600},
      {"assets/empty", "", 0, 0, 0, 0644},
      {"model.weights.h5", weights, weights_size, 1, 1735907546 /* 2025-01-03 12:32:26 UTC */, 0600},
  };
  size_t count = sizeof members / sizeof *members;
  write_with_libzip(theirs, members, count);
  sp_zip_writer *writer = NULL;
  SP_ASSERT_OK(sp_zip_writer_open(ours, &writer));
  for (size_t i = 0; i < count; i++) {
    sp_zip_entry_options options = {SP_ZIP_STORED, members[i].has_time, members[i].modified, members[i].mode};
    if (i == 3) SP_ASSERT_OK(sp_zip_writer_add_owned(writer, members[i].name, weights, weights_size, &options));
    else SP_ASSERT_OK(sp_zip_writer_add(writer, members[i].name, members[i].data, members[i].size, &options));
  }
  SP_ASSERT_OK(sp_zip_writer_commit(writer)); /* frees weights, so libzip wrote first */
  uint8_t *our_bytes = NULL, *their_bytes = NULL;
  size_t our_size = 0, their_size = 0;
  SP_ASSERT_OK(sp_read_file(ours, SIZE_MAX, &our_bytes, &our_size));
  SP_ASSERT_OK(sp_read_file(theirs, SIZE_MAX, &their_bytes, &their_size));
  cr_assert_eq(our_size, their_size);
  size_t first_difference = 0;
  while (first_difference < our_size && our_bytes[first_difference] == their_bytes[first_difference]) first_difference++;
  cr_assert_eq(first_difference, our_size, "the archives differ from byte %zu", first_difference);
  DIR *listing = opendir(directory);
  for (struct dirent *entry; (entry = readdir(listing));)
    cr_assert_not(sp_path_is_temporary(entry->d_name), "left behind: %s", entry->d_name);
  closedir(listing);
  free(our_bytes);
  free(their_bytes);
  free(theirs);
  free(ours);
  free(directory);
}

Test(zip_write, abort_and_empty_archives) {
  char *directory = NULL, *path = scratch_file("zip-abort", "kept.keras", &directory);
  SP_ASSERT_OK(sp_write_file_atomic(path, "old", 3));
  sp_zip_writer *writer = NULL;
  SP_ASSERT_OK(sp_zip_writer_open(path, &writer));
  SP_ASSERT_OK(sp_zip_writer_add(writer, "config.json", "{}", 2, NULL));
  sp_zip_writer_abort(writer);
  uint8_t *data = NULL;
  size_t size = 0;
  SP_ASSERT_OK(sp_read_file(path, 100, &data, &size));
  cr_assert(size == 3 && memcmp(data, "old", 3) == 0, "an aborted archive leaves the old file");
  free(data);
  SP_ASSERT_OK(sp_zip_writer_open(path, &writer));
  SP_ASSERT_OK(sp_zip_writer_commit(writer));
  SP_ASSERT_OK(sp_read_file(path, 100, &data, &size));
  cr_assert_eq(size, 22, "an empty archive is its end record, as zipfile writes it");
  free(data);
  sp_zip_reader *reader = NULL;
  SP_ASSERT_OK(sp_zip_open(path, &reader));
  cr_assert_eq(sp_zip_count(reader), 0);
  sp_zip_close(reader);
  free(path);
  free(directory);
}

/* -------------------------------------------------- hostile archives ---- */

typedef struct raw_member {
  const char *name;
  size_t name_length; /* 0: strlen(name) */
  const void *data;   /* the stored (compressed) bytes */
  size_t data_length;
  uint16_t method;
  uint64_t declared_size; /* 0: data_length */
  uint32_t unix_mode;     /* 0: 0600 regular file */
  const char *local_name; /* NULL: the same as name */
} raw_member;

static void put_u16(sp_buffer *buffer, uint16_t value) {
  cr_assert_eq(sp_buffer_put_u8(buffer, (uint8_t)value), SP_OK);
  cr_assert_eq(sp_buffer_put_u8(buffer, (uint8_t)(value >> 8)), SP_OK);
}
static void put_u32(sp_buffer *buffer, uint32_t value) { cr_assert_eq(sp_buffer_put_u32le(buffer, value), SP_OK); }
static void put_bytes(sp_buffer *buffer, const void *data, size_t size) {
  cr_assert_eq(sp_buffer_append(buffer, data, size), SP_OK);
}

/* One header (local or central) of a member; sizes over 4 GiB use a zip64 extra field. */
static void put_header(sp_buffer *buffer, const raw_member *member, int central, uint32_t offset) {
  const char *name = central || !member->local_name ? member->name : member->local_name;
  size_t name_length = member->name_length && (central || !member->local_name) ? member->name_length : strlen(name);
  uint64_t size = member->declared_size ? member->declared_size : member->data_length;
  int zip64 = size >= 0xffffffffu;
  put_u32(buffer, central ? 0x02014b50 : 0x04034b50);
  if (central) put_u16(buffer, (uint16_t)(3 << 8 | 20)); /* made on Unix */
  put_u16(buffer, zip64 ? 45 : 20);
  put_u16(buffer, 0);
  put_u16(buffer, member->method);
  put_u16(buffer, 0);
  put_u16(buffer, 0x21);
  put_u32(buffer, (uint32_t)crc32(0, member->data, (uInt)member->data_length));
  put_u32(buffer, zip64 ? 0xffffffffu : (uint32_t)member->data_length);
  put_u32(buffer, zip64 ? 0xffffffffu : (uint32_t)size);
  put_u16(buffer, (uint16_t)name_length);
  put_u16(buffer, zip64 ? 20 : 0);
  if (central) {
    put_u16(buffer, 0);
    put_u16(buffer, 0);
    put_u16(buffer, 0);
    put_u32(buffer, (member->unix_mode ? member->unix_mode : 0100600) << 16);
    put_u32(buffer, offset);
  }
  put_bytes(buffer, name, name_length);
  if (zip64) {
    put_u16(buffer, 1);
    put_u16(buffer, 16);
    cr_assert_eq(sp_buffer_put_u64le(buffer, size), SP_OK);
    cr_assert_eq(sp_buffer_put_u64le(buffer, member->data_length), SP_OK);
  }
}

static uint8_t *build_zip(const raw_member *members, size_t count, size_t *size) {
  sp_buffer buffer = {0};
  uint32_t offsets[16];
  for (size_t index = 0; index < count; index++) {
    offsets[index] = (uint32_t)buffer.size;
    put_header(&buffer, &members[index], 0, 0);
    put_bytes(&buffer, members[index].data, members[index].data_length);
  }
  size_t directory = buffer.size;
  for (size_t index = 0; index < count; index++) put_header(&buffer, &members[index], 1, offsets[index]);
  put_u32(&buffer, 0x06054b50);
  put_u16(&buffer, 0);
  put_u16(&buffer, 0);
  put_u16(&buffer, (uint16_t)count);
  put_u16(&buffer, (uint16_t)count);
  put_u32(&buffer, (uint32_t)(buffer.size - directory - 12));
  put_u32(&buffer, (uint32_t)directory);
  put_u16(&buffer, 0);
  return sp_buffer_detach(&buffer, size);
}

static void expect_refused(const raw_member *members, size_t count, sp_status status, const char *fragment) {
  size_t size = 0;
  uint8_t *bytes = build_zip(members, count, &size);
  sp_zip_reader *reader = NULL;
  SP_ASSERT_FAILS(sp_zip_open_memory(bytes, size, "hostile.keras", &reader), status, fragment);
  cr_assert_null(reader);
  free(bytes);
}

Test(zip_hostile, names_that_escape_are_refused_with_the_member_named) {
  static const char *escapes[][2] = {
      {"../x", "member '../x' escapes its directory with '..'"},
      {"assets/../../x", "escapes its directory"},
      {"/etc/x", "member '/etc/x' has an absolute path"},
      {"a\\..\\..\\x", "member 'a\\..\\..\\x' escapes its directory"},
      {"\\windows\\x", "absolute path"},
      {"C:evil", "member 'C:evil' starts with a drive letter"},
  };
  for (size_t index = 0; index < sizeof escapes / sizeof escapes[0]; index++) {
    raw_member members[2] = {{.name = "config.json", .data = "{}", .data_length = 2},
                             {.name = escapes[index][0], .data = "x", .data_length = 1}};
    expect_refused(members, 2, SP_ERROR_UNSAFE, escapes[index][1]);
  }
  raw_member nul = {.name = "config.json\0../x", .name_length = 16, .data = "x", .data_length = 1};
  expect_refused(&nul, 1, SP_ERROR_UNSAFE, "member 'config.json' has a NUL byte in its name");
  raw_member empty = {.name = "", .data = "x", .data_length = 1};
  expect_refused(&empty, 1, SP_ERROR_UNSAFE, "has an empty name");
  /* Names that merely look odd stay readable. */
  raw_member fine[2] = {{.name = "a..b/..c", .data = "1", .data_length = 1},
                        {.name = "assets/./x", .data = "2", .data_length = 1}};
  size_t size = 0;
  uint8_t *bytes = build_zip(fine, 2, &size);
  sp_zip_reader *reader = NULL;
  SP_ASSERT_OK(sp_zip_open_memory(bytes, size, "fine.keras", &reader));
  sp_zip_close(reader);
  free(bytes);
}

Test(zip_hostile, duplicates_links_and_mismatched_headers) {
  raw_member twice[3] = {{.name = "config.json", .data = "{}", .data_length = 2},
                         {.name = "model.weights.h5", .data = "a", .data_length = 1},
                         {.name = "config.json", .data = "[]", .data_length = 2}};
  expect_refused(twice, 3, SP_ERROR_UNSAFE, "member 'config.json' appears twice");
  raw_member link = {.name = "assets/link", .data = "/etc/passwd", .data_length = 11, .unix_mode = 0120777};
  expect_refused(&link, 1, SP_ERROR_UNSAFE, "member 'assets/link' is a symbolic link");
  raw_member disagreeing = {.name = "config.json", .local_name = "model.json", .data = "{}", .data_length = 2};
  size_t size = 0;
  uint8_t *bytes = build_zip(&disagreeing, 1, &size);
  sp_zip_reader *reader = NULL;
  SP_ASSERT_FAILS(sp_zip_open_memory(bytes, size, "hostile.keras", &reader), SP_ERROR_FORMAT, "hostile.keras");
  free(bytes);
  raw_member method = {.name = "config.json", .data = "{}", .data_length = 2, .method = 12 /* bzip2 */};
  expect_refused(&method, 1, SP_ERROR_UNSUPPORTED, "member 'config.json' uses a compression method");
}

Test(zip_hostile, bombs_and_oversized_members_are_refused_before_allocating) {
  static const uint8_t empty_deflate[2] = {0x03, 0x00}; /* a final empty block */
  raw_member bomb = {.name = "model.weights.h5", .data = empty_deflate, .data_length = 2, .method = 8,
                     .declared_size = UINT64_C(5) << 30};
  expect_refused(&bomb, 1, SP_ERROR_UNSAFE, "member 'model.weights.h5' expands 2 bytes to 5368709120");
  raw_member large[2] = {{.name = "config.json", .data = "{}", .data_length = 2},
                         {.name = "assets/big.bin", .data = empty_deflate, .data_length = 2, .method = 8,
                          .declared_size = UINT64_C(300) << 20}};
  size_t size = 0;
  uint8_t *bytes = build_zip(large, 2, &size);
  sp_zip_reader *reader = NULL;
  SP_ASSERT_OK(sp_zip_open_memory(bytes, size, "large.keras", &reader)); /* under 4 GiB: opens */
  uint8_t *data = NULL;
  size_t data_size = 0;
  SP_ASSERT_FAILS(sp_zip_read(reader, "assets/big.bin", SP_ZIP_DEFAULT_MEMBER_LIMIT, &data, &data_size),
                  SP_ERROR_UNSAFE, "member 'assets/big.bin' is 314572800 bytes, over the limit of 268435456");
  char *directory = sp_test_temp_dir("zip-bomb");
  SP_ASSERT_FAILS(sp_zip_extract(reader, "assets/big.bin", directory, SP_ZIP_NO_LIMIT), SP_ERROR_UNSAFE,
                  "over 256 MiB and more than 100x");
  SP_ASSERT_FAILS(sp_zip_read(reader, "assets/big.bin", SP_ZIP_NO_LIMIT, &data, &data_size), SP_ERROR_CHECKSUM,
                  "member 'assets/big.bin': its bytes do not match its CRC-32 (the archive is corrupt) (after 0 of its "
                  "314572800 bytes)");
  cr_assert_null(data);
  sp_zip_close(reader);
  free(directory);
  free(bytes);
}

Test(zip_hostile, truncated_and_corrupt_archives) {
  sp_zip_reader *reader = NULL;
  size_t size = 0;
  uint8_t *bytes = read_fixture_bytes("keras3.7-churn-keras-and-h5-same-model/my_model.keras", &size);
  for (size_t cut = 0; cut < size; cut += size / 7 + 1) {
    SP_ASSERT_FAILS(sp_zip_open_memory(bytes, cut, "cut.keras", &reader), SP_ERROR_FORMAT, "cut.keras");
    cr_assert_null(reader);
  }
  SP_ASSERT_FAILS(sp_zip_open_memory(bytes, size - 1, "cut.keras", &reader), SP_ERROR_FORMAT,
                  "no end-of-central-directory record");
  const sp_zip_member *weights;
  SP_ASSERT_OK(sp_zip_open_memory(bytes, size, "intact.keras", &reader));
  weights = sp_zip_find(reader, "model.weights.h5");
  cr_assert_not_null(weights);
  sp_zip_close(reader);
  bytes[0xecd + 30 + 16 + 1000] ^= 0x40; /* a byte inside model.weights.h5's data */
  SP_ASSERT_OK(sp_zip_open_memory(bytes, size, "corrupt.keras", &reader));
  uint8_t *data = NULL;
  size_t data_size = 0;
  SP_ASSERT_FAILS(sp_zip_read(reader, "model.weights.h5", SP_ZIP_NO_LIMIT, &data, &data_size), SP_ERROR_CHECKSUM,
                  "corrupt.keras: member 'model.weights.h5': its bytes do not match its CRC-32 (the archive is corrupt) "
                  "(after 180920 of its 180920 bytes)");
  char *metadata = read_text(reader, "metadata.json");
  cr_assert(strstr(metadata, "3.7.0"), "other members still read");
  free(metadata);
  sp_zip_close(reader);
  SP_ASSERT_FAILS(sp_zip_open_memory("PK\5\6", 4, "tiny.keras", &reader), SP_ERROR_FORMAT, "too small");
  SP_ASSERT_FAILS(sp_zip_open("/nonexistent.keras", &reader), SP_ERROR_NOT_FOUND, "no such file");
  free(bytes);
}
