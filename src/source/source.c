/* source.c: discovers migrations in a folder: files named
 * <version>_<name>.sql|.lua or .up.sql/.down.sql pairs, and diesel's
 * <version>_<name>/ folders (diesel.c reads their names and metadata.toml);
 * rejects malformed names, duplicate versions and the folders of tools
 * moonshift cannot run (toolfolder.c), and sorts by version as int64.
 * Uses only POSIX file calls; knows nothing of SQL or the database. */
#define _DEFAULT_SOURCE 1   /* struct dirent's d_type */
#include "source.h"

#include <dirent.h>
#include <inttypes.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "diesel.h"
#include "toolfolder.h"

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static int name_char_ok(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
}

void ms_name_parse(const char *fname, ms_name *out) {
  size_t n = strlen(fname), i = 0, stem;
  memset(out, 0, sizeof *out);
  if (n == 0 || fname[0] == '.' || fname[n - 1] == '~') return;
  int digit_first = fname[0] >= '0' && fname[0] <= '9';
  int is_sql = ends_with(fname, n, ".sql"), is_lua = ends_with(fname, n, ".lua");
  if (!digit_first && !is_sql && !is_lua) return;
  out->role = MS_NAME_BAD;
  if (!is_sql && !is_lua) { out->why = "a migration file must end in .sql or .lua"; return; }
  if (!digit_first) { out->why = "a migration file name must start with its version (digits)"; return; }
  out->role = MS_NAME_SINGLE;
  out->kind = is_lua ? MS_KIND_LUA : MS_KIND_SQL;
  stem = n - 4;
  if (is_sql && ends_with(fname, stem, ".up")) { out->role = MS_NAME_UP; stem -= 3; }
  else if (is_sql && ends_with(fname, stem, ".down")) { out->role = MS_NAME_DOWN; stem -= 5; }
  uint64_t v = 0;
  for (; i < stem && fname[i] >= '0' && fname[i] <= '9'; i++) {
    unsigned d = (unsigned)(fname[i] - '0');
    if (v > ((uint64_t)INT64_MAX - d) / 10) {
      out->role = MS_NAME_BAD;
      out->why = "the version does not fit in a 64-bit integer";
      return;
    }
    v = v * 10 + d;
  }
  out->version = (int64_t)v;
  if (i > 19) {   /* leading zeros past int64's 19 digits: shown as written, a page of zeros */
    out->role = MS_NAME_BAD;
    out->why = "the version has more than 19 digits (the most a 64-bit version has)";
    return;
  }
  if (v == 0) {
    out->role = MS_NAME_BAD;
    out->why = "version 0 is reserved: it means \"before every migration\" (down --to 0)";
    return;
  }
  if (i >= stem || fname[i] != '_' || i + 1 >= stem) {
    out->role = MS_NAME_BAD;
    out->why = "expected <version>_<name>.sql, <version>_<name>.lua or <version>_<name>.up.sql/.down.sql";
    return;
  }
  out->name_off = i + 1;
  out->name_len = stem - i - 1;
  for (size_t k = out->name_off; k < stem; k++) {
    if (!name_char_ok((unsigned char)fname[k])) {
      out->role = MS_NAME_BAD;
      out->why = "the name may contain only ASCII letters, digits, '_', '-' and '.'";
      return;
    }
  }
}

static char *join_path(const char *dir, const char *f) {
  size_t a = strlen(dir), b = strlen(f);
  char *p = malloc(a + b + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, f, b + 1);
  return p;
}

static int cmp_version(const void *a, const void *b) {
  const ms_migration *x = a, *y = b;
  if (x->version != y->version) return x->version < y->version ? -1 : 1;
  return x->pair - y->pair;
}

static void migration_free(ms_migration *m) {
  free(m->checksum);
  free(m->resume_hashes);
  free(m->scan);
  free(m->name);
  free(m->path);
  free(m->down_path);
}

void ms_source_free(ms_source *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) migration_free(&s->v[i]);
  free(s->v);
  free(s->dir);
  memset(s, 0, sizeof *s);
}

static int push(ms_source *s, const ms_migration *m) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    ms_migration *v = realloc(s->v, cap * sizeof *v);
    if (!v) return -1;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = *m;
  return 0;
}

