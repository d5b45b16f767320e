/* manifest.c — `savepoint manifest PATH`: hash an artifact (file, directory or checkpoint prefix)
 * and write its sha256sum-compatible manifest beside or inside it (savepoint/manifest.h), so that
 * `savepoint verify` and plain `sha256sum -c` can check it later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/json.h"
#include "savepoint/manifest.h"

static const char command_name[] = "manifest";

static const char usage_text[] =
    "usage: savepoint manifest PATH [--print] [--json]\n"
    "\n"
    "Hashes every file of the artifact at PATH (a file, a directory such as a SavedModel, or a\n"
    "checkpoint prefix such as ckpt/ckpt-3) and writes its manifest: DIR/savepoint.sha256 for a\n"
    "directory, PATH.sha256 otherwise, in the format of sha256sum (check it with sha256sum -c).\n"
    "  --print   write nothing; print the listing on stdout\n"
    "  --json    print the artifact hash, size and files as JSON\n";

static void print_json(const char *path, const sp_manifest *manifest) {
  json_object *object = json_object_new_object(), *files = json_object_new_array();
  json_object_object_add(object, "path", json_object_new_string(path));
  json_object_object_add(object, "layout", json_object_new_string(sp_artifact_layout_name(manifest->layout)));
  json_object_object_add(object, "sha256", json_object_new_string(manifest->sha256));
  json_object_object_add(object, "size", json_object_new_int64((int64_t)manifest->size));
  for (size_t i = 0; i < manifest->count; i++) {
    json_object *file = json_object_new_object();
    json_object_object_add(file, "path", json_object_new_string(manifest->entries[i].path));
    json_object_object_add(file, "size", json_object_new_int64((int64_t)manifest->entries[i].size));
    json_object_object_add(file, "sha256", json_object_new_string(manifest->entries[i].sha256));
    json_object_array_add(files, file);
  }
  json_object_object_add(object, "files", files);
  char *text = sp_json_dumps(object, 2);
  json_object_put(object);
  if (text) printf("%s\n", text);
  free(text);
}

int sp_cli_manifest(int argc, char **argv) {
  const char *path = NULL;
  int print_only = 0, json = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage_text, stdout);
      return 0;
    }
    if (strcmp(argv[i], "--print") == 0) print_only = 1;
    else if (strcmp(argv[i], "--json") == 0) json = 1;
    else if (argv[i][0] == '-') return sp_cli_usage_error(command_name, "unknown option '%s'", argv[i]);
    else if (path) return sp_cli_usage_error(command_name, "one path at a time");
    else path = argv[i];
  }
  if (!path) return sp_cli_usage_error(command_name, "which artifact?");
  sp_manifest *manifest = NULL;
  sp_status status = print_only ? sp_manifest_compute(path, &manifest) : sp_manifest_create(path, &manifest);
  if (status != SP_OK) return sp_cli_report(command_name, status);
  if (json) {
    print_json(path, manifest);
  } else if (print_only) {
    char *listing = sp_manifest_format(manifest, NULL);
    if (listing) fputs(listing, stdout);
    free(listing);
  } else {
    printf("%s  %s (%s, %zu file%s)\n", manifest->sha256, path, sp_artifact_layout_name(manifest->layout),
           manifest->count, manifest->count == 1 ? "" : "s");
  }
  sp_manifest_free(manifest);
  return 0;
}
