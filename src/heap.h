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
 * The owning thread allocates and frees without locks or atomic read-modify-writes.  Another
 * thread's free pushes the block on the superblock's thread-free
 * list (one compare-and-swap, no lock); the owner collects those when it runs out. */
#ifndef GALLOCY_HEAP_H
#define GALLOCY_HEAP_H
#include <stddef.h>
#include <stdint.h>

#include "sizeclass.h"
#include "superblock.h"

#define HOARD_K 2 /* superblocks of slack per size class and heap */

int heap_init(void); /* after segment_init */
void heap_fini(void);

struct heap {
    struct sb *cur[SC_COUNT]; /* the superblock each class allocates from */
    struct sb *bins[SC_COUNT][SB_BINS];
    /* Per class, atomic for readers: bytes of blocks in use (as the owner knows), bytes of
     * blocks its superblocks hold, superblocks held. */
    uint64_t used[SC_COUNT], cap[SC_COUNT], nsb[SC_COUNT];
    /* Per class: used below this breaks the invariant (too_empty_at(used, cap) exactly), kept
     * with cap so that a free tests the invariant with one compare. */
    uint64_t low[SC_COUNT];
    /* Above: reset at heap_fini.  Below: kept, heaps are never freed. */
    struct heap *next_all, *next_idle;
};

/* The calling thread's heap (NULL until it allocates).  initial-exec: the library is linked,
 * not dlopen()ed, and the general TLS model costs a call on every malloc and free. */
extern __thread struct heap *heap_mine __attribute__((tls_model("initial-exec")));
/* Superblocks sit at multiples of SB_BYTES in the segment, and their descriptors at
 * multiples of SB_DESC_BYTES here, so a block finds its descriptor by arithmetic. */
extern char *heap_descs;

static inline struct sb *heap_desc_of(size_t off)
{
    return (struct sb *)(heap_descs + off / SB_BYTES * SB_DESC_BYTES);
}

void *heap_malloc_slow(int cls);
/* Gives the global heap superblocks of class cls until h keeps the invariant again. */
void heap_keep_invariant(struct heap *h, int cls);
int heap_free_slow(struct sb *s, long i, const char *call, const void *p, int sender);

static inline void counter_add(uint64_t *c, int64_t d)
{
    __atomic_store_n(c, *c + (uint64_t)d, __ATOMIC_RELAXED);
}

/* Hoard's emptiness test: used bytes below both cap - K * SB_BYTES and (1 - f) * cap. */
static inline int too_empty_at(uint64_t used, uint64_t cap)
{
    return used + HOARD_K * SB_BYTES < cap && used * 4 < cap * 3;
}

/* The least used that keeps the invariant at capacity cap: used < this is too_empty_at. */
static inline uint64_t too_empty_below(uint64_t cap)
{
    uint64_t by_k = cap > HOARD_K * SB_BYTES ? cap - HOARD_K * SB_BYTES : 0;
    uint64_t by_f = (cap * 3 + 3) / 4; /* used * 4 < cap * 3  <=>  used < ceil(cap * 3 / 4) */
    return by_k < by_f ? by_k : by_f;
}

static inline int too_empty(const struct heap *h, int c)
{
    return h->used[c] < h->low[c];
}

/* The fast path alone: a free block of the current superblock when taking it leaves the
 * superblock in its fullness bin; NULL otherwise (then heap_malloc_slow). */
__attribute__((always_inline)) static inline void *heap_malloc_fast(int cls)
{
    struct heap *h = heap_mine;
    struct sb *s;
    if (__builtin_expect(h && (s = h->cur[cls]) && s->local != SB_NONE && s->inuse + 1 < s->hi,
                         1)) {
        counter_add(&h->used[cls], s->size);
        return sb_pop(s);
    }
    return NULL;
}

/* A block of class cls; NULL when the segment is full (or gallocy is not initialised). */
static inline void *heap_malloc(int cls)
{
    void *p = heap_malloc_fast(cls);
    return p ? p : heap_malloc_slow(cls);
}

/* The owning thread's free of allocated block i of s, on both paths; 1 when the class is
 * now too empty (the caller restores the invariant). */
__attribute__((always_inline)) static inline int heap_free_owned(struct heap *h, struct sb *s,
                                                                 uint32_t i)
{
    int c = (int)s->cls;
    uint64_t used = h->used[c] - s->size;
    __atomic_store_n(&sb_state(s)[i], 0, __ATOMIC_RELAXED);
    sb_push_local(s, i);
    __atomic_store_n(&h->used[c], used, __ATOMIC_RELAXED);
    return used < h->low[c];
}

/* The fast path alone, for block i of s: the owning thread's free of an allocated block that
 * keeps the superblock in its bin.  It tests for a double free with a plain load and store
 * instead of an atomic exchange (6 ns here): every double free ordered after the first free
 * is caught; only one racing with it on another thread (a data race in the program) can slip
 * through.  Returns 0 when it did nothing (then heap_free_slow). */
__attribute__((always_inline)) static inline int heap_free_fast_at(struct sb *s, long i)
{
    struct heap *h = heap_mine;
    if (__builtin_expect(i >= 0 && h && __atomic_load_n(&s->owner, __ATOMIC_RELAXED) == h &&
                         __atomic_load_n(&sb_state(s)[i], __ATOMIC_RELAXED) && s->inuse > s->lo,
                         1)) {
        if (__builtin_expect(heap_free_owned(h, s, (uint32_t)i), 0))
            heap_keep_invariant(h, (int)s->cls);
        return 1;
    }
    return 0;
}

/* The same for the block at segment offset off. */
__attribute__((always_inline)) static inline int heap_free_fast(size_t off)
{
    struct sb *s = heap_desc_of(off);
    /* No superblock there: size 0, recip 0, so i = 0, and nobjs 0 makes it no block. */
    return heap_free_fast_at(s, sb_index(s, off % SB_BYTES));
}

/* Frees the block at segment offset off when a superblock holds it (returns 1), else
 * returns 0.  call names the public call in messages; sender is the rank that freed it, or
 * -1 for this rank.  Dies on a pointer that is not the start of an allocated block. */
static inline int heap_free(size_t off, const char *call, const void *p, int sender)
{
    struct sb *s = heap_desc_of(off);
    if (!__atomic_load_n(&s->size, __ATOMIC_ACQUIRE))
        return 0;
    long i = sb_index(s, off % SB_BYTES);
    return heap_free_fast_at(s, i) || heap_free_slow(s, i, call, p, sender);
}

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
