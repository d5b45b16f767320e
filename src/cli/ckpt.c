/* ckpt.c — `savepoint ckpt list|latest|prune DIR`: inspect and maintain a checkpoint directory
 * kept by the checkpoint manager (savepoint/checkpoint.h). list and latest never write; prune
 * applies the retention policy recorded in the directory's ownership manifest (or the one given)
 * and, with --temporaries, removes what crashed writers left behind. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckpt/manager.h"
#include "cli/cli.h"
#include "core/json.h"
#include "formats/checkpoint_state.h"
#include "savepoint/checkpoint.h"
#include "savepoint/registry.h"

static const char command_name[] = "ckpt";

static const char usage_text[] =
    "usage: savepoint ckpt list DIR [--json]\n"
    "       savepoint ckpt latest DIR\n"
    "       savepoint ckpt prune DIR [--max_to_keep N] [--keep_checkpoint_every_n_hours H]\n"
    "                               [--keep_best K] [--mode min|max] [--checkpoint_name NAME]\n"
    "                               [--temporaries] [--registry URL] [--json]\n"
    "\n"
    "A checkpoint directory holds TensorFlow checkpoints (NAME-N.index, NAME-N.data-*), the\n"
    "'checkpoint' state file naming the newest ones, and savepoint's ownership manifest\n"
    "(.savepoint-checkpoints.json) listing what savepoint wrote there.\n"
    "\n"
    "  list     every checkpoint: number, step, time, metric, why it is kept, and whether savepoint\n"
    "           wrote it (only those are ever deleted)\n"
    "  latest   the newest checkpoint's prefix, as tf.train.latest_checkpoint finds it\n"
    "  prune    apply retention now: the policy recorded by the last manager, with the options given\n"
    "           replacing parts of it (max_to_keep 0 keeps all); --temporaries also removes the\n"
    "           temporary files crashed writers left (\".ckpt-7.index.tmp-XXXXXX\"); the registry\n"
    "           (--registry, else $SAVEPOINT_REGISTRY) records each deletion\n";

typedef struct options {
  const char *directory, *checkpoint_name, *mode, *registry;
  int max_to_keep, keep_best, json, temporaries;
  double hours;
  int has_max_to_keep, has_keep_best, has_hours;
} options;

static const char *kept_text(int kept, char *out, size_t capacity) {
  snprintf(out, capacity, "%s%s%s%s", kept & SP_CHECKPOINT_KEPT_RECENT ? "recent," : "",
           kept & SP_CHECKPOINT_KEPT_BEST ? "best," : "", kept & SP_CHECKPOINT_KEPT_PRESERVED ? "preserved," : "",
           kept ? "" : "-");
  size_t length = strlen(out);
  if (length > 1 && out[length - 1] == ',') out[length - 1] = '\0';
  return out;
}

static const char *time_text(double timestamp, char *out, size_t capacity) {
  if (timestamp <= 0) return "-";
  time_t seconds = (time_t)timestamp;
  struct tm utc;
  gmtime_r(&seconds, &utc);
  strftime(out, capacity, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return out;
}

static json_object *info_json(const sp_checkpoint_info *info) {
  json_object *object = json_object_new_object();
  char kept[64];
  json_object_object_add(object, "prefix", json_object_new_string(info->prefix));
  json_object_object_add(object, "number", json_object_new_int64(info->number));
  json_object_object_add(object, "step", info->step >= 0 ? json_object_new_int64(info->step) : NULL);
  json_object_object_add(object, "timestamp", json_object_new_double(info->timestamp));
  json_object_object_add(object, "metric", info->has_metric ? json_object_new_double(info->metric) : NULL);
  json_object_object_add(object, "kept", json_object_new_string(kept_text(info->kept, kept, sizeof kept)));
  json_object_object_add(object, "owned", json_object_new_boolean(info->owned));
  return object;
}

static int print_listing(sp_checkpoint_manager *manager, int json) {
  size_t count = sp_checkpoint_manager_count(manager);
  json_object *list = json ? json_object_new_array() : NULL;
  if (!json) printf("%-8s %-8s %-20s %-12s %-22s %-9s %s\n", "number", "step", "saved", "metric", "kept", "writer", "prefix");
  for (size_t i = 0; i < count; i++) {
    sp_checkpoint_info info;
    sp_status status = sp_checkpoint_manager_get(manager, i, &info);
    if (status != SP_OK) {
      json_object_put(list);
      return sp_cli_report(command_name, status);
    }
    if (json) {
      json_object_array_add(list, info_json(&info));
      continue;
    }
    char number[24] = "-", step[24] = "-", metric[32] = "-", saved[32], kept[64];
    if (info.number >= 0) snprintf(number, sizeof number, "%lld", (long long)info.number);
    if (info.step >= 0) snprintf(step, sizeof step, "%lld", (long long)info.step);
    if (info.has_metric) snprintf(metric, sizeof metric, "%.6g", info.metric);
    printf("%-8s %-8s %-20s %-12s %-22s %-9s %s\n", number, step, time_text(info.timestamp, saved, sizeof saved), metric,
           kept_text(info.kept, kept, sizeof kept), info.owned ? "savepoint" : "other", info.prefix);
  }
  if (json) {
    char *text = sp_json_dumps(list, 2);
    json_object_put(list);
    if (!text) return sp_cli_report(command_name, SP_ERROR_NO_MEMORY);
    printf("%s\n", text);
    free(text);
  } else if (count == 0) {
    printf("(no checkpoints)\n");
  }
  return 0;
}

static sp_status prune_options(const options *chosen, sp_checkpoint_manager_options *result, char **name);

static int run_list(const options *chosen) {
  sp_checkpoint_manager_options manager_options;
  char *recorded_name = NULL;
  sp_checkpoint_manager *manager = NULL;
  sp_status status = prune_options(chosen, &manager_options, &recorded_name); /* for "best" */
  manager_options.read_only = 1;
  if (status == SP_OK) status = sp_checkpoint_manager_open(chosen->directory, &manager_options, &manager);
  int exit_status = status == SP_OK ? print_listing(manager, chosen->json) : sp_cli_report(command_name, status);
  sp_status closed = sp_checkpoint_manager_close(manager);
  (void)closed; /* read-only: nothing in flight */
  free(recorded_name);
  return exit_status;
}

