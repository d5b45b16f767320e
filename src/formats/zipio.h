/* zipio.h — zip archives (`.keras`) over libzip, safe by construction.
 *
 * Reading (hostile input). Opening an archive checks every member before any is read and
 * refuses the whole archive, naming the member, when one
 *   - has a name that could escape a directory: empty, absolute ('/' or '\'), a drive
 *     letter ("C:"), a ".." component (backslashes count as separators), or a NUL byte
 *     (libzip would show it as a space, Python's zipfile would cut the name there);
 *   - repeats another member's name, or is a symbolic link, or is encrypted;
 *   - uses a method other than STORED or DEFLATE;
 *   - looks like a zip bomb (formats.md §1.1, Keras's guard): over 4 GiB uncompressed
 *     and more than 100x its compressed size.
 * The central directory is also walked independently of libzip, so names and counts that
 * two zip parsers could read differently are refused too. Reading a member checks the
 * caller's size limit before allocating, reads exactly the declared size, and verifies the
 * CRC-32 (libzip checks it when the member's end is reached). A STORED member can also be
 * viewed in place, without a copy (sp_zip_view_member): mapped from the archive on disk or
 * pointed to in the archive in memory, after its local header, its bounds and its CRC-32
 * are checked; any of those failing falls back to the copying read, so a damaged archive
 * is refused with the same error either way.
 *
 * Writing. Members are added from memory (or from a file) and written when the writer is
 * committed: to a temporary file beside the final path, fsynced and renamed over it
 * (core/file.h). Defaults reproduce what Keras gets from Python's zipfile: STORED, DOS time
 * 1980-01-01 00:00:00 (zipfile.open(name, "w")), Unix permissions 0600. A member time
 * (writestr uses the current local time) and DEFLATE are options. An archive of STORED
 * members added from memory (a .keras save) is written by zipio itself, byte for byte as
 * libzip would write it, with large members' CRC-32 computed while their bytes go out;
 * anything else is written by libzip.
 *
 * Memory ownership while writing: libzip reads member data only at commit, so
 *   - sp_zip_writer_add borrows the bytes: they must stay valid and unchanged until
 *     sp_zip_writer_commit or sp_zip_writer_abort returns;
 *   - sp_zip_writer_add_owned takes a malloc'd buffer and frees it itself (also on
 *     failure), so a large member never needs a second copy;
 *   - sp_zip_writer_add_file streams a file from disk at commit (assets, big weights).
 *
 * Threads: a reader or writer is used by one thread at a time; different handles are
 * independent (libzip keeps no global state).
 */
#ifndef SP_FORMATS_ZIPIO_H
#define SP_FORMATS_ZIPIO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/file.h"
#include "core/status.h"

typedef struct sp_zip_reader sp_zip_reader;
typedef struct sp_zip_writer sp_zip_writer;

enum { SP_ZIP_STORED = 0, SP_ZIP_DEFLATED = 8 };

/* Keras's extraction floor, the default limit for members other than the weights. */
#define SP_ZIP_DEFAULT_MEMBER_LIMIT (UINT64_C(256) << 20)
#define SP_ZIP_NO_LIMIT UINT64_MAX

typedef struct sp_zip_member {
  const char *name;        /* exactly as stored (validated), NUL-terminated */
  uint64_t size;           /* uncompressed bytes */
  uint64_t compressed_size;
  int method;              /* SP_ZIP_STORED or SP_ZIP_DEFLATED */
  uint32_t crc32;
  uint32_t external_attributes; /* high 16 bits: Unix mode when made on Unix */
  time_t modified;         /* the DOS date and time read as local time */
  int is_directory;        /* name ends with '/' */
} sp_zip_member;

/* --- reading --- */

/* Opens and validates an archive on disk. */
sp_status sp_zip_open(const char *path, sp_zip_reader **reader) SP_MUST_CHECK;
/* Opens and validates an archive held in memory; data is borrowed until sp_zip_close.
 * name is used in messages. */
sp_status sp_zip_open_memory(const void *data, size_t size, const char *name, sp_zip_reader **reader) SP_MUST_CHECK;
void sp_zip_close(sp_zip_reader *reader);
/* Members in central-directory order. */
size_t sp_zip_count(const sp_zip_reader *reader);
const sp_zip_member *sp_zip_member_at(const sp_zip_reader *reader, size_t index);
/* The member called name, or NULL. */
const sp_zip_member *sp_zip_find(const sp_zip_reader *reader, const char *name);
/* Reads a whole member into a new buffer (caller frees with free()). Refuses, before
 * allocating, a member larger than limit bytes (SP_ERROR_UNSAFE); SP_ERROR_NOT_FOUND
 * when absent; SP_ERROR_CHECKSUM when its bytes do not match its CRC-32. */
