/* sqlclass.c: the statement classifier (see sqlclass.h): keyword codes,
 * the record of a statement's first words, and the rules that read a
 * class from them. The splitter (sqlsplit.c) fills the record during its
 * own scan, so a statement is never lexed twice. C library only. */
#include "sqlclass.h"

/* Keyword spellings, indexed by code. */
#define KW(s) { s, sizeof s - 1 }
static const struct { const char *s; size_t len; } names[] = {
  KW(""), KW(""), KW(""), KW("abort"), KW("add"), KW("all"), KW("alter"),
  KW("begin"), KW("case"), KW("cluster"), KW("commit"), KW("concurrently"),
  KW("copy"), KW("create"), KW("database"), KW("detach"), KW("discard"),
  KW("drop"), KW("end"), KW("from"), KW("function"), KW("index"), KW("or"),
  KW("prepare"), KW("procedure"), KW("publication"), KW("reindex"),
  KW("replace"), KW("rollback"), KW("schema"), KW("set"), KW("start"),
  KW("stdin"), KW("subscription"), KW("system"), KW("table"),
  KW("tablespace"), KW("to"), KW("transaction"), KW("type"), KW("unique"),
  KW("vacuum"), KW("value"), KW("verbose"), KW("work")
};
#undef KW
_Static_assert(sizeof names / sizeof names[0] == KW_WORK + 1,
               "one spelling per keyword code");

/* Keyword codes by a hash of a word's initial, last letter (both
 * lowercase) and length. No two keywords share a slot: a second
 * initializer for a slot would fail the build (-Woverride-init). */
#define H(first, last, len) (((first) + 26 * (last) + 8 * (len)) & 127)
static const unsigned char slots[128] = {
  [H('a', 't', 5)] = KW_ABORT, [H('a', 'd', 3)] = KW_ADD,
  [H('a', 'l', 3)] = KW_ALL, [H('a', 'r', 5)] = KW_ALTER,
  [H('b', 'n', 5)] = KW_BEGIN, [H('c', 'e', 4)] = KW_CASE,
  [H('c', 'r', 7)] = KW_CLUSTER, [H('c', 't', 6)] = KW_COMMIT,
  [H('c', 'y', 12)] = KW_CONCURRENTLY, [H('c', 'y', 4)] = KW_COPY,
  [H('c', 'e', 6)] = KW_CREATE, [H('d', 'e', 8)] = KW_DATABASE,
  [H('d', 'h', 6)] = KW_DETACH, [H('d', 'd', 7)] = KW_DISCARD,
  [H('d', 'p', 4)] = KW_DROP, [H('e', 'd', 3)] = KW_END,
  [H('f', 'm', 4)] = KW_FROM, [H('f', 'n', 8)] = KW_FUNCTION,
  [H('i', 'x', 5)] = KW_INDEX, [H('o', 'r', 2)] = KW_OR,
  [H('p', 'e', 7)] = KW_PREPARE, [H('p', 'e', 9)] = KW_PROCEDURE,
  [H('p', 'n', 11)] = KW_PUBLICATION, [H('r', 'x', 7)] = KW_REINDEX,
  [H('r', 'e', 7)] = KW_REPLACE, [H('r', 'k', 8)] = KW_ROLLBACK,
  [H('s', 'a', 6)] = KW_SCHEMA, [H('s', 't', 3)] = KW_SET,
  [H('s', 't', 5)] = KW_START, [H('s', 'n', 5)] = KW_STDIN,
  [H('s', 'n', 12)] = KW_SUBSCRIPTION, [H('s', 'm', 6)] = KW_SYSTEM,
  [H('t', 'e', 5)] = KW_TABLE, [H('t', 'e', 10)] = KW_TABLESPACE,
  [H('t', 'o', 2)] = KW_TO, [H('t', 'n', 11)] = KW_TRANSACTION,
  [H('t', 'e', 4)] = KW_TYPE, [H('u', 'e', 6)] = KW_UNIQUE,
  [H('v', 'm', 6)] = KW_VACUUM, [H('v', 'e', 5)] = KW_VALUE,
  [H('v', 'e', 7)] = KW_VERBOSE, [H('w', 'k', 4)] = KW_WORK,
};

