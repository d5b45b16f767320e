/* model_config.c — model configs from flags or from a ModelServerConfig text file (see
 * model_config.h). The text format is parsed by formats/pbtext.c over our own
 * model_server_config.proto.
 */
#include "serve/model_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/memory.h"
#include "model_server_config.pb-c.h"
#include "serve/json_body.h"
#include "formats/pbtext.h"

enum { MAX_CONFIG_BYTES = 16 << 20, MAX_MODELS = 10000 };

sp_status sp_serving_name_check(const char *name, size_t length, const char *what) {
  if (length == 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s is empty", what);
  if (length > SP_MODEL_NAME_MAX)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s is %zu bytes long; at most %d are allowed", what, length,
                   SP_MODEL_NAME_MAX);
  if ((length == 1 && name[0] == '.') || (length == 2 && name[0] == '.' && name[1] == '.'))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s '%.*s' is not allowed", what, (int)length, name);
  for (size_t i = 0; i < length; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c == '/' || c == ':' || c == '\\' || c < 0x20 || c == 0x7f)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s may not contain %s (byte %zu)", what,
                     c == '/'    ? "'/'"
                     : c == ':'  ? "':'"
                     : c == '\\' ? "'\\'"
                                 : "control characters",
                     i);
  }
  if (!sp_utf8_valid(name, length)) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
  return SP_OK;
}

const char *sp_version_policy_describe(const sp_version_policy *policy, char *out, size_t capacity) {
  if (policy->kind == SP_POLICY_ALL) {
    snprintf(out, capacity, "all");
  } else if (policy->kind == SP_POLICY_LATEST) {
    snprintf(out, capacity, "latest{%u}", policy->num_versions);
  } else {
    size_t used = (size_t)snprintf(out, capacity, "specific{");
    for (size_t i = 0; i < policy->version_count && used < capacity; i++)
      used += (size_t)snprintf(out + used, capacity - used, "%s%lld", i ? "," : "", (long long)policy->versions[i]);
    if (used < capacity) snprintf(out + used, capacity - used, "}");
  }
  return out;
}

void sp_model_config_release(sp_model_config *config) {
  free(config->name);
  free(config->base_path);
  free(config->policy.versions);
  for (size_t i = 0; i < config->label_count; i++) free(config->labels[i].label);
  free(config->labels);
  memset(config, 0, sizeof *config);
}

void sp_model_config_list_free(sp_model_config_list *list) {
  if (!list) return;
  for (size_t i = 0; i < list->count; i++) sp_model_config_release(&list->models[i]);
  free(list->models);
  free(list);
}

sp_status sp_model_config_copy(const sp_model_config *config, sp_model_config *out) {
  memset(out, 0, sizeof *out);
  out->name = sp_strdup(config->name);
  out->base_path = sp_strdup(config->base_path);
  out->policy = config->policy;
  out->policy.versions = sp_alloc_zeroed(config->policy.version_count + 1, sizeof *out->policy.versions);
  out->labels = sp_alloc_zeroed(config->label_count + 1, sizeof *out->labels);
  sp_status status = out->name && out->base_path && out->policy.versions && out->labels ? SP_OK : SP_ERROR_NO_MEMORY;
  if (status == SP_OK && config->policy.version_count)
    memcpy(out->policy.versions, config->policy.versions, config->policy.version_count * sizeof *out->policy.versions);
  for (size_t i = 0; status == SP_OK && i < config->label_count; i++, out->label_count++) {
    out->labels[i].version = config->labels[i].version;
    if (!(out->labels[i].label = sp_strdup(config->labels[i].label))) status = SP_ERROR_NO_MEMORY;
  }
  if (status != SP_OK) sp_model_config_release(out);
  return status;
}

int sp_model_config_equal(const sp_model_config *a, const sp_model_config *b) {
  if (strcmp(a->name, b->name) != 0 || strcmp(a->base_path, b->base_path) != 0) return 0;
  if (a->policy.kind != b->policy.kind || a->policy.num_versions != b->policy.num_versions ||
      a->policy.version_count != b->policy.version_count || a->label_count != b->label_count)
    return 0;
  for (size_t i = 0; i < a->policy.version_count; i++)
    if (a->policy.versions[i] != b->policy.versions[i]) return 0;
  for (size_t i = 0; i < a->label_count; i++)
    if (strcmp(a->labels[i].label, b->labels[i].label) != 0 || a->labels[i].version != b->labels[i].version) return 0;
  return 1;
}

