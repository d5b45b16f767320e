/* registry.c — `savepoint registry`: list, show, history, label, verify, add and gc over the
 * artifact registry (registry.h). Output is an aligned table on a terminal, tab-separated values
 * with a header line otherwise, and JSON with --json. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/memory.h"
#include "savepoint/registry.h"
#include "savepoint/version.h"

static const char command_name[] = "registry";

static const char usage_text[] =
    "usage: savepoint registry [--registry URL] [--json] COMMAND [ARGS]\n"
    "\n"
    "The registry is --registry URL, else $SAVEPOINT_REGISTRY: sqlite:///path/registry.db or\n"
    "postgresql://user@host:port/database.\n"
    "\n"
    "commands:\n"
    "  list [artifacts|runs|labels|events] [--kind K] [--name N] [--run ID] [--limit N]\n"
    "  show ID                        an artifact: files, run, lineage, labels, events\n"
    "  history MODEL [--at TIME]      serving history of MODEL; with --at, what served it then\n"
    "  history --label NAME [--at TIME]  every move of a label; with --at, its holder then\n"
    "  label [NAME [ARTIFACT_ID]]     list labels / show one / point NAME at ARTIFACT_ID\n"
    "  verify ID|PATH                 re-hash an artifact against its recorded hashes (and manifest)\n"
    "  add PATH --kind K --format F [--producer 'NAME VERSION'] [--format-version V] [--name N]\n"
    "      [--model-version N] [--run ID] [--parent ID] [--metrics JSON] [--signature JSON]\n"
    "                                 record an artifact made elsewhere (e.g. by Keras)\n"
    "  gc [--dry-run] [--json]        record as deleted the artifacts of this host that are gone\n"
    "\n"
    "TIME is ISO-8601 (2025-01-31T12:00:00Z, 2025-01-31 12:00, …; no zone means UTC) or 'now'.\n";

typedef struct options {
  const char *url, *kind, *name, *at, *label, *format, *format_version, *producer, *metrics, *signature;
  int64_t run_id, parent_id, limit, model_version;
  int json, dry_run;
  char **arguments;
  int argument_count;
} options;

/* ---- output ---- */

static int cell_width(const char *cell, const char *column, int terminal) {
  if (!cell) return 1;
  int length = (int)strlen(cell);
  if (terminal && strcmp(column, "sha256") == 0 && length > 12) return 12;
  if (terminal && length == 27 && cell[10] == 'T' && cell[26] == 'Z') return 19; /* a timestamp, to the second */
  return length;
}

static void print_cell(const char *cell, const char *column, int terminal, int width) {
  if (!terminal) {
    fputs(cell ? cell : "", stdout);
    return;
  }
  char shortened[32];
  if (cell && cell_width(cell, column, 1) < (int)strlen(cell)) {
    snprintf(shortened, sizeof shortened, "%.*s", cell_width(cell, column, 1), cell);
    if (shortened[10] == 'T') shortened[10] = ' ';
    cell = shortened;
  }
  printf("%-*s", width, cell ? cell : "-");
}

/* columns: the names to show on a terminal (NULL-terminated), or NULL for all; pipes get all. */
static void print_table(const sp_registry_table *table, const char *const *columns) {
  int terminal = sp_cli_stdout_is_terminal();
  size_t chosen[64], count = 0;
  for (size_t i = 0; i < table->column_count && count < 64; i++) {
    int wanted = !terminal || !columns;
    for (const char *const *name = columns; !wanted && *name; name++) wanted = strcmp(*name, table->column_names[i]) == 0;
    if (wanted) chosen[count++] = i;
  }
  int widths[64];
  for (size_t c = 0; c < count; c++) {
    const char *column = table->column_names[chosen[c]];
    widths[c] = (int)strlen(column);
    for (size_t row = 0; row < table->row_count; row++) {
      int width = cell_width(table->cells[row * table->column_count + chosen[c]], column, terminal);
      if (width > widths[c]) widths[c] = width;
    }
  }
  const char *separator = terminal ? "  " : "\t";
  for (size_t c = 0; c < count; c++)
    printf(terminal && c + 1 < count ? "%-*s%s" : "%*s%s", terminal && c + 1 < count ? widths[c] : 0,
           table->column_names[chosen[c]], c + 1 < count ? separator : "\n");
  for (size_t row = 0; row < table->row_count; row++)
    for (size_t c = 0; c < count; c++) {
      const char *column = table->column_names[chosen[c]];
      print_cell(table->cells[row * table->column_count + chosen[c]], column, terminal, c + 1 < count ? widths[c] : 0);
      fputs(c + 1 < count ? separator : "\n", stdout);
    }
  if (terminal && table->row_count == 0) printf("(none)\n");
}

