/* plan.h — flattening a model graph into an execution plan (see model.h for the idea). */
#ifndef SP_NN_PLAN_H
#define SP_NN_PLAN_H

#include "nn/model.h"

sp_status sp_plan_create(const sp_model *model, sp_plan **plan) SP_MUST_CHECK;
void sp_plan_free(sp_plan *plan);

#endif
