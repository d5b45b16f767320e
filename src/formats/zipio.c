/* zipio.c — zip reading and writing over libzip (see zipio.h for the guarantees).
 *
 * Opening validates the whole archive before anything is read: libzip parses it (with
 * ZIP_CHECKCONS, which also compares local headers with the central directory), and an
 * independent walk of the central directory through sp_reader cross-checks the member
 * count and every raw name, because libzip turns a NUL byte in a name into a space while
 * Python's zipfile cuts the name there — two readers must never see different members.
 */
#include "formats/zipio.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "core/bytes.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/memory.h"

#define GIB (UINT64_C(1) << 30)
#define MIB (UINT64_C(1) << 20)
/* formats.md §1.1: Keras refuses a member over 4 GiB (256 MiB when extracting) that is
 * also more than 100x its compressed size. */
static const uint64_t bomb_floor_on_open = 4 * GIB;
static const uint64_t bomb_floor_on_extract = 256 * MIB;
static const uint64_t bomb_ratio = 100;
/* A central directory this large is not a Keras archive. */
static const uint64_t central_directory_limit = 256 * MIB;
static const size_t extract_chunk_bytes = 1 << 20;

struct sp_zip_reader {
  zip_t *archive;
  char *name;
  sp_zip_member *members; /* members[i] is libzip entry i */
  const sp_zip_member **by_name;
  size_t count;
  uint64_t *local_header_offsets; /* [i] for entry i from the central directory; UINT64_MAX unknown */
  int on_disk;                    /* name is the archive's path */
  const uint8_t *memory;          /* the archive's bytes when opened from memory */
  size_t memory_size;
};

/* What savepoint's own writer needs of a member added from memory (see write_stored_archive). */
typedef struct stored_member {
  char *name;
  const uint8_t *data; /* borrowed from libzip's source, which keeps it until commit or discard */
  size_t size;
  uint16_t dos_time, dos_date;
  uint32_t mode;
} stored_member;

struct sp_zip_writer {
  zip_t *archive;
  char *final_path;
  char *temp_path;
  size_t count;
  stored_member *stored; /* every member, while all can be written without libzip */
  size_t stored_count, stored_capacity;
  int needs_libzip; /* a member only libzip writes: DEFLATE, from a file, an unusual name or time */
};

/* ------------------------------------------------------------ member names ---- */

/* Why a member name could escape the directory it is extracted into, or NULL. Backslashes
 * count as separators, since Windows writers use them. */
static const char *name_problem(const char *name, size_t length) {
  if (length == 0) return "has an empty name";
  if (memchr(name, '\0', length)) return "has a NUL byte in its name";
  if (name[0] == '/' || name[0] == '\\') return "has an absolute path";
  if (length >= 2 && name[1] == ':' && ((name[0] | 0x20) >= 'a' && (name[0] | 0x20) <= 'z'))
    return "starts with a drive letter";
  for (size_t start = 0; start < length;) {
    size_t end = start;
    while (end < length && name[end] != '/' && name[end] != '\\') end++;
    if (end - start == 2 && name[start] == '.' && name[start + 1] == '.') return "escapes its directory with '..'";
    start = end + 1;
  }
  return NULL;
}

static int is_zip_bomb(uint64_t size, uint64_t compressed_size, uint64_t floor) {
  if (size <= floor || compressed_size > UINT64_MAX / bomb_ratio) return 0;
  return size > compressed_size * bomb_ratio;
}

/* -------------------------------------------- independent central directory ---- */

/* The raw member names of the central directory, as bytes with lengths. */
typedef struct central_name {
  const uint8_t *bytes;
  size_t length;
  uint64_t local_header_offset; /* UINT64_MAX when the entry does not say it plainly */
} central_name;

typedef struct central_directory {
  uint8_t *bytes;
  central_name *names;
  uint64_t entries;
} central_directory;

static void central_directory_free(central_directory *directory) {
  free(directory->bytes);
  free(directory->names);
  memset(directory, 0, sizeof *directory);
}

static sp_status read_source_at(zip_source_t *source, const char *archive, uint64_t offset, size_t length,
                                uint8_t *out) {
  if (zip_source_seek(source, (zip_int64_t)offset, SEEK_SET) < 0)
    return sp_fail(SP_ERROR_IO, "%s: seeking to byte %llu: %s", archive, (unsigned long long)offset,
                   zip_error_strerror(zip_source_error(source)));
  size_t done = 0;
  while (done < length) {
    zip_int64_t got = zip_source_read(source, out + done, length - done);
    if (got <= 0)
      return sp_fail(got < 0 ? SP_ERROR_IO : SP_ERROR_FORMAT, "%s: reading %zu bytes at byte %llu: %s", archive,
                     length, (unsigned long long)offset, got < 0 ? zip_error_strerror(zip_source_error(source))
                                                                 : "the archive is truncated");
    done += (size_t)got;
  }
  return SP_OK;
}

/* Finds the end-of-central-directory record (the last one, as Python's zipfile does) and
 * the central directory's offset, size and entry count (zip64 when marked so). */
