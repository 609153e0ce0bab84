/* diff: compare 64 bytes at a time, then a word at a time, and bytewise only inside words
 * that differ (a page is mostly unchanged: a kept copy is diffed at every release and
 * refreshed at every acquire, so the skip is most of the cost). */
#include "diff.h"

#include <stdint.h>
#include <string.h>

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

enum { BLOCK = 64 };

/* Whether BLOCK bytes are equal: eight independent loads a side, one test, no early exit
 * (the compiler keeps it in registers or vectors). */
static inline int block_equal(const unsigned char *a, const unsigned char *b)
{
    uint64_t x = 0;
    for (size_t k = 0; k < BLOCK; k += 8)
        x |= load64(a + k) ^ load64(b + k);
    return x == 0;
}

size_t diff_runs(const unsigned char *twin, const unsigned char *cur, size_t len,
                 diff_emit_fn emit, void *ctx)
{
    size_t runs = 0, i = 0, start = 0;
    int in_run = 0;
    while (i < len) {
        if (!in_run && i % 8 == 0) { /* after a run, bytewise up to a word's start */
            if (i % BLOCK == 0 && i + BLOCK <= len && block_equal(twin + i, cur + i)) {
                i += BLOCK; /* fast skip of unchanged blocks */
                continue;
            }
            if (i + 8 <= len && load64(twin + i) == load64(cur + i)) {
                i += 8; /* unchanged words, up to the next block's start */
                continue;
            }
        }
        int changed = twin[i] != cur[i];
        if (changed && !in_run) {
            start = i;
            in_run = 1;
        } else if (!changed && in_run) {
            emit(start, i - start, ctx);
            runs++;
            in_run = 0;
        }
        i++;
    }
    if (in_run) {
        emit(start, len - start, ctx);
        runs++;
    }
    return runs;
}
