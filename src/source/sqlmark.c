/* sqlmark.c: one line of a SQL migration, read as each tool reads it (see
 * sqlmark.h). Each tool's rule follows its own source: dbmate's marker
 * regex (pkg/dbmate/migration.go), goose's extractAnnotation
 * (internal/sqlparser/parser.go), node-pg-migrate's section regex
 * (src/sqlMigration.ts) and tern's split string and disable-tx regex
 * (migrate/migrate.go). Any line that a tool would read differently from
 * how it reads at a glance is refused rather than guessed. C library only. */
#include "sqlmark.h"

#include <stdio.h>
#include <string.h>

static int is_blank(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

static char lower(char ch) { return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch; }

/* Whether p[0..e - p) starts with word (lower case), ignoring ASCII case. */
static int iprefix(const char *p, const char *e, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(e - p) < n) return 0;
  for (size_t i = 0; i < n; i++)
    if (lower(p[i]) != word[i]) return 0;
  return 1;
}

/* The first place in [p, e) where word starts, or NULL; with icase, ASCII
 * case is ignored (word in lower case). */
static const char *find(const char *p, const char *e, const char *word, int icase) {
  size_t n = strlen(word);
  for (; (size_t)(e - p) >= n; p++) {
    if (icase ? iprefix(p, e, word) : memcmp(p, word, n) == 0) return p;
  }
  return NULL;
}

static const char *trim_end(const char *s, const char *e) {
  while (e > s && is_blank(e[-1])) e--;
  return e;
}

static int bad(ms_mark *out, const char *fmt, const char *s, const char *e) {
  int n = (int)(e - s > 60 ? 60 : e - s);
  out->kind = MS_MARK_BAD;
  snprintf(out->why, sizeof out->why, fmt, n, s);
  return 1;
}

static int found(ms_mark *out, ms_mark_kind kind, ms_format f) {
  out->kind = kind;
  out->format = f;
  return 1;
}

/* goose: a line whose trimmed text starts with "--" and which holds
 * "+goose" is an annotation; it may not be indented; every "--" is dropped,
 * then the first "+goose", and what is left, trimmed, must be one of seven
 * words in any case. Lines holding "+goose" in another case are comments
 * to goose, so refused: their author meant an annotation. */
static int goose(const char *s, const char *t, const char *e, ms_mark *out) {
  static const struct { const char *word; ms_mark_kind kind; } words[] = {
    { "up", MS_MARK_UP }, { "down", MS_MARK_DOWN },
    { "statementbegin", MS_MARK_BLOCK_BEGIN }, { "statementend", MS_MARK_BLOCK_END },
    { "no transaction", MS_MARK_NOTX }, { "envsub on", MS_MARK_ENVSUB_ON },
    { "envsub off", MS_MARK_ENVSUB_OFF },
  };
  char cmd[64];
  size_t n = 0;
  e = trim_end(s, e);
  if (!find(t, e, "+goose", 1)) return 0;
  if (!find(t, e, "+goose", 0))
    return bad(out, "'%.*s' is not a goose annotation as goose reads it: goose looks for "
               "'+goose' in lower case and would run this line as a comment", s, e);
  if (t > s)
    return bad(out, "'%.*s' is an indented goose annotation: goose refuses leading "
               "whitespace before '--'", t, e);
  /* drop every "--", then the first "+goose"; keep at most what a known
   * annotation could be */
  const char *g = NULL;
  char line[96];
  size_t k = 0;
  for (const char *p = s; p < e && k < sizeof line; ) {
    if (e - p >= 2 && p[0] == '-' && p[1] == '-') { p += 2; continue; }
    line[k++] = *p++;
  }
  for (size_t i = 0; i + 6 <= k && !g; i++)
    if (memcmp(line + i, "+goose", 6) == 0) g = line + i;
  if (!g) return bad(out, "'%.*s' is not a goose annotation goose can read", s, e);
  size_t at = (size_t)(g - line);
  for (size_t i = at + 6; i + 6 <= k; i++)
    if (memcmp(line + i, "+goose", 6) == 0)
      return bad(out, "'%.*s' holds '+goose' twice, which goose refuses", s, e);
  for (size_t i = 0; i < k; i++)
    if ((i < at || i >= at + 6) && n < sizeof cmd) cmd[n++] = line[i];
  size_t b = 0;
  while (b < n && is_blank(cmd[b])) b++;
  while (n > b && is_blank(cmd[n - 1])) n--;
  if (n == b) return bad(out, "'%.*s' is an empty goose annotation, which goose refuses", s, e);
  for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
    size_t len = strlen(words[w].word);
    if (n - b == len && iprefix(cmd + b, cmd + n, words[w].word))
      return found(out, words[w].kind, MS_FORMAT_GOOSE);
  }
  out->kind = MS_MARK_BAD;
  snprintf(out->why, sizeof out->why, "unknown goose annotation '+goose %.*s' (goose knows Up, "
           "Down, StatementBegin, StatementEnd, NO TRANSACTION, ENVSUB ON and ENVSUB OFF)",
           (int)(n - b > 40 ? 40 : n - b), cmd + b);
  return 1;
}

