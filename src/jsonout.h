/* jsonout.h: --json: one JSON document per command on stdout (built with
 * jansson), instead of the text lines. Schema in docs/json.md. */
#ifndef MS_JSONOUT_H
#define MS_JSONOUT_H

#include "ms.h"

/* Starts the document for command (when --json is on; no-op otherwise)
 * and silences the text output. */
void ms_json_begin(ms_ctx *c, const char *command);

/* 1 when a document is being built. */
int ms_json_on(const ms_ctx *c);

/* Adds key = value to the document (or to the object last added with
 * ms_json_item). Strings may be NULL (null). */
void ms_json_str(ms_ctx *c, const char *key, const char *v);
void ms_json_int(ms_ctx *c, const char *key, long long v);
void ms_json_bool(ms_ctx *c, const char *key, int v);

/* Appends a new object to the array `list` of the document; later
 * ms_json_str/int/bool calls fill it until ms_json_end_item. */
void ms_json_item(ms_ctx *c, const char *list);
void ms_json_end_item(ms_ctx *c);

/* Ensures the document has an (empty) array `list`. */
void ms_json_list(ms_ctx *c, const char *list);

/* Adds ok, exit_code and error and returns the document as text (caller
 * frees; NULL when none was being built), freeing the document. */
char *ms_json_take(ms_ctx *c, ms_status st);

/* Adds ok, exit_code and error, prints the document, and frees it. */
void ms_json_finish(ms_ctx *c, ms_status st);

#endif
