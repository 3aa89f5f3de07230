/* file.h: read-only access to a migration file's bytes (read when small,
 * memory-mapped when large). */
#ifndef MS_FILE_H
#define MS_FILE_H

#include <stddef.h>
#include "ms.h"

typedef struct ms_file {
  const char *data;   /* the bytes; "" for an empty file */
  size_t len;
  void *map;          /* mmap base, NULL when nothing is mapped */
  char *owned;        /* a small file read into memory instead, or NULL */
  long long mtime_ns; /* its identity when opened: modification time */
  unsigned long long ino;  /* and inode */
} ms_file;

/* Maps path; returns MS_EUSAGE naming the file and the cause on failure. */
ms_status ms_file_open(ms_ctx *c, const char *path, ms_file *f) MS_MUST_CHECK;
void ms_file_close(ms_file *f);

/* Hands back the memory of the whole pages inside [from, upto): they are
 * read again from the file if touched later. Called behind the point a pass
 * has reached, it keeps the resident size of a large file streamed front to
 * back independent of the file's size. */
void ms_file_drop(ms_file *f, size_t from, size_t upto);

#endif
