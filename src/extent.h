/* extent: the allocated block around a global address, so that the calls that go straight to
 * a home (get, put, atomics, locks, prepare) refuse a range that leaves its block instead of
 * writing over its neighbour.
 *
 * A home segment's blocks are read from its home's page table (segment.h), one u32 per page:
 * this rank's own table directly, where a small block's state byte also tells a freed block;
 * another home's through the transport, kept in a small cache of entries, so a repeated call
 * costs one lookup; they are forgotten at every acquire.  A cached entry can be stale (the
 * home freed and reused the page since): a range it refuses is read again before the refusal,
 * so staleness can only miss an error, never refuse a good range.  A small block that another
 * home holds is known freed only to that home (its state bytes are not in registered memory):
 * other ranks refuse it only once its superblock has gone back to the segment.  Collective
 * allocations come from coalloc's records, which every rank holds. */
#ifndef GALLOCY_EXTENT_H
#define GALLOCY_EXTENT_H
#include <stddef.h>
#include <stdint.h>

#include "space.h"

/* Offset of a rank's heap page table in its registered metadata. */
size_t extent_pageinfo_off(void);

/* The block of the home segment of rank home that holds heap offset hoff (from the start of
 * that segment): 1 and [*start, *end) as heap offsets, or 0 when hoff is in no allocated
 * block.  fresh: read another home's entries again rather than from the cache. */
int extent_heap_block(int home, size_t hoff, int fresh, size_t *start, size_t *end);

/* How [off, off+n) of the global range (n >= 1) stands against its block. */
enum extent_verdict {
    EXTENT_INSIDE, /* inside one allocated block */
    EXTENT_NO_BLOCK, /* off is in no allocated block (free, freed, or between blocks) */
    EXTENT_PAST_END, /* it starts in a block and runs past its end */
};
/* The verdict, and the block's bounds as global offsets when there is one. */
enum extent_verdict extent_check(size_t off, size_t n, size_t *start, size_t *end);

/* The last block a check of this thread passed, when no free can end it without changing the
 * epoch: another home's (what this rank knows of it changes only at an acquire) or a
 * collective allocation (gallocy_cofree changes the epoch).  So a loop over one block costs
 * a compare after the first call, and the home comes with it: the block's (cut to the run of
 * one home it was found in), or for a collective allocation spread over the ranks, from its
 * layout (stretches of stretch_pages pages, dealt round the ranks). */
struct extent_memo {
    size_t start, end; /* global offsets */
    unsigned epoch;
    int home;             /* -1: from the layout */
    size_t stretch_pages; /* when home is -1 */
};
extern __thread struct extent_memo extent_memo __attribute__((tls_model("initial-exec")));
extern unsigned extent_epoch;

/* The home of [off, off+n) when this thread's memo covers it (so it lies in global memory,
 * in one allocated block and on one home), else -1. */
static inline int extent_memo_home(size_t off, size_t n)
{
    const struct extent_memo *m = &extent_memo;
    if (__builtin_expect(!(off - m->start < m->end - m->start && n <= m->end - off &&
                           m->epoch == __atomic_load_n(&extent_epoch, __ATOMIC_RELAXED)),
                         0))
        return -1;
    if (m->home >= 0)
        return m->home;
    /* 32-bit divisions (a page index below 2^32: 16 TiB), a third of a 64-bit one's cost */
    uint32_t stretch = (uint32_t)((off - m->start) / GPAGE) / (uint32_t)m->stretch_pages;
    if (n > m->start + ((size_t)stretch + 1) * m->stretch_pages * GPAGE - off)
        return -1; /* on two homes */
    return (int)(stretch % (uint32_t)sp.nranks);
}

/* For the public calls: 0 when [p, p+n) of the global range (n >= 1) lies in one allocated
 * block; otherwise a message naming call, the range and the block, then -EINVAL (fatal = 0:
 * the call returns it; only the first such message of a rank is printed, since a loop of them
 * would bury everything else) or the end of the job (fatal = 1: calls with no error return). */
int extent_require_slow(const void *p, size_t n, const char *call, int fatal);
static inline int extent_require(const void *p, size_t n, const char *call, int fatal)
{
    return extent_memo_home(space_off(p), n) >= 0 ? 0 : extent_require_slow(p, n, call, fatal);
}

/* Forgets the cached entries of other homes, and every thread's memo, in O(1): at every
 * acquire, since a block its home freed before its release should be refused after it, and at
 * every gallocy_cofree. */
void extent_forget(void);
/* At finalize: the next init may have other homes and sizes. */
void extent_fini(void);

#endif
