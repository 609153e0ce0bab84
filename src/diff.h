/* diff: the bytes a rank changed in a cached page, as exact runs.  Runs never include an
 * unchanged byte, so writers of different bytes of one page never overwrite each other. */
#ifndef GALLOCY_DIFF_H
#define GALLOCY_DIFF_H
#include <stddef.h>

typedef void (*diff_emit_fn)(size_t off, size_t len, void *ctx);
/* Calls emit for each maximal run of bytes where cur differs from twin; returns the count. */
size_t diff_runs(const unsigned char *twin, const unsigned char *cur, size_t len,
                 diff_emit_fn emit, void *ctx);

#endif
