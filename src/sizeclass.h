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

/* Classes of requests up to 1 KiB by 16-byte steps: the common case is one table load. */
static const uint8_t sc_table[65] = {0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19};

/* Class of a request of size bytes (size <= SC_MAX). */
static inline int sc_of(size_t size)
{
    if (size <= 1024)
        return sc_table[(size + 15) >> 4];
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
