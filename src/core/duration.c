/* duration.c: durations and sizes as flags and the config write them (see
 * duration.h). Digits are read here rather than by strtod, which would take
 * signs, spaces, exponents, hex, inf and nan, and follows the locale. */
#include "duration.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct unit { const char *name; double factor; } unit;

static const unit time_units[] = {
  { "", 1 }, { "us", 1e-6 }, { "ms", 1e-3 }, { "s", 1 }, { "m", 60 }, { "min", 60 },
  { "h", 3600 }, { "d", 86400 }, { NULL, 0 }
};

static const unit size_units[] = {
  { "", 1 }, { "kB", 1024.0 }, { "KB", 1024.0 }, { "MB", 1024.0 * 1024 },
  { "GB", 1024.0 * 1024 * 1024 }, { NULL, 0 }
};

/* Reads digits with an optional fraction at the start of s into *v and
 * returns the text after them, or NULL when there is no digit. Fraction
 * digits past the 15th are read but add nothing a double could hold. */
static const char *number(const char *s, double *v) {
  const char *p = s;
  double whole = 0, frac = 0, scale = 1;
  int digits = 0;
  for (; *p >= '0' && *p <= '9'; p++, digits++) whole = whole * 10 + (*p - '0');
  if (*p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++, digits++)
      if (scale < 1e15) { frac = frac * 10 + (*p - '0'); scale *= 10; }
  }
  if (digits == 0) return NULL;
  *v = whole + frac / scale;
  return p;
}

/* s as a number times its unit from units, or -1 when it is not one. */
static double scaled(const char *s, const unit *units) {
  double v;
  const char *rest = s ? number(s, &v) : NULL;
  if (!rest) return -1;
  for (const unit *u = units; u->name; u++)
    if (strcmp(rest, u->name) == 0) return isfinite(v * u->factor) ? v * u->factor : -1;
  return -1;
}

int ms_duration_parse(const char *s, double *seconds) {
  double v = scaled(s, time_units);
  if (v < 0) return -1;
  *seconds = v;
  return 0;
}

int ms_size_parse(const char *s, size_t *bytes) {
  double v = scaled(s, size_units);
  if (v < 1 || v >= (double)SIZE_MAX) return -1;
  *bytes = (size_t)v;
  return 0;
}
