/* split_fuzz.c: libFuzzer target for the SQL splitter (src/sql/sqlsplit.c).
 * Splits the input and aborts unless the pieces partition it exactly, every
 * range stays inside its piece and line/col agree with textpos.c.
 * Built and run by `make fuzz` (spec/support/fuzz.sh). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sqlsplit.h"
#include "textpos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  ms_split s;
  ms_stmt st;
  size_t next = 0;
  unsigned long line, col;
  char msg[200];
  int r;
  ms_split_init(&s, buf, size);
  while ((r = ms_split_next(&s, &st)) == 1) {
    CHECK(st.piece_off == next);
    CHECK(st.piece_len > 0 && st.piece_len <= size - st.piece_off);
    CHECK(st.off >= st.piece_off);
    CHECK(st.off + st.len <= st.piece_off + st.piece_len);
    if (st.data_len > 0) {
      CHECK(st.cls == MS_CLASS_COPY);
      CHECK(st.data_off >= st.off + st.len);
      CHECK(st.data_off + st.data_len <= st.piece_off + st.piece_len);
    }
    CHECK((st.cls == MS_CLASS_EMPTY) == (st.len == 0));
    if (st.terminated) CHECK(st.len > 0 && buf[st.off + st.len - 1] == ';');
    ms_textpos_line_col(buf, size, st.off, &line, &col);
    CHECK(line == st.line && col == st.col);
    if (st.cls != MS_CLASS_EMPTY && st.cls != MS_CLASS_META_SKIP)
      CHECK(ms_split_classify(buf + st.off, st.len) == st.cls);
    next = st.piece_off + st.piece_len;
  }
  if (r == 0) {
    CHECK(next == size);
    CHECK(ms_split_next(&s, &st) == 0);
  } else {
    CHECK(r == -1 && s.err != NULL && s.err_off <= size);
    ms_textpos_line_col(buf, size, s.err_off, &line, &col);
    CHECK(line == s.err_line);
    CHECK(ms_split_errmsg(&s, msg, sizeof msg) > 0);
    CHECK(ms_split_next(&s, &st) == -1);
  }
  if (size > 0) {
    size_t b = ms_textpos_char_to_byte(buf, size, (unsigned long)data[0]);
    CHECK(b <= size);
  }
  return 0;
}
