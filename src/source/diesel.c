/* diesel.c: diesel's migration folder names and metadata.toml (see
 * diesel.h), read as diesel_migrations reads them: the version from the
 * name (version_from_string), run_in_transaction from a serde-read TOML
 * table whose absent key means false. Only the TOML that such a file holds
 * is read: comments, key = value lines and [table] headers. */
#include "diesel.h"

#include <string.h>

static int name_char_ok(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
}

void ms_diesel_name_parse(const char *dname, ms_diesel_name *out) {
  const char *us = strchr(dname, '_');
  uint64_t v = 0;
  memset(out, 0, sizeof *out);
  if (!us || us == dname) { out->why = "a diesel migration folder is named <version>_<name>"; return; }
  for (const char *p = dname; p < us; p++) {
    if (*p == '-') continue;
    if (*p < '0' || *p > '9') {
      out->why = "a diesel migration folder's version may hold only digits and '-'";
      return;
    }
    unsigned d = (unsigned)(*p - '0');
    if (v > ((uint64_t)INT64_MAX - d) / 10) {
      out->why = "the version does not fit in a 64-bit integer";
      return;
    }
    v = v * 10 + d;
    out->width++;
  }
  if (out->width == 0) { out->why = "a diesel migration folder's version needs digits"; return; }
  out->name_off = (size_t)(us - dname) + 1;
  out->name_len = strlen(us + 1);
  if (out->name_len == 0) { out->why = "a diesel migration folder is named <version>_<name>"; return; }
  for (size_t k = 0; k < out->name_len; k++) {
    if (!name_char_ok((unsigned char)us[1 + k])) {
      out->why = "the name may contain only ASCII letters, digits, '_', '-' and '.'";
      return;
    }
  }
  out->version = (int64_t)v;
  out->ok = 1;
}

static int blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The line [s, e) without leading blanks, and without a trailing comment
 * and blanks when no quote comes before the '#'. */
static const char *trim(const char *s, const char **e) {
  while (s < *e && blank(*s)) s++;
  for (const char *p = s; p < *e && *p != '"' && *p != '\''; p++) {
    if (*p == '#') {
      *e = p;
      break;
    }
  }
  while (*e > s && blank((*e)[-1])) (*e)--;
  return s;
}

/* Whether the trimmed line [s, e) is one moonshift can read. For a
 * top-level run_in_transaction = VALUE, sets *val and *vlen to the value;
 * else *val is NULL. A [table] header clears *top. */
static int readable(const char *s, const char *e, int *top, const char **val, size_t *vlen) {
  *val = NULL;
  if (*s == '[') {
    *top = 0;   /* keys below a table header are not diesel's */
    return e[-1] == ']';
  }
  const char *eq = memchr(s, '=', (size_t)(e - s));
  if (!eq) return 0;
  const char *ke = eq, *v = eq + 1;
  while (ke > s && blank(ke[-1])) ke--;
  while (v < e && blank(*v)) v++;
  size_t klen = (size_t)(ke - s), n = (size_t)(e - v);
  if (klen == 0 || n == 0) return 0;
  int key = (klen == 18 && memcmp(s, "run_in_transaction", 18) == 0) ||
            (klen == 20 && memcmp(s, "\"run_in_transaction\"", 20) == 0);
  if (key && *top) {
    *val = v;
    *vlen = n;
    return 1;
  }
  /* another key: its value must end on its line */
  if (n >= 3 && (memcmp(v, "\"\"\"", 3) == 0 || memcmp(v, "'''", 3) == 0)) return 0;
  if (*v == '[') return e[-1] == ']';
  if (*v == '{') return e[-1] == '}';
  return 1;
}

int ms_diesel_metadata(const char *path, const char *text, size_t len, int *run_in_transaction,
                       ms_buf *err) {
  int line = 1, top = 1, rc = 0;
  *run_in_transaction = 0;
  for (size_t i = 0; i < len && rc == 0; line++) {
    const char *s = text + i, *nl = memchr(s, '\n', len - i), *e = nl ? nl : text + len, *v;
    size_t n = 0;
    i = nl ? (size_t)(nl - text) + 1 : len;
    s = trim(s, &e);
    if (s == e) continue;
    if (!readable(s, e, &top, &v, &n)) {
      ms_buf_printf(err, "%s:%d: moonshift cannot read '%.*s' (it reads comments, key = value "
                    "lines and [table] headers)", path, line, (int)(e - s > 40 ? 40 : e - s), s);
      rc = -1;
    } else if (v && n == 4 && memcmp(v, "true", 4) == 0) {
      *run_in_transaction = 1;
    } else if (v && n == 5 && memcmp(v, "false", 5) == 0) {
      *run_in_transaction = 0;
    } else if (v) {
      ms_buf_printf(err, "%s:%d: run_in_transaction must be true or false (diesel would fall back "
                    "to a transaction on '%.*s')", path, line, (int)(n > 40 ? 40 : n), v);
      rc = -1;
    }
  }
  return rc;
}
