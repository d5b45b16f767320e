/* model_config.h — which models a server serves: one from --model_name/--model_base_path, or
 * several from a ModelServerConfig text file (--model_config_file, formats.md §6.4), each with a
 * version policy (latest{num_versions} / all / specific{versions}) and version labels.
 *
 * Parsing validates everything the server relies on: model names are usable in URLs (no '/',
 * ':', control characters, "." or ".."), unique, and have a base path; a latest policy serves at
 * least one version; labels are valid names and point at non-negative versions.
 */
#ifndef SP_SERVE_MODEL_CONFIG_H
#define SP_SERVE_MODEL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

enum { SP_MODEL_NAME_MAX = 256 };

typedef enum sp_version_policy_kind {
  SP_POLICY_LATEST = 0, /* the num_versions highest versions (the default, with 1) */
  SP_POLICY_ALL = 1,
  SP_POLICY_SPECIFIC = 2
} sp_version_policy_kind;

typedef struct sp_version_policy {
  sp_version_policy_kind kind;
  uint32_t num_versions; /* latest */
  int64_t *versions;     /* specific, sorted */
  size_t version_count;
} sp_version_policy;

typedef struct sp_version_label {
  char *label;
  int64_t version;
} sp_version_label;

typedef struct sp_model_config {
  char *name;
  char *base_path;
  sp_version_policy policy;
  sp_version_label *labels;
  size_t label_count;
} sp_model_config;

typedef struct sp_model_config_list {
  sp_model_config *models;
  size_t count;
} sp_model_config_list;

/* One model, latest{1}: what --model_name and --model_base_path describe. */
sp_status sp_model_config_single(const char *name, const char *base_path, sp_model_config_list **list) SP_MUST_CHECK;
/* Reads a ModelServerConfig text file. */
sp_status sp_model_config_read(const char *path, sp_model_config_list **list) SP_MUST_CHECK;
/* Parses ModelServerConfig text (what names it in messages). */
sp_status sp_model_config_parse(const char *text, size_t length, const char *what,
                                sp_model_config_list **list) SP_MUST_CHECK;
/* A deep copy of one model's config into out. */
sp_status sp_model_config_copy(const sp_model_config *config, sp_model_config *out) SP_MUST_CHECK;
void sp_model_config_release(sp_model_config *config);
void sp_model_config_list_free(sp_model_config_list *list);
/* 1 when the two configs say the same thing. */
int sp_model_config_equal(const sp_model_config *a, const sp_model_config *b);

/* Checks a model name or version label (what says which, for the message): 1..256 bytes of
 * valid UTF-8 without '/', ':', '\\', control characters, and not "." or "..". */
sp_status sp_serving_name_check(const char *name, size_t length, const char *what) SP_MUST_CHECK;

/* "latest{2}", "all", "specific{1,3}" into out. */
const char *sp_version_policy_describe(const sp_version_policy *policy, char *out, size_t capacity);

#endif
