/* pagerun: first-fit allocator of page runs with coalescing, over [0, npages).  Not locked:
 * the caller serialises.  Used for this rank's heap and for the collective region. */
#ifndef GALLOCY_PAGERUN_H
#define GALLOCY_PAGERUN_H
#include <stddef.h>

struct pagerun {
    struct pr_free {
        size_t start, n;
    } *free; /* sorted by start, never adjacent */
    size_t nfree, cap;
    size_t origin; /* page number of page 0 in the address space: alignment is of addresses */
};

int pagerun_init(struct pagerun *pr, size_t npages);
void pagerun_fini(struct pagerun *pr);
/* First page of n free pages whose address (origin + start) is a multiple of align pages
 * (>= 1); -1 when none. */
long pagerun_alloc(struct pagerun *pr, size_t n, size_t align);
void pagerun_free(struct pagerun *pr, size_t start, size_t n);
/* Takes the free pages [start, start+n) if they are all free; 1 when taken, 0 otherwise. */
int pagerun_take(struct pagerun *pr, size_t start, size_t n);

#endif
