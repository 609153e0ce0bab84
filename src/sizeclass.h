/* sizeclass: the size classes of small blocks, and the superblock they are carved from.
 *
 * 16-byte steps up to 128 B, then four classes per doubling up to 32 KiB, half a superblock.
 * Waste bound: a block is at most 15 bytes larger than the request up to 128 B; above, the
 * request is more than the previous class, which is at least 4/5 of the block, so a block
 * wastes less than 20% of itself (less than 25% of the request). */
#ifndef GALLOCY_SIZECLASS_H
#define GALLOCY_SIZECLASS_H
#include <stddef.h>
#include <stdint.h>

#define SC_COUNT 40
#define SC_MAX ((size_t)32768)
#define SB_PAGES 16
#define SB_BYTES ((size_t)SB_PAGES * 4096)

/* Class of a request of size bytes (size <= SC_MAX). */
static inline int sc_of(size_t size)
{
    if (size <= 128)
        return size ? (int)((size - 1) >> 4) : 0;
    int k = 63 - __builtin_clzll((unsigned long long)(size - 1)); /* 2^k < size <= 2^(k+1) */
    return 8 + (k - 7) * 4 + (int)((size - 1 - ((size_t)1 << k)) >> (k - 2));
}

/* Block size of class c. */
static inline size_t sc_size(int c)
{
    if (c < 8)
        return (size_t)(c + 1) * 16;
    int g = (c - 8) / 4, j = (c - 8) % 4;
    return ((size_t)128 << g) + (size_t)(j + 1) * ((size_t)32 << g);
}

#endif
