/* coherence: see coherence.h; the protocol is described in notice.c and cache.c. */
#include "coherence.h"

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "notice.h"
#include "runtime.h"
#include "space.h"
#include "stats.h"

void coherence_release(void)
{
    cache_lock_all();
    cache_write_back();
    cache_unlock_all();
}

/* Drops this rank's copies of what the new notices of the ranks in want (NULL: all) name. */
static void apply_notices(const unsigned long *want)
{
    const uint64_t *runs;
    size_t n;
    notice_read_begin(want);
    while ((n = notice_read_next(cache_tracked != 0, &runs)) > 0)
        for (size_t i = 0; i < n; i++) {
            size_t dropped = cache_drop(notice_run_page(runs[i]), notice_run_len(runs[i]));
            stats_add(stale_drops, dropped);
        }
    if (notice_read_end())
        stats_add(stale_drops, cache_drop_tracked());
}

void coherence_acquire(void)
{
    cache_invalidate();
    /* Without tracked copies or confirmed pages, the counts can wait: whatever is fetched
     * from now on is fresh. */
    if ((cache_tracked != 0 || notice_any_confirmed()) && sp.nranks > 1)
        apply_notices(NULL);
}

void coherence_barrier(void)
{
    if (sp.nranks == 1) {
        rt_barrier();
        cache_lock_all();
        cache_invalidate();
        cache_unlock_all();
        return;
    }
    size_t words;
    cache_lock_all();
    unsigned long *publishers = notice_barrier_enter(&words);
    cache_unlock_all();
    /* The barrier itself (nobody leaves before everyone has released and announced), and
     * who has published notices since the last one: log N steps of N bits. */
    rt_allreduce_or(publishers, words);
    cache_lock_all();
    notice_barrier_passed();
    cache_invalidate(); /* untracked copies, and what this rank put or swapped itself */
    const uint64_t *runs;
    size_t n = notice_announced(&runs);
    for (size_t i = 0; i < n; i++)
        stats_add(pages_shared, cache_share_home(notice_run_page(runs[i]),
                                                 notice_run_len(runs[i])));
    notice_announced_done();
    apply_notices(publishers);
    cache_unlock_all();
}