static sp_status locate_central_directory(zip_source_t *source, const char *archive, uint64_t total,
                                          uint64_t *offset, uint64_t *size, uint64_t *entries) {
  enum { EOCD = 22, LOCATOR = 20, EOCD64 = 56, MAX_COMMENT = 65535 };
  if (total < EOCD) return sp_fail(SP_ERROR_FORMAT, "%s: %llu bytes is too small for a zip archive", archive,
                                   (unsigned long long)total);
  size_t tail_length = (size_t)(total < EOCD + MAX_COMMENT + LOCATOR ? total : EOCD + MAX_COMMENT + LOCATOR);
  uint64_t tail_start = total - tail_length;
  uint8_t *tail = sp_alloc(tail_length);
  if (!tail) return SP_ERROR_NO_MEMORY;
  sp_status status = read_source_at(source, archive, tail_start, tail_length, tail);
  size_t record = SIZE_MAX;
  for (size_t at = tail_length - EOCD + 1; status == SP_OK && at-- > 0;) {
    if (sp_load_u32le(tail + at) == 0x06054b50 && at + EOCD + sp_load_u16le(tail + at + 20) <= tail_length) {
      record = at;
      break;
    }
  }
  if (status == SP_OK && record == SIZE_MAX)
    status = sp_fail(SP_ERROR_FORMAT, "%s: no end-of-central-directory record (not a zip archive, or truncated)",
                     archive);
  if (status == SP_OK) {
    const uint8_t *end = tail + record;
    if (sp_load_u16le(end + 4) != 0 || sp_load_u16le(end + 6) != 0)
      status = sp_fail(SP_ERROR_UNSUPPORTED, "%s: multi-disk archives are not supported", archive);
    *entries = sp_load_u16le(end + 10);
    *size = sp_load_u32le(end + 12);
    *offset = sp_load_u32le(end + 16);
  }
  int zip64 = *entries == 0xffff || *size == 0xffffffff || *offset == 0xffffffff;
  uint64_t record_offset = tail_start + record;
  if (status == SP_OK && zip64) {
    uint8_t locator[LOCATOR], end64[EOCD64];
    if (record_offset < LOCATOR) status = sp_fail(SP_ERROR_FORMAT, "%s: zip64 locator is missing", archive);
    if (status == SP_OK) status = read_source_at(source, archive, record_offset - LOCATOR, LOCATOR, locator);
    if (status == SP_OK && sp_load_u32le(locator) != 0x07064b50)
      status = sp_fail(SP_ERROR_FORMAT, "%s: zip64 locator is missing", archive);
    uint64_t end64_offset = status == SP_OK ? sp_load_u64le(locator + 8) : 0;
    if (status == SP_OK && (end64_offset > total || total - end64_offset < EOCD64))
      status = sp_fail(SP_ERROR_FORMAT, "%s: zip64 end record at byte %llu is outside the archive", archive,
                       (unsigned long long)end64_offset);
    if (status == SP_OK) status = read_source_at(source, archive, end64_offset, EOCD64, end64);
    if (status == SP_OK && sp_load_u32le(end64) != 0x06064b50)
      status = sp_fail(SP_ERROR_FORMAT, "%s: zip64 end record has a bad signature", archive);
    if (status == SP_OK) {
      *entries = sp_load_u64le(end64 + 32);
      *size = sp_load_u64le(end64 + 40);
      *offset = sp_load_u64le(end64 + 48);
      record_offset = end64_offset;
    }
  }
  free(tail);
  if (status == SP_OK && (*offset > record_offset || *size > record_offset - *offset))
    status = sp_fail(SP_ERROR_FORMAT, "%s: central directory (%llu bytes at byte %llu) overlaps its end record",
                     archive, (unsigned long long)*size, (unsigned long long)*offset);
  return status;
}

/* Where a central directory entry says its local header is: the 32-bit field, or the zip64
 * extra field's offset when that field is 0xffffffff (after the sizes it also holds). */
static uint64_t local_header_offset(const uint8_t *header, const uint8_t *extra, size_t extra_length) {
  uint64_t offset = sp_load_u32le(header + 42);
  if (offset != 0xffffffff) return offset;
  size_t before = (sp_load_u32le(header + 24) == 0xffffffff ? 8 : 0) + (sp_load_u32le(header + 20) == 0xffffffff ? 8 : 0);
  for (size_t at = 0; at + 4 <= extra_length;) {
    size_t id = sp_load_u16le(extra + at), length = sp_load_u16le(extra + at + 2);
    if (length > extra_length - at - 4) break;
    if (id == 0x0001) return before + 8 <= length ? sp_load_u64le(extra + at + 4 + before) : UINT64_MAX;
    at += 4 + length;
  }
  return UINT64_MAX;
}

/* Walks the central directory's file headers, keeping each raw name and local header offset. */
static sp_status walk_central_directory(const char *archive, size_t size, central_directory *directory) {
  sp_reader reader = sp_reader_make(directory->bytes, size, archive);
  directory->names = sp_alloc_zeroed(directory->entries ? (size_t)directory->entries : 1, sizeof *directory->names);
  if (!directory->names) return SP_ERROR_NO_MEMORY;
  for (uint64_t entry = 0; entry < directory->entries; entry++) {
    const uint8_t *header, *name, *extra;
    if (sp_read_bytes(&reader, 46, &header) != SP_OK || sp_load_u32le(header) != 0x02014b50)
      return sp_fail(SP_ERROR_FORMAT, "%s: central directory entry %llu is malformed", archive,
                     (unsigned long long)entry);
    size_t name_length = sp_load_u16le(header + 28);
    size_t extra_length = sp_load_u16le(header + 30), comment_length = sp_load_u16le(header + 32);
    if (sp_read_bytes(&reader, name_length, &name) != SP_OK || sp_read_bytes(&reader, extra_length, &extra) != SP_OK ||
        sp_reader_skip(&reader, comment_length) != SP_OK)
      return sp_fail(SP_ERROR_FORMAT, "%s: central directory entry %llu runs past the directory", archive,
                     (unsigned long long)entry);
    directory->names[entry].bytes = name;
    directory->names[entry].length = name_length;
    directory->names[entry].local_header_offset = local_header_offset(header, extra, extra_length);
  }
  return SP_OK;
}

static sp_status read_central_directory(zip_source_t *source, const char *archive, central_directory *directory) {
  memset(directory, 0, sizeof *directory);
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_source_open(source) < 0)
    return sp_fail(SP_ERROR_IO, "%s: %s", archive, zip_error_strerror(zip_source_error(source)));
  sp_status status = SP_OK;
  if (zip_source_stat(source, &stat) < 0 || !(stat.valid & ZIP_STAT_SIZE))
    status = sp_fail(SP_ERROR_IO, "%s: cannot tell the archive's size", archive);
  uint64_t offset = 0, size = 0;
  if (status == SP_OK) status = locate_central_directory(source, archive, stat.size, &offset, &size, &directory->entries);
  if (status == SP_OK && size > central_directory_limit)
    status = sp_fail(SP_ERROR_UNSAFE, "%s: a central directory of %llu bytes is not plausible", archive,
                     (unsigned long long)size);
  if (status == SP_OK && directory->entries > size / 46)
    status = sp_fail(SP_ERROR_FORMAT, "%s: %llu members cannot fit in a %llu-byte central directory", archive,
                     (unsigned long long)directory->entries, (unsigned long long)size);
  if (status == SP_OK && !(directory->bytes = sp_alloc((size_t)size))) status = SP_ERROR_NO_MEMORY;
  if (status == SP_OK) status = read_source_at(source, archive, offset, (size_t)size, directory->bytes);
  zip_source_close(source);
  if (status == SP_OK) status = walk_central_directory(archive, (size_t)size, directory);
  if (status != SP_OK) central_directory_free(directory);
  return status;
}

/* ------------------------------------------------------------------ reading ---- */