/* dbmate: ^--\s*migrate:(up|down)(\s*$|\s+options). Any other comment that
 * reads "migrate" then ':' (indented, another case, a third dash, a typo)
 * is refused: it would otherwise join the section above. */
static int dbmate(const char *s, const char *t, const char *e, ms_mark *out) {
  const char *p = t;
  while (p < e && *p == '-') p++;
  size_t dashes = (size_t)(p - t);
  while (p < e && is_blank(*p)) p++;
  if (!iprefix(p, e, "migrate")) return 0;
  const char *q = p + 7;
  while (q < e && is_blank(*q)) q++;
  if (q >= e || *q != ':') return 0;
  if (t == s && dashes == 2 && q == p + 7 && memcmp(p, "migrate", 7) == 0) {
    const char *w = q + 1;
    ms_mark_kind k = MS_MARK_NONE;
    if (e - w >= 2 && memcmp(w, "up", 2) == 0) { k = MS_MARK_UP; w += 2; }
    else if (e - w >= 4 && memcmp(w, "down", 4) == 0) { k = MS_MARK_DOWN; w += 4; }
    if (k != MS_MARK_NONE && (w == e || is_blank(*w))) {
      out->opts = w;
      return found(out, k, MS_FORMAT_DBMATE);
    }
  }
  return bad(out, "'%.*s' is not a marker (-- migrate:up or -- migrate:down, at the start of "
             "the line and in lower case, then options)", t, trim_end(t, e));
}

/* node-pg-migrate: ^\s*--[\s-]*(up|down)\s+migration, any case, whatever
 * follows. Spellings it would not match ("-- up-migration", "--
 * UpMigration") are refused. */
static int npm(const char *t, const char *e, ms_mark *out) {
  const char *p = t + 2;
  while (p < e && (is_blank(*p) || *p == '-')) p++;
  int up = iprefix(p, e, "up"), down = !up && iprefix(p, e, "down");
  if (!up && !down) return 0;
  const char *w = p + (up ? 2 : 4), *q = w, *r = w;
  while (q < e && is_blank(*q)) q++;
  while (r < e && (is_blank(*r) || *r == '_' || *r == '-')) r++;
  if (!iprefix(r, e, "migration")) return 0;
  if (q > w && q == r) return found(out, up ? MS_MARK_UP : MS_MARK_DOWN, MS_FORMAT_NPM);
  return bad(out, "'%.*s' is not node-pg-migrate's marker (-- Up Migration or -- Down "
             "Migration), which would take it for a comment", t, trim_end(t, e));
}

/* tern: the file splits at "---- create above / drop below ----" (read
 * here only on a line of its own), and "---- tern: disable-tx ----" must be
 * the whole line. */
static int tern(const char *s, const char *t, const char *e, ms_mark *out) {
  static const char split[] = "---- create above / drop below ----";
  static const char notx[] = "---- tern: disable-tx ----";
  const char *end = trim_end(s, e);
  if (find(t, e, "create above", 1) && find(t, e, "drop below", 1)) {
    if (t == s && (size_t)(end - s) == sizeof split - 1 && memcmp(s, split, sizeof split - 1) == 0)
      return found(out, MS_MARK_SPLIT, MS_FORMAT_TERN);
    return bad(out, "'%.*s' is not tern's marker: tern splits a file at a line that is exactly "
               "'---- create above / drop below ----'", t, end);
  }
  const char *p = t;
  while (p < e && (*p == '-' || is_blank(*p))) p++;
  if (!iprefix(p, e, "tern")) return 0;
  p += 4;
  while (p < e && is_blank(*p)) p++;
  if (p >= e || *p != ':') return 0;
  const char *cr = e > s && e[-1] == '\r' ? e - 1 : e;
  if (t == s && (size_t)(cr - s) == sizeof notx - 1 && memcmp(s, notx, sizeof notx - 1) == 0)
    return found(out, MS_MARK_NOTX, MS_FORMAT_TERN);
  return bad(out, "'%.*s' is not tern's disable-tx marker: tern reads only a line that is "
             "exactly '---- tern: disable-tx ----'", t, end);
}