static int run_latest(const options *chosen) {
  char *prefix;
  sp_status status = sp_latest_checkpoint(chosen->directory, &prefix);
  if (status != SP_OK) return sp_cli_report(command_name, status);
  printf("%s\n", prefix);
  free(prefix);
  return 0;
}

/* The recorded policy, overridden by the options given. */
static sp_status prune_options(const options *chosen, sp_checkpoint_manager_options *result, char **name) {
  sp_checkpoint_ownership recorded;
  SP_TRY(sp_checkpoint_ownership_read(chosen->directory, &recorded));
  *result = sp_checkpoint_manager_defaults();
  if (recorded.has_policy) {
    *name = recorded.policy.checkpoint_name;
    recorded.policy.checkpoint_name = NULL;
    result->checkpoint_name = *name;
    result->max_to_keep = recorded.policy.max_to_keep;
    result->keep_checkpoint_every_n_hours = recorded.policy.keep_checkpoint_every_n_hours;
    result->keep_best = recorded.policy.keep_best;
    result->mode = recorded.policy.mode;
  }
  sp_checkpoint_ownership_release(&recorded);
  if (chosen->checkpoint_name) result->checkpoint_name = chosen->checkpoint_name;
  if (chosen->has_max_to_keep) result->max_to_keep = chosen->max_to_keep;
  if (chosen->has_keep_best) result->keep_best = chosen->keep_best;
  if (chosen->has_hours) result->keep_checkpoint_every_n_hours = chosen->hours;
  if (chosen->mode) SP_TRY(sp_checkpoint_mode_from_name(chosen->mode, &result->mode));
  return SP_OK;
}

