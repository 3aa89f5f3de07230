/* drift.h: applied migrations compared with their files. */
#ifndef MS_DRIFT_H
#define MS_DRIFT_H

#include "ms.h"
#include "buf.h"
#include "tracker.h"

enum { MS_DRIFT_NONE = 0, MS_DRIFT_MODIFIED = 1, MS_DRIFT_MISSING = 2 };

typedef struct ms_drift {
  size_t modified, missing;
  ms_buf list;         /* one "\n  version name: why" line per problem */
} ms_drift;

/* Sets each applied row's drift (a changed checksum: modified; no file:
 * missing) and counts them. Rows of failed attempts are not compared. */
ms_status ms_drift_check(ms_ctx *c, ms_applied *a, ms_drift *out) MS_MUST_CHECK;
void ms_drift_free(ms_drift *d);

#endif
