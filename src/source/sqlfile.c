/* sqlfile.c: cuts a SQL migration into its up and down sections by the
 * markers of the tool that wrote it (see sqlfile.h), reading each line
 * with sqlmark.c, dbmate's key:value options here, and gives a section's
 * text with goose ENVSUB applied (envsub.c). Line-based, like the tools
 * whose files it accepts; the statements themselves are left to the
 * splitter. C library only. */
#include "sqlfile.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f'; }

int ms_sqlfile_duration_ok(const char *s, size_t n) {
  static const char *const units[] = { "", "us", "ms", "s", "min", "h", "d", NULL };
  size_t i = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  if (i == 0 || i > 12) return 0;
  for (int u = 0; units[u]; u++)
    if (n - i == strlen(units[u]) && memcmp(s + i, units[u], n - i) == 0) return 1;
  return 0;
}

/* The parse of one file: the caller's arguments and what the lines so far
 * have shown. */
typedef struct parse {
  const char *path, *text;
  size_t len, start;     /* start: past a byte order mark */
  int as_down;
  ms_sqlfile *out;
  ms_buf *err;
  ms_section *cur;       /* the section whose lines are being read, or NULL */
  int line;
  int first_code_line;   /* the first line of SQL outside every section */
  int fmt_line;          /* the line that decided out->format */
  ms_mark_kind fmt_kind; /*   and its marker */
  int block_line;        /* the open StatementBegin, 0: none */
  int envsub_on;         /* goose ENVSUB is on */
  int notx_line;         /* goose NO TRANSACTION */
  int tern_up_notx;      /* tern disable-tx above the split */
} parse;

