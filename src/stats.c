/* stats: counters of this rank, printed at finalize when GALLOCY_STATS=1. */
#include "stats.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

gallocy_stats_t stats_counters;
static stats_source_fn source;

static const char *const names[] = {
#define STAT(name) #name,
#include "stats.def"
#undef STAT
};
enum { NCOUNTERS = sizeof names / sizeof *names };

/* The table and the public struct agree: every counter at its place in the table, then the
 * per-class array, and nothing else. */
enum {
#define STAT(name) STAT_INDEX_##name,
#include "stats.def"
#undef STAT
};
#define STAT(name)                                                                           \
    _Static_assert(offsetof(gallocy_stats_t, name) == STAT_INDEX_##name * sizeof(uint64_t),   \
                   "stats.def lists " #name " out of gallocy_stats_t's order");
#include "stats.def"
#undef STAT
enum { SUPERBLOCKS_AT = NCOUNTERS * sizeof(uint64_t) };
_Static_assert(offsetof(gallocy_stats_t, superblocks) == SUPERBLOCKS_AT &&
                   sizeof(gallocy_stats_t) ==
                       SUPERBLOCKS_AT + GALLOCY_SIZE_CLASSES * sizeof(uint64_t),
               "gallocy_stats_t has a counter that stats.def does not list");

void stats_set_source(stats_source_fn fn)
{
    source = fn;
}

void stats_reset(void)
{
    memset(&stats_counters, 0, sizeof stats_counters);
}

void gallocy_stats(gallocy_stats_t *out)
{
    if (!out)
        return;
    for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
        ((uint64_t *)out)[i] = __atomic_load_n(&((uint64_t *)&stats_counters)[i], __ATOMIC_RELAXED);
    if (source)
        source(out);
}

void stats_print(int rank)
{
    gallocy_stats_t s;
    gallocy_stats(&s);
    const uint64_t *v = (const uint64_t *)&s;
    char buf[2048];
    size_t n = (size_t)snprintf(buf, sizeof buf, "gallocy: rank %d stats:", rank);
    for (int i = 0; i < NCOUNTERS && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, " %s %lu", names[i], (unsigned long)v[i]);
    if (n < sizeof buf)
        n += (size_t)snprintf(buf + n, sizeof buf - n, " superblocks");
    for (int c = 0; c < GALLOCY_SIZE_CLASSES && n < sizeof buf; c++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, " %lu", (unsigned long)s.superblocks[c]);
    if (n >= sizeof buf - 1) /* truncated: end the line all the same */
        n = sizeof buf - 2;
    buf[n++] = '\n';
    fwrite(buf, 1, n, stderr);
}