static int print_json_text(char *text) {
  if (!text) return sp_cli_report(command_name, SP_ERROR_NO_MEMORY);
  printf("%s\n", text);
  free(text);
  return 0;
}

static int print_result(const options *chosen, const sp_registry_table *table, const char *const *columns) {
  if (chosen->json) return print_json_text(sp_registry_table_json(table));
  print_table(table, columns);
  return 0;
}

/* Prints a query's table (or its failure) and frees it; returns the exit status. */
static int print_query(const options *chosen, sp_status status, sp_registry_table *table, const char *const *columns) {
  int exit_status = status == SP_OK ? print_result(chosen, table, columns) : sp_cli_report(command_name, status);
  sp_registry_table_free(table);
  return exit_status;
}

/* Adds a table as JSON under key: an array, or its first row (null when empty) when single. */
static void add_table(json_object *object, const char *key, const sp_registry_table *table, int single) {
  char *text = sp_registry_table_json(table);
  json_object *rows = NULL;
  if (text && sp_json_parse(text, strlen(text), key, &rows) != SP_OK) rows = NULL;
  free(text);
  if (single) {
    json_object *first = rows && json_object_array_length(rows) ? json_object_get(json_object_array_get_idx(rows, 0)) : NULL;
    json_object_put(rows);
    rows = first;
  }
  json_object_object_add(object, key, rows);
}

/* ---- commands ---- */

static const char *const artifact_columns[] = {"id",   "created_at", "kind",   "name", "version", "format", "producer",
                                               "size", "sha256",     "run_id", "path", "deleted_at", NULL};

static int run_list(sp_registry *registry, const options *chosen) {
  const char *what = chosen->argument_count > 1 ? chosen->arguments[1] : "artifacts";
  sp_registry_table *table = NULL;
  sp_status status;
  const char *const *columns = NULL;
  static const char *const run_columns[] = {"id", "started_at", "ended_at", "status", "host", "artifacts", "command_line", NULL};
  static const char *const event_columns[] = {"id", "at", "type", "artifact_id", "model_name", "model_version", "label",
                                              "sha256", "instance", NULL};
  if (strcmp(what, "artifacts") == 0) {
    sp_registry_filter filter = {chosen->kind, chosen->name, chosen->run_id, chosen->limit};
    status = sp_registry_list_artifacts(registry, &filter, &table);
    columns = artifact_columns;
  } else if (strcmp(what, "runs") == 0) {
    status = sp_registry_list_runs(registry, chosen->limit, &table);
    columns = run_columns;
  } else if (strcmp(what, "labels") == 0) {
    status = sp_registry_list_labels(registry, &table);
  } else if (strcmp(what, "events") == 0) {
    status = sp_registry_list_events(registry, 0, chosen->limit, &table);
    columns = event_columns;
  } else {
    return sp_cli_usage_error(command_name, "list what? '%s' is not artifacts, runs, labels or events", what);
  }
  return print_query(chosen, status, table, columns);
}

static int parse_id(const char *text, int64_t *id) {
  char *end = NULL;
  long long value = strtoll(text, &end, 10);
  if (!*text || *end || value <= 0) return 0;
  *id = value;
  return 1;
}

static void print_section(const char *title, const sp_registry_table *table, const char *const *columns) {
  printf("\n%s:\n", title);
  print_table(table, columns);
}

