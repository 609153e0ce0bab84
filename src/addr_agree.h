/* addr_agree: an address range free in every rank, found deterministically.
 *
 * Each rank marks, in a bitmap of 1 GiB granules over the user address space (47 bits), every
 * granule that holds any of its mappings (from /proc/self/maps) or that its stack, brk heap or
 * the kernel's reserved low pages may need; one bitwise-OR reduction gives every rank the same
 * map of what is busy anywhere.  Every rank then picks the same place: the middle of the
 * largest run of granules free in all, so that mappings made meanwhile by other threads (MPI's,
 * UCX's) are least likely to be in the way.  The caller reserves it with MAP_FIXED_NOREPLACE
 * and, if a rank was raced, calls again.  Cost: one allreduce of 16 KiB, whatever the job's
 * size; no chance involved, whatever the address randomisation. */
#ifndef GALLOCY_ADDR_AGREE_H
#define GALLOCY_ADDR_AGREE_H
#include <stddef.h>
#include <stdint.h>

/* The bitmap the ranks reduce: bit g (of word g / bits-per-long) stands for the granule at
 * g << ADDR_GRANULE_SHIFT; set when busy on some rank. */
#define ADDR_GRANULE_SHIFT 30
#define ADDR_USER_TOP ((uintptr_t)1 << 47) /* mmap stays below unless asked for more */

struct addr_choice {
    uintptr_t base;    /* 0 when no common free run is long enough */
    uintptr_t gap_lo;  /* the largest common free run found */
    size_t gap_len;
};

/* Collective.  range: bytes wanted; the base is aligned to 1 GiB. */
struct addr_choice addr_agree(size_t range);

#endif
