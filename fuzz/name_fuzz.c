/* name_fuzz.c: libFuzzer target for the migration file-name parser
 * (ms_name_parse in src/source/source.c). Parses the input (up to its first NUL) as
 * a file name and aborts unless the verdict agrees with the name: a
 * migration's name range lies inside it after "<digits>_", its digits give
 * back the version, and digits + "_" + name + suffix rebuild the whole file
 * name; a bad name carries a reason; an ignored one looks like no migration.
 * Then builds a valid name from the input and checks it parses exactly.
 * Built and run by `make fuzz` (spec/support/fuzz.sh). */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int name_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) ||
         ch == '_' || ch == '-' || ch == '.';
}

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* 1 when the digits s[0..n) stand for a number above INT64_MAX. */
static int too_big(const char *s, size_t n) {
  static const char max[] = "9223372036854775807";
  while (n > 1 && *s == '0') { s++; n--; }
  if (n != sizeof max - 1) return n > sizeof max - 1;
  return memcmp(s, max, n) > 0;
}

/* The version the digits s[0..n) stand for, printed without leading zeros. */
static int same_number(const char *s, size_t n, int64_t v) {
  char buf[32];
  int k = snprintf(buf, sizeof buf, "%" PRId64, v);
  while (n > 1 && *s == '0') { s++; n--; }
  return k > 0 && (size_t)k == n && memcmp(buf, s, n) == 0;
}

static void check_parse(const char *f) {
  size_t n = strlen(f);
  ms_name nm, again;
  ms_name_parse(f, &nm);
  ms_name_parse(f, &again);
  CHECK(memcmp(&nm, &again, sizeof nm) == 0);
  switch (nm.role) {
  case MS_NAME_IGNORED:
    CHECK(nm.why == NULL);
    CHECK(n == 0 || f[0] == '.' || f[n - 1] == '~' ||
          (!is_digit(f[0]) && !ends_with(f, n, ".sql") && !ends_with(f, n, ".lua")));
    return;
  case MS_NAME_BAD:
    CHECK(nm.why != NULL && nm.why[0] != '\0');
    CHECK(n > 0 && f[0] != '.' && f[n - 1] != '~');
    CHECK(is_digit(f[0]) || ends_with(f, n, ".sql") || ends_with(f, n, ".lua"));
    return;
  case MS_NAME_SINGLE:
  case MS_NAME_UP:
  case MS_NAME_DOWN:
    break;
  default:
    CHECK(0);
  }
  CHECK(nm.why == NULL);
  const char *suffix = nm.role == MS_NAME_UP ? ".up.sql"
                     : nm.role == MS_NAME_DOWN ? ".down.sql"
                     : nm.kind == MS_KIND_LUA ? ".lua" : ".sql";
  CHECK(nm.kind == MS_KIND_SQL || (nm.kind == MS_KIND_LUA && nm.role == MS_NAME_SINGLE));
  /* <digits> "_" <name> <suffix>, and nothing else */
  CHECK(nm.name_off >= 2 && nm.name_len >= 1);
  CHECK(nm.name_off <= n && nm.name_len <= n - nm.name_off);
  CHECK(nm.name_off + nm.name_len + strlen(suffix) == n);
  CHECK(ends_with(f, n, suffix));
  CHECK(f[nm.name_off - 1] == '_');
  for (size_t i = 0; i < nm.name_off - 1; i++) CHECK(is_digit(f[i]));
  for (size_t i = nm.name_off; i < nm.name_off + nm.name_len; i++) CHECK(name_char(f[i]));
  CHECK(nm.version >= 0);
  CHECK(!too_big(f, nm.name_off - 1));
  CHECK(same_number(f, nm.name_off - 1, nm.version));
}

/* Builds "<digits>_<name><suffix>" from the input, all parts valid, and checks
 * that the parser returns exactly those parts. */
static void check_built(const uint8_t *data, size_t size) {
  static const char *const suffixes[] = { ".sql", ".lua", ".up.sql", ".down.sql" };
  static const char alphabet[] = "abcxyzABZ019_-.";
  char f[96], digits[24];
  size_t nd, nn, k = 0;
  if (size < 3) return;
  unsigned sel = data[0] & 3;
  const char *suffix = suffixes[sel];
  nd = 1 + data[1] % 20;               /* up to 20 digits: some overflow int64 */
  nn = 1 + data[2] % 40;
  data += 3;
  size -= 3;
  for (size_t i = 0; i < nd; i++, k++) digits[i] = (char)('0' + (k < size ? data[k] % 10 : 7));
  digits[nd] = '\0';
  memcpy(f, digits, nd);
  f[nd] = '_';
  for (size_t i = 0; i < nn; i++, k++)
    f[nd + 1 + i] = alphabet[(k < size ? data[k] : i) % (sizeof alphabet - 1)];
  strcpy(f + nd + 1 + nn, suffix);
  /* a name that itself ends in .up/.down reads as a pair file: not this check */
  if (strcmp(suffix, ".sql") == 0) {
    f[nd + 1 + nn] = '\0';
    int pairlike = ends_with(f + nd + 1, nn, ".up") || ends_with(f + nd + 1, nn, ".down");
    f[nd + 1 + nn] = '.';
    if (pairlike) return;
  }
  ms_name nm;
  ms_name_parse(f, &nm);
  if (too_big(digits, nd) || nd > 19 || strspn(digits, "0") == nd) {
    /* beyond int64, more than its 19 digits, or version 0 (reserved): refused with a reason */
    CHECK(nm.role == MS_NAME_BAD && nm.why != NULL);
    return;
  }
  CHECK(nm.role == (sel == 2 ? MS_NAME_UP : sel == 3 ? MS_NAME_DOWN : MS_NAME_SINGLE));
  CHECK(nm.kind == (sel == 1 ? MS_KIND_LUA : MS_KIND_SQL));
  CHECK(nm.name_off == nd + 1 && nm.name_len == nn);
  CHECK(same_number(digits, nd, nm.version));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *f = malloc(size + 1);
  if (!f) return 0;
  memcpy(f, data, size);
  f[size] = '\0';
  check_parse(f);
  free(f);
  check_built(data, size);
  return 0;
}
