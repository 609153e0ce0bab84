/* alloc: this rank's heap in its home segment: size-class slabs for small blocks, page runs
 * for large ones, a page table of the heap in registered memory (so other ranks can size a
 * block with one read), and the queue of frees sent by other ranks. */
#ifndef GALLOCY_ALLOC_H
#define GALLOCY_ALLOC_H
#include <stddef.h>
#include <stdint.h>

int alloc_init(void);
void alloc_fini(void);

void *alloc_malloc(size_t size);
void *alloc_aligned(size_t alignment, size_t size);
/* call names the public entry point in messages. */
void alloc_free(void *p, const char *call);
void *alloc_realloc(void *p, size_t size);
size_t alloc_usable_size(const void *p, const char *call);

/* Takes what other ranks freed into this rank's queue.  block = 0: skip if the heap is busy. */
void alloc_drain_remote_frees(int block);

/* Size classes, exposed for tests. */
int alloc_size_class(size_t size); /* -1 above the largest */
size_t alloc_class_size(int cls);
int alloc_nclasses(void);

#endif