static sp_status new_list(size_t count, sp_model_config_list **list) {
  *list = sp_alloc_zeroed(1, sizeof **list);
  if (!*list) return SP_ERROR_NO_MEMORY;
  (*list)->models = sp_alloc_zeroed(count + 1, sizeof *(*list)->models);
  if (!(*list)->models) {
    free(*list);
    *list = NULL;
    return SP_ERROR_NO_MEMORY;
  }
  return SP_OK;
}

/* base_path made absolute, so what the server reports and records does not depend on its cwd. */
static char *absolute_path(const char *path) {
  if (path[0] == '/') return sp_strdup(path);
  char *cwd = getcwd(NULL, 0);
  if (!cwd) {
    sp_fail(SP_ERROR_IO, "cannot read the working directory to resolve '%s'", path);
    return NULL;
  }
  char *joined = sp_path_join(cwd, path);
  free(cwd);
  return joined;
}

static sp_status check_model(const sp_model_config *config, const sp_model_config_list *list, size_t index) {
  SP_TRY(sp_serving_name_check(config->name, strlen(config->name), "model name"));
  if (!config->base_path || !config->base_path[0])
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' has no base_path", config->name);
  for (size_t i = 0; i < index; i++)
    if (strcmp(list->models[i].name, config->name) == 0)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' is configured twice", config->name);
  for (size_t i = 0; i < config->label_count; i++) {
    SP_TRY(sp_serving_name_check(config->labels[i].label, strlen(config->labels[i].label), "version label"));
    if (config->labels[i].version < 0)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s': label '%s' points at negative version %lld", config->name,
                     config->labels[i].label, (long long)config->labels[i].version);
  }
  return SP_OK;
}

sp_status sp_model_config_single(const char *name, const char *base_path, sp_model_config_list **list) {
  SP_TRY(new_list(1, list));
  sp_model_config *config = &(*list)->models[0];
  (*list)->count = 1;
  config->name = sp_strdup(name);
  config->base_path = absolute_path(base_path);
  config->policy.kind = SP_POLICY_LATEST;
  config->policy.num_versions = 1;
  sp_status status = config->name && config->base_path ? check_model(config, *list, 0) : sp_last_status();
  if (status != SP_OK) {
    sp_model_config_list_free(*list);
    *list = NULL;
  }
  return status;
}

typedef Tensorflow__Serving__FileSystemStoragePathSourceConfig__ServableVersionPolicy proto_policy;

