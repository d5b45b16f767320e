/* train_models.h — small compiled models and data matrices that training tests share, and comparing weights bit
 * for bit (the determinism and resume tests). Helpers assert (Criterion). */
#ifndef SP_TEST_TRAIN_MODELS_H
#define SP_TEST_TRAIN_MODELS_H

#include "savepoint/model.h"

/* Dense(16, relu) → Dropout(0.3) → Dense(4) on 8 features, Adam(0.01), sparse categorical
 * cross-entropy from logits and accuracy; initialized from seed 99, so every copy starts equal. */
sp_model *sp_test_dropout_classifier(void);
/* A float32 matrix rows x columns (a vector of rows when columns is 0) whose row r holds
 * value(first_row + r, c): consecutive calls give consecutive rows of one data set. */
sp_tensor *sp_test_matrix(int64_t rows, int64_t columns, int64_t first_row, float (*value)(int64_t row, int64_t column));
/* 1 when every variable of a and b (same architecture) holds the same bytes. */
int sp_test_same_weights(sp_model *a, sp_model *b);

#endif