static int run_show(sp_registry *registry, const options *chosen) {
  int64_t id = 0;
  if (chosen->argument_count != 2 || !parse_id(chosen->arguments[1], &id))
    return sp_cli_usage_error(command_name, "show needs one artifact id");
  sp_registry_artifact_details details;
  sp_status status = sp_registry_show_artifact(registry, id, &details);
  if (status != SP_OK) return sp_cli_report(command_name, status);
  if (chosen->json) {
    json_object *object = json_object_new_object();
    add_table(object, "artifact", details.artifact, 1);
    add_table(object, "run", details.run, 1);
    add_table(object, "files", details.files, 0);
    add_table(object, "lineage", details.lineage, 0);
    add_table(object, "labels", details.labels, 0);
    add_table(object, "events", details.events, 0);
    char *text = sp_json_dumps(object, 2);
    json_object_put(object);
    sp_registry_artifact_details_free(&details);
    return print_json_text(text);
  }
  const sp_registry_table *artifact = details.artifact;
  for (size_t column = 0; column < artifact->column_count; column++)
    printf("%-17s %s\n", artifact->column_names[column], artifact->cells[column] ? artifact->cells[column] : "-");
  static const char *const run_columns[] = {"id", "started_at", "ended_at", "status", "host", "command_line", NULL};
  static const char *const event_columns[] = {"id", "at", "type", "model_name", "model_version", "label", "instance", NULL};
  print_section("run", details.run, run_columns);
  print_section("files", details.files, NULL);
  print_section("lineage (parent first)", details.lineage, NULL);
  print_section("labels", details.labels, NULL);
  print_section("events", details.events, event_columns);
  sp_registry_artifact_details_free(&details);
  return 0;
}

static int run_history(sp_registry *registry, const options *chosen) {
  if (!chosen->label && chosen->argument_count != 2)
    return sp_cli_usage_error(command_name, "history needs a model name (or --label NAME)");
  sp_registry_table *table = NULL;
  sp_status status;
  if (chosen->label)
    status = chosen->at ? sp_registry_label_at(registry, chosen->label, chosen->at, &table)
                        : sp_registry_label_history(registry, chosen->label, &table);
  else
    status = chosen->at ? sp_registry_serving_at(registry, chosen->arguments[1], chosen->at, &table)
                        : sp_registry_serving_history(registry, chosen->arguments[1], &table);
  return print_query(chosen, status, table, NULL);
}

static int run_label(sp_registry *registry, const options *chosen) {
  sp_registry_table *table = NULL;
  sp_status status;
  if (chosen->argument_count == 1) {
    status = sp_registry_list_labels(registry, &table);
  } else if (chosen->argument_count == 2) {
    status = sp_registry_label_history(registry, chosen->arguments[1], &table);
  } else if (chosen->argument_count == 3) {
    int64_t id = 0;
    if (!parse_id(chosen->arguments[2], &id)) return sp_cli_usage_error(command_name, "'%s' is not an artifact id", chosen->arguments[2]);
    status = sp_registry_set_label(registry, chosen->arguments[1], id);
    if (status == SP_OK) status = sp_registry_label_history(registry, chosen->arguments[1], &table);
  } else {
    return sp_cli_usage_error(command_name, "label takes at most a name and an artifact id");
  }
  return print_query(chosen, status, table, NULL);
}

static void print_problem(const sp_integrity_problem *problem, void *context) {
  json_object *problems = context;
  if (problems) {
    json_object *item = json_object_new_object();
    json_object_object_add(item, "kind", json_object_new_string(sp_integrity_problem_name(problem->kind)));
    json_object_object_add(item, "file", json_object_new_string(problem->file));
    json_object_object_add(item, "expected_sha256", problem->expected_sha256 ? json_object_new_string(problem->expected_sha256) : NULL);
    json_object_object_add(item, "actual_sha256", problem->actual_sha256 ? json_object_new_string(problem->actual_sha256) : NULL);
    json_object_object_add(item, "source", json_object_new_string(problem->source));
    json_object_array_add(problems, item);
    return;
  }
  printf("%s: %s%s%s (per %s)\n", sp_integrity_problem_name(problem->kind), problem->artifact, problem->file[0] ? "/" : "",
         problem->file, problem->source);
}

static int run_verify(sp_registry *registry, const options *chosen) {
  if (chosen->argument_count != 2) return sp_cli_usage_error(command_name, "verify needs one artifact id or path");
  int64_t id = 0;
  const char *target = chosen->arguments[1];
  json_object *problems = chosen->json ? json_object_new_array() : NULL;
  sp_verify_result result;
  sp_status status = parse_id(target, &id)
                         ? sp_registry_verify_artifact(registry, id, print_problem, problems, &result)
                         : sp_verify_artifact_detailed(target, registry, print_problem, problems, &result);
  if (chosen->json && (status == SP_OK || status == SP_ERROR_CHECKSUM)) {
    json_object *object = json_object_new_object();
    json_object_object_add(object, "artifact_id", result.artifact_id ? json_object_new_int64(result.artifact_id) : NULL);
    json_object_object_add(object, "ok", json_object_new_boolean(status == SP_OK));
    json_object_object_add(object, "sha256", result.sha256[0] ? json_object_new_string(result.sha256) : NULL);
    json_object_object_add(object, "problems", json_object_get(problems));
    print_json_text(sp_json_dumps(object, 2));
    json_object_put(object);
  } else if (status == SP_OK) {
    printf("ok: %s matches %s (sha256 %s)\n", target,
           result.artifact_id && result.manifest_checked ? "its manifest and the registry"
           : result.artifact_id                            ? "its recorded hashes"
                                                           : "its manifest",
           result.sha256);
  }
  json_object_put(problems);
  return sp_cli_report(command_name, status);
}

