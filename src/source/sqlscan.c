/* sqlscan.c: remembers, per migration and direction, what checking a large
 * SQL file found (sqlrun.c), keyed by the file's identity, so a run checks
 * the whole plan before anything runs and then sends each file after one
 * more pass where it took five (a pg_dump baseline of a gigabyte). The memory
 * is one flat block freed with the migration (source.c). */
#include "sqlscan.h"

#include <stdlib.h>

/* Below this size a file is parsed again rather than remembered: a second
 * pass over it costs less than the memory of thousands of entries. */
#define REMEMBER_FROM (256 * 1024)

struct ms_sqlscan {
  struct {
    int valid;
    size_t len;
    long long mtime_ns;
    unsigned long long ino;
    ms_scan_facts facts;
  } dir[2];
};

const ms_scan_facts *ms_sqlscan_get(const ms_migration *m, int down, const ms_file *f) {
  const struct ms_sqlscan *s = m->scan;
  int d = down ? 1 : 0;
  if (!s || !s->dir[d].valid || s->dir[d].len != f->len || s->dir[d].mtime_ns != f->mtime_ns ||
      s->dir[d].ino != f->ino)
    return NULL;
  return &s->dir[d].facts;
}

void ms_sqlscan_put(ms_migration *m, int down, const ms_file *f, const ms_scan_facts *facts) {
  int d = down ? 1 : 0;
  if (f->len < REMEMBER_FROM) return;
  if (!m->scan) m->scan = calloc(1, sizeof *m->scan);
  if (!m->scan) return;
  m->scan->dir[d].valid = 1;
  m->scan->dir[d].len = f->len;
  m->scan->dir[d].mtime_ns = f->mtime_ns;
  m->scan->dir[d].ino = f->ino;
  m->scan->dir[d].facts = *facts;
}
