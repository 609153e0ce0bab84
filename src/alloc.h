/* alloc: this rank's allocation calls: Hoard heaps for small blocks, page runs for large
 * ones, both in the rank's home segment; frees of other ranks' blocks go to their queues. */
#ifndef GALLOCY_ALLOC_H
#define GALLOCY_ALLOC_H
#include <stddef.h>
#include <stdint.h>

#include "gallocy_api.h"
#include "heap.h"
#include "remote_free.h"
#include "segment.h"

int alloc_init(void);
void alloc_fini(void);

void *alloc_aligned(size_t alignment, size_t size);
void *alloc_malloc_slow(size_t size);
void alloc_free_slow(void *p, const char *call);

/* Fast paths, inlined into the public calls: a small block from (or back to) the calling
 * thread's heap; everything else takes the slow path.  Before gallocy_init and after
 * gallocy_finalize the fast paths find no heap and no segment, so only the slow paths need to
 * check for them.  Frees sent by other ranks are applied on the slow path (when the heap
 * needs memory), at synchronisation and by the service thread. */
__attribute__((always_inline)) static inline void *alloc_malloc(size_t size)
{
    void *p;
    if (__builtin_expect(size <= SC_MAX && (p = heap_malloc_fast(sc_of(size))) != NULL, 1))
        return p;
    return alloc_malloc_slow(size);
}

/* Offset of p in this rank's segment; >= segment_npages * 4096 when p is not in it. */
static inline size_t alloc_seg_off(const void *p)
{
    return (size_t)((uintptr_t)p - (uintptr_t)segment_base);
}

/* call names the public entry point in messages. */
__attribute__((always_inline)) static inline void alloc_free(void *p, const char *call)
{
    size_t off = alloc_seg_off(p);
    if (__builtin_expect(off < segment_npages * 4096 && heap_free_fast(off), 1))
        return;
    alloc_free_slow(p, call);
}
void *alloc_realloc(void *p, size_t size);
size_t alloc_usable_size(const void *p, const char *call);
/* Frees the block of this rank's segment at offset off; sender: the rank that freed it, or
 * -1 for this one. */
void alloc_free_mine(size_t off, const char *call, const void *p, int sender);
/* A synchronisation (block = 1), or an idle moment of the service thread (block = 0, skips
 * what another thread is doing): delivers this rank's frees of other ranks' blocks, applies
 * the frees other ranks delivered here, and at a synchronisation collects what other
 * threads freed into the calling thread's heap and the global heap.  block = 0: whether
 * frees had come from other ranks (more may follow). */
int alloc_sync(int block);

#endif