/* Annotations of tools whose files moonshift does not run: refused, since
 * each changes how its tool runs the file. */
static int foreign(const char *t, const char *e, ms_mark *out) {
  static const char *const graphile[] = {
    "previous:", "hash:", "message:", "allowinvalidhash", "no-transaction", "split", "include", NULL
  };
  const char *p = t + 2, *end = trim_end(t, e);
  if (p < e && *p == '!') {
    const char *q = p + 1;
    while (q < e && is_blank(*q)) q++;
    for (int i = 0; graphile[i]; i++)
      if (iprefix(q, e, graphile[i]))
        return bad(out, "'%.*s' is a graphile-migrate header, which moonshift does not read", t, end);
    return 0;
  }
  while (p < e && is_blank(*p)) p++;
  if (iprefix(p, e, "liquibase formatted sql"))
    return bad(out, "'%.*s': Liquibase formatted SQL (changesets) is not supported yet", t, end);
  if (iprefix(p, e, "changeset") && p + 9 < e && is_blank(p[9])) {
    const char *q = p + 9;
    while (q < e && is_blank(*q)) q++;
    while (q < e && !is_blank(*q) && *q != ':') q++;
    if (q < e && *q == ':')
      return bad(out, "'%.*s' is a Liquibase changeset, which moonshift does not read", t, end);
  }
  if (iprefix(p, e, "atlas:"))
    return bad(out, "'%.*s' is an Atlas directive, which moonshift does not read", t, end);
  if (p == t + 2 && iprefix(p, e, "bun:"))
    return bad(out, "'%.*s' is a bun directive, which moonshift does not read", t, end);
  return 0;
}

void ms_mark_read(const char *s, const char *e, ms_mark *out) {
  const char *t = s;
  out->kind = MS_MARK_NONE;
  while (t < e && is_blank(*t)) t++;
  if (e - t < 2 || t[0] != '-' || t[1] != '-') return;
  out->format = MS_FORMAT_PLAIN;
  out->opts = NULL;
  if (goose(s, t, e, out) || dbmate(s, t, e, out) || npm(t, e, out) || tern(s, t, e, out))
    return;
  foreign(t, e, out);
}

const char *ms_format_name(ms_format f) {
  switch (f) {
  case MS_FORMAT_DBMATE: return "dbmate";
  case MS_FORMAT_GOOSE: return "goose";
  case MS_FORMAT_NPM: return "node-pg-migrate";
  case MS_FORMAT_TERN: return "tern";
  default: return "plain";
  }
}

const char *ms_mark_spelling(ms_format f, ms_mark_kind k) {
  switch (f) {
  case MS_FORMAT_DBMATE:
    return k == MS_MARK_DOWN ? "-- migrate:down" : "-- migrate:up";
  case MS_FORMAT_NPM:
    return k == MS_MARK_DOWN ? "-- Down Migration" : "-- Up Migration";
  case MS_FORMAT_TERN:
    return k == MS_MARK_NOTX ? "---- tern: disable-tx ----" : "---- create above / drop below ----";
  default:
    switch (k) {
    case MS_MARK_DOWN: return "-- +goose Down";
    case MS_MARK_NOTX: return "-- +goose NO TRANSACTION";
    case MS_MARK_ENVSUB_ON: return "-- +goose ENVSUB ON";
    case MS_MARK_ENVSUB_OFF: return "-- +goose ENVSUB OFF";
    case MS_MARK_BLOCK_BEGIN: return "-- +goose StatementBegin";
    case MS_MARK_BLOCK_END: return "-- +goose StatementEnd";
    default: return "-- +goose Up";
    }
  }
}
