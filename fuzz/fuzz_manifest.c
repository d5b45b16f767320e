/* fuzz_manifest.c — libFuzzer target for the manifest parser (manifests are read from artifacts
 * that may have been tampered with): parse, re-format, and check the canonical listing parses to
 * the same whole-artifact hash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "savepoint/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_manifest *manifest = NULL;
  if (sp_manifest_parse((const char *)data, size, "fuzz", &manifest) != SP_OK) return 0;
  size_t length = 0;
  char *listing = sp_manifest_format(manifest, &length);
  sp_manifest *again = NULL;
  if (listing && sp_manifest_parse(listing, length, "fuzz listing", &again) == SP_OK) {
    if (strcmp(again->sha256, manifest->sha256) != 0 || again->count != manifest->count) abort();
    sp_manifest_free(again);
  }
  free(listing);
  sp_manifest_free(manifest);
  return 0;
}
