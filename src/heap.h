/* heap: Hoard's heaps over the home segment (Berger et al., ASPLOS 2000).
 *
 * Every thread that allocates owns a heap: superblocks of each size class, kept in fullness
 * bins and allocated from fullest first, so nearly empty superblocks drain.  A per-rank global
 * heap takes superblocks back whenever a heap breaks the emptiness invariant, kept per size
 * class as in Hoard's implementation:
 *     used >= cap - K * SB_BYTES   or   used >= (1 - f) * cap      (f = 1/4, K = 2)
 * (used: bytes of blocks of the class in use; cap: bytes of blocks its superblocks of the
 * class hold), so memory freed by one thread is reused by the others and what a rank holds
 * stays within 4/3 of what it uses, plus K superblocks per class and heap.  A heap takes a
 * new superblock only when all of its class are full, so allocation keeps the invariant;
 * frees restore it.  Empty superblocks go back to the segment.
 *
 * The owning thread allocates and frees without locks or shared writes beyond one atomic
 * exchange per free.  Another thread's free pushes the block on the superblock's thread-free
 * list (one compare-and-swap, no lock); the owner collects those when it runs out. */
#ifndef GALLOCY_HEAP_H
#define GALLOCY_HEAP_H
#include <stddef.h>
#include <stdint.h>

#include "sizeclass.h"

#define HOARD_K 2 /* superblocks of slack per size class and heap */

int heap_init(void); /* after segment_init */
void heap_fini(void);

/* A block of class cls; NULL when the segment is full. */
void *heap_malloc(int cls);
/* Frees the block at segment offset off when a superblock holds it (returns 1), else
 * returns 0.  call names the public call in messages; sender is the rank that freed it, or
 * -1 for this rank.  Dies on a pointer that is not the start of an allocated block. */
int heap_free(size_t off, const char *call, const void *p, int sender);

/* A synchronisation: the calling thread's heap and the global heap collect what other
 * threads freed into them; superblocks of the global heap that became empty go back. */
void heap_collect(void);
/* The calling thread's heap gives its empty superblocks back (before reporting ENOMEM). */
void heap_release_empty(void);

struct heap_totals {
    uint64_t in_use, held;
    uint64_t superblocks[SC_COUNT];
};
void heap_totals(struct heap_totals *t);

/* Checks the calling thread's heap: counters against its superblocks, bins, and the
 * invariant.  0 when sound, else -1 with the reason in why. */
int heap_check_mine(char *why, size_t len);

#endif
