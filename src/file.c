/* file.c: maps migration files read-only, so a large SQL file is paged in
 * as it is sent instead of being copied into memory. POSIX mmap. */
#define _DEFAULT_SOURCE 1   /* madvise(MADV_DONTNEED) */
#include "file.h"

#define SMALL_FILE (256 * 1024)

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

ms_status ms_file_open(ms_ctx *c, const char *path, ms_file *f) {
  struct stat sb;
  memset(f, 0, sizeof *f);
  f->data = "";
  int fd = open(path, O_RDONLY);
  if (fd < 0) return ms_fail(c, MS_EUSAGE, "%s: cannot read: %s", path, strerror(errno));
  ms_status st = MS_OK;
  if (fstat(fd, &sb) != 0) {
    st = ms_fail(c, MS_EUSAGE, "%s: cannot read: %s", path, strerror(errno));
  } else if (sb.st_size > 0 && sb.st_size <= SMALL_FILE) {
    /* a small file costs less read than mapped (no mapping, no faults) */
    char *buf = malloc((size_t)sb.st_size);
    ssize_t n = buf ? read(fd, buf, (size_t)sb.st_size) : -1;
    if (n != (ssize_t)sb.st_size) {
      free(buf);
      st = ms_fail(c, MS_EUSAGE, "%s: cannot read: %s", path, n < 0 ? strerror(errno) : "short read");
    } else {
      f->owned = buf;
      f->data = buf;
      f->len = (size_t)n;
    }
  } else if (sb.st_size > 0) {
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      st = ms_fail(c, MS_EUSAGE, "%s: cannot read: %s", path, strerror(errno));
    } else {
      posix_madvise(p, (size_t)sb.st_size, POSIX_MADV_SEQUENTIAL);
      f->map = p;
      f->data = p;
      f->len = (size_t)sb.st_size;
    }
  }
  close(fd);
  return st;
}

void ms_file_drop(ms_file *f, size_t from, size_t upto) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (!f->map || page == 0) return;
  if (upto > f->len) upto = f->len;
  from = (from + page - 1) / page * page;   /* whole pages inside the range */
  upto = upto == f->len ? upto : upto / page * page;
  if (upto > from) madvise((char *)f->map + from, upto - from, MADV_DONTNEED);
}

void ms_file_close(ms_file *f) {
  if (f->map) munmap(f->map, f->len);
  free(f->owned);
  memset(f, 0, sizeof *f);
  f->data = "";
}
