/* coalloc: collective allocations in the region after the home segments.  Every rank runs the
 * same deterministic allocator on the same arguments, so all get the same pointer; each
 * allocation records its placement, from which any rank computes any page's home. */
#ifndef GALLOCY_COALLOC_H
#define GALLOCY_COALLOC_H
#include <stddef.h>

int coalloc_init(void);
void coalloc_fini(void);
void *coalloc_alloc(size_t size, int place);
void coalloc_free(void *p);
/* The bytes (whole pages) of the allocation that starts at p, in the region; misuse is fatal,
 * naming call. */
size_t coalloc_usable_size(const void *p, const char *call);
/* The allocation holding the global offset off (in the region): 1 and its bounds [*start, *end)
 * as global offsets, or 0 when none does. */
int coalloc_extent(size_t off, size_t *start, size_t *end);
/* Pages per home's stretch in the live allocation holding off: 1 when cyclic, the share of
 * each rank when blocked (stretch k, counted from the allocation's start, is homed by rank
 * k mod nranks); 0 when one rank homes it all, or off is in none. */
size_t coalloc_stretch_pages(size_t off);

#endif