static int compare_versions(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static sp_status convert_policy(const proto_policy *policy, const char *name, sp_version_policy *out) {
  out->kind = SP_POLICY_LATEST;
  out->num_versions = 1;
  if (!policy) return SP_OK;
  switch (policy->policy_choice_case) {
    case TENSORFLOW__SERVING__FILE_SYSTEM_STORAGE_PATH_SOURCE_CONFIG__SERVABLE_VERSION_POLICY__POLICY_CHOICE_LATEST:
      out->num_versions = policy->latest->num_versions ? policy->latest->num_versions : 1;
      return SP_OK;
    case TENSORFLOW__SERVING__FILE_SYSTEM_STORAGE_PATH_SOURCE_CONFIG__SERVABLE_VERSION_POLICY__POLICY_CHOICE_ALL:
      out->kind = SP_POLICY_ALL;
      return SP_OK;
    case TENSORFLOW__SERVING__FILE_SYSTEM_STORAGE_PATH_SOURCE_CONFIG__SERVABLE_VERSION_POLICY__POLICY_CHOICE_SPECIFIC: {
      const Tensorflow__Serving__FileSystemStoragePathSourceConfig__ServableVersionPolicy__Specific *specific =
          policy->specific;
      if (specific->n_versions == 0)
        return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s': a specific version policy must list versions", name);
      out->kind = SP_POLICY_SPECIFIC;
      out->versions = sp_alloc_zeroed(specific->n_versions, sizeof *out->versions);
      if (!out->versions) return SP_ERROR_NO_MEMORY;
      memcpy(out->versions, specific->versions, specific->n_versions * sizeof *out->versions);
      out->version_count = specific->n_versions;
      qsort(out->versions, out->version_count, sizeof *out->versions, compare_versions);
      return SP_OK;
    }
    default: return SP_OK;
  }
}

static sp_status convert_model(const Tensorflow__Serving__ModelConfig *proto, sp_model_config *out) {
  const char *platform = proto->model_platform ? proto->model_platform : "";
  if (*platform && strcmp(platform, "tensorflow") != 0 && strcmp(platform, "keras") != 0 &&
      strcmp(platform, "savepoint") != 0)
    return sp_fail(SP_ERROR_UNSUPPORTED, "model '%s': model_platform '%s' is not served here (use 'tensorflow')",
                   proto->name ? proto->name : "", platform);
  out->name = sp_strdup(proto->name ? proto->name : "");
  out->base_path = proto->base_path && *proto->base_path ? absolute_path(proto->base_path) : sp_strdup("");
  if (!out->name || !out->base_path) return sp_last_status();
  SP_TRY(convert_policy(proto->model_version_policy, out->name, &out->policy));
  out->labels = sp_alloc_zeroed(proto->n_version_labels + 1, sizeof *out->labels);
  if (!out->labels) return SP_ERROR_NO_MEMORY;
  for (size_t i = 0; i < proto->n_version_labels; i++, out->label_count++) {
    out->labels[i].version = proto->version_labels[i]->value;
    if (!(out->labels[i].label = sp_strdup(proto->version_labels[i]->key ? proto->version_labels[i]->key : "")))
      return SP_ERROR_NO_MEMORY;
    for (size_t j = 0; j < i; j++)
      if (strcmp(out->labels[j].label, out->labels[i].label) == 0)
        return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s': label '%s' is given twice", out->name,
                       out->labels[i].label);
  }
  return SP_OK;
}

static sp_status convert_config(const Tensorflow__Serving__ModelServerConfig *proto, sp_model_config_list **list) {
  if (proto->config_case == TENSORFLOW__SERVING__MODEL_SERVER_CONFIG__CONFIG_CUSTOM_MODEL_CONFIG)
    return sp_fail(SP_ERROR_UNSUPPORTED, "custom_model_config is not supported; use model_config_list");
  size_t count = proto->config_case == TENSORFLOW__SERVING__MODEL_SERVER_CONFIG__CONFIG_MODEL_CONFIG_LIST
                     ? proto->model_config_list->n_config
                     : 0;
  if (count > MAX_MODELS) return sp_fail(SP_ERROR_UNSAFE, "%zu models configured; at most %d", count, MAX_MODELS);
  SP_TRY(new_list(count, list));
  sp_status status = SP_OK;
  for (size_t i = 0; status == SP_OK && i < count; i++) {
    (*list)->count++;
    status = convert_model(proto->model_config_list->config[i], &(*list)->models[i]);
    if (status == SP_OK) status = check_model(&(*list)->models[i], *list, i);
    if (status != SP_OK) status = sp_error_context(status, "model_config_list config %zu", i + 1);
  }
  if (status != SP_OK) {
    sp_model_config_list_free(*list);
    *list = NULL;
  }
  return status;
}

sp_status sp_model_config_parse(const char *text, size_t length, const char *what, sp_model_config_list **list) {
  *list = NULL;
  ProtobufCMessage *message = NULL;
  SP_TRY(sp_pbtext_parse(&tensorflow__serving__model_server_config__descriptor, text, length, what, &message));
  sp_status status = convert_config((const Tensorflow__Serving__ModelServerConfig *)message, list);
  protobuf_c_message_free_unpacked(message, NULL);
  return status == SP_OK ? SP_OK : sp_error_context(status, "%s", what);
}

sp_status sp_model_config_read(const char *path, sp_model_config_list **list) {
  *list = NULL;
  uint8_t *data = NULL;
  size_t size = 0;
  SP_TRY(sp_read_file(path, MAX_CONFIG_BYTES, &data, &size));
  char *what = sp_strdupf("model config file '%s'", path);
  sp_status status = what ? sp_model_config_parse((const char *)data, size, what, list) : SP_ERROR_NO_MEMORY;
  free(what);
  free(data);
  return status;
}
