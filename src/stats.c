/* stats: counters of this rank, printed at finalize when GALLOCY_STATS=1. */
#include "stats.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "space.h"

gallocy_stats_t stats_counters;

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
    alloc_stats(out);
}

void stats_print(void)
{
    gallocy_stats_t s;
    gallocy_stats(&s);
    char buf[2048];
    int n = snprintf(buf, sizeof buf,
        "gallocy: rank %d stats: read_faults %lu write_faults %lu pages_fetched %lu "
        "bytes_fetched %lu pages_fetched_on_node %lu fetches_handed_off %lu pages_written_back %lu "
        "bytes_written_back %lu diff_runs %lu "
        "invalidations %lu stale_drops %lu write_notices %lu pages_shared %lu pages_unshared %lu "
        "home_write_faults %lu pages_kept %lu pages_refreshed %lu bytes_refreshed %lu protection_changes %lu acquires %lu releases %lu barriers %lu "
        "locks %lu remote_frees_sent %lu remote_frees_drained %lu remote_free_batches %lu "
        "bytes_registered %lu connections %lu bytes_in_use %lu bytes_held %lu bytes_trimmed %lu superblocks",
        sp.rank, s.read_faults, s.write_faults, s.pages_fetched, s.bytes_fetched,
        s.pages_fetched_on_node, s.fetches_handed_off, s.pages_written_back, s.bytes_written_back, s.diff_runs,
        s.invalidations, s.stale_drops,
        s.write_notices, s.pages_shared, s.pages_unshared, s.home_write_faults, s.pages_kept, s.pages_refreshed, s.bytes_refreshed,
        s.protection_changes, s.acquires, s.releases, s.barriers, s.locks, s.remote_frees_sent,
        s.remote_frees_drained, s.remote_free_batches, s.bytes_registered, s.connections,
        s.bytes_in_use, s.bytes_held,
        s.bytes_trimmed);
    for (int c = 0; c < GALLOCY_SIZE_CLASSES && n > 0 && n < (int)sizeof buf - 16; c++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, " %lu", s.superblocks[c]);
    if (n > 0 && n < (int)sizeof buf - 1)
        buf[n++] = '\n';
    fwrite(buf, 1, (size_t)n, stderr);
}