static int compare_member_names(const void *left, const void *right) {
  const sp_zip_member *a = *(const sp_zip_member *const *)left, *b = *(const sp_zip_member *const *)right;
  return strcmp(a->name, b->name);
}

static sp_status member_fail(sp_status status, const char *archive, const char *member, const char *problem) {
  return sp_fail(status, "%s: member '%.200s' %s; refusing the archive", archive, member, problem);
}

static int compare_central_names(const void *left, const void *right) {
  const central_name *a = left, *b = right;
  size_t shorter = a->length < b->length ? a->length : b->length;
  int order = memcmp(a->bytes, b->bytes, shorter);
  return order ? order : (a->length > b->length) - (a->length < b->length);
}

static void show_name(char *out, size_t capacity, const central_name *name) {
  snprintf(out, capacity, "%.*s", (int)(name->length < 200 ? name->length : 200), (const char *)name->bytes);
}

/* Refuses escaping and repeated names from the raw central directory, before libzip reads it. */
static sp_status check_central_names(const char *archive, const central_directory *directory) {
  char shown[256];
  for (uint64_t entry = 0; entry < directory->entries; entry++) {
    const char *problem = name_problem((const char *)directory->names[entry].bytes, directory->names[entry].length);
    show_name(shown, sizeof shown, &directory->names[entry]);
    if (problem) return member_fail(SP_ERROR_UNSAFE, archive, shown, problem);
  }
  size_t count = (size_t)directory->entries;
  central_name *sorted = sp_alloc_zeroed(count ? count : 1, sizeof *sorted);
  if (!sorted) return SP_ERROR_NO_MEMORY;
  memcpy(sorted, directory->names, count * sizeof *sorted);
  qsort(sorted, count, sizeof *sorted, compare_central_names);
  sp_status status = SP_OK;
  for (size_t index = 1; status == SP_OK && index < count; index++) {
    if (compare_central_names(&sorted[index - 1], &sorted[index]) != 0) continue;
    show_name(shown, sizeof shown, &sorted[index]);
    status = member_fail(SP_ERROR_UNSAFE, archive, shown, "appears twice");
  }
  free(sorted);
  return status;
}

/* Fills member index from libzip and checks it against the raw central directory name. */
static sp_status load_member(sp_zip_reader *reader, const central_directory *directory, zip_uint64_t index) {
  sp_zip_member *member = &reader->members[index];
  const central_name *raw = &directory->names[index];
  char shown[256];
  show_name(shown, sizeof shown, raw);
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat_index(reader->archive, index, ZIP_FL_ENC_RAW, &stat) < 0)
    return sp_fail(SP_ERROR_FORMAT, "%s: member %llu: %s", reader->name, (unsigned long long)index,
                   zip_strerror(reader->archive));
  if (!stat.name || strlen(stat.name) != raw->length || memcmp(stat.name, raw->bytes, raw->length) != 0)
    return member_fail(SP_ERROR_FORMAT, reader->name, shown, "is named differently by libzip and the central directory");
  zip_uint8_t system = 0;
  zip_uint32_t attributes = 0;
  if (zip_file_get_external_attributes(reader->archive, index, 0, &system, &attributes) < 0)
    return member_fail(SP_ERROR_FORMAT, reader->name, shown, "has unreadable attributes");
  if (system == ZIP_OPSYS_UNIX && ((attributes >> 16) & S_IFMT) == S_IFLNK)
    return member_fail(SP_ERROR_UNSAFE, reader->name, shown, "is a symbolic link");
  if (stat.encryption_method != ZIP_EM_NONE) return member_fail(SP_ERROR_UNSUPPORTED, reader->name, shown, "is encrypted");
  if (stat.comp_method != ZIP_CM_STORE && stat.comp_method != ZIP_CM_DEFLATE)
    return member_fail(SP_ERROR_UNSUPPORTED, reader->name, shown, "uses a compression method other than STORED or DEFLATE");
  if (stat.comp_method == ZIP_CM_STORE && stat.size != stat.comp_size)
    return member_fail(SP_ERROR_FORMAT, reader->name, shown, "is STORED but its two sizes differ");
  if (is_zip_bomb(stat.size, stat.comp_size, bomb_floor_on_open)) {
    char problem_text[160];
    snprintf(problem_text, sizeof problem_text, "expands %llu bytes to %llu (over 4 GiB and more than 100x): a zip bomb",
             (unsigned long long)stat.comp_size, (unsigned long long)stat.size);
    return member_fail(SP_ERROR_UNSAFE, reader->name, shown, problem_text);
  }
  member->name = sp_strdup(stat.name);
  if (!member->name) return SP_ERROR_NO_MEMORY;
  member->size = stat.size;
  member->compressed_size = stat.comp_size;
  member->method = stat.comp_method == ZIP_CM_STORE ? SP_ZIP_STORED : SP_ZIP_DEFLATED;
  member->crc32 = stat.crc;
  member->external_attributes = attributes;
  member->modified = stat.mtime;
  member->is_directory = raw->length > 0 && raw->bytes[raw->length - 1] == '/';
  return SP_OK;
}

static sp_status load_members(sp_zip_reader *reader, const central_directory *directory) {
  zip_int64_t count = zip_get_num_entries(reader->archive, 0);
  if (count < 0 || (uint64_t)count != directory->entries)
    return sp_fail(SP_ERROR_FORMAT, "%s: libzip sees %lld members but the central directory lists %llu", reader->name,
                   (long long)count, (unsigned long long)directory->entries);
  reader->members = sp_alloc_zeroed(count ? (size_t)count : 1, sizeof *reader->members);
  reader->by_name = sp_alloc_zeroed(count ? (size_t)count : 1, sizeof *reader->by_name);
  reader->local_header_offsets = sp_alloc_zeroed(count ? (size_t)count : 1, sizeof *reader->local_header_offsets);
  if (!reader->members || !reader->by_name || !reader->local_header_offsets) return SP_ERROR_NO_MEMORY;
  for (zip_uint64_t index = 0; index < (zip_uint64_t)count; index++) {
    reader->count = (size_t)index; /* members before index are loaded and must be freed */
    SP_TRY(load_member(reader, directory, index));
    reader->by_name[index] = &reader->members[index];
    reader->local_header_offsets[index] = directory->names[index].local_header_offset;
  }
  reader->count = (size_t)count;
  qsort(reader->by_name, reader->count, sizeof *reader->by_name, compare_member_names); /* names are unique */
  return SP_OK;
}

