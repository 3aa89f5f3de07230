/* sqlfile_fuzz.c: libFuzzer target for the marker and option parser of SQL
 * migrations (ms_sqlfile_parse in src/source/sqlfile.c, every format src/source/sqlmark.c
 * reads) and the ENVSUB text of goose sections (ms_sqlfile_text). Parses
 * the input as a .sql file and as a .down.sql file and aborts unless: an
 * error comes alone, as one "f.sql:LINE: cause" message with a line inside
 * the file; a success comes with no message and sections that lie inside
 * the input without overlapping, each starting on the line it claims right
 * after its marker line (a line naming its tool's marker), or, without a
 * marker line, covering the whole file (BOM left out), tern's up part (the
 * file's start) or goose's missing Down (empty, at the end); an empty
 * section holds only blank and -- lines; options in range. A goose section
 * under ENVSUB gives its text or one "f.sql:LINE: cause" error, with as
 * many lines as the section when no value holds a newline. Built and run by
 * `make fuzz` (spec/support/fuzz.sh). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sqlfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static size_t newlines(const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += s[i] == '\n';
  return k;
}

static int contains(const char *s, size_t n, const char *word, int icase) {
  size_t k = strlen(word);
  for (size_t i = 0; i + k <= n; i++) {
    size_t j = 0;
    while (j < k && (icase ? (s[i + j] | 0x20) == word[j] : s[i + j] == word[j])) j++;
    if (j == k) return 1;
  }
  return 0;
}

/* Start of the last line before off: the line that off is just past, or
 * that holds off - 1. */
static size_t line_before(const char *text, size_t off) {
  size_t i = off - 1;
  while (i > 0 && text[i - 1] != '\n') i--;
  return i;
}

static void check_option(const char *v) {
  size_t n = strnlen(v, 24);
  CHECK(n < 24);
  CHECK(n == 0 || ms_sqlfile_duration_ok(v, n));
}

/* What a marker line of each format must hold. */
static const char *marker_word(ms_format f) {
  switch (f) {
  case MS_FORMAT_DBMATE: return "migrate:";
  case MS_FORMAT_GOOSE: return "+goose";
  case MS_FORMAT_NPM: return "migration";
  default: return "create above / drop below";
  }
}

/* Every line of [p, p + n) is blank or a -- comment. */
static int only_comments(const char *p, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && (p[j] == ' ' || p[j] == '\t' || p[j] == '\r' || p[j] == '\f')) j++;
    if (j < n && p[j] != '\n' && !(j + 1 < n && p[j] == '-' && p[j + 1] == '-')) return 0;
    while (j < n && p[j] != '\n') j++;
    i = j + 1;
  }
  return 1;
}

static void check_section(const char *text, size_t size, size_t bom, const ms_sqlfile *sf,
                          const ms_section *sec) {
  if (!sec->present) return;
  CHECK(sec->off <= size && sec->len <= size - sec->off);
  CHECK(sec->transaction == 0 || sec->transaction == 1);
  CHECK(sec->out_of_order == 0 || sec->out_of_order == 1);
  CHECK(sec->empty == 0 || sec->empty == 1);
  CHECK(!sec->envsub || sf->format == MS_FORMAT_GOOSE);
  CHECK(!sec->envsub_start || sec->envsub);
  check_option(sec->lock_timeout);
  check_option(sec->statement_timeout);
  if (sec->empty) CHECK(only_comments(text + sec->off, sec->len));
  if (sec->marker_line == 0) {
    if (sf->format == MS_FORMAT_GOOSE) {
      /* goose's missing Down: an empty section at the end */
      CHECK(sec == &sf->down && sec->off == size && sec->len == 0 && sec->empty);
    } else if (sf->format == MS_FORMAT_TERN && sf->down.present && sec == &sf->up) {
      size_t split = line_before(text, sf->down.off);
      CHECK(sec->off == bom && sec->line == 1);
      CHECK(sec->off + sec->len == (split < bom ? bom : split));
    } else {
      CHECK(sec->off == bom && sec->len == size - bom && sec->line == 1);
      CHECK(sec->out_of_order == 0);
      CHECK(sec->lock_timeout[0] == '\0' && sec->statement_timeout[0] == '\0');
      CHECK(sec->transaction == 1 || sf->format == MS_FORMAT_TERN);
    }
    return;
  }
  CHECK(sf->format != MS_FORMAT_PLAIN);
  CHECK(sec->line == sec->marker_line + 1);
  CHECK(sec->off > bom);
  if (sec->off < size || text[size - 1] == '\n') {
    /* the marker is a whole line, and the section starts on the next one */
    CHECK(text[sec->off - 1] == '\n');
    CHECK(newlines(text, sec->off) + 1 == (size_t)sec->line);
    size_t m = line_before(text, sec->off);
    if (m < bom) m = bom;
    CHECK(contains(text + m, sec->off - m, "--", 0));
    CHECK(contains(text + m, sec->off - m, marker_word(sf->format), sf->format == MS_FORMAT_NPM));
  } else {
    /* the marker is the last line, with no newline after it */
    CHECK(sec->len == 0 && newlines(text, size) + 1 == (size_t)sec->marker_line);
  }
}

static const char *lookup(void *ud, const char *name, size_t len) {
  (void)ud;
  if (len == 0) return NULL;
  return name[0] == 'A' ? "value" : name[0] == 'B' ? "" : NULL;
}

static void check_text(const char *text, const ms_section *sec) {
  ms_buf out = {0}, err = {0};
  if (!sec->present || !sec->envsub) return;
  if (ms_sqlfile_text("f.sql", text, sec, lookup, NULL, &out, &err) == 0) {
    CHECK(err.len == 0);
    CHECK(newlines(out.data ? out.data : "", out.len) == newlines(text + sec->off, sec->len));
  } else {
    CHECK(err.data != NULL && strncmp(err.data, "f.sql:", 6) == 0);
    CHECK(atoi(err.data + 6) >= sec->line);
  }
  ms_buf_free(&out);
  ms_buf_free(&err);
}

static void check(const char *text, size_t size, int as_down) {
  ms_sqlfile sf;
  ms_buf err = {0};
  size_t bom = size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
  int r = ms_sqlfile_parse("f.sql", text, size, as_down, &sf, &err);
  if (r != 0) {
    CHECK(r == -1);
    CHECK(err.data != NULL && err.len == strlen(err.data));
    CHECK(strncmp(err.data, "f.sql:", 6) == 0);
    char *end;
    unsigned long line = strtoul(err.data + 6, &end, 10);
    CHECK(end != err.data + 6 && *end == ':');
    CHECK(line >= 1 && line <= newlines(text, size) + 1);
    ms_buf_free(&err);
    return;
  }
  CHECK(err.len == 0);
  ms_buf_free(&err);
  CHECK(as_down ? !sf.up.present && sf.down.present : sf.up.present);
  check_section(text, size, bom, &sf, &sf.up);
  check_section(text, size, bom, &sf, &sf.down);
  if (sf.up.present && sf.down.present && sf.up.marker_line && sf.down.marker_line) {
    /* the first section ends where the second's marker line starts */
    const ms_section *a = sf.up.marker_line < sf.down.marker_line ? &sf.up : &sf.down;
    const ms_section *b = a == &sf.up ? &sf.down : &sf.up;
    CHECK(sf.format == MS_FORMAT_NPM || a == &sf.up);
    CHECK(a->off + a->len < b->off);
    CHECK(a->off + a->len == line_before(text, b->off));
  }
  check_text(text, &sf.up);
  check_text(text, &sf.down);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  check(text, size, 0);
  check(text, size, 1);
  return 0;
}
