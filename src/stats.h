/* stats: this rank's counters (gallocy_stats_t), bumped with relaxed atomics. */
#ifndef GALLOCY_STATS_H
#define GALLOCY_STATS_H
#include "gallocy_api.h"

extern gallocy_stats_t stats_counters;

#define stats_add(field, v) __atomic_fetch_add(&stats_counters.field, (v), __ATOMIC_RELAXED)
#define stats_inc(field) stats_add(field, 1)
#define stats_sub(field, v) __atomic_fetch_sub(&stats_counters.field, (v), __ATOMIC_RELAXED)

void stats_reset(void);
void stats_print(int rank); /* one line on stderr, under GALLOCY_STATS=1 at finalize */
/* Fills in the counters that another module keeps itself (the allocator's: bytes in use and
 * held, superblocks), at every gallocy_stats: registered from above, so that stats stays at
 * the bottom and never calls up.  NULL: none. */
typedef void (*stats_source_fn)(gallocy_stats_t *s);
void stats_set_source(stats_source_fn fn);

#endif