/* Takes ownership of source in every case. memory is the archive's bytes when it is held in
 * memory, NULL when name is its path on disk. */
static sp_status open_source(zip_source_t *source, const char *name, const void *memory, size_t memory_size,
                             sp_zip_reader **reader) {
  *reader = NULL;
  sp_zip_reader *opened = sp_alloc_zeroed(1, sizeof *opened);
  if (!opened || !(opened->name = sp_strdup(name))) {
    free(opened);
    zip_source_free(source);
    return SP_ERROR_NO_MEMORY;
  }
  opened->on_disk = memory == NULL;
  opened->memory = memory;
  opened->memory_size = memory_size;
  central_directory directory;
  sp_status status = read_central_directory(source, name, &directory);
  if (status == SP_OK) status = check_central_names(name, &directory);
  if (status == SP_OK) {
    zip_error_t error;
    zip_error_init(&error);
    opened->archive = zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error);
    if (!opened->archive)
      status = sp_fail(SP_ERROR_FORMAT, "%s: not a valid zip archive: %s", name, zip_error_strerror(&error));
    zip_error_fini(&error);
  }
  if (!opened->archive) zip_source_free(source);
  if (status == SP_OK) status = load_members(opened, &directory);
  central_directory_free(&directory);
  if (status != SP_OK) {
    sp_zip_close(opened);
    return status;
  }
  *reader = opened;
  return SP_OK;
}

/* Opens a source libzip just created (NULL when it could not, with error set). */
static sp_status open_created_source(zip_source_t *source, zip_error_t *error, const char *name, const void *memory,
                                     size_t memory_size, sp_zip_reader **reader) {
  if (!source) {
    sp_status status = sp_fail(SP_ERROR_IO, "%s: %s", name, zip_error_strerror(error));
    zip_error_fini(error);
    return status;
  }
  zip_error_fini(error);
  return open_source(source, name, memory, memory_size, reader);
}

sp_status sp_zip_open(const char *path, sp_zip_reader **reader) {
  *reader = NULL;
  if (!sp_is_regular_file(path))
    return sp_fail(sp_path_exists(path) ? SP_ERROR_INVALID_ARGUMENT : SP_ERROR_NOT_FOUND, "%s: %s", path,
                   sp_path_exists(path) ? "not a regular file" : "no such file");
  zip_error_t error;
  zip_error_init(&error);
  return open_created_source(zip_source_file_create(path, 0, -1, &error), &error, path, NULL, 0, reader);
}

sp_status sp_zip_open_memory(const void *data, size_t size, const char *name, sp_zip_reader **reader) {
  *reader = NULL;
  zip_error_t error;
  zip_error_init(&error);
  static const uint8_t empty[1];
  return open_created_source(zip_source_buffer_create(size ? data : NULL, size, 0, &error), &error, name,
                             size ? data : empty, size, reader);
}

void sp_zip_close(sp_zip_reader *reader) {
  if (!reader) return;
  if (reader->archive) zip_discard(reader->archive);
  for (size_t index = 0; reader->members && index < reader->count; index++) free((char *)reader->members[index].name);
  free(reader->members);
  free(reader->by_name);
  free(reader->local_header_offsets);
  free(reader->name);
  free(reader);
}

size_t sp_zip_count(const sp_zip_reader *reader) { return reader->count; }

const sp_zip_member *sp_zip_member_at(const sp_zip_reader *reader, size_t index) {
  return index < reader->count ? &reader->members[index] : NULL;
}

const sp_zip_member *sp_zip_find(const sp_zip_reader *reader, const char *name) {
  sp_zip_member key = {0};
  key.name = name;
  const sp_zip_member *wanted = &key;
  const sp_zip_member **found =
      bsearch(&wanted, reader->by_name, reader->count, sizeof *reader->by_name, compare_member_names);
  return found ? *found : NULL;
}

static sp_status find_readable(const sp_zip_reader *reader, const char *name, uint64_t limit,
                               const sp_zip_member **member) {
  *member = sp_zip_find(reader, name);
  if (!*member) return sp_fail(SP_ERROR_NOT_FOUND, "%s: no member '%s'", reader->name, name);
  if ((*member)->size > limit || (*member)->size > SIZE_MAX)
    return sp_fail(SP_ERROR_UNSAFE, "%s: member '%s' is %llu bytes, over the limit of %llu", reader->name, name,
                   (unsigned long long)(*member)->size, (unsigned long long)limit);
  return SP_OK;
}

typedef sp_status (*member_sink)(void *context, const uint8_t *bytes, size_t length);

static sp_status member_read_fail(const sp_zip_reader *reader, const sp_zip_member *member, zip_file_t *file,
                                  uint64_t done) {
  zip_error_t *error = zip_file_get_error(file);
  int checksum = zip_error_code_zip(error) == ZIP_ER_CRC;
  return sp_fail(checksum ? SP_ERROR_CHECKSUM : SP_ERROR_FORMAT, "%s: member '%s': %s (after %llu of its %llu bytes)",
                 reader->name, member->name,
                 checksum ? "its bytes do not match its CRC-32 (the archive is corrupt)" : zip_error_strerror(error),
                 (unsigned long long)done, (unsigned long long)member->size);
}

/* Reads exactly member->size bytes, into whole when given, else through a chunk buffer
 * handed to sink; then reads past the end, which makes libzip check the CRC-32. */
static sp_status copy_member(sp_zip_reader *reader, const sp_zip_member *member, uint8_t *whole, uint8_t *chunk,
                             size_t chunk_size, member_sink sink, void *context) {
  zip_uint64_t index = (zip_uint64_t)(member - reader->members);
  zip_file_t *file = zip_fopen_index(reader->archive, index, 0);
  if (!file)
    return sp_fail(SP_ERROR_FORMAT, "%s: member '%s': %s", reader->name, member->name, zip_strerror(reader->archive));
  sp_status status = SP_OK;
  uint64_t done = 0;
  while (status == SP_OK && done < member->size) {
    uint64_t left = member->size - done;
    uint8_t *target = whole ? whole + done : chunk;
    size_t wanted = whole ? (size_t)(left < GIB ? left : GIB) : (size_t)(left < chunk_size ? left : chunk_size);
    zip_int64_t got = zip_fread(file, target, wanted);
    if (got < 0) status = member_read_fail(reader, member, file, done);
    else if (got == 0)
      status = sp_fail(SP_ERROR_FORMAT, "%s: member '%s' ends after %llu of its %llu bytes (truncated)", reader->name,
                       member->name, (unsigned long long)done, (unsigned long long)member->size);
    else if (sink) status = sink(context, target, (size_t)got);
    if (got > 0) done += (uint64_t)got;
  }
  if (status == SP_OK) {
    uint8_t extra;
    zip_int64_t got = zip_fread(file, &extra, 1);
    if (got < 0) status = member_read_fail(reader, member, file, done);
    if (got > 0)
      status = sp_fail(SP_ERROR_FORMAT, "%s: member '%s' holds more than its declared %llu bytes", reader->name,
                       member->name, (unsigned long long)member->size);
  }
  zip_fclose(file);
  return status;
}