/* Whether path is a regular file (following links). */
static int regular(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Reads diesel's metadata.toml at path into m->no_transaction; problems
 * are appended to errs. */
static void read_metadata(const char *path, ms_migration *m, ms_buf *errs) {
  char text[65536];
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(text, 1, sizeof text, f) : 0;
  int in_tx = 1, big = f && n == sizeof text, bad = !f || ferror(f);
  if (f) fclose(f);
  if (bad || big) {
    ms_buf_printf(errs, "\n  %s: %s", path, big ? "larger than 64 KiB" : strerror(errno));
    return;
  }
  ms_buf err = {0};
  if (ms_diesel_metadata(path, text, n, &in_tx, &err) != 0) ms_buf_printf(errs, "\n  %s", err.data);
  ms_buf_free(&err);
  m->no_transaction = !in_tx;
}

/* A diesel migration folder dir/dname at path (which it takes). */
static ms_status diesel_folder(ms_ctx *c, char *path, const char *dname, ms_source *s,
                               ms_buf *errs) {
  ms_diesel_name dn;
  ms_migration m = {0};
  ms_status st = MS_OK;
  ms_diesel_name_parse(dname, &dn);
  m.path = join_path(path, "up.sql");
  m.down_path = join_path(path, "down.sql");
  char *meta = join_path(path, "metadata.toml");
  if (!m.path || !m.down_path || !meta) {
    st = ms_fail(c, MS_EFAILED, "out of memory");
  } else if (!dn.ok) {
    ms_buf_printf(errs, "\n  %s: %s", path, dn.why);
  } else if (!regular(m.path)) {
    ms_buf_printf(errs, "\n  %s: a folder named like a migration holds no up.sql (diesel's "
                  "layout is <version>_<name>/up.sql and down.sql)", path);
  } else {
    if (!regular(m.down_path)) { free(m.down_path); m.down_path = NULL; }
    if (access(meta, F_OK) == 0) read_metadata(meta, &m, errs);
    m.version = dn.version;
    m.vwidth = dn.width;
    m.kind = MS_KIND_SQL;
    m.folder = 1;
    m.name = strndup(dname + dn.name_off, dn.name_len);
    if (!m.name || push(s, &m) != 0) st = ms_fail(c, MS_EFAILED, "out of memory");
    else memset(&m, 0, sizeof m);
  }
  migration_free(&m);
  free(meta);
  free(path);
  return st;
}

/* Whether the entry e at path is a folder. */
static int is_folder(const struct dirent *e, const char *path) {
  struct stat sb;
  if (e->d_type == DT_DIR) return 1;
  if (e->d_type != DT_UNKNOWN && e->d_type != DT_LNK) return 0;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Collects the candidate files; problems are appended to errs, a file of
 * a tool moonshift cannot run to *tool and *tool_file. */
static ms_status collect(ms_ctx *c, const char *dir, ms_source *s, ms_buf *errs,
                         ms_toolfolder *tool, char *tool_file, size_t tool_cap) {
  DIR *d = opendir(dir);
  if (!d)
    return ms_fail(c, MS_EUSAGE, "cannot open migrations folder %s: %s", dir, strerror(errno));
  struct dirent *e;
  ms_status st = MS_OK;
  while (st == MS_OK && (e = readdir(d)) != NULL) {
    ms_name nm;
    ms_toolfolder t = ms_toolfolder_of(e->d_name);
    if (t != MS_TOOLFOLDER_NONE) {
      if (*tool == MS_TOOLFOLDER_NONE || t < *tool) {
        *tool = t;
        snprintf(tool_file, tool_cap, "%s", e->d_name);
      }
      continue;
    }
    ms_name_parse(e->d_name, &nm);
    if (nm.role == MS_NAME_IGNORED) continue;
    char *path = join_path(dir, e->d_name);
    if (!path) { st = ms_fail(c, MS_EFAILED, "out of memory"); break; }
    struct stat sb;
    size_t n = strlen(e->d_name);
    if (nm.role == MS_NAME_BAD && !ends_with(e->d_name, n, ".sql") &&
        !ends_with(e->d_name, n, ".lua") && is_folder(e, path)) {
      st = diesel_folder(c, path, e->d_name, s, errs);
      continue;
    }
    if (nm.role == MS_NAME_BAD) {
      ms_buf_printf(errs, "\n  %s: %s", path, nm.why);
    } else if (e->d_type != DT_REG && stat(path, &sb) != 0) {
      /* the entry's type spares a stat of every plain file; links and
       * file systems that do not tell are looked at */
      ms_buf_printf(errs, "\n  %s: %s", path, strerror(errno));
    } else if (e->d_type != DT_REG && !S_ISREG(sb.st_mode)) {
      ms_buf_printf(errs, "\n  %s: named like a migration but not a regular file", path);
    } else {
      ms_migration m = {0};
      m.version = nm.version;
      m.vwidth = (int)nm.name_off - 1;
      m.kind = nm.kind;
      m.name = strndup(e->d_name + nm.name_off, nm.name_len);
      m.path = path;
      m.pair = nm.role == MS_NAME_UP ? 1 : nm.role == MS_NAME_DOWN ? 2 : 0;
      if (m.pair == 2) { m.down_path = path; m.path = NULL; }
      path = NULL;
      if (!m.name || push(s, &m) != 0) {
        migration_free(&m);
        st = ms_fail(c, MS_EFAILED, "out of memory");
      }
    }
    free(path);
  }
  closedir(d);
  return st;
}

static const char *any_path(const ms_migration *m) { return m->path ? m->path : m->down_path; }

/* Merges .up.sql/.down.sql pairs and reports duplicates and lone down files. */
static void merge(ms_source *s, ms_buf *errs) {
  size_t w = 0;
  for (size_t i = 0; i < s->n; i++) {
    ms_migration *m = &s->v[i];
    ms_migration *prev = w > 0 ? &s->v[w - 1] : NULL;
    if (prev && prev->version == m->version) {
      int same = strcmp(prev->name, m->name) == 0;
      /* sorted by pair within a version: an up file comes right before its down */
      if (same && prev->pair == 1 && m->pair == 2) {
        prev->down_path = m->down_path;
        m->down_path = NULL;
        prev->pair = 3;
        migration_free(m);
        continue;
      }
      ms_buf_printf(errs, "\n  %s and %s: both have version %lld", any_path(prev), any_path(m),
                    (long long)m->version);
      migration_free(m);
      continue;
    }
    s->v[w++] = *m;
  }
  s->n = w;
  for (size_t i = 0; i < s->n; i++) {
    ms_migration *m = &s->v[i];
    if (!m->path) ms_buf_printf(errs, "\n  %s: a .down.sql file needs its .up.sql file", m->down_path);
    m->pair = 0;
  }
}

/* diesel compares versions as strings: refuse diesel folders whose
 * numeric order (moonshift's) is not their string order. */
static void diesel_order(const ms_source *s, ms_buf *errs) {
  const ms_migration *prev = NULL;
  for (size_t i = 0; i < s->n; i++) {
    const ms_migration *m = &s->v[i];
    if (!m->folder) continue;
    if (prev && prev->vwidth != m->vwidth) {
      char a[32], b[32];
      snprintf(a, sizeof a, "%0*" PRId64, prev->vwidth, prev->version);
      snprintf(b, sizeof b, "%0*" PRId64, m->vwidth, m->version);
      if (strcmp(a, b) > 0)
        ms_buf_printf(errs, "\n  %s and %s: diesel runs these in the other order (it compares "
                      "versions as strings); give their versions one width", prev->path, m->path);
    }
    prev = m;
  }
}

ms_status ms_source_scan(ms_ctx *c, const char *dir, ms_source *out) {
  ms_buf errs = {0};
  ms_toolfolder tool = MS_TOOLFOLDER_NONE;
  char tool_file[256] = "";
  ms_status st = collect(c, dir, out, &errs, &tool, tool_file, sizeof tool_file);
  if (st == MS_OK && tool != MS_TOOLFOLDER_NONE) {
    st = ms_fail(c, MS_EUSAGE, "migrations folder %s %s (%s); nothing was run", dir,
                 ms_toolfolder_why(tool), tool_file);
  } else if (st == MS_OK) {
    if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_version);
    merge(out, &errs);
    diesel_order(out, &errs);
    out->dir = strdup(dir);
    if (errs.len > 0)
      st = ms_fail(c, MS_EUSAGE, "migrations folder %s has problems; nothing was run:%s", dir, errs.data);
  }
  ms_buf_free(&errs);
  if (st != MS_OK) ms_source_free(out);
  return st;
}

ms_migration *ms_source_find(const ms_source *s, int64_t version) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->v[mid].version == version) return &s->v[mid];
    if (s->v[mid].version < version) lo = mid + 1; else hi = mid;
  }
  return NULL;
}
