/* vec: growth of bookkeeping arrays with mmap/mremap, never malloc: the fault handler adds
 * to some of them, and malloc is not safe there. */
#ifndef GALLOCY_VEC_H
#define GALLOCY_VEC_H
#include <stddef.h>
#include <sys/mman.h>

#include "log.h"

/* Doubles the array arr of *cap elements of elem bytes (1024 at first); dies when out of
 * memory, naming what for. */
static inline void *vec_grow(void *arr, size_t *cap, size_t elem, const char *what)
{
    size_t ncap = *cap ? *cap * 2 : 1024;
    void *p = arr ? mremap(arr, *cap * elem, ncap * elem, MREMAP_MAYMOVE)
                  : mmap(NULL, ncap * elem, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
    if (p == MAP_FAILED)
        log_fatal("gallocy (page cache)", "out of memory for %s", what);
    *cap = ncap;
    return p;
}

static inline void vec_free(void *arr, size_t cap, size_t elem)
{
    if (arr)
        munmap(arr, cap * elem);
}

#endif