sp_status sp_zip_read(sp_zip_reader *reader, const char *name, uint64_t limit, uint8_t **data, size_t *size) {
  *data = NULL;
  *size = 0;
  const sp_zip_member *member;
  SP_TRY(find_readable(reader, name, limit, &member));
  uint8_t *buffer = sp_alloc((size_t)member->size);
  if (!buffer) return sp_error_context(SP_ERROR_NO_MEMORY, "%s: member '%s'", reader->name, name);
  sp_memory_prefault(buffer, (size_t)member->size);
  sp_status status = copy_member(reader, member, buffer, NULL, 0, NULL, NULL);
  if (status != SP_OK) {
    free(buffer);
    return status;
  }
  *data = buffer;
  *size = (size_t)member->size;
  return SP_OK;
}

/* length bytes at offset of the archive itself, from memory or mapped from disk. */
static sp_status view_archive(const sp_zip_reader *reader, uint64_t offset, uint64_t length, sp_file_view *view) {
  if (reader->on_disk) return sp_file_view_open(reader->name, offset, length, view);
  if (offset > reader->memory_size || length > reader->memory_size - offset)
    return sp_fail(SP_ERROR_FORMAT, "%s: %llu bytes at byte %llu run past its end", reader->name,
                   (unsigned long long)length, (unsigned long long)offset);
  *view = (sp_file_view){.data = reader->memory + offset, .size = (size_t)length};
  return SP_OK;
}

/* Maps (or points to) a STORED member's bytes where they lie in the archive, after checking
 * its local header signature and that header and data lie inside the archive. 0 when they
 * cannot be lent as they are (the caller then reads the member through libzip, which
 * reports any damage as it always has). The CRC-32 is not checked here. */
static int locate_stored(const sp_zip_reader *reader, const sp_zip_member *member, sp_file_view *body,
                         uint64_t *body_offset) {
  enum { LOCAL_HEADER = 30 };
  uint64_t offset = reader->local_header_offsets[member - reader->members];
  if (member->method != SP_ZIP_STORED || member->compressed_size != member->size || offset == UINT64_MAX) return 0;
  sp_file_view header;
  if (view_archive(reader, offset, LOCAL_HEADER, &header) != SP_OK) return 0;
  int signed_right = sp_load_u32le(header.data) == 0x04034b50;
  uint64_t data_offset = offset + LOCAL_HEADER + sp_load_u16le(header.data + 26) + sp_load_u16le(header.data + 28);
  sp_file_view_close(&header);
  *body_offset = data_offset;
  return signed_right && view_archive(reader, data_offset, member->size, body) == SP_OK;
}

/* A CRC-32 over bytes, computed on a second thread when asked (and one can be started). When
 * the bytes are mapped from a file (path set, at file_offset), they are read from the file
 * through a small buffer instead: the same bytes (a file savepoint maps is not rewritten in
 * place), without touching every page of the mapping a first time (see sp_crc32_file_range). */
typedef struct crc_part {
  const uint8_t *data;
  size_t size;
  const char *path;
  uint64_t file_offset;
  uint32_t crc;
  int threaded;
  pthread_t thread;
} crc_part;

/* A large job is split in two halves, each on a thread of its own, their CRCs combined. */
typedef struct crc_job {
  crc_part parts[2];
  int part_count;
} crc_job;
static const size_t split_crc_floor = 64 << 20;

static void *run_crc_part(void *argument) {
  crc_part *part = argument;
  if (part->path && sp_crc32_file_range(part->path, part->file_offset, part->size, &part->crc) == SP_OK) return NULL;
  sp_clear_error(); /* the mapping holds the same bytes: check them there */
  part->crc = sp_crc32_extend(0, part->data, part->size);
  return NULL;
}

/* job must stay at its address until crc_job_finish; path (NULL for bytes in memory) too. */
static void crc_job_start(crc_job *job, const uint8_t *data, size_t size, const char *path, uint64_t file_offset,
                          int in_background) {
  *job = (crc_job){.part_count = in_background && size >= split_crc_floor ? 2 : 1};
  size_t first = job->part_count == 2 ? size / 2 : size;
  job->parts[0] = (crc_part){.data = data, .size = first, .path = path, .file_offset = file_offset};
  if (job->part_count == 2)
    job->parts[1] = (crc_part){.data = data + first, .size = size - first, .path = path, .file_offset = file_offset + first};
  for (int i = 0; i < job->part_count; i++) {
    crc_part *part = &job->parts[i];
    part->threaded = in_background && pthread_create(&part->thread, NULL, run_crc_part, part) == 0;
    if (!part->threaded) run_crc_part(part);
  }
}

/* 1 while some part of the CRC is still being computed in the background. */
static int crc_job_running(const crc_job *job) { return job->parts[0].threaded || job->parts[1].threaded; }

static uint32_t crc_job_finish(crc_job *job) {
  uint32_t crc = 0;
  for (int i = 0; i < job->part_count; i++) {
    crc_part *part = &job->parts[i];
    if (part->threaded) pthread_join(part->thread, NULL);
    part->threaded = 0;
    crc = i == 0 ? part->crc : sp_crc32_combine(crc, part->crc, part->size);
  }
  return crc;
}

/* The CRC-32 check of lent bytes, and what a mismatch needs to read the member again. */
struct sp_zip_crc_check {
  sp_zip_reader *reader;
  const sp_zip_member *member;
  uint64_t limit;
  crc_job job;
};

/* Waits for the CRC-32 and frees the check; 1 when it matches the member's. */
static int join_check(sp_zip_crc_check *check) {
  int matches = crc_job_finish(&check->job) == check->member->crc32;
  free(check);
  return matches;
}

/* The copying read, into a view: what every member that cannot be lent (or lent bytes whose
 * CRC-32 failed) gets. */