static int run_add(sp_registry *registry, const options *chosen) {
  if (chosen->argument_count != 2) return sp_cli_usage_error(command_name, "add needs one path");
  if (!chosen->kind || !chosen->format) return sp_cli_usage_error(command_name, "add needs --kind and --format");
  sp_artifact_kind kind;
  sp_status status = sp_artifact_kind_from_name(chosen->kind, &kind);
  if (status != SP_OK) return sp_cli_usage_error(command_name, "%s", sp_last_error());
  char *producer = sp_strdup(chosen->producer ? chosen->producer : "unknown");
  if (!producer) return sp_cli_report(command_name, SP_ERROR_NO_MEMORY);
  char *space = strchr(producer, ' ');
  if (space) *space = '\0';
  sp_artifact_record record = {.run_id = chosen->run_id, .kind = kind, .name = chosen->name,
                               .version = chosen->model_version, .format = chosen->format,
                               .format_version = chosen->format_version, .producer = producer,
                               .producer_version = space ? space + 1 : NULL, .path = chosen->arguments[1],
                               .signature_json = chosen->signature, .metrics_json = chosen->metrics,
                               .parent_id = chosen->parent_id};
  int64_t id = 0;
  status = sp_registry_record_artifact(registry, &record, &id);
  free(producer);
  if (status != SP_OK) return sp_cli_report(command_name, status);
  if (chosen->json)
    printf("{\"id\": %lld}\n", (long long)id);
  else
    printf("recorded artifact %lld\n", (long long)id);
  return 0;
}

static int run_gc(sp_registry *registry, const options *chosen) {
  sp_registry_table *missing = NULL;
  size_t found = 0;
  sp_status status = sp_registry_collect_garbage(registry, chosen->dry_run, &missing, &found);
  if (status != SP_OK) return sp_cli_report(command_name, status);
  int exit_status = 0;
  if (chosen->json) {
    exit_status = print_result(chosen, missing, NULL);
  } else {
    if (found) print_table(missing, NULL);
    printf("%zu artifact%s gone from disk%s\n", found, found == 1 ? "" : "s",
           found == 0 ? "" : chosen->dry_run ? " (dry run: nothing recorded)" : ": recorded as deleted");
  }
  sp_registry_table_free(missing);
  return exit_status;
}

/* ---- arguments ---- */

static int parse_number_option(const char *text, const char *flag, int64_t *value) {
  char *end = NULL;
  long long parsed = strtoll(text, &end, 10);
  if (!*text || *end || parsed < 0) {
    sp_cli_usage_error(command_name, "%s needs a non-negative number, not '%s'", flag, text);
    return 0;
  }
  *value = parsed;
  return 1;
}

enum {
  OPTION_KIND = 256, OPTION_NAME, OPTION_RUN, OPTION_LIMIT, OPTION_AT, OPTION_LABEL, OPTION_DRY_RUN, OPTION_FORMAT,
  OPTION_FORMAT_VERSION, OPTION_PRODUCER, OPTION_MODEL_VERSION, OPTION_PARENT, OPTION_METRICS, OPTION_SIGNATURE
};

static const struct option long_options[] = {
    {"registry", required_argument, NULL, 'r'},        {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},                  {"kind", required_argument, NULL, OPTION_KIND},
    {"name", required_argument, NULL, OPTION_NAME},    {"run", required_argument, NULL, OPTION_RUN},
    {"limit", required_argument, NULL, OPTION_LIMIT},  {"at", required_argument, NULL, OPTION_AT},
    {"label", required_argument, NULL, OPTION_LABEL},  {"dry-run", no_argument, NULL, OPTION_DRY_RUN},
    {"format", required_argument, NULL, OPTION_FORMAT}, {"format-version", required_argument, NULL, OPTION_FORMAT_VERSION},
    {"producer", required_argument, NULL, OPTION_PRODUCER},
    {"model-version", required_argument, NULL, OPTION_MODEL_VERSION},
    {"parent", required_argument, NULL, OPTION_PARENT}, {"metrics", required_argument, NULL, OPTION_METRICS},
    {"signature", required_argument, NULL, OPTION_SIGNATURE}, {NULL, 0, NULL, 0},
};

