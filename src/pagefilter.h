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

enum {
    PAGEFILTER_SLOTS = 4096, /* 16 MiB of distinct pages without a collision */
    PAGEFILTER_TOUCHED = 64, /* slots remembered for emptying; past them, a memset */
};

struct pagefilter {
    uint64_t slot[PAGEFILTER_SLOTS]; /* page + 1, or 0 */
    uint16_t touched[PAGEFILTER_TOUCHED];
    unsigned ntouched; /* PAGEFILTER_TOUCHED + 1: more than were remembered */
};

/* Whether the run [page, page+n) must be added to the list: runs of several pages always (the
 * filter holds single pages), a single page unless it is in already (then it is recorded). */
static inline int pagefilter_new(struct pagefilter *f, size_t page, size_t n)
{
    if (n > 1)
        return 1;
    size_t i = page % PAGEFILTER_SLOTS;
    if (f->slot[i] == (uint64_t)page + 1)
        return 0;
    f->slot[i] = (uint64_t)page + 1;
    if (f->ntouched < PAGEFILTER_TOUCHED)
        f->touched[f->ntouched++] = (uint16_t)i;
    else
        f->ntouched = PAGEFILTER_TOUCHED + 1;
    return 1;
}

/* When the list is emptied: a few slots one by one (a lock's critical section with an atomic
 * empties both lists each time), many at once. */
static inline void pagefilter_clear(struct pagefilter *f)
{
    if (f->ntouched > PAGEFILTER_TOUCHED)
        memset(f->slot, 0, sizeof f->slot);
    else
        for (unsigned k = 0; k < f->ntouched; k++)
            f->slot[f->touched[k]] = 0;
    f->ntouched = 0;
}

#endif
