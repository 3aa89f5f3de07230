/* sqlfile_fuzz.c: libFuzzer target for the marker and option parser of SQL
 * migrations (ms_sqlfile_parse in src/source/sqlfile.c). Parses the input as a .sql
 * file and as a .down.sql file and aborts unless: an error comes alone, as
 * one "f.sql:LINE: cause" message with a line inside the file; a success
 * comes with no message and sections that lie inside the input, in order
 * (up before down), without overlapping, each starting on the line it claims
 * right after its "-- migrate:" marker line (or covering the whole file, BOM
 * left out, when there is no marker), with options in range. Built and run
 * by `make fuzz` (spec/support/fuzz.sh). */
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

static int contains(const char *s, size_t n, const char *word) {
  size_t k = strlen(word);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(s + i, word, k) == 0) return 1;
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

static void check_section(const char *text, size_t size, size_t bom, const ms_section *sec,
                          const char *marker) {
  if (!sec->present) return;
  CHECK(sec->off <= size && sec->len <= size - sec->off);
  CHECK(sec->transaction == 0 || sec->transaction == 1);
  CHECK(sec->out_of_order == 0 || sec->out_of_order == 1);
  check_option(sec->lock_timeout);
  check_option(sec->statement_timeout);
  if (sec->marker_line == 0) {
    CHECK(sec->off == bom && sec->len == size - bom && sec->line == 1);
    CHECK(sec->transaction == 1 && sec->out_of_order == 0);
    CHECK(sec->lock_timeout[0] == '\0' && sec->statement_timeout[0] == '\0');
    return;
  }
  CHECK(sec->line == sec->marker_line + 1);
  CHECK(sec->off > bom);
  if (sec->off < size || text[size - 1] == '\n') {
    /* the marker is a whole line, and the section starts on the next one */
    CHECK(text[sec->off - 1] == '\n');
    CHECK(newlines(text, sec->off) + 1 == (size_t)sec->line);
    size_t m = line_before(text, sec->off);
    if (m < bom) m = bom;
    CHECK(sec->off - m >= 2 && text[m] == '-' && text[m + 1] == '-');
    CHECK(contains(text + m, sec->off - m, marker));
  } else {
    /* the marker is the last line, with no newline after it */
    CHECK(sec->len == 0 && newlines(text, size) + 1 == (size_t)sec->marker_line);
  }
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
  check_section(text, size, bom, &sf.up, "migrate:up");
  check_section(text, size, bom, &sf.down, "migrate:down");
  if (sf.up.present && sf.down.present) {
    CHECK(sf.up.marker_line > 0 && sf.down.marker_line > sf.up.marker_line);
    /* up ends where the down marker line starts */
    CHECK(sf.up.off + sf.up.len < sf.down.off);
    CHECK(sf.up.off + sf.up.len == line_before(text, sf.down.off));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  check(text, size, 0);
  check(text, size, 1);
  return 0;
}
