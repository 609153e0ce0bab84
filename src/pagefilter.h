/* pagefilter: has this page been added to a list since it was last emptied?  A direct-mapped
 * table of page numbers, for the lists of changed pages (write notices, stale copies) that a
 * loop of atomics or puts on scattered words would otherwise grow by one entry a call: a page
 * seen again is skipped, at the cost of one load.  A miss only means a duplicate entry (the
 * lists are sets of pages), never a lost one.  Not locked: the list's lock covers it. */
#ifndef GALLOCY_PAGEFILTER_H
#define GALLOCY_PAGEFILTER_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { PAGEFILTER_SLOTS = 4096 }; /* 16 MiB of distinct pages without a collision */

struct pagefilter {
    uint64_t slot[PAGEFILTER_SLOTS]; /* page + 1, or 0 */
    int used;
};

/* 1 when page is already in (nothing to add); else records it and returns 0. */
static inline int pagefilter_seen(struct pagefilter *f, size_t page)
{
    uint64_t *s = &f->slot[page % PAGEFILTER_SLOTS];
    if (*s == (uint64_t)page + 1)
        return 1;
    *s = (uint64_t)page + 1;
    f->used = 1;
    return 0;
}

/* When the list is emptied. */
static inline void pagefilter_clear(struct pagefilter *f)
{
    if (f->used)
        memset(f->slot, 0, sizeof f->slot);
    f->used = 0;
}

#endif
