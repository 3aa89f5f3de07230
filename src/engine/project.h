/* project.h: the migrations folder of a command, and version formatting. */
#ifndef MS_PROJECT_H
#define MS_PROJECT_H

#include <stddef.h>
#include "ms.h"

/* Scans the folder into c->src (MS_EUSAGE on folder problems). */
ms_status ms_project_scan(ms_ctx *c) MS_MUST_CHECK;

/* Formats a version as its file names it (001), or plainly without a file. */
void ms_fmt_version(const ms_ctx *c, int64_t v, char *out, size_t n);

/* Parses a VERSION argument (digits, int64); MS_EUSAGE naming `what`. */
ms_status ms_parse_version_arg(ms_ctx *c, const char *arg, const char *what, int64_t *out) MS_MUST_CHECK;

#endif