static sp_status view_copy(sp_zip_reader *reader, const sp_zip_member *member, uint64_t limit, sp_zip_view *view) {
  static const uint8_t empty[1];
  sp_clear_error(); /* whatever stopped the lending, the read below reports it as reads do */
  view->data = empty;
  SP_TRY(sp_zip_read(reader, member->name, limit, &view->copy, &view->size));
  view->data = view->copy ? view->copy : empty;
  return SP_OK;
}

/* Lends or copies the member; with in_background, a lent member's CRC-32 is computed on a
 * second thread (or here, when no thread can be started). */
static sp_status view_member(sp_zip_reader *reader, const char *name, uint64_t limit, int in_background,
                             sp_zip_view *view) {
  static const uint8_t empty[1];
  *view = (sp_zip_view){.data = empty};
  const sp_zip_member *member;
  SP_TRY(find_readable(reader, name, limit, &member));
  sp_file_view body;
  uint64_t body_offset;
  if (!locate_stored(reader, member, &body, &body_offset)) return view_copy(reader, member, limit, view);
  sp_zip_crc_check *check = sp_alloc_zeroed(1, sizeof *check);
  if (!check) {
    sp_file_view_close(&body);
    return SP_ERROR_NO_MEMORY;
  }
  *check = (sp_zip_crc_check){.reader = reader, .member = member, .limit = limit};
  *view = (sp_zip_view){.data = body.data, .size = body.size, .mapped = body, .check = check};
  crc_job_start(&check->job, body.data, body.size, reader->on_disk ? reader->name : NULL, body_offset, in_background);
  return SP_OK;
}

/* Waits for the view's check; on a mismatch, replaces the lent bytes with libzip's copying
 * read, which reports the damage. Should that read succeed (the archive changed under us),
 * the copy is kept only when the caller has not used the lent bytes yet (keep_copy). */
static sp_status finish_check(sp_zip_view *view, int keep_copy) {
  sp_zip_crc_check *check = view->check;
  if (!check) return SP_OK;
  view->check = NULL;
  sp_zip_reader *reader = check->reader;
  const sp_zip_member *member = check->member;
  uint64_t limit = check->limit;
  if (join_check(check)) return SP_OK;
  sp_zip_view_release(view);
  sp_status status = view_copy(reader, member, limit, view);
  if (status != SP_OK || keep_copy) return status;
  sp_zip_view_release(view); /* libzip read what we did not: the archive changed while we read it */
  return sp_fail(SP_ERROR_CHECKSUM, "%s: member '%s' changed while it was being read", reader->name, member->name);
}

sp_status sp_zip_view_finish(sp_zip_view *view) { return finish_check(view, 0); }

sp_status sp_zip_view_member_start(sp_zip_reader *reader, const char *name, uint64_t limit, sp_zip_view *view) {
  return view_member(reader, name, limit, 1, view);
}

sp_status sp_zip_view_member(sp_zip_reader *reader, const char *name, uint64_t limit, sp_zip_view *view) {
  SP_TRY(view_member(reader, name, limit, 0, view));
  return finish_check(view, 1);
}

void sp_zip_view_release(sp_zip_view *view) {
  if (view->check) (void)join_check(view->check);
  view->check = NULL;
  sp_file_view_close(&view->mapped);
  free(view->copy);
  view->copy = NULL;
  view->size = 0;
}

static sp_status write_to_atomic_file(void *context, const uint8_t *bytes, size_t length) {
  return sp_atomic_write(context, bytes, length);
}

sp_status sp_zip_extract(sp_zip_reader *reader, const char *name, const char *directory, uint64_t limit) {
  const sp_zip_member *member;
  SP_TRY(find_readable(reader, name, limit, &member));
  if (is_zip_bomb(member->size, member->compressed_size, bomb_floor_on_extract))
    return sp_fail(SP_ERROR_UNSAFE, "%s: member '%s' expands %llu bytes to %llu (over 256 MiB and more than 100x)",
                   reader->name, name, (unsigned long long)member->compressed_size, (unsigned long long)member->size);
  char *path = sp_path_join(directory, member->name);
  if (!path) return SP_ERROR_NO_MEMORY;
  if (member->is_directory) {
    sp_status status = sp_make_directories(path);
    free(path);
    return status;
  }
  char *parent = sp_path_dirname(path);
  uint8_t *chunk = sp_alloc(extract_chunk_bytes);
  sp_status status = (parent && chunk) ? sp_make_directories(parent) : SP_ERROR_NO_MEMORY;
  sp_atomic_file output;
  if (status == SP_OK) status = sp_atomic_open(path, &output);
  if (status == SP_OK) {
    status = copy_member(reader, member, NULL, chunk, extract_chunk_bytes, write_to_atomic_file, &output);
    if (status == SP_OK) status = sp_atomic_commit(&output);
    else sp_atomic_abort(&output);
  }
  free(chunk);
  free(parent);
  free(path);
  return status;
}

/* ------------------------------------------------------------------ writing ---- */

static sp_status writer_fail(const sp_zip_writer *writer, const char *name, const char *action) {
  int code = zip_error_code_zip(zip_get_error(writer->archive));
  return sp_fail(code == ZIP_ER_EXISTS ? SP_ERROR_EXISTS : SP_ERROR_IO, "%s: member '%s': %s: %s",
                 writer->final_path, name, action, zip_strerror(writer->archive));
}

sp_status sp_zip_writer_open(const char *final_path, sp_zip_writer **writer) {
  *writer = NULL;
  sp_zip_writer *opened = sp_alloc_zeroed(1, sizeof *opened);
  if (!opened || !(opened->final_path = sp_strdup(final_path))) {
    free(opened);
    return SP_ERROR_NO_MEMORY;
  }
  sp_status status = sp_temp_path_for(final_path, &opened->temp_path);
  int error = 0;
  if (status == SP_OK && !(opened->archive = zip_open(opened->temp_path, ZIP_CREATE | ZIP_TRUNCATE, &error))) {
    zip_error_t detail;
    zip_error_init_with_code(&detail, error);
    status = sp_fail(SP_ERROR_IO, "%s: starting the archive: %s", final_path, zip_error_strerror(&detail));
    zip_error_fini(&detail);
  }
  if (status != SP_OK) {
    sp_zip_writer_abort(opened);
    return status;
  }
  *writer = opened;
  return SP_OK;
}

