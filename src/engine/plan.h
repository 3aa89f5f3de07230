/* plan.h: which migrations a command will run, from the files and the
 * tracking table. */
#ifndef MS_PLAN_H
#define MS_PLAN_H

#include "ms.h"
#include "source.h"
#include "tracker.h"

typedef struct ms_plan {
  ms_migration **v;   /* in the order they will run */
  size_t n;
} ms_plan;

/* Pending migrations in version order (only those <= --to when given).
 * A pending version lower than the highest applied one is refused with
 * MS_EUSAGE unless --allow-out-of-order. */
ms_status ms_plan_up(ms_ctx *c, const ms_applied *a, ms_plan *out) MS_MUST_CHECK;

/* Applied migrations to revert, newest application first: `steps` of them,
 * or (steps <= 0) every one above --to. A version whose file is missing is
 * refused with MS_EUSAGE. */
ms_status ms_plan_down(ms_ctx *c, const ms_applied *a, long steps, ms_plan *out) MS_MUST_CHECK;

void ms_plan_free(ms_plan *p);

#endif
