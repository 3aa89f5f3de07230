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

/* Reads a small file into memory: no mapping, no faults. */
static ms_status read_small(ms_ctx *c, const char *path, int fd, size_t size, ms_file *f) {
  char *buf = malloc(size);
  ssize_t n = buf ? read(fd, buf, size) : -1;
  if (n != (ssize_t)size) {
    free(buf);
    return ms_fail(c, MS_EUSAGE, "%s: cannot read: %s", path, n < 0 ? strerror(errno) : "short read");
  }
  f->owned = buf;
  f->data = buf;
  f->len = size;
  return MS_OK;
}

static ms_status map_large(ms_ctx *c, const char *path, int fd, size_t size, ms_file *f) {
  void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return ms_fail(c, MS_EUSAGE, "%s: cannot read: %s", path, strerror(errno));
  posix_madvise(p, size, POSIX_MADV_SEQUENTIAL);
  f->map = p;
  f->data = p;
  f->len = size;
  return MS_OK;
}

ms_status ms_file_open(ms_ctx *c, const char *path, ms_file *f) {
  struct stat sb;
  memset(f, 0, sizeof *f);
  f->data = "";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ms_fail(c, MS_EUSAGE, "%s: cannot read: %s", path, strerror(errno));
  ms_status st = MS_OK;
  if (fstat(fd, &sb) != 0) {
    st = ms_fail(c, MS_EUSAGE, "%s: cannot read: %s", path, strerror(errno));
  } else {
    f->mtime_ns = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
    f->ino = (unsigned long long)sb.st_ino;
    if (sb.st_size > 0 && sb.st_size <= SMALL_FILE) st = read_small(c, path, fd, (size_t)sb.st_size, f);
    else if (sb.st_size > 0) st = map_large(c, path, fd, (size_t)sb.st_size, f);
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
