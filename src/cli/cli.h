/* cli.h — the savepoint command-line tool: one binary, one function per subcommand.
 *
 * Each subcommand lives in src/cli/<name>.c as `int sp_cli_<name>(int argc, char **argv)`
 * and returns the process exit status (0 success, 1 failure, 2 usage error). Messages go
 * to stderr as "savepoint <command>: <message>"; results go to stdout.
 */
#ifndef SP_CLI_H
#define SP_CLI_H

#include "savepoint/status.h"

typedef int (*sp_cli_command_function)(int argc, char **argv);

typedef struct sp_cli_command {
  const char *name;
  const char *summary;
  sp_cli_command_function run;
} sp_cli_command;

/* The subcommands (src/cli/<name>.c). */
int sp_cli_convert(int argc, char **argv);
int sp_cli_show(int argc, char **argv);
int sp_cli_verify(int argc, char **argv);
int sp_cli_manifest(int argc, char **argv);
int sp_cli_registry(int argc, char **argv);
int sp_cli_ckpt(int argc, char **argv);
int sp_cli_train(int argc, char **argv);
int sp_cli_evaluate(int argc, char **argv);
int sp_cli_predict(int argc, char **argv);
int sp_cli_demo(int argc, char **argv);
int sp_cli_serve(int argc, char **argv);

/* Prints "savepoint <command>: <sp_last_error()>" and returns the exit status for status. */
int sp_cli_report(const char *command, sp_status status);
/* Prints a usage error and returns 2. */
int sp_cli_usage_error(const char *command, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* 1 when stdout is a terminal (tables and progress bars) rather than a pipe or file. */
int sp_cli_stdout_is_terminal(void);

#endif
