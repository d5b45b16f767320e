/* summary.c — sp_model_summary: the table Keras 3's model.summary() prints.
 *
 * Same rows and numbers as Keras: one row per entry of model.layers (a Sequential model's
 * InputLayer is not one), "name (Class)", the output shape with None for the batch, the
 * parameter count with thousands separators, "Connected to" for Functional models, then the
 * totals with their sizes in Keras's units (float32: 4 bytes a parameter; 1 KB = 1024 B).
 * The frame uses the box characters rich draws for Keras, with fixed column widths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"

static int64_t layer_parameters(const sp_layer *layer) {
  if (layer->inner_model) return sp_model_parameter_count(layer->inner_model, 0);
  int64_t total = 0;
  for (int v = 0; v < layer->variable_count; v++) total += sp_tensor_count(layer->variables[v]->value);
  return total;
}

/* 1234567 → "1,234,567". */
static void with_separators(int64_t value, char *out, size_t capacity) {
  char digits[32];
  snprintf(digits, sizeof digits, "%lld", (long long)(value < 0 ? -value : value));
  size_t length = strlen(digits), used = 0;
  if (value < 0 && used + 1 < capacity) out[used++] = '-';
  for (size_t i = 0; i < length && used + 2 < capacity; i++) {
    if (i > 0 && (length - i) % 3 == 0) out[used++] = ',';
    out[used++] = digits[i];
  }
  out[used] = '\0';
}

/* Keras's readable_memory_size. */
static void memory_size(double bytes, char *out, size_t capacity) {
  static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
    if (bytes / 1024 < 1 || i + 1 == sizeof units / sizeof *units) {
      snprintf(out, capacity, "%.2f %s", bytes, units[i]);
      return;
    }
    bytes /= 1024;
  }
}

static const sp_node *first_node(const sp_model *model, const sp_layer *layer) {
  for (int n = 0; n < model->node_count; n++)
    if (model->nodes[n].layer == layer) return &model->nodes[n];
  return NULL;
}

static void output_shape_text(const sp_model *model, const sp_layer *layer, char *out, size_t capacity) {
  const sp_node *node = first_node(model, layer);
  if (!node || node->output_count == 0) {
    snprintf(out, capacity, "?");
    return;
  }
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; i < node->output_count && used + 1 < capacity; i++) {
    char shape[160];
    sp_shape_describe(&node->outputs[i], shape, sizeof shape);
    int written = snprintf(out + used, capacity - used, "%s%s", i ? ", " : "", shape);
    if (written < 0) break;
    used += (size_t)written < capacity - used ? (size_t)written : capacity - used - 1;
  }
}

/* "dense[0][0], input_layer[0][0]": the inputs of every call of layer. */
static void connections_text(const sp_model *model, const sp_layer *layer, char *out, size_t capacity) {
  size_t used = 0;
  out[0] = '\0';
  for (int n = 0; n < model->node_count; n++) {
    if (model->nodes[n].layer != layer) continue;
    for (int i = 0; i < model->nodes[n].input_count && used + 1 < capacity; i++) {
      const sp_symbol input = model->nodes[n].inputs[i];
      const sp_node *source = &model->nodes[input.node];
      int written = snprintf(out + used, capacity - used, "%s%s[%d][%d]", used ? ", " : "", source->layer->name,
                             source->layer_node_index, input.output);
      if (written < 0) break;
      used += (size_t)written < capacity - used ? (size_t)written : capacity - used - 1;
    }
  }
  if (!out[0]) snprintf(out, capacity, "-");
}

static void rule(FILE *out, const int *widths, int columns, const char *left, const char *fill, const char *middle,
                 const char *right) {
  fputs(left, out);
  for (int c = 0; c < columns; c++) {
    for (int i = 0; i < widths[c] + 2; i++) fputs(fill, out);
    fputs(c + 1 < columns ? middle : right, out);
  }
  fputc('\n', out);
}

static void row(FILE *out, const int *widths, int columns, const char *const *cells, const int *right_aligned,
                const char *edge) {
  fputs(edge, out);
  for (int c = 0; c < columns; c++) {
    int width = widths[c];
    char cell[512];
    snprintf(cell, sizeof cell, "%s", cells[c]);
    if ((int)strlen(cell) > width) {
      cell[width > 1 ? width - 1 : 0] = '\0';
      strcat(cell, "…");
    }
    fprintf(out, right_aligned[c] ? " %*s %s" : " %-*s %s", width, cell, edge);
  }
  fputc('\n', out);
}

void sp_model_summary(const sp_model *model, FILE *out) {
  int sequential = strcmp(model->class_name, "Sequential") == 0;
  int columns = sequential ? 3 : 4;
  const int widths[4] = {sequential ? 33 : 30, sequential ? 26 : 26, 13, 26};
  const int right_aligned[4] = {0, 0, 1, 0};
  const char *header[4] = {"Layer (type)", "Output Shape", "Param #", "Connected to"};
  fprintf(out, "Model: \"%s\"\n", model->name);
  rule(out, widths, columns, "┏", "━", "┳", "┓");
  row(out, widths, columns, header, (const int[4]){0, 0, 1, 0}, "┃");
  rule(out, widths, columns, "┡", "━", "╇", "┩");
  for (int i = 0; i < model->layer_count; i++) {
    const sp_layer *layer = model->layers[i];
    if (sequential && i == 0 && sp_layer_is_input(layer)) continue;
    char name[300], shape[300], parameters[32], connected[512];
    const char *class_name = layer->inner_model ? layer->inner_model->class_name : layer->class->class_name;
    snprintf(name, sizeof name, "%s (%s)", layer->name ? layer->name : "?", class_name);
    output_shape_text(model, layer, shape, sizeof shape);
    with_separators(layer_parameters(layer), parameters, sizeof parameters);
    connections_text(model, layer, connected, sizeof connected);
    const char *cells[4] = {name, shape, parameters, connected};
    row(out, widths, columns, cells, right_aligned, "│");
  }
  rule(out, widths, columns, "└", "─", "┴", "┘");
  int64_t total = sp_model_parameter_count(model, 0), trainable = sp_model_parameter_count(model, 1);
  struct { const char *label; int64_t count; } totals[] = {
      {"Total params", total}, {"Trainable params", trainable}, {"Non-trainable params", total - trainable}};
  for (size_t i = 0; i < sizeof totals / sizeof *totals; i++) {
    char count[32], size[32];
    with_separators(totals[i].count, count, sizeof count);
    memory_size(4.0 * (double)totals[i].count, size, sizeof size);
    fprintf(out, " %s: %s (%s)\n", totals[i].label, count, size);
  }
}
