/* alloc: this rank's allocation calls: Hoard heaps for small blocks, page runs for large
 * ones, both in the rank's home segment; frees of other ranks' blocks go to their queues. */
#ifndef GALLOCY_ALLOC_H
#define GALLOCY_ALLOC_H
#include <stddef.h>
#include <stdint.h>

#include "gallocy.h"

int alloc_init(void);
void alloc_fini(void);

void *alloc_malloc(size_t size);
void *alloc_aligned(size_t alignment, size_t size);
/* call names the public entry point in messages. */
void alloc_free(void *p, const char *call);
void *alloc_realloc(void *p, size_t size);
size_t alloc_usable_size(const void *p, const char *call);
/* Frees the block of this rank's segment at offset off; sender: the rank that freed it, or
 * -1 for this one. */
void alloc_free_mine(size_t off, const char *call, const void *p, int sender);
/* A synchronisation (block = 1), or an idle moment of the service thread (block = 0, skips
 * what another thread is doing): delivers this rank's frees of other ranks' blocks, applies
 * the frees other ranks delivered here, and at a synchronisation collects what other
 * threads freed into the calling thread's heap and the global heap. */
void alloc_sync(int block);
/* The allocator's fields of gallocy_stats_t. */
void alloc_stats(gallocy_stats_t *s);

#endif
