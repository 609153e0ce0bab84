/* diff: compare a word at a time, and bytewise only inside words that differ. */
#include "diff.h"

#include <stdint.h>
#include <string.h>

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

size_t diff_runs(const unsigned char *twin, const unsigned char *cur, size_t len,
                 diff_emit_fn emit, void *ctx)
{
    size_t runs = 0, i = 0, start = 0;
    int in_run = 0;
    while (i < len) {
        if (!in_run && i + 8 <= len && load64(twin + i) == load64(cur + i)) {
            i += 8; /* fast skip of unchanged words */
            continue;
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