sp_status sp_zip_read(sp_zip_reader *reader, const char *name, uint64_t limit, uint8_t **data,
                      size_t *size) SP_MUST_CHECK;
/* A member's bytes, lent in place (STORED) or copied (DEFLATE). */
typedef struct sp_zip_crc_check sp_zip_crc_check;
typedef struct sp_zip_view {
  const uint8_t *data; /* size bytes, valid until sp_zip_view_release; not NULL even when empty */
  size_t size;
  sp_file_view mapped; /* private */
  uint8_t *copy;       /* private */
  sp_zip_crc_check *check; /* private: the CRC-32 check still running (sp_zip_view_member_start) */
} sp_zip_view;

/* Views a whole member with sp_zip_read's limits and checks (CRC-32 included), without a
 * copy when it is STORED. The view must not outlive the reader (a memory archive's bytes). */
sp_status sp_zip_view_member(sp_zip_reader *reader, const char *name, uint64_t limit,
                             sp_zip_view *view) SP_MUST_CHECK;
/* The same view, but a lent STORED member's CRC-32 is checked on a second thread while the
 * caller already parses the bytes (a 1 GiB .keras weights member: the check then costs no
 * wall-clock time). Until sp_zip_view_finish returns SP_OK the bytes are unverified: anything
 * made from them must be thrown away when it fails. Copied members are verified already. */
sp_status sp_zip_view_member_start(sp_zip_reader *reader, const char *name, uint64_t limit,
                                   sp_zip_view *view) SP_MUST_CHECK;
/* Waits for the check. On a mismatch the lent bytes are released and the member is read
 * through libzip, so the error is exactly sp_zip_read's (SP_ERROR_CHECKSUM for a corrupt
 * member). SP_OK for a zeroed view, a copied one, or one already finished. */
sp_status sp_zip_view_finish(sp_zip_view *view) SP_MUST_CHECK;
/* Releases a view, first waiting for a check still running (a zeroed or already-released
 * view is allowed). */
void sp_zip_view_release(sp_zip_view *view);
/* Streams a member to directory/<name> through the atomic write path, creating the
 * parent directories inside directory. Besides limit, applies Keras's extraction guard
 * (over 256 MiB and more than 100x compressed is refused). directory should be one the
 * caller just created (e.g. with sp_temp_directory_for). */
sp_status sp_zip_extract(sp_zip_reader *reader, const char *name, const char *directory,
                         uint64_t limit) SP_MUST_CHECK;

/* --- writing --- */

typedef struct sp_zip_entry_options {
  int method;        /* SP_ZIP_STORED (the default, as Keras) or SP_ZIP_DEFLATED */
  int has_time;      /* 0: DOS 1980-01-01 00:00:00 like zipfile.open(name, "w") */
  time_t modified;   /* with has_time: stored as local time, like zipfile.writestr */
  uint32_t mode;     /* Unix mode bits; 0 means 0600 as zipfile gives written members */
} sp_zip_entry_options;

/* Starts an archive that will replace final_path when committed. */
sp_status sp_zip_writer_open(const char *final_path, sp_zip_writer **writer) SP_MUST_CHECK;
/* Adds a member from borrowed memory (see ownership above). options may be NULL. */
sp_status sp_zip_writer_add(sp_zip_writer *writer, const char *name, const void *data, size_t size,
                            const sp_zip_entry_options *options) SP_MUST_CHECK;
/* Adds a member from a malloc'd buffer the writer frees (even when this call fails). */
sp_status sp_zip_writer_add_owned(sp_zip_writer *writer, const char *name, void *data, size_t size,
                                  const sp_zip_entry_options *options) SP_MUST_CHECK;
/* Adds a member read from source_path at commit. Without options->mode the file's own
 * mode is stored (as zipfile.write does). */
sp_status sp_zip_writer_add_file(sp_zip_writer *writer, const char *name, const char *source_path,
                                 const sp_zip_entry_options *options) SP_MUST_CHECK;
/* How many bytes to append to a member called padded_name of padded_size bytes, about to be
 * added, so that the bytes of the member called aligned_name, added right after it, start at a
 * multiple of alignment in the archive (as both writers lay out STORED members: local header,
 * name, bytes). 0 when the archive so far is not one of STORED members added from memory. Lets
 * a loader map a member's contents with its numbers aligned (.keras: model.weights.h5). */
size_t sp_zip_writer_padding_before(const sp_zip_writer *writer, const char *padded_name, size_t padded_size,
                                    const char *aligned_name, size_t alignment);
/* Writes every member, fsyncs and publishes the archive at its final path. The writer is
 * released either way; on failure the final path is untouched. */
sp_status sp_zip_writer_commit(sp_zip_writer *writer) SP_MUST_CHECK;
/* Discards the archive; the final path is untouched. NULL is allowed. */
void sp_zip_writer_abort(sp_zip_writer *writer);

#endif