/* Adds source (owned in every case) as member name with the options' method, time and mode. */
static sp_status add_source(sp_zip_writer *writer, const char *name, zip_source_t *source,
                            const sp_zip_entry_options *options, uint32_t default_mode) {
  const char *problem = name_problem(name, strlen(name));
  if (problem) {
    zip_source_free(source);
    return sp_fail(SP_ERROR_UNSAFE, "%s: member '%.200s' %s", writer->final_path, name, problem);
  }
  sp_zip_entry_options defaults = {SP_ZIP_STORED, 0, 0, 0};
  if (!options) options = &defaults;
  zip_int64_t index = zip_file_add(writer->archive, name, source, ZIP_FL_ENC_GUESS);
  if (index < 0) {
    zip_source_free(source);
    return writer_fail(writer, name, "adding it");
  }
  writer->count++;
  zip_uint64_t at = (zip_uint64_t)index;
  uint32_t mode = options->mode ? options->mode : default_mode;
  int method = options->method == SP_ZIP_DEFLATED ? ZIP_CM_DEFLATE : ZIP_CM_STORE;
  /* DOS date 0x0021 and time 0 are 1980-01-01 00:00:00, zipfile's default date_time. */
  int timed = options->has_time ? zip_file_set_mtime(writer->archive, at, options->modified, 0)
                                : zip_file_set_dostime(writer->archive, at, 0, 0x0021, 0);
  /* zlib's default level 6, as Python's zipfile uses (libzip's own default is 9) */
  if (zip_set_file_compression(writer->archive, at, method, method == ZIP_CM_DEFLATE ? 6 : 0) < 0 || timed < 0 ||
      zip_file_set_external_attributes(writer->archive, at, 0, ZIP_OPSYS_UNIX, mode << 16) < 0)
    return writer_fail(writer, name, "setting its attributes");
  return SP_OK;
}

/* Notes a member added from memory for write_stored_archive, or marks the archive as one for
 * libzip when that writer would not write it exactly as libzip does: DEFLATE, a name with
 * bytes outside ASCII (libzip may flag it UTF-8), a time outside the DOS range. */
static void remember_stored(sp_zip_writer *writer, const char *name, const void *data, size_t size,
                            const sp_zip_entry_options *options) {
  stored_member member = {.data = data, .size = size, .dos_time = 0, .dos_date = 0x0021, .mode = 0600};
  if (options && options->mode) member.mode = options->mode;
  for (const char *c = name; *c; c++)
    if ((unsigned char)*c >= 0x80) writer->needs_libzip = 1;
  if (options && options->method == SP_ZIP_DEFLATED) writer->needs_libzip = 1;
  if (options && options->has_time) {
    struct tm local;
    if (!localtime_r(&options->modified, &local) || local.tm_year < 80 || local.tm_year > 207) {
      writer->needs_libzip = 1;
    } else {
      member.dos_time = (uint16_t)(local.tm_hour << 11 | local.tm_min << 5 | local.tm_sec / 2);
      member.dos_date = (uint16_t)((local.tm_year - 80) << 9 | (local.tm_mon + 1) << 5 | local.tm_mday);
    }
  }
  if (writer->needs_libzip) return;
  if (SP_RESERVE(writer->stored, writer->stored_capacity, writer->stored_count + 1) != SP_OK ||
      !(member.name = sp_strdup(name))) {
    sp_clear_error(); /* libzip writes it instead */
    writer->needs_libzip = 1;
    return;
  }
  writer->stored[writer->stored_count++] = member;
}

static sp_status add_buffer(sp_zip_writer *writer, const char *name, const void *data, size_t size, int owned,
                            const sp_zip_entry_options *options) {
  if (owned && size == 0) { /* libzip is given no buffer for an empty member */
    free((void *)data);
    owned = 0;
  }
  zip_source_t *source = zip_source_buffer(writer->archive, size ? data : NULL, size, owned);
  if (!source) {
    if (owned) free((void *)data);
    return writer_fail(writer, name, "buffering it");
  }
  SP_TRY(add_source(writer, name, source, options, 0600));
  remember_stored(writer, name, size ? data : NULL, size, options);
  return SP_OK;
}

sp_status sp_zip_writer_add(sp_zip_writer *writer, const char *name, const void *data, size_t size,
                            const sp_zip_entry_options *options) {
  return add_buffer(writer, name, data, size, 0, options);
}

sp_status sp_zip_writer_add_owned(sp_zip_writer *writer, const char *name, void *data, size_t size,
                                  const sp_zip_entry_options *options) {
  return add_buffer(writer, name, data, size, 1, options);
}

sp_status sp_zip_writer_add_file(sp_zip_writer *writer, const char *name, const char *source_path,
                                 const sp_zip_entry_options *options) {
  struct stat status_of_file;
  if (stat(source_path, &status_of_file) != 0 || !S_ISREG(status_of_file.st_mode))
    return sp_fail(SP_ERROR_NOT_FOUND, "%s: member '%s': '%s' is not a readable regular file", writer->final_path,
                   name, source_path);
  zip_source_t *source = zip_source_file(writer->archive, source_path, 0, -1);
  if (!source) return writer_fail(writer, name, "opening its source file");
  writer->needs_libzip = 1;
  return add_source(writer, name, source, options, (uint32_t)status_of_file.st_mode & 0xffff);
}

/* ---- savepoint's own writer for archives of STORED members held in memory (.keras saves) ----
 *
 * libzip always computes a STORED member's CRC-32 itself, with zlib, before the member's bytes
 * go out: a second pass over a 1 GiB weights image. This writer computes it with core/hash on
 * a second thread while the bytes are being written, then patches the local header. It writes
 * exactly the bytes libzip writes for such archives (the unit test compares them): version
 * made by 6.3 on Unix, version needed 1.0, no flags, no extra fields, no data descriptors,
 * internal attributes 0, the member's mode in the external attributes. Anything else (zip64
 * sizes, DEFLATE, members from files) is left to libzip. */

enum { LOCAL_HEADER_BYTES = 30, CENTRAL_HEADER_BYTES = 46, END_RECORD_BYTES = 22 };
/* Large members get their CRC-32 on a second thread; small ones are not worth a thread. */
static const size_t background_crc_floor = 1 << 20;

/* 1 when every member was added from memory, STORED, and the archive needs no zip64 record. */
static int fits_stored_writer(const sp_zip_writer *writer) {
  if (writer->needs_libzip || writer->stored_count != writer->count || writer->count >= 0xffff) return 0;
  uint64_t total = END_RECORD_BYTES;
  for (size_t i = 0; i < writer->stored_count; i++) {
    const stored_member *member = &writer->stored[i];
    size_t name_length = strlen(member->name);
    if (member->size >= 0xffffffffu || name_length > 0xffff) return 0;
    total += LOCAL_HEADER_BYTES + CENTRAL_HEADER_BYTES + 2 * (uint64_t)name_length + member->size;
  }
  return total < 0xffffffffu;
}

