/* sqlclass.h: the statement classifier behind ms_split_classify, for the
 * splitter's own use: the keywords it knows, a record of a statement's
 * first words that the splitter fills while it scans, and the rules that
 * turn that record into an ms_class. C library only. */
#ifndef MS_SQLCLASS_H
#define MS_SQLCLASS_H

#include <stddef.h>

#include "sqlsplit.h"

/* What a token reads as: a keyword the classifier or the BEGIN ATOMIC
 * heuristic asks about, '(' (a whole paren group), ';', or anything else. */
enum {
  W_OTHER, W_LPAREN, W_SEMI,
  KW_ABORT, KW_ADD, KW_ALL, KW_ALTER, KW_BEGIN, KW_CASE, KW_CLUSTER,
  KW_COMMIT, KW_CONCURRENTLY, KW_COPY, KW_CREATE, KW_DATABASE, KW_DETACH,
  KW_DISCARD, KW_DROP, KW_END, KW_FROM, KW_FUNCTION, KW_INDEX, KW_OR,
  KW_PREPARE, KW_PROCEDURE, KW_PUBLICATION, KW_REINDEX, KW_REPLACE,
  KW_ROLLBACK, KW_SCHEMA, KW_SET, KW_START, KW_STDIN, KW_SUBSCRIPTION,
  KW_SYSTEM, KW_TABLE, KW_TABLESPACE, KW_TO, KW_TRANSACTION, KW_TYPE,
  KW_UNIQUE, KW_VACUUM, KW_VALUE, KW_VERBOSE, KW_WORK
};

enum { MS_CLASS_WORDS = 16 };

/* The first tokens of a statement at paren depth 0, a paren group counting
 * as one W_LPAREN, as far as the classifier needs them: a scanner adds
 * tokens while n < want (ms_class_add); ms_class_start empties it. */
typedef struct ms_words {
  int n, want;
  unsigned char w[MS_CLASS_WORDS];
} ms_words;

/* The keyword code of the identifier w[0..len), matched ignoring ASCII
 * case, or W_OTHER. */
int ms_class_keyword(const char *w, size_t len);

/* How many words the rules read for a statement whose first word reads
 * as c: 1 to MS_CLASS_WORDS. */
int ms_class_wanted(int c);

/* Empties ws for a new statement. */
static inline void ms_class_start(ms_words *ws) {
  ws->n = 0;
  ws->want = 1;
}

/* Appends token code c to ws, whose n must be below want; the first code
 * sets want. */
static inline void ms_class_add(ms_words *ws, int c) {
  if (ws->n == 0) ws->want = ms_class_wanted(c);
  ws->w[ws->n++] = (unsigned char)c;
}

/* The class of a statement whose words ws holds. */
ms_class ms_class_of(const ms_words *ws);

#endif
