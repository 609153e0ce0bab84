/* superblock: SB_BYTES of the home segment cut into blocks of one size class, and its
 * descriptor, which lives in internal memory (never in the global range).
 *
 * Per block: a state byte (1 = allocated) and a link.  Freed blocks wait in one of two lists
 * threaded through the links: the owner's local list (only the owning thread touches it), or
 * the thread-free list, a lock-free stack other threads push on, which the owner takes whole
 * (sb_collect).  A free by another thread flips the state byte with one atomic exchange, so
 * a double free is caught at once, by whichever thread makes it, before any list is
 * touched; the owning thread's fast path tests and clears it with a plain load and store
 * (heap.h, heap_free_fast_at), which a double free racing with the first on another thread
 * can slip past. */
#ifndef GALLOCY_SUPERBLOCK_H
#define GALLOCY_SUPERBLOCK_H
#include <stddef.h>
#include <stdint.h>

#include "sizeclass.h"

#define SB_NONE 0xffffu /* end of a list */
#define SB_BINS 5       /* fullness groups: inuse*4/nobjs for 0..3, and full */
#define SB_FULL 4

struct heap;

struct sb {
    /* Hot: touched by every malloc and free; the first cache line (descriptors are aligned). */
    uint16_t local;  /* head of the owner's free list */
    uint16_t tfree;  /* atomic: head of the thread-free list */
    uint32_t inuse;  /* allocated, as the owner knows: thread frees count until collected */
    uint32_t lo, hi; /* inuse range of the current bin */
    uint32_t size, recip; /* block index = offset * recip >> 32 */
    uint32_t nobjs, cls;
    struct heap *owner; /* atomic: a thread heap, or the global heap */
    char *mem;          /* block 0 */
    /* Cold. */
    struct sb *next, *prev; /* in its owner's bin */
    size_t page;            /* first page in the home segment */
    uint8_t bin;
    uint16_t link[]; /* SB_MAX_OBJS, then the state bytes: see sb_state */
};

/* Descriptors have one fixed size, so the descriptor of the superblock in slot k of the
 * segment is at a computed address (heap.c keeps them in one reserved array): finding it
 * costs no load.  A size of 0 marks a slot without a superblock. */
#define SB_MAX_OBJS (SB_BYTES / 16)
#define SB_DESC_BYTES ((size_t)16384)
_Static_assert(sizeof(struct sb) + SB_MAX_OBJS * 3 <= SB_DESC_BYTES, "descriptor too small");

/* Per block: 1 = allocated. */
static inline uint8_t *sb_state(struct sb *s)
{
    return (uint8_t *)(s->link + SB_MAX_OBJS);
}

/* Makes s (SB_DESC_BYTES, 64-byte aligned) the descriptor of the superblock at mem (heap
 * page `page`) with all blocks free. */
void sb_init(struct sb *s, char *mem, size_t page, int cls);
/* Marks s as no superblock (size and nobjs 0). */
void sb_clear(struct sb *s);
/* Moves the thread-free list to the local list; returns how many blocks it held. */
uint32_t sb_collect(struct sb *s);
/* Sets lo/hi/bin from inuse; returns the bin. */
int sb_bin_update(struct sb *s);

static inline int sb_has_thread_frees(const struct sb *s)
{
    return __atomic_load_n(&s->tfree, __ATOMIC_RELAXED) != SB_NONE;
}

/* Owner only; the local list is not empty. */
static inline void *sb_pop(struct sb *s)
{
    uint32_t i = s->local;
    s->local = s->link[i];
    __atomic_store_n(&sb_state(s)[i], 1, __ATOMIC_RELAXED);
    s->inuse++;
    return s->mem + (size_t)i * s->size;
}

/* Index of the block starting at offset d (< SB_BYTES) from mem; -1 when d is not the start
 * of a block.  With recip = floor(2^32 / size) + 1 = (2^32 + e) / size, 0 < e <= size:
 * d * recip = i * 2^32 + (r * 2^32 + d * e) / size for d = i * size + r, so the high half is
 * i exactly (d * e < 2^32) and the low half is below recip exactly when r = 0 (d * e / size
 * < 2^16 < recip, while r >= 1 adds at least recip).  One multiply instead of two. */
static inline long sb_index(const struct sb *s, size_t d)
{
    uint64_t x = (uint64_t)d * s->recip;
    uint32_t i = (uint32_t)(x >> 32);
    return i < s->nobjs && (uint32_t)x < s->recip ? (long)i : -1;
}

/* Marks block i free; 0 when it was already free (a double free). */
static inline int sb_mark_free(struct sb *s, uint32_t i)
{
    return __atomic_exchange_n(&sb_state(s)[i], 0, __ATOMIC_ACQ_REL);
}

/* Owner only, after sb_mark_free. */
static inline void sb_push_local(struct sb *s, uint32_t i)
{
    s->link[i] = s->local;
    s->local = (uint16_t)i;
    s->inuse--;
}

/* Any thread, after sb_mark_free. */
static inline void sb_push_thread(struct sb *s, uint32_t i)
{
    uint16_t old = __atomic_load_n(&s->tfree, __ATOMIC_RELAXED);
    do
        s->link[i] = old;
    while (!__atomic_compare_exchange_n(&s->tfree, &old, (uint16_t)i, 1, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED)); /* seq_cst: heap.c's global_frees */
}

#endif