int ms_class_keyword(const char *w, size_t len) {
  int c;
  size_t i;
  if (len < 2 || len > 12) return W_OTHER;
  c = slots[H((unsigned char)w[0] | 0x20, (unsigned char)w[len - 1] | 0x20,
              len)];
  if (c == W_OTHER || names[c].len != len) return W_OTHER;
  /* b | 0x20 is a lowercase letter only when b is that letter in
   * either case */
  for (i = 0; i < len; i++)
    if (((unsigned char)w[i] | 0x20) != (unsigned char)names[c].s[i])
      return W_OTHER;
  return c;
}

int ms_class_wanted(int c) {
  switch (c) {
  case KW_START: case KW_PREPARE: case KW_DISCARD: return 2;
  case KW_ROLLBACK: return 3;
  case KW_CREATE: case KW_DROP: case KW_CLUSTER: return 4;
  case KW_REINDEX: case KW_ALTER: case KW_COPY: return MS_CLASS_WORDS;
  default: return 1;
  }
}

static int at(const ms_words *ws, int i, int kw) {
  return i < ws->n && ws->w[i] == kw;
}

/* Whether kw1 (followed by kw2, unless kw2 is W_OTHER) is among the words
 * after the first. */
static int has(const ms_words *ws, int kw1, int kw2) {
  int i;
  for (i = 1; i < ws->n; i++)
    if (ws->w[i] == kw1 && (kw2 == W_OTHER || at(ws, i + 1, kw2))) return 1;
  return 0;
}

ms_class ms_class_of(const ms_words *ws) {
  int k = ws->n > 0 ? ws->w[0] : W_OTHER, i;
  switch (k) {
  case KW_BEGIN: case KW_COMMIT: case KW_END: case KW_ABORT:
    return MS_CLASS_TXN;
  case KW_START: case KW_PREPARE:
    return at(ws, 1, KW_TRANSACTION) ? MS_CLASS_TXN : MS_CLASS_SQL;
  case KW_ROLLBACK:
    i = at(ws, 1, KW_WORK) || at(ws, 1, KW_TRANSACTION) ? 2 : 1;
    return at(ws, i, KW_TO) ? MS_CLASS_SQL : MS_CLASS_TXN;
  case KW_VACUUM:
    return MS_CLASS_NOTX;
  case KW_DISCARD:
    return at(ws, 1, KW_ALL) ? MS_CLASS_NOTX : MS_CLASS_SQL;
  case KW_CREATE: case KW_DROP:
    i = k == KW_CREATE && at(ws, 1, KW_UNIQUE) ? 2 : 1;
    if (at(ws, i, KW_INDEX))
      return at(ws, i + 1, KW_CONCURRENTLY) ? MS_CLASS_NOTX : MS_CLASS_SQL;
    return at(ws, 1, KW_DATABASE) || at(ws, 1, KW_TABLESPACE) ||
           at(ws, 1, KW_SUBSCRIPTION) ? MS_CLASS_NOTX : MS_CLASS_SQL;
  case KW_REINDEX:
    i = at(ws, 1, W_LPAREN) ? 2 : 1;
    return at(ws, i, KW_SCHEMA) || at(ws, i, KW_DATABASE) ||
           at(ws, i, KW_SYSTEM) || has(ws, KW_CONCURRENTLY, W_OTHER)
           ? MS_CLASS_NOTX : MS_CLASS_SQL;
  case KW_ALTER:
    if (at(ws, 1, KW_SYSTEM) ||
        (at(ws, 1, KW_SUBSCRIPTION) && has(ws, KW_PUBLICATION, W_OTHER)) ||
        (at(ws, 1, KW_DATABASE) && has(ws, KW_SET, KW_TABLESPACE)) ||
        (at(ws, 1, KW_TABLE) && has(ws, KW_DETACH, W_OTHER) &&
         has(ws, KW_CONCURRENTLY, W_OTHER)))
      return MS_CLASS_NOTX;
    return at(ws, 1, KW_TYPE) && has(ws, KW_ADD, KW_VALUE)
           ? MS_CLASS_ADDVALUE : MS_CLASS_SQL;
  case KW_CLUSTER:
    i = 1;
    if (at(ws, i, W_LPAREN)) i++;
    if (at(ws, i, KW_VERBOSE)) i++;
    return i >= ws->n || at(ws, i, W_SEMI) ? MS_CLASS_NOTX : MS_CLASS_SQL;
  case KW_COPY:
    return has(ws, KW_FROM, KW_STDIN) ? MS_CLASS_COPY : MS_CLASS_SQL;
  default:
    return MS_CLASS_SQL;
  }
}