static int fail(parse *ps, int line, const char *fmt, ...) MS_PRINTF(3, 4);
static int fail(parse *ps, int line, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ms_buf_printf(ps->err, "%s:%d: %s", ps->path, line, msg);
  return -1;
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

/* dbmate's options after a marker, up to e. */
static int parse_options(parse *ps, const char *p, const char *e, ms_section *sec) {
  while (p < e) {
    while (p < e && is_space(*p)) p++;
    const char *w = p;
    while (p < e && !is_space(*p)) p++;
    size_t n = (size_t)(p - w);
    if (n == 0) break;
    int lt = duration_option(w, n, "lock_timeout:", sec->lock_timeout, sizeof sec->lock_timeout);
    int stt = lt ? 0 : duration_option(w, n, "statement_timeout:", sec->statement_timeout,
                                       sizeof sec->statement_timeout);
    if (lt < 0 || stt < 0)
      return fail(ps, ps->line, "bad duration in marker option '%.*s' (e.g. lock_timeout:2s, "
                  "statement_timeout:10min)", (int)n, w);
    if (lt || stt) continue;
    if (n == 17 && memcmp(w, "transaction:false", n) == 0) sec->transaction = 0;
    else if (n == 16 && memcmp(w, "transaction:true", n) == 0) sec->transaction = 1;
    else if (n == 15 && memcmp(w, "out_of_order:ok", n) == 0) sec->out_of_order = 1;
    else
      return fail(ps, ps->line, "unknown marker option '%.*s' (known: transaction:false, "
                  "lock_timeout:DURATION, statement_timeout:DURATION, out_of_order:ok)", (int)n, w);
  }
  return 0;
}

/* 1 when [s, e) is blank or a -- comment. */
static int ignorable(const char *s, const char *e) {
  while (s < e && is_space(*s)) s++;
  return s == e || (e - s >= 2 && s[0] == '-' && s[1] == '-');
}

static void close_section(parse *ps, size_t at) {
  if (ps->cur) ps->cur->len = at - ps->cur->off;
  ps->cur = NULL;
}

/* Starts sec after the marker line [s, next). */
static void open_section(parse *ps, ms_section *sec, const char *s, size_t next) {
  close_section(ps, (size_t)(s - ps->text));
  sec->present = 1;
  sec->transaction = 1;
  sec->marker_line = ps->line;
  sec->off = next;
  sec->line = ps->line + 1;
  sec->empty = 1;
  sec->envsub = sec->envsub_start = ps->envsub_on;
  ps->cur = sec;
}

/* tern's up part: the file's start up to the split line at s. */
static void tern_up(parse *ps, const char *s) {
  ms_section *up = &ps->out->up;
  up->present = 1;
  up->transaction = !ps->tern_up_notx;
  up->off = ps->start;
  up->len = (size_t)(s - ps->text) - ps->start;
  up->line = 1;
  up->empty = ps->first_code_line == 0;
}

/* A marker that starts a section (or tern's split), at the line [s, e). */
static int section_marker(parse *ps, const ms_mark *mk, const char *s, const char *e, size_t next) {
  ms_sqlfile *out = ps->out;
  ms_format f = mk->format;
  ms_section *sec = mk->kind == MS_MARK_UP ? &out->up : &out->down;
  const char *what = ms_mark_spelling(f, mk->kind);
  if (ps->block_line)
    return fail(ps, ps->line, "%s inside the -- +goose StatementBegin block of line %d", what,
                ps->block_line);
  if (sec->present)
    return fail(ps, ps->line, "a second %s marker (the first is on line %d)", what, sec->marker_line);
  if (f == MS_FORMAT_DBMATE && mk->kind == MS_MARK_UP && out->down.present)
    return fail(ps, ps->line, "-- migrate:up must come before -- migrate:down (line %d)",
                out->down.marker_line);
  if (f == MS_FORMAT_GOOSE && mk->kind == MS_MARK_DOWN && !out->up.present)
    return fail(ps, ps->line, "-- +goose Down before -- +goose Up (goose needs Up first)");
  if (f == MS_FORMAT_TERN) {
    tern_up(ps, s);
  } else if (!ps->cur && ps->first_code_line) {
    return fail(ps, ps->first_code_line, "SQL before the first %s marker", what);
  }
  open_section(ps, sec, s, next);
  return f == MS_FORMAT_DBMATE ? parse_options(ps, mk->opts, e, sec) : 0;
}

/* A marker of the annotation kinds that need no section of their own. */
static int annotation(parse *ps, const ms_mark *mk) {
  switch (mk->kind) {
  case MS_MARK_NOTX:
    if (mk->format == MS_FORMAT_GOOSE) ps->notx_line = ps->line;
    else if (ps->out->down.present) ps->out->down.transaction = 0;
    else ps->tern_up_notx = 1;
    return 0;
  case MS_MARK_ENVSUB_ON:
  case MS_MARK_ENVSUB_OFF:
    ps->envsub_on = mk->kind == MS_MARK_ENVSUB_ON;
    if (ps->cur && ps->envsub_on) ps->cur->envsub = 1;
    return 0;
  case MS_MARK_BLOCK_BEGIN:
    if (ps->block_line)
      return fail(ps, ps->line, "-- +goose StatementBegin inside the block opened on line %d "
                  "(blocks do not nest)", ps->block_line);
    ps->block_line = ps->line;
    return 0;
  default:
    if (!ps->block_line)
      return fail(ps, ps->line, "-- +goose StatementEnd without -- +goose StatementBegin");
    ps->block_line = 0;
    return 0;
  }
}

/* One line [s, e) of the file, the next starting at next. */
static int read_line(parse *ps, const char *s, const char *e, size_t next) {
  ms_mark mk;
  ms_mark_read(s, e, &mk);
  if (mk.kind == MS_MARK_NONE) {
    if (ignorable(s, e)) return 0;
    if (!ps->cur) {
      if (!ps->first_code_line) ps->first_code_line = ps->line;
      return 0;
    }
    ps->cur->empty = 0;
    if (ps->envsub_on && memchr(s, '$', (size_t)(e - s))) {
      ms_buf why = {0};
      size_t n = (size_t)(e - s);
      if (n && s[n - 1] == '\r') n--;
      int rc = ms_envsub_line(s, n, NULL, NULL, NULL, &why);
      if (rc != 0) fail(ps, ps->line, "%s", why.data ? why.data : "bad ENVSUB text");
      ms_buf_free(&why);
      return rc;
    }
    return 0;
  }
  if (mk.kind == MS_MARK_BAD) return fail(ps, ps->line, "%s", mk.why);
  if (mk.kind != MS_MARK_BLOCK_BEGIN && mk.kind != MS_MARK_BLOCK_END) {
    ms_sqlfile *out = ps->out;
    if (out->format == MS_FORMAT_PLAIN) {
      out->format = mk.format;
      ps->fmt_line = ps->line;
      ps->fmt_kind = mk.kind;
    } else if (out->format != mk.format) {
      return fail(ps, ps->line, "%s is a %s marker, but line %d (%s) made this a %s file; a "
                  "file holds the markers of one tool", ms_mark_spelling(mk.format, mk.kind),
                  ms_format_name(mk.format), ps->fmt_line,
                  ms_mark_spelling(out->format, ps->fmt_kind), ms_format_name(out->format));
    }
  }
  if (mk.kind == MS_MARK_UP || mk.kind == MS_MARK_DOWN || mk.kind == MS_MARK_SPLIT)
    return section_marker(ps, &mk, s, e, next);
  return annotation(ps, &mk);
}

/* The line of offset off. */
static int line_of(const char *text, size_t off) {
  int line = 1;
  for (size_t i = 0; i < off; i++) line += text[i] == '\n';
  return line;
}

/* What the lines add up to, once all are read. */
static int finish(parse *ps) {
  ms_sqlfile *out = ps->out;
  ms_format f = out->format;
  if (ps->block_line)
    return fail(ps, ps->block_line, "-- +goose StatementBegin has no -- +goose StatementEnd");
  close_section(ps, ps->len);
  if (!out->up.present && !out->down.present) {
    if (f == MS_FORMAT_GOOSE)
      return fail(ps, ps->fmt_line, "%s without -- +goose Up (goose refuses such a file too)",
                  ms_mark_spelling(f, ps->fmt_kind));
    ms_section *sec = ps->as_down ? &out->down : &out->up;
    sec->present = 1;
    sec->transaction = !ps->tern_up_notx;
    sec->off = ps->start;
    sec->len = ps->len - ps->start;
    sec->line = 1;
    sec->empty = ps->first_code_line == 0;
  }
  if (f == MS_FORMAT_GOOSE && !out->down.present) {
    /* goose rolls a file without Down back as a no-op */
    out->down.present = out->down.empty = out->down.transaction = 1;
    out->down.off = ps->len;
    out->down.line = ps->line;
  }
  if (f == MS_FORMAT_GOOSE && ps->notx_line) out->up.transaction = out->down.transaction = 0;
  if (f == MS_FORMAT_TERN) {
    const char *t = memchr(ps->text, '{', ps->len);
    for (; t; t = memchr(t + 1, '{', ps->len - (size_t)(t + 1 - ps->text)))
      if (t + 1 < ps->text + ps->len && t[1] == '{')
        return fail(ps, line_of(ps->text, (size_t)(t - ps->text)), "tern templates are not "
                    "supported: '{{ ... }}' would be sent to the server as SQL; expand it first");
  }
  if (ps->as_down && (f == MS_FORMAT_GOOSE || f == MS_FORMAT_TERN))
    return fail(ps, ps->fmt_line, "a .down.sql file holds plain SQL or -- migrate:down, not %s "
                "markers", ms_format_name(f));
  if (ps->as_down && out->up.present)
    return fail(ps, out->up.marker_line, "a .down.sql file cannot hold %s",
                ms_mark_spelling(f, MS_MARK_UP));
  if (!ps->as_down && !out->up.present) {
    if (f == MS_FORMAT_NPM)
      return fail(ps, out->down.marker_line, "-- Down Migration without -- Up Migration "
                  "(node-pg-migrate would run the whole file, down part included, as up)");
    return fail(ps, out->down.marker_line, "-- migrate:down without -- migrate:up");
  }
  return 0;
}

int ms_sqlfile_parse(const char *path, const char *text, size_t len, int as_down,
                     ms_sqlfile *out, ms_buf *err) {
  return ms_sqlfile_parse_with(path, text, len, as_down, out, err, NULL, NULL);
}

#define PROGRESS_STEP ((size_t)1 << 20)

int ms_sqlfile_parse_with(const char *path, const char *text, size_t len, int as_down,
                          ms_sqlfile *out, ms_buf *err, void (*progress)(void *, size_t), void *ud) {
  parse ps;
  size_t reported = 0;
  memset(out, 0, sizeof *out);
  memset(&ps, 0, sizeof ps);
  ps.path = path;
  ps.text = text;
  ps.len = len;
  ps.start = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
  ps.as_down = as_down;
  ps.out = out;
  ps.err = err;
  ps.line = 1;
  for (size_t i = ps.start; i < len; ps.line++) {
    const char *s = text + i, *nl = memchr(s, '\n', len - i);
    const char *e = nl ? nl : text + len;
    size_t next = nl ? (size_t)(nl - text) + 1 : len;
    if (read_line(&ps, s, e, next) != 0) return -1;
    i = next;
    if (progress && i - reported >= PROGRESS_STEP) {
      progress(ud, i);
      reported = i;
    }
  }
  return finish(&ps);
}

int ms_sqlfile_text(const char *path, const char *text, const ms_section *sec,
                    ms_envsub_lookup lookup, void *ud, ms_buf *out, ms_buf *err) {
  const char *p = text + sec->off, *end = p + sec->len;
  int on = sec->envsub_start, line = sec->line, rc = 0;
  if (!sec->envsub) ms_buf_add(out, p, sec->len);
  while (sec->envsub && p < end && rc == 0) {
    const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
    const char *le = e > p && e[-1] == '\r' ? e - 1 : e;
    ms_mark mk;
    ms_mark_read(p, e, &mk);
    if (mk.kind == MS_MARK_ENVSUB_ON || mk.kind == MS_MARK_ENVSUB_OFF)
      on = mk.kind == MS_MARK_ENVSUB_ON;
    if (on && mk.kind == MS_MARK_NONE && !ignorable(p, e) && memchr(p, '$', (size_t)(le - p))) {
      ms_buf why = {0};
      rc = ms_envsub_line(p, (size_t)(le - p), lookup ? lookup : ms_envsub_getenv, ud, out, &why);
      if (rc != 0) ms_buf_printf(err, "%s:%d: %s", path, line, why.data ? why.data : "ENVSUB failed");
      ms_buf_free(&why);
    } else {
      ms_buf_add(out, p, (size_t)(le - p));
    }
    ms_buf_add(out, le, (size_t)((nl ? nl + 1 : end) - le));
    p = nl ? nl + 1 : end;
    line++;
  }
  if (rc == 0 && out->oom) {
    ms_buf_printf(err, "%s:%d: out of memory", path, sec->line);
    rc = -1;
  }
  return rc;
}