static int run_prune(const options *chosen) {
  sp_checkpoint_manager_options manager_options;
  char *recorded_name = NULL;
  sp_registry *registry = NULL;
  sp_status status = prune_options(chosen, &manager_options, &recorded_name);
  if (status == SP_OK)
    status = chosen->registry ? sp_registry_open(chosen->registry, &registry) : sp_registry_open_default(&registry);
  manager_options.registry = registry;
  sp_checkpoint_manager *manager = NULL;
  if (status == SP_OK) status = sp_checkpoint_manager_open(chosen->directory, &manager_options, &manager);
  size_t before = 0, removed_temporaries = 0;
  if (status == SP_OK) {
    before = sp_checkpoint_manager_count(manager);
    status = sp_checkpoint_manager_prune(manager);
  }
  if (status == SP_OK && chosen->temporaries) status = sp_checkpoint_manager_remove_temporaries(manager, &removed_temporaries);
  int exit_status = 0;
  if (status == SP_OK) {
    size_t after = sp_checkpoint_manager_count(manager);
    if (chosen->json)
      printf("{\"kept\": %zu, \"deleted\": %zu, \"temporaries_removed\": %zu}\n", after, before - after,
             removed_temporaries);
    else
      printf("kept %zu checkpoint%s, deleted %zu, removed %zu temporary file%s\n", after, after == 1 ? "" : "s",
             before - after, removed_temporaries, removed_temporaries == 1 ? "" : "s");
  } else {
    exit_status = sp_cli_report(command_name, status);
  }
  if (manager) {
    sp_status closed = sp_checkpoint_manager_close(manager);
    if (closed != SP_OK && exit_status == 0) exit_status = sp_cli_report(command_name, closed);
  }
  sp_registry_close(registry);
  free(recorded_name);
  return exit_status;
}

static int parse_count(const char *text, const char *flag, int *value) {
  char *end;
  long parsed = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || parsed < 0 || parsed > 1000000) {
    sp_cli_usage_error(command_name, "%s takes a count >= 0, not '%s'", flag, text);
    return 0;
  }
  *value = (int)parsed;
  return 1;
}

int sp_cli_ckpt(int argc, char **argv) {
  enum { MAX_TO_KEEP = 256, HOURS, KEEP_BEST, MODE, NAME, TEMPORARIES, REGISTRY, JSON, HELP };
  static const struct option long_options[] = {
      {"max_to_keep", required_argument, NULL, MAX_TO_KEEP}, {"keep_checkpoint_every_n_hours", required_argument, NULL, HOURS},
      {"keep_best", required_argument, NULL, KEEP_BEST},     {"mode", required_argument, NULL, MODE},
      {"checkpoint_name", required_argument, NULL, NAME},    {"temporaries", no_argument, NULL, TEMPORARIES},
      {"registry", required_argument, NULL, REGISTRY},       {"json", no_argument, NULL, JSON},
      {"help", no_argument, NULL, HELP},                     {NULL, 0, NULL, 0}};
  options chosen = {0};
  optind = 0; /* full reinitialisation: options may follow the action and the directory */
  opterr = 0;
  int option;
  while ((option = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
    switch (option) {
      case MAX_TO_KEEP:
        if (!parse_count(optarg, "--max_to_keep", &chosen.max_to_keep)) return 2;
        chosen.has_max_to_keep = 1;
        break;
      case KEEP_BEST:
        if (!parse_count(optarg, "--keep_best", &chosen.keep_best)) return 2;
        chosen.has_keep_best = 1;
        break;
      case HOURS: {
        char *end;
        chosen.hours = strtod(optarg, &end);
        if (*end || chosen.hours < 0)
          return sp_cli_usage_error(command_name, "--keep_checkpoint_every_n_hours takes hours >= 0, not '%s'", optarg);
        chosen.has_hours = 1;
        break;
      }
      case MODE: chosen.mode = optarg; break;
      case NAME: chosen.checkpoint_name = optarg; break;
      case TEMPORARIES: chosen.temporaries = 1; break;
      case REGISTRY: chosen.registry = optarg; break;
      case JSON: chosen.json = 1; break;
      case HELP:
      case 'h': fputs(usage_text, stdout); return 0;
      default: return sp_cli_usage_error(command_name, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (argc - optind != 2) return sp_cli_usage_error(command_name, "expected list, latest or prune and a directory");
  const char *action = argv[optind];
  chosen.directory = argv[optind + 1];
  if (strcmp(action, "list") == 0) return run_list(&chosen);
  if (strcmp(action, "latest") == 0) return run_latest(&chosen);
  if (strcmp(action, "prune") == 0) return run_prune(&chosen);
  return sp_cli_usage_error(command_name, "unknown action '%s' (list, latest or prune)", action);
}
