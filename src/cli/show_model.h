/* show_model.h — `savepoint show` for Keras and TensorFlow.js files: what show.c dispatches to
 * for .keras archives (zip or directory), HDF5 files (.h5, .weights.h5), TF.js model.json and
 * architecture JSON. */
#ifndef SP_CLI_SHOW_MODEL_H
#define SP_CLI_SHOW_MODEL_H

/* Prints the file's format, Keras version and SHA-256, then a Keras-style summary of the model
 * (layers, output shapes, parameters, totals) or, for weights-only files, every weight with its
 * shape. json: one JSON object instead. Returns the exit status. */
int sp_cli_show_model(const char *path, int json);

#endif
