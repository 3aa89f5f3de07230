/* sqlfile.c: finds the "-- migrate:up" / "-- migrate:down" marker lines of a
 * SQL migration and their options (transaction:false). Line-based, like the
 * tools whose files it accepts; the statements themselves are left to the
 * splitter. */
#include "sqlfile.h"

#include <string.h>

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f'; }

/* Recognises a marker line [s, e): returns 1 (up), 2 (down) or 0, and the
 * options' start in *opts. */
static int marker(const char *s, const char *e, const char **opts) {
  if (e - s < 2 || s[0] != '-' || s[1] != '-') return 0;
  const char *p = s + 2;
  while (p < e && is_space(*p)) p++;
  if ((size_t)(e - p) < 10 || memcmp(p, "migrate:", 8) != 0) return 0;
  p += 8;
  int kind;
  if ((size_t)(e - p) >= 2 && memcmp(p, "up", 2) == 0) { kind = 1; p += 2; }
  else if ((size_t)(e - p) >= 4 && memcmp(p, "down", 4) == 0) { kind = 2; p += 4; }
  else return 0;
  if (p < e && !is_space(*p)) return 0;
  *opts = p;
  return kind;
}

int ms_sqlfile_duration_ok(const char *s, size_t n) {
  static const char *const units[] = { "", "us", "ms", "s", "min", "h", "d", NULL };
  size_t i = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  if (i == 0 || i > 12) return 0;
  for (int u = 0; units[u]; u++)
    if (n - i == strlen(units[u]) && memcmp(s + i, units[u], n - i) == 0) return 1;
  return 0;
}

/* A comment line starting "-- migrate:" that marker() rejected: a typo such
 * as "-- migrate:dwon" would otherwise silently join the section above. */
static int looks_like_marker(const char *s, const char *e) {
  if (e - s < 2 || s[0] != '-' || s[1] != '-') return 0;
  const char *p = s + 2;
  while (p < e && is_space(*p)) p++;
  return (size_t)(e - p) >= 8 && memcmp(p, "migrate:", 8) == 0;
}

/* key:value with a duration value, copied into out. */
static int duration_option(const char *w, size_t n, const char *key, char *out, size_t cap) {
  size_t k = strlen(key);
  if (n <= k || memcmp(w, key, k) != 0) return 0;
  if (!ms_sqlfile_duration_ok(w + k, n - k) || n - k >= cap) return -1;
  memcpy(out, w + k, n - k);
  out[n - k] = '\0';
  return 1;
}

static int parse_options(const char *path, int line, const char *p, const char *e,
                         ms_section *sec, ms_buf *err) {
  while (p < e) {
    while (p < e && is_space(*p)) p++;
    const char *w = p;
    while (p < e && !is_space(*p)) p++;
    size_t n = (size_t)(p - w);
    if (n == 0) break;
    int lt = duration_option(w, n, "lock_timeout:", sec->lock_timeout, sizeof sec->lock_timeout);
    int stt = lt ? 0 : duration_option(w, n, "statement_timeout:", sec->statement_timeout,
                                       sizeof sec->statement_timeout);
    if (lt < 0 || stt < 0) {
      ms_buf_printf(err, "%s:%d: bad duration in marker option '%.*s' (e.g. lock_timeout:2s, "
                    "statement_timeout:10min)", path, line, (int)n, w);
      return -1;
    }
    if (lt || stt) continue;
    if (n == 17 && memcmp(w, "transaction:false", n) == 0) sec->transaction = 0;
    else if (n == 16 && memcmp(w, "transaction:true", n) == 0) sec->transaction = 1;
    else if (n == 15 && memcmp(w, "out_of_order:ok", n) == 0) sec->out_of_order = 1;
    else {
      ms_buf_printf(err, "%s:%d: unknown marker option '%.*s' (known: transaction:false, "
                    "lock_timeout:DURATION, statement_timeout:DURATION, out_of_order:ok)",
                    path, line, (int)n, w);
      return -1;
    }
  }
  return 0;
}

/* 1 when [s, e) is blank or a -- comment. */
static int ignorable(const char *s, const char *e) {
  while (s < e && is_space(*s)) s++;
  return s == e || (e - s >= 2 && s[0] == '-' && s[1] == '-');
}

int ms_sqlfile_parse(const char *path, const char *text, size_t len, int as_down,
                     ms_sqlfile *out, ms_buf *err) {
  return ms_sqlfile_parse_with(path, text, len, as_down, out, err, NULL, NULL);
}

#define PROGRESS_STEP ((size_t)1 << 20)

int ms_sqlfile_parse_with(const char *path, const char *text, size_t len, int as_down,
                          ms_sqlfile *out, ms_buf *err, void (*progress)(void *, size_t), void *ud) {
  size_t start = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0, reported = 0;
  ms_section *cur = NULL;
  int line = 1, first_code_line = 0;
  memset(out, 0, sizeof *out);
  for (size_t i = start; i < len; line++) {
    const char *s = text + i, *nl = memchr(s, '\n', len - i);
    const char *e = nl ? nl : text + len;
    size_t next = nl ? (size_t)(nl - text) + 1 : len;
    const char *opts = NULL;
    int kind = marker(s, e, &opts);
    if (!kind && looks_like_marker(s, e)) {
      ms_buf_printf(err, "%s:%d: '%.*s' is not a marker (-- migrate:up or -- migrate:down, then "
                    "options)", path, line, (int)(e - s > 60 ? 60 : e - s), s);
      return -1;
    }
    if (kind) {
      ms_section *sec = kind == 1 ? &out->up : &out->down;
      const char *what = kind == 1 ? "up" : "down";
      if (sec->present) {
        ms_buf_printf(err, "%s:%d: a second -- migrate:%s marker (the first is on line %d)",
                      path, line, what, sec->marker_line);
        return -1;
      }
      if (kind == 1 && out->down.present) {
        ms_buf_printf(err, "%s:%d: -- migrate:up must come before -- migrate:down (line %d)",
                      path, line, out->down.marker_line);
        return -1;
      }
      if (!cur && first_code_line) {
        ms_buf_printf(err, "%s:%d: SQL before the first -- migrate:%s marker", path,
                      first_code_line, what);
        return -1;
      }
      if (cur) cur->len = (size_t)(s - text) - cur->off;
      sec->present = 1;
      sec->transaction = 1;
      sec->marker_line = line;
      sec->off = next;
      sec->line = line + 1;
      if (parse_options(path, line, opts, e, sec, err) != 0) return -1;
      cur = sec;
    } else if (!first_code_line && !ignorable(s, e)) {
      first_code_line = line;
    }
    i = next;
    if (progress && i - reported >= PROGRESS_STEP) {
      progress(ud, i);
      reported = i;
    }
  }
  if (cur) {
    cur->len = len - cur->off;
  } else {
    ms_section *sec = as_down ? &out->down : &out->up;
    sec->present = 1;
    sec->transaction = 1;
    sec->off = start;
    sec->len = len - start;
    sec->line = 1;
  }
  if (as_down && out->up.present) {
    ms_buf_printf(err, "%s:%d: a .down.sql file cannot hold -- migrate:up", path, out->up.marker_line);
    return -1;
  }
  if (!as_down && !out->up.present) {
    ms_buf_printf(err, "%s:%d: -- migrate:down without -- migrate:up", path, out->down.marker_line);
    return -1;
  }
  return 0;
}
