/* format_template — for peer tests: formats a template with src/ckpt/template.c.
 *
 *   format_template TEMPLATE [NAME=i:INTEGER | NAME=f:HEX_FLOAT ...]
 *
 * Floats are given in C99 hex ("%a") so that no digit is lost on the way. Prints the result on
 * stdout and exits 0, or prints "error" and exits 1 when the template is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/template.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: format_template TEMPLATE [NAME=i:INTEGER|NAME=f:FLOAT ...]\n");
    return 2;
  }
  sp_template_value values[64];
  int count = 0;
  for (int i = 2; i < argc && count < 64; i++, count++) {
    char *equals = strchr(argv[i], '=');
    if (!equals || (equals[1] != 'i' && equals[1] != 'f') || equals[2] != ':') return 2;
    *equals = '\0';
    values[count].name = argv[i];
    values[count].is_integer = equals[1] == 'i';
    values[count].integer = strtoll(equals + 3, NULL, 10);
    values[count].real = strtod(equals + 3, NULL);
  }
  char *text;
  if (sp_format_template(argv[1], values, (size_t)count, "template", &text) != SP_OK) {
    printf("error\n");
    fprintf(stderr, "%s\n", sp_last_error());
    return 1;
  }
  printf("%s\n", text);
  free(text);
  return 0;
}
