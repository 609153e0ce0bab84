/* pagetable: this rank's coherence state of every page of the global range, one entry per
 * page in one table, so that everything the protocol knows of a page is in one place (and
 * one cache line holds ten pages' entries).  The fields and who changes them:
 *  - state: what the page is here (PS_*, below): absent, a clean or dirty copy, tracked or
 *    not; an own page plain or shared with readers.  cache.c applies the transitions that
 *    the coherence events choose (coherence.h).
 *  - age: releases counted for the page (cache.c: kept copies, the end of sharing).
 *  - reader: what this rank, as a reader, knows of the page's sharing at its home (notice.c:
 *    announced, confirmed, to be announced again).
 *  - pins: MPI operations or system calls using the page now (cache.c, pin.c).
 * The table is reserved for the whole range and filled as pages are touched.  Every access
 * needs cache_lock (cache.h), except where a field's owner says otherwise. */
#ifndef GALLOCY_PAGETABLE_H
#define GALLOCY_PAGETABLE_H
#include <stddef.h>
#include <stdint.h>

/* The state field.  A page homed elsewhere is invalid (absent), read (a clean copy) or dirty
 * (writable, with a twin); a copy is also tracked or not (kept across acquires unless a
 * write notice names it, notice.c).  A page of this rank's own is plain memory (PS_OWN; a
 * page of the collective area is PS_INVALID until first touched, which maps it) until another
 * rank caches it; then it is shared (write-protected) or home-dirty (written since the last
 * release). */
enum {
    PS_INVALID = 0,
    PS_READ = 1,
    PS_DIRTY = 2,
    PS_SHARED = 3,     /* own page that others cache: write-protected */
    PS_HOME_DIRTY = 4, /* own shared page written since the last release */
    PS_OWN = 5,        /* own page, plain memory */
    PS_BUSY = 6,       /* another rank's page being fetched by a fault in flight */
    PS_KIND = 7,       /* mask of the above */
    PS_TRACKED = 8,    /* flag on PS_READ and PS_DIRTY */
    PS_STALE = 16,     /* flag on a pinned copy: an acquire dropped it meanwhile */
    /* On an own shared page, its write history (write-ahead, cache_write_shared): written
     * in a recent epoch, and for how many epochs since it was taken ahead but found unchanged */
    PS_WRITTEN = 32,
    PS_IDLE_ONE = 64,
    PS_IDLE = 192,
    PS_HISTORY = PS_WRITTEN | PS_IDLE,
};

struct page_entry {
    uint8_t state;
    uint8_t age;
    uint8_t reader;
    uint8_t unused;
    uint16_t pins;
};

extern struct page_entry *pagetable;

/* The table for npages pages, all PS_INVALID with every count 0, placed as GALLOCY_NUMA
 * says; -ENOMEM. */
int pagetable_init(size_t npages);
void pagetable_fini(void);

/* Pages [page, page+n) take state s (their other fields unchanged). */
static inline void pagetable_set_state(size_t page, size_t n, uint8_t s)
{
    for (size_t i = page; i < page + n; i++)
        pagetable[i].state = s;
}

static inline uint8_t pagetable_kind(size_t page)
{
    return pagetable[page].state & PS_KIND;
}

#endif
