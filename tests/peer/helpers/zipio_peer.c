/* zipio_peer.c — drives src/formats/zipio for tests/peer/test_zipio_peer.py.
 *
 *   zipio_peer write OUT.keras SAVED_TIME ASSET   writes a Keras-shaped archive: metadata and
 *                                                config as zipfile.open(name, "w") members,
 *                                                weights as a writestr member saved at
 *                                                SAVED_TIME (Unix seconds), a DEFLATE member,
 *                                                and ASSET streamed from disk
 *   zipio_peer list IN.keras                     one line per member: name, size, method,
 *                                                CRC-32 and SHA-256 of the bytes read back
 *   zipio_peer extract IN.keras MEMBER DIR       extracts one member under DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "formats/zipio.h"

static int check(sp_status status, const char *what) {
  if (status == SP_OK) return 0;
  fprintf(stderr, "zipio_peer: %s: %s\n", what, sp_last_error());
  exit(1);
}

/* The peer test's weights bytes: byte i is (i * 7) mod 256. */
static uint8_t *weights_bytes(size_t size) {
  uint8_t *bytes = malloc(size);
  if (!bytes) check(SP_ERROR_NO_MEMORY, "weights");
  for (size_t i = 0; i < size; i++) bytes[i] = (uint8_t)(i * 7);
  return bytes;
}

static int write_archive(const char *path, time_t saved, const char *asset) {
  sp_zip_writer *writer = NULL;
  check(sp_zip_writer_open(path, &writer), "open");
  const char *metadata = "{\"keras_version\": \"3.7.0\", \"date_saved\": \"2025-01-03@12:42:26\"}";
  check(sp_zip_writer_add(writer, "metadata.json", metadata, strlen(metadata), NULL), "metadata.json");
  check(sp_zip_writer_add(writer, "config.json", "{\"module\": \"keras\"}", 19, NULL), "config.json");
  sp_zip_entry_options now = {SP_ZIP_STORED, 1, saved, 0};
  size_t size = 5 << 20;
  check(sp_zip_writer_add_owned(writer, "model.weights.h5", weights_bytes(size), size, &now), "model.weights.h5");
  sp_zip_entry_options deflated = {SP_ZIP_DEFLATED, 0, 0, 0};
  const char *text = "to be or not to be, to be or not to be, to be or not to be";
  check(sp_zip_writer_add(writer, "assets/text.txt", text, strlen(text), &deflated), "assets/text.txt");
  check(sp_zip_writer_add_file(writer, "assets/vocabulary.txt", asset, NULL), "assets/vocabulary.txt");
  return check(sp_zip_writer_commit(writer), "commit");
}

static int list_archive(const char *path) {
  sp_zip_reader *reader = NULL;
  check(sp_zip_open(path, &reader), "open");
  for (size_t index = 0; index < sp_zip_count(reader); index++) {
    const sp_zip_member *member = sp_zip_member_at(reader, index);
    uint8_t *data = NULL, digest[SP_SHA256_BYTES];
    size_t size = 0;
    char hex[SP_SHA256_HEX];
    check(sp_zip_read(reader, member->name, SP_ZIP_NO_LIMIT, &data, &size), member->name);
    sp_sha256_bytes(data, size, digest);
    sp_sha256_hex(digest, hex);
    printf("%s\t%zu\t%d\t%08x\t%s\n", member->name, size, member->method, member->crc32, hex);
    free(data);
  }
  sp_zip_close(reader);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "write") == 0) return write_archive(argv[2], (time_t)atoll(argv[3]), argv[4]);
  if (argc == 3 && strcmp(argv[1], "list") == 0) return list_archive(argv[2]);
  if (argc == 5 && strcmp(argv[1], "extract") == 0) {
    sp_zip_reader *reader = NULL;
    check(sp_zip_open(argv[2], &reader), "open");
    check(sp_zip_extract(reader, argv[3], argv[4], SP_ZIP_DEFAULT_MEMBER_LIMIT), argv[3]);
    sp_zip_close(reader);
    return 0;
  }
  fprintf(stderr, "usage: zipio_peer write OUT SAVED_TIME ASSET | list IN | extract IN MEMBER DIR\n");
  return 2;
}
