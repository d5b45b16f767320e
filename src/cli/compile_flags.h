/* compile_flags.h — the compile flags of train and evaluate (--optimizer, --learning-rate,
 * --loss, --metrics) merged over the compile_config stored with the model. */
#ifndef SP_CLI_COMPILE_FLAGS_H
#define SP_CLI_COMPILE_FLAGS_H

#include <getopt.h>

#include "savepoint/model.h"

typedef struct sp_cli_compile_flags {
  const char *optimizer; /* a name or Keras JSON */
  const char *loss;      /* a name or Keras JSON */
  const char *metrics;   /* comma-separated names, or a JSON list */
  double learning_rate;  /* NAN: keep the optimizer's */
} sp_cli_compile_flags;

enum { SP_CLI_OPTION_OPTIMIZER = 1100, SP_CLI_OPTION_LEARNING_RATE, SP_CLI_OPTION_LOSS, SP_CLI_OPTION_METRICS };
#define SP_CLI_COMPILE_LONG_OPTIONS                                           \
  {"optimizer", required_argument, NULL, SP_CLI_OPTION_OPTIMIZER},            \
      {"learning-rate", required_argument, NULL, SP_CLI_OPTION_LEARNING_RATE}, \
      {"loss", required_argument, NULL, SP_CLI_OPTION_LOSS},                  \
      {"metrics", required_argument, NULL, SP_CLI_OPTION_METRICS}

extern const char sp_cli_compile_help[];

sp_cli_compile_flags sp_cli_compile_defaults(void);
/* 1 when option was a compile flag (stored), 0 when not, -1 after a usage error. */
int sp_cli_compile_option(const char *command, int option, const char *argument, sp_cli_compile_flags *flags);
/* Compiles model from its compile_config with the flags applied on top (optimizer default: adam). */
sp_status sp_cli_compile(sp_model *model, const sp_cli_compile_flags *flags);

#endif