/* Returns -1 to go on, or an exit status. */
static int parse_options(int argc, char **argv, options *chosen) {
  memset(chosen, 0, sizeof *chosen);
  chosen->arguments = sp_alloc_zeroed((size_t)argc + 1, sizeof *chosen->arguments);
  if (!chosen->arguments) return sp_cli_report(command_name, SP_ERROR_NO_MEMORY);
  optind = 0; /* 0, not 1: glibc then re-reads the '-' mode below even after another command's getopt (demo) */
  opterr = 0;
  int option;
  /* A leading '-' in the option string makes getopt return each positional argument as option 1,
   * in order, so options may come before or after the command and its arguments. */
  while ((option = getopt_long(argc, argv, "-:r:jh", long_options, NULL)) != -1) {
    const char *value = optarg;
    switch (option) {
      case 1: chosen->arguments[chosen->argument_count++] = optarg; break;
      case 'r': chosen->url = value; break;
      case 'j': chosen->json = 1; break;
      case 'h': fputs(usage_text, stdout); return 0;
      case OPTION_KIND: chosen->kind = value; break;
      case OPTION_NAME: chosen->name = value; break;
      case OPTION_AT: chosen->at = value; break;
      case OPTION_LABEL: chosen->label = value; break;
      case OPTION_DRY_RUN: chosen->dry_run = 1; break;
      case OPTION_FORMAT: chosen->format = value; break;
      case OPTION_FORMAT_VERSION: chosen->format_version = value; break;
      case OPTION_PRODUCER: chosen->producer = value; break;
      case OPTION_METRICS: chosen->metrics = value; break;
      case OPTION_SIGNATURE: chosen->signature = value; break;
      case OPTION_RUN: if (!parse_number_option(value, "--run", &chosen->run_id)) return 2; break;
      case OPTION_LIMIT: if (!parse_number_option(value, "--limit", &chosen->limit)) return 2; break;
      case OPTION_PARENT: if (!parse_number_option(value, "--parent", &chosen->parent_id)) return 2; break;
      case OPTION_MODEL_VERSION:
        if (!parse_number_option(value, "--model-version", &chosen->model_version)) return 2;
        break;
      case ':': return sp_cli_usage_error(command_name, "%s needs a value", argv[optind - 1]);
      default: return sp_cli_usage_error(command_name, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (chosen->argument_count == 0) return sp_cli_usage_error(command_name, "which command? list, show, history, label, verify, add or gc");
  return -1;
}

typedef int (*registry_command)(sp_registry *registry, const options *chosen);

static registry_command find_command(const char *name) {
  static const struct { const char *name; registry_command run; } table[] = {
      {"list", run_list},   {"show", run_show}, {"history", run_history}, {"label", run_label},
      {"verify", run_verify}, {"add", run_add},   {"gc", run_gc},
  };
  for (size_t i = 0; i < sizeof table / sizeof *table; i++)
    if (strcmp(name, table[i].name) == 0) return table[i].run;
  return NULL;
}

int sp_cli_registry(int argc, char **argv) {
  options chosen;
  int exit_status = parse_options(argc, argv, &chosen);
  registry_command run = exit_status < 0 ? find_command(chosen.arguments[0]) : NULL;
  if (exit_status < 0 && !run)
    exit_status = sp_cli_usage_error(command_name, "unknown command '%s'", chosen.arguments[0]);
  const char *url = chosen.url ? chosen.url : getenv(SP_REGISTRY_ENVIRONMENT);
  if (exit_status < 0 && (!url || !*url))
    exit_status = sp_cli_usage_error(command_name, "no registry configured: pass --registry URL or set "
                                     SP_REGISTRY_ENVIRONMENT " (sqlite:///path/registry.db or "
                                     "postgresql://user@host:port/database)");
  sp_registry *registry = NULL;
  if (exit_status < 0) {
    sp_status status = sp_registry_open(url, &registry);
    exit_status = status == SP_OK ? run(registry, &chosen) : sp_cli_report(command_name, status);
  }
  sp_registry_close(registry);
  free(chosen.arguments);
  return exit_status;
}