size_t sp_zip_writer_padding_before(const sp_zip_writer *writer, const char *padded_name, size_t padded_size,
                                    const char *aligned_name, size_t alignment) {
  if (writer->needs_libzip || writer->stored_count != writer->count || alignment == 0) return 0;
  uint64_t offset = 0;
  for (size_t i = 0; i < writer->stored_count; i++)
    offset += LOCAL_HEADER_BYTES + strlen(writer->stored[i].name) + writer->stored[i].size;
  offset += LOCAL_HEADER_BYTES + strlen(padded_name) + padded_size + LOCAL_HEADER_BYTES + strlen(aligned_name);
  return (size_t)((alignment - offset % alignment) % alignment);
}

/* The fields a local header and a central directory entry share, from "version needed" on. */
static void store_common_fields(uint8_t *at, const stored_member *member, uint32_t crc) {
  sp_store_u16le(at, 10); /* version needed: 1.0, as libzip writes for STORED */
  sp_store_u16le(at + 2, 0); /* flags */
  sp_store_u16le(at + 4, 0); /* method: STORED */
  sp_store_u16le(at + 6, member->dos_time);
  sp_store_u16le(at + 8, member->dos_date);
  sp_store_u32le(at + 10, crc);
  sp_store_u32le(at + 14, (uint32_t)member->size); /* compressed */
  sp_store_u32le(at + 18, (uint32_t)member->size);
  sp_store_u16le(at + 22, (uint16_t)strlen(member->name));
  sp_store_u16le(at + 24, 0); /* extra field length */
}

/* Writes one member's local header and bytes at offset; *crc is its CRC-32. */
static sp_status write_stored_member(sp_atomic_file *file, const stored_member *member, uint64_t offset,
                                     uint32_t *crc) {
  crc_job job;
  crc_job_start(&job, member->data, member->size, NULL, 0, member->size >= background_crc_floor);
  uint8_t header[LOCAL_HEADER_BYTES];
  sp_store_u32le(header, 0x04034b50);
  int patch = crc_job_running(&job); /* else the CRC-32 is known already and goes in the header now */
  uint32_t known = patch ? 0 : crc_job_finish(&job);
  store_common_fields(header + 4, member, known);
  sp_status status = sp_atomic_write(file, header, sizeof header);
  if (status == SP_OK) status = sp_atomic_write(file, member->name, strlen(member->name));
  if (status == SP_OK && member->size) status = sp_atomic_write(file, member->data, member->size);
  *crc = patch ? crc_job_finish(&job) : known;
  if (status == SP_OK && patch) {
    uint8_t field[4];
    sp_store_u32le(field, *crc);
    status = sp_atomic_write_at(file, offset + 14, field, sizeof field);
  }
  return status;
}

static sp_status append_central_entry(sp_buffer *directory, const stored_member *member, uint32_t crc,
                                      uint64_t offset) {
  uint8_t entry[CENTRAL_HEADER_BYTES];
  sp_store_u32le(entry, 0x02014b50);
  sp_store_u16le(entry + 4, 3 << 8 | 63); /* made on Unix by zip 6.3, as libzip says */
  store_common_fields(entry + 6, member, crc);
  sp_store_u16le(entry + 32, 0); /* comment length */
  sp_store_u16le(entry + 34, 0); /* disk */
  sp_store_u16le(entry + 36, 0); /* internal attributes */
  sp_store_u32le(entry + 38, member->mode << 16);
  sp_store_u32le(entry + 42, (uint32_t)offset);
  SP_TRY(sp_buffer_append(directory, entry, sizeof entry));
  return sp_buffer_append(directory, member->name, strlen(member->name));
}

static sp_status write_stored_archive(const sp_zip_writer *writer) {
  sp_atomic_file file;
  SP_TRY(sp_atomic_open(writer->final_path, &file));
  sp_buffer directory = {0};
  uint64_t offset = 0;
  sp_status status = SP_OK;
  for (size_t i = 0; i < writer->stored_count && status == SP_OK; i++) {
    const stored_member *member = &writer->stored[i];
    uint32_t crc = 0;
    status = write_stored_member(&file, member, offset, &crc);
    if (status == SP_OK) status = append_central_entry(&directory, member, crc, offset);
    offset += LOCAL_HEADER_BYTES + strlen(member->name) + member->size;
  }
  uint8_t end[END_RECORD_BYTES] = {0};
  sp_store_u32le(end, 0x06054b50);
  sp_store_u16le(end + 8, (uint16_t)writer->stored_count);
  sp_store_u16le(end + 10, (uint16_t)writer->stored_count);
  sp_store_u32le(end + 12, (uint32_t)directory.size);
  sp_store_u32le(end + 16, (uint32_t)offset);
  if (status == SP_OK) status = sp_buffer_append(&directory, end, sizeof end);
  if (status == SP_OK) status = sp_atomic_write(&file, directory.data, directory.size);
  sp_buffer_free(&directory);
  if (status == SP_OK) return sp_atomic_commit(&file);
  sp_atomic_abort(&file);
  return status;
}

sp_status sp_zip_writer_commit(sp_zip_writer *writer) {
  sp_status status = SP_OK;
  /* With no members this writes the bare end record, as Python does (libzip would delete it). */
  if (fits_stored_writer(writer)) {
    status = write_stored_archive(writer); /* libzip's archive is then discarded, freeing owned bytes */
  } else if (zip_close(writer->archive) < 0) {
    status = sp_fail(SP_ERROR_IO, "%s: writing the archive: %s", writer->final_path, zip_strerror(writer->archive));
  } else {
    writer->archive = NULL;
    status = sp_publish_file(writer->temp_path, writer->final_path);
    free(writer->temp_path);
    writer->temp_path = NULL; /* sp_publish_file removed or renamed it */
  }
  sp_zip_writer_abort(writer);
  return status;
}

void sp_zip_writer_abort(sp_zip_writer *writer) {
  if (!writer) return;
  if (writer->archive) zip_discard(writer->archive);
  if (writer->temp_path) unlink(writer->temp_path);
  for (size_t i = 0; i < writer->stored_count; i++) free(writer->stored[i].name);
  free(writer->stored);
  free(writer->temp_path);
  free(writer->final_path);
  free(writer);
}
