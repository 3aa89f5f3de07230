/* jsondoc.h: the --json document as a reporter: results become its fields,
 * a run's migrations, warnings and Lua output its arrays, and the outcome
 * its ok / exit_code / error object. Built with jansson, written once.
 * Schema in docs/json.md. Used by the CLI and the C API. */
#ifndef MS_JSONDOC_H
#define MS_JSONDOC_H

#include "report.h"

typedef struct ms_jsondoc {
  ms_reporter rep;            /* its callbacks; rep.ud points back here */
  void *root, *item;          /* json_t: the document, the object being filled */
  const ms_reporter *side;    /* gets the events meant for a person (stderr), or NULL */
} ms_jsondoc;

/* Starts the document of `command` (NULL: none was given). */
void ms_jsondoc_init(ms_jsondoc *d, const char *command, const ms_reporter *side);

/* Adds ok, exit_code and error (an object made from c->err and
 * c->sqlstate, or null) and returns the document as text (caller frees;
 * NULL when out of memory). The document is freed. */
char *ms_jsondoc_take(ms_jsondoc *d, const ms_ctx *c, ms_status st);

/* Frees the document without writing it. */
void ms_jsondoc_free(ms_jsondoc *d);

#endif
